"""One ``Syncer`` for every source kind (session, client, limiter and loader per source), a
pass whose modules run concurrently — a 401 stops them all with its one sentence, anything
else (a lost warehouse, a bug) ends the pass as a plain error, not an exception group — and
each module's outcome recorded in its state row."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import aiohttp

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ApiError, SourceUnauthorized, SyncdError
from syncd.core.results import Cycle, ModuleRun, ResyncRange
from syncd.core.statusdoc import BudgetDoc
from syncd.core.windows import Purpose
from syncd.engine.hosts import limiters_for
from syncd.engine.http import ClientObserver, open_session
from syncd.engine.limiter import RateLimiter
from syncd.engine.progress import Progress
from syncd.warehouse import state
from syncd.warehouse.db import Connection
from syncd.warehouse.loader import Loader

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Standing:
    """How far one module is, in the status document's words (CONTRACT §5), as its kind
    reckons it: windowed kinds by watermarks, paged kinds by their last complete read."""

    high: dt.date | None
    complete: bool
    progress: float
    full_read_at: dt.datetime | None = None
    reads_completely: bool = False  # the kind reads whole resources (last_full_read_at)
DEFAULT_PURPOSES = frozenset({Purpose.FRESH, Purpose.BACKFILL})


class Syncer(Generic[C]):
    """One source's passes: its limiter (the host's), one HTTP session with the kind's
    client ``C`` over it, and its warehouse connection's loader, shared by every pass.
    Use ``async with KindSyncer(...) as s: await s.run(...)``; a kind supplies ``_client``."""

    def __init__(
        self, source: SourceConfig, conn: Connection, *,
        backoff: Backoff | None = None, observer: ClientObserver | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.source, self.conn = source, conn
        self.backoff, self.observer = backoff, observer
        self.limiter = limiter or limiters_for([source])[source.name]
        self.loader = Loader(conn, source.name, source.timezone)
        self.client: C | None = None
        self._exit = contextlib.AsyncExitStack()

    def _client(self, session: aiohttp.ClientSession) -> C:
        raise NotImplementedError

    # -- what the engine asks a kind about its modules, without knowing the kind ---------

    @classmethod
    def standing(cls, source: SourceConfig, st: state.ModuleStatus,
                 now: dt.datetime) -> Standing:
        """How far ``st``'s module is."""
        raise NotImplementedError

    @classmethod
    async def forget(cls, conn: Connection, source: SourceConfig, module: str) -> str:
        """``syncd reset``: forget what makes the next sync read ``module`` again from the
        start; the sentence's tail saying what was forgotten and what happens next."""
        raise NotImplementedError

    @classmethod
    async def budget_doc(cls, conn: Connection, source: SourceConfig,
                     now: dt.datetime) -> BudgetDoc | None:
        """The API budget as the server announced it, for kinds whose servers do."""
        return None

    async def run(self, modules: tuple[str, ...], progress: Progress, *, now: dt.datetime,
                  purposes: frozenset[Purpose] = DEFAULT_PURPOSES,
                  resync: ResyncRange | None = None,
                  cycle: Cycle | None = None) -> list[ModuleRun]:
        """One pass over ``modules``: the kind's own sequence of reads."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.client = self._client(
            await self._exit.enter_async_context(open_session(self.source)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit.aclose()
        async with self.loader.turn():  # a shielded load still running finishes first
            pass


def kind_syncer(source: SourceConfig) -> type[Syncer[Any]]:
    """The Syncer class of ``source``'s kind (named by the kind registry, never here)."""
    found = source.source_kind.syncer()
    if not (isinstance(found, type) and issubclass(found, Syncer)):
        raise TypeError(f"{source.kind}: its syncer is not a syncd.engine.syncer.Syncer")
    return found


def open_syncer(source: SourceConfig, conn: Connection, *,
                backoff: Backoff | None = None, observer: ClientObserver | None = None,
                limiter: RateLimiter | None = None) -> Syncer[Any]:
    """The syncer of ``source``'s kind (named by the kind registry, never here)."""
    return kind_syncer(source)(source, conn, backoff=backoff, observer=observer,
                               limiter=limiter)


async def run_modules(runs: list[ModuleRun],
                      module: Callable[[ModuleRun], Coroutine[Any, Any, None]]) -> None:
    """``module(run)`` for every run concurrently; stores a 401 on every unfinished run."""
    try:
        async with asyncio.TaskGroup() as group:
            for run in runs:
                group.create_task(module(run))
    except BaseExceptionGroup as eg:
        unauthorized, rest = eg.split(SourceUnauthorized)
        if rest is not None:
            # The warehouse failed (or a bug): the pass cannot go on. Raise the plain error
            # so callers see a SyncdError, not a group.
            first = _first_leaf(rest)
            raise first from (None if isinstance(first, SyncdError) else eg)
        # Credentials refused: nothing of this source can be read; every module that had
        # not finished carries the one sentence that says what to fix.
        exc = _first_leaf(unauthorized) if unauthorized else None
        assert isinstance(exc, SourceUnauthorized)
        for run in runs:
            if not run.finished and run.error is None:
                run.error = exc


async def module_part(run: ModuleRun, progress: Progress,
                      work: Coroutine[Any, Any, None]) -> None:
    """One module's part of a pass, reported as it goes: a 401 is raised on (it stops every
    module), any other ApiError (403, 404, retries exhausted) stops only this module."""
    progress.planned(run)
    try:
        await work
        run.finished = True
    except SourceUnauthorized as exc:
        run.error = exc
        progress.finished(run)
        raise
    except ApiError as exc:
        run.error = exc
    progress.finished(run)


async def record(loader: Loader, conn: Connection, runs: list[ModuleRun]) -> None:
    """Each module's last error (or its clearing) in its state row."""
    async with loader.turn():
        for run in runs:
            if run.error is not None:
                await state.record_error(conn, run.source, run.module, str(run.error))
            else:
                await state.clear_error(conn, run.source, run.module)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first non-group exception inside a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
