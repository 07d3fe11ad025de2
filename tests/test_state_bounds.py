"""The module state's noted new field names stay bounded across windows (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from syncd.core.windows import Purpose, Watermarks, Window
from syncd.warehouse import db, state


def names(window: int, count: int = 100) -> list[str]:
    return [f"Invented{window:03d}_{n:03d}" for n in range(count)]


async def stored(conn: asyncpg.Connection, module: str) -> list[str]:
    got: list[str] = await conn.fetchval(
        "SELECT new_fields FROM syncd.module_state WHERE source = 'main' AND module = $1",
        module)
    return got


async def test_new_fields_keep_the_first_noticed_up_to_the_cap(pg_dsn: str) -> None:
    """A server inventing 100 names every window leaves 200 stored, the first noticed,
    sorted; a name already noted is not counted twice; an endless name is cut."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await state.save_page(conn, "main", "customers", unparsed=0,
                              new_fields=["Colour", "x" * 100_000])
        for window in range(6):
            await state.save_page(conn, "main", "customers", unparsed=0,
                                  new_fields=[*names(window), "Colour"])
        got = await stored(conn, "customers")
        assert len(got) == state.MAX_NEW_FIELDS
        assert got == sorted(["Colour", "x" * state.FIELD_CHARS, *names(0), *names(1)[:98]])
        day = dt.date(2024, 1, 1)
        record = state.WindowRecord(Window(day, day, Purpose.FRESH), 0, 0, 0, "", None, 1,
                                    dt.datetime.now(dt.UTC), 1)
        for window in range(3):
            await state.save_window(conn, "main", "sales", marks=Watermarks(day, day),
                                    rec=record, unparsed=0, new_fields=names(window, 300))
        assert await stored(conn, "sales") == names(0, 200)
    finally:
        await conn.close()
