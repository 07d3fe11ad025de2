"""``syncd run``: the long-running service (composition root of the daemon).

Migrates, then per source: becomes its leader (or waits as a hot standby), and runs an
incremental pass every ``[schedule] interval`` while an unfinished backfill continues in
its own job at the limiter's lower priority. SIGTERM/SIGINT stop it gracefully: no new
pass starts, the window being loaded commits (or rolls back), its watermark never moves
ahead of its data. A second signal exits at once — the open transaction rolls back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import Collection

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from syncd.config import Config
from syncd.core import alerting
from syncd.core.errors import WarehouseError
from syncd.core.statusdoc import StatusDoc
from syncd.engine import capacity
from syncd.engine.hosts import limiters_for
from syncd.service import httpd, waits
from syncd.service.alerts import Alerter
from syncd.service.health import WarehouseProbe
from syncd.service.hooks import Hinted, Receiver
from syncd.service.membership import Membership, joined
from syncd.service.metrics import Metrics
from syncd.service.notify import Notifier
from syncd.service.worker import SourceWorker
from syncd.warehouse import db, hooks

log = structlog.get_logger("syncd.daemon")


class Daemon:
    """Owns the scheduler, the workers, the HTTP listener and the signal handling."""

    def __init__(self, cfg: Config, dsn: str, notifier: Notifier) -> None:
        self.cfg, self.dsn, self.notifier = cfg, dsn, notifier
        self.metrics = Metrics()
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self.stopping = asyncio.Event()
        self.limiters = limiters_for(list(cfg.sources))
        # The config never changes while running (the first-run figure moves a request a
        # month per module: computed at start it stays honest).
        self.capacity = capacity.from_config(cfg, dt.datetime.now(dt.UTC))
        self._capacity_alerts()
        self.alerter = Alerter(cfg.alerts, dsn, on_delivery=self._delivered,
                               on_open=self._open_alerts)
        obs = cfg.observability
        self.membership = Membership(dsn, [s.name for s in cfg.sources],
                                     f"{obs.host}:{obs.port}", self._membership_error)
        self.probe = WarehouseProbe(dsn)
        self.workers = [SourceWorker(self, s) for s in cfg.sources]
        self.receiver = Receiver({w.source.name: Hinted(w.source.name, w.hint_reader, w.heard)
                                  for w in self.workers if w.source.source_kind.hints_path})
        for s in cfg.sources:
            if s.renewal_date is not None:
                self.metrics.set_credential_expiry(s.name, s.renewal_date, s.zone)

    def _capacity_alerts(self) -> None:
        """Per host: the first source alerts for it (its leader), with the capacity or the
        freshness-target warning."""
        fits = capacity.target_fits(capacity.loads_of(self.cfg))
        self.host_alerts: dict[str, str] = {}
        self.host_warnings: dict[str, str | None] = {}
        for s in self.cfg.sources:
            figures = self.capacity[s.name]
            if figures.host in self.host_warnings:
                continue
            peers = {n for n, c in self.capacity.items() if c.host == figures.host}
            unmet = [f for f in fits if f.source in peers and not f.met]
            self.host_alerts[s.name] = figures.host
            self.host_warnings[figures.host] = figures.warning() or capacity.unmet_sentence(
                unmet)
            self.metrics.capacity_load.labels(figures.host).set(figures.load)
            self.metrics.targets_unmet.labels(figures.host).set(len(unmet))

    def _open_alerts(self, keys: Collection[alerting.AlertKey]) -> None:
        for condition in alerting.Condition:
            self.metrics.alerts_open.labels(condition.value).set(
                sum(1 for k in keys if k.condition is condition))

    def _delivered(self, endpoint: str, ok: bool) -> None:
        self.metrics.alert_deliveries.labels(endpoint, "ok" if ok else "failed").inc()

    def _membership_error(self, exc: BaseException) -> None:
        self.metrics.job_errors.labels("", "membership").inc()

    def summary(self) -> str:
        """One line for systemd: e.g. "8 modules current, backfill 64%, last pass 12:05"."""
        modules = [m for w in self.workers if w.status for m in w.status["modules"]]
        if not modules:
            return "waiting for the first pass"
        now = dt.datetime.now(dt.UTC)
        current = sum(1 for w in self.workers if w.status for m in w.status["modules"]
                      if m["high_watermark"] == w.source.today(now).isoformat()
                      and not m["last_error"])
        backfill = sum(m["backfill_progress"] for m in modules) / len(modules)
        last = max((w.last_pass for w in self.workers if w.last_pass), default=None)
        when = last.astimezone().strftime("%H:%M") if last else "-"
        return f"{current} modules current, backfill {backfill:.0%}, last pass {when}"

    async def status(self) -> StatusDoc:
        """/status.json: the ``status --json`` document plus what the status page shows."""
        return {"sources": [w.page_status() for w in self.workers],
                "alerts": self.alerter.open_now()}

    async def _webhook_tokens(self) -> None:
        """Keep the receiver's registered tokens current (a `webhooks register` while we
        run is served within seconds)."""
        while not self.stopping.is_set():
            try:
                async with db.connection(self.dsn) as conn:
                    self.receiver.tokens = await hooks.tokens(conn)
            except WarehouseError as exc:
                log.warning("webhooks.tokens_unread", error=str(exc))
            await waits.pause(self.stopping, 5)

    async def run(self) -> int:
        probe = asyncio.create_task(self.probe.run())
        try:
            runners = await self._listen()
        except BaseException:
            probe.cancel()
            raise
        tokens = asyncio.create_task(self._webhook_tokens())
        self._install_signals()
        watchdog = asyncio.create_task(self.notifier.watchdog())
        alerter = asyncio.create_task(self.alerter.run(self.stopping))
        self.scheduler.start()
        self.notifier.ready("migrated; starting")
        log.info("daemon.ready", sources=[s.name for s in self.cfg.sources],
                 listen=f"{self.cfg.observability.host}:{self.cfg.observability.port}")
        try:
            async with joined(self.membership):
                await asyncio.gather(*(w.serve() for w in self.workers))
        finally:
            self.scheduler.shutdown(wait=False)
            watchdog.cancel()
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            alerter.cancel()
            await asyncio.gather(alerter, return_exceptions=True)
            tokens.cancel()
            for runner in runners:
                await runner.cleanup()
        log.info("daemon.stopped")
        return 0

    async def _listen(self) -> list[web.AppRunner]:
        """The observability listener, and the webhook receiver on it — or on its own
        listener when ``[webhooks] listen`` names another address (§8.2)."""
        obs, own = self.cfg.observability, self.cfg.webhooks
        app = httpd.make_app(self.metrics, self.probe.health, self.status)
        apart = (own.host, own.port) if own.host and own.port else None
        if apart is None or apart == (obs.host, obs.port):
            self.receiver.add_routes(app)
        runners = [await httpd.serve(app, obs.host, obs.port)]
        if apart is not None and apart != (obs.host, obs.port):
            hooks_app = web.Application()
            self.receiver.add_routes(hooks_app)
            try:
                runners.append(await httpd.serve(hooks_app, *apart, "[webhooks] listen"))
            except BaseException:
                await runners[0].cleanup()
                raise
            log.info("webhooks.listening", listen=f"{apart[0]}:{apart[1]}")
        return runners

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.warning("daemon.abort", signal=sig.name)
            os._exit(1)  # the open transaction, if any, rolls back: no half window
        log.info("daemon.stopping", signal=sig.name)
        self.notifier.stopping()
        self.scheduler.pause()
        self.stopping.set()


async def run(cfg: Config, notifier: Notifier | None = None) -> int:
    """Migrate, then serve until a signal; 0 on a clean stop."""
    notifier = notifier or Notifier()
    async with db.ready(cfg.warehouse) as dsn:
        return await Daemon(cfg, dsn, notifier).run()
