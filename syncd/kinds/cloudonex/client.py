"""The CloudOnex HTTP client: GET one page of a resource, judged, within the budget.

Every request goes through the source's host limiter (the configured 1000 / hour); pages of
complete reads also through a bulk limiter that leaves a reserve of the hour for fresh
reads. The server's ``X-RateLimit-*`` headers are obeyed on top (``budget``). 429, 5xx,
transport faults and HTML pages are retried with backoff; the key travels only in the
``Authorization`` header, never in a URL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import msgspec
import structlog

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff, parse_retry_after
from syncd.core.errors import (
    ApiError,
    RateLimited,
    RetriableError,
    RetriesExhausted,
    Unreachable,
)
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.http import ClientObserver, NoObserver, read_body, transport_errors
from syncd.engine.limiter import Priority, RateLimiter
from syncd.engine.outbox import jsontext
from syncd.kinds.cloudonex import budget
from syncd.kinds.cloudonex.answers import Context, Page, RateHeaders, error_for, judge

log = structlog.get_logger("syncd.cloudonex")
_SMALL = 1 << 16  # answers this short may be error envelopes that quote the request


@dataclass(frozen=True, slots=True)
class Fetched:
    """A judged page and what it cost."""

    page: Page
    requests: int
    first_sent: float  # time.monotonic() of its first try


class CloudonexClient:
    """Reads pages of resources from one CloudOnex source (and writes, in the last block)."""

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

    async def _get(self, ctx: Context, params: dict[str, str]) -> Page:
        headers = {"Authorization": f"Bearer {self.credentials.api_key.reveal()}"}
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
        key = self.credentials.api_key.reveal().encode()
        if key and (not 200 <= status < 300 or len(body) < _SMALL) and key in body:
            # A server that echoes the key in its error message must not leak it into our
            # sentences, logs or the module's last error.
            body = body.replace(key, b"[the API key]")
        if status == 429 and retry_after is None:
            retry_after = budget.seconds_to_reset(rate, time.time())
        return judge(status, body, ctx, retry_after)

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
        if verdict.hold is budget.Hold.BULK:
            self.push_limiter.pause(verdict.seconds)  # write-back leaves the reserve too

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

    # ---- write-back: POST / PUT / DELETE, and one record by id ----------------------------
    # Kept apart from the reads on purpose: at the merge these move onto the shared request
    # loop (syncd/engine/http.py); only the decisions are CloudOnex's. A write is retried
    # only when the server surely did nothing: a 429, a connection never made, or (PUT and
    # DELETE, which may be repeated) a 5xx or a lost answer. A create whose answer is lost
    # or a 5xx is never sent again here: AnswerLost tells the writer to look for it at the
    # source first (CONTRACT §8.1, never twice).

    @property
    def push_limiter(self) -> RateLimiter:
        """At most PUSH_SHARE of the hour for writes (created on first use)."""
        if self._push_limiter is None:
            rate = self.source.rate_limit
            self._push_limiter = RateLimiter(max(1, int(rate.requests * PUSH_SHARE)),
                                             rate.per_seconds, margin=rate.margin_seconds)
        return self._push_limiter

    async def write(self, method: str, resource: str, path: str, body: str | None,
                    on_attempt: Callable[[int, bool], Awaitable[None]]) -> Written:
        """One write to ``path`` under base_url (``customers``, ``customers/7``,
        ``batch/customers``), retried only where that is safe; 2xx, 400 and 404 answers
        are returned for the writer to judge."""
        ctx = self.context(resource)
        ctx = Context(ctx.source, resource, f"{self.source.base_url}/{path}", ctx.key_hint)
        repeatable, lost = method != "POST", False
        for attempt in range(1, self.backoff.attempts + 1):
            await self.push_limiter.acquire(Priority.PUSH)
            self.observer.waited(await self.limiter.acquire(Priority.PUSH,
                                                              source=self.source.name))
            await on_attempt(attempt, lost)
            try:
                return await self._write_once(method, ctx, body)
            except Unreachable as exc:
                error: ApiError = exc  # never reached the server: safe to try again
            except RateLimited as exc:
                error = exc
                self.limiter.pause(min(exc.retry_after or 1.0, self.source.rate_limit.per_seconds))
            except RetriableError as exc:
                if not repeatable:
                    raise AnswerLost(str(exc), status=exc.status, message=exc.message,
                                     module=resource) from exc
                error, lost = exc, True
            if attempt >= self.backoff.attempts:
                raise RetriesExhausted(f"{str(error).removesuffix('; syncd retries.')}; gave "
                                       f"up after {attempt} tries.", status=error.status,
                                       message=error.message, module=resource)
            self.observer.retry(resource)
            await self._sleep(self.backoff.delay(attempt, self._rand, error.retry_after))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _write_once(self, method: str, ctx: Context, body: str | None) -> Written:
        """Send once; a 2xx without a readable envelope counts as a lost answer."""
        headers = {"Authorization": f"Bearer {self.credentials.api_key.reveal()}",
                   "Content-Type": "application/json"}
        status = 0
        try:
            with transport_errors(ctx):
                async with self.session.request(method, ctx.url, headers=headers,
                                                data=None if body is None else body.encode()
                                                ) as resp:
                    status = resp.status
                    raw = await read_body(resp)
                    rate = RateHeaders.read(resp.headers)
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"),
                                                    dt.datetime.now(dt.UTC))
        finally:
            self.observer.response(ctx.module, status)
        self._obey(rate)
        return _written(status, raw, ctx, retry_after, self.credentials.api_key.reveal())

    async def record(self, resource: str, rid: str) -> list[msgspec.Raw]:
        """GET ``resource/rid``: the record as a one-record page, [] when it is gone.

        Minimal stand-in for the by-id read helper C adds to this client; drop it then."""
        ctx = self.context(resource)
        ctx = Context(ctx.source, resource, f"{ctx.url}/{rid}", ctx.key_hint)
        self.observer.waited(await self.limiter.acquire(Priority.FRESH,
                                                          source=self.source.name))
        headers = {"Authorization": f"Bearer {self.credentials.api_key.reveal()}"}
        with transport_errors(ctx):
            async with self.session.get(ctx.url, headers=headers) as resp:
                status, raw = resp.status, await read_body(resp)
                rate = RateHeaders.read(resp.headers)
        self.observer.response(resource, status)
        self._obey(rate)
        if status == 404:
            return []
        if not 200 <= status < 300:
            raise error_for(status, None, ctx, None)
        one = _ONE.decode(bytes(raw)) if raw.strip().startswith(b"{") else None
        if one is None or bytes(one.data)[:1] != b"{":
            raise RetriableError(f"{resource}: the record {rid} came without its data; syncd "
                                 "retries.", status=status, module=resource)
        return [one.data]


def _log_failure(exc: ApiError, attempt: int, params: dict[str, str] | None, *,
                 final: bool) -> None:
    log.warning("api.request_failed", module=exc.module, error=type(exc).__name__,
                http_status=exc.status, server_message=exc.message, attempt=attempt,
                final=final, page=params.get("page") if params else None)


# ---- write-back (the CloudonexClient methods' answers) ------------------------------------

PUSH_SHARE = 0.5  # of the hourly budget at most, for write-back: reads keep the rest


class AnswerLost(RetriableError):
    """A write went out and no usable answer came back: the server may have done it."""


@dataclass(frozen=True, slots=True)
class Written:
    """The answer to a write: its status and envelope, values parsed exactly."""

    status: int
    data: object
    errors: dict[str, str]
    message: str | None


class _One(msgspec.Struct, gc=False):
    data: msgspec.Raw = msgspec.Raw(b"")


_ONE = msgspec.json.Decoder(_One)


def _written(status: int, raw: bytearray, ctx: Context, retry_after: float | None,
             key: str) -> Written:
    """Judge a write's answer: errors raised, 2xx/400/404 returned."""
    if key and key.encode() in raw:
        raw = bytearray(bytes(raw).replace(key.encode(), b"[the API key]"))
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
