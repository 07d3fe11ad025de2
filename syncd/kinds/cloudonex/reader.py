"""One pass over a CloudOnex source: its resources' reads, concurrently, page by page.

Each page is judged by the client and committed as it arrives (new and changed records
only: a record's hash decides, never ``updated_at``). A complete read runs to its end — the
page its own ``meta`` calls the last, or, without ``meta``, a short or empty page — and then
its deletion candidates (live rows it did not return) are confirmed by id (``deletions``):
only a 404 marks a record deleted, so records that slid between pages while the read ran
are upserted instead. With ``meta`` the §6 checks (one ``total_records`` on every page, no
id twice, as many ids as the total) still say whether the read was stable. An unstable read
is not repeated — its candidates' confirmation covers what slid — but when rows moved (an id
came twice, the total changed, or a candidate slid) the records created meanwhile lie
before the pages already read: those pages are read again from page 1 until one holds an
id already seen. A 401 stops the source, a 403/404 only its resource.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import aiohttp
import msgspec
import structlog

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ApiError
from syncd.core.model import Module
from syncd.core.results import Cycle, ModuleRun, ResyncRange
from syncd.core.statusdoc import BudgetDoc
from syncd.core.windows import Purpose
from syncd.engine import syncer
from syncd.engine.http import ClientObserver
from syncd.engine.limiter import RateLimiter
from syncd.engine.progress import Progress
from syncd.kinds.cloudonex import budget, deletions, resources
from syncd.kinds.cloudonex import plan as planning
from syncd.kinds.cloudonex.answers import Page, record_id
from syncd.kinds.cloudonex.budget import seconds_to_reset
from syncd.kinds.cloudonex.client import CloudonexClient, Fetched
from syncd.kinds.cloudonex.resources import DATED
from syncd.kinds.options import CloudonexOptions
from syncd.warehouse import state
from syncd.warehouse.db import Connection
from syncd.warehouse.loader import Batch

log = structlog.get_logger("syncd.cloudonex")


@dataclass(slots=True)
class Listing:
    """What one read of a listing saw: its ids, whether it ran to its end, how it drifted."""

    ids: dict[int, None] = field(default_factory=dict)
    totals: list[int | None] = field(default_factory=list)  # each page's total_records
    repeated: bool = False  # an id came twice (rows moved down between pages)
    ended: bool = False  # the last page was read (by its meta, or a short or empty page)
    pages: int = 0  # pages read

    @property
    def stable(self) -> bool:
        """CONTRACT §6 (with meta): one total on every page, no id twice, all of them."""
        return (self.ended and not self.repeated and len(set(self.totals)) == 1
                and self.totals[0] is not None and len(self.ids) == self.totals[0])

    @property
    def drifted(self) -> bool:
        """Rows moved while the read ran (an id came twice, or the total changed)."""
        return self.repeated or len({t for t in self.totals if t is not None}) > 1


class ResourceSync(syncer.Syncer[CloudonexClient]):
    """Syncs one CloudOnex source by pages (``syncer.Syncer``: session, client, limiter and
    loader shared by every pass)."""

    def __init__(
        self, source: SourceConfig, conn: Connection, *,
        backoff: Backoff | None = None, observer: ClientObserver | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(source, conn, backoff=backoff, observer=observer, limiter=limiter)
        self.tried: dict[str, dt.datetime] = {}  # complete reads attempted by this process
        self.by_id: set[str] = set()  # resources whose GET by id answered a record

    @classmethod
    def standing(cls, source: SourceConfig, st: state.ModuleStatus,
                 now: dt.datetime) -> syncer.Standing:
        """Current as of its last read; complete once a complete read ran."""
        high = st.last_success_at.astimezone(source.zone).date() if st.last_success_at \
            else None
        complete = st.last_full_read_at is not None
        return syncer.Standing(high, complete, 1.0 if complete else 0.0,
                               full_read_at=st.last_full_read_at, reads_completely=True)

    @classmethod
    async def forget(cls, conn: Connection, source: SourceConfig, module: str) -> str:
        had = await state.forget_full_read(conn, source.name, module)
        return (f"last complete read {'forgotten' if had else 'had none'}; the next sync "
                "reads it completely")

    @classmethod
    async def budget_doc(cls, conn: Connection, source: SourceConfig,
                     now: dt.datetime) -> BudgetDoc | None:
        """The hour as the server announced it last (``remaining`` is back to the limit
        once ``reset_at`` has passed), and how it is shared: complete reads and pushes each
        have a ceiling, fresh reads go first and keep the reserve."""
        seen = await state.budget(conn, source.name)
        rate = source.rate_limit
        limit = seen.limit if seen and seen.limit is not None else rate.requests
        remaining = seen.remaining if seen else None
        if seen and seen.reset_at is not None and seen.reset_at <= now:
            remaining = limit
        return {"limit": limit, "per_seconds": rate.per_seconds, "remaining": remaining,
                "reset_at": source.local_iso(seen.reset_at if seen else None),
                "observed_at": source.local_iso(seen.observed_at if seen else None),
                "complete_reads_limit": max(1, rate.requests - budget.reserve(rate.requests)),
                "push_limit": max(1, int(rate.requests * resources.PUSH_SHARE))}

    def _client(self, session: aiohttp.ClientSession) -> CloudonexClient:
        return CloudonexClient(self.source, session, self.limiter, backoff=self.backoff,
                               observer=self.observer)

    async def run(
        self, modules: tuple[str, ...], progress: Progress, *, now: dt.datetime,
        purposes: frozenset[Purpose] = syncer.DEFAULT_PURPOSES,
        resync: ResyncRange | None = None, cycle: Cycle | None = None,
    ) -> list[ModuleRun]:
        """One pass: the planned reads of ``modules``, each resource's in turn."""
        assert self.client is not None, "use ResourceSync as an async context manager"
        async with self.loader.turn():
            full_reads = await state.full_reads(self.conn, self.source.name)
        reads = planning.plan(
            modules, purposes, today=self.source.today(now), now=now, full_reads=full_reads,
            tried=self.tried,
            full_read_seconds=self.source.options_of(CloudonexOptions).full_read_seconds,
            lookback=self.source.lookback, dated=DATED,
            resync=(resync.date_from, resync.date_to) if resync else None)
        by_module = {m: [r for r in reads if r.module == m] for m in modules}
        runs = [ModuleRun(self.source.name, m) for m in modules if by_module[m]]
        await syncer.run_modules(
            runs, lambda run: self._module(run, by_module[run.module], progress, now))
        await syncer.record(self.loader, self.conn, runs)
        await self._save_budget()
        return runs

    async def _module(self, run: ModuleRun, reads: list[planning.Read], progress: Progress,
                      now: dt.datetime) -> None:
        module = self.source.module(run.module)
        run.planned = len(reads)

        async def work() -> None:
            for read in reads:
                if read.complete:
                    await self._complete(module, read, run, progress, now)
                else:
                    await self._listing(module, read, run, progress)

        await syncer.module_part(run, progress, work())

    async def _complete(self, module: Module, read: planning.Read, run: ModuleRun,
                        progress: Progress, now: dt.datetime) -> None:
        """Read every page, then confirm the deletion candidates by id."""
        self.tried[module.name] = now
        seen = await self._listing(module, read, run, progress)
        if not seen.ended:
            log.warning("sync.deletions_deferred", source=self.source.name,
                        module=module.name, pages=seen.pages, reason="the listing did not "
                        "reach its last page; the next complete read retries")
            return
        async with self.loader.turn():
            candidates = await state.absent(self.conn, self.source.name, module,
                                            list(seen.ids))
        found = deletions.Confirmation(proven=module.name in self.by_id)
        failure: ApiError | None = None
        try:
            if candidates:
                assert self.client is not None
                await deletions.confirm(
                    self.client, module.name, candidates, list(seen.ids), found,
                    cap=budget.confirmations(self.source.rate_limit.requests),
                    priority=read.priority)
        except ApiError as exc:
            failure = exc  # what was confirmed before it still counts; the rest stay live
        if failure is None and seen.pages > 1 and (seen.drifted or found.alive):
            # Rows moved while the read ran (some even slid past a page): records created
            # meanwhile lie before the pages already read, where a shift cannot show them.
            await self._front(module, read, run, progress, seen)
        await self._finish(module, read, run, progress, seen=seen, found=found)
        if failure is not None:
            raise failure

    async def _finish(self, module: Module, read: planning.Read, run: ModuleRun,
                      progress: Progress, *, seen: Listing,
                      found: deletions.Confirmation) -> None:
        """Upsert the candidates that answered, mark the confirmed ones deleted."""
        if found.proven:
            self.by_id.add(module.name)
        if found.requests:
            run.planned += 1
            result = await asyncio.shield(self.loader.load_page(
                module, Batch(found.alive, None, found.requests, deletions.started(found)),
                f"{read.label}: {found.asked} deletion candidates asked by id", "complete"))
            run.absorb(result)
            progress.window_done(run, result)
        async with self.loader.turn():
            deleted = await state.finish_full_read(self.conn, self.source.name, module,
                                                   found.trusted_gone())
        run.deleted += deleted
        log.info("sync.full_read_complete", source=self.source.name, module=module.name,
                 records=len(seen.ids), pages=seen.pages, stable=seen.stable,
                 candidates=found.candidates, deleted=deleted, slid=len(found.alive),
                 left=found.left, confirm_requests=found.requests)

    async def _listing(self, module: Module, read: planning.Read, run: ModuleRun,
                       progress: Progress) -> Listing:
        """Every page of one read, each committed as it arrives."""
        assert self.client is not None
        seen = Listing()
        number, size, previous = 1, self.source.options_of(CloudonexOptions).page_size, None
        while True:
            fetched = await self.client.page(module.name, number, bulk=read.complete,
                                             priority=read.priority,
                                             date_from=read.date_from, date_to=read.date_to)
            page = fetched.page
            if number == 1 and page.total_pages and page.total_pages > 1:
                run.planned += page.total_pages - 1
            ids = _ids(page.records)
            fresh = [i for i in ids if i not in seen.ids]
            seen.ids.update(dict.fromkeys(fresh))
            seen.repeated |= len(fresh) != len(ids) or len(set(ids)) != len(ids)
            seen.totals.append(page.total_records)
            await self._commit(module, read, fetched,
                               what=f"{read.label} page {number}/{page.total_pages or '?'}",
                               run=run, progress=progress)
            seen.pages = number
            if ids and ids == previous:
                return seen  # a server that ignores `page`: never an end
            if number == 1 and page.total_pages is None:
                # Without meta a first page may be short because the server caps `limit`:
                # its length is the page size, and page 2 tells whether there is more.
                size = len(page.records)
            ended = last_page(page, number, size)
            if ended is not None:
                seen.ended = ended
                return seen
            number, previous = number + 1, ids

    async def _front(self, module: Module, read: planning.Read, run: ModuleRun,
                     progress: Progress, seen: Listing) -> None:
        """Pages from 1 again, until one holds an id already seen: the records created
        while the read ran, which landed before the pages already read."""
        assert self.client is not None
        for number in range(1, seen.pages + 1):
            run.planned += 1
            fetched = await self.client.page(module.name, number, bulk=True,
                                             priority=read.priority)
            ids = _ids(fetched.page.records)
            fresh = [i for i in ids if i not in seen.ids]
            seen.ids.update(dict.fromkeys(fresh))
            await self._commit(module, read, fetched, what=f"{read.label} page {number} again",
                               run=run, progress=progress)
            if len(fresh) < len(ids) or not ids:
                return

    async def _commit(self, module: Module, read: planning.Read, fetched: Fetched, *,
                      what: str, run: ModuleRun, progress: Progress) -> None:
        """Load one page (shielded: a started load commits or rolls back, never half)."""
        page = fetched.page
        result = await asyncio.shield(self.loader.load_page(
            module, Batch(page.records, None, fetched.requests, fetched.first_sent), what,
            "complete" if read.complete else "fresh"))
        run.absorb(result)
        progress.window_done(run, result)

    async def _save_budget(self) -> None:
        """What the server's rate headers said last, for status (once a pass)."""
        assert self.client is not None
        headers, at = self.client.headers, self.client.observed_at
        if headers is None or at is None:
            return
        reset = None
        if headers.reset_at is not None:
            wait = seconds_to_reset(headers, at.timestamp())
            reset = at + dt.timedelta(seconds=wait) if wait is not None else None
        async with self.loader.turn():
            await state.save_budget(self.conn, self.source.name,
                                    state.Budget(headers.limit, headers.remaining, reset, at))


def last_page(page: Page, number: int, size: int) -> bool | None:
    """Whether page ``number`` is the listing's last: True (it ran to its end), False (it
    stopped short: an empty page before the last its meta announces), None (read on).
    With meta the page's own ``total_pages`` says (past it: the listing shrank); without,
    a page shorter than ``size`` (the first page's length) or an empty one ends it."""
    if page.total_pages is not None:
        if number >= page.total_pages or not page.records:
            return number > page.total_pages or bool(page.records)
        return None
    if not page.records or (number > 1 and len(page.records) < size):
        return True
    return None


def _ids(records: list[msgspec.Raw]) -> list[int]:
    """The ids of a page's records; records without one are left out (they cannot be
    stored either)."""
    return [rid for rid in map(record_id, records) if rid is not None]
