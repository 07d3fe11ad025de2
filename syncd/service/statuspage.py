"""The status page at ``GET /`` (pure rendering): one self-contained HTML document.

No CDN, no script: it works offline and refreshes itself with a meta refresh; its pictures
are inline SVG (``charts``). The header time is UTC; a source's times are in its own zone,
named under its heading. Per source: how fresh its host's capacity can keep it, with a
banner when the configured interval cannot be met; per module: the loaded range as a bar
over the backfill span, lag, age against the freshness target, requests / 429s / rows over
the last hours, last success, rows and the last error; then the outbox by state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from html import escape
from zoneinfo import ZoneInfo

from syncd.core.history import Series
from syncd.core.statusdoc import (
    BudgetDoc,
    CapacityDoc,
    ModuleDoc,
    OpenDoc,
    SourceDoc,
    StatusDoc,
)
from syncd.service import charts

REFRESH_SECONDS = 10
RENEWAL_WARNING_DAYS = 14
# (source, module) → its last minutes and its last hours, as the daemon's histories hold them
Activity = Mapping[tuple[str, str], tuple[Series, Series]]
CHART_WIDTHS = (120, 216)  # px: 60 buckets of 10 s, 72 of 5 min

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 4px}
.meta{color:#667;font-size:12px}table{border-collapse:collapse;width:100%;background:#fff;
box-shadow:0 1px 2px #0001;margin-top:8px}
th,td{padding:6px 8px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:middle}
th{font-size:11px;text-transform:uppercase;letter-spacing:.03em;color:#667;white-space:nowrap}
.bar{position:relative;height:12px;min-width:140px;background:#e4e7eb;border-radius:6px}
.fill{position:absolute;top:0;height:12px;background:#2f80ed;border-radius:6px}
.warn{background:#fff4e5;border:1px solid #f0b429;padding:6px 8px;margin:6px 0}
.fresh{background:#1e8e3e}.late{background:#f0b429}.stale{background:#c5221f}
.ok{color:#1e8e3e}.err{color:#c5221f;font-size:12px}
.num{text-align:right;font-variant-numeric:tabular-nums}.when{white-space:nowrap}
.key{margin-left:12px;white-space:nowrap}.key i{display:inline-block;width:10px;height:10px;
border-radius:2px;margin-right:4px;vertical-align:-1px}.chart{display:block}
.outbox{width:auto}.charts{display:flex;gap:8px}.charts svg{flex:none}
"""


def render(doc: StatusDoc, now: dt.datetime, activity: Activity | None = None) -> str:
    """The whole page for a ``/status.json`` document and the daemon's last hours."""
    sections = alerts_open(doc.get("alerts")) + "".join(
        _source(s, now, activity or {}) for s in doc.get("sources", []))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>syncd status</title><style>{_CSS}</style></head><body>"
        "<h1>syncd status</h1>"
        f"<div class=meta>updated {escape(now.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S'))}"
        " UTC, "
        f"refreshes every {REFRESH_SECONDS} s</div>{sections}</body></html>")


def _source(s: SourceDoc, now: dt.datetime, activity: Activity) -> str:
    span = (s.get("backfill_from"), s.get("today"))
    name = s.get("name", "?")
    drawn = {m["module"]: activity[(name, m["module"])] for m in s.get("modules", [])
             if (name, m["module"]) in activity}
    rows = "".join(_module(m, span, now, drawn.get(m["module"]))
                   for m in s.get("modules", []))
    role = s.get("role", "")
    head = ("<tr><th>module</th><th>loaded range</th><th>lag</th><th>age / target</th>"
            f"<th>{_chart_head(drawn)}</th><th>last success</th>"
            "<th class=num>rows</th><th class=num>deleted</th><th>last error</th></tr>")
    today = dt.date.fromisoformat(s["today"]) if s.get("today") else now.date()
    return (f"<h2>{escape(name)} <span class=meta>({escape(s.get('kind', ''))}"
            f"{', ' + escape(role) if role else ''}){_led_by(s.get('leader'))}</span></h2>"
            f"{_legend(s.get('timezone'), next(iter(drawn.values()), None), now)}"
            f"{renewal_warning(s.get('renewal_date'), today)}{capacity_note(s.get('capacity'))}"
            f"{budget_note(s.get('budget'))}<table data-source='{escape(name)}'>{head}{rows}"
            f"</table>{outbox_table(s.get('outbox', {}))}")


def _chart_head(drawn: dict[str, tuple[Series, Series]]) -> str:
    if not drawn:
        return "requests / 429 (1 h)"
    minutes, hours = next(iter(drawn.values()))
    return (f"<span style='display:inline-block;width:{CHART_WIDTHS[0] + 8}px'>last "
            f"{charts.span(minutes)}</span>last {charts.span(hours)}")


def _legend(zone: str | None, series: tuple[Series, Series] | None,
            now: dt.datetime) -> str:
    """Which zone the source's times are in, and the charts' spans and colours."""
    parts = [f"times in {escape(zone_label(zone, now))}"] if zone else []
    if series is not None:
        parts.append("charts: " + " and ".join(escape(charts.span_label(one, zone))
                                               for one in series) + charts.legend())
    return f"<div class=meta data-zone>{' · '.join(parts)}</div>" if parts else ""


def zone_label(zone: str, now: dt.datetime) -> str:
    """E.g. "Asia/Kuala_Lumpur (UTC+08:00)": the name and today's offset."""
    offset = now.astimezone(ZoneInfo(zone)).utcoffset() or dt.timedelta()
    return f"{zone} (UTC{_offset(offset)})"


def _offset(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def when(iso: str | None, missing: str = "never") -> str:
    """A date-time of the document as a person reads it, its UTC offset labelled:
    "2026-11-21 17:59:00 +08:00"."""
    if not iso:
        return escape(missing)
    at = dt.datetime.fromisoformat(iso)
    offset = at.utcoffset()
    zone = f" <span class=meta>{_offset(offset)}</span>" if offset is not None else ""
    return f"<span class=when>{at:%Y-%m-%d %H:%M:%S}{zone}</span>"


def budget_note(budget: BudgetDoc | None) -> str:
    """A paged kind's API budget as its server announced it last."""
    if not budget:
        return ""
    left = "?" if budget.get("remaining") is None else f"{budget['remaining']:,}"
    reset_at = budget.get("reset_at")
    resets = f", resets {when(reset_at)}" if reset_at else ""
    return (f"<div class=meta data-budget>API budget {escape(left)} of "
            f"{budget['limit']:,} requests left{resets}</div>")


def capacity_note(figures: CapacityDoc | None) -> str:
    """The host's capacity line, and a banner when the configured interval cannot be met."""
    if not figures:
        return ""
    warning = figures.get("warning")
    banner = f"<div class=warn role=alert>{escape(warning)}</div>" if warning else ""
    return f"{banner}<div class=meta data-capacity>capacity {escape(figures['summary'])}</div>"


def _led_by(leader: str | None) -> str:
    """Which instance leads the source (HOST:PID), or that none does right now."""
    return f" led by {escape(leader)}" if leader else " no leader"


def renewal_warning(renewal: str | None, today: dt.date) -> str:
    """A banner from 14 days before the API key's renewal date on; empty before that."""
    if not renewal:
        return ""
    days = (dt.date.fromisoformat(renewal) - today).days
    if days > RENEWAL_WARNING_DAYS:
        return ""
    when = (f"expired after {renewal}" if days < 0 else
            f"must be renewed by {renewal} ({days} day{'s' if days != 1 else ''} left)")
    return (f"<div class=warn role=alert>The API key {escape(when)}: run "
            "<code>syncd register</code> for a new key set.</div>")


def _module(m: ModuleDoc, span: tuple[str | None, str | None], now: dt.datetime,
            series: tuple[Series, Series] | None) -> str:
    error = m.get("last_error")
    if "last_full_read_at" in m:  # a paged kind: when its last complete read finished
        full = m["last_full_read_at"]
        loaded = (f"<div class=meta>complete read {when(full)}</div>"
                  if full else "<div class=meta>first complete read pending</div>")
    else:
        loaded = _bar(m.get("low_watermark"), m.get("high_watermark"), span)
    cells = [
        f"<b>{escape(m['module'])}</b>",
        loaded,
        escape(_lag(m.get("high_watermark"), span[1] or now.date().isoformat())),
        freshness_bar(m),
        activity_cell(m, series),
        when(m.get("last_success_at")),
        f"<span class=num>{m.get('rows', 0):,}</span>",
        f"<span class=num>{m.get('deleted_rows', 0):,}</span>",
        f"<span class=err>{escape(error)}</span>" if error else "<span class=ok>ok</span>",
    ]
    return f"<tr data-module='{escape(m['module'])}'>" + "".join(
        f"<td{' class=num' if i in (6, 7) else ''}>{c}</td>" for i, c in enumerate(cells)) \
        + "</tr>"


def activity_cell(m: ModuleDoc, series: tuple[Series, Series] | None) -> str:
    """The module's last minutes and hours as two charts, the last hour's figures under
    them; only the figures when the daemon keeps no history of it."""
    if series is None:
        return (f"<span class=num>{m.get('requests_last_hour', 0):,} / "
                f"{m.get('rate_limited_last_hour', 0):,}</span>")
    hour = series[1].last(3600)
    pictures = "".join(charts.activity(one, width) for one, width in zip(
        series, CHART_WIDTHS, strict=True))
    return (f"<div class=charts>{pictures}</div><div class=meta>last hour "
            f"{_n(hour.requests, 'request')}, {hour.rate_limited:,} × 429, "
            f"{_n(hour.rows, 'row')}</div>")


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _bar(low: str | None, high: str | None, span: tuple[str | None, str | None]) -> str:
    label = f"{low} .. {high}" if low and high else "nothing loaded yet"
    start, end = span
    fill = ""
    if low and high and start and end:
        a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        total = max((b - a).days + 1, 1)
        lo = max((dt.date.fromisoformat(low) - a).days, 0)
        width = min((dt.date.fromisoformat(high) - a).days + 1, total) - lo
        fill = (f"<div class=fill style='left:{100 * lo / total:.1f}%;"
                f"width:{100 * max(width, 0) / total:.1f}%'></div>")
    return (f"<div class=bar title='{escape(label)}'>{fill}</div>"
            f"<div class='meta when'>{escape(label)}</div>")


def _lag(high: str | None, today: str) -> str:
    """How far the loaded range is behind the source's today."""
    if not high:
        return "-"
    days = (dt.date.fromisoformat(today) - dt.date.fromisoformat(high)).days
    return "current" if days <= 0 else f"{days} day{'s' if days != 1 else ''} behind"

def freshness_bar(m: ModuleDoc) -> str:
    """The data's age against its freshness target: green within it, amber past it, red
    past twice it (an alert); the bar is full at twice the target."""
    target, age = m.get("freshness_target"), m.get("age_seconds")
    if target is None:
        return "-"
    if age is None:
        return f"<div class=meta data-freshness>never read / {_span(target)}</div>"
    state = "fresh" if age <= target else "late" if age <= 2 * target else "stale"
    width = min(100.0, 50.0 * age / target)
    return (f"<div class=bar data-freshness={state} title='age {_span(age)}, target "
            f"{_span(target)}'><div class='fill {state}' style='left:0;width:{width:.1f}%'>"
            f"</div></div><div class=meta>{_span(age)} / {_span(target)}</div>")


def alerts_open(alerts: list[OpenDoc] | None) -> str:
    """The alerts open now (every instance's), oldest first; nothing when none."""
    if not alerts:
        return "<div class=meta data-alerts=0>no alerts open</div>" if alerts is not None \
            else ""
    items = "".join(
        f"<li data-alert='{escape(a['condition'])}'><b>{escape(a['condition'])}</b> "
        f"{escape(a['scope'] + ('/' + a['module'] if a['module'] else ''))}: "
        f"{escape(a['what'])} <span class=meta>since "
        f"{escape(a['opened_at'][:16].replace('T', ' '))} UTC</span></li>" for a in alerts)
    return (f"<div class=warn role=alert data-alerts={len(alerts)}><b>{len(alerts)} alert"
            f"{'s' if len(alerts) != 1 else ''} open</b><ul>{items}</ul></div>")


def _span(seconds: float) -> str:
    """A duration a person reads at a glance: "90 s", "5 min", "6 h", "3 d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size or (seconds >= size and seconds % size == 0):
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def outbox_table(outbox: dict[str, dict[str, int]]) -> str:
    """The source's outbox: per module a bar of its documents by state, and the counts."""
    if not outbox:
        return ""
    rows = "".join(
        f"<tr data-outbox='{escape(module)}'><td><b>{escape(module)}</b></td>"
        f"<td>{charts.outbox(counts)}</td><td>{_state_keys(counts)}</td></tr>"
        for module, counts in outbox.items())
    return (f"<table class=outbox><tr><th>outbox</th><th>documents by state</th><th></th></tr>"
            f"{rows}</table>")


def _state_keys(counts: dict[str, int]) -> str:
    keys = "".join(f"<span class=key><i style='background:{charts.COLOURS[state]}'></i>"
                   f"{n:,} {escape(state)}</span>" for state, n in counts.items() if n)
    return keys or "empty"


def outbox_counts(counts: dict[str, int]) -> str:
    """E.g. "2 pending, 10 inserted, 1 invalid" (states with documents only)."""
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "empty"
