"""The simulated credential registration (docs, "Credential Registration Workflow").

``POST {REGISTER_PATH}`` with ``{callback_url, store_code, store_main}``: checks the mode
and the store, generates a key (25 alphanumerics) and a secret (64 characters), POSTs the
signed callback, then answers 200 with ``callback_status``. From then on the simulator
accepts the new key pair. ``CallbackMode`` bends the callback for the failure tests;
``nested_answer`` puts ``callback_status`` and the renewal date inside ``data``, as every
other SKYBIZ answer nests its payload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import hashlib
import hmac
import json
import secrets
import ssl
import string
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from syncd_simulator import encoding, rules
from syncd_simulator.data import Dataset
from syncd_simulator.options import SimulatorOptions
from syncd_simulator.rules import Rejected


class Host(Protocol):
    """What registration needs of the simulator that serves it (its options and clock)."""

    options: SimulatorOptions
    dataset: Dataset

REGISTER_PATH = "/01/clientportal/apiv2/register.php"
_ALPHANUMERIC = string.ascii_letters + string.digits


class CallbackMode(enum.Enum):
    """How the simulator calls back."""

    OK = "ok"
    BAD_SIGNATURE = "bad_signature"  # signed with another key
    STALE = "stale"  # correctly signed, X-Timestamp ten minutes old
    REPLAY = "replay"  # the same signed request twice
    DELAY = "delay"  # wait ``delay_seconds`` (or until ``hold`` is set) first
    WRONG_PATH = "wrong_path"  # the single-use segment altered
    STATUS_FAILED = "status_failed"  # delivered, but the answer says it failed


@dataclasses.dataclass(slots=True)
class Registrar:
    """The registration endpoint's state; tests change its fields between requests."""

    sim: Host
    store_code: str = "S001"
    mode: CallbackMode = CallbackMode.OK
    delay_seconds: float = 5.0
    hold: asyncio.Event | None = None  # DELAY: call back once this is set (tests)
    renewal_days: int | None = 365
    nested_answer: bool = False  # {"status", "message", "data": {"callback_status", …}}
    client_ssl: ssl.SSLContext | None = None  # to trust a test's self-signed receiver
    clock: Callable[[], float] = time.time
    asked: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    callback_statuses: list[int] = dataclasses.field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """One registration request, in the documented order."""
        try:
            body = rules.parse_body(request.content_type, await request.read())
            self.asked.append(body)
            if self.sim.options.mode == 0:
                raise Rejected(403, "API integration is disabled for this account")
            url, code = body.get("callback_url"), body.get("store_code")
            if not all(isinstance(body.get(k), str) and body.get(k) for k in
                       ("callback_url", "store_code", "store_main")):
                raise Rejected(400, "callback_url, store_code and store_main are required")
            if code != self.store_code:
                raise Rejected(404, "Store not found")
            if self.sim.options.mode == 1 and not str(url).startswith("https://"):
                raise Rejected(400, "callback_url must be an HTTPS URL")
        except Rejected as exc:
            return _json(exc.status, {"status": "error", "message": exc.message})
        return await self._issue(str(url))

    async def _issue(self, url: str) -> web.Response:
        key = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(25))
        secret = secrets.token_hex(32)
        renewal = (None if self.renewal_days is None
                   else self.sim.dataset.today + datetime.timedelta(days=self.renewal_days))
        # Written before the callback, as the docs say: a failed delivery does not roll back.
        self.sim.options = dataclasses.replace(self.sim.options, api_key=key, api_secret=secret,
                                               expires=renewal)
        delivered = await self._call_back(url, key, secret)
        if self.mode is CallbackMode.STATUS_FAILED:
            delivered = False
        payload: dict[str, Any] = {"callback_status": "success" if delivered else "failed"}
        if renewal is not None:
            payload["api_renewal_date"] = renewal.isoformat()
        doc: dict[str, Any] = {
            "status": "success",
            "message": "API credentials registered" if delivered else
            "API credentials registered, but the callback delivery failed"}
        return _json(200, doc | ({"data": payload} if self.nested_answer else payload))

    async def _call_back(self, url: str, key: str, secret: str) -> bool:
        """POST the signed credentials; True when the first delivery got a 2xx."""
        if self.mode is CallbackMode.DELAY:
            if self.hold is not None:
                await self.hold.wait()
            else:
                await asyncio.sleep(self.delay_seconds)
        body = json.dumps({"api_key": key, "api_secret": secret}).encode()
        stamp = str(int(self.clock()) - (600 if self.mode is CallbackMode.STALE else 0))
        signing_key = "not-the-secret" if self.mode is CallbackMode.BAD_SIGNATURE else secret
        signature = hmac.new(signing_key.encode(), stamp.encode() + b"." + body,
                             hashlib.sha256).hexdigest()
        if self.mode is CallbackMode.WRONG_PATH:
            url = url.rstrip("/") + "x"
        headers = {"Content-Type": "application/json", "X-Timestamp": stamp,
                   "X-Signature": signature}
        times = 2 if self.mode is CallbackMode.REPLAY else 1
        statuses = [await self._post(url, body, headers) for _ in range(times)]
        return 200 <= statuses[0] < 300

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                    url, data=body, headers=headers, ssl=self.client_ssl or True) as resp:
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            status = 0
        self.callback_statuses.append(status)
        return status


def _json(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=encoding.dumps(doc).encode(),
                        content_type="application/json")
