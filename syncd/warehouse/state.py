"""syncd's own bookkeeping in schema ``syncd``: watermarks, errors, the ledger, status."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from syncd.core.model import Module
from syncd.core.windows import Watermarks, Window
from syncd.warehouse import sql
from syncd.warehouse.db import db_errors

_MARKS = """
SELECT low_watermark, high_watermark FROM syncd.module_state
WHERE source = $1 AND module = $2
"""

_ENSURE = """
INSERT INTO syncd.module_state (source, module) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""

# Inside a window's transaction: the row lock serializes watermark moves of one module,
# whoever else might be loading it.
_MARKS_FOR_UPDATE = _MARKS + " FOR UPDATE"

# Field names noted per module, at most: the first noticed are kept (a server inventing
# names every window must not grow the row forever), each at most FIELD_CHARS long.
# MAX_NEW_FIELDS is written into both statements below as LIMIT 200.
MAX_NEW_FIELDS, FIELD_CHARS = 200, 200

_SAVE_WINDOW_STATE = """
INSERT INTO syncd.module_state AS s
    (source, module, low_watermark, high_watermark, last_success_at, unparsed_values, new_fields)
VALUES ($1, $2, $3, $4, now(), $5, $6)
ON CONFLICT (source, module) DO UPDATE SET
    low_watermark = EXCLUDED.low_watermark, high_watermark = EXCLUDED.high_watermark,
    last_success_at = now(), unparsed_values = s.unparsed_values + EXCLUDED.unparsed_values,
    new_fields = ARRAY(
        SELECT f FROM (SELECT f, min(o) AS noticed FROM unnest(s.new_fields || EXCLUDED.new_fields)
                       WITH ORDINALITY AS u(f, o) GROUP BY f ORDER BY noticed LIMIT 200) kept
        ORDER BY f)
"""

_SAVE_PAGE_STATE = """
INSERT INTO syncd.module_state AS s (source, module, last_success_at, unparsed_values, new_fields)
VALUES ($1, $2, now(), $3, $4)
ON CONFLICT (source, module) DO UPDATE SET
    last_success_at = now(), unparsed_values = s.unparsed_values + EXCLUDED.unparsed_values,
    new_fields = ARRAY(
        SELECT f FROM (SELECT f, min(o) AS noticed FROM unnest(s.new_fields || EXCLUDED.new_fields)
                       WITH ORDINALITY AS u(f, o) GROUP BY f ORDER BY noticed LIMIT 200) kept
        ORDER BY f)
"""

_LEDGER = """
INSERT INTO syncd.window (source, module, date_from, date_to, purpose, records, upserted,
    deleted, content_hash, request_id, requests, fetched_at, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""

_ERROR = """
INSERT INTO syncd.module_state AS s (source, module, last_error, last_error_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (source, module) DO UPDATE SET last_error = $3, last_error_at = now()
"""

_CLEAR_ERROR = """
UPDATE syncd.module_state SET last_error = NULL WHERE source = $1 AND module = $2
"""

_RESET = """
UPDATE syncd.module_state SET low_watermark = NULL, high_watermark = NULL
WHERE source = $1 AND module = $2
"""


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """What the ledger keeps about one committed window."""

    window: Window
    records: int
    upserted: int
    deleted: int
    content_hash: str
    request_id: str | None
    requests: int
    fetched_at: dt.datetime
    duration_ms: int


async def watermarks(conn: asyncpg.Connection, source: str, module: str) -> Watermarks:
    """The loaded range of one module (empty before its first window)."""
    with db_errors("reading watermarks"):
        row = await conn.fetchrow(_MARKS, source, module)
    if row is None:
        return Watermarks()
    return Watermarks(row["low_watermark"], row["high_watermark"])


async def lock_watermarks(conn: asyncpg.Connection, source: str, module: str) -> Watermarks:
    """Within a window's transaction: lock the module's state row and read its range."""
    await conn.execute(_ENSURE, source, module)
    row = await conn.fetchrow(_MARKS_FOR_UPDATE, source, module)
    return Watermarks(row["low_watermark"], row["high_watermark"])


async def save_window(
    conn: asyncpg.Connection, source: str, module: str, *, marks: Watermarks,
    rec: WindowRecord, unparsed: int, new_fields: list[str],
) -> None:
    """Within the window's transaction: move the watermarks and write the ledger row."""
    w = rec.window
    await conn.execute(_SAVE_WINDOW_STATE, source, module, marks.low, marks.high, unparsed,
                       _bounded(new_fields))
    await conn.execute(_LEDGER, source, module, w.date_from, w.date_to, w.purpose.value,
                       rec.records, rec.upserted, rec.deleted, rec.content_hash,
                       rec.request_id, rec.requests, rec.fetched_at, rec.duration_ms)


async def save_page(conn: asyncpg.Connection, source: str, module: str, *, unparsed: int,
                    new_fields: list[str]) -> None:
    """Within a page's transaction (paged kinds): the module's success and field notes."""
    await conn.execute(_SAVE_PAGE_STATE, source, module, unparsed, _bounded(new_fields))


def _bounded(names: list[str]) -> list[str]:
    """A window's new field names as stored: sorted, at most MAX_NEW_FIELDS, each cut."""
    return sorted({n[:FIELD_CHARS] for n in names})[:MAX_NEW_FIELDS]


async def absent(conn: asyncpg.Connection, source: str, module: Module,
                 seen: list[Any]) -> list[Any]:
    """After a read of a whole resource (``seen``: every key it returned): the keys of the
    live rows it did not return — deletion candidates, each to be confirmed by the API."""
    with db_errors("finding deletion candidates"):
        async with conn.transaction():
            # Pages just loaded leave the table's statistics stale; a nested loop over
            # every row and every key would then be chosen (10,000 × 10,000: seconds).
            await conn.execute("SET LOCAL enable_nestloop = off")
            rows = await conn.fetch(sql.absent(module), source, seen)
    return [r["key"] for r in rows]


async def finish_full_read(conn: asyncpg.Connection, source: str, module: Module,
                           gone: list[Any]) -> int:
    """A read of a whole resource ran to its end: the rows whose keys the API confirmed
    gone (``gone``) are marked deleted and its time is kept as the last complete read.
    Returns the rows marked deleted."""
    with db_errors("finishing a complete read"):
        async with conn.transaction():
            deleted = await conn.fetchval(sql.mark_gone(module), source, gone) if gone else 0
            await conn.execute(
                "INSERT INTO syncd.module_state AS s (source, module, last_full_read_at) "
                "VALUES ($1, $2, now()) ON CONFLICT (source, module) DO UPDATE SET "
                "last_full_read_at = now()", source, module.name)
    return int(deleted)


async def full_reads(conn: asyncpg.Connection, source: str) -> dict[str, dt.datetime]:
    """When each module of ``source`` last finished a complete read."""
    with db_errors("reading complete-read times"):
        rows = await conn.fetch("SELECT module, last_full_read_at FROM syncd.module_state "
                                "WHERE source = $1 AND last_full_read_at IS NOT NULL", source)
    return {r["module"]: r["last_full_read_at"] for r in rows}


async def forget_full_read(conn: asyncpg.Connection, source: str, module: str) -> bool:
    """``reset`` of a paged module: its next pass starts with a complete read."""
    with db_errors("resetting a module"):
        status: str = await conn.execute(
            "UPDATE syncd.module_state SET last_full_read_at = NULL WHERE source = $1 AND "
            "module = $2 AND last_full_read_at IS NOT NULL", source, module)
    return status != "UPDATE 0"


@dataclass(frozen=True, slots=True)
class Budget:
    """What the API's rate-limit headers said last."""

    limit: int | None
    remaining: int | None
    reset_at: dt.datetime | None
    observed_at: dt.datetime


async def save_budget(conn: asyncpg.Connection, source: str, budget: Budget) -> None:
    with db_errors("recording the API budget"):
        await conn.execute(
            'INSERT INTO syncd.api_budget AS b (source, "limit", remaining, reset_at, '
            "observed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source) DO UPDATE SET "
            '"limit" = $2, remaining = $3, reset_at = $4, observed_at = $5',
            source, budget.limit, budget.remaining, budget.reset_at, budget.observed_at)


async def budget(conn: asyncpg.Connection, source: str) -> Budget | None:
    with db_errors("reading the API budget"):
        row = await conn.fetchrow('SELECT "limit", remaining, reset_at, observed_at '
                                  "FROM syncd.api_budget WHERE source = $1", source)
    return None if row is None else Budget(row["limit"], row["remaining"], row["reset_at"],
                                           row["observed_at"])


async def record_error(conn: asyncpg.Connection, source: str, module: str, text: str) -> None:
    with db_errors("recording an error"):
        await conn.execute(_ERROR, source, module, text)


async def clear_error(conn: asyncpg.Connection, source: str, module: str) -> None:
    with db_errors("recording success"):
        await conn.execute(_CLEAR_ERROR, source, module)


async def reset(conn: asyncpg.Connection, source: str, module: str) -> bool:
    """Forget a module's watermarks (its rows stay); tell whether it had any."""
    with db_errors("resetting watermarks"):
        status: str = await conn.execute(_RESET, source, module)
    return status != "UPDATE 0"


async def done_windows(
    conn: asyncpg.Connection, source: str, module: str, purpose: str, since: dt.datetime
) -> set[tuple[dt.date, dt.date]]:
    """Windows of ``purpose`` committed since ``since`` (a reread/reconcile cycle's start)."""
    with db_errors("reading the window ledger"):
        rows = await conn.fetch(
            "SELECT date_from, date_to FROM syncd.window WHERE source = $1 AND module = $2 "
            "AND purpose = $3 AND committed_at >= $4", source, module, purpose, since)
    return {(r["date_from"], r["date_to"]) for r in rows}


async def apply_reconcile(
    conn: asyncpg.Connection, source: str, module: Module, cycle: dt.datetime
) -> int | None:
    """Mark the rows a finished reconcile cycle did not see; once per cycle (else None)."""
    with db_errors("applying a reconcile"):
        async with conn.transaction():
            await conn.execute(_ENSURE, source, module.name)
            done = await conn.fetchval(
                "SELECT reconciled_cycle FROM syncd.module_state WHERE source = $1 AND "
                "module = $2 FOR UPDATE", source, module.name)
            if done == cycle:
                return None
            deleted: int = await conn.fetchval(sql.apply_reconcile(module), source,
                                               module.name, cycle)
            await conn.execute(
                "UPDATE syncd.module_state SET reconciled_cycle = $3 WHERE source = $1 AND "
                "module = $2", source, module.name, cycle)
            await conn.execute("DELETE FROM syncd.reconcile_seen WHERE source = $1 AND "
                               "module = $2", source, module.name)
    return deleted


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """One line of ``syncd status``."""

    module: str
    low_watermark: dt.date | None
    high_watermark: dt.date | None
    rows: int
    deleted_rows: int
    last_success_at: dt.datetime | None
    last_error: str | None
    new_fields: tuple[str, ...]
    unparsed_values: int
    last_full_read_at: dt.datetime | None = None


async def module_status(conn: asyncpg.Connection, source: str,
                        module: Module) -> ModuleStatus:
    """State and row counts of one module of one source."""
    with db_errors("reading status"):
        st = await conn.fetchrow(
            "SELECT * FROM syncd.module_state WHERE source = $1 AND module = $2", source,
            module.name)
        counts = await conn.fetchrow(  # the table name comes from the registry, never input
            f"SELECT count(*) FILTER (WHERE _deleted_at IS NULL) AS live, "  # noqa: S608
            f"count(*) FILTER (WHERE _deleted_at IS NOT NULL) AS gone "
            f"FROM {module.table} WHERE source = $1", source)
    s: dict[str, Any] = dict(st) if st else {}
    return ModuleStatus(
        module=module.name, low_watermark=s.get("low_watermark"),
        high_watermark=s.get("high_watermark"), rows=counts["live"], deleted_rows=counts["gone"],
        last_success_at=s.get("last_success_at"), last_error=s.get("last_error"),
        new_fields=tuple(s.get("new_fields") or ()), unparsed_values=s.get("unparsed_values", 0),
        last_full_read_at=s.get("last_full_read_at"),
    )


async def request_encoding(conn: asyncpg.Connection, source: str) -> str | None:
    """The request encoding last learned for ``source`` (None: never stored)."""
    with db_errors("reading the request encoding"):
        value: str | None = await conn.fetchval(
            "SELECT request_encoding FROM syncd.source_encoding WHERE source = $1", source)
        return value


async def save_request_encoding(conn: asyncpg.Connection, source: str, encoding: str) -> None:
    """Remember the encoding ``source``'s server accepts."""
    with db_errors("storing the request encoding"):
        await conn.execute(
            "INSERT INTO syncd.source_encoding AS e (source, request_encoding) VALUES ($1, $2) "
            "ON CONFLICT (source) DO UPDATE SET request_encoding = excluded.request_encoding, "
            "learned_at = now() WHERE e.request_encoding <> excluded.request_encoding",
            source, encoding)
