"""The outbox table of migration 007 in a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from syncd.warehouse import db


async def test_insert_notifies_listeners(pg_dsn: str) -> None:
    """An insert into syncd.outbox wakes a LISTENer on syncd_outbox with the source's name."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        await db.migrate(conn)
        heard: asyncio.Queue[str] = asyncio.Queue()
        await conn.add_listener("syncd_outbox", lambda *a: heard.put_nowait(a[3]))
        writer = await asyncpg.connect(pg_dsn)
        try:
            await writer.execute("INSERT INTO syncd.outbox (source, module, document) "
                                 "VALUES ('main', 'sales', '{\"HCNetAmt\": 100.10}')")
        finally:
            await writer.close()
        assert await asyncio.wait_for(heard.get(), 10) == "main"
        row = await conn.fetchrow("SELECT state, attempts, document::text AS doc "
                                  "FROM syncd.outbox")
        assert (row["state"], row["attempts"], row["doc"]) == ("pending", 0,
                                                               '{"HCNetAmt": 100.10}')
    finally:
        await conn.close()


async def test_unknown_module_and_state_are_refused(pg_dsn: str) -> None:
    """Only sales, purchase and customer rows, and only the five states, are accepted."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        await db.migrate(conn)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO syncd.outbox (source, module, document) "
                               "VALUES ('main', 'item', '{}')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO syncd.outbox (source, module, document, state) "
                               "VALUES ('main', 'sales', '{}', 'done')")
    finally:
        await conn.close()
