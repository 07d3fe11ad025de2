"""The configuration as frozen, validated objects (CONTRACT §2): what every source, the
warehouse, the schedule, the listeners and the alerts are; read from TOML by ``reader``."""


from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from syncd.core import model
from syncd.core.cycles import Boundary
from syncd.core.errors import ConfigError
from syncd.credentials.lookup import Credentials, Secret
from syncd.kinds import registry as kinds
from syncd.kinds.options import CloudonexOptions, KindOptions, SkybizOptions

DEFAULT_CONFIG = "syncd.toml"
NIGHTLY = Boundary(3, 0)  # reread of recent documents, every day at 03:00 (source time)
WEEKLY = Boundary(4, 0, weekday=6)  # reconcile of masters, Sundays at 04:00
_O = TypeVar("_O", SkybizOptions, CloudonexOptions)


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
    modules: tuple[str, ...]
    options: KindOptions  # the kind's own settings (its ``SourceKind.options`` class)
    rate_limit: RateLimit = RateLimit()
    ca_file: Path | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    lookback_days: Mapping[str, int] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    max_answer_mb: int = 1024  # an answer larger than this is refused before it is read
    request_timeout: float = 600.0  # the most one request (connect to last byte) may take
    credentials: Credentials | None = None
    freshness: Mapping[str, float] = field(default_factory=dict)  # module → target seconds
    #                                  ([sources.X.freshness]; every module, defaults filled)

    def __post_init__(self) -> None:
        wanted = kinds.get(self.kind).options
        if not isinstance(self.options, wanted):
            raise ValueError(f"source {self.name} is of kind {self.kind}: its options must be "
                             f"{wanted.__name__}, not {type(self.options).__name__}")

    def options_of(self, cls: type[_O]) -> _O:
        """The options as the kind's own class (kind code reads its settings so)."""
        if not isinstance(self.options, cls):
            raise TypeError(f"source {self.name} (kind {self.kind}) has no {cls.__name__}")
        return self.options

    # Read-only views of the options the kind-neutral code (status, capacity, the
    # daemon) reads; their defaults live in the options classes only.
    @property
    def backfill_from(self) -> dt.date | None:
        """Where a windowed kind's documents backfill from; None for a kind without windows."""
        o = self.options
        return o.backfill_from if isinstance(o, SkybizOptions) else None

    @property
    def masters_from(self) -> dt.date | None:
        """Where a windowed kind's masters backfill from; None for a kind without windows."""
        o = self.options
        return o.masters_from if isinstance(o, SkybizOptions) else None

    @property
    def renewal_date(self) -> dt.date | None:
        """When the key must be renewed, if `syncd register` stored it."""
        o = self.options
        return o.renewal_date if isinstance(o, SkybizOptions) else None

    @property
    def auth(self) -> str | None:
        """How a CloudOnex source sends its key ("bearer" or "query"); None for others."""
        o = self.options
        return o.auth if isinstance(o, CloudonexOptions) else None

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
        o = self.options
        if not isinstance(o, SkybizOptions):
            return None
        if self.module(module).kind is model.ModuleKind.MASTER:
            return o.masters_from
        return o.backfill_from

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


