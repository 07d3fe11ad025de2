"""Loading one window: rows, deletions, ledger and watermark move in one transaction.

A crash anywhere leaves either the whole window or none of it; the watermark can never
be ahead of the data. One Loader per source owns that source's connection; windows of
all its modules take turns on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import asyncpg
import structlog

from syncd import body, copytext, rows
from syncd.client import Answer
from syncd.registry import Kind, Module
from syncd.responses import classify, judge
from syncd.rows import WindowRows
from syncd.warehouse import sql, state
from syncd.warehouse.db import db_errors
from syncd.windows import Purpose, Window, advance

log = structlog.get_logger("syncd.load")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one committed window did."""

    window: Window
    records: int
    upserted: int
    lines: int
    deleted: int
    unparsed: int
    new_fields: tuple[str, ...]
    requests: int
    seconds: float  # from the window's first request to its commit


class Loader:
    """Commits windows of one source through its one connection."""

    def __init__(self, conn: asyncpg.Connection, source_name: str, timezone: str) -> None:
        self.conn, self.source, self.timezone = conn, source_name, timezone
        self._turn = asyncio.Lock()
        self._prepared: set[str] = set()

    def turn(self) -> asyncio.Lock:
        """Hold this to use the connection between loads (state reads, error records)."""
        return self._turn

    async def load(self, module: Module, window: Window, answer: Answer,
                   cycle: dt.datetime | None = None) -> LoadResult:
        """Judge the answer and, if it is a complete read, commit it."""
        if not 200 <= answer.status < 300:
            classify(answer.status, answer.body, answer.ctx, answer.retry_after)  # raises
        try:
            parsed = body.parse(body.prepare(answer.body))
        except ValueError:  # no JSON object at all
            parsed = body.parse(b"")
        judge(answer.status, parsed.envelope, answer.ctx)
        fetched_at = dt.datetime.now(dt.UTC)
        window_rows = WindowRows(rows.shape(module), parsed.records, self.source)
        # The first pass is client CPU only: done before taking the connection, it overlaps
        # the previous window's statements.
        units = list(window_rows.keys())
        async with self._turn:
            with db_errors(f"loading {module.name} {window}"):
                if module.name not in self._prepared:
                    await self.conn.execute(sql.create_keys_table(module))
                    self._prepared.add(module.name)
                async with self.conn.transaction():
                    result = await self._load(
                        module, window, answer, window_rows=window_rows, units=units,
                        request_id=parsed.envelope.request_id, fetched_at=fetched_at)
                    if window.purpose is Purpose.RECONCILE:
                        await self.conn.execute(sql.record_seen(module), self.source,
                                                module.name, cycle)
                    return result

    async def _load(
        self, module: Module, window: Window, answer: Answer, *, window_rows: WindowRows,
        units: list[bytes], request_id: str | None, fetched_at: dt.datetime,
    ) -> LoadResult:
        conn = self.conn
        # synchronous_commit off is safe here: a crash loses the window's rows and its
        # watermark move together (one transaction), and the next pass reads it again.
        await conn.execute("SELECT set_config('TimeZone', $1, true), "
                           "set_config('work_mem', '256MB', true), "
                           "set_config('synchronous_commit', 'off', true)", self.timezone)
        await _copy(conn, sql.keys_table(module), None, sql.keys_columns(module), units)
        window_rows.changed = {r["ord"] for r in await conn.fetch(sql.changed(module),
                                                                  self.source)}
        if module.line_table:
            await _copy(conn, module.line_table, module.schema, sql.line_columns(module),
                        window_rows.lines())
        await _copy(conn, module.table, module.schema, sql.header_columns(module),
                    window_rows.headers())
        deleted = 0
        if module.kind is Kind.DOCUMENT:
            deleted = await conn.fetchval(sql.mark_deleted(module), self.source,
                                          window.date_from, window.date_to)
        tally = window_rows.tally
        marks = advance(await state.lock_watermarks(conn, self.source, module.name), window)
        seconds = time.monotonic() - answer.first_sent
        records = len(window_rows.records)
        new_fields = sorted(window_rows.new_fields)
        record = state.WindowRecord(
            window, records, tally.headers + tally.lines, deleted, window_rows.content_hash,
            request_id, answer.attempt, fetched_at, int(seconds * 1000))
        await state.save_window(conn, self.source, module.name, marks=marks, rec=record,
                                unparsed=tally.unparsed, new_fields=new_fields)
        return LoadResult(window, records, tally.headers, tally.lines, deleted, tally.unparsed,
                          tuple(new_fields), answer.attempt, seconds)


async def _paced(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Hand CPU-built chunks over one at a time, letting the event loop run in between."""
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


async def _copy(conn: asyncpg.Connection, table: str, schema: str | None,
                columns: list[str], chunks: Iterable[bytes]) -> None:
    """COPY text rows into ``table``; a chunk is built while the previous one is loaded."""
    name = table.removeprefix(f"{schema}.") if schema else table
    await conn.copy_to_table(name, schema_name=schema, columns=columns,
                             source=_paced(chunks), **copytext.COPY_OPTIONS)
