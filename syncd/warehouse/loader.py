"""Loading one window (or page): rows, deletions, ledger and watermark in one transaction.

A crash anywhere leaves either the whole window or none of it; the watermark can never
be ahead of the data. One Loader per source owns that source's connection; windows of
all its modules take turns on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import asyncpg
import msgspec
import structlog

from syncd.core import copytext, rows
from syncd.core.model import Module, ModuleKind
from syncd.core.results import LoadResult
from syncd.core.rows import WindowRows
from syncd.core.windows import Purpose, Window, advance
from syncd.warehouse import db, sql, state
from syncd.warehouse.db import db_errors

log = structlog.get_logger("syncd.load")

# A window's (or page's) transaction settings; set_config(..., true) ends them with it.
# synchronous_commit off is safe: a crash loses the window's rows and its watermark move
# together (one transaction); the next pass reads it again. Hash joins stay allowed: with
# the statistics of a table still being filled, nested loops only would be quadratic
# (bench/README.md, Scale).
SETTINGS = {"work_mem": "256MB", "synchronous_commit": "off"}
_SETTINGS = "SELECT set_config('TimeZone', $1, true), " + ", ".join(
    f"set_config('{name}', '{value}', true)" for name, value in SETTINGS.items())


@dataclass(frozen=True, slots=True)
class Batch:
    """The records of one judged answer (or page), ready to load: the kind's client has
    already decided that the answer is a complete, successful read."""

    records: list[msgspec.Raw]
    request_id: str | None
    requests: int  # requests it cost, retries included
    first_sent: float  # time.monotonic() when its first request went out
    size: int = 0  # bytes of the answer it was read from (held until it commits)


class Loader:
    """Commits windows (and pages) of one source through its one connection."""

    def __init__(self, conn: asyncpg.Connection, source_name: str, timezone: str) -> None:
        self.conn, self.source, self.timezone = conn, source_name, timezone
        self._turn = asyncio.Lock()
        self._prepared: set[str] = set()

    def turn(self) -> asyncio.Lock:
        """Hold this to use the connection between loads (state reads, error records)."""
        return self._turn

    async def load(self, module: Module, window: Window, batch: Batch,
                   cycle: dt.datetime | None = None) -> LoadResult:
        """Commit a window's complete answer: its rows, deletions, watermark and ledger."""
        fetched_at = dt.datetime.now(dt.UTC)
        window_rows = WindowRows(rows.shape(module), batch.records, self.source)
        # The first pass is client CPU only: done before taking the connection, it overlaps
        # the previous window's statements.
        units = list(window_rows.keys())
        async with self._transaction(module, f"{module.name} {window}"):
            tally = await self._write(module, window_rows, units)
            deleted = 0
            if module.kind is ModuleKind.DOCUMENT:
                deleted = await self.conn.fetchval(
                    sql.mark_deleted(module), self.source, window.date_from,
                    window.date_to)
            if window.purpose is Purpose.RECONCILE:
                await self.conn.execute(sql.record_seen(module), self.source,
                                        module.name, cycle)
            marks = advance(await state.lock_watermarks(self.conn, self.source,
                                                        module.name), window)
            seconds = time.monotonic() - batch.first_sent
            new_fields = sorted(window_rows.new_fields)
            record = state.WindowRecord(
                window, len(batch.records), tally.headers + tally.lines, deleted,
                window_rows.content_hash, batch.request_id, batch.requests,
                fetched_at, int(seconds * 1000))
            await state.save_window(self.conn, self.source, module.name, marks=marks,
                                    rec=record, unparsed=tally.unparsed,
                                    new_fields=new_fields)
        return LoadResult(str(window), window.purpose.value, len(batch.records), tally.headers,
                          tally.lines, deleted, tally.unparsed, tuple(new_fields),
                          batch.requests, seconds)

    async def load_page(self, module: Module, batch: Batch, what: str,
                        purpose: str) -> LoadResult:
        """Commit one page of a paged read: new and changed records only, no deletions and
        no watermark (a paged kind marks deletions after a complete read:
        ``state.finish_full_read``)."""
        window_rows = WindowRows(rows.shape(module), batch.records, self.source)
        units = list(window_rows.keys())
        async with self._transaction(module, f"{module.name} {what}"):
            tally = await self._write(module, window_rows, units)
            new_fields = sorted(window_rows.new_fields)
            await state.save_page(self.conn, self.source, module.name,
                                  unparsed=tally.unparsed, new_fields=new_fields)
        return LoadResult(what, purpose, len(batch.records), tally.headers, tally.lines,
                          0, tally.unparsed, tuple(new_fields), batch.requests,
                          time.monotonic() - batch.first_sent)

    @contextlib.asynccontextmanager
    async def _transaction(self, module: Module, what: str) -> AsyncIterator[None]:
        """The connection's turn and one transaction in the source's timezone (zone-less
        date-times are read in it); a warehouse failure names ``what`` was loading."""
        async with self._turn:
            with db_errors(f"loading {what}"):
                if module.name not in self._prepared:
                    await self.conn.execute(sql.create_keys_table(module))
                    self._prepared.add(module.name)
                async with self.conn.transaction():
                    await self.conn.execute(_SETTINGS, self.timezone)
                    yield

    async def _write(self, module: Module, window_rows: WindowRows,
                     units: list[bytes]) -> rows.Tally:
        """COPY the units' keys, find the new and changed ones, COPY their rows."""
        conn = self.conn
        await _copy(conn, sql.keys_table(module), None, sql.keys_columns(module), units)
        window_rows.changed = {r["ord"] for r in await conn.fetch(sql.changed(module),
                                                                  self.source)}
        if module.line_table:
            await _copy(conn, module.line_table, module.schema, sql.line_columns(module),
                        window_rows.lines())
        await _copy(conn, module.table, module.schema, sql.header_columns(module),
                    window_rows.headers())
        return window_rows.tally


async def _paced(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Hand CPU-built chunks over one at a time, letting the event loop run in between."""
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


async def _copy(conn: asyncpg.Connection, table: str, schema: str | None,
                columns: list[str], chunks: Iterable[bytes]) -> None:
    """COPY text rows into ``table``; a chunk is built while the previous one is loaded."""
    name = table.removeprefix(f"{schema}.") if schema else table
    await db.unless_lost(conn, conn.copy_to_table(
        name, schema_name=schema, columns=columns, source=_paced(chunks),
        **copytext.COPY_OPTIONS))
