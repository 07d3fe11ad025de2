"""CloudOnex write-back end to end: the outbox in a real PostgreSQL, the simulator on a socket."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd import config
from syncd.cli import push as command
from syncd.core.backoff import Backoff
from syncd.engine.outbox.jsontext import dumps
from tests.conftest import cli_env, fetch, finish_cli, run_cli, start_cli
from tests.test_cloudonex import ENV, cx_config, sync
from tests.waiting import until

pytestmark = pytest.mark.slow
FAST = Backoff(0, 0, attempts=4)
ITEMS = [{"description": "Web Development", "amount": Decimal("1234567.89"), "qty": 1},
         {"description": "Hosting", "amount": Decimal("33.33"), "qty": Decimal("1.5")}]


def documents(customer_id: int) -> dict[str, dict[str, Any]]:
    """One valid create per resource, with digits a float would lose."""
    return {
        "customers": {"account": "Jane Smith", "email": "jane@example.com",
                      "phone": "0123456789", "city": "New York", "zip": "01001"},
        "products": {"name": "Web Hosting", "price": Decimal("99.99"),
                     "description": "Annual web hosting package", "type": "service",
                     "tax_rate": Decimal("8.25")},
        "invoices": {"customer_id": customer_id, "date": "2024-01-15",
                     "due_date": "2024-02-15", "items": ITEMS, "notes": "Net 30"},
        "quotes": {"customer_id": customer_id, "valid_until": "2024-02-15", "items": ITEMS},
        "transactions": {"type": "Income", "account_id": 1, "amount": Decimal("0.10"),
                         "category_id": 1, "description": "Website payment",
                         "date": "2024-01-15"},
        "tickets": {"customer_id": customer_id, "subject": "Technical Support Required",
                    "message": "Need assistance", "department_id": 1, "priority": "High"},
        "leads": {"first_name": "John", "last_name": "Smith", "email": "john@example.com",
                  "company": "Acme Corp", "phone": "1234567890", "source": "Website"},
    }


async def add(dsn: str, module: str, docs: list[dict[str, Any]], operation: str = "create",
              target: str | None = None) -> list[int]:
    """Insert rows into the outbox the way a user's system would (SQL)."""
    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetchval(
            "INSERT INTO syncd.outbox (source, module, document, operation, target_id) "
            "VALUES ('crm', $1, $2::jsonb, $3, $4) RETURNING id", module, dumps(d), operation,
            target) for d in docs]
    finally:
        await conn.close()


async def rows(dsn: str) -> dict[int, asyncpg.Record]:
    """Every outbox row by id."""
    return {r["id"]: r for r in await fetch(dsn, "SELECT * FROM syncd.outbox ORDER BY id")}


async def setup(start: Any, tmp_path: Path, dsn: str, **options: Any) -> tuple[Any, Path]:
    """A CloudOnex simulator, a config for it, and a migrated warehouse."""
    sim, url = await start(scale=0.2, **options)
    path = cx_config(tmp_path, url, dsn, page_size=20)
    assert (await run_cli("migrate", "--config", str(path), env=cli_env(**ENV))).code == 0
    return sim, path


async def push(path: Path, *modules: str, backoff: Backoff = FAST) -> list[command.ModulePush]:
    """The push command's body in this process (the simulator shares the loop)."""
    cfg = config.load(path, ENV, need_credentials=True)
    return await command.push(cfg, list(cfg.sources), command.modules(list(modules)),
                              backoff=backoff)


def posts(sim: Any, path: str | None = None) -> list[Any]:
    """The write requests the simulator saw (optionally to one path)."""
    return [r for r in sim.requests if r.method != "GET" and (path is None or r.path == path)]


async def test_each_resource_is_created_exact_at_the_server(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """Every resource's create arrives with its types and every digit; created_id is set."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    docs = documents(sim.records("customers")[-1]["id"])
    ids = {m: (await add(pg_dsn, m, [d]))[0] for m, d in docs.items()}
    results = await push(path)
    assert all(r.error is None for r in results), [str(r.error) for r in results]
    got = await rows(pg_dsn)
    for module, row_id in ids.items():
        row = got[row_id]
        assert (row["state"], row["attempts"]) == ("inserted", 1), (module, row["error"])
        record = next(r for r in sim.records(module) if str(r["id"]) == row["created_id"])
        for name, value in docs[module].items():
            if name == "items":
                assert [(i["description"], i["amount"], Decimal(str(i["qty"])))
                        for i in record["items"]] == [
                    (i["description"], Decimal(str(i["amount"])), Decimal(str(i["qty"])))
                    for i in value], module
            elif isinstance(value, Decimal):
                assert record[name] == value, (module, name)
                assert str(record[name]) == str(value), (module, name)
            else:
                assert str(record[name]) == str(value), (module, name)
    invoice = next(r for r in sim.records("invoices") if str(r["id"]) == got[ids["invoices"]][
        "created_id"])
    assert invoice["amount"] == Decimal("1234617.89")  # 1234567.89 + 49.995, to the cent


async def test_rejected_and_invalid_documents_carry_the_api_words(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """Client-side rules make `invalid` rows; a 400 makes `rejected` with the API's message
    and the first field it names; neither reaches the server twice."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    [bad_email] = await add(pg_dsn, "customers", [{"account": "X", "email": "not-an-email"}])
    [zero] = await add(pg_dsn, "invoices", [{"customer_id": 1, "items": [
        {"description": "Free", "amount": 0, "qty": 1}]}])
    [unknown] = await add(pg_dsn, "invoices", [{"customer_id": 999999, "items": ITEMS}])
    results = await push(path, "customers", "invoices")
    got = await rows(pg_dsn)
    assert (got[bad_email]["state"], got[bad_email]["error"], got[bad_email]["fail_category"]
            ) == ("invalid", "email: Invalid email format", "validation")
    assert (got[zero]["state"], got[zero]["error"]) == (
        "invalid", "items.0.amount: Amount must be greater than 0")
    assert (got[unknown]["state"], got[unknown]["error"], got[unknown]["fail_category"]) == (
        "rejected", "Customer not found", "customer_id")
    assert [p.state for r in results for p in r.problems] == ["invalid", "invalid", "rejected"]
    assert len(posts(sim)) == 1


async def test_several_customers_go_in_one_batch(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """Five pending customer creates are one POST /batch/customers; each row gets its id."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    ids = await add(pg_dsn, "customers", [{"account": f"Shop {n}", "email": f"s{n}@x.com"}
                                          for n in range(5)])
    [result] = await push(path, "customers")
    assert (result.inserted, result.requests) == (5, 1)
    assert [r.path for r in posts(sim)] == ["/api/v2/batch/customers"]
    got = await rows(pg_dsn)
    by_id = {str(r["id"]): r for r in sim.records("customers")}
    assert [by_id[got[i]["created_id"]]["account"] for i in ids] == [f"Shop {n}"
                                                                      for n in range(5)]


async def test_lost_answer_leaves_exactly_one_record(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """The server commits, then drops the connection: syncd finds the record (one GET) and
    never posts it again."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    docs = documents(1)
    [row_id] = await add(pg_dsn, "invoices", [docs["invoices"]])
    sim.writes.lose_after_commit = 1
    before = len(sim.requests)
    [result] = await push(path, "invoices")
    row = (await rows(pg_dsn))[row_id]
    assert (row["state"], row["fail_category"], result.inserted) == ("inserted", "found", 1)
    assert sim.writes.created == [("invoices", int(row["created_id"]))]
    assert [(r.method, r.query.get("page")) for r in sim.requests[before:]] == [
        ("POST", None), ("GET", "1")]


async def test_500_before_commit_is_looked_for_then_sent_again(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """A 500 on a create may or may not have created it: syncd looks, finds nothing, sends
    again, and the server holds one record."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    [row_id] = await add(pg_dsn, "transactions", [documents(1)["transactions"]])
    sim.writes.fail_before_commit = 1
    [result] = await push(path, "transactions")
    row = (await rows(pg_dsn))[row_id]
    assert (row["state"], row["attempts"], result.inserted) == ("inserted", 2, 1)
    assert [r.status for r in posts(sim)] == [500, 201]
    assert len(sim.writes.created) == 1


async def test_kill_during_push_then_rerun_creates_nothing_twice(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """kill -9 while a committed create waits for its answer: the rerun finds it, sends the
    rest, and every document exists once."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    tickets = [documents(1)["tickets"] | {"subject": f"Ticket {n}"} for n in range(3)]
    await add(pg_dsn, "tickets", tickets)
    sim.writes.delay = 60.0
    proc = await start_cli("push", "--source", "crm", "--config", str(path),
                           env=cli_env(**ENV))
    drained = asyncio.create_task(finish_cli(proc, 120))
    await until(lambda: len(sim.writes.created) == 1, "the first create at the server")
    assert [r["state"] for r in (await rows(pg_dsn)).values()] == ["sending", "pending",
                                                                    "pending"]
    os.kill(proc.pid, signal.SIGKILL)
    assert (await drained).code == -signal.SIGKILL
    sim.writes.delay = 0.0
    again = await run_cli("push", "--source", "crm", "--module", "tickets", "--config",
                          str(path), env=cli_env(**ENV))
    assert again.code == 0, again.stdout + again.stderr
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"inserted"}
    subjects = sorted(r["subject"] for r in sim.records("tickets")
                      if r["subject"].startswith("Ticket "))
    assert subjects == ["Ticket 0", "Ticket 1", "Ticket 2"]


async def test_update_and_delete_of_a_customer_read_back(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """PUT changes the customer and DELETE removes another; the next read shows both."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    first, second = (str(r["id"]) for r in sim.records("customers")[:2])
    [upd] = await add(pg_dsn, "customers", [{"phone": "+60 12-345 6789"}], "update", first)
    [gone] = await add(pg_dsn, "customers", [{}], "delete", second)
    [missing] = await add(pg_dsn, "customers", [{"phone": "1"}], "update", "999999")
    [result] = await push(path, "customers")
    assert (result.inserted, result.rejected) == (2, 1)
    got = await rows(pg_dsn)
    assert [got[i]["state"] for i in (upd, gone, missing)] == ["inserted", "inserted",
                                                              "rejected"]
    assert (got[missing]["error"], got[missing]["fail_category"]) == ("Record not found",
                                                                      "target_id")
    assert [(r.method, r.status) for r in posts(sim)] == [("PUT", 200), ("DELETE", 200),
                                                          ("PUT", 404)]
    runs = await sync(path, modules=["customers"])
    assert all(r.error is None for r in runs)
    phone = await fetch(pg_dsn, "SELECT phone FROM cloudonex.customers WHERE id = $1",
                        int(first))
    assert phone[0]["phone"] == "+60 12-345 6789"
    assert not await fetch(pg_dsn, "SELECT 1 FROM cloudonex.customers WHERE id = $1 "
                           "AND _deleted_at IS NULL", int(second))


async def test_cli_dry_run_and_module_selection(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """`push --source crm --module invoices --dry-run --file F` validates only that file."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    file = tmp_path / "docs.json"
    file.write_text(dumps([{"module": "invoices", "document": documents(1)["invoices"]},
                           {"module": "invoices", "document": {"customer_id": 1, "items": []}}]),
                    encoding="utf-8")
    result = await run_cli("push", "--source", "crm", "--module", "invoices", "--dry-run",
                           "--file", str(file), "--config", str(path), env=cli_env(**ENV))
    assert result.code == 1
    assert result.stdout.splitlines() == [
        "crm/invoices: 1 invalid, 1 ready to send",
        "  invalid #2 : items: At least one item (description, amount, qty) is required"]
    assert posts(sim) == []


async def test_a_module_of_the_other_kind_is_invalid_at_once(
    cloudonex_simulator: Any, tmp_path: Path, pg_dsn: str
) -> None:
    """A SKYBIZ `sales` row for a CloudOnex source becomes invalid and is never sent."""
    sim, path = await setup(cloudonex_simulator, tmp_path, pg_dsn)
    [row_id] = await add(pg_dsn, "sales", [{"Doc1No": "X"}])
    await push(path)
    row = (await rows(pg_dsn))[row_id]
    assert (row["state"], row["error"]) == (
        "invalid", "module sales is not pushed by this source's kind; use one of customers, "
        "products, invoices, quotes, transactions, tickets, leads")
    assert posts(sim) == []
