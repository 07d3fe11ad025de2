"""Crash safety end to end: ``syncd sync`` killed with SIGKILL mid-backfill resumes where it
stopped, re-reads no committed window, and ends with exactly the source's data."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from syncd_simulator import Simulator
from tests.conftest import e2e_config_text, finish_cli, run_cli, start_cli
from tests.waiting import until

pytestmark = pytest.mark.slow
StartSim = Callable[..., Awaitable[tuple[Simulator, str]]]

MODULES = ["sales", "item", "collection"]
HISTORY = 400  # 13 windows per module: ~40 requests at 5/s, about 9 s for a full backfill
KILL_AFTER = 10  # committed windows before the kill: past the first window, far from done
SINGLE_KEYS = {"item": "ItemCode", "collection": "RunNo"}  # modules keyed by one field


async def committed_windows(conn: asyncpg.Connection) -> int:
    """How many windows the ledger holds (0 before the schema exists)."""
    if await conn.fetchval("SELECT to_regclass('syncd.window')") is None:
        return 0
    count: int = await conn.fetchval("SELECT count(*) FROM syncd.window")
    return count


async def wait_for_windows(dsn: str, proc: asyncio.subprocess.Process, at_least: int,
                           deadline_s: float = 30.0) -> int:
    """Poll the ledger until ``at_least`` windows are committed; fail if the child exits."""
    conn = await asyncpg.connect(dsn)

    async def enough() -> int | None:
        n = await committed_windows(conn)
        return n if n >= at_least else None

    def ended() -> str | None:
        return None if proc.returncode is None else "sync ended before it could be killed"

    try:
        return await until(enough, f"{at_least} committed windows", deadline_s=deadline_s,
                           alive=ended)
    finally:
        await conn.close()


def ground_truth_lines(sim: Simulator, low: dt.date, high: dt.date) -> Counter[tuple[str, str]]:
    """Lines per (DocType, Doc1No) that the source holds for sales over ``low..high``."""
    return Counter((str(r["DocType"]), str(r["Doc1No"]))
                   for r in sim.dataset.records_between("sales", low, high))


async def test_killed_backfill_resumes_without_rereading(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """A sync killed with SIGKILL after some windows resumes on the next run: no backfill
    window is committed twice, the watermarks span backfill_from..today, and the warehouse
    holds exactly the source's rows, each once."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=HISTORY)
    today, backfill_from = sim.dataset.today, sim.dataset.start
    path = tmp_path / "syncd.toml"
    path.write_text(e2e_config_text(url, pg_dsn, backfill_from, modules=MODULES, requests=5,
                                    per_seconds=1, margin=0.05), encoding="utf-8")

    first = await start_cli("sync", "--config", str(path))
    drained = asyncio.create_task(finish_cli(first))  # keep its pipes from filling up
    before_kill = await wait_for_windows(pg_dsn, first, KILL_AFTER)
    first.kill()
    killed = await drained
    assert killed.code == -9

    conn = await asyncpg.connect(pg_dsn)
    try:
        at_kill = await conn.fetch("SELECT module, date_from, date_to FROM syncd.window")
        assert len(at_kill) >= before_kill
        backfilled = await conn.fetch("SELECT module FROM syncd.module_state "
                                      "WHERE low_watermark = $1", backfill_from)
        assert len(backfilled) < len(MODULES)  # the kill really interrupted the backfill

        second = await run_cli("sync", "--config", str(path), limit_s=60)
        assert second.code == 0, second.stderr[-2000:]

        # (2) no backfill window committed twice, and none committed before the kill re-read
        windows = await conn.fetch("SELECT module, date_from, date_to, purpose "
                                   "FROM syncd.window ORDER BY id")
        backfill = Counter((w["module"], w["date_from"], w["date_to"])
                           for w in windows if w["purpose"] == "backfill")
        assert [k for k, n in backfill.items() if n > 1] == []
        rereads = [w for w in windows[len(at_kill):] if w["purpose"] == "backfill"
                   and (w["module"], w["date_from"], w["date_to"]) in
                   {(a["module"], a["date_from"], a["date_to"]) for a in at_kill}]
        assert rereads == []

        # (3) every module's loaded range is backfill_from..today
        marks = await conn.fetch("SELECT module, low_watermark, high_watermark "
                                 "FROM syncd.module_state WHERE source = 'main'")
        loaded = {m["module"]: (m["low_watermark"], m["high_watermark"]) for m in marks}
        assert loaded == dict.fromkeys(MODULES, (backfill_from, today))

        # (1) the data equals the source's ground truth
        truth = ground_truth_lines(sim, backfill_from, today)
        docs = await conn.fetch("SELECT h.doctype, h.doc1no, count(l.*) AS lines "
                                "FROM skybiz.sales h LEFT JOIN skybiz.sales_line l "
                                "USING (source, doctype, doc1no) GROUP BY 1, 2")
        assert Counter({(d["doctype"], d["doc1no"]): d["lines"] for d in docs}) == truth
        for module, key in SINGLE_KEYS.items():
            expected = sorted(str(r[key]) for r in
                              sim.dataset.records_between(module, backfill_from, today))
            got = await conn.fetch(f"SELECT {key.lower()}::text AS k "
                                   f"FROM skybiz.{module} ORDER BY 1")
            assert sorted(r["k"] for r in got) == expected, module

        # (4) each row once: primary keys hold it, and the line total matches the flat rows
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM skybiz.sales_line) AS lines, "
            "(SELECT count(*) FROM skybiz.sales WHERE _deleted_at IS NOT NULL) AS deleted")
        assert counts["lines"] == len(sim.dataset.records_between("sales", backfill_from,
                                                                  today))
        assert counts["deleted"] == 0
    finally:
        await conn.close()
