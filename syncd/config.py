"""The TOML configuration (CONTRACT §2), loaded once into frozen, validated objects.

Every error is a ConfigError naming the file and the key, in one sentence that says
what to fix. Credentials are resolved here too, but only for commands that call the API.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.core import model
from syncd.core.cycles import Boundary
from syncd.core.errors import ConfigError
from syncd.credentials.lookup import Credentials, Secret, load_credentials, load_renewal
from syncd.kinds import registry as kinds

DEFAULT_CONFIG = "syncd.toml"
NIGHTLY = Boundary(3, 0)  # reread of recent documents, every day at 03:00 (source time)
WEEKLY = Boundary(4, 0, weekday=6)  # reconcile of masters, Sundays at 04:00


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
    ca_file: Path | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    lookback_days: Mapping[str, int] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    credentials: Credentials | None = None
    register_url: str | None = None  # where `syncd register` posts (the docs name none)
    renewal_date: dt.date | None = None  # stored by `syncd register`, when the API gave one
    page_size: int = 100  # paged kinds (CloudOnex): records asked per page
    full_read_seconds: float = 6 * 3600.0  # paged kinds: [schedule] full_read, how often a
    #                                        resource is read completely at least
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

    def endpoint_url(self, module: str) -> str:
        path = self.endpoints.get(module) or self.module(module).endpoint
        return f"{self.base_url}/{path.lstrip('/')}"

    def lookback(self, module: str) -> int:
        return self.lookback_days.get(module, self.module(module).lookback_days)


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
class Config:
    path: Path
    warehouse: WarehouseConfig
    sources: tuple[SourceConfig, ...]
    schedule: ScheduleConfig = ScheduleConfig()
    observability: ObservabilityConfig = ObservabilityConfig()

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"{self.path}: there is no source {name!r} (configured: {known}).")


def default_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("SYNCD_CONFIG") or DEFAULT_CONFIG)


def load(
    path: Path, env: Mapping[str, str] | None = None, *, need_credentials: bool = False
) -> Config:
    """Read and validate ``path``; with ``need_credentials`` also resolve every source's."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file; copy config.example.toml there or pass --config."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax.") from None
    return _Parser(path, env, need_credentials).config(raw)


class _Parser:
    """Walks the TOML tables; each method validates one table."""

    def __init__(self, path: Path, env: Mapping[str, str], need_credentials: bool) -> None:
        self.path, self.env, self.need_credentials = path, env, need_credentials
        self.data_dir: Path | None = None
        self.full_read = 6 * 3600.0

    def fail(self, where: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {what}")

    def table(self, raw: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table.")
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            raise self.fail(
                where, f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}."
            )
        return raw

    def config(self, raw: dict[str, Any]) -> Config:
        top = self.table(raw, "top level", ("warehouse", "sources", "schedule", "observability"))
        sources_raw = self.table(top.get("sources", {}), "[sources]", tuple(top.get("sources", {})))
        if not sources_raw:
            raise self.fail("[sources]", "no source configured; add a [sources.<name>] table.")
        warehouse = self.warehouse(top.get("warehouse", {}))
        self.data_dir = warehouse.data_dir  # the last place credentials are looked up
        schedule = self.schedule(top.get("schedule", {}))
        # [schedule] full_read is a setting of each paged source: it lives there only.
        self.full_read = parse_duration(top.get("schedule", {}).get("full_read", "6h"), self,
                                        "[schedule] full_read", zero=True)
        return Config(
            path=self.path,
            warehouse=warehouse,
            sources=tuple(self.source(n, v) for n, v in sources_raw.items()),
            schedule=schedule,
            observability=self.observability(top.get("observability", {})),
        )

    def warehouse(self, raw: Any) -> WarehouseConfig:
        t = self.table(raw, "[warehouse]", ("dsn", "data_dir"))
        dsn = t.get("dsn")
        if dsn is not None and not (isinstance(dsn, str) and dsn.startswith(("postgres://",
                                                                            "postgresql://"))):
            raise self.fail("[warehouse] dsn", "must be a postgresql:// URL.")
        data_dir = t.get("data_dir")
        if data_dir is not None and not isinstance(data_dir, str):
            raise self.fail("[warehouse] data_dir", "must be a path string.")
        state = self.env.get("STATE_DIRECTORY", "").split(":")[0]
        default_dir = Path(state) if state else Path.home() / ".local/share/syncd"
        return WarehouseConfig(
            dsn=Secret(dsn) if dsn else None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_dir,
        )

    def source(self, name: str, raw: Any) -> SourceConfig:
        where = f"[sources.{name}]"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise self.fail(where, "a source name must be letters, digits and _, "
                            "starting with a letter.")
        kind_name = raw.get("kind", "skybiz") if isinstance(raw, dict) else "skybiz"
        try:
            kind = kinds.get(str(kind_name))
        except KeyError as exc:
            raise self.fail(f"{where} kind", f"{exc.args[0]}.") from None
        others = {k for other in kinds.KINDS.values() for k in other.config_keys}
        for key in sorted(others - set(kind.config_keys)):
            if key in raw:
                raise self.fail(f"{where} {key}", f"does not apply to kind = \"{kind.name}\"; "
                                "remove it.")
        t = self.table(raw, where, (
            "kind", "base_url", "timezone", "modules", "ca_file", "rate_limit",
            "connect_timeout", "read_timeout", *kind.config_keys))
        modules = self.modules(t.get("modules"), f"{where} modules", kind)
        return SourceConfig(
            name=name,
            kind=kind.name,
            base_url=self.base_url(t.get("base_url"), f"{where} base_url", kind.url_hint),
            timezone=self.timezone(t.get("timezone", "Asia/Kuala_Lumpur"), f"{where} timezone"),
            backfill_from=(self.date(t.get("backfill_from"), f"{where} backfill_from")
                           if kind.windowed else None),
            modules=modules,
            rate_limit=self.rate_limit(t.get("rate_limit", {}), f"[sources.{name}.rate_limit]",
                                       kind.default_rate),
            ca_file=self.ca_file(t.get("ca_file"), f"{where} ca_file"),
            endpoints=self.per_module(t.get("endpoints", {}), f"[sources.{name}.endpoints]", str,
                                      kind.names),
            lookback_days=self.per_module(
                t.get("lookback_days", {}), f"[sources.{name}.lookback_days]", int, kind.names),
            connect_timeout=self.positive(t.get("connect_timeout", 10.0),
                                          f"{where} connect_timeout"),
            read_timeout=self.positive(t.get("read_timeout", 300.0), f"{where} read_timeout"),
            credentials=(load_credentials(name, self.env, self.data_dir, kind.credentials)
                         if self.need_credentials else None),
            register_url=self.register_url(t.get("register_url"), f"{where} register_url",
                                           kind.url_hint),
            renewal_date=load_renewal(name, self.env, self.data_dir),
            page_size=self.page_size(t.get("page_size", 100), f"{where} page_size"),
            full_read_seconds=self.full_read,
            auth=self.auth(t.get("auth", "bearer"), f"{where} auth"),
        )

    def auth(self, value: Any, where: str) -> str:
        if value not in ("bearer", "query"):
            raise self.fail(where, 'must be "bearer" (the Authorization header, the default) '
                            'or "query" (?api_key=, for servers that drop the header).')
        return str(value)

    def page_size(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise self.fail(where, "must be a whole number from 1 to 1000.")
        return value

    def register_url(self, value: Any, where: str, hint: str) -> str | None:
        return None if value is None else self.base_url(value, where, hint)

    def base_url(self, value: Any, where: str, hint: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"is required, e.g. \"{hint}\".")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(where, f"{value!r} is not an http(s) URL.")
        if parts.username or parts.password:
            raise self.fail(where, "must not contain credentials; use SYNCD_<SOURCE>_API_KEY.")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise self.fail(where, "plain http:// is refused for a non-loopback host (the API "
                            "requires HTTPS); use https://.")
        return value.rstrip("/")

    def timezone(self, value: Any, where: str) -> str:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(where, f"unknown timezone {value!r}; use an IANA name such as "
                            "\"Asia/Kuala_Lumpur\".") from None
        return str(value)

    def date(self, value: Any, where: str) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        if value is None:
            raise self.fail(where, "is required, a date such as \"2020-01-01\".")
        raise self.fail(where, f"{value!r} is not a date; write it as \"YYYY-MM-DD\".")

    def modules(self, value: Any, where: str, kind: kinds.SourceKind) -> tuple[str, ...]:
        if value is None:
            return kind.names
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "must be a non-empty list of module names.")
        for v in value:
            if v not in kind.names:
                raise self.fail(where, f"unknown module {v!r}; known: "
                                f"{', '.join(kind.names)}.")
        if len(set(value)) != len(value):
            raise self.fail(where, "lists a module twice.")
        return tuple(value)

    def rate_limit(self, raw: Any, where: str, default: tuple[int, float]) -> RateLimit:
        t = self.table(raw, where, ("requests", "per_seconds", "margin_seconds"))
        requests = t.get("requests", default[0])
        if isinstance(requests, bool) or not isinstance(requests, int) or requests <= 0:
            raise self.fail(f"{where} requests", "must be a whole number greater than 0.")
        margin = t.get("margin_seconds", 0.2)
        if isinstance(margin, bool) or not isinstance(margin, int | float) or margin < 0:
            raise self.fail(f"{where} margin_seconds", "must be a number of seconds >= 0.")
        return RateLimit(requests, self.positive(t.get("per_seconds", default[1]),
                                                 f"{where} per_seconds"),
                         float(margin))

    def ca_file(self, value: Any, where: str) -> Path | None:
        if value is None:
            return None
        path = Path(str(value)).expanduser()
        if not path.is_file():
            raise self.fail(where, f"{path} does not exist or is not a file.")
        return path

    def per_module(self, raw: Any, where: str, type_: type,
                   names: tuple[str, ...]) -> dict[str, Any]:
        t = self.table(raw, where, names)
        for k, v in t.items():
            ok = isinstance(v, type_) and not isinstance(v, bool)
            if type_ is int and (not ok or v < 1):
                raise self.fail(f"{where} {k}", "must be a whole number of days >= 1.")
            if type_ is str and (not ok or not v):
                raise self.fail(f"{where} {k}", "must be a non-empty path such as \"sales.php\".")
        return dict(t)

    def positive(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(where, "must be a number greater than 0.")
        return float(value)

    def schedule(self, raw: Any) -> ScheduleConfig:
        t = self.table(raw, "[schedule]", ("interval", "intervals", "reread", "reread_days",
                                           "reconcile", "push", "full_read"))
        per_module = self.table(t.get("intervals", {}), "[schedule.intervals]",
                                kinds.all_module_names())
        days = t.get("reread_days", 62)
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise self.fail("[schedule] reread_days", "must be a whole number of days >= 1.")
        return ScheduleConfig(
            interval_seconds=parse_duration(t.get("interval", "5m"), self, "[schedule] interval"),
            module_intervals={m: parse_duration(v, self, f"[schedule.intervals] {m}")
                              for m, v in per_module.items()},
            reread=self.boundary(t.get("reread", "03:00"), "[schedule] reread"),
            reread_days=days,
            reconcile=self.boundary(t.get("reconcile", "sun 04:00"), "[schedule] reconcile"),
            push_seconds=parse_duration(t.get("push", "1m"), self, "[schedule] push"),
        )

    def boundary(self, value: Any, where: str) -> Boundary | None:
        if value in ("off", False):
            return None
        try:
            return Boundary.parse(str(value))
        except ValueError as exc:
            raise self.fail(where, f"{exc}, or \"off\".") from None

    def observability(self, raw: Any) -> ObservabilityConfig:
        t = self.table(raw, "[observability]", ("listen", "log_format"))
        listen = t.get("listen", "127.0.0.1:9108")
        m = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", str(listen))
        if not m or not 0 < int(m[2]) < 65536:
            raise self.fail("[observability] listen", f"{listen!r} is not HOST:PORT.")
        fmt = t.get("log_format", "json")
        if fmt not in ("json", "console"):
            raise self.fail("[observability] log_format", "must be \"json\" or \"console\".")
        return ObservabilityConfig(host=m[1] or "127.0.0.1", port=int(m[2]), log_format=fmt)


def parse_duration(value: Any, parser: _Parser, where: str, *, zero: bool = False) -> float:
    """``"5m"``, ``"90s"``, ``"1h30m"`` or a number of seconds, as seconds (``zero``: 0 too)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and (
            value > 0 or (zero and value == 0)):
        return float(value)
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(value).strip())
    if m and any(m.groups()):
        h, mi, s = (int(g or 0) for g in m.groups())
        if h * 3600 + mi * 60 + s > 0 or zero:
            return float(h * 3600 + mi * 60 + s)
    raise parser.fail(where, f"{value!r} is not a duration; write e.g. \"5m\", \"90s\", \"1h\".")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
