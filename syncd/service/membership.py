"""The running instances, in the warehouse: heartbeats, and this instance's share.

Every ``HEARTBEAT_SECONDS`` an instance stamps its row in ``syncd.instance`` with
PostgreSQL's clock (no clock skew between machines), reads the live instances and the
current leaders, and computes the share of every instance with ``shares.assign`` — the
same answer on every instance. An instance is dead once its stamp is ``DEAD_AFTER`` old;
one that cannot stamp its own row for that long gives up its whole share by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import structlog

from syncd.core.errors import WarehouseError
from syncd.service import shares
from syncd.warehouse import db
from syncd.warehouse.db import db_errors

log = structlog.get_logger("syncd.membership")

HEARTBEAT_SECONDS = 2.0
DEAD_AFTER = 10.0
# A new instance heartbeats once and looks again this much later before it takes anything:
# instances started together see each other first instead of one grabbing every source.
JOIN_SECONDS = 1.5

_BEAT = ("INSERT INTO syncd.instance (id, host, pid, listen, heartbeat_at) "
         "VALUES ($1, $2, $3, $4, clock_timestamp()) "
         "ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp()")
_LIVE = ("SELECT id, host || ':' || pid AS name FROM syncd.instance "
         "WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $1)")
_LEADERS = ("SELECT l.source, l.instance, i.host || ':' || i.pid AS name "
            "FROM syncd.source_leader l JOIN syncd.instance i ON i.id = l.instance "
            "WHERE i.heartbeat_at > clock_timestamp() - make_interval(secs => $1)")
_FORGET = "DELETE FROM syncd.instance WHERE heartbeat_at < clock_timestamp() - interval '1 day'"


async def leaders(conn: asyncpg.Connection) -> dict[str, str]:
    """Source → "HOST:PID" of its live leader; a source whose leader died is absent."""
    with db_errors("reading the sources' leaders"):
        return {r["source"]: r["name"] for r in await conn.fetch(_LEADERS, DEAD_AFTER)}


class Membership:
    """This instance's row and its view of everyone's shares (refreshed every heartbeat)."""

    def __init__(self, dsn: str, sources: list[str], listen: str,
                 on_error: Callable[[BaseException], None]) -> None:
        self.dsn, self.sources, self.listen, self.on_error = dsn, sources, listen, on_error
        self.id = uuid.uuid4().hex
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.name = f"{self.host}:{self.pid}"
        self.share: frozenset[str] = frozenset()
        self.leader_names: dict[str, str] = {}  # source → "HOST:PID", live leaders only
        self.members = 0
        self._changed = asyncio.Event()
        self._beat_at: float | None = None
        self._joined = False

    async def until(self, test: Callable[[frozenset[str]], bool]) -> None:
        """Return once ``test(share)`` holds."""
        while not test(self.share):
            changed = self._changed
            await changed.wait()

    async def run(self) -> None:
        """Heartbeat until cancelled, reconnecting after a lost warehouse. Reconnects keep
        the heartbeat's own pace (no backoff): one connect per ``HEARTBEAT_SECONDS`` is
        what a healthy instance costs anyway, and the instance rejoins soon after."""
        failures = 0
        while True:
            try:
                async with db.connection(self.dsn, server_settings=db.KEEPALIVES,
                                         timeout=HEARTBEAT_SECONDS * 2) as conn:
                    while True:
                        await asyncio.wait_for(self._beat(conn), DEAD_AFTER / 2)
                        if failures:
                            log.info("membership.heartbeat_back", failures=failures)
                            failures = 0
                        await asyncio.sleep(HEARTBEAT_SECONDS if self._joined
                                            else JOIN_SECONDS)
            except (WarehouseError, TimeoutError) as exc:
                failures += 1
                if failures == 1:  # one warning per outage, not one per heartbeat
                    log.warning("membership.heartbeat_failed", error=str(exc) or "timed out")
            except Exception as exc:  # top of a job: counted and logged
                self.on_error(exc)
                log.exception("membership.crashed")
            self._give_up_if_stale()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def leave(self) -> None:
        """Delete this instance's row (and with it its leader rows): the others need not
        wait for the heartbeat to expire."""
        with contextlib.suppress(WarehouseError):
            async with db.connection(self.dsn, timeout=5) as conn:
                with db_errors("leaving"):
                    await conn.execute("DELETE FROM syncd.instance WHERE id = $1", self.id)

    async def _beat(self, conn: asyncpg.Connection) -> None:
        with db_errors("heartbeating"):
            async with conn.transaction():
                await conn.execute(_BEAT, self.id, self.host, self.pid, self.listen)
                live = {r["id"]: r["name"] for r in await conn.fetch(_LIVE, DEAD_AFTER)}
                rows = await conn.fetch(_LEADERS, DEAD_AFTER)
            if self._beat_at is None:
                await conn.execute(_FORGET)
        self._beat_at = asyncio.get_running_loop().time()
        if not self._joined:
            self._joined = True
            return
        current = {r["source"]: r["instance"] for r in rows}
        mine = shares.assign(self.sources, live, current)
        self.leader_names = {r["source"]: r["name"] for r in rows}
        self.members = len(live)
        self._publish(frozenset(s for s, i in mine.items() if i == self.id))

    def _give_up_if_stale(self) -> None:
        """Others think us dead after DEAD_AFTER: stop leading a little before that."""
        now = asyncio.get_running_loop().time()
        if self._beat_at is not None and now - self._beat_at > DEAD_AFTER - HEARTBEAT_SECONDS:
            self._publish(frozenset())

    def _publish(self, share: frozenset[str]) -> None:
        if share != self.share:
            log.info("membership.share", share=sorted(share), instances=self.members)
        self.share = share
        self._changed.set()
        self._changed = asyncio.Event()


@contextlib.asynccontextmanager
async def joined(membership: Membership) -> AsyncIterator[Membership]:
    """Heartbeat for the block, then leave."""
    task = asyncio.create_task(membership.run())
    try:
        yield membership
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await membership.leave()
