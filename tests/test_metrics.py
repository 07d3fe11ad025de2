"""The daemon's metrics feed its status-page history too: answers, 429s, rows written."""

from __future__ import annotations

import datetime as dt
import re

from syncd.core.history import Counts
from syncd.core.results import LoadResult, ModuleRun
from syncd.service import httpd, statuspage
from syncd.service.metrics import Metrics

T0 = 1_800_000_000.0


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _result(upserted: int, lines: int) -> LoadResult:
    return LoadResult("2026-11-21..2026-11-21", "fresh", upserted, upserted, lines, 0, 0, (),
                      1, 0.1)


def test_answers_and_windows_are_counted_in_both_histories() -> None:
    """Each answer is a request (a 429 also a 429), each window's rows and lines are rows,
    in the 10-second and the 5-minute history alike, and /metrics counts the same."""
    clock = Clock()
    m = Metrics(clock)
    client = m.client_observer("main")
    client.response("sales", 200)
    client.response("sales", 429)
    clock.now += 10
    m.progress().window_done(ModuleRun("main", "sales"), _result(3, 12))
    recent = m.recent.series("main", "sales", clock.now)
    assert recent.counts[-2:] == (Counts(2, 1, 0), Counts(0, 0, 15))
    assert m.history.series("main", "sales", clock.now).counts[-1] == Counts(2, 1, 15)
    text = m.render().decode()
    assert 'syncd_api_rate_limited_total{module="sales",source="main"} 1.0' in text
    assert 'syncd_rows_upserted_total{module="sales",source="main"} 15.0' in text


def test_last_hour_comes_from_the_history() -> None:
    """The status page's requests/429s of the last hour are the last 12 five-minute
    buckets: an answer 70 minutes old is no longer in them."""
    clock = Clock()
    m = Metrics(clock)
    client = m.client_observer("main")
    client.response("item", 429)
    clock.now += 70 * 60
    client.response("item", 200)
    assert client.last_hour("item") == (1, 0)
    assert client.last_hour("never") == (0, 0)


def test_the_page_draws_the_history_of_every_module_it_shows() -> None:
    """``activity_of`` hands the page both series of each module in the status document;
    the rendered page has two charts per module with the counted bars."""
    clock = Clock()
    m = Metrics(clock)
    m.client_observer("main").response("sales", 200)
    doc = {"sources": [{"name": "main", "kind": "skybiz", "renewal_date": None,
                        "leader": None, "outbox": {}, "capacity": None,
                        "timezone": "Asia/Kuala_Lumpur",
                        "modules": [{"module": "sales"}, {"module": "item"}]}]}
    activity = httpd.activity_of(m, doc, clock.now)  # type: ignore[arg-type]
    assert set(activity) == {("main", "sales"), ("main", "item")}
    minutes, hours = activity[("main", "sales")]
    assert (minutes.bucket_seconds, len(minutes.counts)) == (10, 60)
    assert (hours.bucket_seconds, len(hours.counts)) == (300, 72)
    now = dt.datetime.fromtimestamp(clock.now, dt.UTC)
    page = statuspage.render(doc, now, activity)  # type: ignore[arg-type]
    assert page.count("data-chart=activity") == 4
    assert re.findall(r"data-series=requests data-total=(\d+)", page) == ["1", "1", "0", "0"]
    assert "last hour 1 request, 0 × 429, 0 rows" in page
