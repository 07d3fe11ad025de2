"""Masters walk back to masters_from, whatever backfill_from says (CONTRACT §4): end to end
against a simulator whose masters were modified over years before its documents' history."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.cli import commands
from syncd.core.model import ModuleKind
from syncd.engine import progress
from syncd.kinds.skybiz import modules as skybiz
from tests.conftest import fetch, run_cli
from tests.test_sync import assert_row, key_of

pytestmark = pytest.mark.slow
MASTERS = [m for m in skybiz.MODULES if m.kind is ModuleKind.MASTER]
DOCUMENTS = [m for m in skybiz.MODULES if m.kind is ModuleKind.DOCUMENT]
DEFAULT_MASTERS_FROM = dt.date(2000, 1, 1)


def config_text(url: str, dsn: str, backfill_from: dt.date, extra: str = "") -> str:
    """One source with the product's defaults (no masters_from unless ``extra`` sets it)."""
    return (f'[warehouse]\ndsn = "{dsn}"\n\n[sources.main]\nbase_url = "{url}"\n'
            f'backfill_from = "{backfill_from}"\n{extra}\n[sources.main.rate_limit]\n'
            "requests = 1000\nper_seconds = 1\nmargin_seconds = 0\n")


def windows(since: dt.date, today: dt.date) -> int:
    """Windows of at most 31 days from ``since`` to ``today``."""
    return math.ceil(((today - since).days + 1) / 31)


async def test_masters_older_than_backfill_from_load_and_documents_stop_there(
    simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """With backfill_from = today - 120 and masters modified over 8 years, every master
    module is complete and exact back to 2000-01-01, documents stop at backfill_from, and
    each module costs one request per 31-day window of its own span."""
    sim, url = await simulator(history_days=120, masters_days=8 * 365)
    today = sim.dataset.today
    backfill_from = today - dt.timedelta(days=120)
    path = tmp_path / "syncd.toml"
    path.write_text(config_text(url, pg_dsn, backfill_from), encoding="utf-8")
    result = await run_cli("sync", "--config", str(path), limit_s=300)
    assert result.code == 0, result.stderr[-2000:]

    status = json.loads((await run_cli("status", "--json", "--config", str(path))).stdout)
    by_module = {m["module"]: m for m in status["sources"][0]["modules"]}
    assert all(m["backfill_complete"] and m["backfill_progress"] == 1.0
               for m in by_module.values()), by_module
    for module in MASTERS:
        assert by_module[module.name]["low_watermark"] == DEFAULT_MASTERS_FROM.isoformat()
        truth = sim.dataset.records_between(module.name, DEFAULT_MASTERS_FROM, today)
        old = [r for r in truth if str(r[module.date_field]) < backfill_from.isoformat()]
        assert old, f"{module.name}: the simulator has masters older than backfill_from"
        rows = await fetch(pg_dsn, f"SELECT * FROM {module.table} WHERE _deleted_at IS NULL")
        stored = {tuple(r[k.lower()] for k in module.key): r for r in rows}
        assert len(stored) == len(truth), module.name
        for rec in truth:
            assert_row(module.header, stored[key_of(module, rec)], rec)
    for module in DOCUMENTS:
        assert by_module[module.name]["low_watermark"] == backfill_from.isoformat()
        oldest = (await fetch(pg_dsn, f"SELECT min(d_ate) FROM {module.table}"))[0][0]
        assert oldest >= backfill_from, module.name

    asked = {m.name: sum(1 for r in sim.requests if r.module == m.name and r.status == 200)
             for m in skybiz.MODULES}
    assert asked == {m.name: windows(DEFAULT_MASTERS_FROM if m.kind is ModuleKind.MASTER
                                     else backfill_from, today) for m in skybiz.MODULES}


async def test_backfill_goes_newest_first_across_modules_at_different_depths(
    simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """A module already loaded 200 days back waits while a newly added module catches up:
    at a binding rate the newer windows of any module start before the older of any."""
    sim, url = await simulator(history_days=30, masters_days=400)
    today = sim.dataset.today
    path = tmp_path / "syncd.toml"
    env = {"SYNCD_MAIN_API_KEY": sim.options.api_key,
           "SYNCD_MAIN_API_SECRET": sim.options.api_secret}

    async def sync(modules: list[str], masters_days: int, rate: str) -> None:
        text = config_text(url, pg_dsn, today - dt.timedelta(days=30),
                           f'masters_from = "{today - dt.timedelta(days=masters_days)}"\n'
                           f"modules = {json.dumps(modules)}\n").replace(
            "requests = 1000\nper_seconds = 1\n", rate)
        path.write_text(text, encoding="utf-8")
        cfg = config.load(path, env, need_credentials=True)
        runs = await commands.sync(cfg, list(cfg.sources), lambda s: progress.LogProgress(),
                                   now=dt.datetime.now(dt.UTC))
        assert [r.error for r in runs] == [None] * len(modules)

    await sync(["customer"], 200, "requests = 1000\nper_seconds = 1\n")
    before = len(sim.requests)
    await sync(["customer", "item"], 400, "requests = 1\nper_seconds = 0.25\n")
    reads = [(r.module, dt.date.fromisoformat(r.date_to)) for r in sim.requests[before:]
             if r.date_to]
    boundary = today - dt.timedelta(days=200)  # where customer's earlier pass stopped
    newer_item = max(n for n, (m, end) in enumerate(reads) if m == "item" and end > boundary)
    older_customer = [n for n, (m, end) in enumerate(reads) if m == "customer" and end < boundary]
    # customer's first older window may already wait when the pass starts (and one more may
    # slip into a pipeline gap of a slow box); the rest wait until item has read down to
    # customer's depth. Arrival order (FIFO) alternates them: 6 of 7 go early.
    assert sum(n < newer_item for n in older_customer) <= 2, reads
    assert len(older_customer) == math.ceil(200 / 31)  # today-400 .. today-201, all read
