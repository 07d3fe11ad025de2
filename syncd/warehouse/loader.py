"""Loading one window: rows, deletions, ledger and watermark move in one transaction.

A crash anywhere leaves either the whole window or none of it; the watermark can never
be ahead of the data. One Loader per source owns that source's connection; windows of
all its modules take turns on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import structlog

from syncd import registry
from syncd.client import Answer
from syncd.registry import Kind, Module
from syncd.responses import Envelope, classify, judge, prepare_body
from syncd.warehouse import sql, state
from syncd.warehouse.db import db_errors, prepare_loader
from syncd.windows import Purpose, Window, advance

log = structlog.get_logger("syncd.load")
KNOWN_FIELDS = {m.name: {f.name for f in m.fields} | {"items"} for m in registry.MODULES}


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


CHUNK = 1 << 20


async def send_body(conn: asyncpg.Connection, body: bytes) -> None:
    """Stream the body into this connection's one-row staging table.

    COPY in 1 MiB slices, as a single CSV field quoted with \\x01 and delimited by
    \\x02 (complete JSON contains neither byte), so the body is never copied whole on our
    side: passing it as a query parameter would copy it three times on the way out.
    """
    view = memoryview(body)

    async def chunks() -> AsyncIterator[bytes | memoryview]:
        yield b"\x01"
        for start in range(0, len(view), CHUNK):
            yield view[start:start + CHUNK]
        yield b"\x01\n"

    await conn.copy_to_table("syncd_body", schema_name="pg_temp", source=chunks(),
                             format="csv", quote="\x01", delimiter="\x02")


class Loader:
    """Commits windows of one source through its one connection."""

    def __init__(self, conn: asyncpg.Connection, source_name: str, timezone: str) -> None:
        self.conn, self.source, self.timezone = conn, source_name, timezone
        self._turn = asyncio.Lock()
        self._prepared = False

    def turn(self) -> asyncio.Lock:
        """Hold this to use the connection between loads (state reads, error records)."""
        return self._turn

    async def load(self, module: Module, window: Window, answer: Answer,
                   cycle: dt.datetime | None = None) -> LoadResult:
        """Judge the answer and, if it is a complete read, commit it."""
        if not 200 <= answer.status < 300:
            classify(answer.status, answer.body, answer.ctx, answer.retry_after)  # raises
        try:
            body = prepare_body(answer.body)
        except ValueError:
            judge(answer.status, Envelope(parsed=False), answer.ctx)  # raises: not JSON
            raise  # pragma: no cover - judge always raises for an unparsed body
        fetched_at = dt.datetime.now(dt.UTC)
        async with self._turn:
            if not self._prepared:
                await prepare_loader(self.conn)
                self._prepared = True
            with db_errors(f"loading {module.name} {window}"):
                async with self.conn.transaction():
                    result = await self._load(module, window, answer, body, fetched_at)
                    if window.purpose is Purpose.RECONCILE:
                        await self.conn.execute(sql.record_seen(module), self.source,
                                                module.name, cycle)
                    return result

    async def _load(
        self, module: Module, window: Window, answer: Answer, body: bytes,
        fetched_at: dt.datetime,
    ) -> LoadResult:
        conn = self.conn
        # synchronous_commit off is safe here: a crash loses the window's rows and its
        # watermark move together (one transaction), and the next pass reads it again.
        await conn.execute("SELECT set_config('TimeZone', $1, true), "
                           "set_config('work_mem', '256MB', true), "
                           "set_config('synchronous_commit', 'off', true)", self.timezone)
        await send_body(conn, body)
        staged = await conn.fetchrow(sql.STAGE)
        env = Envelope(True, staged["status"], staged["message"], staged["request_id"],
                       staged["mode"], staged["total_returned"], staged["sent"],
                       staged["staged"])
        judge(answer.status, env, answer.ctx)
        upserted, unparsed = await conn.fetchrow(sql.merge_rows(module), self.source)
        lines = 0
        if module.has_lines:
            await conn.execute(sql.changed_documents(module), self.source)
            await conn.execute(sql.delete_lines(module), self.source)
            lines, bad_lines = await conn.fetchrow(sql.insert_lines(module), self.source)
            unparsed += bad_lines
        deleted = 0
        if module.kind is Kind.DOCUMENT:
            deleted = await conn.fetchval(sql.mark_deleted(module), self.source,
                                          window.date_from, window.date_to)
        known = sorted(KNOWN_FIELDS[module.name])
        new_fields = sorted(r["k"] for r in await conn.fetch(sql.NEW_FIELDS, known))
        marks = advance(await state.lock_watermarks(conn, self.source, module.name), window)
        seconds = time.monotonic() - answer.first_sent
        record = state.WindowRecord(
            window, env.records or 0, upserted + lines, deleted, staged["content_hash"],
            env.request_id, answer.attempt, fetched_at, int(seconds * 1000))
        await state.save_window(conn, self.source, module.name, marks=marks, rec=record,
                                unparsed=unparsed, new_fields=new_fields)
        return LoadResult(window, env.records or 0, upserted, lines, deleted, unparsed,
                          tuple(new_fields), answer.attempt, seconds)

