"""The SKYBIZ HTTP client: one aiohttp session and one rate limiter per source.

This is the only module that knows aiohttp's exceptions; it translates them into the
syncd exception tree (``transport_errors``). Retries live here too: 429, 5xx, transport
failures and broken bodies are retried with backoff inside a budget; a 429 pauses the
whole source through the shared limiter, not just the request that got it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import structlog

from syncd.config import SourceConfig
from syncd.core import model
from syncd.core.backoff import Backoff, parse_retry_after
from syncd.core.errors import (
    ApiError,
    RateLimited,
    RetriableError,
    RetriesExhausted,
    WindowTooLarge,
    says_nothing_of_size,
)
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.http import ClientObserver, NoObserver, read_body, transport_errors
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.answers import Context, Page, classify, judge_create

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
        module = skybiz.get(module_name)
        payload = read_payload(module, self.credentials, date_from, date_to, fields)
        ctx, url = self._context(module), self.source.endpoint_url(module.name)
        first_sent: float | None = None
        failures = 0
        for attempt in range(1, self.backoff.attempts + 1):
            self.observer.waited(await self.limiter.acquire(
                priority, source=self.source.name, reaches=date_to))  # newest window first
            first_sent = first_sent or time.monotonic()
            try:
                status, body, retry_after = await self._post(url, payload, ctx)
                return await accept(Answer(status, body, retry_after, ctx, attempt, first_sent))
            except RetriableError as exc:
                failures += not says_nothing_of_size(exc)
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
        module = skybiz.get(module_name)
        body = create_payload(module, self.credentials, documents)
        ctx, url, lost = self._context(module), self.source.endpoint_url(module.name), False
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

    def _context(self, module: model.Module) -> Context:
        """Who asks, for the error sentences."""
        return Context(self.source.name, module.name, module.label,
                       f"${env_prefix(self.source.name)}API_KEY / _API_SECRET")

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

