"""One leader per source, with PostgreSQL as the only coordinator.

Membership (``syncd.membership``) says which sources this instance *should* lead; a
session-level advisory lock per source says which it *does*. The lock is taken on the very
connection that performs the source's commits: a leader that lost its session has lost the
lock *and* cannot commit. Server-side TCP keepalives make PostgreSQL notice a dead leader's
machine quickly, so the lock is free by the time its heartbeat has expired.

``Leadership.held`` hands the worker that connection; when the share moves elsewhere the
worker stops its passes (the window being loaded commits or rolls back), and only then is
the leader row deleted and the connection — with the lock — closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import structlog

from syncd.core.errors import ConfigError, WarehouseError
from syncd.service import waits
from syncd.service.membership import Membership
from syncd.warehouse import db
from syncd.warehouse.db import db_errors

log = structlog.get_logger("syncd.leader")

POLL_SECONDS = 1.0  # how often a new owner tries a lock its previous holder still has


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


async def claim(conn: asyncpg.Connection, source: str, instance: str) -> None:
    """Record (for ``status`` and for sticky shares) that ``instance`` leads ``source``."""
    with db_errors("recording the source's leader"):
        await conn.execute(
            "INSERT INTO syncd.source_leader (source, instance) VALUES ($1, $2) "
            "ON CONFLICT (source) DO UPDATE SET instance = $2, since = now()", source, instance)


async def disclaim(conn: asyncpg.Connection, source: str, instance: str) -> None:
    with db_errors("clearing the source's leader"):
        await conn.execute("DELETE FROM syncd.source_leader WHERE source = $1 "
                           "AND instance = $2", source, instance)


class Leadership:
    """Leads one source whenever this instance's share holds it."""

    def __init__(self, dsn: str, source: str, membership: Membership,
                 stopping: asyncio.Event) -> None:
        self.dsn, self.source, self.membership, self.stopping = dsn, source, membership, stopping
        self.role = "starting"
        self._standby_logged = False

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[asyncpg.Connection | None]:
        """The connection holding the source's lock; None when the daemon stops or the share
        moves first. On exit the leader row goes, then the connection and the lock."""
        if not await self._in_share():
            yield None
            return
        async with db.connection(self.dsn, server_settings=db.KEEPALIVES) as conn:
            await refuse_transaction_pooling(conn)
            if not await self._take(conn):
                yield None
                return
            await claim(conn, self.source, self.membership.id)
            log.info("leader.acquired", source=self.source)
            self.role, self._standby_logged = "leader", False
            try:
                yield conn
            finally:
                self.role = "standby"
                with contextlib.suppress(WarehouseError):
                    await disclaim(conn, self.source, self.membership.id)
                log.info("leader.released", source=self.source)

    async def moved(self) -> None:
        """Return once this instance's share no longer holds the source."""
        await self.membership.until(lambda share: self.source not in share)

    async def _in_share(self) -> bool:
        """Wait (as a standby) until the share holds the source; False if stopping first."""
        if self.source not in self.membership.share:
            self._standby()
        await waits.first(self.membership.until(lambda share: self.source in share),
                          self.stopping.wait())
        return not self.stopping.is_set()

    async def _take(self, conn: asyncpg.Connection) -> bool:
        """Poll the lock while the share holds the source (its previous leader finishes
        its window first); False when stopping or the share moved on."""
        while not await try_lead(conn, self.source):
            self._standby()
            await waits.pause(self.stopping, POLL_SECONDS)
            if self.stopping.is_set() or self.source not in self.membership.share:
                return False
        return True

    def _standby(self) -> None:
        self.role = "standby"
        if not self._standby_logged:
            log.info("leader.standby", source=self.source)
            self._standby_logged = True
