"""CloudOnex deletions confirmed by id, with and without ``meta``, under drift: the bundled
simulator over real sockets, a real PostgreSQL, exact request counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.core.results import ModuleRun
from syncd_simulator.cloudonex import records
from syncd_simulator.cloudonex.query import Refused
from tests.conftest import fetch
from tests.test_cloudonex import assert_exact, cx_config, sync
from tests.test_cloudonex_faults import full_read_at, marked, stored

META = pytest.mark.parametrize("no_meta", [False, True], ids=["meta", "no-meta"])


def by_id(sim: Any) -> list[tuple[str, int]]:
    """The GET-by-id requests the simulator answered: (path, status)."""
    return [(r.path, r.status) for r in sim.requests if r.path.count("/") == 4]


def listings(sim: Any) -> int:
    """The listing requests the simulator answered."""
    return sum(1 for r in sim.requests if r.path.count("/") == 3)


def ok(runs: list[ModuleRun]) -> None:
    assert all(r.error is None for r in runs), [str(r.error) for r in runs]


@META
@pytest.mark.parametrize("records", [0, 1, 99, 100, 250])
async def test_pages_of_a_first_complete_read(cloudonex_simulator: Any, pg_dsn: str,
                                              tmp_path: Path, no_meta: bool,
                                              records: int) -> None:
    """A first read is exact and costs the minimum: ⌈n / 100⌉ pages with meta; without it
    pages up to a short or empty one (a first page short of `limit` may be a capped one)."""
    sim, url = await cloudonex_simulator(records={"customers": records}, scale=0.1,
                                         no_meta=no_meta)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"])
    ok(await sync(path))
    await assert_exact(sim, pg_dsn, "customers")
    assert (await full_read_at(path))["customers"] is not None  # it ran to its end
    if no_meta:
        want = 1 if records == 0 else 2 if records < 100 else records // 100 + 1
    else:
        want = max(1, -(-records // 100))
    assert len(sim.requests) == want


@META
async def test_backfill_incremental_and_deletions_are_exact(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, no_meta: bool) -> None:
    """First pass, then edits, inserts and deletes: every resource exact each time; the
    deleted records (and their items) are marked after their GET by id answered 404."""
    sim, url = await cloudonex_simulator(records={"customers": 70, "invoices": 45, "products": 30},
                                         scale=0.1, stale_updated_at=True, no_meta=no_meta)
    resources = ["customers", "invoices", "products"]
    path = cx_config(tmp_path, url, pg_dsn, modules=resources, page_size=20, full_read="0s")
    ok(await sync(path))
    for resource in resources:
        await assert_exact(sim, pg_dsn, resource)
    assert by_id(sim) == []  # nothing to confirm on a first read

    old = sim.records("invoices")[-1]["id"]
    sim.edit("invoices", old, status="Paid")
    gone = {"customers": [sim.records("customers")[i]["id"] for i in (0, 7, 30)],
            "invoices": [sim.records("invoices")[5]["id"]]}
    for resource, ids in gone.items():
        for rid in ids:
            sim.delete(resource, rid)
    sim.insert("invoices", 2)
    sim.insert("customers", 25)  # more than a page
    ok(await sync(path))
    for resource in resources:
        await assert_exact(sim, pg_dsn, resource)
        assert await marked(pg_dsn, resource) == set(gone.get(resource, []))
    lines = await fetch(pg_dsn, "SELECT DISTINCT invoice_id FROM cloudonex.invoice_items "
                        "WHERE _deleted_at IS NOT NULL")
    assert [r["invoice_id"] for r in lines] == gone["invoices"]
    row = await fetch(pg_dsn, "SELECT status FROM cloudonex.invoices WHERE id = $1", old)
    assert row[0]["status"] == "Paid"
    # each candidate asked once; every one answered 404, so one listed id proves the route
    assert sorted(p for p, s in by_id(sim) if s == 404) == sorted(
        f"/api/v2/{res}/{rid}" for res, ids in gone.items() for rid in ids)
    assert sum(1 for _, s in by_id(sim) if s == 200) == len(gone)


@META
async def test_drift_costs_one_request_per_candidate_and_deletes_nothing_live(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, no_meta: bool) -> None:
    """Records inserted and deleted between pages: no read is repeated; what slid between
    pages is asked by id and upserted, what went is marked at the first read that misses
    it; every read costs its pages plus one request per candidate (exact counts)."""
    sim, url = await cloudonex_simulator(records={"customers": 250}, scale=0.1,
                                         no_meta=no_meta)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], full_read="0s")
    ok(await sync(path))
    costs = []

    async def read(**drift: int) -> None:
        sim.requests.clear()
        if drift:
            sim.arm_drift("customers", after_page=1, **drift)
        ok(await sync(path))
        assert await marked(pg_dsn, "customers") <= set(sim.deleted_ids("customers"))
        assert {r["id"] for r in sim.records("customers")} <= await stored(pg_dsn, "customers")
        costs.append((listings(sim), sorted(s for _, s in by_id(sim))))

    await read(insert=3, delete=2)  # rows move down: 3 pages, then page 1 again
    await read()  # the 2 that went while the last read ran: 404, and one probe: 200
    await assert_exact(sim, pg_dsn, "customers")
    await read(delete=3)  # rows move up: 3 slide past page 1, asked by id: alive; page 1 again
    await read()  # the 3 that went: 404, and one probe
    await assert_exact(sim, pg_dsn, "customers")
    assert await marked(pg_dsn, "customers") == set(sim.deleted_ids("customers"))
    assert costs == [(4, []), (3, [200, 404, 404]), (4, [200, 200, 200]),
                     (3, [200, 404, 404, 404])]


@META
async def test_rounds_of_drift_never_delete_a_live_record(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, no_meta: bool) -> None:
    """Many reads, each drifting differently on a different page: never is a live record
    marked deleted, and a quiet read at the end leaves the resource exact (a record created
    while a read ran may wait for the next one, like one created just after it)."""
    sim, url = await cloudonex_simulator(records={"customers": 330}, scale=0.1, seed=5,
                                         no_meta=no_meta)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], page_size=40,
                     full_read="0s")
    ok(await sync(path))
    for after, insert, delete in [(1, 5, 3), (2, 0, 7), (3, 45, 0), (1, 2, 12), (4, 1, 1),
                                  (2, 9, 9), (5, 0, 40)]:
        sim.arm_drift("customers", after_page=after, insert=insert, delete=delete)
        ok(await sync(path))
        assert await marked(pg_dsn, "customers") <= set(sim.deleted_ids("customers"))
    ok(await sync(path))
    await assert_exact(sim, pg_dsn, "customers")
    assert await marked(pg_dsn, "customers") == set(sim.deleted_ids("customers"))


async def test_the_budget_caps_confirmations_and_the_rest_wait(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """With 20 requests a second the budget allows 4 confirmations per read: of 6
    candidates 4 are asked and marked, the other 2 stay live until the next read."""
    sim, url = await cloudonex_simulator(records={"customers": 60}, scale=0.1)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], full_read="0s",
                     requests=20, per_seconds=1)
    ok(await sync(path))
    gone = [r["id"] for r in sim.records("customers")[:6]]
    for rid in gone:
        sim.delete("customers", rid)
    sim.requests.clear()
    ok(await sync(path))
    assert await marked(pg_dsn, "customers") == set(sorted(gone)[:4])  # ascending ids first
    assert sorted(s for _, s in by_id(sim)) == [200, 404, 404, 404, 404]  # + the probe
    sim.requests.clear()
    ok(await sync(path))
    await assert_exact(sim, pg_dsn, "customers")
    assert await marked(pg_dsn, "customers") == set(gone)
    assert sorted(s for _, s in by_id(sim)) == [200, 404, 404]


@pytest.fixture
def record_answer(monkeypatch: pytest.MonkeyPatch) -> list[Refused]:
    """Make the simulator's GET by id refuse with the error put in the list (while any)."""
    refusals: list[Refused] = []
    real = records.one

    def one(sim: Any, resource: Any, rid: int | None) -> Any:
        if refusals:
            raise refusals[0]
        return real(sim, resource, rid)

    monkeypatch.setattr(records, "one", one)
    return refusals


@pytest.mark.parametrize("case", [
    (Refused(500, "Internal server error"), "gave up after 4 tries"),
    (Refused(403, "No access to single records"), "deletions of customers cannot be "
                                                  "confirmed, so none is marked"),
    (Refused(404, "Resource not found"), "has no single-record endpoint"),
])
async def test_a_failing_confirmation_marks_nothing_and_keeps_the_candidates(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, record_answer: list[Refused],
        case: tuple[Refused, str]) -> None:
    """A by-id GET that fails (5xx retried until given up, 403, or a server without the
    endpoint answering 404 for every id): the resource's run carries one sentence, nothing
    is marked deleted, its pages stay loaded; once the endpoint answers, they are marked."""
    sim, url = await cloudonex_simulator(records={"customers": 50}, scale=0.1)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"], full_read="0s")
    ok(await sync(path))
    gone = sim.records("customers")[3]["id"]
    sim.delete("customers", gone)
    sim.edit("customers", sim.records("customers")[10]["id"], phone="555-0199")
    refusal, says = case
    record_answer.append(refusal)
    runs = await sync(path)
    assert runs[0].error is not None
    assert says in str(runs[0].error), str(runs[0].error)
    assert await marked(pg_dsn, "customers") == set()
    assert await stored(pg_dsn, "customers") == {r["id"] for r in sim.records(
        "customers")} | {gone}
    phone = await fetch(pg_dsn, "SELECT count(*) AS n FROM cloudonex.customers "
                        "WHERE phone = '555-0199'")
    assert phone[0]["n"] == 1  # the listing's pages were committed
    record_answer.clear()
    ok(await sync(path))
    await assert_exact(sim, pg_dsn, "customers")
    assert await marked(pg_dsn, "customers") == {gone}


async def test_a_401_on_a_confirmation_stops_the_source(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path,
        record_answer: list[Refused]) -> None:
    """A key refused on GET by id (revoked mid-read) stops every resource of the source
    with the key's sentence; nothing is marked deleted."""
    sim, url = await cloudonex_simulator(records={"customers": 50, "products": 30}, scale=0.1)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers", "products"],
                     full_read="0s")
    ok(await sync(path))
    sim.delete("customers", sim.records("customers")[0]["id"])
    record_answer.append(Refused(401, "Invalid API key or unauthorized access"))
    runs = await sync(path)
    customers = next(r for r in runs if r.module == "customers")
    assert "refused the key of source 'crm'" in str(customers.error)
    assert await marked(pg_dsn, "customers") == set()
