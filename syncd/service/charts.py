"""The status page's pictures as inline SVG (pure): no script, no CDN, no build step.

``activity`` draws one module's last minutes or hours — requests per bucket with their 429s
in red at the foot of each bar, over the rows written — each lane scaled to its own peak,
which the tooltip names. ``outbox`` draws a module's outbox documents by state.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from zoneinfo import ZoneInfo

from syncd.core.history import Series

REQUESTS_H, ROWS_H, LANE_GAP = 20, 12, 3
COLOURS = {"requests": "#2f80ed", "rate_limited": "#c5221f", "rows": "#1e8e3e",
           "pending": "#9aa5b1", "sending": "#2f80ed", "inserted": "#1e8e3e",
           "rejected": "#f0b429", "invalid": "#c5221f"}
OUTBOX_WIDTH = 160


def activity(series: Series, width: int) -> str:
    """One module's requests, 429s and rows per bucket, oldest left, ``width`` px wide."""
    foot = REQUESTS_H + LANE_GAP + ROWS_H
    requests = [c.requests for c in series.counts]
    rows = [c.rows for c in series.counts]
    total, step = series.total(), width / max(1, len(series.counts))
    tip = (f"{span(series)} per {_bucket(series)}: {total.requests:,} requests (at most "
           f"{max(requests, default=0):,} per bucket), {total.rate_limited:,} × 429, "
           f"{total.rows:,} rows (at most {max(rows, default=0):,})")
    lanes = (
        f"<rect x=0 y=0 width={width} height={REQUESTS_H} fill='#f1f3f5'/>"
        f"<rect x=0 y={REQUESTS_H + LANE_GAP} width={width} height={ROWS_H} fill='#f1f3f5'/>"
        f"<rect x=0 y={REQUESTS_H} width={width} height=1 fill='#c9ced4'/>"
        f"<rect x=0 y={foot} width={width} height=1 fill='#c9ced4'/>"
        + _bars("requests", requests, max(requests, default=0), REQUESTS_H, step)
        + _bars("rate_limited", [c.rate_limited for c in series.counts],
                max(requests, default=0), REQUESTS_H, step)
        + _bars("rows", rows, max(rows, default=0), foot, step))
    return (f"<svg class=chart data-chart=activity data-span='{span(series)}' width={width} "
            f"height={foot + 1} viewBox='0 0 {width} {foot + 1}' role=img "
            f"aria-label='{escape(tip)}'><title>{escape(tip)}</title>{lanes}</svg>")


def _bars(name: str, values: list[int], peak: int, foot: int, step: float) -> str:
    """One path of bars standing on ``foot``, each scaled to the lane's ``peak``; a
    non-zero bucket is at least 1 px high. ``data-buckets`` counts the non-zero ones."""
    lane = REQUESTS_H if foot == REQUESTS_H else ROWS_H
    bar = max(1.0, step * 2 / 3)
    drawn = [(i, v) for i, v in enumerate(values) if v and peak]
    d = "".join(f"M{i * step:.1f} {foot}v-{max(1, round(v / peak * lane))}h{bar:.1f}V{foot}z"
                for i, v in drawn)
    return (f"<path data-series={name} data-total={sum(values)} data-buckets={len(drawn)} "
            f"fill='{COLOURS[name]}' d='{d}'/>")


def span(series: Series) -> str:
    """How long the series covers: "10 min", "6 h"."""
    seconds = len(series.counts) * series.bucket_seconds
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _bucket(series: Series) -> str:
    b = series.bucket_seconds
    return f"{b // 60} min" if b >= 60 and b % 60 == 0 else f"{b} s"


def span_label(series: Series, zone: str | None) -> str:
    """A chart's span as a person reads it, in ``zone`` (or UTC), e.g.
    "last 6 h per 5 min, 11:05–17:05"."""
    tz = ZoneInfo(zone) if zone else dt.UTC
    start = dt.datetime.fromtimestamp(series.start, tz)
    end = start + dt.timedelta(seconds=len(series.counts) * series.bucket_seconds)
    return f"last {span(series)} per {_bucket(series)}, {start:%H:%M}–{end:%H:%M}"


def legend() -> str:
    """The colour key of the activity charts."""
    return "".join(
        f"<span class=key><i style='background:{COLOURS[k]}'></i>{escape(label)}</span>"
        for k, label in (("requests", "requests"), ("rate_limited", "429 answers"),
                         ("rows", "rows written")))


def outbox(counts: dict[str, int]) -> str:
    """A module's outbox documents as one bar, a segment per state (in ``COLOURS`` order)."""
    total = sum(counts.values())
    segments, x = [], 0.0
    for state in ("pending", "sending", "inserted", "rejected", "invalid"):
        n = counts.get(state, 0)
        if not n or not total:
            continue
        w = OUTBOX_WIDTH * n / total
        segments.append(f"<rect data-state={state} x={x:.1f} y=0 width={w:.1f} height=12 "
                        f"fill='{COLOURS[state]}'><title>{n:,} {state}</title></rect>")
        x += w
    return (f"<svg class=chart data-chart=outbox width={OUTBOX_WIDTH} height=12 "
            f"viewBox='0 0 {OUTBOX_WIDTH} 12' role=img aria-label='outbox by state'>"
            f"<rect x=0 y=0 width={OUTBOX_WIDTH} height=12 fill='#e4e7eb'/>"
            f"{''.join(segments)}</svg>")
