"""``syncd register`` (CONTRACT §7): registration request + verified callback + stored files.

Order matters because the secret is shown only once: everything that can fail locally
(directory, TLS files, listen address) is checked before the request goes out, and a
callback that verified (and was not replayed) is always stored — whatever the server's
answer says, which is then reported in one sentence beside the stored paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog

from syncd.config import SourceConfig, _is_loopback
from syncd.core.errors import ConfigError, RegistrationFailed
from syncd.credentials import store as credstore
from syncd.credentials.redaction import said
from syncd.engine.http import open_session
from syncd.kinds.skybiz.answers import parse_json
from syncd.kinds.skybiz.registration import callback, receiver

log = structlog.get_logger("syncd.register")

DELIVERED = frozenset({"success", "successful", "ok", "delivered", "true", "1", "200"})
_RETRY = "deactivate the credential set in the SKYBIZ portal and run syncd register again"
_AGAIN = f"nothing was stored; {_RETRY}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the user asked for, validated."""

    source: SourceConfig
    url: str
    store_code: str
    store_main: str
    callback_url: str
    host: str
    port: int
    directory: Path
    timeout: float
    tls_cert: str | None = None
    tls_key: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The registration endpoint's answer, as far as syncd needs it."""

    status: int
    ok: bool  # 2xx and not an error envelope
    message: str | None
    callback_status: str | None
    renewal_date: dt.date | None

    @property
    def delivered(self) -> bool:
        return (self.callback_status or "").strip().lower() in DELIVERED

    @property
    def failed(self) -> bool:
        """The answer says the callback was not delivered (not merely nothing)."""
        return self.callback_status is not None and not self.delivered

    def line(self) -> str:
        said = f' ("{self.message}")' if self.message else ""
        return (f"registration answer: HTTP {self.status}, callback_status "
                f"{self.callback_status or '-'}{said}")


@dataclass(frozen=True, slots=True)
class Registered:
    key_path: Path
    secret_path: Path
    key_tail: str
    renewal_date: dt.date | None
    answer: Answer | None  # None: the request got no answer, but the callback verified
    note: str | None = None  # what the answer said against the stored callback, if anything


def check_url(value: str, flag: str) -> str:
    """An http(s) URL; plain http only for a loopback host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{flag} {value!r} is not an http(s) URL.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{flag} must not carry credentials, a query or a fragment.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{flag} with plain http:// is refused for a non-loopback host (the "
                          "secret would cross the network unencrypted); use https://.")
    return value


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - the callback must be reachable
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"--listen {text!r} is not HOST:PORT.")
    return host, int(port)


async def register(plan: Plan, *, token: str | None = None,
                   clock: Callable[[], float] = time.time) -> Registered:
    """Run the whole exchange; RegistrationFailed (one sentence, nothing stored) otherwise."""
    credstore.prepare(plan.directory)
    tls = receiver.tls_context(plan.tls_cert, plan.tls_key) if plan.tls_cert and plan.tls_key \
        else None
    rx = receiver.Receiver(token or secrets.token_urlsafe(32), clock)
    runner = await receiver.serve(rx, plan.host, plan.port, tls)
    try:
        log.info("register.listening", listen=f"{plan.host}:{plan.port}", tls=tls is not None)
        answer = await _exchange(plan, rx)
    finally:
        await runner.cleanup()
    return _conclude(plan, rx, answer)


async def _exchange(plan: Plan, rx: receiver.Receiver) -> Answer | None:
    """Post the request and wait for its answer (and a callback it promises) in --timeout.
    Only the verified callback, the answer or the timeout end the wait, never noise; once
    a callback verified, no failure of the request loses it (None: no answer came)."""
    answer: Answer | None = None
    try:
        async with asyncio.timeout(plan.timeout):
            answer = await _post(plan, f"{plan.callback_url.rstrip('/')}/{rx.token}")
            if _worth_waiting(answer, rx):
                await rx.delivered.wait()  # a server that answers before it calls back
    except RegistrationFailed:
        if rx.delivery is None:
            raise
    except TimeoutError:
        if rx.delivery is None:
            raise _no_callback(plan, answer) from None
    return answer


def _worth_waiting(answer: Answer, rx: receiver.Receiver) -> bool:
    """Wait for a callback unless the answer reports failure or the server's callback
    (a request holding the token) was already refused; an answer silent on
    callback_status is waited on too: the secret exists once."""
    return answer.ok and not answer.failed and rx.delivery is None and not rx.decisive


def _no_callback(plan: Plan, answer: Answer | None) -> RegistrationFailed:
    reach = (f"check that {plan.callback_url} reaches --listen {plan.host}:{plan.port} from "
             "the internet; nothing was stored; if the server created a set, "
             f"{_RETRY}")
    if answer is None:
        return RegistrationFailed(f"no callback arrived within {plan.timeout:g} s; {reach}.")
    return RegistrationFailed(
        f"the server answered but no callback reached syncd within {plan.timeout:g} s; "
        f"{reach}.", answer=answer.line())


def _conclude(plan: Plan, rx: receiver.Receiver, answer: Answer | None) -> Registered:
    """Store a verified, unreplayed delivery whatever the answer says; else one sentence."""
    line = answer.line() if answer else None
    if rx.replayed:
        replay = next(r for r in rx.refusals if r.kind in ("replay", "used"))
        raise RegistrationFailed(f"{replay}; {_AGAIN}.", answer=line)
    if rx.delivery is None:
        if answer is not None and not answer.ok:
            quoted = f': "{answer.message}"' if answer.message else ""
            raise RegistrationFailed(
                f"the SKYBIZ server refused the registration (HTTP {answer.status}{quoted}); "
                "check --store-code and --store-main, and that API integration is enabled "
                "for the store; nothing was stored.", answer=line)
        raise RegistrationFailed(f"{_no_delivery(rx, answer)}; {_AGAIN}.", answer=line)
    d = rx.delivery
    renewal = (answer.renewal_date if answer else None) or d.renewal_date
    try:
        key_path, secret_path = credstore.store(plan.directory, plan.source.name, d.api_key,
                                                d.api_secret, renewal)
    except OSError as exc:
        raise RegistrationFailed(
            f"the callback verified but writing to {plan.directory} failed "
            f"({exc.strerror or exc}); {_AGAIN}.", answer=line) from None
    log.info("register.stored", source=plan.source.name, directory=str(plan.directory))
    return Registered(key_path, secret_path, d.api_key.reveal()[-4:], renewal, answer,
                      _note(answer))


def _note(answer: Answer | None) -> str | None:
    """One sentence when the answer does not confirm the stored callback, else None."""
    if answer is not None and answer.ok and answer.delivered:
        return None
    if answer is None:
        what = "the registration request got no answer"
    elif not answer.ok:
        quoted = f': "{answer.message}"' if answer.message else ""
        what = f"the server's answer reports a failure (HTTP {answer.status}{quoted})"
    elif answer.failed:
        what = f"the server reports callback_status {answer.callback_status}"
    else:
        what = "the server's answer says nothing of callback_status"
    return (f"note: {what}, but the callback verified and its credentials are stored; run "
            "syncd check to confirm they work.")


def _no_delivery(rx: receiver.Receiver, answer: Answer | None) -> str:
    """Why nothing was accepted: the refusal at the right path if any (noise aside)."""
    decisive = rx.decisive
    if decisive or rx.refusals:
        return str((decisive or list(rx.refusals))[-1])
    status = answer.callback_status if answer else None
    return f"the server answered callback_status {status or 'missing'} and no callback " \
        "reached syncd"


_MAX_ANSWER = 1 << 20


async def _post(plan: Plan, callback_url: str) -> Answer:
    """POST {callback_url, store_code, store_main}; aiohttp errors become one sentence."""
    payload = {"callback_url": callback_url, "store_code": plan.store_code,
               "store_main": plan.store_main}
    log.info("register.request_sent", url=plan.url)
    try:
        async with open_session(plan.source) as session, session.post(
                plan.url, json=payload, allow_redirects=False) as resp:
            status, location = resp.status, resp.headers.get("Location", "")
            # An answer is a few hundred bytes: more than _MAX_ANSWER is cut (and then read
            # as no JSON), never buffered whole.
            body = await resp.content.read(_MAX_ANSWER)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise RegistrationFailed(f"cannot reach the registration URL {plan.url} "
                                 f"({type(exc).__name__}); check --url; nothing was "
                                 "stored.") from None
    if 300 <= status < 400:
        host = urlsplit(location).hostname or "an unnamed place"
        raise RegistrationFailed(
            f"the registration URL answered HTTP {status}, a redirect to {host}; syncd never "
            "follows redirects — pass the final address as --url; nothing was stored.")
    return _answer(status, body)


def _answer(status: int, body: bytes) -> Answer:
    """Read the answer liberally: JSON after any PHP warning; callback_status (in any form)
    and the renewal date at the top level or inside ``data``, as SKYBIZ nests payloads."""
    try:
        doc, _ = parse_json(body)
    except ValueError:
        doc = None
    doc = doc if isinstance(doc, dict) else {}
    nested = doc.get("data")
    data: dict[str, Any] = nested if isinstance(nested, dict) else {}
    env = str(doc.get("status", "success")).strip().lower()
    cb: Any = _first(doc, data, "callback_status")
    if isinstance(cb, dict):  # {"status": ..., "message": ...} is also believable
        cb = cb.get("status")
    return Answer(
        status=status,
        ok=200 <= status < 300 and env not in ("error", "fail", "failed", "false"),
        message=said(_first(doc, data, "message")),
        callback_status=None if cb is None else str(cb).lower() if isinstance(cb, bool)
        else said(cb, 60),
        renewal_date=callback.renewal_date(doc) or callback.renewal_date(data),
    )


def _first(doc: dict[str, Any], data: dict[str, Any], key: str) -> Any:
    """``key`` at the top level, else inside ``data``."""
    return doc[key] if doc.get(key) is not None else data.get(key)
