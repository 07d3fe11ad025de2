"""One pass over a source: every selected module walks its windows concurrently through
the source's one limiter, one HTTP session and one warehouse connection.

Per module, the next window's request is already in flight while the previous window
loads (``PIPELINE_DEPTH``), but windows commit strictly in plan order, so the watermarks
only ever move over contiguous ranges. A 403 stops its module; a 401 stops the source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from dataclasses import dataclass, field

import asyncpg
import structlog

from syncd import registry
from syncd.backoff import Backoff
from syncd.client import Answer, SkybizClient, open_session
from syncd.config import SourceConfig
from syncd.errors import ApiError, SourceUnauthorized
from syncd.limiter import Priority, RateLimiter
from syncd.progress import Progress
from syncd.registry import Module
from syncd.warehouse import state
from syncd.warehouse.loader import Loader, LoadResult
from syncd.windows import Purpose, Window, plan
from syncd.windows import resync as resync_windows

log = structlog.get_logger("syncd.sync")
PIPELINE_DEPTH = 2
PRIORITY = {Purpose.FRESH: Priority.FRESH, Purpose.BACKFILL: Priority.BACKFILL,
            Purpose.RESYNC: Priority.FRESH}


@dataclass(slots=True)
class ModuleRun:
    """How one module's part of a pass went."""

    source: str
    module: str
    planned: int = 0
    done: int = 0
    records: int = 0
    deleted: int = 0
    requests: int = 0
    error: ApiError | None = None
    finished: bool = False  # every planned window committed
    results: list[LoadResult] = field(default_factory=list)

    def absorb(self, result: LoadResult) -> None:
        self.done += 1
        self.records += result.records
        self.deleted += result.deleted
        self.requests += result.requests
        self.results.append(result)


@dataclass(frozen=True, slots=True)
class ResyncRange:
    date_from: dt.date
    date_to: dt.date


class SourcePass:
    """Runs one pass of one source; build it, then ``await run(modules)``."""

    def __init__(
        self, source: SourceConfig, conn: asyncpg.Connection, progress: Progress, *,
        now: dt.datetime, backoff: Backoff | None = None, resync: ResyncRange | None = None,
    ) -> None:
        self.source, self.conn, self.progress = source, conn, progress
        self.today = source.today(now)  # the signpost: no window reaches past it
        self.backoff, self.resync = backoff, resync
        rl = source.rate_limit
        self.limiter = RateLimiter(rl.requests, rl.per_seconds, margin=rl.margin_seconds)
        self.loader = Loader(conn, source.name, source.timezone)

    async def run(self, modules: tuple[str, ...]) -> list[ModuleRun]:
        runs = [ModuleRun(self.source.name, m) for m in modules]
        async with open_session(self.source) as session:
            client = SkybizClient(self.source, session, self.limiter, backoff=self.backoff)
            try:
                async with asyncio.TaskGroup() as group:
                    for run in runs:
                        group.create_task(self._module(client, run))
            except* SourceUnauthorized as eg:
                # Credentials refused: nothing of this source can be read; every module
                # that had not finished carries the one sentence that says what to fix.
                exc = eg.exceptions[0]
                assert isinstance(exc, SourceUnauthorized)
                for run in runs:
                    if not run.finished and run.error is None:
                        run.error = exc
        await self._record(runs)
        return runs

    async def _module(self, client: SkybizClient, run: ModuleRun) -> None:
        module = registry.get(run.module)
        windows = await self._plan(module)
        run.planned = len(windows)
        self.progress.planned(run)
        try:
            await self._windows(client, module, windows, run)
            run.finished = True
        except SourceUnauthorized as exc:
            run.error = exc
            self.progress.finished(run)
            raise
        except ApiError as exc:
            run.error = exc  # 403, 404, 400, retries exhausted: this module stops
        self.progress.finished(run)

    async def _plan(self, module: Module) -> list[Window]:
        if self.resync is not None:
            return resync_windows(self.resync.date_from, self.resync.date_to, self.today)
        async with self.loader.turn():
            marks = await state.watermarks(self.conn, self.source.name, module.name)
        return plan(marks, self.today, self.source.backfill_from,
                    self.source.lookback(module.name))

    async def _windows(
        self, client: SkybizClient, module: Module, windows: list[Window], run: ModuleRun
    ) -> None:
        pending: deque[asyncio.Task[LoadResult]] = deque()
        previous: asyncio.Event | None = None
        try:
            for window in windows:
                if len(pending) >= PIPELINE_DEPTH:
                    self._absorb(run, await pending.popleft())
                committed = asyncio.Event()
                pending.append(asyncio.create_task(
                    self._window(client, module, window, previous, committed)))
                previous = committed
            while pending:
                self._absorb(run, await pending.popleft())
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _absorb(self, run: ModuleRun, result: LoadResult) -> None:
        run.absorb(result)
        self.progress.window_done(run, result)

    async def _window(
        self, client: SkybizClient, module: Module, window: Window,
        after: asyncio.Event | None, committed: asyncio.Event,
    ) -> LoadResult:
        async def accept(answer: Answer) -> LoadResult:
            if after is not None:
                await after.wait()  # commit in plan order: watermarks stay contiguous
            # Shielded: once a load has begun it finishes (commit or rollback) even if the
            # pass is being cancelled, so the connection is never left mid-statement.
            return await asyncio.shield(self.loader.load(module, window, answer))

        result = await client.fetch(module.name, window.date_from, window.date_to, accept,
                                    priority=PRIORITY[window.purpose])
        committed.set()
        return result

    async def _record(self, runs: list[ModuleRun]) -> None:
        async with self.loader.turn():
            for run in runs:
                if run.error is not None:
                    await state.record_error(self.conn, run.source, run.module, str(run.error))
                else:
                    await state.clear_error(self.conn, run.source, run.module)
