"""What a pass of any source kind shares: its modules run concurrently; a 401 stops them all
with its one sentence; anything else (a lost warehouse, a bug) ends the pass as a plain
error, not an exception group; each module's outcome is recorded in its state row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

from syncd.errors import SourceUnauthorized, SyncdError
from syncd.results import ModuleRun
from syncd.warehouse import state
from syncd.warehouse.loader import Loader


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


async def record(loader: Loader, conn: asyncpg.Connection, runs: list[ModuleRun]) -> None:
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
