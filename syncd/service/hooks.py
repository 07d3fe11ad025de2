"""The webhook receiver inside ``syncd run`` (CONTRACT §8.2): POSTs to a registered path
become hints, read within seconds — debounced, capped per hour, never harmful.

Only a path whose last segment is a registered token (compared by its SHA-256) is served;
anything else is a 404 that changes nothing. Bodies are capped and read under a deadline;
a payload is parsed by the source kind's hint reader and never stored. Hints of one source
arriving within ``DEBOUNCE`` seconds make one read of each named record or resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from aiohttp import web

from syncd.warehouse.hooks import digest

log = structlog.get_logger("syncd.webhooks")
MAX_BODY = 64 * 1024  # bytes read of a payload; more is cut off (a hint needs little)
READ_SECONDS = 5.0  # deadline for the whole body
DEBOUNCE = 0.5  # seconds hints gather before one read
READS_PER_HOUR = 120  # hinted reads per source and hour, at most: the schedule does the rest


class Reader(Protocol):
    """A kind's hint reader (``HintReader``): what a payload names, and reading it."""

    def parse(self, body: bytes) -> set[Any]: ...
    async def read(self, hints: set[Any]) -> int: ...


class Hinted:
    """One source's pending hints: gathered, then read once, inside the hourly cap."""

    def __init__(self, source: str, reader: Callable[[], Reader | None],
                 heard: Callable[[dt.datetime], Awaitable[None]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.reader, self.heard, self.clock = source, reader, heard, clock
        self.pending: set[Any] = set()
        self.reads: deque[float] = deque()
        self.task: asyncio.Task[None] | None = None
        self.last_at: dt.datetime | None = None

    def hint(self, body: bytes) -> None:
        reader = self.reader()
        if reader is None:
            return  # not leading this source right now: the leader's schedule reads it
        self.last_at = dt.datetime.now(dt.UTC)
        self.pending |= reader.parse(body)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._later(reader))

    async def _later(self, reader: Reader) -> None:
        await asyncio.sleep(DEBOUNCE)
        hints, self.pending = self.pending, set()
        now = self.clock()
        while self.reads and self.reads[0] < now - 3600:
            self.reads.popleft()
        allowed = max(0, READS_PER_HOUR - len(self.reads))
        if len(hints) > allowed:
            log.warning("webhooks.over_budget", source=self.source, dropped=len(hints) - allowed)
            hints = set(sorted(hints, key=str)[:allowed])
        self.reads.extend([now] * len(hints))
        try:
            if self.last_at is not None:
                await self.heard(self.last_at)
            if hints:
                await reader.read(hints)
        except Exception as exc:  # the top of a job: a hint never takes the daemon down
            log.error("webhooks.read_failed", source=self.source, error=str(exc))


class Receiver:
    """The POST route: token -> source -> hint; 202 for a known token, else 404."""

    def __init__(self, by_source: dict[str, Hinted]) -> None:
        self.by_source = by_source
        self.tokens: dict[bytes, str] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/{path:.+}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info["path"].rstrip("/").rsplit("/", 1)[-1]
        source = self.tokens.get(digest(token))
        hinted = self.by_source.get(source) if source else None
        if hinted is None:
            return web.Response(status=404, text="not found\n")
        body = b""
        with contextlib.suppress(TimeoutError, ConnectionError, ValueError):
            body = await asyncio.wait_for(request.content.read(MAX_BODY), READ_SECONDS)
        hinted.hint(body)
        return web.Response(status=202, text="accepted\n")
