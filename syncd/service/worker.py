"""One source under ``syncd run``: lead it while its share is this instance's, schedule its
passes (fresh, backfill, deep), serve its pusher and webhook hints, and keep its status,
gauges and alerts current — everything per source that the daemon runs once per source."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, Protocol

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from syncd.config import Config, SourceConfig
from syncd.core import alerting
from syncd.core.errors import SyncdError, WarehouseError
from syncd.core.results import Cycle
from syncd.core.statusdoc import ModuleDoc, SourceDoc
from syncd.core.windows import Purpose
from syncd.engine import capacity
from syncd.engine.limiter import RateLimiter
from syncd.engine.outbox.writer import ModulePush
from syncd.engine.syncer import Syncer, open_syncer
from syncd.service import jobs as schedule
from syncd.service import leader, status, waits
from syncd.service.alerts import Alerter, Snapshot
from syncd.service.health import WarehouseProbe
from syncd.service.membership import Membership
from syncd.service.metrics import Metrics
from syncd.service.notify import Notifier
from syncd.service.pusher import OutboxService
from syncd.warehouse import db, hooks
from syncd.warehouse import freshness as reads

log = structlog.get_logger("syncd.daemon")


class Host(Protocol):
    """What a worker uses of the daemon that runs it."""

    cfg: Config
    dsn: str
    notifier: Notifier
    metrics: Metrics
    scheduler: AsyncIOScheduler
    stopping: asyncio.Event
    limiters: dict[str, RateLimiter]
    capacity: dict[str, capacity.Capacity]
    alerter: Alerter
    membership: Membership
    probe: WarehouseProbe
    host_alerts: dict[str, str]
    host_warnings: dict[str, str | None]

    def summary(self) -> str: ...


class SourceWorker:
    """Runs the scheduled passes of one source while its ``Leadership`` holds the lock."""

    def __init__(self, daemon: Host, source: SourceConfig) -> None:
        self.daemon, self.source = daemon, source
        self.leadership = leader.Leadership(daemon.dsn, source.name, daemon.membership,
                                            daemon.stopping)
        self.conn: db.Connection | None = None
        self.sync: Syncer[Any] | None = None
        self.passes: set[asyncio.Task[Any]] = set()
        self.status: SourceDoc | None = None
        self.lost = asyncio.Event()
        self.observer = daemon.metrics.client_observer(source.name)
        self.last_pass: dt.datetime | None = None
        self.targets = {m: source.freshness_target(m, daemon.cfg.schedule.interval(m))
                        for m in source.modules}
        self.plan = schedule.FreshPlan.of(self.targets)
        self.read_starts: dict[str, float] = {}  # module → wall-clock start of its last read
        self.fresh_task: asyncio.Task[None] | None = None
        self.failed_in_a_row: dict[str, int] = {}  # modules with a pass since start

    @property
    def role(self) -> str:
        return self.leadership.role

    async def serve(self) -> None:
        """Lead the source whenever it is ours, until the daemon stops; after a lost
        warehouse (with backoff: ``waits.RECONNECT``) or an unexpected error (counted and
        logged), lead again."""
        retries = waits.Retries(self.daemon.stopping)
        while not self.daemon.stopping.is_set():
            try:
                async with self.leadership.held() as conn:
                    if conn is not None:
                        retries.succeeded()
                        await self._lead(conn)
            except WarehouseError as exc:
                delay = retries.delay()
                if retries.failures == 1:
                    log.error("leader.lost", source=self.source.name, error=str(exc))
                else:
                    log.info("leader.reconnect_failed", source=self.source.name,
                             attempt=retries.failures, retry_in=round(delay, 1),
                             error=str(exc))
                await retries.pause(delay)
            except Exception as exc:  # top of a job: counted and logged
                self._crashed("leader", exc)
                await self._pause(leader.POLL_SECONDS)

    def _syncer(self, conn: db.Connection) -> Syncer[Any]:
        """The source's syncer over the leader's connection (the one place it is built)."""
        return open_syncer(self.source, conn, observer=self.observer,
                           limiter=self.daemon.limiters[self.source.name])

    async def _lead(self, conn: db.Connection) -> None:
        """Schedule the passes until the daemon stops, the share moves or the connection
        is lost; then stop them — a window being loaded commits or rolls back first."""
        self.conn, self.lost = conn, asyncio.Event()
        # The lock went with the connection: stop at once, not at the next statement.
        db.on_lost(conn, self.lost.set)
        self.daemon.metrics.leader.labels(self.source.name).set(1)
        try:
            async with self._syncer(conn) as self.sync:
                await self._start_plan()
                self._schedule()
                pusher = asyncio.create_task(self._push_service().run()
                                             if self.source.source_kind.pushes
                                             else self.daemon.stopping.wait())
                await waits.first(self.daemon.stopping.wait(), self.lost.wait(),
                             self.leadership.moved())
                if self.daemon.probe.reason is not None:
                    db.abort(conn)  # unconfirmed: no load may hang on a silent socket
                self._unschedule()
                pusher.cancel()  # a request in flight leaves its documents `sending`: safe
                await asyncio.gather(pusher, return_exceptions=True)
                await self._cancel_passes()
        finally:
            self.daemon.metrics.leader.labels(self.source.name).set(0)
            self.daemon.alerter.forget(self.source.name)  # only a leader alerts for it
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

    async def _start_plan(self) -> None:
        """Record the targets, and start the plan from the warehouse's newest reads: a
        restart or a takeover does not read every module again at once."""
        assert self.conn is not None
        assert self.sync is not None
        async with self.sync.loader.turn():
            await reads.save_targets(self.conn, self.source.name, self.targets)
        await self.refresh()
        ages = {m["module"]: m.get("age_seconds") for m in (self.status or {"modules": []})[
            "modules"]}
        self.read_starts = schedule.last_reads(ages, time.time())

    async def _fresh(self) -> None:
        """The fresh tick: start a pass of the modules the plan says are due (one fresh
        pass at a time per source; the tick itself never waits)."""
        if self.fresh_task is not None and not self.fresh_task.done():
            return
        now = time.time()
        due = self.plan.due(self.read_starts, now)
        if due:
            self.read_starts.update(dict.fromkeys(due, now))
            self.fresh_task = asyncio.create_task(
                self._pass(due, frozenset({Purpose.FRESH})))

    def _schedule(self) -> None:
        """Hand the source's jobs (``schedule.jobs``) to the scheduler."""
        now = dt.datetime.now(dt.UTC)
        for job in schedule.jobs(self.daemon.cfg.schedule, self.source.modules, self.targets):
            func, args = ((self._deep, []) if not job.purposes else
                          (self._fresh, []) if Purpose.FRESH in job.purposes else
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

        writer = self.source.source_kind.writer()(self.source, self.sync.client)
        return OutboxService(self.daemon.dsn, self.source.name, writer,
                             self.daemon.cfg.schedule.push_seconds, report)

    def hint_reader(self) -> Any:
        """The kind's webhook hint reader over the leader's syncer (None: not leading)."""
        if self.sync is None or self.conn is None:
            return None
        return self.source.source_kind.hints()(self.sync)

    async def heard(self, at: dt.datetime) -> None:
        """A webhook for this source arrived (``status`` shows last_webhook_at)."""
        if self.sync is not None and self.conn is not None:
            async with self.sync.loader.turn():
                await hooks.heard(self.conn, self.source.name, at)

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
            runs = await self.sync.run(modules, self.daemon.metrics.progress(),
                                       now=dt.datetime.now(dt.UTC), purposes=purposes,
                                       cycle=cycle)
            self.failed_in_a_row = alerting.counted(
                self.failed_in_a_row, {r.module: r.error is not None for r in runs})
            self.last_pass = dt.datetime.now(dt.UTC)
            await self.refresh()
        except Exception as exc:  # top of a job: a SyncdError is logged, anything else counted
            if isinstance(exc, SyncdError):
                log.error("sync.pass_failed", source=self.source.name,
                          purposes=sorted(p.value for p in purposes), error=str(exc))
            else:
                self._crashed("pass", exc)
            if self.conn is None or not db.is_open(self.conn):
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
        (``schedule.deep_passes``), at the limiter's lowest priority. A stop, a lost
        connection or a moved share ends it: the pass it cancelled has no successor."""
        conn = self.conn
        if self.status is None or conn is None:
            return
        sched = self.daemon.cfg.schedule
        local = dt.datetime.now(dt.UTC).astimezone(self.source.zone)
        complete = {m["module"] for m in self.status["modules"] if m["backfill_complete"]}
        kinds = {m: self.source.module(m).kind for m in self.source.modules}
        for deep in schedule.deep_passes(sched, kinds, complete, local):
            if self.daemon.stopping.is_set() or self.lost.is_set() or self.conn is not conn:
                return
            await self._pass(deep.modules, frozenset({deep.purpose}),
                             Cycle(deep.start, sched.reread_days))

    async def refresh(self) -> None:
        """Re-read this source's status: gauges, the STATUS= line, /status.json. Without a
        warehouse (not leading, or the connection lost) the last status stays."""
        conn, sync = self.conn, self.sync
        if conn is None or sync is None or not db.is_open(conn):
            return
        now = dt.datetime.now(dt.UTC)
        try:
            async with sync.loader.turn():
                self.status = await status.source_document(
                    conn, self.source, now,
                    host_capacity=self.daemon.capacity[self.source.name].to_json())
        except WarehouseError as exc:
            log.warning("status.refresh_failed", source=self.source.name, error=str(exc))
            if not db.is_open(conn):
                self.lost.set()
            return
        for m in self.status["modules"]:
            high = dt.date.fromisoformat(m["high_watermark"]) if m["high_watermark"] else None
            self.daemon.metrics.set_state(self.source.name, m["module"], high=high,
                                          progress=m["backfill_progress"], now=now,
                                          zone=self.source.zone)
        self._observe(now)
        self.daemon.notifier.status(self.daemon.summary())

    def _observe(self, now: dt.datetime) -> None:
        """Hand the status to the gauges and the alerts (no I/O: never slows the pass)."""
        assert self.status is not None
        metrics, name = self.daemon.metrics, self.source.name
        for m in self.status["modules"]:
            metrics.set_freshness(name, m, now, self.failed_in_a_row.get(m["module"]))
        metrics.set_outbox(name, self.status["outbox"])
        doc = SourceDoc(**self.status)
        doc["today"] = self.source.today(now).isoformat()
        host = self.daemon.host_alerts.get(name)
        self.daemon.alerter.observe(Snapshot(
            doc, dict(self.failed_in_a_row), asyncio.get_running_loop().time(), host,
            self.daemon.host_warnings.get(host) if host else None))

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
        doc["timezone"] = self.source.timezone
        doc["renewal_date"] = renewal.isoformat() if renewal else None
        modules: list[ModuleDoc] = []
        for m in doc["modules"]:
            requests, limited = self.observer.last_hour(m["module"])
            modules.append(ModuleDoc(**m, requests_last_hour=requests,
                                     rate_limited_last_hour=limited))
        doc["modules"] = modules
        return doc

    async def _cancel_passes(self) -> None:
        tasks = {*self.passes, *([self.fresh_task] if self.fresh_task else [])}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


