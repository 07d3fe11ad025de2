"""A COPY whose connection is lost while its writing is paused ends in the warehouse
sentence instead of hanging (asyncpg's COPY from an async source waits for the socket to
drain with no deadline, and a lost connection never wakes it: a leader waiting for that
load never reconnected after a warehouse restart)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncd.core.errors import WarehouseError
from syncd.warehouse.db import db_errors, unless_lost
from tests import waiting

ROW = b"x" * 1000 + b"\n"


async def rows() -> AsyncIterator[bytes]:
    for _ in range(2000):  # up to 2 GB: far more than any socket buffer holds
        yield ROW * 1024


async def test_a_copy_paused_on_a_lost_connection_ends_in_one_sentence(pg_dsn: str) -> None:
    locker = await asyncpg.connect(pg_dsn)
    loader = await asyncpg.connect(pg_dsn)
    try:
        await locker.execute("CREATE TABLE copied (v text)")
        # The COPY's backend waits for this lock and reads nothing: the client's writes
        # fill the socket and asyncpg pauses, waiting for it to drain.
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE copied IN ACCESS EXCLUSIVE MODE")

        async def load() -> None:
            with db_errors("loading sales"):
                await unless_lost(loader, loader.copy_to_table("copied", source=rows()))

        task = asyncio.create_task(load())
        protocol = loader._protocol  # what asyncpg waits on
        await waiting.until(lambda: not protocol.writing_allowed.is_set(),
                            "the COPY's writing paused", deadline_s=30)
        await locker.execute("SELECT pg_terminate_backend($1)", loader.get_server_pid())
        with pytest.raises(WarehouseError, match="PostgreSQL went away"):
            await asyncio.wait_for(task, 30)
        await tx.rollback()
    finally:
        loader.terminate()
        await locker.close()
