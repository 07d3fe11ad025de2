"""The status page's inline SVG pictures (pure): bars, scales, outbox segments."""

from __future__ import annotations

import re

import pytest

from syncd.core.history import Counts, Series
from syncd.service import charts

T0 = 1_800_000_000.0


def _series(*counts: Counts, bucket: int = 300) -> Series:
    return Series(T0, bucket, counts)


def _path(svg: str, name: str) -> dict[str, str]:
    m = re.search(rf"<path data-series={name} data-total=(\d+) data-buckets=(\d+) "
                  r"fill='[^']+' d='([^']*)'/>", svg)
    assert m is not None, svg
    return {"total": m[1], "buckets": m[2], "d": m[3]}


def test_bars_count_the_non_zero_buckets_and_scale_to_the_peak() -> None:
    """Three buckets with requests draw three bars; the peak fills the 20-px lane and a
    small bucket is at least 1 px high."""
    svg = charts.activity(_series(Counts(requests=40), Counts(), Counts(requests=1),
                                  Counts(requests=20, rate_limited=20, rows=7)), 12)
    requests = _path(svg, "requests")
    assert requests == {"total": "61", "buckets": "3",
                        "d": "M0.0 20v-20h2.0V20zM6.0 20v-1h2.0V20zM9.0 20v-10h2.0V20z"}
    assert _path(svg, "rate_limited")["d"] == "M9.0 20v-10h2.0V20z"  # a share of the bar
    assert _path(svg, "rows") == {"total": "7", "buckets": "1", "d": "M9.0 35v-12h2.0V35z"}
    assert "61 requests (at most 40 per bucket), 20 × 429, 7 rows" in svg
    assert "data-span='20 min'" in svg


def test_an_empty_series_draws_the_lanes_without_bars() -> None:
    """Nothing counted yet: the frame is there, every path is empty."""
    svg = charts.activity(_series(*[Counts()] * 72), 216)
    assert svg.startswith("<svg class=chart data-chart=activity")
    assert "width=216" in svg
    for name in ("requests", "rate_limited", "rows"):
        assert _path(svg, name) == {"total": "0", "buckets": "0", "d": ""}


@pytest.mark.parametrize(("bucket", "n", "text"), [
    (300, 72, "last 6 h per 5 min, 10:05–16:05"),
    (10, 60, "last 10 min per 10 s, 15:50–16:00"),
])
def test_span_label_is_in_the_source_zone(bucket: int, n: int, text: str) -> None:
    """The span's clock times are the source's (T0 is 16:00 in Kuala Lumpur, UTC+8), and
    the bucket holding now is the last one drawn."""
    start = (T0 // bucket + 1 - n) * bucket  # the series History.series(now=T0) gives
    series = Series(start, bucket, (Counts(),) * n)
    assert charts.span_label(series, "Asia/Kuala_Lumpur") == text


def test_outbox_segments_are_proportional_in_state_order() -> None:
    """2 pending, 1 inserted, 1 invalid of 4 fill 80, 40 and 40 px of 160, in order."""
    svg = charts.outbox({"invalid": 1, "pending": 2, "sending": 0, "inserted": 1})
    segments = re.findall(r"data-state=(\w+) x=([\d.]+) y=0 width=([\d.]+)", svg)
    assert segments == [("pending", "0.0", "80.0"), ("inserted", "80.0", "40.0"),
                        ("invalid", "120.0", "40.0")]
    assert "<title>2 pending</title>" in svg
    assert "data-state" not in charts.outbox({"pending": 0})
