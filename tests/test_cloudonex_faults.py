"""CloudOnex end to end against a misbehaving server: faults, old servers, caps, no headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from syncd import config
from syncd.cli import commands
from syncd.core.backoff import Backoff
from syncd.core.results import ModuleRun
from syncd.engine import progress
from syncd.service.status import document as status_document
from syncd_simulator.cloudonex.faults import Fault
from tests.conftest import CLOUDONEX_KEY, cli_env, fetch, run_cli
from tests.test_cloudonex import ENV, assert_exact, cx_config

# Enough tries that a page failing every one of them at p = 0.2 is out of reach (0.2^8).
PATIENT = Backoff(initial=0.01, maximum=0.05, attempts=8)
FAST = Backoff(initial=0.01, maximum=0.05, attempts=4)
FEW = ["customers", "invoices", "transactions", "products"]


async def sync(path: Path, backoff: Backoff = FAST) -> list[ModuleRun]:
    cfg = config.load(path, ENV, need_credentials=True)
    sources = commands.select(cfg, None, [])
    runs = await commands.sync(cfg, sources, lambda s: progress.LogProgress(),
                               now=dt.datetime.now(dt.UTC), backoff=backoff)
    assert all(r.error is None for r in runs), [str(r.error) for r in runs]
    return runs


async def marked(dsn: str, resource: str) -> set[int]:
    """Ids the warehouse holds as deleted."""
    rows = await fetch(dsn, f"SELECT id FROM cloudonex.{resource} "
                       "WHERE _deleted_at IS NOT NULL")
    return {r["id"] for r in rows}


async def stored(dsn: str, resource: str) -> set[int]:
    """Ids the warehouse holds as live."""
    rows = await fetch(dsn, f"SELECT id FROM cloudonex.{resource} WHERE _deleted_at IS NULL")
    return {r["id"] for r in rows}


async def full_read_at(path: Path) -> dict[str, Any]:
    status = await status_document(config.load(path, ENV), dt.datetime.now(dt.UTC))
    return {m["module"]: m["last_full_read_at"] for m in status["sources"][0]["modules"]}


async def test_faulty_server_ends_exact_and_deletes_only_what_went(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """A fifth of the answers broken (every fault kind, fixed seed): rows and money end
    exact, nothing is marked deleted, and the next read marks exactly what was deleted."""
    sim, url = await cloudonex_simulator(scale=0.3, seed=12, faults=0.2, slow_seconds=0.02)
    path = cx_config(tmp_path, url, pg_dsn, modules=FEW, page_size=10, full_read="0s")
    await sync(path, PATIENT)
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
        assert await marked(pg_dsn, resource) == set()
    faults = {r.fault for r in sim.requests if r.fault}
    assert len(faults) >= 4, faults  # the faults really happened, of several kinds
    first = len(sim.requests)

    gone_customer = sim.records("customers")[-1]["id"]
    gone_invoice = sim.records("invoices")[5]["id"]
    sim.delete("customers", gone_customer)
    sim.delete("invoices", gone_invoice)
    sim.edit("invoices", sim.records("invoices")[-1]["id"])  # an old one: only a full read
    await sync(path, PATIENT)
    assert len(sim.requests) > first
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
    assert await marked(pg_dsn, "customers") == {gone_customer}
    assert await marked(pg_dsn, "invoices") == {gone_invoice}
    assert await marked(pg_dsn, "transactions") == set()


async def test_every_fault_kind_in_a_row_is_ridden_out(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """Every fault kind, one after another, is retried until the page is read (a slow
    answer within the read timeout is an answer)."""
    sim, url = await cloudonex_simulator(records={"customers": 60}, scale=0.1,
                                         slow_seconds=0.02)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], page_size=25)
    for fault in Fault:
        sim.inject(fault)
    await sync(path, PATIENT)
    await assert_exact(sim, pg_dsn, "customers")
    assert [r.fault for r in sim.requests[:len(Fault)]] == [f.value for f in Fault]
    assert await marked(pg_dsn, "customers") == set()


async def test_bare_array_server_loads_everything_and_deletes_what_went(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """An older server (bare arrays, no meta) loads exactly, its reads end at a short page,
    a real delete is marked once its GET by id answers 404, and later runs bring changes."""
    sim, url = await cloudonex_simulator(scale=0.2, bare_array=True)
    path = cx_config(tmp_path, url, pg_dsn, modules=FEW, page_size=10, full_read="0s")
    await sync(path)
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
    assert all(v is not None for v in (await full_read_at(path)).values())  # all ended

    gone = sim.records("customers")[2]["id"]
    sim.delete("customers", gone)
    await sync(path)
    assert await marked(pg_dsn, "customers") == {gone}
    asked = [r for r in sim.requests if r.path.startswith("/api/v2/customers/")]
    assert [(r.path, r.status) for r in asked][:1] == [(f"/api/v2/customers/{gone}", 404)]

    new = sim.insert("invoices", 3)
    old = sim.records("invoices")[-1]["id"]
    sim.edit("invoices", old, status="Paid")
    sim.insert("customers", 12)  # more than a page: the listing shifts by one page and more
    await sync(path)
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
    assert set(new) <= await stored(pg_dsn, "invoices")
    row = await fetch(pg_dsn, "SELECT status FROM cloudonex.invoices WHERE id = $1", old)
    assert row[0]["status"] == "Paid"
    assert await marked(pg_dsn, "customers") == {gone}


async def test_without_rate_headers_the_configured_limit_alone_paces(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """A server without X-RateLimit-* headers: the configured limit alone keeps syncd under
    the server's, so no 429 comes back, and everything is read."""
    sim, url = await cloudonex_simulator(scale=0.4, rate_headers=False, rate_requests=10,
                                         rate_seconds=1)
    path = cx_config(tmp_path, url, pg_dsn, modules=FEW, page_size=20, requests=10,
                     per_seconds=1)
    path.write_text(path.read_text().replace("margin_seconds = 0", "margin_seconds = 0.1"))
    await sync(path)
    assert len(sim.requests) > 10  # more than one window's worth: the limiter had to pace
    assert [r for r in sim.requests if r.limited] == []
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
    assert all(v is not None for v in (await full_read_at(path)).values())
    status = await status_document(config.load(path, ENV), dt.datetime.now(dt.UTC))
    assert status["sources"][0]["budget"]["remaining"] is None  # never announced


async def test_server_capped_page_size_still_reads_everything(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """page_size 100 against a server that caps limit at 20: every page is read by the
    server's total_pages, the read is complete, and a delete is then marked."""
    sim, url = await cloudonex_simulator(scale=0.3, limit_cap=20)
    path = cx_config(tmp_path, url, pg_dsn, modules=FEW, page_size=100, full_read="0s")
    await sync(path)
    for resource in FEW:
        await assert_exact(sim, pg_dsn, resource)
    assert all(v is not None for v in (await full_read_at(path)).values())
    customers = [r for r in sim.requests if r.path.endswith("/customers")]
    assert len({r.query["page"] for r in customers}) == -(-len(sim.records("customers")) // 20)
    gone = sim.records("customers")[-1]["id"]
    sim.delete("customers", gone)
    await sync(path)
    await assert_exact(sim, pg_dsn, "customers")
    assert await marked(pg_dsn, "customers") == {gone}


async def test_bare_array_server_with_a_capped_page_size(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """An older server (no meta) that also caps limit below page_size: every record is
    still read, not just the first capped page."""
    sim, url = await cloudonex_simulator(scale=0.3, limit_cap=20, bare_array=True)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers", "transactions"],
                     page_size=100)
    await sync(path)
    await assert_exact(sim, pg_dsn, "customers")
    await assert_exact(sim, pg_dsn, "transactions")


async def test_check_cli_good_and_wrong_key(cloudonex_simulator: Any, pg_dsn: str,
                                            tmp_path: Path) -> None:
    """``syncd check``: an ok row per resource with a good key; with a wrong key every row
    says bad credentials, one sentence says what to fix, and one request was enough."""
    sim, url = await cloudonex_simulator(scale=0.1)
    modules = ["customers", "invoices", "products"]
    path = cx_config(tmp_path, url, pg_dsn, modules=modules)
    good = await run_cli("check", "--config", str(path), env=cli_env(**ENV))
    assert good.code == 0, good.stderr
    rows = [ln.split() for ln in good.stdout.splitlines() if ln.startswith("crm ")]
    assert [(r[1], r[2]) for r in rows] == [(m, "ok") for m in modules]
    assert f"{len(sim.records('customers'))} records" in good.stdout
    assert good.sentences == []

    before = len(sim.requests)
    bad = await run_cli("check", "--config", str(path),
                        env=cli_env(SYNCD_CRM_API_KEY="wrong-key-4711"))
    assert bad.code != 0
    assert bad.stdout.count("bad credentials") == len(modules), bad.stdout
    assert len(bad.sentences) == 1, bad.stderr
    assert "refused the key of source 'crm'" in bad.sentences[0]
    assert "SYNCD_CRM_API_KEY" in bad.sentences[0]
    # refused for one, and once more sent as ?api_key= (refused too): asks no further
    assert len(sim.requests) == before + 2
    for secret in ("wrong-key-4711", CLOUDONEX_KEY):
        assert secret not in good.stdout + good.stderr + bad.stdout + bad.stderr


async def test_text_postgresql_cannot_store_arrives_as_replacement_characters(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """A NUL or a lone surrogate half in one record neither blocks its resource nor shifts
    money: the text is stored with U+FFFD in its place."""
    sim, url = await cloudonex_simulator(records={"customers": 30, "invoices": 30}, scale=0.1)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers", "invoices"], page_size=10)
    customer = sim.records("customers")[12]["id"]
    invoice = sim.records("invoices")[3]["id"]
    sim.edit("customers", customer, account="Ali\ud800 Sdn\x00Bhd", city="\udc00")
    sim.edit("invoices", invoice, notes="paid \ud83d\ude00 \ud83d")
    await sync(path)
    await assert_exact(sim, pg_dsn, "customers")
    await assert_exact(sim, pg_dsn, "invoices")
    row = (await fetch(pg_dsn, "SELECT account, city FROM cloudonex.customers WHERE id = $1",
                       customer))[0]
    assert (row["account"], row["city"]) == ("Ali\ufffd Sdn\ufffdBhd", "\ufffd")
    notes = await fetch(pg_dsn, "SELECT notes FROM cloudonex.invoices WHERE id = $1", invoice)
    assert notes[0]["notes"] == "paid \U0001F600 \ufffd"
