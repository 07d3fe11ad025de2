"""The daemon's pusher of one led source: on every outbox insert (LISTEN/NOTIFY) and every
``[schedule] push``, send what is pending. Its own warehouse connection, the kind's writer
over the source's client (any kind: the registry names the writer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from syncd.core.errors import SyncdError
from syncd.engine.outbox.pusher import Pusher
from syncd.engine.outbox.writer import ModulePush, Writer
from syncd.warehouse import db, outbox

log = structlog.get_logger("syncd.push")
CHANNEL = "syncd_outbox"


class OutboxService:
    """Runs until cancelled; a notification for its source wakes it at once."""

    def __init__(self, dsn: str, source: str, writer: Writer, every: float,
                 report: Callable[[list[ModulePush]], Awaitable[None]]) -> None:
        self.dsn, self.source, self.writer, self.every = dsn, source, writer, every
        self.report = report
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Push now, then whenever woken or every ``every`` seconds; reconnect after a loss."""
        while True:
            try:
                await self._serve()
            except SyncdError as exc:
                log.error("push.failed", source=self.source, error=str(exc))
            except Exception:  # the top of a job: log it, keep the daemon's pusher alive
                log.exception("push.crashed", source=self.source)
            await self._nap()

    async def _serve(self) -> None:
        async with db.connection(self.dsn) as conn:
            with db.db_errors("listening for outbox inserts"):
                await conn.add_listener(CHANNEL, self._heard)
            while not conn.is_closed():
                self.wake.clear()
                await self.once(conn)
                await self._nap()

    async def once(self, conn: asyncpg.Connection) -> list[ModulePush]:
        """One push of every module, unless another syncd (a CLI push) holds the outbox."""
        if not await outbox.lock(conn, self.source):
            return []
        try:
            results = await Pusher(conn, self.source, self.writer).push()
        finally:
            await outbox.unlock(conn, self.source)
        await self.report(results)
        for r in results:
            if r.inserted or r.rejected or r.invalid or r.error:
                log.info("push.done", source=self.source, module=r.module, inserted=r.inserted,
                         rejected=r.rejected, invalid=r.invalid, waiting=r.waiting,
                         requests=r.requests, error=str(r.error) if r.error else None)
        return results

    async def _nap(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), self.every)

    def _heard(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if payload == self.source:
            self.wake.set()
