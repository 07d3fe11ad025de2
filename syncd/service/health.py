"""The warehouse probe behind ``/healthz``: one connection of its own asks ``SELECT 1``
every ``PROBE_SECONDS``, and ``/healthz`` answers from the last result — a scraper polling
it never opens PostgreSQL connections, and a dead warehouse cannot make it hang."""

from __future__ import annotations

import asyncio

import structlog

from syncd.core.errors import WarehouseError
from syncd.warehouse import db

log = structlog.get_logger("syncd.health")

PROBE_SECONDS = 2.0  # how stale /healthz may be; also the reconnect pace while down
TIMEOUT_SECONDS = 3.0  # a connect or a SELECT 1 slower than this counts as down
STARTING = "the warehouse has not been probed yet"


class WarehouseProbe:
    """``reason`` is None while the last probe succeeded, else its one-sentence failure."""

    def __init__(self, dsn: str, every: float = PROBE_SECONDS,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.dsn, self.every, self.timeout = dsn, every, timeout
        self.reason: str | None = STARTING

    def health(self) -> str | None:
        """The reason /healthz is unhealthy, or None (the cached result, no I/O)."""
        return self.reason

    async def run(self) -> None:
        """Probe until cancelled: on one connection while it answers, else reconnect at
        the probe's pace (one attempt every ``every`` seconds, never a storm)."""
        while True:
            try:
                async with db.connection(self.dsn, timeout=self.timeout) as conn:
                    while True:
                        await db.ping(conn, self.timeout)
                        self._result(None)
                        await asyncio.sleep(self.every)
            except WarehouseError as exc:
                self._result(str(exc))
            await asyncio.sleep(self.every)

    def _result(self, reason: str | None) -> None:
        if reason is not None and reason != self.reason:
            log.warning("health.warehouse_down", error=reason)
        elif reason is None and self.reason not in (None, STARTING):
            log.info("health.warehouse_back")
        self.reason = reason
