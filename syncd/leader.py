"""One leader per source, with PostgreSQL as the only coordinator.

A session-level advisory lock per source, taken on the very connection that performs
the source's commits: a leader that lost its session has lost the lock *and* cannot
commit. Server-side TCP keepalives make PostgreSQL notice a dead leader quickly, so a
hot standby polling for the lock takes over within seconds.
"""

from __future__ import annotations

import asyncpg

from syncd.errors import ConfigError
from syncd.warehouse.db import db_errors

# The PostgreSQL server probes an idle client after 10 s, every 5 s, 3 times: a leader
# whose machine died frees its lock after ~25 s.
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
              "tcp_keepalives_count": "3"}
POLL_SECONDS = 5.0


def lock_key(source: str) -> str:
    return f"syncd.source.{source}"


async def refuse_transaction_pooling(conn: asyncpg.Connection) -> None:
    """Session locks need a session: a DSN through pgbouncer in transaction mode is refused."""
    with db_errors("checking the warehouse connection"):
        first = await conn.fetchval("SELECT pg_backend_pid()")
        second = await conn.fetchval("SELECT pg_backend_pid()")
    if first != second:
        raise ConfigError(
            "[warehouse] dsn goes through a transaction-pooling proxy (pgbouncer "
            "pool_mode=transaction): syncd needs a session; point it at PostgreSQL directly "
            "or use pool_mode=session.")


async def try_lead(conn: asyncpg.Connection, source: str) -> bool:
    """Take the source's lock if it is free; True when this connection now leads."""
    with db_errors("taking the leader lock"):
        taken: bool = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key(source))
    return taken

