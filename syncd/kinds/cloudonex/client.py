"""The CloudOnex client: builds each GET of a resource page and judges its answer.

Every request goes through the engine's one request loop (``RequestLoop``) and the source's
host limiter (the configured 1000 / hour); pages of complete reads also through a bulk
limiter that leaves a reserve of the hour for fresh reads. The server's ``X-RateLimit-*``
headers are obeyed on top (``budget``), believed up to the source's own ``per_seconds``.
The key travels only in the ``Authorization`` header, never in a URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import structlog

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.credentials.lookup import Credentials, env_prefix
from syncd.engine.http import Answer, ClientObserver, Hooks, NoObserver, Request, RequestLoop
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.cloudonex import budget
from syncd.kinds.cloudonex.answers import Context, Page, RateHeaders, judge

log = structlog.get_logger("syncd.cloudonex")
_SMALL = 1 << 16  # answers this short may be error envelopes that quote the request


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
        self.credentials: Credentials = source.credentials
        rate = source.rate_limit
        self.bulk = RateLimiter(max(1, rate.requests - budget.reserve(rate.requests)),
                                rate.per_seconds, margin=rate.margin_seconds)
        # A server's Retry-After / Reset is believed up to the source's own window.
        self.loop = RequestLoop(source, session, limiter,
                                backoff or Backoff(retry_after_cap=rate.per_seconds),
                                observer or NoObserver(), hooks=self, rand=rand, sleep=sleep)
        self.in_flight = 0
        self.headers: RateHeaders | None = None  # the last answer's, when it had them
        self.observed_at: dt.datetime | None = None

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
        request = Request(
            ctx, "GET", ctx.url, priority, params=params,
            headers={"Authorization": f"Bearer {self.credentials.api_key.reveal()}"},
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
        key = self.credentials.api_key.reveal().encode()
        if key and (not 200 <= answer.status < 300 or len(body) < _SMALL) and key in body:
            # A server that echoes the key in its error message must not leak it into our
            # sentences, logs or the module's last error.
            body = bytearray(body.replace(key, b"[the API key]"))
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
