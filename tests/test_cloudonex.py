"""CloudOnex end to end: the bundled simulator over real sockets, a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.cli import commands
from syncd.core.backoff import Backoff
from syncd.core.results import ModuleRun
from syncd.engine import progress
from syncd.service.status import document as status_document
from tests.conftest import CLOUDONEX_KEY, cli_env, fetch, run_cli

FAST = Backoff(initial=0.05, maximum=0.2, attempts=4)
MONEY = ("amount", "price", "tax_rate", "qty", "balance")


def cx_config(tmp_path: Path, url: str, dsn: str, *, modules: list[str] | None = None,
              requests: int = 100000, per_seconds: float = 3600, full_read: str = "6h",
              page_size: int = 100, auth: str | None = None) -> Path:
    listed = "" if modules is None else "modules = [" + ", ".join(f'"{m}"' for m in modules) + "]\n"
    listed += "" if auth is None else f'auth = "{auth}"\n'
    path = tmp_path / "syncd.toml"
    path.write_text(
        f'[warehouse]\ndsn = "{dsn}"\n\n[schedule]\nfull_read = "{full_read}"\n\n'
        f'[sources.crm]\nkind = "cloudonex"\nbase_url = "{url}"\n{listed}'
        f"page_size = {page_size}\n\n[sources.crm.rate_limit]\nrequests = {requests}\n"
        f"per_seconds = {per_seconds}\nmargin_seconds = 0\n", encoding="utf-8")
    return path


ENV = {"SYNCD_CRM_API_KEY": CLOUDONEX_KEY}


async def sync(path: Path, *, modules: list[str] | None = None) -> list[ModuleRun]:
    cfg = config.load(path, ENV, need_credentials=True)
    sources = commands.select(cfg, None, modules or [])
    return await commands.sync(cfg, sources, lambda s: progress.LogProgress(),
                               now=dt.datetime.now(dt.UTC), backoff=FAST)


async def assert_exact(sim: Any, dsn: str, resource: str) -> None:
    """Live warehouse rows equal the simulator's live records: ids, money, item lines."""
    truth = {r["id"]: r for r in sim.records(resource)}
    rows = await fetch(dsn, f"SELECT * FROM cloudonex.{resource} "
                       "WHERE _deleted_at IS NULL")
    assert {r["id"] for r in rows} == set(truth), resource
    for row in rows:
        rec = truth[row["id"]]
        for name in MONEY:
            if name in rec and name in row:
                assert row[name] == Decimal(str(rec[name])), (resource, name, row["id"])
    if resource == "invoices":
        lines = await fetch(dsn, "SELECT invoice_id, line_seq, amount, qty FROM "
                            "cloudonex.invoice_items WHERE _deleted_at IS NULL "
                            "ORDER BY invoice_id, line_seq")
        want = [(rid, n, Decimal(str(i["amount"])), Decimal(str(i["qty"])))
                for rid, rec in sorted(truth.items()) for n, i in enumerate(rec["items"], 1)]
        assert [(r["invoice_id"], r["line_seq"], r["amount"], r["qty"]) for r in lines] == want


@pytest.mark.parametrize("quirks", [{}, {"numbers_as_strings": True, "zoneless_datetimes": True,
                                         "stale_updated_at": True, "extra_fields": True}])
async def test_complete_read_is_exact(cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path,
                                      quirks: dict[str, bool]) -> None:
    """The first pass reads every resource completely; rows, money and lines are exact and
    requests are the minimum, ⌈records / page size⌉ per resource (no candidates yet)."""
    sim, url = await cloudonex_simulator(scale=0.5, **quirks)
    path = cx_config(tmp_path, url, pg_dsn)
    runs = await sync(path)
    assert all(r.error is None for r in runs), [str(r.error) for r in runs]
    for resource in ("customers", "invoices", "transactions", "products", "leads"):
        await assert_exact(sim, pg_dsn, resource)
    pages = [-(-len(sim.records(r.module)) // 100) or 1 for r in runs]
    assert len(sim.requests) == sum(pages)
    created = await fetch(pg_dsn, "SELECT created_at FROM cloudonex.customers "
                          "ORDER BY id LIMIT 1")
    truth = min(sim.records("customers"), key=lambda r: r["id"])["created_at"]
    assert created[0]["created_at"] == truth  # zone-less text read in the source's zone
    if quirks:
        status = await status_document(config.load(path, ENV), dt.datetime.now(dt.UTC))
        customers = next(m for m in status["sources"][0]["modules"]
                         if m["module"] == "customers")
        assert "tags" in customers["new_fields"]


async def test_incremental_edits_inserts_and_deletes(cloudonex_simulator: Any, pg_dsn: str,
                                                     tmp_path: Path) -> None:
    """Edits that keep updated_at are found by content; deletes are marked after a complete
    read; unchanged records are not rewritten; a deleted record that returns is live again."""
    sim, url = await cloudonex_simulator(scale=0.3, stale_updated_at=True)
    path = cx_config(tmp_path, url, pg_dsn, modules=["invoices", "customers"],
                     full_read="0s")
    await sync(path)
    before = {r["id"]: r["_synced_at"] for r in await fetch(
        pg_dsn, "SELECT id, _synced_at FROM cloudonex.customers")}
    invoice = sim.records("invoices")[-1]  # the oldest: outside any recent window
    sim.edit("invoices", invoice["id"], status="Paid", amount=Decimal("0.10"))
    customer = sim.records("customers")[3]
    sim.delete("customers", customer["id"])
    new_ids = sim.insert("invoices", 2)
    runs = await sync(path)
    assert all(r.error is None for r in runs)
    await assert_exact(sim, pg_dsn, "invoices")
    await assert_exact(sim, pg_dsn, "customers")
    row = (await fetch(pg_dsn, "SELECT status, amount FROM cloudonex.invoices WHERE id = $1",
                       invoice["id"]))[0]
    assert (row["status"], row["amount"]) == ("Paid", Decimal("0.10"))
    gone = await fetch(pg_dsn, "SELECT id FROM cloudonex.customers WHERE _deleted_at IS NOT NULL")
    assert [r["id"] for r in gone] == [customer["id"]]
    after = {r["id"]: r["_synced_at"] for r in await fetch(
        pg_dsn, "SELECT id, _synced_at FROM cloudonex.customers")}
    assert all(after[i] == before[i] for i in before if i != customer["id"])  # not rewritten
    assert set(new_ids) <= {r["id"] for r in await fetch(pg_dsn, "SELECT id FROM "
                                                         "cloudonex.invoices")}


async def test_budget_spent_by_another_client_waits_for_reset(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """Another client leaves us almost nothing: syncd waits for Reset, no run of 429s."""
    sim, url = await cloudonex_simulator(records={"customers": 450}, scale=0.1,
                                         rate_requests=12, rate_seconds=3)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], requests=12,
                     per_seconds=3)
    sim.spend(10)
    runs = await sync(path)
    assert runs[0].error is None
    assert sum(1 for r in sim.requests if r.limited) == 0
    await assert_exact(sim, pg_dsn, "customers")


async def test_wrong_key_and_forbidden_resource(cloudonex_simulator: Any, pg_dsn: str,
                                                tmp_path: Path) -> None:
    """401 stops the source with one sentence; 403 stops only its resource."""
    sim, url = await cloudonex_simulator(scale=0.1, forbidden=frozenset({"tickets"}))
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers", "tickets"])
    bad = await run_cli("sync", "--config", str(path),
                        env=cli_env(SYNCD_CRM_API_KEY="wrong-key"))
    assert bad.code != 0
    assert any("refused the key of source 'crm'" in s for s in bad.sentences), bad.stderr
    assert "wrong-key" not in bad.stdout + bad.stderr
    good = await run_cli("sync", "--config", str(path), env=cli_env(**ENV))
    assert good.code != 0
    assert [s for s in good.sentences if "tickets" in s], good.stderr
    assert CLOUDONEX_KEY not in good.stdout + good.stderr
    await assert_exact(sim, pg_dsn, "customers")
    status = await run_cli("status", "--json", "--config", str(path), env=cli_env(**ENV))
    assert status.code == 0


async def test_resync_reads_the_range_and_reset_forces_a_complete_read(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """resync re-reads a date range of invoices (paged, date-filtered) and any other resource
    completely; reset forgets the last complete read, so the next sync reads it all again."""
    sim, url = await cloudonex_simulator(scale=0.2)
    path = cx_config(tmp_path, url, pg_dsn, modules=["invoices", "customers"])
    await sync(path)
    sim.requests.clear()
    env = cli_env(**ENV)
    done = await run_cli("resync", "--module", "invoices", "--from", "2020-01-01", "--to",
                         "2099-01-01", "--config", str(path), env=env)
    assert done.code == 0, done.stderr
    assert {r.query.get("date_from") for r in sim.requests} == {"2020-01-01"}
    assert all(r.path.endswith("/invoices") for r in sim.requests)
    sim.requests.clear()
    again = await sync(path)  # nothing due: only the fresh window of invoices
    assert [r.path for r in sim.requests] == ["/api/v2/invoices"]
    assert again[0].module == "invoices"
    reset = await run_cli("reset", "--module", "customers", "--config", str(path), env=env)
    assert reset.code == 0
    assert "reads it completely" in reset.stdout
    sim.requests.clear()
    await sync(path)
    assert {r.path for r in sim.requests} == {"/api/v2/invoices", "/api/v2/customers"}


async def test_register_refuses_a_cloudonex_source(pg_dsn: str, tmp_path: Path) -> None:
    """The SKYBIZ-only command says in one sentence why it does not apply."""
    path = cx_config(tmp_path, "https://crm.example.com/api/v2", pg_dsn)
    env = cli_env(**ENV)
    reg = await run_cli("register", "--source", "crm", "--url", "https://x.example.com/r",
                        "--store-code", "S", "--store-main", "M", "--callback-url",
                        "https://cb.example.com/", "--config", str(path), env=env)
    assert reg.code == 2
    assert any("not obtained by syncd register" in s for s in reg.sentences), reg.stderr
