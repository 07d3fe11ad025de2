"""The SKYBIZ HTTP client: one aiohttp session and one rate limiter per source.

This is the only module that knows aiohttp's exceptions; it translates them into the
syncd exception tree (``transport_errors``). Retries live here too: 429, 5xx, transport
failures and broken bodies are retried with backoff inside a budget; a 429 pauses the
whole source through the shared limiter, not just the request that got it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import structlog

from syncd import __version__, registry
from syncd.backoff import Backoff, parse_retry_after
from syncd.config import SourceConfig
from syncd.credentials import Credentials, env_prefix
from syncd.errors import (
    ApiError,
    EndpointMisconfigured,
    RateLimited,
    RetriableError,
    RetriesExhausted,
    Unreachable,
    WindowTooLarge,
)
from syncd.limiter import Priority, RateLimiter
from syncd.responses import Context, Page, classify, judge_create

log = structlog.get_logger("syncd.client")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer to a read, handed to whoever judges and loads it."""

    status: int
    body: bytes | bytearray
    retry_after: float | None
    ctx: Context
    attempt: int  # 1 for the first try: the window cost this many requests
    first_sent: float  # time.monotonic() when the window's first try went out


def read_payload(
    module: registry.Module, creds: Credentials, date_from: dt.date, date_to: dt.date,
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


def create_payload(module: registry.Module, creds: Credentials, documents: list[str]) -> bytes:
    """The JSON body of a create request around documents given as JSON text (the digits
    stored in the outbox go out unchanged: no float ever touches them)."""
    head = json.dumps({"api_key": creds.api_key.reveal(), "api_secret": creds.secret().reveal(),
                       "action": "create"})
    docs = ",".join(documents)
    return f'{head[:-1]}, "{module.name}_data": {{"documents": [{docs}]}}}}'.encode()


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
        total=None, connect=source.connect_timeout, sock_read=source.read_timeout)
    connector = aiohttp.TCPConnector(ssl=ssl_context(source), limit=16)
    headers = {"User-Agent": f"syncd/{__version__}", "Accept": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, raise_for_status=False,
    ) as session:
        yield session


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


class SkybizClient:
    """Reads module windows from one SKYBIZ source."""

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
        self.source, self.session, self.limiter = source, session, limiter
        self.credentials: Credentials = source.credentials
        self.backoff = backoff or Backoff()
        self._rand, self._sleep = rand, sleep
        self.observer: ClientObserver = observer or NoObserver()
        self.requests = 0
        self.retries = 0

    async def read(
        self, module_name: str, date_from: dt.date, date_to: dt.date, *,
        priority: Priority = Priority.FRESH, fields: tuple[str, ...] = (),
    ) -> Page:
        """All records of ``module_name`` in the inclusive window, parsed here (small reads)."""

        async def parse(answer: Answer) -> Page:
            return classify(answer.status, answer.body, answer.ctx, answer.retry_after)

        return await self.fetch(module_name, date_from, date_to, parse,
                                priority=priority, fields=fields)

    async def fetch(
        self, module_name: str, date_from: dt.date, date_to: dt.date,
        accept: Callable[[Answer], Awaitable[T]], *,
        priority: Priority = Priority.FRESH, fields: tuple[str, ...] = (),
        split_after: int | None = None,
    ) -> T:
        """Post the read until ``accept`` takes an answer, retrying within the budget.

        ``accept`` judges each answer and raises a RetriableError for one that must be
        fetched again (e.g. a body PostgreSQL found to be broken JSON), so every retry,
        whoever detects the fault, goes through this one loop and its backoff. With
        ``split_after``, that many failures the window's size may cause (not 429s, not an
        unreachable server) raise WindowTooLarge instead of spending the whole budget.
        """
        module = registry.get(module_name)
        payload = read_payload(module, self.credentials, date_from, date_to, fields)
        ctx = Context(self.source.name, module.name, module.label,
                      f"${env_prefix(self.source.name)}API_KEY / _API_SECRET")
        url = self.source.endpoint_url(module.name)
        first_sent: float | None = None
        failures = 0
        for attempt in range(1, self.backoff.attempts + 1):
            self.observer.waited(await self.limiter.acquire(priority, source=self.source.name))
            first_sent = first_sent or time.monotonic()
            try:
                status, body, retry_after = await self._post(url, payload, ctx)
                return await accept(Answer(status, body, retry_after, ctx, attempt, first_sent))
            except RetriableError as exc:
                failures += not isinstance(exc, RateLimited | Unreachable)
                if split_after is not None and failures >= split_after:
                    _log_failure(exc, attempt, date_from, date_to, final=True)
                    raise WindowTooLarge(str(exc), requests=attempt, status=exc.status,
                                         message=exc.message, request_id=exc.request_id,
                                         module=exc.module) from exc
                await self._before_retry(exc, attempt, date_from, date_to)
                self.observer.retry(module.name)
            except ApiError as exc:
                _log_failure(exc, attempt, date_from, date_to, final=True)
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def create(
        self, module_name: str, documents: list[str],
        on_attempt: Callable[[int, bool], Awaitable[None]],
    ) -> tuple[dict[str, Any], str | None]:
        """Post one create request until it is answered; the answer's ``data`` and request_id.

        ``on_attempt(n, lost)`` runs before each try is sent (after the limiter let it go):
        the caller records that the documents are being sent. ``lost`` says an earlier try
        got no answer, so the server may already hold some of them.
        """
        module = registry.get(module_name)
        body = create_payload(module, self.credentials, documents)
        ctx = Context(self.source.name, module.name, module.label,
                      f"${env_prefix(self.source.name)}API_KEY / _API_SECRET")
        url, lost = self.source.endpoint_url(module.name), False
        for attempt in range(1, self.backoff.attempts + 1):
            self.observer.waited(await self.limiter.acquire(Priority.PUSH,
                                                              source=self.source.name))
            await on_attempt(attempt, lost)
            try:
                status, raw, retry_after = await self._post(url, body, ctx)
                return judge_create(status, raw, ctx, retry_after)
            except RetriableError as exc:
                lost = lost or exc.status is None or 200 <= exc.status < 300
                await self._before_retry(exc, attempt)
                self.observer.retry(module.name)
            except ApiError as exc:
                _log_failure(exc, attempt, None, None, final=True)
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _before_retry(
        self, exc: RetriableError, attempt: int, date_from: dt.date | None = None,
        date_to: dt.date | None = None,
    ) -> None:
        final = attempt >= self.backoff.attempts
        _log_failure(exc, attempt, date_from, date_to, final=final)
        if final:
            text = str(exc)
            if text.endswith("; syncd retries."):
                text = text.removesuffix("; syncd retries.") + f"; gave up after {attempt} tries."
            raise RetriesExhausted(text, status=exc.status, message=exc.message,
                                   request_id=exc.request_id, module=exc.module) from exc
        self.retries += 1
        delay = self.backoff.delay(attempt, self._rand, exc.retry_after)
        if isinstance(exc, RateLimited):
            # Another client shares our key or IP: every module of the source holds back.
            self.limiter.pause(delay)
        else:
            await self._sleep(delay)

    async def _post(
        self, url: str, payload: dict[str, Any] | bytes, ctx: Context
    ) -> tuple[int, bytes | bytearray, float | None]:
        self.requests += 1
        status = 0
        sent = ({"data": payload, "headers": {"Content-Type": "application/json"}}
                if isinstance(payload, bytes) else {"json": payload})
        try:
            with transport_errors(ctx):
                async with self.session.post(url, **sent) as resp:
                    status = resp.status
                    body = await read_body(resp)
                    retry_after = parse_retry_after(
                        resp.headers.get("Retry-After"), dt.datetime.now(dt.UTC))
                    return resp.status, body, retry_after
        finally:
            self.observer.response(ctx.module, status)


async def read_body(resp: aiohttp.ClientResponse) -> bytearray:
    """The whole body in one buffer, sized from Content-Length when the body is sent as
    is: a big answer is never held twice (aiohttp's ``read()`` joins its chunks into a
    second copy, and a growing buffer is copied as it grows)."""
    size = resp.content_length if "Content-Encoding" not in resp.headers else None
    body = bytearray(size or 0)
    at = 0
    async for chunk in resp.content.iter_any():
        end = at + len(chunk)
        if end <= len(body):
            body[at:end] = chunk
        else:
            body[at:] = chunk  # more than announced: grow
        at = end
    del body[at:]  # less than announced (a broken answer, judged later)
    return body


@contextlib.contextmanager
def transport_errors(ctx: Asker) -> Iterator[None]:
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
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        kind = type(exc).__name__
        raise RetriableError(
            f"{ctx.module}: the connection failed mid-request ({kind}); syncd retries.",
            module=ctx.module) from None


def _log_failure(
    exc: ApiError, attempt: int, date_from: dt.date | None, date_to: dt.date | None, *,
    final: bool,
) -> None:
    log.warning(
        "api.request_failed", module=exc.module, error=type(exc).__name__,
        http_status=exc.status, server_message=exc.message, request_id=exc.request_id,
        attempt=attempt, final=final, date_from=date_from and date_from.isoformat(),
        date_to=date_to and date_to.isoformat(),
    )

