"""The CloudOnex HTTP client: GET one page of a resource (or one record), judged, within
the budget.

Every request goes through the source's host limiter (the configured 1000 / hour); pages of
complete reads (and the by-id reads confirming their deletions) also through a bulk limiter
that leaves a reserve of the hour for fresh reads. The server's ``X-RateLimit-*`` headers
are obeyed on top (``budget``). 429, 5xx, transport faults and HTML pages are retried with
backoff. The key travels in the ``Authorization`` header — or, with ``auth = "query"``, as
``?api_key=`` for servers whose web server drops that header; it is then in the URL sent,
but never in a URL syncd logs, stores or shows (contexts carry the URL without its query,
and an answer quoting the key has it replaced).
"""

from __future__ import annotations

import asyncio
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

from syncd import logs
from syncd.config import SourceConfig
from syncd.core.backoff import Backoff, parse_retry_after
from syncd.core.errors import ApiError, RateLimited, RetriableError, RetriesExhausted
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.http import ClientObserver, NoObserver, read_body, transport_errors
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.cloudonex import budget
from syncd.kinds.cloudonex.answers import Context, Page, RateHeaders, judge, judge_record

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


class CloudonexClient:
    """Reads pages of resources from one CloudOnex source."""

    def __init__(
        self, source: SourceConfig, session: aiohttp.ClientSession, limiter: RateLimiter, *,
        backoff: Backoff | None = None, observer: ClientObserver | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if source.credentials is None:
            raise ValueError("CloudonexClient needs a source loaded with its credentials")
        self.source, self.session, self.limiter = source, session, limiter
        self.credentials: Credentials = source.credentials
        rate = source.rate_limit
        self.bulk = RateLimiter(max(1, rate.requests - budget.reserve(rate.requests)),
                                rate.per_seconds, margin=rate.margin_seconds)
        self.backoff = backoff or Backoff()
        self.observer: ClientObserver = observer or NoObserver()
        self._rand, self._sleep = rand, sleep
        self.in_flight = 0
        self.headers: RateHeaders | None = None  # the last answer's, when it had them
        self.observed_at: dt.datetime | None = None
        key = self.credentials.api_key.reveal()
        logs.register_secret(key)  # scrubbed from any logged text, tracebacks included
        sent = yarl.URL.build(query={"api_key": key}).raw_query_string.partition("=")[2]
        self._key_forms = tuple(f.encode() for f in dict.fromkeys(  # as echoed, raw or encoded
            (key, sent, quote(key, safe=""), quote_plus(key))) if f)

    def context(self, resource: str) -> Context:
        return Context(self.source.name, resource, self.source.endpoint_url(resource),
                       f"${env_prefix(self.source.name)}API_KEY")

    async def page(
        self, resource: str, number: int, *, bulk: bool, priority: Priority,
        date_from: dt.date | None = None, date_to: dt.date | None = None,
    ) -> Fetched:
        """Page ``number`` of ``resource`` (optionally filtered by date), retried within
        the budget until it is a complete, successful answer."""
        params = {"page": str(number), "limit": str(self.source.page_size)}
        if date_from is not None and date_to is not None:
            params |= {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        ctx = self.context(resource)
        first_sent: float | None = None
        for attempt in range(1, self.backoff.attempts + 1):
            if bulk:
                await self.bulk.acquire(priority)
            self.observer.waited(await self.limiter.acquire(priority))
            first_sent = first_sent or time.monotonic()
            try:
                page = await self._get(ctx, params)
                return Fetched(page, attempt, first_sent)
            except RetriableError as exc:
                await self._before_retry(exc, attempt, ctx)
                self.observer.retry(resource)
            except ApiError as exc:
                _log_failure(exc, attempt, params, final=True)
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def record(self, resource: str, rid: int, *, priority: Priority = Priority.BACKFILL
                     ) -> FetchedRecord:
        """``GET {resource}/{rid}`` (a deletion candidate's confirmation, through the bulk
        limiter), retried within the budget until the record or a 404 is answered."""
        ctx = self.context(resource)
        ctx = Context(ctx.source, ctx.module, f"{ctx.url}/{rid}", ctx.key_hint)
        first_sent: float | None = None
        for attempt in range(1, self.backoff.attempts + 1):
            await self.bulk.acquire(priority)
            self.observer.waited(await self.limiter.acquire(priority))
            first_sent = first_sent or time.monotonic()
            try:
                found = await self._send(
                    ctx, {}, lambda status, body, c, wait: judge_record(status, body, c, rid, wait))
                return FetchedRecord(found, attempt, first_sent)
            except RetriableError as exc:
                await self._before_retry(exc, attempt, ctx)
                self.observer.retry(resource)
            except ApiError as exc:
                _log_failure(exc, attempt, None, final=True)
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _auth(self, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and query of one request: the key as Bearer, or as ``?api_key=``."""
        key = self.credentials.api_key.reveal()
        if self.source.auth == "query":
            return {}, {"api_key": key, **params}
        return {"Authorization": f"Bearer {key}"}, params

    async def _get(self, ctx: Context, params: dict[str, str]) -> Page:
        return await self._send(ctx, params, judge)

    async def _send(self, ctx: Context, params: dict[str, str],
                    judging: Callable[[int, bytes | bytearray, Context, float | None], T]) -> T:
        """One request, its answer judged by ``judging``."""
        headers, params = self._auth(params)
        status = 0
        self.in_flight += 1
        try:
            with transport_errors(ctx):
                async with self.session.get(ctx.url, params=params, headers=headers) as resp:
                    status = resp.status
                    body = await read_body(resp)
                    rate = RateHeaders.read(resp.headers)
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"),
                                                    dt.datetime.now(dt.UTC))
        finally:
            self.in_flight -= 1
            self.observer.response(ctx.module, status)
        self._obey(rate)
        if not 200 <= status < 300 or len(body) < _SMALL:
            # A server that echoes the key (or the URL that carried it) in its error message
            # must not leak it into our sentences, logs or the module's last error.
            for form in self._key_forms:
                body = body.replace(form, b"[the API key]")
        if status == 429 and retry_after is None:
            retry_after = budget.seconds_to_reset(rate, time.time())
        return judging(status, body, ctx, retry_after)

    def _obey(self, rate: RateHeaders) -> None:
        """Hold back when the server says the key's budget is nearly spent."""
        if not rate.present:
            return
        self.headers, self.observed_at = rate, dt.datetime.now(dt.UTC)
        verdict = budget.judge(rate, time.time(), self.in_flight, self.source.rate_limit.requests)
        if verdict is None:
            return
        log.info("api.budget_hold", source=self.source.name, hold=verdict.hold.value,
                 remaining=rate.remaining, seconds=round(verdict.seconds, 1))
        (self.limiter if verdict.hold is budget.Hold.ALL else self.bulk).pause(verdict.seconds)

    async def _before_retry(self, exc: RetriableError, attempt: int, ctx: Context) -> None:
        final = attempt >= self.backoff.attempts
        _log_failure(exc, attempt, None, final=final)
        if final:
            text = str(exc).removesuffix("; syncd retries.")
            raise RetriesExhausted(f"{text}; gave up after {attempt} tries.", status=exc.status,
                                   message=exc.message, module=exc.module) from exc
        if isinstance(exc, RateLimited):
            # The key's budget is spent (maybe by another client): every read of this source
            # waits for the reset the server named, not just this one.
            wait = exc.retry_after if exc.retry_after is not None else \
                self.backoff.delay(attempt, self._rand)
            self.limiter.pause(min(wait, self.source.rate_limit.per_seconds))
            return
        await self._sleep(self.backoff.delay(attempt, self._rand, exc.retry_after))


def _log_failure(exc: ApiError, attempt: int, params: dict[str, str] | None, *,
                 final: bool) -> None:
    log.warning("api.request_failed", module=exc.module, error=type(exc).__name__,
                http_status=exc.status, server_message=exc.message, attempt=attempt,
                final=final, page=params.get("page") if params else None)
