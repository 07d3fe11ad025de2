"""How fresh the configured sources can be kept (pure): sources × modules × rate per host.

Every module costs at least one request per round (a paged kind costs more: pass
``requests_per_module``), and all sources on one API host share that host's limiter, so a
round of the whole host takes ``requests_per_round × (per_seconds + margin) / requests``
seconds at best — the shortest interval at which every module can be read. While a backfill
or re-read waits, fresh reads get only ``(share - 1) / share`` of the starts (fairqueue).

The first run costs more than any round: every windowed module walks its whole history,
one request per window (a master back to ``masters_from``: 26 years are ~316 requests per
module), so the figures also say how many requests the first run takes and how long at
the host's rate.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from syncd.config import Config, RateLimit, SourceConfig
from syncd.core.fairqueue import SHARE, Priority
from syncd.core.freshness import read_every
from syncd.core.statusdoc import CapacityDoc
from syncd.engine.hosts import host_of, host_rate


@dataclass(frozen=True, slots=True)
class SourceLoad:
    """What one source asks of its host each round: one interval per module."""

    name: str
    host: str
    rate: RateLimit
    intervals: tuple[float, ...]  # seconds between fresh reads, one per module
    requests_per_module: int = 1
    modules: tuple[str, ...] = ()  # the modules' names, aligned with intervals (optional)
    targets: tuple[float, ...] = ()  # their freshness targets, aligned (optional)
    first_run_requests: int = 0  # what its first run (every backfill, whole) costs

    def __post_init__(self) -> None:
        if self.requests_per_module < 1 or any(i <= 0 for i in self.intervals):
            raise ValueError(f"{self.name}: a module costs >= 1 request per positive interval")
        if self.first_run_requests < 0:
            raise ValueError(f"{self.name}: a first run cannot cost fewer than 0 requests")


@dataclass(frozen=True, slots=True)
class Capacity:
    """One host's figures: what a round costs, how often it can run, and whether the
    configured intervals fit."""

    host: str
    sources: int
    requests_per_round: int
    rate: RateLimit
    interval_seconds: float  # the shortest read period on the host (targets less slack)
    min_interval_seconds: float  # every module once, at the full rate
    min_interval_while_backfilling_seconds: float  # fresh reads get (share-1)/share then
    load: float  # fresh requests per second needed / allowed; above 1 cannot be met
    first_run_requests: int = 0  # every source's first run on the host, all backfills whole
    first_run_seconds: float = 0.0  # ... at the host's full rate: the least it can take

    @property
    def meets_interval(self) -> bool:
        return self.load <= 1.0

    def rate_text(self) -> str:
        return f"{self.rate.requests} / {self.rate.per_seconds:g} s"

    def to_json(self) -> CapacityDoc:
        """The ``capacity`` key of a source in ``status --json`` (the host's figures)."""
        return {"host": self.host, "sources_on_host": self.sources,
                "requests_per_round": self.requests_per_round, "rate": self.rate_text(),
                "margin_seconds": self.rate.margin_seconds,
                "min_interval_seconds": math.ceil(self.min_interval_seconds),
                "min_interval_while_backfilling_seconds":
                    math.ceil(self.min_interval_while_backfilling_seconds),
                "interval_seconds": self.interval_seconds, "load": round(self.load, 3),
                "meets_interval": self.meets_interval,
                "first_run_requests": self.first_run_requests,
                "first_run_seconds": math.ceil(self.first_run_seconds),
                "summary": self.sentence(), "warning": self.warning()}

    def sentence(self) -> str:
        """E.g. "api.x: 48 requests per round at 5 / 10 s: each module every ≥ 98 s …"."""
        return (f"{self.host}: {self.requests_per_round} requests per round at "
                f"{self.rate_text()}: each module every ≥ "
                f"{math.ceil(self.min_interval_seconds)} s (≥ "
                f"{math.ceil(self.min_interval_while_backfilling_seconds)} s while a backfill "
                f"runs); the shortest read period, {self.interval_seconds:g} s, "
                f"{'fits' if self.meets_interval else 'does not'}; the first run (every "
                f"backfill) takes {self.first_run_requests:,} requests, ≥ "
                f"{duration(self.first_run_seconds)} at this rate")

    def warning(self) -> str | None:
        """One sentence when the configured intervals cannot be met, else None."""
        if self.meets_interval:
            return None
        return (f"{self.host}: {self.sources} source{'s' if self.sources != 1 else ''} need "
                f"{self.requests_per_round} requests per round and {self.rate_text()} allows "
                f"each module only every ≥ {math.ceil(self.min_interval_seconds)} s, so "
                "the freshness targets (by default [schedule] interval) cannot be met "
                f"({self.load:.0%} of the rate needed): lengthen the targets or the interval, "
                "sync fewer modules or give some sources to another instance with its own IP.")


def host_capacity(host: str, loads: Sequence[SourceLoad]) -> Capacity:
    """The figures of one host shared by ``loads`` (its strictest rate, widest margin)."""
    rate = host_rate(s.rate for s in loads)
    per_round = sum(s.requests_per_module * len(s.intervals) for s in loads)
    needed = sum(s.requests_per_module / i for s in loads for i in s.intervals)
    pace = rate.seconds_per_request
    share = SHARE[Priority.BACKFILL]
    return Capacity(host=host, sources=len(loads), requests_per_round=per_round, rate=rate,
                    interval_seconds=min((i for s in loads for i in s.intervals), default=0.0),
                    min_interval_seconds=per_round * pace,
                    min_interval_while_backfilling_seconds=per_round * pace * share / (share - 1),
                    load=needed * pace,
                    first_run_requests=(first := sum(s.first_run_requests for s in loads)),
                    # n starts need n - 1 gaps of the pace after the first
                    first_run_seconds=max(0, first - rate.requests) * pace)


def capacities(loads: Sequence[SourceLoad]) -> dict[str, Capacity]:
    """Each source's host figures, by source name."""
    by_host: dict[str, list[SourceLoad]] = {}
    for load in loads:
        by_host.setdefault(load.host, []).append(load)
    out: dict[str, Capacity] = {}
    for host, group in by_host.items():
        figures = host_capacity(host, group)
        out.update((s.name, figures) for s in group)
    return out


def from_config(config: Config, now: dt.datetime) -> dict[str, Capacity]:
    """The figures for every configured source at ``now``, one request per module per
    round."""
    return capacities(loads_of(config, now))


def loads_of(config: Config, now: dt.datetime | None = None) -> list[SourceLoad]:
    """What every configured source asks: each module read as its freshness target needs
    (and, given ``now``, what its first run costs)."""
    out = []
    for s in config.sources:
        targets = tuple(s.freshness_target(m, config.schedule.interval(m)) for m in s.modules)
        out.append(SourceLoad(s.name, host_of(s), s.rate_limit,
                              tuple(read_every(t) for t in targets), modules=s.modules,
                              targets=targets,
                              first_run_requests=first_run(s, s.today(now)) if now else 0))
    return out


@dataclass(frozen=True, slots=True)
class TargetFit:
    """Whether one module's freshness target can be met on its host: at overload the
    host's rate is shared out evenly (water-filling), so the shortest targets go unmet."""

    source: str
    module: str
    target_seconds: float
    every_seconds: float  # how often it can be read at best (its period when met)
    met: bool
    met_while_backfilling: bool


def achievable_period(periods: Sequence[float], pace: float) -> float:
    """The shortest period ``P`` the rate sustains when every module wants
    ``periods[i]`` but none is read more often than every ``P``: solves
    ``Σ 1 / max(p_i, P) = 1 / pace`` (the smallest period when that already fits)."""
    ordered = sorted(periods)
    if not ordered or sum(1 / p for p in ordered) * pace <= 1:
        return ordered[0] if ordered else 0.0
    slower = sum(1 / p for p in ordered)  # demand of modules whose period exceeds P
    for i, p in enumerate(ordered):
        slower -= 1 / p
        # Modules 0..i are held to P: (i + 1) / P + slower = 1 / pace.
        if slower * pace < 1:
            limit = (i + 1) * pace / (1 - slower * pace)
            nxt = ordered[i + 1] if i + 1 < len(ordered) else math.inf
            if limit <= nxt:
                return max(limit, p)
    return len(ordered) * pace


def target_fits(loads: Sequence[SourceLoad]) -> list[TargetFit]:
    """Every named module's fit, host by host (fresh reads get (share-1)/share of the
    rate while a backfill waits)."""
    by_host: dict[str, list[SourceLoad]] = {}
    for load in loads:
        by_host.setdefault(load.host, []).append(load)
    out: list[TargetFit] = []
    share = SHARE[Priority.BACKFILL]
    for group in by_host.values():
        pace = host_rate(s.rate for s in group).seconds_per_request
        periods = [i for s in group for i in s.intervals for _ in range(s.requests_per_module)]
        full, backfilling = (achievable_period(periods, pace),
                             achievable_period(periods, pace * share / (share - 1)))
        for s in group:
            for m, every, target in zip(s.modules, s.intervals, s.targets, strict=False):
                out.append(TargetFit(s.name, m, target, max(every, full),
                                     every >= full * (1 - 1e-9),
                                     every >= backfilling * (1 - 1e-9)))
    return out


def unmet_sentence(fits: Sequence[TargetFit]) -> str | None:
    """One sentence naming the targets the host's rate cannot meet (None: all are met)."""
    unmet: dict[tuple[str, float], list[TargetFit]] = {}
    for f in fits:
        if not f.met:
            unmet.setdefault((f.module, f.target_seconds), []).append(f)
    if not unmet:
        return None
    parts = [f"{module} ({_duration(target)}) on {len(group)} source"
             f"{'s' if len(group) != 1 else ''}, readable only every "
             f"≥ {math.ceil(group[0].every_seconds)} s"
             for (module, target), group in sorted(unmet.items(), key=lambda kv: kv[0][1])]
    return (f"freshness targets that cannot be met at the host's rate: {'; '.join(parts)}: "
            "lengthen those targets, sync fewer modules or give some sources to another "
            "instance with its own IP.")


def _duration(seconds: float) -> str:
    """E.g. 300 → "5m", 21600 → "6h", 90 → "90s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def first_run(source: SourceConfig, today: dt.date) -> int:
    """Requests of the source's first run: a windowed module's windows from its backfill
    floor (``masters_from`` or ``backfill_from``) to today; a paged one's first page."""
    days = source.source_kind.window_days
    total = 0
    for name in source.modules:
        floor = source.backfill_floor(name)
        if floor is None or not days:
            total += 1  # a paged resource's first complete read: at least one page
            continue
        total += -(-((today - min(floor, today)).days + 1) // days)
    return total


def duration(seconds: float) -> str:
    """``seconds`` for a sentence: "50 s", "44 min", "3 h 12 min", "2 d 5 h"."""
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def warnings(figures: dict[str, Capacity]) -> list[str]:
    """The distinct one-sentence warnings, one per host that cannot keep up."""
    return list(dict.fromkeys(w for c in figures.values() if (w := c.warning())))


def freshness_report(config: Config) -> tuple[list[str], list[str]]:
    """For ``check``: one line per source with its modules' targets, and the sentences for
    hosts whose rate cannot meet some of them."""
    loads = loads_of(config)
    lines = [f"freshness {s.name}: " + ", ".join(
        f"{m} {_duration(t)}" for m, t in zip(s.modules, s.targets, strict=True))
        for s in loads]
    fits = target_fits(loads)
    hosts = {s.name: s.host for s in loads}
    by_host: dict[str, list[TargetFit]] = {}
    for f in fits:
        by_host.setdefault(hosts[f.source], []).append(f)
    warned = [f"{host}: {w}" for host, group in by_host.items()
              if (w := unmet_sentence(group))]
    return lines, warned
