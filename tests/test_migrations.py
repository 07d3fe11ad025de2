"""Migrations against a real PostgreSQL: idempotent, concurrent-safe, and equal to the registry."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import asyncpg
import pytest

from syncd import registry
from syncd.warehouse import db


async def test_migrate_applies_each_migration_once(pg_dsn: str) -> None:
    """A second migrate applies nothing; the versions are recorded in order."""
    conn = await db.connect(pg_dsn)
    try:
        first = await db.migrate(conn)
        second = await db.migrate(conn)
        recorded = [r["version"] for r in await conn.fetch(
            "SELECT version FROM syncd.schema_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert first == [v for v, _ in db.migrations()]
    assert second == []
    assert recorded == first


async def test_two_migrations_at_once_are_safe(pg_dsn: str) -> None:
    """Two starts migrating concurrently take turns under the advisory lock."""
    a, b = await db.connect(pg_dsn), await db.connect(pg_dsn)
    try:
        results = await asyncio.gather(db.migrate(a), db.migrate(b))
    finally:
        await a.close()
        await b.close()
    assert sorted(len(r) for r in results) == [0, len(db.migrations())]


async def test_tables_match_the_registry(pg_dsn: str) -> None:
    """Every registry field is a column of the documented type, plus the bookkeeping columns."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'skybiz'")
        pks = await conn.fetch(
            "SELECT tc.table_name, "
            "array_agg(k.column_name::text ORDER BY k.ordinal_position) AS cols "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage k "
            "USING (constraint_schema, constraint_name) WHERE tc.table_schema = 'skybiz' "
            "AND tc.constraint_type = 'PRIMARY KEY' GROUP BY tc.table_name")
    finally:
        await conn.close()
    pg_names = {"timestamptz": "timestamp with time zone", "time": "time without time zone"}
    actual: dict[str, dict[str, str]] = {}
    for r in rows:
        actual.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    keys = {r["table_name"]: r["cols"] for r in pks}
    extra = {"source": "text", "_synced_at": "timestamp with time zone",
             "_deleted_at": "timestamp with time zone", "_raw": "jsonb"}
    for m in registry.MODULES:
        want = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.header} | extra
        assert actual[m.name] == want, m.name
        assert keys[m.name] == ["source", *(k.lower() for k in m.key)]
        if m.lines:
            lines = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.lines}
            want_l = lines | extra | {"doctype": "text", "doc1no": "text", "line_seq": "integer"}
            assert actual[f"{m.name}_line"] == want_l
            assert keys[f"{m.name}_line"] == ["source", "doctype", "doc1no", "line_seq"]
    assert set(actual) == {m.name for m in registry.MODULES} | {
        f"{m.name}_line" for m in registry.MODULES if m.lines}


PARSERS = [
    ("to_numeric", "12.30", Decimal("12.30")),
    ("to_numeric", "-0.5", Decimal("-0.5")),
    ("to_numeric", "1E+2", Decimal("100")),
    ("to_numeric", " 7 ", Decimal("7")),
    ("to_numeric", "", None),
    ("to_numeric", "N/A", None),
    ("to_numeric", "1,234.50", None),
    ("to_numeric", "NaN", None),
    ("to_bigint", "42", 42),
    ("to_bigint", "42.0", 42),
    ("to_bigint", "42.5", None),
    ("to_bigint", "abc", None),
    ("to_bigint", "99999999999999999999", None),
    ("to_date", "2026-02-28", dt.date(2026, 2, 28)),
    ("to_date", "2024-02-29", dt.date(2024, 2, 29)),
    ("to_date", "2026-02-29", None),
    ("to_date", "2026-04-31", None),
    ("to_date", "0000-00-00", None),
    ("to_date", "2026-13-01", None),
    ("to_date", "2026/04/01", None),
    ("to_date", "", None),
    ("to_date", "2026-04-01 10:00:00", dt.date(2026, 4, 1)),
    ("to_time", "10:30:00", dt.time(10, 30)),
    ("to_time", "24:00:00", None),
    ("to_time", "", None),
]


@pytest.mark.parametrize(("fn", "text", "expected"), PARSERS)
async def test_value_parsers_never_raise(pg_dsn: str, fn: str, text: str, expected: object) -> None:
    """Each parser returns the typed value, or NULL for anything that does not parse."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        got = await conn.fetchval(f"SELECT syncd.{fn}($1)", text)
    finally:
        await conn.close()
    assert got == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-15 10:30:00", dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC)),
        ("2026-04-15T10:30:00", dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC)),
        ("2026-04-15", dt.datetime(2026, 4, 14, 16, 0, tzinfo=dt.UTC)),
        ("2026-04-15 10:30:00+00:00", dt.datetime(2026, 4, 15, 10, 30, tzinfo=dt.UTC)),
        ("2026-04-15 10:30:00Z", dt.datetime(2026, 4, 15, 10, 30, tzinfo=dt.UTC)),
        ("0000-00-00 00:00:00", None),
        ("2026-04-15 25:00:00", None),
        ("", None),
    ],
)
async def test_timestamps_read_in_the_source_timezone(
    pg_dsn: str, text: str, expected: dt.datetime | None
) -> None:
    """A local date-time is read in the source's zone (Kuala Lumpur is UTC+8)."""
    conn: asyncpg.Connection = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        async with conn.transaction():
            await conn.execute("SELECT set_config('TimeZone', 'Asia/Kuala_Lumpur', true)")
            got = await conn.fetchval("SELECT syncd.to_timestamptz($1)", text)
    finally:
        await conn.close()
    assert got == expected
