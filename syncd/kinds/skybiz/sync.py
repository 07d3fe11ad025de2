"""One pass over a source: every selected module walks its windows concurrently through
the source's one limiter, one HTTP session and one warehouse connection.

Per module, the next window's request is already in flight while the previous window
loads (``PIPELINE_DEPTH``), but windows commit strictly in plan order, so the watermarks
only ever move over contiguous ranges. Modules that finished leave their share of the
pass's windows in flight (``PASS_DEPTH``) to those still reading, so the last module of a
backfill keeps the limiter busy alone. A window the server cannot answer is read in
pieces (``pieces.py``), committed in order. A 403 stops its module; a 401 stops the source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque

import aiohttp
import structlog

from syncd.config import SourceConfig
from syncd.core import body
from syncd.core.backoff import Backoff
from syncd.core.model import Module, ModuleKind
from syncd.core.results import Cycle, LoadResult, ModuleRun, ResyncRange
from syncd.core.splits import Span
from syncd.core.windows import (
    Purpose,
    Watermarks,
    Window,
    cycle_windows,
    loaded_share,
    plan,
)
from syncd.core.windows import resync as resync_windows
from syncd.engine import syncer
from syncd.engine.http import Answer, ClientObserver
from syncd.engine.limiter import Priority, RateLimiter
from syncd.engine.pieces import PieceReader
from syncd.engine.progress import Progress
from syncd.engine.readahead import ReadAhead
from syncd.kinds.options import SkybizOptions
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.answers import Context, classify, judge
from syncd.kinds.skybiz.client import ENCODINGS, FORM, JSON, SkybizClient
from syncd.warehouse import sizes, state
from syncd.warehouse.db import Connection
from syncd.warehouse.loader import Batch

log = structlog.get_logger("syncd.sync")
PIPELINE_DEPTH = 2  # windows in flight per module while all of the pass's modules read
PASS_DEPTH = 16  # windows in flight per pass, shared by the modules still reading
PRIORITY = {Purpose.FRESH: Priority.FRESH, Purpose.BACKFILL: Priority.BACKFILL,
            Purpose.RESYNC: Priority.FRESH, Purpose.REREAD: Priority.REREAD,
            Purpose.RECONCILE: Priority.REREAD}
DEEP = frozenset({Purpose.REREAD, Purpose.RECONCILE})


class SourceSync(syncer.Syncer[SkybizClient]):
    """Syncs one SKYBIZ source by date windows (``syncer.Syncer``: session, client, limiter
    and loader shared by every pass)."""

    def __init__(
        self, source: SourceConfig, conn: Connection, *,
        backoff: Backoff | None = None, observer: ClientObserver | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        options = source.options_of(SkybizOptions)  # TypeError for a kind without windows
        super().__init__(source, conn, backoff=backoff, observer=observer, limiter=limiter)
        self.backfill_from: dt.date = options.backfill_from
        self.encoding: str | None = None  # as stored in the warehouse
        self.ahead = ReadAhead()  # shared by the source's passes (fresh beside deep)

    async def __aenter__(self) -> SourceSync:
        await super().__aenter__()
        async with self.loader.turn():
            self.encoding = await state.request_encoding(self.conn, self.source.name)
        if self.encoding == FORM and self.client is not None:
            ENCODINGS.setdefault(self.client.host, FORM)  # learned by an earlier run
        return self

    async def remember_encoding(self, client: SkybizClient) -> None:
        """Store the encoding the server accepted, once it differs from what is stored."""
        if client.encoding != (self.encoding or JSON):
            async with self.loader.turn():
                await state.save_request_encoding(self.conn, self.source.name, client.encoding)
            self.encoding = client.encoding

    @classmethod
    def standing(cls, source: SourceConfig, st: state.ModuleStatus,
                 now: dt.datetime) -> syncer.Standing:
        """Loaded back to the module's floor (masters_from or backfill_from) = complete."""
        floor = source.backfill_floor(st.module)
        assert floor is not None, "a SKYBIZ source has backfill_from"
        complete = st.low_watermark is not None and st.low_watermark <= floor
        share = loaded_share(Watermarks(st.low_watermark, st.high_watermark), floor,
                             source.today(now))
        return syncer.Standing(st.high_watermark, complete, share)

    @classmethod
    async def forget(cls, conn: Connection, source: SourceConfig, module: str) -> str:
        had = await state.reset(conn, source.name, module)
        return f"watermarks {'forgotten' if had else 'had none'}; the next sync backfills it"

    def _client(self, session: aiohttp.ClientSession) -> SkybizClient:
        return SkybizClient(self.source, session, self.limiter, backoff=self.backoff,
                            observer=self.observer)

    async def run(
        self, modules: tuple[str, ...], progress: Progress, *, now: dt.datetime,
        purposes: frozenset[Purpose] = syncer.DEFAULT_PURPOSES,
        resync: ResyncRange | None = None, cycle: Cycle | None = None,
    ) -> list[ModuleRun]:
        """One pass: the windows of ``purposes`` for every module, concurrently."""
        assert self.client is not None, "use SourceSync as an async context manager"
        today = now.astimezone(self.source.zone).date()
        runs = await _Pass(self, progress, today, purposes=purposes, resync=resync,
                           cycle=cycle).run(modules, self.client)
        await self.remember_encoding(self.client)
        return runs


class _Pass:
    """The state of one pass: its signpost, what it reads, and how it reports."""

    def __init__(self, owner: SourceSync, progress: Progress, today: dt.date, *,
                 purposes: frozenset[Purpose], resync: ResyncRange | None,
                 cycle: Cycle | None) -> None:
        self.source, self.conn, self.loader = owner.source, owner.conn, owner.loader
        self.ahead = owner.ahead
        self.backfill_from = owner.backfill_from
        self.progress, self.purposes, self.resync = progress, purposes, resync
        self.today = today  # the signpost: no window reaches past it
        self.cycle = cycle
        self.reading = 0  # modules whose windows are not all read yet

    def depth(self) -> int:
        """Windows one module may have in flight: more as other modules finish."""
        return max(PIPELINE_DEPTH, PASS_DEPTH // max(1, self.reading))

    async def run(self, modules: tuple[str, ...], client: SkybizClient) -> list[ModuleRun]:
        runs = [ModuleRun(self.source.name, m) for m in modules]
        self.reading = len(runs)
        await syncer.run_modules(runs, lambda run: self._module(client, run))
        await syncer.record(self.loader, self.conn, runs)
        return runs

    async def _module(self, client: SkybizClient, run: ModuleRun) -> None:
        try:
            await self._read_module(client, run)
        finally:
            self.reading -= 1  # its share of the windows in flight goes to the others

    async def _read_module(self, client: SkybizClient, run: ModuleRun) -> None:
        module = skybiz.get(run.module)
        windows = await self._plan(module)
        run.planned = len(windows)

        async def work() -> None:
            if windows:
                await self._windows(client, module, windows, run, await self._reader(module))
            await self._finish_cycle(module)

        await syncer.module_part(run, self.progress, work())

    async def _plan(self, module: Module) -> list[Window]:
        if self.purposes & DEEP:
            return await self._plan_cycle(module)
        if self.resync is not None:
            return resync_windows(self.resync.date_from, self.resync.date_to, self.today,
                                  max_days=skybiz.MAX_WINDOW_DAYS)
        async with self.loader.turn():
            marks = await state.watermarks(self.conn, self.source.name, module.name)
        windows = plan(marks, self.today, self._floor(module),
                       self.source.lookback(module.name), max_days=skybiz.MAX_WINDOW_DAYS)
        return [w for w in windows if w.purpose in self.purposes]

    async def _reader(self, module: Module) -> PieceReader:
        """The module's piece reader, knowing the ranges earlier passes had to split."""
        async def remember(span: Span) -> None:
            async with self.loader.turn():
                await sizes.remember(self.conn, self.source.name, module.name, span)

        async with self.loader.turn():
            spans = await sizes.spans(self.conn, self.source.name, module.name)
        return PieceReader(self.source.name, module.name, spans, remember,
                           max_days=skybiz.MAX_WINDOW_DAYS)

    async def _plan_cycle(self, module: Module) -> list[Window]:
        """Reread (documents) or reconcile (masters): the cycle's windows not yet done."""
        purpose = Purpose.REREAD if module.kind is ModuleKind.DOCUMENT else Purpose.RECONCILE
        if purpose not in self.purposes or self.cycle is None:
            return []
        async with self.loader.turn():
            done = await state.done_windows(self.conn, self.source.name, module.name,
                                            purpose.value, self.cycle.start)
        start = (self.today - dt.timedelta(days=self.cycle.reread_days - 1)
                 if purpose is Purpose.REREAD else self._floor(module))
        return cycle_windows(purpose, self.today, start, done, max_days=skybiz.MAX_WINDOW_DAYS)

    def _floor(self, module: Module) -> dt.date:
        """Where the module's history starts: masters walk back to ``masters_from``
        (reconciles too: a master's deletion is seen only over all of its history),
        documents to ``backfill_from``."""
        return self.source.backfill_floor(module.name) or self.backfill_from

    async def _finish_cycle(self, module: Module) -> None:
        """After every reconcile window of the cycle committed, apply its deletions."""
        if Purpose.RECONCILE not in self.purposes or module.kind is not ModuleKind.MASTER:
            return
        assert self.cycle is not None
        async with self.loader.turn():
            deleted = await state.apply_reconcile(self.conn, self.source.name, module,
                                                  self.cycle.start)
        if deleted is not None:
            log.info("sync.reconciled", source=self.source.name, module=module.name,
                     deleted=deleted)

    async def _windows(
        self, client: SkybizClient, module: Module, windows: list[Window], run: ModuleRun,
        reader: PieceReader,
    ) -> None:
        pending: deque[asyncio.Task[list[LoadResult]]] = deque()
        previous: asyncio.Event | None = None
        try:
            for window in windows:
                while len(pending) >= self.depth():
                    self._absorb(run, await pending.popleft())
                committed = asyncio.Event()
                pending.append(asyncio.create_task(
                    self._window(client, module, window, previous, committed,
                                 reader=reader)))
                previous = committed
            while pending:
                self._absorb(run, await pending.popleft())
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _absorb(self, run: ModuleRun, results: list[LoadResult]) -> None:
        run.planned += len(results) - 1  # a window read in pieces commits each piece
        for result in results:
            run.absorb(result)
            self.progress.window_done(run, result)

    async def _window(
        self, client: SkybizClient, module: Module, window: Window,
        after: asyncio.Event | None, committed: asyncio.Event, *, reader: PieceReader,
    ) -> list[LoadResult]:
        """Plan → request → judge → load → commit, for each piece of ``window``."""
        ctx = client.context(module.name)

        def next_to_commit() -> bool:
            return after is None or after.is_set()

        async def fetch(piece: Window, split_after: int | None, spent: int) -> LoadResult:
            # The answer is held from its read to its commit: only within the read-ahead.
            async with self.ahead.room(module.name, next_to_commit) as took:
                batch = await client.fetch(module.name, piece.date_from, piece.date_to,
                                           lambda answer: judged(answer, ctx, spent),
                                           priority=PRIORITY[piece.purpose],
                                           split_after=split_after)
                took(batch.size)
                if after is not None:
                    await after.wait()  # commit in plan order: watermarks stay contiguous
                # Shielded: once a load has begun it finishes (commit or rollback) even if
                # the pass is being cancelled, so the connection is never left mid-statement.
                cycle = self.cycle.start if self.cycle else None
                return await asyncio.shield(self.loader.load(module, piece, batch, cycle))

        results = await reader.read(window, fetch)
        committed.set()
        self.ahead.wake()  # the module's next window is its next to commit now
        return results


def judged(answer: Answer, ctx: Context, spent: int = 0) -> Batch:
    """The records of a complete, successful SKYBIZ read, or raise the error it means;
    ``spent``: the failed tries at a larger size, counted on the piece that loads."""
    if not 200 <= answer.status < 300:
        classify(answer.status, answer.body, ctx, answer.retry_after)  # raises
    try:
        parsed = body.parse(body.prepare(answer.body))
    except ValueError:  # no JSON object at all
        parsed = body.parse(b"")
    judge(answer.status, parsed.envelope, ctx)
    return Batch(parsed.records, parsed.envelope.request_id, answer.attempt + spent,
                 answer.first_sent, len(answer.body))
