"""The one request loop every source kind's client uses, and the HTTP pieces around it.

A kind's client builds a ``Request`` and a pure ``judge`` (answer → result, or raise the
ApiError it means); ``RequestLoop.send`` does the rest, the same for every kind: the
limiter turn, one deadline per request (``request_timeout``), no redirect ever followed,
the answer bounded by ``max_answer_mb`` from its bytes (never from what a header claims),
aiohttp's failures translated into syncd's errors (the only place that knows them),
retries with backoff decided here, a 429 holding the whole source, and one log line per failed try.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog

from syncd import __version__
from syncd.config import SourceConfig
from syncd.core.backoff import Backoff, parse_retry_after
from syncd.core.errors import (
    AnswerLost,
    AnswerTooLarge,
    ApiError,
    EndpointMisconfigured,
    RateLimited,
    RetriableError,
    RetriesExhausted,
    Unreachable,
    WindowTooLarge,
    says_nothing_of_size,
)
from syncd.engine.limiter import Priority, RateLimiter, Start

log = structlog.get_logger("syncd.client")
T = TypeVar("T")
_MB = 1 << 20


def ssl_context(source: SourceConfig) -> ssl.SSLContext:
    """System trust store plus the optional ``ca_file``; verification is never turned off."""
    ctx = ssl.create_default_context()
    if source.ca_file is not None:
        ctx.load_verify_locations(cafile=str(source.ca_file))
    return ctx


@contextlib.asynccontextmanager
async def open_session(source: SourceConfig) -> AsyncIterator[aiohttp.ClientSession]:
    """The one HTTP session of a source, with TLS verification and timeouts."""
    timeout = aiohttp.ClientTimeout(
        total=source.request_timeout, connect=source.connect_timeout,
        sock_read=source.read_timeout)
    connector = aiohttp.TCPConnector(ssl=ssl_context(source), limit=16)
    headers = {"User-Agent": f"syncd/{__version__}", "Accept": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, raise_for_status=False,
        trace_configs=[_sending_trace()],
    ) as session:
        yield session


def _sending_trace() -> aiohttp.TraceConfig:
    """Tells a request's limiter start when its headers and its body are handed to the
    socket: on Python 3.11 aiohttp writes a body from a task of its own, so a busy loop can
    send it well after the grant (see ``Start.went_out``)."""

    async def sent(_session: aiohttp.ClientSession, ctx: Any, _params: Any) -> None:
        start = (ctx.trace_request_ctx or {}).get("start")
        if isinstance(start, Start):
            start.went_out()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(sent)
    trace.on_request_chunk_sent.append(sent)
    return trace


class Asker(Protocol):
    """Who asked (any kind's request context): named in the error sentences."""

    @property
    def source(self) -> str: ...
    @property
    def module(self) -> str: ...


class ClientObserver(Protocol):
    """Who wants to know about each answer (metrics); the default ignores everything."""

    def response(self, module: str, status: int) -> None: ...
    def retry(self, module: str) -> None: ...
    def waited(self, seconds: float) -> None: ...


class NoObserver:
    def response(self, module: str, status: int) -> None:
        pass

    def retry(self, module: str) -> None:
        pass

    def waited(self, seconds: float) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a kind's client builds it; ``url`` never carries a credential unless
    ``params`` does (and ``params`` are never logged)."""

    ctx: Asker
    method: str
    url: str
    priority: Priority
    data: bytes | None = None
    json: Any = None  # a JSON body aiohttp serialises (instead of ``data``)
    content_type: str | None = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    share: RateLimiter | None = None  # a kind's share of the budget, taken before the limiter
    reaches: dt.date | None = None  # the window's end: the newest goes first in its class
    repeatable: bool = True  # False: a try that may have reached the server is not repeated
    log_fields: Mapping[str, Any] = field(default_factory=dict)  # e.g. dates or page


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read whole and within the limits, handed to the kind's judge."""

    status: int
    body: bytearray
    headers: Mapping[str, str]
    retry_after: float | None
    ctx: Asker
    attempt: int  # 1 for the first try: the request cost this many
    first_sent: float  # time.monotonic() when the first try went out


class Hooks:
    """What a kind adds around each try (CloudOnex: the server's rate headers); the
    default adds nothing."""

    def answered(self, request: Request, answer: Answer) -> Answer:
        """Every answer, before it is judged (may return a cleaned copy)."""
        return answer

    def sending(self, delta: int) -> None:
        """``+1`` as a try goes out, ``-1`` when its answer is in (or it failed)."""


@dataclass(slots=True)
class RequestLoop:
    """Sends the requests of one source: the limiter turn, deadline, size bound, error
    translation and retries, for every kind alike."""

    source: SourceConfig
    session: aiohttp.ClientSession
    limiter: RateLimiter
    backoff: Backoff
    observer: ClientObserver = field(default_factory=NoObserver)
    hooks: Hooks = field(default_factory=Hooks)
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    requests: int = 0
    retries: int = 0

    async def send(
        self, request: Request, judge: Callable[[Answer], T], *,
        split_after: int | None = None,
        on_attempt: Callable[[int, bool], Awaitable[None]] | None = None,
    ) -> T:
        """``judge(answer)`` of the first answer it accepts, retrying within the budget.

        With ``split_after``, that many failures the request's size may cause (not 429s,
        not an unreachable server) raise WindowTooLarge instead of spending the whole
        budget, and an answer over ``max_answer_mb`` raises it at once. ``on_attempt(n,
        lost)`` runs before each try is sent; ``lost`` says an earlier try got no answer,
        so the server may already have acted on it (creates)."""
        first_sent: float | None = None
        failures, lost = 0, False
        for attempt in range(1, self.backoff.attempts + 1):
            if request.share is not None:
                await request.share.acquire(request.priority)
            start = await self.limiter.acquire(request.priority, source=self.source.name,
                                               reaches=request.reaches)
            self.observer.waited(start.waited)
            first_sent = first_sent or time.monotonic()
            if on_attempt is not None:
                await on_attempt(attempt, lost)
            start.went_out()  # on_attempt may have waited on the warehouse
            try:
                answer = await self._exchange(request, attempt, first_sent, start)
                return judge(self.hooks.answered(request, answer))
            except AnswerTooLarge as exc:
                _log_failure(request, exc, attempt, final=True)
                if split_after is None:
                    raise
                raise WindowTooLarge(str(exc), requests=attempt, status=exc.status,
                                     module=exc.module) from exc
            except RetriableError as exc:
                if not request.repeatable and not says_nothing_of_size(exc):
                    # It may have been done: the caller must look before sending it again.
                    _log_failure(request, exc, attempt, final=True)
                    raise AnswerLost(str(exc).removesuffix("; syncd retries.") + ".",
                                     status=exc.status, message=exc.message,
                                     request_id=exc.request_id, module=exc.module) from exc
                lost = lost or exc.status is None or 200 <= exc.status < 300
                failures += not says_nothing_of_size(exc)
                if split_after is not None and failures >= split_after:
                    _log_failure(request, exc, attempt, final=True)
                    raise WindowTooLarge(str(exc), requests=attempt, status=exc.status,
                                         message=exc.message, request_id=exc.request_id,
                                         module=exc.module) from exc
                await self._before_retry(request, exc, attempt)
            except ApiError as exc:
                _log_failure(request, exc, attempt, final=True)
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _before_retry(self, request: Request, exc: RetriableError, attempt: int) -> None:
        final = attempt >= self.backoff.attempts
        _log_failure(request, exc, attempt, final=final)
        if final:
            text = str(exc).removesuffix("; syncd retries.")
            raise RetriesExhausted(f"{text}; gave up after {attempt} tries.", status=exc.status,
                                   message=exc.message, request_id=exc.request_id,
                                   module=exc.module) from exc
        self.retries += 1
        self.observer.retry(request.ctx.module)
        # A server's Retry-After is believed up to the backoff's retry_after_cap (a
        # kind's default: its own window, CloudOnex's hour).
        delay = self.backoff.delay(attempt, self.rand, exc.retry_after)
        if isinstance(exc, RateLimited):
            # Another client shares our key or IP: every module of the source holds back.
            self.limiter.pause(delay)
        else:
            await self.sleep(delay)

    async def _exchange(self, request: Request, attempt: int, first_sent: float,
                        start: Start) -> Answer:
        """One try: sent, answered and read whole within the deadline and the size bound;
        its limiter ``start`` is counted again as its bytes go out."""
        self.requests += 1
        self.hooks.sending(+1)
        status = 0
        try:
            with transport_errors(request.ctx, self.source):
                async with asyncio.timeout(self.source.request_timeout):
                    async with self.session.request(
                        request.method, request.url, **_body(request),
                        params=request.params, headers=_headers(request),
                        allow_redirects=False, trace_request_ctx={"start": start},
                    ) as resp:
                        status = resp.status
                        if 300 <= status < 400:
                            raise _redirect(request, resp, self.source)
                        body = await read_body(resp, self.source.max_answer_mb * _MB,
                                               request.ctx)
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"),
                                                        dt.datetime.now(dt.UTC))
                        return Answer(status, body, resp.headers, retry_after, request.ctx,
                                      attempt, first_sent)
        finally:
            self.hooks.sending(-1)
            self.observer.response(request.ctx.module, status)


def _body(request: Request) -> dict[str, Any]:
    return {"json": request.json} if request.json is not None else {"data": request.data}


def _headers(request: Request) -> dict[str, str]:
    headers = dict(request.headers or {})
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    return headers


def _redirect(request: Request, resp: aiohttp.ClientResponse,
              source: SourceConfig) -> EndpointMisconfigured:
    """A 3xx is never followed: the credentials travel with the request."""
    target = resp.headers.get("Location", "")
    host = urlsplit(target).hostname or (target[:80] if target else "an unnamed place")
    return EndpointMisconfigured(
        f"{request.ctx.module}: the server answered HTTP {resp.status}, a redirect to "
        f"{host!s}; syncd never follows redirects (the credentials travel with every "
        f"request) — if the API really moved, set base_url of source {source.name!r} to "
        "its new address.", status=resp.status, module=request.ctx.module)


async def read_body(resp: aiohttp.ClientResponse, limit: int, ctx: Asker) -> bytearray:
    """The whole body in one growing buffer, refused as soon as it is announced or found
    larger than ``limit`` bytes; nothing is allocated from what a header claims."""
    announced = resp.content_length
    if announced is not None and announced > limit:
        raise _too_large(ctx, limit, announced)
    body = bytearray()
    async for chunk in resp.content.iter_any():
        if len(body) + len(chunk) > limit:
            raise _too_large(ctx, limit, None)
        body += chunk
    return body


def _too_large(ctx: Asker, limit: int, announced: int | None) -> AnswerTooLarge:
    said = f" (it announced {announced // _MB:,} MB)" if announced is not None else ""
    return AnswerTooLarge(
        f"{ctx.module}: the answer is larger than max_answer_mb = {limit // _MB} MB{said}; "
        f"syncd refused it — raise max_answer_mb of source {ctx.source!r} if the server is "
        "trusted and really sends that much.", module=ctx.module)


@contextlib.contextmanager
def transport_errors(ctx: Asker, source: SourceConfig | None = None) -> Iterator[None]:
    """Translate aiohttp/socket failures into syncd errors — the only place that does."""
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        raise EndpointMisconfigured(
            f"{ctx.module}: the TLS certificate of {exc.host} could not be verified; if the "
            f"server uses a private CA, set ca_file for source {ctx.source!r}.",
            module=ctx.module) from None
    except aiohttp.ClientConnectorError as exc:
        raise Unreachable(
            f"Cannot connect to {exc.host}:{exc.port} "
            f"({exc.os_error.strerror or exc.os_error}); check base_url of source "
            f"{ctx.source!r} and the network.",
            module=ctx.module) from None
    except aiohttp.ConnectionTimeoutError:
        raise Unreachable(
            f"{ctx.module}: connecting to the server timed out; syncd retries (check the "
            f"network and connect_timeout of source {ctx.source!r} if it persists).",
            module=ctx.module) from None
    except (aiohttp.ClientError, ConnectionError) as exc:
        kind = type(exc).__name__
        raise RetriableError(
            f"{ctx.module}: the connection failed mid-request ({kind}); syncd retries.",
            module=ctx.module) from None
    except TimeoutError:  # the request's own deadline
        limit = f" of {source.request_timeout:g} s" if source is not None else ""
        raise RetriableError(
            f"{ctx.module}: no complete answer within the deadline{limit} "
            f"(request_timeout of source {ctx.source!r}); syncd retries.",
            module=ctx.module) from None


def _log_failure(request: Request, exc: ApiError, attempt: int, *, final: bool) -> None:
    log.warning(
        "api.request_failed", module=exc.module, error=type(exc).__name__,
        http_status=exc.status, server_message=exc.message, request_id=exc.request_id,
        attempt=attempt, final=final, **request.log_fields,
    )
