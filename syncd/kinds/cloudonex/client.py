"""The CloudOnex client: builds each GET of a resource page and judges its answer.

Every request goes through the engine's one request loop (``RequestLoop``) and the source's
host limiter (the configured 1000 / hour); pages of complete reads also through a bulk
limiter that leaves a reserve of the hour for fresh reads. The server's ``X-RateLimit-*``
headers are obeyed on top (``budget``), believed up to the source's own ``per_seconds``.
The key travels in the ``Authorization`` header — or, with ``auth = "query"``, as
``?api_key=`` for servers whose web server drops that header; it is then in the URL sent,
but never in a URL syncd logs, stores or shows (contexts carry the URL without its query,
and an answer quoting the key, raw or encoded, has it replaced).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
import msgspec
import structlog
import yarl

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import RetriableError
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.http import Answer, ClientObserver, Hooks, NoObserver, Request, RequestLoop
from syncd.engine.limiter import Priority, RateLimiter
from syncd.engine.outbox import jsontext
from syncd.kinds.cloudonex import budget, resources
from syncd.kinds.cloudonex.answers import (
    Context,
    Page,
    RateHeaders,
    error_for,
    judge,
    judge_record,
)
from syncd.kinds.options import CloudonexOptions

log = structlog.get_logger("syncd.cloudonex")
_SMALL = 1 << 16  # answers this short may be error envelopes that quote the request
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchedRecord:
    """A judged single record (None: the server answered 404) and what it cost."""

    record: msgspec.Raw | None
    requests: int
    first_sent: float


@dataclass(frozen=True, slots=True)
class Fetched:
    """A judged page and what it cost."""

    page: Page
    requests: int
    first_sent: float  # time.monotonic() of its first try


class CloudonexClient(Hooks):
    """Reads pages of resources from one CloudOnex source (its ``Hooks`` add the server's
    rate headers and key scrubbing to every try of the engine's loop)."""

    def __init__(
        self, source: SourceConfig, session: aiohttp.ClientSession, limiter: RateLimiter, *,
        backoff: Backoff | None = None, observer: ClientObserver | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if source.credentials is None:
            raise ValueError("CloudonexClient needs a source loaded with its credentials")
        self.source, self.limiter = source, limiter
        self.options = source.options_of(CloudonexOptions)
        self.credentials: Credentials = source.credentials
        key = self.credentials.api_key.reveal()
        sent = yarl.URL.build(query={"api_key": key}).raw_query_string.partition("=")[2]
        self._key_forms = tuple(f.encode() for f in dict.fromkeys(  # as echoed, raw or encoded
            (key, sent, quote(key, safe=""), quote_plus(key))) if f)
        rate = source.rate_limit
        self.bulk = RateLimiter(max(1, rate.requests - budget.reserve(rate.requests)),
                                rate.per_seconds, margin=rate.margin_seconds)
        # A server's Retry-After / Reset is believed up to the source's own window.
        self.backoff = backoff or Backoff(retry_after_cap=rate.per_seconds)
        self.loop = RequestLoop(source, session, limiter,
                                self.backoff,
                                observer or NoObserver(), hooks=self, rand=rand, sleep=sleep)
        self.in_flight = 0
        self.headers: RateHeaders | None = None  # the last answer's, when it had them
        self.observed_at: dt.datetime | None = None
        self._push_limiter: RateLimiter | None = None  # write-back's share (push_limiter)

    def context(self, resource: str) -> Context:
        return Context(self.source.name, resource, self.source.endpoint_url(resource),
                       f"${env_prefix(self.source.name)}API_KEY")

    async def page(
        self, resource: str, number: int, *, bulk: bool, priority: Priority,
        date_from: dt.date | None = None, date_to: dt.date | None = None,
    ) -> Fetched:
        """Page ``number`` of ``resource`` (optionally filtered by date), retried within
        the budget until it is a complete, successful answer."""
        params = {"page": str(number), "limit": str(self.options.page_size)}
        if date_from is not None and date_to is not None:
            params |= {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        ctx = self.context(resource)
        headers, query = self._auth(params)
        request = Request(
            ctx, "GET", ctx.url, priority, params=query, headers=headers,
            share=self.bulk if bulk else None, log_fields={"page": params["page"]})

        def fetched(answer: Answer) -> Fetched:
            return Fetched(judge(answer.status, answer.body, ctx, answer.retry_after),
                           answer.attempt, answer.first_sent)

        return await self.loop.send(request, fetched)

    # -- Hooks: what CloudOnex adds around each try of the engine's loop --------------

    def sending(self, delta: int) -> None:
        self.in_flight += delta

    def answered(self, request: Request, answer: Answer) -> Answer:
        """Obey the rate headers; keep an echoed key out of every sentence."""
        rate = RateHeaders.read(answer.headers)
        self._obey(rate)
        body, retry_after = answer.body, answer.retry_after
        if not 200 <= answer.status < 300 or len(body) < _SMALL:
            # A server that echoes the key (or the URL that carried it) in its error message
            # must not leak it into our sentences, logs or the module's last error.
            for form in self._key_forms:
                if form in body:
                    body = bytearray(body.replace(form, b"[the API key]"))
        if answer.status == 429 and retry_after is None:
            retry_after = budget.seconds_to_reset(rate, time.time())
        return dataclasses.replace(answer, body=body, retry_after=retry_after)

    def _obey(self, rate: RateHeaders) -> None:
        """Hold back when the server says the key's budget is nearly spent."""
        if not rate.present:
            return
        self.headers, self.observed_at = rate, dt.datetime.now(dt.UTC)
        verdict = budget.judge(rate, time.time(), self.in_flight,
                               self.source.rate_limit.requests,
                               cap=self.source.rate_limit.per_seconds)
        if verdict is None:
            return
        log.info("api.budget_hold", source=self.source.name, hold=verdict.hold.value,
                 remaining=rate.remaining, seconds=round(verdict.seconds, 1))
        (self.limiter if verdict.hold is budget.Hold.ALL else self.bulk).pause(verdict.seconds)
        if verdict.hold is budget.Hold.BULK:
            self.push_limiter.pause(verdict.seconds)  # write-back leaves the reserve too


    # ---- write-back: POST / PUT / DELETE, and one record by id ----------------------------
    # On the same loop as the reads; only the decisions are CloudOnex's. A create (POST) is
    # never repeated by the loop: a 5xx or a lost answer raises AnswerLost, and the writer
    # looks for the record at the source before anything is sent again (CONTRACT §8.1).
    # PUT and DELETE may be repeated; 429s and connections never made are retried for all.

    @property
    def push_limiter(self) -> RateLimiter:
        """At most resources.PUSH_SHARE of the hour for writes (created on first use)."""
        if self._push_limiter is None:
            rate = self.source.rate_limit
            self._push_limiter = RateLimiter(max(1, int(rate.requests * resources.PUSH_SHARE)),
                                             rate.per_seconds, margin=rate.margin_seconds)
        return self._push_limiter

    async def write(self, method: str, resource: str, path: str, body: str | None,
                    on_attempt: Callable[[int, bool], Awaitable[None]]) -> Written:
        """One write to ``path`` under base_url (``customers``, ``customers/7``,
        ``batch/customers``); 2xx, 400 and 404 answers are returned for the writer to
        judge."""
        ctx = self.context(resource)
        ctx = Context(ctx.source, resource, f"{self.source.base_url}/{path}", ctx.key_hint)
        headers, query = self._auth({})
        request = Request(
            ctx, method, ctx.url, Priority.PUSH, params=query or None,
            data=None if body is None else body.encode(), content_type="application/json",
            headers=headers, share=self.push_limiter, repeatable=method != "POST",
            log_fields={"write": method})

        def judged(answer: Answer) -> Written:
            return _written(answer.status, answer.body, ctx, answer.retry_after)

        return await self.loop.send(request, judged, on_attempt=on_attempt)

    async def record(self, resource: str, rid: int, *, priority: Priority = Priority.FRESH,
                     bulk: bool = False) -> FetchedRecord:
        """``GET {resource}/{rid}`` (a webhook's hint; with ``bulk``, a deletion
        candidate's confirmation through the bulk share), until the record or a 404."""
        ctx = self.context(resource)
        ctx = Context(ctx.source, ctx.module, f"{ctx.url}/{rid}", ctx.key_hint)
        headers, query = self._auth({})
        request = Request(ctx, "GET", ctx.url, priority, params=query or None,
                          headers=headers, share=self.bulk if bulk else None,
                          log_fields={"record": rid})

        def judged(answer: Answer) -> FetchedRecord:
            found = judge_record(answer.status, answer.body, ctx, rid, answer.retry_after)
            return FetchedRecord(found, answer.attempt, answer.first_sent)

        return await self.loop.send(request, judged)

    def _auth(self, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and query of one request: the key as Bearer, or as ``?api_key=``."""
        key = self.credentials.api_key.reveal()
        if self.options.auth == "query":
            return {}, {"api_key": key, **params}
        return {"Authorization": f"Bearer {key}"}, params


# ---- write-back (the CloudonexClient methods' answers) ------------------------------------

@dataclass(frozen=True, slots=True)
class Written:
    """The answer to a write: its status and envelope, values parsed exactly."""

    status: int
    data: object
    errors: dict[str, str]
    message: str | None


def _written(status: int, raw: bytearray, ctx: Context, retry_after: float | None) -> Written:
    """Judge a write's answer (an echoed key already scrubbed): errors raised, 2xx/400/404
    returned."""
    try:
        doc = jsontext.loads(bytes(raw)[bytes(raw).find(b"{"):]) if b"{" in raw else None
    except ValueError:
        doc = None
    env = doc if isinstance(doc, dict) else {}
    message = str(env["message"])[:300] if env.get("message") is not None else None
    if status in (400, 404, 409, 422) or (200 <= status < 300 and env.get("success") is False):
        errors = env.get("errors")
        return Written(400 if status < 300 else status, env.get("data"),
                       {str(k): str(v)[:300] for k, v in errors.items()}
                       if isinstance(errors, dict) else {}, message)
    if not 200 <= status < 300:
        raise error_for(status, message, ctx, retry_after)
    if doc is None:
        raise RetriableError(f"{ctx.module}: the server answered {status} with a body that is "
                             "not JSON; syncd retries.", status=status, module=ctx.module)
    return Written(status, env.get("data"), {}, message)
