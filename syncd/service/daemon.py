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
from typing import Any

import asyncpg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from syncd.cli import commands
from syncd.config import Config, SourceConfig
from syncd.core.errors import SyncdError, WarehouseError
from syncd.core.results import Cycle
from syncd.core.statusdoc import ModuleDoc, SourceDoc, StatusDoc
from syncd.core.windows import Purpose
from syncd.engine import capacity
from syncd.engine.hosts import limiters_for
from syncd.kinds.registry import Syncer
from syncd.kinds.skybiz.push.sender import ModulePush
from syncd.kinds.skybiz.push.service import OutboxService
from syncd.service import httpd, leader, waits
from syncd.service import jobs as schedule
from syncd.service.membership import Membership, joined
from syncd.service.metrics import Metrics
from syncd.service.notify import Notifier
from syncd.warehouse import db

log = structlog.get_logger("syncd.daemon")


class SourceWorker:
    """Runs the scheduled passes of one source while its ``Leadership`` holds the lock."""

    def __init__(self, daemon: Daemon, source: SourceConfig) -> None:
        self.daemon, self.source = daemon, source
        self.leadership = leader.Leadership(daemon.dsn, source.name, daemon.membership,
                                            daemon.stopping)
        self.conn: asyncpg.Connection | None = None
        self.sync: Syncer | None = None
        self.passes: set[asyncio.Task[Any]] = set()
        self.status: SourceDoc | None = None
        self.lost = asyncio.Event()
        self.observer = daemon.metrics.client_observer(source.name)
        self.last_pass: dt.datetime | None = None

    @property
    def role(self) -> str:
        return self.leadership.role

    async def serve(self) -> None:
        """Lead the source whenever it is ours, until the daemon stops; after a lost
        warehouse (or an unexpected error: counted and logged), lead again."""
        while not self.daemon.stopping.is_set():
            try:
                async with self.leadership.held() as conn:
                    if conn is not None:
                        await self._lead(conn)
            except WarehouseError as exc:
                log.error("leader.lost", source=self.source.name, error=str(exc))
                await self._pause(leader.POLL_SECONDS)
            except Exception as exc:  # top of a job: counted and logged
                self._crashed("leader", exc)
                await self._pause(leader.POLL_SECONDS)

    def _syncer(self, conn: asyncpg.Connection) -> Syncer:
        """The source's syncer over the leader's connection (the one place it is built)."""
        syncer = self.source.source_kind.syncer()
        return syncer(self.source, conn, observer=self.observer,
                      limiter=self.daemon.limiters[self.source.name])

    async def _lead(self, conn: asyncpg.Connection) -> None:
        """Schedule the passes until the daemon stops, the share moves or the connection
        is lost; then stop them — a window being loaded commits or rolls back first."""
        self.conn, self.lost = conn, asyncio.Event()
        self.daemon.metrics.leader.labels(self.source.name).set(1)
        try:
            async with self._syncer(conn) as self.sync:
                self._schedule()
                pusher = asyncio.create_task(self._push_service().run()
                                             if self.source.source_kind.pushes
                                             else self.daemon.stopping.wait())
                await waits.first(self.daemon.stopping.wait(), self.lost.wait(),
                             self.leadership.moved())
                self._unschedule()
                pusher.cancel()  # a request in flight leaves its documents `sending`: safe
                await asyncio.gather(pusher, return_exceptions=True)
                await self._cancel_passes()
        finally:
            self.daemon.metrics.leader.labels(self.source.name).set(0)
            self.conn = None
        if self.lost.is_set():
            raise WarehouseError("the warehouse connection was lost; reconnecting")

    async def _pause(self, seconds: float) -> None:
        """Sleep unless the daemon stops first."""
        await waits.pause(self.daemon.stopping, seconds)

    def _crashed(self, job: str, exc: BaseException) -> None:
        """An exception nobody expected: count it and log it with its traceback."""
        self.daemon.metrics.job_errors.labels(self.source.name, job).inc()
        log.error("daemon.job_crashed", source=self.source.name, job=job,
                  error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    def _schedule(self) -> None:
        """Hand the source's jobs (``schedule.jobs``) to the scheduler."""
        now = dt.datetime.now(dt.UTC)
        for job in schedule.jobs(self.daemon.cfg.schedule, self.source.modules):
            func, args = ((self._deep, []) if not job.purposes else
                          (self._pass, [job.modules, job.purposes]))
            self.daemon.scheduler.add_job(
                func, "interval", seconds=job.every, args=args,
                id=f"{self.source.name}:{job.name}", max_instances=1, coalesce=True,
                misfire_grace_time=int(job.every) + 1,
                next_run_time=now + dt.timedelta(seconds=job.delay))

    def _push_service(self) -> OutboxService:
        """The source's outbox, pushed on every insert and every [schedule] push."""
        assert self.sync is not None
        assert self.sync.client is not None

        async def report(results: list[ModulePush]) -> None:
            for r in results:
                self.daemon.metrics.pushed_documents(self.source.name, r.module,
                                                     inserted=r.inserted, rejected=r.rejected,
                                                     invalid=r.invalid)
            if any(r.inserted or r.rejected or r.invalid for r in results):
                await self.refresh()

        return OutboxService(self.daemon.dsn, self.source.name, self.sync.client,
                             self.daemon.cfg.schedule.push_seconds, report)

    def _unschedule(self) -> None:
        for job in self.daemon.scheduler.get_jobs():
            if job.id.startswith(f"{self.source.name}:"):
                job.remove()

    async def _pass(self, modules: tuple[str, ...], purposes: frozenset[Purpose],
                    cycle: Cycle | None = None) -> None:
        task = asyncio.current_task()
        assert task is not None
        assert self.sync is not None
        self.passes.add(task)
        try:
            await self.sync.run(modules, self.daemon.metrics.progress(),
                                now=dt.datetime.now(dt.UTC), purposes=purposes, cycle=cycle)
            self.last_pass = dt.datetime.now(dt.UTC)
            await self.refresh()
        except Exception as exc:  # top of a job: a SyncdError is logged, anything else counted
            if isinstance(exc, SyncdError):
                log.error("sync.pass_failed", source=self.source.name,
                          purposes=sorted(p.value for p in purposes), error=str(exc))
            else:
                self._crashed("pass", exc)
            if self.conn is None or self.conn.is_closed():
                self.lost.set()  # reconnect and take the lock again
        except asyncio.CancelledError:
            # Only our own stop cancels a pass (_cancel_passes): its in-flight load was
            # shielded and committed or rolled back; nothing to report to the scheduler.
            log.info("sync.pass_stopped", source=self.source.name,
                     purposes=sorted(p.value for p in purposes))
        finally:
            self.passes.discard(task)

    async def _deep(self) -> None:
        """Nightly reread of documents, weekly reconcile of masters: what is due of them
        (``schedule.deep_passes``), at the limiter's lowest priority."""
        if self.status is None:
            return
        sched = self.daemon.cfg.schedule
        local = dt.datetime.now(dt.UTC).astimezone(self.source.zone)
        complete = {m["module"] for m in self.status["modules"] if m["backfill_complete"]}
        kinds = {m: self.source.module(m).kind for m in self.source.modules}
        for deep in schedule.deep_passes(sched, kinds, complete, local):
            await self._pass(deep.modules, frozenset({deep.purpose}),
                             Cycle(deep.start, sched.reread_days))

    async def refresh(self) -> None:
        """Re-read this source's status: gauges, the STATUS= line, /status.json."""
        assert self.conn is not None
        assert self.sync is not None
        now = dt.datetime.now(dt.UTC)
        async with self.sync.loader.turn():
            self.status = await commands.source_status(
                self.conn, self.source, now,
                host_capacity=self.daemon.capacity[self.source.name].to_json())
        for m in self.status["modules"]:
            high = dt.date.fromisoformat(m["high_watermark"]) if m["high_watermark"] else None
            self.daemon.metrics.set_state(self.source.name, m["module"], high=high,
                                          progress=m["backfill_progress"], now=now,
                                          zone=self.source.zone)
        self.daemon.notifier.status(self.daemon.summary())

    def page_status(self) -> SourceDoc:
        """This source's status with its role, span and last-hour request counts."""
        now = dt.datetime.now(dt.UTC)
        since, renewal = self.source.backfill_from, self.source.renewal_date
        doc: SourceDoc = SourceDoc(**(self.status or SourceDoc(
            name=self.source.name, kind=self.source.kind, modules=[], renewal_date=None,
            leader=None, outbox={}, capacity=None)))
        doc["role"] = self.role
        doc["leader"] = self.daemon.membership.leader_names.get(self.source.name)
        doc["backfill_from"] = since.isoformat() if since else None
        doc["today"] = self.source.today(now).isoformat()
        doc["renewal_date"] = renewal.isoformat() if renewal else None
        modules: list[ModuleDoc] = []
        for m in doc["modules"]:
            requests, limited = self.observer.last_hour(m["module"])
            modules.append(ModuleDoc(**m, requests_last_hour=requests,
                                     rate_limited_last_hour=limited))
        doc["modules"] = modules
        return doc

    async def _cancel_passes(self) -> None:
        for task in self.passes:
            task.cancel()
        await asyncio.gather(*self.passes, return_exceptions=True)


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
        obs = cfg.observability
        self.membership = Membership(dsn, [s.name for s in cfg.sources],
                                     f"{obs.host}:{obs.port}", self._membership_error)
        self.workers = [SourceWorker(self, s) for s in cfg.sources]
        for s in cfg.sources:
            if s.renewal_date is not None:
                self.metrics.set_credential_expiry(s.name, s.renewal_date, s.zone)

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

    async def health(self) -> str | None:
        try:
            async with db.connection(self.dsn, timeout=3) as conn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), 3)
        except WarehouseError as exc:
            return str(exc)
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            return f"the warehouse does not answer ({type(exc).__name__})"
        return None

    async def status(self) -> StatusDoc:
        """/status.json: the ``status --json`` document plus what the status page shows."""
        return {"sources": [w.page_status() for w in self.workers]}

    async def run(self) -> int:
        runner = await httpd.serve(httpd.make_app(self.metrics, self.health, self.status),
                                   self.cfg.observability.host, self.cfg.observability.port)
        self._install_signals()
        watchdog = asyncio.create_task(self.notifier.watchdog())
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
            await runner.cleanup()
        log.info("daemon.stopped")
        return 0

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
    async with commands.warehouse(cfg) as dsn:
        return await Daemon(cfg, dsn, notifier).run()
