"""The SKYBIZ client: builds each request (a POST per module) and judges its answer.

Sending, retries, limits and the translation of transport failures are the engine's one
request loop (``syncd.engine.http.RequestLoop``); this module knows only what SKYBIZ asks
and answers. Requests go as JSON; a server that reads only form fields (PHP's ``$_POST``)
answers that 400 "API key and secret are required", and then the same request goes again
form-encoded (``form.py``) — the encoding that worked is kept for the API host
(CONTRACT §10).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import structlog

from syncd.config import SourceConfig
from syncd.core import model
from syncd.core.backoff import Backoff
from syncd.core.errors import RequestRejected
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.hosts import host_of
from syncd.engine.http import Answer, ClientObserver, NoObserver, Request, RequestLoop
from syncd.engine.limiter import Priority, RateLimiter
from syncd.engine.outbox import jsontext
from syncd.kinds.skybiz import form
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.answers import Context, Page, classify, judge_create

log = structlog.get_logger("syncd.client")
T = TypeVar("T")
_JSON = "application/json"
JSON, FORM = "json", "form"
# The request encoding that worked, per API host (host:port), for every source and client
# of this process; the syncer stores a source's in the warehouse for `status` and restarts.
ENCODINGS: dict[str, str] = {}


class FormOnly(RequestRejected):
    """A server that reads only form fields refused a JSON request (its credentials unread)."""


def read_payload(
    module: model.Module, creds: Credentials, date_from: dt.date, date_to: dt.date,
    fields: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON body of a read request: only what the docs define for this module."""
    payload: dict[str, Any] = {
        "api_key": creds.api_key.reveal(),
        "api_secret": creds.secret().reveal(),
        "action": "read",
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
    }
    if module.accepts_fields and fields:
        payload["fields"] = list(fields)
    payload.update(module.extra_params)
    return payload


def create_payload(module: model.Module, creds: Credentials, documents: list[str]) -> bytes:
    """The JSON body of a create request around documents given as JSON text (the digits
    stored in the outbox go out unchanged: no float ever touches them)."""
    head = json.dumps({"api_key": creds.api_key.reveal(), "api_secret": creds.secret().reveal(),
                       "action": "create"})
    docs = ",".join(documents)
    return f'{head[:-1]}, "{module.name}_data": {{"documents": [{docs}]}}}}'.encode()


def create_fields(module: model.Module, creds: Credentials, documents: list[str]
                  ) -> dict[str, Any]:
    """The create request as fields (numbers as Decimal: their digits, never a float)."""
    return {"api_key": creds.api_key.reveal(), "api_secret": creds.secret().reveal(),
            "action": "create",
            f"{module.name}_data": {"documents": [jsontext.loads(d) for d in documents]}}


def _body(encoding: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A read's body arguments of ``Request`` in ``encoding``."""
    if encoding == FORM:
        return {"data": form.encode(payload), "content_type": form.CONTENT_TYPE}
    return {"json": payload}


class SkybizClient:
    """Reads module windows from one SKYBIZ source, and creates documents there."""

    def __init__(
        self,
        source: SourceConfig,
        session: aiohttp.ClientSession,
        limiter: RateLimiter,
        *,
        backoff: Backoff | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: ClientObserver | None = None,
    ) -> None:
        if source.credentials is None:
            raise ValueError("SkybizClient needs a source loaded with its credentials")
        self.source, self.host = source, host_of(source)
        self.credentials: Credentials = source.credentials
        self.loop = RequestLoop(
            source, session, limiter,
            backoff or Backoff(), observer or NoObserver(), rand=rand, sleep=sleep)

    @property
    def requests(self) -> int:
        return self.loop.requests

    @property
    def retries(self) -> int:
        return self.loop.retries

    async def read(
        self, module_name: str, date_from: dt.date, date_to: dt.date, *,
        priority: Priority = Priority.FRESH, fields: tuple[str, ...] = (),
    ) -> Page:
        """All records of ``module_name`` in the inclusive window, parsed here (small reads)."""

        def parse(answer: Answer) -> Page:
            return classify(answer.status, answer.body, self.context(module_name),
                            answer.retry_after)

        return await self.fetch(module_name, date_from, date_to, parse,
                                priority=priority, fields=fields)

    async def fetch(
        self, module_name: str, date_from: dt.date, date_to: dt.date,
        judge: Callable[[Answer], T], *,
        priority: Priority = Priority.FRESH, fields: tuple[str, ...] = (),
        split_after: int | None = None,
    ) -> T:
        """``judge`` of the read's first acceptable answer (the engine's loop retries).

        With ``split_after``, that many failures the window's size may cause raise
        WindowTooLarge instead of spending the whole budget (``RequestLoop.send``)."""
        module = skybiz.get(module_name)
        payload = read_payload(module, self.credentials, date_from, date_to, fields)

        def build(encoding: str) -> Request:
            return Request(
                self.context(module.name), "POST", self.source.endpoint_url(module.name),
                priority, reaches=date_to,  # the newest window goes first
                log_fields={"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
                **_body(encoding, payload))

        return await self._send(build, judge, split_after=split_after)

    async def create(
        self, module_name: str, documents: list[str],
        on_attempt: Callable[[int, bool], Awaitable[None]],
    ) -> tuple[dict[str, Any], str | None]:
        """Post one create request until it is answered; the answer's ``data`` and request_id.

        ``on_attempt(n, lost)`` runs before each try is sent (after the limiter let it go):
        the caller records that the documents are being sent. ``lost`` says an earlier try
        got no answer, so the server may already hold some of them.
        """
        module = skybiz.get(module_name)
        ctx = self.context(module.name)

        def build(encoding: str) -> Request:
            if encoding == FORM:  # the documents' digits go as they are stored (Decimal)
                body = form.encode(create_fields(module, self.credentials, documents))
                return Request(ctx, "POST", self.source.endpoint_url(module.name),
                               Priority.PUSH, data=body, content_type=form.CONTENT_TYPE)
            return Request(ctx, "POST", self.source.endpoint_url(module.name), Priority.PUSH,
                           data=create_payload(module, self.credentials, documents),
                           content_type=_JSON)

        def judge(answer: Answer) -> tuple[dict[str, Any], str | None]:
            return judge_create(answer.status, answer.body, ctx, answer.retry_after)

        return await self._send(build, judge, on_attempt=on_attempt)

    @property
    def encoding(self) -> str:
        """How this client's requests are encoded now (``json`` or ``form``)."""
        return ENCODINGS.get(self.host, JSON)

    async def _send(self, build: Callable[[str], Request], judge: Callable[[Answer], T],
                    **kw: Any) -> T:
        """Send in the host's encoding; a form-only answer to JSON switches it, once."""
        encoding = self.encoding

        def checked(answer: Answer) -> T:
            if encoding == JSON and form.is_form_only_answer(answer.status, answer.body):
                raise FormOnly(f"{self.source.name}: the server reads only form fields",
                               status=answer.status, module=answer.ctx.module)
            return judge(answer)

        try:
            return await self.loop.send(build(encoding), checked, **kw)
        except FormOnly:
            ENCODINGS[self.host] = FORM
            log.info("api.request_encoding", host=self.host, encoding=FORM,
                     reason="the server answered a JSON request 'API key and secret are "
                            "required': it reads form fields only")
            return await self.loop.send(build(FORM), judge, **kw)

    def context(self, module_name: str) -> Context:
        """Who asks, for the error sentences."""
        module = skybiz.get(module_name)
        return Context(self.source.name, module.name, module.label,
                       f"${env_prefix(self.source.name)}API_KEY / _API_SECRET")
