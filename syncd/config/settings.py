"""The configuration as frozen, validated objects (CONTRACT §2): what every source, the
warehouse, the schedule, the listeners and the alerts are; read from TOML by ``reader``."""


from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from syncd.core import model
from syncd.core.cycles import Boundary
from syncd.core.errors import ConfigError
from syncd.credentials.lookup import Credentials, Secret
from syncd.kinds import registry as kinds

DEFAULT_CONFIG = "syncd.toml"
NIGHTLY = Boundary(3, 0)  # reread of recent documents, every day at 03:00 (source time)
WEEKLY = Boundary(4, 0, weekday=6)  # reconcile of masters, Sundays at 04:00
MASTERS_FROM = dt.date(2000, 1, 1)  # masters (read by a modified date) walk back to here


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` starts in any window of ``per_seconds`` (+ a jitter margin)."""

    requests: int = 5
    per_seconds: float = 10.0
    margin_seconds: float = 0.2

    @property
    def seconds_per_request(self) -> float:
        """The limiter's steady pace: ``requests`` starts per ``per_seconds + margin``."""
        return (self.per_seconds + self.margin_seconds) / self.requests


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One API source: where it is, its calendar, what to read and how fast."""

    name: str
    kind: str
    base_url: str
    timezone: str
    backfill_from: dt.date | None  # windowed kinds only (SKYBIZ)
    modules: tuple[str, ...]
    rate_limit: RateLimit = RateLimit()
    masters_from: dt.date = MASTERS_FROM  # windowed kinds: where masters' backfill stops
    ca_file: Path | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    lookback_days: Mapping[str, int] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    max_answer_mb: int = 1024  # an answer larger than this is refused before it is read
    request_timeout: float = 600.0  # the most one request (connect to last byte) may take
    credentials: Credentials | None = None
    register_url: str | None = None  # where `syncd register` posts (the docs name none)
    renewal_date: dt.date | None = None  # stored by `syncd register`, when the API gave one
    page_size: int = 100  # paged kinds (CloudOnex): records asked per page
    full_read_seconds: float = 6 * 3600.0  # paged kinds: [schedule] full_read, how often a
    #                                        resource is read completely at least
    freshness: Mapping[str, float] = field(default_factory=dict)  # module → target seconds
    #                                  ([sources.X.freshness]; every module, defaults filled)
    auth: str = "bearer"  # CloudOnex: "query" sends ?api_key= (servers dropping the header)

    @property
    def source_kind(self) -> kinds.SourceKind:
        return kinds.get(self.kind)

    def module(self, name: str) -> model.Module:
        """One of this source's kind's modules."""
        return self.source_kind.module(name)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: dt.datetime) -> dt.date:
        """The source's calendar date at the aware instant ``now``."""
        return now.astimezone(self.zone).date()

    def local_iso(self, at: dt.datetime | None) -> str | None:
        """An instant as the status document shows it: in the source's zone, to the second."""
        return at.astimezone(self.zone).replace(microsecond=0).isoformat() if at else None

    def endpoint_url(self, module: str) -> str:
        path = self.endpoints.get(module) or self.module(module).endpoint
        return f"{self.base_url}/{path.lstrip('/')}"

    def backfill_floor(self, module: str) -> dt.date | None:
        """The first day a windowed module's backfill reads back to: ``masters_from`` for
        masters (a customer last edited years ago is still a customer), ``backfill_from``
        for documents; None for a kind without windows."""
        if self.backfill_from is None:
            return None
        if self.module(module).kind is model.ModuleKind.MASTER:
            return self.masters_from
        return self.backfill_from

    def lookback(self, module: str) -> int:
        return self.lookback_days.get(module, self.module(module).lookback_days)

    def freshness_target(self, module: str, default: float = 300.0) -> float:
        """How old ``module``'s data may be, in seconds (§11)."""
        return self.freshness.get(module, default)


@dataclass(frozen=True, slots=True)
class WarehouseConfig:
    """Where the warehouse is: a DSN, or an embedded PostgreSQL under ``data_dir``."""

    dsn: Secret | None
    data_dir: Path


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """When ``syncd run`` reads: incremental passes, nightly re-reads, weekly reconciles."""

    interval_seconds: float = 300.0
    module_intervals: Mapping[str, float] = field(default_factory=dict)
    reread: Boundary | None = NIGHTLY
    reread_days: int = 62
    reconcile: Boundary | None = WEEKLY
    push_seconds: float = 60.0  # `syncd run` sends the outbox this often (and on every insert)

    def interval(self, module: str) -> float:
        return self.module_intervals.get(module, self.interval_seconds)


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    host: str = "127.0.0.1"
    port: int = 9108
    log_format: str = "json"


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    """Where ``syncd run`` serves CloudOnex webhooks (§8.2); no host: the observability
    listener."""

    host: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if (self.host is None) != (self.port is None):
            raise ValueError("a webhooks listener needs both a host and a port, or neither")


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Where alerts go (§11): webhook URLs (secrets: a Slack URL is its own token) and
    how many failed passes in a row make a module "failing"."""

    webhooks: tuple[Secret, ...] = ()
    after_failed_passes: int = 3

    def __post_init__(self) -> None:
        if self.after_failed_passes < 1:
            raise ValueError("after_failed_passes must be at least 1")


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    warehouse: WarehouseConfig
    sources: tuple[SourceConfig, ...]
    schedule: ScheduleConfig = ScheduleConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    alerts: AlertsConfig = AlertsConfig()
    webhooks: WebhooksConfig = WebhooksConfig()

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"{self.path}: there is no source {name!r} (configured: {known}).")


