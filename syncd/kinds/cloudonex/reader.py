"""One pass over a CloudOnex source: its resources' reads, concurrently, page by page.

Each page is judged by the client and committed as it arrives (new and changed records
only: a record's hash decides, never ``updated_at``). A complete read then checks what it
saw: every page read, the same ``total_records`` on every page, no id twice, and as many
distinct ids as that total. Records inserted or deleted while paging (newest-first pages
shift) break one of these; the read is then repeated once at once, and when it still is
not stable nothing is marked deleted — the next complete read tries again. A 401 stops the
source, a 403/404 only its resource.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import structlog

from syncd.config import SourceConfig
from syncd.core import copytext
from syncd.core.backoff import Backoff
from syncd.core.errors import ApiError, SourceUnauthorized
from syncd.core.model import FieldType, Module
from syncd.core.results import Cycle, ModuleRun, ResyncRange
from syncd.core.windows import Purpose
from syncd.engine import syncer
from syncd.engine.checks import CHECK_BACKOFF, ModuleCheck, outcome
from syncd.engine.http import ClientObserver, open_session
from syncd.engine.limiter import Priority, RateLimiter
from syncd.engine.progress import Progress
from syncd.kinds.cloudonex import plan as planning
from syncd.kinds.cloudonex.budget import seconds_to_reset
from syncd.kinds.cloudonex.client import CloudonexClient, Fetched
from syncd.kinds.cloudonex.resources import DATED
from syncd.warehouse import state
from syncd.warehouse.db import Connection
from syncd.warehouse.loader import Batch

log = structlog.get_logger("syncd.cloudonex")
ATTEMPTS = 2  # tries of a complete read per pass before deletions wait for the next one


class _Id(msgspec.Struct, gc=False):
    id: Any = None


_IDS = msgspec.json.Decoder(_Id)


@dataclass(slots=True)
class Listing:
    """What one read of a listing saw, to tell whether it was complete and stable."""

    ids: dict[int, None]
    totals: set[int | None]
    repeated: bool = False  # an id came twice (rows shifted between pages)
    all_pages: bool = False  # every page up to the last announced one was read
    enveloped: bool = True
    pages: int = 0  # pages read

    @property
    def complete(self) -> bool:
        """CONTRACT §6: every page, one total on every page, no id twice, all of them."""
        total = next(iter(self.totals)) if len(self.totals) == 1 else None
        return (self.enveloped and self.all_pages and not self.repeated
                and total is not None and len(self.ids) == total)


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
            tried=self.tried, full_read_seconds=self.source.full_read_seconds,
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
        """Read every page; mark deletions only after a complete, stable read."""
        self.tried[module.name] = now
        for attempt in range(1, ATTEMPTS + 1):
            seen = await self._listing(module, read, run, progress)
            if seen.complete and seen.pages > 1:
                # Records created while paging land on page 1, already read: one more look
                # there brings them in now rather than at the next complete read.
                run.planned += 1
                await self._listing(module, read, run, progress, only_first=seen)
            if seen.complete:
                async with self.loader.turn():
                    deleted = await state.finish_full_read(self.conn, self.source.name, module,
                                                           list(seen.ids))
                run.deleted += deleted
                log.info("sync.full_read_complete", source=self.source.name,
                         module=module.name, records=len(seen.ids), deleted=deleted)
                return
            log.warning("sync.full_read_unstable", source=self.source.name,
                        module=module.name, attempt=attempt, distinct=len(seen.ids),
                        totals=sorted(t for t in seen.totals if t is not None),
                        repeated=seen.repeated, all_pages=seen.all_pages,
                        enveloped=seen.enveloped)
            if not seen.enveloped:
                return  # an older server without meta: no read can prove completeness
            run.planned += 1
        log.warning("sync.deletions_deferred", source=self.source.name, module=module.name,
                    reason="records changed while paging; the next complete read retries")

    async def _listing(self, module: Module, read: planning.Read, run: ModuleRun,
                       progress: Progress, only_first: Listing | None = None) -> Listing:
        """Every page of one read, each committed as it arrives (``only_first``: page 1
        again, its ids added to that listing's)."""
        assert self.client is not None
        seen = only_first or Listing({}, set())
        number, pages, size = 1, 1, self.source.page_size
        while True:
            fetched = await self.client.page(module.name, number, bulk=read.complete,
                                             priority=read.priority,
                                             date_from=read.date_from, date_to=read.date_to)
            page = fetched.page
            if number == 1 and page.total_pages and page.total_pages > 1:
                run.planned += page.total_pages - 1
            pages = max(pages, page.total_pages or 0)
            ids = _ids(page.records)
            fresh_ids = [i for i in ids if i not in seen.ids]
            seen.ids.update(dict.fromkeys(fresh_ids))
            if only_first is not None:
                await self._commit(module, read, fetched, what=f"{read.label} page 1 again",
                                   run=run, progress=progress)
                return seen
            seen.repeated |= len(fresh_ids) != len(ids) or len(set(ids)) != len(ids)
            seen.totals.add(page.total_records)
            seen.enveloped &= page.enveloped
            await self._commit(module, read, fetched,
                               what=f"{read.label} page {number}/{page.total_pages or '?'}",
                               run=run, progress=progress)
            seen.pages = number
            if not page.records or (ids and not fresh_ids):
                break  # past the end (or a server that ignores `page`)
            if page.total_pages is not None:
                if number >= page.total_pages:
                    seen.all_pages = number >= pages
                    break
            elif number == 1:
                # A bare array's first page may be short because the server caps `limit`:
                # its length is the page size, and page 2 tells whether there is more.
                size = len(page.records)
            elif len(page.records) < size:
                seen.all_pages = True  # a bare array ends with a page shorter than the first
                break
            number += 1
        return seen

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


def _ids(records: list[msgspec.Raw]) -> list[int]:
    """The ids of a page's records (numbers or digit strings); records without one are left
    out (they cannot be stored either, so a read holding one is never complete)."""
    out = []
    for raw in records:
        try:
            value = copytext.convert(_IDS.decode(raw).id, FieldType.BIGINT)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if isinstance(value, str) and value != copytext.NULL:
            out.append(int(value))
    return out


async def check_source(source: SourceConfig, now: dt.datetime, limiter: RateLimiter,
                       backoff: Backoff = CHECK_BACKOFF) -> list[ModuleCheck]:
    """``syncd check``: the first page of every resource, read once."""
    async with open_session(source) as session:
        client = CloudonexClient(source, session, limiter, backoff=backoff)
        results: list[ModuleCheck] = []
        for name in source.modules:
            try:
                fetched = await client.page(name, 1, bulk=False, priority=Priority.FRESH)
            except SourceUnauthorized as exc:  # refused for every resource: ask no further
                return results + [outcome(source.name, m, exc)
                                  for m in source.modules[len(results):]]
            except ApiError as exc:
                results.append(outcome(source.name, name, exc))
                continue
            total = fetched.page.total_records
            detail = f"{total} records" if total is not None else \
                f"{len(fetched.page.records)} records on page 1 (no totals)"
            results.append(ModuleCheck(source.name, name, "ok", detail))
        return results
