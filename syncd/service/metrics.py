"""Prometheus metrics of a running daemon, fed by the client and by each committed window;
the same feed keeps the status page's last hours (``syncd.core.history``)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from syncd.core.history import Counts, History
from syncd.core.results import LoadResult, ModuleRun
from syncd.core.statusdoc import ModuleDoc
from syncd.engine.progress import LogProgress

_WINDOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Every syncd metric, in one registry of its own, and what each module did lately:
    ``recent`` (10-second buckets, the last 10 minutes: a daemon just started) and
    ``history`` (5-minute buckets, the last 6 hours), on the wall clock ``clock`` — the
    buckets are drawn as times of day."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.recent, self.history = History(10, 60), History()
        r = self.registry = CollectorRegistry()
        sm = ["source", "module"]
        self.requests = Counter("syncd_api_requests", "API requests by HTTP status (0: no "
                                "answer)", [*sm, "status"], registry=r)
        self.rate_limited = Counter("syncd_api_rate_limited", "429 answers", sm, registry=r)
        self.retries = Counter("syncd_api_retries", "Requests retried", sm, registry=r)
        self.limiter_wait = Counter("syncd_limiter_wait_seconds", "Time requests queued in "
                                    "the source's rate limiter", ["source"], registry=r)
        self.rows = Counter("syncd_rows_upserted", "Rows inserted or changed", sm, registry=r)
        self.deleted = Counter("syncd_rows_deleted", "Rows newly marked deleted", sm,
                               registry=r)
        self.windows = Counter("syncd_windows_committed", "Windows committed", sm, registry=r)
        self.window_seconds = Histogram("syncd_window_duration_seconds", "Fetch + load time "
                                        "of a window", sm, buckets=_WINDOW_BUCKETS, registry=r)
        self.module_errors = Counter("syncd_module_errors", "Module passes that failed",
                                     [*sm, "error"], registry=r)
        self.lag = Gauge("syncd_watermark_lag_seconds", "Seconds since the end of the high "
                         "watermark day", sm, registry=r)
        self.backfill = Gauge("syncd_backfill_progress_ratio", "Share of the backfill span "
                              "loaded", sm, registry=r)
        self.leader = Gauge("syncd_leader", "1 while this instance syncs the source",
                            ["source"], registry=r)
        self.job_errors = Counter("syncd_job_errors", "Unexpected exceptions at the top of a "
                                  "job (a bug: see the log's traceback)", ["source", "job"],
                                  registry=r)
        self.credential_expiry = Gauge(
            "syncd_credential_expiry_timestamp_seconds", "When the source's API key stops "
            "working: the end of its renewal date, source time", ["source"], registry=r)
        self.pushed = Counter("syncd_push_documents", "Outbox documents decided by a push, "
                              "by final state", ["source", "module", "state"], registry=r)
        self._freshness_metrics(r, sm)

    def _freshness_metrics(self, r: CollectorRegistry, sm: list[str]) -> None:
        """§11: what the Prometheus rules in contrib/prometheus alert on."""
        self.target = Gauge("syncd_freshness_target_seconds", "How old the module's data may "
                            "be ([sources.X.freshness])", sm, registry=r)
        self.last_read = Gauge("syncd_last_read_timestamp_seconds", "When the module's newest "
                               "committed read was (age = time() - this)", sm, registry=r)
        self.failed_passes = Gauge("syncd_module_failed_passes", "Passes in a row that failed "
                                   "(0 after a pass that succeeded)", sm, registry=r)
        self.outbox = Gauge("syncd_outbox_documents", "Outbox documents by state",
                            [*sm, "state"], registry=r)
        self.new_fields = Gauge("syncd_new_fields", "Fields the API sent that syncd does not "
                                "know (kept in _raw)", sm, registry=r)
        self.capacity_load = Gauge("syncd_capacity_load_ratio", "Fresh requests per second "
                                   "the targets need / what the host's rate allows",
                                   ["host"], registry=r)
        self.targets_unmet = Gauge("syncd_freshness_targets_unmet", "Modules whose target the "
                                   "host's rate cannot meet", ["host"], registry=r)
        self.alerts_open = Gauge("syncd_alerts_open", "Alerts open now (all instances)",
                                 ["condition"], registry=r)
        self.alert_deliveries = Counter("syncd_alert_deliveries", "Alert messages POSTed, by "
                                        "endpoint host and result", ["endpoint", "result"],
                                        registry=r)

    def set_freshness(self, source: str, m: ModuleDoc, now: dt.datetime,
                      failed_in_a_row: int | None) -> None:
        """The §11 gauges of one module from its status."""
        labels = (source, m["module"])
        if "freshness_target" in m:
            self.target.labels(*labels).set(m["freshness_target"])
        if (age := m.get("age_seconds")) is not None:
            self.last_read.labels(*labels).set(now.timestamp() - age)
        if failed_in_a_row is not None:
            self.failed_passes.labels(*labels).set(failed_in_a_row)
        self.new_fields.labels(*labels).set(len(m["new_fields"]))

    def set_outbox(self, source: str, outbox: dict[str, dict[str, int]]) -> None:
        for module, states in outbox.items():
            for state, n in states.items():
                self.outbox.labels(source, module, state).set(n)

    def pushed_documents(self, source: str, module: str, **states: int) -> None:
        """Count documents a push decided: inserted=, rejected=, invalid=."""
        for state, n in states.items():
            if n:
                self.pushed.labels(source, module, state).inc(n)

    def count(self, source: str, module: str, counts: Counts) -> None:
        """Keep ``counts`` in both histories, at the clock's now."""
        now = self.clock()
        self.recent.add(source, module, now, counts)
        self.history.add(source, module, now, counts)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def client_observer(self, source: str) -> ClientMetrics:
        return ClientMetrics(self, source)

    def progress(self) -> MetricsProgress:
        return MetricsProgress(self)

    def set_credential_expiry(self, source: str, renewal: dt.date, zone: dt.tzinfo) -> None:
        """The key works through its renewal date; the server refuses it the day after."""
        end = dt.datetime.combine(renewal + dt.timedelta(days=1), dt.time(), zone)
        self.credential_expiry.labels(source).set(end.timestamp())

    def set_state(self, source: str, module: str, *, high: dt.date | None, progress: float,
                  now: dt.datetime, zone: dt.tzinfo) -> None:
        """Lag and backfill gauges from a module's status."""
        if high is not None:
            end = dt.datetime.combine(high + dt.timedelta(days=1), dt.time(), zone)
            self.lag.labels(source, module).set(max(0.0, (now - end).total_seconds()))
        self.backfill.labels(source, module).set(progress)


class ClientMetrics:
    """What the HTTP client reports, labelled with its source (and kept in the history)."""

    def __init__(self, metrics: Metrics, source: str) -> None:
        self.m, self.source = metrics, source

    def response(self, module: str, status: int) -> None:
        self.m.requests.labels(self.source, module, str(status)).inc()
        if status == 429:
            self.m.rate_limited.labels(self.source, module).inc()
        self.m.count(self.source, module, Counts(requests=1, rate_limited=int(status == 429)))

    def last_hour(self, module: str) -> tuple[int, int]:
        """Requests and 429 answers of ``module`` in the last hour (12 five-minute buckets,
        the current one included)."""
        counts = self.m.history.series(self.source, module, self.m.clock()).last(3600)
        return counts.requests, counts.rate_limited

    def retry(self, module: str) -> None:
        self.m.retries.labels(self.source, module).inc()

    def waited(self, seconds: float) -> None:
        self.m.limiter_wait.labels(self.source).inc(seconds)


class MetricsProgress(LogProgress):
    """Log lines as usual, plus counters for every committed window."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def window_done(self, run: ModuleRun, result: LoadResult) -> None:
        super().window_done(run, result)
        labels = (run.source, run.module)
        self.m.windows.labels(*labels).inc()
        self.m.rows.labels(*labels).inc(result.upserted + result.lines)
        self.m.deleted.labels(*labels).inc(result.deleted)
        self.m.window_seconds.labels(*labels).observe(result.seconds)
        self.m.count(*labels, Counts(rows=result.upserted + result.lines))

    def finished(self, run: ModuleRun) -> None:
        super().finished(run)
        if run.error is not None:
            self.m.module_errors.labels(run.source, run.module, type(run.error).__name__).inc()
