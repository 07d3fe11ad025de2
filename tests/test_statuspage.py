"""The status page: pure rendering, and the real page in headless Chromium while
``syncd run`` works against the simulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from syncd.core.history import Counts, Series
from syncd.engine.outbox.jsontext import dumps
from syncd.service import statuspage
from syncd_simulator import Simulator
from tests.conftest import CLI_ENV, e2e_config_text, finish_cli, start_cli
from tests.waiting import until

REPO = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)

DOC: dict[str, Any] = {"sources": [{
    "name": "main", "kind": "skybiz", "role": "leader", "backfill_from": "2026-01-01",
    "today": "2026-11-21",
    "modules": [
        {"module": "sales", "low_watermark": "2026-06-01", "high_watermark": "2026-11-21",
         "rows": 12345, "deleted_rows": 2, "last_success_at": "2026-11-21T17:59:00+08:00",
         "last_error": None, "requests_last_hour": 30, "rate_limited_last_hour": 1},
        {"module": "item", "low_watermark": None, "high_watermark": None, "rows": 0,
         "deleted_rows": 0, "last_success_at": None,
         "last_error": "item: access refused (\"<b>Item</b> read permission denied\")",
         "requests_last_hour": 1, "rate_limited_last_hour": 0},
    ]}]}


def test_render_shows_every_module_and_escapes_text() -> None:
    """Each module is a row; server text is escaped, never interpreted as HTML."""
    page = statuspage.render(DOC, NOW)
    assert "data-module='sales'" in page
    assert "data-module='item'" in page
    assert "12,345" in page
    assert "&lt;b&gt;Item&lt;/b&gt;" in page
    assert "<b>Item</b>" not in page
    assert "nothing loaded yet" in page
    assert "no leader" in page
    assert "led by db1:4242" in statuspage.render(
        {"sources": [DOC["sources"][0] | {"leader": "db1:4242"}]}, NOW)
    assert "http://" not in page.replace('http-equiv', '')  # self-contained: no CDN


def test_bar_covers_the_loaded_share_of_the_backfill_span() -> None:
    """June..today of a Jan..today span (325 days) starts 151 days in: 46.5%, then 53.5%."""
    page = statuspage.render(DOC, NOW)
    assert "left:46.5%;width:53.5%" in page


def test_capacity_line_and_banner_when_the_interval_cannot_be_met() -> None:
    """The host's capacity sentence shows under the source; a warning becomes a banner."""
    fits = {"summary": "api: 8 requests per round at 5 / 10 s: each module every ≥ 17 s",
            "warning": None}
    short = {**fits, "warning": "api: 50 sources need 400 requests per round <soon>"}
    page = statuspage.render({"sources": [{**DOC["sources"][0], "capacity": fits}]}, NOW)
    assert "capacity api: 8 requests per round at 5 / 10 s: each module every ≥ 17 s" in page
    assert "role=alert" not in page
    page = statuspage.render({"sources": [{**DOC["sources"][0], "capacity": short}]}, NOW)
    assert "<div class=warn role=alert>api: 50 sources need 400 requests per round &lt;soon&gt;" \
        in page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _get(url: str) -> str:
    """The body at ``url``, without blocking the loop that serves the simulator."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(url) as resp:
        return await resp.text()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def _browser(*args: str, tmp: Path) -> str:
    """Run headless Chromium with the flags this sandboxed machine needs."""
    browser = _chromium()
    assert browser is not None
    proc = await asyncio.create_subprocess_exec(
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp / 'chromium-profile'}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


async def test_status_page_in_headless_chromium(
    tmp_path: Path, pg_dsn: str,
    simulator: Callable[..., Awaitable[tuple[Simulator, str]]],
) -> None:
    """The real page of a running ``syncd run``, rendered by headless Chromium, shows every
    module with its loaded range, freshness bar and two activity charts with bars in them,
    the outbox by state, the alert it raised and the times with their zone; a screenshot
    is kept in artifacts/status-page.png."""
    if _chromium() is None:
        if os.environ.get("SYNCD_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sim, url = await simulator(history_days=120, rate_requests=20, rate_seconds=1.0)
    port = _free_port()
    config = tmp_path / "syncd.toml"
    config.write_text(e2e_config_text(url, pg_dsn, sim.dataset.today - dt.timedelta(days=120),
                                      requests=20, per_seconds=1)
                      + f'\n[schedule]\ninterval = "3s"\n\n[observability]\n'
                        f'listen = "127.0.0.1:{port}"\n')
    proc = await start_cli("run", "--config", str(config), env=CLI_ENV)
    base = f"http://127.0.0.1:{port}"
    try:
        await until(lambda: _loaded(base), "every module loaded in /status.json",
                    deadline_s=60)
        await _outbox_documents(pg_dsn, sim)
        await until(lambda: _drawn(base), "three 10-second buckets of requests, the pushed "
                    "and the refused document and the outbox alert on the page", deadline_s=60)
        dom = await _browser("--dump-dom", base + "/", tmp=tmp_path)
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        await _browser("--window-size=1400,1000", "--hide-scrollbars",
                       f"--screenshot={artifacts / 'status-page.png'}", base + "/", tmp=tmp_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        result = await finish_cli(proc, 30)
    assert result.code == 0
    assert "syncd status" in dom
    for module in ("customer", "supplier", "item", "sales", "purchase", "collection",
                   "sales_order", "price_matrix"):
        assert f'data-module="{module}"' in dom
    assert "leader" in dom
    assert str(sim.dataset.today) in dom  # the loaded range reaches today
    assert dom.count("data-freshness") >= 8  # each module's age against its target
    assert dom.count('data-chart="activity"') == 16  # last 10 min and last 6 h per module
    assert re.search(r'data-series="requests" data-total="[1-9]\d*" data-buckets="[3-9]', dom)
    assert re.search(r'data-series="rows" data-total="[1-9]', dom)
    assert 'data-chart="outbox"' in dom
    assert 'data-state="invalid"' in dom
    assert 'data-state="inserted"' in dom
    assert 'data-alert="outbox"' in dom  # the alerts open now
    assert "times in Asia/Kuala_Lumpur (UTC+08:00)" in dom
    assert "+08:00" in dom  # each row's time carries its offset
    assert " UTC, refreshes" in dom  # the header is UTC
    assert (artifacts / "status-page.png").stat().st_size > 1000


async def _loaded(base: str) -> bool:
    try:
        doc = json.loads(await _get(base + "/status.json"))
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    mods = doc["sources"][0]["modules"]
    return len(mods) == 8 and all(m["high_watermark"] for m in mods)


async def _drawn(base: str) -> bool:
    """The page's 10-minute charts hold three buckets with requests, and the outbox's two
    documents are decided with the alert for the refused one open."""
    page = await _get(base + "/")
    buckets = [int(n) for n in re.findall(
        r"data-series=requests data-total=\d+ data-buckets=(\d+)", page)]
    return (max(buckets, default=0) >= 3 and "data-state=invalid" in page
            and "data-state=inserted" in page and "data-alert='outbox'" in page)


async def _outbox_documents(dsn: str, sim: Simulator) -> None:
    """One sales document the simulator accepts and one it cannot (no customer, no lines)."""
    item = sim.dataset.masters("item")[0]["ItemCode"]
    good = {"Doc1No": "PAGE-1", "CusCode": sim.dataset.masters("customer")[0]["CusCode"],
            "DocType": "CS", "HCNetAmt": Decimal("19.90"), "HCDtTax": Decimal("0"),
            "items": [{"ItemCode": item, "Description": "x", "Qty": 1, "FactorQty": 1,
                       "UOM": "PCS", "HCUnitCost": Decimal("19.90"),
                       "HCLineAmt": Decimal("19.90"), "BlankLine": "0"}]}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO syncd.outbox (source, module, document) VALUES ('main', 'sales', "
            "$1::jsonb)", [(dumps(good),), ('{"Doc1No": "BAD-1"}',)])
    finally:
        await conn.close()


def test_freshness_bar_and_open_alerts() -> None:
    """Each module shows its age against its target (green, amber past it, red past twice
    it); the alerts open now are listed above the sources; the header time is UTC."""
    doc = {"sources": [{**DOC["sources"][0], "modules": [
        {**DOC["sources"][0]["modules"][0], "freshness_target": 300.0, "age_seconds": 90.0},
        {**DOC["sources"][0]["modules"][1], "freshness_target": 300.0, "age_seconds": 900.0},
    ]}], "alerts": [{"scope": "main", "module": "item", "condition": "failing",
                     "opened_at": "2026-11-21T09:58:00+00:00",
                     "what": "3 passes in a row failed: <denied>"}]}
    page = statuspage.render(doc, NOW.astimezone(dt.timezone(dt.timedelta(hours=8))))
    assert "data-freshness=fresh" in page
    assert "90 s / 5 min" in page
    assert "data-freshness=stale" in page
    assert "width:100.0%" in page
    assert "data-alerts=1" in page
    assert "3 passes in a row failed: &lt;denied&gt;" in page
    assert "updated 2026-11-21 10:00:00 UTC" in page
    assert "no alerts open" in statuspage.render({**doc, "alerts": []}, NOW)


def test_charts_outbox_and_times_with_their_zone() -> None:
    """With the daemon's history each module gets its 10-minute and 6-hour chart and the
    last hour's figures; the source names its zone, each time carries its offset, the
    outbox is drawn by state; without history the page shows the last hour's numbers."""
    minutes = Series(NOW.timestamp() - 590, 10, (Counts(),) * 59 + (Counts(3, 1, 50),))
    hours = Series(NOW.timestamp() - 71 * 300, 300, (Counts(),) * 71 + (Counts(3, 1, 50),))
    source = {**DOC["sources"][0], "timezone": "Asia/Kuala_Lumpur",
              "outbox": {"sales": {"pending": 1, "sending": 0, "inserted": 3, "rejected": 0,
                                   "invalid": 0}}}
    page = statuspage.render({"sources": [source]}, NOW, {
        ("main", "sales"): (minutes, hours), ("main", "item"): (minutes, hours)})
    assert page.count("data-chart=activity") == 4
    assert "last hour 3 requests, 1 × 429, 50 rows" in page
    assert "times in Asia/Kuala_Lumpur (UTC+08:00)" in page
    assert "last 10 min per 10 s, 17:50–18:00" in page  # NOW is 18:00 in Kuala Lumpur
    assert "2026-11-21 17:59:00 <span class=meta>+08:00</span>" in page
    assert "data-outbox='sales'" in page
    assert "data-state=inserted" in page
    assert "3 inserted" in page
    plain = statuspage.render(DOC, NOW)
    assert "data-chart=activity" not in plain
    assert "30 / 1" in plain  # requests / 429 in the last hour, from the document
