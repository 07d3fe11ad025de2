"""The sync engine end to end: simulator over a real socket → real PostgreSQL, compared
field by field with the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from syncd import config
from syncd.cli import commands
from syncd.core.backoff import Backoff
from syncd.core.model import Field, FieldType, Module
from syncd.core.results import Cycle, ModuleRun, ResyncRange
from syncd.core.windows import Purpose
from syncd.engine.progress import LogProgress
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.sync import SourceSync
from syncd.warehouse import db
from syncd_simulator import Simulator, SimulatorOptions, encoding
from tests.conftest import fetch

TZ = ZoneInfo("Asia/Kuala_Lumpur")
HISTORY = 75


@dataclass
class Env:
    sim: Simulator
    cfg: config.Config
    dsn: str

    @property
    def today(self) -> dt.date:
        return self.sim.dataset.today

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.combine(self.today, dt.time(12), TZ)

    @property
    def backfill_from(self) -> dt.date:
        return self.cfg.sources[0].backfill_from

    async def sync(self, resync: ResyncRange | None = None,
                   modules: tuple[str, ...] | None = None, now: dt.datetime | None = None,
                   backoff: Backoff | None = None) -> list[ModuleRun]:
        sources = list(self.cfg.sources)
        if modules:
            sources = commands.select(self.cfg, None, list(modules))
        now = now or dt.datetime.combine(self.today, dt.time(12), TZ)
        return await commands.sync(self.cfg, sources, lambda s: LogProgress(), now=now,
                                   resync=resync, backoff=backoff)


async def make_env(tmp_path: Path, pg_dsn: str, **options: Any) -> AsyncIterator[Env]:
    sim = Simulator(SimulatorOptions(history_days=HISTORY, rate_requests=1000,
                                     rate_seconds=1.0, **options))
    url = await sim.start()
    path = tmp_path / "syncd.toml"
    path.write_text(
        f'[warehouse]\ndsn = "{pg_dsn}"\n[sources.main]\nbase_url = "{url}"\n'
        f'backfill_from = "{sim.dataset.today - dt.timedelta(days=HISTORY)}"\n'
        f'masters_from = "{sim.dataset.today - dt.timedelta(days=HISTORY)}"\n'
        "[sources.main.rate_limit]\nrequests = 1000\nper_seconds = 1\nmargin_seconds = 0\n")
    env = {"SYNCD_MAIN_API_KEY": sim.options.api_key,
           "SYNCD_MAIN_API_SECRET": sim.options.api_secret}
    try:
        yield Env(sim, config.load(path, env, need_credentials=True), pg_dsn)
    finally:
        await sim.stop()


@pytest.fixture
async def env(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Env]:
    async for e in make_env(tmp_path, pg_dsn):
        yield e


# --- an independent reference for how each raw value must land in its typed column ----

_NUM = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,4})?\s*$")
_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
_TS = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})\s*$")


def expected(field: Field, raw: Any) -> Any:
    if raw is None:
        return None
    text = str(raw)
    if field.type is FieldType.TEXT:
        return text
    if field.type in (FieldType.NUMERIC, FieldType.BIGINT):
        if not _NUM.match(text):
            return None
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            return None
        if field.type is FieldType.NUMERIC:
            return value
        return int(value) if value == value.to_integral_value() else None
    if field.type is FieldType.DATE:
        return _date(text)
    if field.type is FieldType.TIME:
        m = _TIME.match(text)
        return dt.time(*map(int, m.groups())) if m and int(m[1]) < 24 else None
    m = _TS.match(text)
    day = _date(text)
    if not m or day is None or int(m[2]) > 23:
        return None
    return dt.datetime.combine(day, dt.time(int(m[2]), int(m[3]), int(m[4])), TZ)


def _date(text: str) -> dt.date | None:
    m = _DATE.match(text)
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
    except ValueError:
        return None


def assert_row(fields: tuple[Field, ...], row: asyncpg.Record, record: dict[str, Any]) -> None:
    """Every typed column equals what the API sent, and _raw holds it exactly."""
    for f in fields:
        assert row[f.column] == expected(f, record.get(f.name)), (f.name, record.get(f.name))
    raw = json.loads(row["_raw"], parse_float=Decimal)
    # flat rows keep the whole row; a nested document's item keeps just itself, its header
    # the whole document, items included (compared whole in test_nested_documents_…)
    raw.pop("items", None)
    assert raw == {k: v for k, v in record.items() if k in raw}
    assert set(raw) >= {f.name for f in fields}


def key_of(module: Module, record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(expected(next(f for f in module.header if f.name == k), record[k])
                 for k in module.key)


async def assert_matches_source(env: Env, module: Module) -> None:
    truth = env.sim.dataset.records_between(module.name, env.backfill_from, env.today)
    rows = await fetch(env.dsn, f"SELECT * FROM skybiz.{module.name} WHERE _deleted_at IS NULL")
    stored = {tuple(r[k.lower()] for k in module.key): r for r in rows}
    if not module.has_lines:
        assert len(stored) == len(truth)
        for rec in truth:
            assert_row(module.header, stored[key_of(module, rec)], rec)
        return
    docs: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rec in truth:
        docs.setdefault(key_of(module, rec), []).append(rec)
    assert set(stored) == set(docs)
    lines = await fetch(env.dsn, f"SELECT * FROM skybiz.{module.name}_line "
                        "ORDER BY doctype, doc1no, line_seq")
    by_doc: dict[tuple[Any, ...], list[asyncpg.Record]] = {}
    for ln in lines:
        by_doc.setdefault((ln["doctype"], ln["doc1no"]), []).append(ln)
    for key, recs in docs.items():
        assert_row(module.header, stored[key], recs[0])
        real = [r for r in recs if any(r.get(f.name) is not None for f in module.lines)]
        assert [ln["line_seq"] for ln in by_doc.get(key, [])] == list(range(1, len(real) + 1))
        for ln, rec in zip(by_doc.get(key, []), real, strict=True):
            assert_row(module.lines, ln, rec)


async def test_full_backfill_equals_the_source_for_every_module(env: Env) -> None:
    """Every field of every module equals the simulator's ground truth, exactly."""
    runs = await env.sync()
    assert [r.error for r in runs] == [None] * len(skybiz.MODULES)
    for module in skybiz.MODULES:
        await assert_matches_source(env, module)
    marks = await fetch(env.dsn, "SELECT module, low_watermark, high_watermark "
                        "FROM syncd.module_state")
    assert {(r["low_watermark"], r["high_watermark"]) for r in marks} == {
        (env.backfill_from, env.today)}


async def test_nasty_values_survive_exactly(env: Env) -> None:
    """Quotes, backslashes, newlines, emoji and exact decimals come back unchanged."""
    await env.sync(modules=("customer", "sales"))
    names = {r["cusname"] for r in await fetch(env.dsn, "SELECT cusname FROM skybiz.customer")}
    truth = {r["CusName"] for r in env.sim.dataset.records_between(
        "customer", env.backfill_from, env.today)}
    assert names == truth
    assert any(ch in n for n in names for ch in ("'", '"', "\\", "\n"))
    assert any(ord(c) > 0xFFFF for n in names for c in n)  # an emoji survived
    doc = await fetch(env.dsn, "SELECT count(*) AS n FROM skybiz.sales s1 JOIN skybiz.sales s2 "
                      "USING (source, doc1no) WHERE s1.doctype <> s2.doctype")
    assert doc[0]["n"] > 0  # the same Doc1No under two DocTypes is two documents


async def test_second_sync_of_the_same_windows_changes_nothing(env: Env) -> None:
    """Re-reading windows is idempotent: identical rows, no duplicates."""
    await env.sync()
    snapshot = "SELECT * FROM skybiz.{t} ORDER BY 1, 2, 3"
    tables = ("customer", "sales", "sales_line", "collection")
    before = {t: [dict(r) | {"_synced_at": None}
                  for r in await fetch(env.dsn, snapshot.format(t=t))] for t in tables}
    await env.sync(resync=ResyncRange(env.backfill_from, env.today))
    for table, rows in before.items():
        after = [dict(r) | {"_synced_at": None}
                 for r in await fetch(env.dsn, snapshot.format(t=table))]
        assert after == rows, table


async def test_source_mutations_reach_the_warehouse_in_two_requests(env: Env) -> None:
    """Edited masters, new, edited and deleted documents show after one incremental pass."""
    await env.sync()
    ds = env.sim.dataset
    customer = ds.records_between("customer", env.backfill_from, env.today)[0]
    ds.edit_master("customer", customer["CusCode"], {"CusName": "Renamed Sdn Bhd"},
                   dt.datetime.combine(env.today, dt.time(9), TZ).replace(tzinfo=None))
    recent = env.today - dt.timedelta(days=2)
    sales = ds.documents("sales", recent, env.today)
    gone, edited = sales[0], sales[1]
    ds.delete_document("sales", gone.header["DocType"], gone.header["Doc1No"])
    ds.edit_document("sales", edited.header["DocType"], edited.header["Doc1No"],
                     lines=[{**edited.lines[0], "Qty": Decimal("3"), "HCUnitCost": Decimal("1.10"),
                             "HCLineAmt": Decimal("3.30")}])
    ds.add_document("sales", {**sales[2].header, "Doc1No": "NEW-0001"}, sales[2].lines)
    before = len(env.sim.requests)
    runs = await env.sync()
    assert all(r.error is None for r in runs)
    per_module: dict[str, int] = {}
    for req in env.sim.requests[before:]:
        per_module[req.module] = per_module.get(req.module, 0) + 1
    assert max(per_module.values()) <= 2
    for module in ("customer", "sales"):
        await assert_matches_source(env, skybiz.get(module))
    deleted = await fetch(env.dsn, "SELECT _deleted_at, (SELECT bool_and(_deleted_at IS NOT NULL) "
                          "FROM skybiz.sales_line l WHERE l.doc1no = s.doc1no AND l.doctype = "
                          "s.doctype) AS lines_gone FROM skybiz.sales s WHERE doc1no = $1 AND "
                          "doctype = $2", gone.header["Doc1No"], gone.header["DocType"])
    assert deleted[0]["_deleted_at"] is not None
    assert deleted[0]["lines_gone"] is True
    # it comes back: _deleted_at returns to NULL
    ds.add_document("sales", gone.header, gone.lines)
    await env.sync(modules=("sales",))
    back = await fetch(env.dsn, "SELECT _deleted_at FROM skybiz.sales WHERE doc1no = $1 AND "
                       "doctype = $2", gone.header["Doc1No"], gone.header["DocType"])
    assert back[0]["_deleted_at"] is None


async def test_an_older_master_version_never_overwrites_a_newer_one(env: Env) -> None:
    """A re-read that returns an older DateTimeModified leaves the newer row alone."""
    await env.sync(modules=("customer",))
    ds = env.sim.dataset
    rec = ds.records_between("customer", env.backfill_from, env.today)[0]
    newer = dt.datetime.combine(env.today, dt.time(10))
    ds.edit_master("customer", rec["CusCode"], {"CusName": "Newer"}, newer)
    await env.sync(modules=("customer",))
    ds.edit_master("customer", rec["CusCode"], {"CusName": "Older"}, newer - dt.timedelta(hours=5))
    await env.sync(resync=ResyncRange(env.today - dt.timedelta(days=1), env.today),
                   modules=("customer",))
    rows = await fetch(env.dsn, "SELECT cusname FROM skybiz.customer WHERE cuscode = $1",
                       rec["CusCode"])
    assert rows[0]["cusname"] == "Newer"


async def test_nested_documents_load_like_flat_rows(tmp_path: Path, pg_dsn: str) -> None:
    """A server answering nested `items` documents gives the same tables."""
    async for e in make_env(tmp_path, pg_dsn, nested_documents=True):
        runs = await e.sync(modules=("sales", "purchase", "sales_order"))
        assert all(r.error is None for r in runs)
        for name in ("sales", "purchase", "sales_order"):
            nested = e.sim.dataset.records_between(name, e.backfill_from, e.today, nested=True)
            rows = await fetch(e.dsn, f"SELECT doctype, doc1no, _raw FROM skybiz.{name}")
            raws = {(r["doctype"], r["doc1no"]): json.loads(r["_raw"], parse_float=Decimal)
                    for r in rows}
            assert raws == {(d["DocType"], d["Doc1No"]): json.loads(
                encoding.dumps(d), parse_float=Decimal) for d in nested}  # as it was sent
            e.sim.dataset.nested = False  # compare against the flat view of the same truth
            await assert_matches_source(e, skybiz.get(name))


async def test_injected_faults_cost_retries_not_data(tmp_path: Path, pg_dsn: str) -> None:
    """500s, truncated bodies, PHP warnings and resets are retried; the data ends exact."""
    async for e in make_env(tmp_path, pg_dsn, faults=0.25, slow_seconds=0.05):
        runs = await e.sync(modules=("customer", "sales", "collection"),
                            backoff=Backoff(initial=0.0, maximum=0.0, attempts=12))
        assert [r.error for r in runs] == [None, None, None]
        for name in ("customer", "sales", "collection"):
            await assert_matches_source(e, skybiz.get(name))
        assert any(r.fault for r in e.sim.requests), "some requests should have been faulted"
        ledger = await fetch(e.dsn, "SELECT sum(requests) AS n FROM syncd.window")
        # every request the simulator saw is accounted for: one success per window + retries
        assert ledger[0]["n"] == len(e.sim.requests)


@pytest.mark.parametrize("box_tz", ["UTC", "Asia/Kuala_Lumpur", "America/Los_Angeles"])
async def test_windows_follow_the_source_calendar_not_the_box(
    env: Env, monkeypatch: pytest.MonkeyPatch, box_tz: str
) -> None:
    """At 20:00 UTC it is already tomorrow in Kuala Lumpur: the newest window ends there."""
    monkeypatch.setenv("TZ", box_tz)
    time.tzset()
    try:
        now = dt.datetime.combine(env.today - dt.timedelta(days=1), dt.time(20), dt.UTC)
        await env.sync(modules=("sales",), now=now)
    finally:
        monkeypatch.undo()
        time.tzset()
    ledger = await fetch(env.dsn, "SELECT date_from, date_to FROM syncd.window ORDER BY id")
    assert ledger[0]["date_to"] == env.today
    assert max(r["date_to"] for r in ledger) == env.today


async def deep_pass(env: Env, purpose: Purpose, modules: tuple[str, ...],
                    cycle: Cycle) -> list[ModuleRun]:
    """One reread or reconcile pass, as the daemon's deep job runs it."""
    conn = await db.connect(env.dsn)
    try:
        async with SourceSync(env.cfg.sources[0], conn) as worker:
            return await worker.run(modules, LogProgress(), now=env.now,
                                    purposes=frozenset({purpose}), cycle=cycle)
    finally:
        await conn.close()


async def test_nightly_reread_catches_voids_older_than_the_lookback(env: Env) -> None:
    """A document deleted 40 days back is missed by the 7-day lookback, caught by reread."""
    await env.sync(modules=("sales",))
    old = env.sim.dataset.documents("sales", env.today - dt.timedelta(days=40),
                                    env.today - dt.timedelta(days=40))[0].header
    env.sim.dataset.delete_document("sales", old["DocType"], old["Doc1No"])
    await env.sync(modules=("sales",))
    query = "SELECT _deleted_at FROM skybiz.sales WHERE doctype = $1 AND doc1no = $2"
    assert (await fetch(env.dsn, query, old["DocType"], old["Doc1No"]))[0][0] is None
    cycle = Cycle(dt.datetime.now(dt.UTC), reread_days=62)
    runs = await deep_pass(env, Purpose.REREAD, ("sales",), cycle)
    assert runs[0].done == 2  # 62 days: two 31-day windows
    assert (await fetch(env.dsn, query, old["DocType"], old["Doc1No"]))[0][0] is not None
    again = await deep_pass(env, Purpose.REREAD, ("sales",), cycle)
    assert again[0].planned == 0  # the cycle is done; a restart would resume, not redo


async def test_weekly_reconcile_marks_masters_gone_at_the_source(env: Env) -> None:
    """A customer the source no longer returns gets _deleted_at; the others do not."""
    await env.sync(modules=("customer",))
    gone = env.sim.dataset.records_between("customer", env.backfill_from, env.today)[0]
    env.sim.dataset.delete("customer", (gone["CusCode"],))
    cycle = Cycle(dt.datetime.now(dt.UTC))
    runs = await deep_pass(env, Purpose.RECONCILE, ("customer",), cycle)
    assert runs[0].error is None
    rows = await fetch(env.dsn, "SELECT cuscode FROM skybiz.customer "
                       "WHERE _deleted_at IS NOT NULL")
    assert [r["cuscode"] for r in rows] == [gone["CusCode"]]
    again = await deep_pass(env, Purpose.RECONCILE, ("customer",), cycle)
    assert again[0].planned == 0  # applied once per cycle


async def test_loader_accepts_php_quirks_and_unstorable_text(pg_dsn: str) -> None:
    """Records as an object, a lone surrogate, a NUL and a PHP notice all load; money exact."""
    from syncd.core.windows import Window
    from syncd.engine.http import Answer
    from syncd.kinds.skybiz.answers import Context
    from syncd.kinds.skybiz.sync import judged
    from syncd.warehouse.loader import Loader

    body = (b'<br />\n<b>Notice</b>: x<br />\n{"status":"response","request_id":"r1","data":'
            b'{"mode":"2","total_returned":2,"data":{"1":{"CusCode":"C2","CusName":"bad \\ud800",'
            b'"CreditLimit":"N/A","DateTimeModified":"2026-11-20 10:00:00"},"0":{"CusCode":"C1",'
            b'"CusName":"nul\\u0000here","CreditLimit":12345678901234.5678,'
            b'"DateTimeModified":"0000-00-00 00:00:00"}}}}')
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        window = Window(dt.date(2026, 11, 1), dt.date(2026, 11, 21), Purpose.FRESH)
        ctx = Context("main", "customer", "Customer", "x")
        answer = Answer(200, bytearray(body), {}, None, ctx, 1, 0.0)
        result = await Loader(conn, "main", "Asia/Kuala_Lumpur").load(
            skybiz.get("customer"), window, judged(answer, ctx))
        rows = await conn.fetch("SELECT cuscode, cusname, creditlimit, datetimemodified "
                                "FROM skybiz.customer ORDER BY cuscode")
    finally:
        await conn.close()
    assert result.records == 2
    assert result.unparsed == 1  # "N/A" in a number; a zero date-time is "no value"
    assert [r["cuscode"] for r in rows] == ["C1", "C2"]
    assert rows[0]["cusname"] == "nul\ufffdhere"
    assert rows[1]["cusname"] == "bad \ufffd"
    assert rows[0]["creditlimit"] == Decimal("12345678901234.5678")
    assert rows[1]["creditlimit"] is None
    assert rows[0]["datetimemodified"] is None


async def test_rereading_unchanged_documents_rewrites_no_rows(env: Env) -> None:
    """A lookback re-read of unchanged documents leaves every row in place; an edited
    document's lines (and only those) are replaced."""
    await env.sync(modules=("sales",))
    query = ("SELECT doctype, doc1no, line_seq, ctid::text AS at FROM skybiz.sales_line "
             "ORDER BY 1, 2, 3")

    async def places() -> dict[tuple[str, str, int], str]:
        return {(r["doctype"], r["doc1no"], r["line_seq"]): r["at"]
                for r in await fetch(env.dsn, query)}

    before = await places()
    edited = env.sim.dataset.documents("sales", env.today, env.today)[0]
    env.sim.dataset.edit_document("sales", edited.header["DocType"], edited.header["Doc1No"],
                                  lines=[{**edited.lines[0], "Description": "changed"}])
    runs = await env.sync(resync=ResyncRange(env.backfill_from, env.today), modules=("sales",))
    assert runs[0].error is None
    after = await places()
    moved = {k[:2] for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert moved == {(edited.header["DocType"], edited.header["Doc1No"])}
    await assert_matches_source(env, skybiz.get("sales"))


def test_sources_on_one_host_share_one_limiter() -> None:
    """The server limits per IP too: sources on one host share a limiter at the strictest
    rate and widest margin; a source on another host keeps its own."""
    from dataclasses import replace

    from syncd.config import RateLimit, SkybizOptions, SourceConfig
    from syncd.engine.hosts import limiters_for

    base = SourceConfig(name="a", kind="skybiz", base_url="https://erp.example.com/x/modules",
                        timezone="Asia/Kuala_Lumpur", options=SkybizOptions(dt.date(2026, 1, 1)),
                        modules=("sales",), rate_limit=RateLimit(5, 10.0, 0.2))
    shop2 = replace(base, name="b", base_url="https://ERP.example.com/y/modules",
                    rate_limit=RateLimit(4, 10.0, 0.5))
    other = replace(base, name="c", base_url="https://other.example.com/modules")
    limiters = limiters_for([base, shop2, other])
    assert limiters["a"] is limiters["b"]
    assert limiters["c"] is not limiters["a"]
    window = limiters["a"]._window
    assert (window.requests, window.per_seconds, window.margin) == (4, 10.0, 0.5)
