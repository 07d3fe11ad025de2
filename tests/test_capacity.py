"""Tests for syncd.capacity: how fresh the configured sources can be kept."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import pytest

from syncd.config import (
    Config,
    RateLimit,
    ScheduleConfig,
    SkybizOptions,
    SourceConfig,
    WarehouseConfig,
)
from syncd.engine.capacity import (
    SourceLoad,
    capacities,
    duration,
    from_config,
    host_capacity,
    warnings,
)

SKYBIZ = RateLimit(5, 10.0, 0.2)


def stores(n: int, modules: int = 8, interval: float = 300.0, host: str = "api") -> list[
        SourceLoad]:
    return [SourceLoad(f"store{i}", host, SKYBIZ, (interval,) * modules) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "per_round", "min_interval", "while_backfilling", "meets"),
    [
        (1, 8, 17, 21, True),
        (6, 48, 98, 123, True),  # the issue's example: 48 requests, ≥ 96 s without margin
        (18, 144, 294, 368, True),  # the most stores of 8 modules a 5-minute interval holds
        (19, 152, 311, 388, False),
        (50, 400, 816, 1020, False),  # issue 12's closing figure
    ],
)
def test_round_cost_and_shortest_interval_at_5_per_10_s(
    n: int, per_round: int, min_interval: int, while_backfilling: int, meets: bool
) -> None:
    """n stores × 8 modules at 5 / 10 s (+0.2 s): one request per module, 2.04 s each."""
    figures = host_capacity("api", stores(n)).to_json()
    assert figures["requests_per_round"] == per_round
    assert figures["min_interval_seconds"] == min_interval
    assert figures["min_interval_while_backfilling_seconds"] == while_backfilling
    assert figures["meets_interval"] is meets
    assert figures["rate"] == "5 / 10 s"


def test_fifty_stores_status_figures_and_warning() -> None:
    """50 stores need 272 % of the rate for 5-minute freshness, and the warning says so once."""
    figures = capacities(stores(50))
    assert len(figures) == 50
    doc = figures["store0"].to_json()
    assert doc == {
        "host": "api", "sources_on_host": 50, "requests_per_round": 400, "rate": "5 / 10 s",
        "margin_seconds": 0.2, "min_interval_seconds": 816,
        "min_interval_while_backfilling_seconds": 1020, "interval_seconds": 300.0,
        "load": 2.72, "meets_interval": False, "first_run_requests": 0,
        "first_run_seconds": 0, "summary": figures["store0"].sentence(),
        "warning": doc["warning"]}
    assert warnings(figures) == [doc["warning"]]
    assert warnings(figures) == [
        "api: 50 sources need 400 requests per round and 5 / 10 s allows each module only "
        "every ≥ 816 s, so the freshness targets (by default [schedule] interval) cannot "
        "be met (272% of the rate needed): lengthen the targets or the interval, sync fewer "
        "modules or give some sources to another instance with its own IP."]


def test_sentence_for_a_host_that_keeps_up() -> None:
    """The capacity line names the round, the rate and both shortest intervals."""
    assert host_capacity("api", stores(6)).sentence() == (
        "api: 48 requests per round at 5 / 10 s: each module every ≥ 98 s (≥ 123 s while a "
        "backfill runs); the shortest read period, 300 s, fits; the first run (every "
        "backfill) takes 0 requests, ≥ 0 s at this rate")
    assert host_capacity("api", stores(6)).warning() is None


def test_per_module_intervals_count_by_how_often_they_read() -> None:
    """One module every 30 s costs as much as ten modules every 300 s."""
    fast = [SourceLoad("s", "api", SKYBIZ, (30.0,) + (300.0,) * 7)]
    figures = host_capacity("api", fast)
    assert figures.requests_per_round == 8
    assert figures.interval_seconds == 30.0
    assert figures.load == pytest.approx((1 / 30 + 7 / 300) * 2.04)
    assert figures.meets_interval
    too_fast = [SourceLoad("s", "api", SKYBIZ, (10.0,) * 8)]
    assert not host_capacity("api", too_fast).meets_interval


def test_hosts_are_separate_and_a_shared_host_takes_the_strictest_rate() -> None:
    """Sources on another host do not count; on one host the slowest rate and widest margin
    apply, as in sync.limiters_for."""
    loads = [*stores(2, host="a"), SourceLoad("b1", "b", RateLimit(1000, 3600.0, 0.0),
                                              (300.0,) * 3, requests_per_module=4)]
    loads.append(SourceLoad("a-slow", "a", RateLimit(2, 10.0, 0.5), (300.0,)))
    figures = capacities(loads)
    assert figures["store0"] is figures["a-slow"]
    assert figures["store0"].requests_per_round == 17
    assert figures["store0"].rate == RateLimit(2, 10.0, 0.5)
    assert figures["b1"].requests_per_round == 12  # a paged kind: 4 requests per module
    assert figures["b1"].rate_text() == "1000 / 3600 s"
    assert figures["b1"].min_interval_seconds == pytest.approx(12 * 3.6)


def test_from_config_reads_modules_intervals_and_hosts() -> None:
    """The config's modules, [schedule] interval and per-module overrides feed the figures,
    as the read periods that keep each within its target (a tenth earlier: 18 s for 20)."""
    def source(name: str, url: str) -> SourceConfig:
        return SourceConfig(name=name, kind="skybiz", base_url=url, timezone="UTC",
                            options=SkybizOptions(dt.date(2024, 1, 1)),
                            modules=("sales", "customer"))

    config = Config(
        path=Path("syncd.toml"), warehouse=WarehouseConfig(None, Path("pg")),
        sources=(source("a", "https://API.example:443/v1"), source("b", "https://api.example:443"),
                 source("c", "https://other.example")),
        schedule=ScheduleConfig(interval_seconds=60.0, module_intervals={"sales": 20.0}))
    figures = from_config(config, dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    assert figures["a"] is figures["b"]
    assert figures["a"].requests_per_round == 4
    assert figures["a"].interval_seconds == 18.0
    assert figures["c"].requests_per_round == 2
    assert figures["a"].load == pytest.approx(2 * (1 / 18 + 1 / 54) * 2.04)


def test_nonsense_loads_are_refused() -> None:
    """A module needs at least one request and a positive interval."""
    with pytest.raises(ValueError, match=">= 1 request"):
        SourceLoad("s", "api", SKYBIZ, (0.0,))
    with pytest.raises(ValueError, match=">= 1 request"):
        SourceLoad("s", "api", SKYBIZ, (300.0,), requests_per_module=0)


STORE = ("sales", "purchase", "collection", "sales_order", "customer", "supplier", "item",
         "price_matrix")
ISSUE_TARGETS = (300.0, 3600.0, 3600.0, 3600.0, 21600.0, 21600.0, 21600.0, 21600.0)


def target_stores(n: int) -> list[SourceLoad]:
    from syncd.core.freshness import read_every

    return [SourceLoad(f"store{i}", "api", SKYBIZ, tuple(read_every(t) for t in ISSUE_TARGETS),
                       modules=STORE, targets=ISSUE_TARGETS) for i in range(n)]


@pytest.mark.parametrize(("n", "met", "met_backfilling"), [
    (50, 400, 400),  # the issue's 50 stores: every target met, even while backfilling
    (82, 656, 656),
    (90, 720, 630),  # while a backfill runs, sales (5 min) falls behind
    (104, 728, 728),  # beyond the rate: the 5-minute sales of every store cannot be met
])
def test_targets_decide_how_many_stores_fit(n: int, met: int, met_backfilling: int) -> None:
    """Sales 5 min, documents 1 h, masters 6 h at 5 / 10 s: ~103 stores (82 while one
    backfills) where every module every 5 minutes held 18; past that the shortest targets
    go unmet first."""
    from syncd.engine.capacity import target_fits, unmet_sentence

    fits = target_fits(target_stores(n))
    assert sum(f.met for f in fits) == met
    assert sum(f.met_while_backfilling for f in fits) == met_backfilling
    unmet = {f.module for f in fits if not f.met}
    assert unmet == (set() if met == 8 * n else {"sales"})
    sentence = unmet_sentence(fits)
    assert (sentence is None) == (met == 8 * n)
    if sentence:
        assert sentence.startswith("freshness targets that cannot be met at the host's rate: "
                                   f"sales (5m) on {n} sources, readable only every ≥ ")


@pytest.mark.parametrize(("periods", "pace", "expected"), [
    ([10.0, 10.0], 1.0, 10.0),  # fits: the shortest period
    ([1.0, 1.0], 1.0, 2.0),  # two modules at one request a second: each every 2 s
    ([1.0, 100.0], 1.0, 1.0 / (1 - 0.01)),  # the slow one keeps its period
    ([1.0, 1.0, 3.0], 1.0, 3.0),  # all held to 3 s
])
def test_water_filling_shares_out_the_rate(periods: list[float], pace: float,
                                           expected: float) -> None:
    """At overload every module is read at the same slowest-affordable period, except those
    that want less than that anyway."""
    from syncd.engine.capacity import achievable_period

    assert achievable_period(periods, pace) == pytest.approx(expected)


def test_first_run_counts_every_window_back_to_each_modules_floor() -> None:
    """A first run reads documents back to backfill_from and masters back to masters_from
    (26 years: 316 windows of 31 days per master), and takes that many paces at the rate."""
    source = SourceConfig(name="main", kind="skybiz", base_url="https://api.example",
                          timezone="UTC", options=SkybizOptions(dt.date(2025, 11, 1)),
                          modules=("customer", "item", "sales"))
    config = Config(path=Path("syncd.toml"), warehouse=WarehouseConfig(None, Path("pg")),
                    sources=(source,))
    now = dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC)  # 2000-01-01..2025-12-31: 9497 days
    figures = from_config(config, now)["main"]
    assert figures.first_run_requests == 2 * 307 + 2
    doc = figures.to_json()
    assert doc["first_run_requests"] == 616
    assert doc["first_run_seconds"] == math.ceil((616 - 5) * 2.04)
    assert figures.sentence().endswith(
        "the first run (every backfill) takes 616 requests, ≥ 21 min at this rate")
    later = replace(source, options=replace(source.options, masters_from=dt.date(2025, 12, 1)))
    assert from_config(replace(config, sources=(later,)), now)["main"].first_run_requests == 4


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (119.2, "120 s"), (2634, "44 min"), (7200, "2 h 0 min"),
    (26 * 3600 + 61, "26 h 2 min"), (3 * 86400 + 7200, "3 d 2 h")])
def test_durations_read_as_a_person_would_say_them(seconds: float, text: str) -> None:
    """Seconds, then minutes, hours and days as the figure grows."""
    assert duration(seconds) == text
