"""Freshness in `status --json` and `bi.freshness` (CONTRACT §11), on a real warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from syncd.core.results import ResyncRange
from syncd.service.status import document as status_document
from tests.test_sync import Env, fetch, make_env


@pytest.fixture
async def env(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Env]:
    async for e in make_env(tmp_path, pg_dsn):
        yield e


def with_targets(env: Env, **targets: float) -> Env:
    source = env.cfg.sources[0]
    source = replace(source, freshness={**source.freshness, **targets})
    return replace(env, cfg=replace(env.cfg, sources=(source,)))


async def test_age_counts_from_the_newest_read_of_the_top_of_the_range(env: Env) -> None:
    """After a backfill every module's age is its newest committed read; a resync of an
    old range is no newer read; status and bi.freshness agree on target, age and stale."""
    env = with_targets(env, sales=300.0, customer=21600.0)
    assert all(r.error is None for r in await env.sync(modules=("sales", "customer")))
    now = dt.datetime.now(dt.UTC)
    doc = await status_document(env.cfg, now + dt.timedelta(seconds=400))
    mods = {m["module"]: m for m in doc["sources"][0]["modules"]}
    assert mods["sales"]["freshness_target"] == 300.0
    assert 400 <= mods["sales"]["age_seconds"] < 460
    assert mods["sales"]["stale"] is True  # 400 s > 5 minutes
    assert mods["customer"]["stale"] is False
    assert mods["item"]["age_seconds"] is None
    assert mods["item"]["stale"] is True
    assert mods["sales"]["target_met"] is True
    before = await fetch(env.dsn, "SELECT read_at FROM syncd.freshness WHERE module = 'sales'")
    old = env.backfill_from
    await env.sync(resync=ResyncRange(old, old + dt.timedelta(days=3)), modules=("sales",))
    after = await fetch(env.dsn, "SELECT read_at FROM syncd.freshness WHERE module = 'sales'")
    assert after == before
    rows = {r["module"]: r for r in await fetch(
        env.dsn, "SELECT module, freshness_target, age_seconds, stale FROM bi.freshness")}
    assert rows["sales"]["freshness_target"] == 300.0
    assert 0 <= rows["sales"]["age_seconds"] < 60
    assert rows["sales"]["stale"] is False
    assert rows["customer"]["freshness_target"] == 21600.0


async def test_a_fresh_window_is_a_newer_read(env: Env) -> None:
    """A later pass that re-reads today moves the module's read time forward."""
    assert all(r.error is None for r in await env.sync(modules=("sales",)))
    first = (await fetch(env.dsn, "SELECT read_at FROM syncd.freshness "
                         "WHERE module = 'sales'"))[0]["read_at"]
    await env.sync(modules=("sales",))
    second = (await fetch(env.dsn, "SELECT read_at FROM syncd.freshness "
                          "WHERE module = 'sales'"))[0]["read_at"]
    assert second > first
