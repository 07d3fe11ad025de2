"""Migrations against a real PostgreSQL: idempotent, concurrent-safe, and equal to the registry."""

from __future__ import annotations

import asyncio

from syncd.kinds.skybiz import modules as skybiz
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
             "_deleted_at": "timestamp with time zone", "_raw": "json"}
    for m in skybiz.MODULES:
        want = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.header} | extra
        want["_hash"] = "bytea"
        assert actual[m.name] == want, m.name
        assert keys[m.name] == ["source", *(k.lower() for k in m.key)]
        if m.lines:
            lines = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.lines}
            want_l = lines | extra | {"doctype": "text", "doc1no": "text", "line_seq": "integer"}
            assert actual[f"{m.name}_line"] == want_l
            assert keys[f"{m.name}_line"] == ["source", "doctype", "doc1no", "line_seq"]
    assert set(actual) == {m.name for m in skybiz.MODULES} | {
        f"{m.name}_line" for m in skybiz.MODULES if m.lines}


async def test_cloudonex_tables_match_the_resources(pg_dsn: str) -> None:
    """Every CloudOnex resource is a table of typed columns keyed (source, id); items tables
    keyed by the parent's id and line_seq (CONTRACT §6)."""
    from syncd.kinds.cloudonex.resources import RESOURCES

    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'cloudonex'")
    finally:
        await conn.close()
    pg_names = {"timestamptz": "timestamp with time zone"}
    actual: dict[str, dict[str, str]] = {}
    for r in rows:
        actual.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    extra = {"source": "text", "_synced_at": "timestamp with time zone",
             "_deleted_at": "timestamp with time zone", "_raw": "json"}
    for m in RESOURCES:
        want = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.header}
        assert actual[m.name] == want | extra | {"_hash": "bytea"}, m.name
        if m.line_table:
            lines = {f.column: pg_names.get(f.type.value, f.type.value) for f in m.lines}
            key = dict.fromkeys(m.line_key_columns, "bigint")
            assert actual[m.line_table.split(".")[1]] == lines | extra | key | {
                "line_seq": "integer"}
    assert actual["leads"]["source_"] == "text"
