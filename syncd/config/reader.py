"""Reading the TOML configuration: every value checked to its key — finite, in range, of the
right type — each failure one ConfigError sentence naming the file and the key, saying what
to fix. Credentials are resolved here too, but only for commands that call the API."""


from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.config.settings import (
    DEFAULT_CONFIG,
    AlertsConfig,
    Config,
    ObservabilityConfig,
    RateLimit,
    ScheduleConfig,
    SourceConfig,
    WarehouseConfig,
    WebhooksConfig,
)
from syncd.core.cycles import Boundary
from syncd.core.errors import ConfigError
from syncd.credentials import redaction
from syncd.credentials.lookup import Secret, load_credentials, load_renewal
from syncd.kinds import registry as kinds
from syncd.kinds.options import (
    CloudonexOptions,
    KindOptions,
    OptionError,
    SkybizOptions,
)

DAY = 86400.0
MAX_DURATION = 366 * DAY  # a schedule period longer than a year is a typo, not a plan
MAX_DAYS = 3660  # lookback/re-read reach: ten years (and far from date arithmetic's limits)
MIN_FRESHNESS, MAX_FRESHNESS = 60.0, 30 * 86400.0  # a freshness target's bounds, seconds
_ENDPOINT = re.compile(r"[A-Za-z0-9_./-]{1,200}")


def default_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("SYNCD_CONFIG") or DEFAULT_CONFIG)


def load(
    path: Path, env: Mapping[str, str] | None = None, *, need_credentials: bool = False,
    now: dt.datetime | None = None,
) -> Config:
    """Read and validate ``path``; with ``need_credentials`` also resolve every source's.
    ``now`` (default: the clock) is what dates that must not lie ahead are checked against."""
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
    parser = _Parser(path, env, need_credentials)
    parser.now = now or dt.datetime.now(dt.UTC)
    return parser.config(raw)


class _Parser:
    """Walks the TOML tables; each method validates one table."""

    def __init__(self, path: Path, env: Mapping[str, str], need_credentials: bool) -> None:
        self.path, self.env, self.need_credentials = path, env, need_credentials
        self.data_dir: Path | None = None
        self.full_read = 6 * 3600.0
        self.schedule_config = ScheduleConfig()
        self.now = dt.datetime.now(dt.UTC)

    def fail(self, where: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {what}")

    def table(self, raw: Any, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        """``raw`` as a table with only ``allowed`` keys (``None``: any key)."""
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a table (e.g. {where} on a line of its own), not "
                            f"{_shown(raw)}.")
        if allowed is None:
            return raw
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            raise self.fail(
                where, f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}."
            )
        return raw

    def config(self, raw: dict[str, Any]) -> Config:
        top = self.table(raw, "top level", ("warehouse", "sources", "schedule", "observability",
                                             "alerts", "webhooks"))
        sources_raw = self.table(top.get("sources", {}), "[sources]", None)
        if not sources_raw:
            raise self.fail("[sources]", "no source configured; add a [sources.<name>] table.")
        warehouse = self.warehouse(top.get("warehouse", {}))
        self.data_dir = warehouse.data_dir  # the last place credentials are looked up
        schedule = self.schedule(top.get("schedule", {}))
        self.schedule_config = schedule  # the default of every freshness target
        # [schedule] full_read is a setting of each paged source: it lives there only.
        self.full_read = parse_duration(schedule_raw(top).get("full_read", "6h"), self,
                                        "[schedule] full_read", zero=True)
        return Config(
            path=self.path,
            warehouse=warehouse,
            sources=tuple(self.source(n, v) for n, v in sources_raw.items()),
            schedule=schedule,
            observability=self.observability(top.get("observability", {})),
            alerts=self.alerts(top.get("alerts", {})),
            webhooks=self.webhooks(top.get("webhooks", {})),
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
        if data_dir:
            where_dir = self.path_value(data_dir, "[warehouse] data_dir")
        elif state:
            where_dir = Path(state)
        else:
            where_dir = self.path_value("~/.local/share/syncd", "[warehouse] data_dir")
        if dsn:
            _remember_dsn_password(dsn)
        return WarehouseConfig(dsn=Secret(dsn) if dsn else None, data_dir=where_dir)

    def path_value(self, value: str, where: str) -> Path:
        """A path from the config, ``~`` expanded; an unknown user or no home is a sentence."""
        if "\x00" in value:
            raise self.fail(where, "must not contain a NUL character.")
        try:
            return Path(value).expanduser()
        except RuntimeError:  # "~nouser/x", or no $HOME and no passwd entry
            raise self.fail(where, f"{_shown(value)}: cannot expand ~ (no such user, or no "
                            "home directory); write an absolute path.") from None

    def source(self, name: str, raw: Any) -> SourceConfig:
        where = f"[sources.{name}]"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise self.fail(where, "a source name must be letters, digits and _, "
                            "starting with a letter.")
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a table ([sources.{name}] on a line of its own, "
                            f"then its keys), not {_shown(raw)}.")
        kind_name = raw.get("kind", kinds.DEFAULT)
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
            "connect_timeout", "read_timeout", "max_answer_mb", "request_timeout", "freshness",
            *kind.config_keys))
        modules = self.modules(t.get("modules"), f"{where} modules", kind)
        base_url = self.base_url(t.get("base_url"), f"{where} base_url", kind.url_hint)
        timezone = self.timezone(t.get("timezone", "Asia/Kuala_Lumpur"), f"{where} timezone")
        options = self.options(kind, name, t)
        return SourceConfig(
            name=name, kind=kind.name, base_url=base_url, timezone=timezone, modules=modules,
            options=options,
            rate_limit=self.rate_limit(t.get("rate_limit", {}), f"[sources.{name}.rate_limit]",
                                       kind.default_rate),
            ca_file=self.ca_file(t.get("ca_file"), f"{where} ca_file"),
            endpoints=self.per_module(t.get("endpoints", {}), f"[sources.{name}.endpoints]", str,
                                      kind.names),
            lookback_days=self.per_module(
                t.get("lookback_days", {}), f"[sources.{name}.lookback_days]", int, kind.names),
            connect_timeout=self.positive(t.get("connect_timeout", 10.0),
                                          f"{where} connect_timeout", 3600.0),
            read_timeout=self.positive(t.get("read_timeout", 300.0), f"{where} read_timeout",
                                       DAY),
            max_answer_mb=self.whole(t.get("max_answer_mb", 1024), f"{where} max_answer_mb",
                                     1, 65536),
            request_timeout=parse_duration(t.get("request_timeout", "10m"), self,
                                           f"{where} request_timeout", low=1.0, high=DAY),
            credentials=(load_credentials(name, self.env, self.data_dir, kind.credentials)
                         if self.need_credentials else None),
            freshness=self.freshness(t.get("freshness", {}), f"[sources.{name}.freshness]",
                                     kind, modules),
        )

    def options(self, kind: kinds.SourceKind, name: str, t: dict[str, Any]) -> KindOptions:
        """The kind's options from its source table: one reading per options class, a key
        left out taking the class's default; a value its class refuses is a sentence naming
        the key."""
        where = f"[sources.{name}]"
        try:
            if kind.options is SkybizOptions:
                given: dict[str, Any] = {}
                if "masters_from" in t:
                    given["masters_from"] = self.masters_from(
                        t["masters_from"], f"{where} masters_from",
                        t.get("timezone", "Asia/Kuala_Lumpur"))
                return SkybizOptions(
                    backfill_from=self.date(t.get("backfill_from"), f"{where} backfill_from"),
                    **given,
                    register_url=self.register_url(t.get("register_url"),
                                                   f"{where} register_url", kind.url_hint),
                    renewal_date=load_renewal(name, self.env, self.data_dir))
            if kind.options is CloudonexOptions:  # page_size and auth: checked by the class
                return CloudonexOptions(full_read_seconds=self.full_read,
                                        **{k: t[k] for k in ("page_size", "auth") if k in t})
        except OptionError as exc:
            raise self.fail(f"{where} {exc.key}", exc.what) from None
        raise self.fail(f"{where} kind", f"kind {kind.name} has no options reader.")

    def whole(self, value: Any, where: str, low: int, high: int, unit: str = "") -> int:
        """A whole number from ``low`` to ``high`` (``unit``: what it counts, for the sentence)."""
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"must be a whole number{unit} from {low} to {high}.")
        return value

    def register_url(self, value: Any, where: str, hint: str) -> str | None:
        return None if value is None else self.base_url(value, where, hint)

    def base_url(self, value: Any, where: str, hint: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"is required, e.g. \"{hint}\".")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or not _port_ok(parts) \
                or re.search(r"[\x00-\x20\x7f]", value):
            raise self.fail(where, f"{_shown(value)} is not an http(s) URL.")
        if parts.username or parts.password:
            raise self.fail(where, "must not contain credentials; use SYNCD_<SOURCE>_API_KEY.")
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise self.fail(where, "must not carry a query (?…) or a fragment (#…): syncd "
                            "appends the endpoint path to it; remove them.")
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
        raise self.fail(where, f"{_shown(value)} is not a date; write it as \"YYYY-MM-DD\".")

    def masters_from(self, value: Any, where: str, timezone: Any) -> dt.date:
        """A date no later than the source's today."""
        day = self.date(value, where)
        today = self.now.astimezone(ZoneInfo(str(timezone))).date()
        if day > today:
            raise self.fail(where, f"{day} lies in the future; use a past date such as "
                            "\"2000-01-01\" (masters modified since then are read).")
        return day

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
        if isinstance(requests, bool) or not isinstance(requests, int) or not \
                0 < requests <= 1_000_000:
            raise self.fail(f"{where} requests", "must be a whole number greater than 0 "
                            "(at most 1000000).")
        margin = t.get("margin_seconds", 0.2)
        if not _finite(margin) or not 0 <= margin <= 60:
            raise self.fail(f"{where} margin_seconds", "must be a number of seconds from 0 "
                            "to 60.")
        return RateLimit(requests, self.positive(t.get("per_seconds", default[1]),
                                                 f"{where} per_seconds", 7 * DAY),
                         float(margin))

    def ca_file(self, value: Any, where: str) -> Path | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be the path of a PEM CA certificate file.")
        path = self.path_value(value, where)
        if not path.is_file():
            raise self.fail(where, f"{path} does not exist or is not a file.")
        try:  # loaded now: a bad file is a config error, not a TLS traceback at first request
            ssl.create_default_context().load_verify_locations(cafile=str(path))
        except ssl.SSLError:
            raise self.fail(where, f"{path} holds no PEM CA certificate (\"-----BEGIN "
                            "CERTIFICATE-----\"); give the CA's certificate in PEM form.") from None
        except (OSError, ValueError) as exc:
            raise self.fail(where, f"cannot read {path} "
                            f"({getattr(exc, 'strerror', None) or exc}).") from None
        return path

    def per_module(self, raw: Any, where: str, type_: type,
                   names: tuple[str, ...]) -> dict[str, Any]:
        t = self.table(raw, where, names)
        for k, v in t.items():
            ok = isinstance(v, type_) and not isinstance(v, bool)
            if type_ is int:
                self.whole(v, f"{where} {k}", 1, MAX_DAYS, " of days")
            if type_ is str and (not ok or not _ENDPOINT.fullmatch(v) or ".." in v):
                raise self.fail(f"{where} {k}", "must be a non-empty path such as \"sales.php\" "
                                "(letters, digits, _ . - /; no query).")
        return dict(t)

    def positive(self, value: Any, where: str, high: float = MAX_DURATION) -> float:
        """A finite number of seconds greater than 0 and at most ``high``."""
        if not _finite(value) or not 0 < value <= high:
            raise self.fail(where, f"must be a number greater than 0 (at most {high:g}), not "
                            f"{_shown(value)}.")
        return float(value)

    def schedule(self, raw: Any) -> ScheduleConfig:
        t = self.table(raw, "[schedule]", ("interval", "intervals", "reread", "reread_days",
                                           "reconcile", "push", "full_read"))
        per_module = self.table(t.get("intervals", {}), "[schedule.intervals]",
                                kinds.all_module_names())
        days = self.whole(t.get("reread_days", 62), "[schedule] reread_days", 1, MAX_DAYS,
                          " of days")
        return ScheduleConfig(
            interval_seconds=parse_duration(t.get("interval", "5m"), self, "[schedule] interval"),
            module_intervals={m: parse_duration(v, self, f"[schedule.intervals] {m}")
                              for m, v in per_module.items()},
            reread=self.boundary(t.get("reread", "03:00"), "[schedule] reread"),
            reread_days=days,
            reconcile=self.boundary(t.get("reconcile", "sun 04:00"), "[schedule] reconcile"),
            push_seconds=parse_duration(t.get("push", "1m"), self, "[schedule] push"),
        )

    def freshness(self, raw: Any, where: str, kind: kinds.SourceKind,
                  modules: tuple[str, ...]) -> dict[str, float]:
        """Every module's freshness target: as given, else its [schedule] interval (a paged
        resource read only completely: [schedule] full_read, which is how often it is read)."""
        t = self.table(raw, where, kind.names)
        out: dict[str, float] = {}
        for m in modules:
            if m in t:
                out[m] = parse_duration(t[m], self, f"{where} {m}")
                if not MIN_FRESHNESS <= out[m] <= MAX_FRESHNESS:
                    raise self.fail(f"{where} {m}", "must be from 1m to 30 days (data that may "
                                    "be older needs no target).")
            else:
                out[m] = self.schedule_config.interval(m)
                if not kind.windowed and not kind.module(m).date_field:
                    out[m] = max(out[m], self.full_read)
        unused = sorted(set(t) - set(modules))
        if unused:
            raise self.fail(f"{where} {unused[0]}", "is not in this source's modules list; add "
                            "it there or remove the target.")
        return out

    def alerts(self, raw: Any) -> AlertsConfig:
        """``[alerts]``: https webhooks (http only to loopback), and the failed-pass count."""
        t = self.table(raw, "[alerts]", ("webhooks", "after_failed_passes"))
        hooks = t.get("webhooks", [])
        if not isinstance(hooks, list) or not all(isinstance(h, str) for h in hooks):
            raise self.fail("[alerts] webhooks", "must be a list of URLs.")
        for i, url in enumerate(hooks):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise self.fail(f"[alerts] webhooks[{i}]", "is not an http(s) URL.")
            if parts.scheme == "http" and not _is_loopback(parts.hostname):
                raise self.fail(f"[alerts] webhooks[{i}]", "plain http:// is refused for a "
                                "non-loopback host (the URL is a secret); use https://.")
        n = t.get("after_failed_passes", 3)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise self.fail("[alerts] after_failed_passes", "must be a whole number from 1 "
                            "to 1000.")
        return AlertsConfig(tuple(Secret(h) for h in hooks), n)

    def boundary(self, value: Any, where: str) -> Boundary | None:
        if value in ("off", False):
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"{_shown(value)} is not \"HH:MM\" or \"DAY HH:MM\", "
                            "or \"off\".")
        try:
            return Boundary.parse(str(value))
        except ValueError as exc:
            raise self.fail(where, f"{exc}, or \"off\".") from None

    def observability(self, raw: Any) -> ObservabilityConfig:
        t = self.table(raw, "[observability]", ("listen", "log_format"))
        host, port = self.listen(t.get("listen", "127.0.0.1:9108"), "[observability] listen")
        fmt = t.get("log_format", "json")
        if fmt not in ("json", "console"):
            raise self.fail("[observability] log_format", "must be \"json\" or \"console\".")
        return ObservabilityConfig(host=host, port=port, log_format=fmt)

    def webhooks(self, raw: Any) -> WebhooksConfig:
        t = self.table(raw, "[webhooks]", ("listen",))
        if "listen" not in t:
            return WebhooksConfig()
        host, port = self.listen(t["listen"], "[webhooks] listen")
        return WebhooksConfig(host=host, port=port)

    def listen(self, value: Any, where: str) -> tuple[str, int]:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6; no host: 127.0.0.1)."""
        m = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", str(value))
        if not m or not 0 < int(m[2]) < 65536:
            raise self.fail(where, f"{value!r} is not HOST:PORT.")
        return m[1] or "127.0.0.1", int(m[2])


def parse_duration(value: Any, parser: _Parser, where: str, *, zero: bool = False,
                   low: float = 0.0, high: float = MAX_DURATION) -> float:
    """``"5m"``, ``"90s"``, ``"1h30m"`` or a number of seconds, as seconds: finite, above
    ``low`` (``zero``: 0 too) and at most ``high``."""
    seconds: float | None = None
    if _finite(value):  # a huge int is clamped first: float() of it would overflow
        seconds = float(max(-1, min(value, 10**18))) if isinstance(value, int) else value
    elif isinstance(value, str) and len(value) <= 40:
        m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value.strip())
        if m and any(m.groups()):
            h, mi, s = (int(g or 0) for g in m.groups())
            seconds = float(h * 3600 + mi * 60 + s)
    if seconds is None:
        raise parser.fail(where, f"{_shown(value)} is not a duration; write e.g. \"5m\", "
                          "\"90s\", \"1h\".")
    if (seconds == 0 and zero) or (seconds > 0 and low <= seconds <= high):
        return seconds
    least = "0s, or " if zero else ""
    raise parser.fail(where, f"{_shown(value)} is out of range; give {least}from "
                      f"{_span(max(low, 1.0))} to {_span(high)}.")


def _span(seconds: float) -> str:
    """Seconds as the largest whole unit that states them (``"24h"``, ``"366d"``)."""
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def schedule_raw(top: Mapping[str, Any]) -> Mapping[str, Any]:
    """The [schedule] table if it is one (``schedule`` refuses any other value later)."""
    raw = top.get("schedule", {})
    return raw if isinstance(raw, dict) else {}


def _remember_dsn_password(dsn: str) -> None:
    """The DSN's password (in the URL or as ``?password=``) is a credential: scrub it."""
    parts = urlsplit(dsn)
    try:
        password = parts.password
    except ValueError:
        password = None
    for value in [password or "", *parse_qs(parts.query).get("password", [])]:
        redaction.remember(unquote(value))
        redaction.remember(value)


def _finite(value: Any) -> bool:
    """An int or float (never a bool) that is neither nan nor ±inf."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _port_ok(parts: Any) -> bool:
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return False
    return True


def _shown(value: Any) -> str:
    """A config value quoted for a sentence, cut short: the sentence stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
