"""The bundled CloudOnex simulator over a real socket: strict answers, limits, quirks, drift."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from itertools import chain
from typing import Any

import aiohttp
import pytest

from syncd.core.model import FieldType, Module
from syncd.kinds.cloudonex import resources as client_resources
from syncd_simulator.cloudonex import CloudOnexOptions, CloudOnexSimulator, Fault
from syncd_simulator.cloudonex import resources as sim_resources
from syncd_simulator.cloudonex.builders import NASTY_MONEY
from syncd_simulator.cloudonex.resources import Type
from tests import waiting
from tests.conftest import CLOUDONEX_KEY, cli_env

TODAY = datetime.date(2026, 4, 30)
Start = Callable[..., Awaitable[tuple[CloudOnexSimulator, str]]]
AUTH = {"Authorization": f"Bearer {CLOUDONEX_KEY}"}


class Answer:
    """One HTTP answer, read whole."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status, self.headers, self.text = status, headers, text

    def json(self) -> Any:
        """The body as JSON, numbers as exact Decimals."""
        return json.loads(self.text, parse_float=Decimal)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session for the test."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def start(cloudonex_simulator: Start) -> Start:
    """Simulators at a fixed today with small datasets unless told otherwise."""

    async def start(**options: Any) -> tuple[CloudOnexSimulator, str]:
        return await cloudonex_simulator(**({"today": TODAY, "scale": 0.2} | options))

    return start


async def get(session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None,
              method: str = "GET", **params: Any) -> Answer:
    """Send one request (with the canary key unless ``headers`` say otherwise)."""
    async with session.request(method, url, params=params,
                               headers=AUTH if headers is None else headers) as response:
        return Answer(response.status, dict(response.headers), await response.text())


async def read_all(session: aiohttp.ClientSession, url: str, pages: int, **params: Any
                   ) -> list[list[int]]:
    """The ids of pages 1..pages."""
    return [[r["id"] for r in (await get(session, url, page=p, **params)).json()["data"]]
            for p in range(1, pages + 1)]


# ---- paging -------------------------------------------------------------------------------


async def test_pages_are_newest_id_first_with_meta(start: Start,
                                                   session: aiohttp.ClientSession) -> None:
    """Pages of the default 20 run id descending; meta counts; past the end is empty."""
    sim, base = await start(records={"customers": 45})
    first = (await get(session, f"{base}/customers")).json()
    assert first["success"] is True
    assert first["meta"] == {"current_page": 1, "total_pages": 3, "total_records": 45}
    ids = await read_all(session, f"{base}/customers", 3)
    assert [len(p) for p in ids] == [20, 20, 5]
    assert [*chain(*ids)] == list(range(45, 0, -1)) == [r["id"] for r in sim.records("customers")]
    beyond = (await get(session, f"{base}/customers", page=9)).json()
    assert beyond == {"success": True, "data": [],
                      "meta": {"current_page": 9, "total_pages": 3, "total_records": 45}}


async def test_large_limits_are_silently_capped(start: Start,
                                                session: aiohttp.ClientSession) -> None:
    """A limit above the cap serves the cap, and meta's pages follow the capped size."""
    _, base = await start(records={"products": 25}, limit_cap=10)
    body = (await get(session, f"{base}/products", limit=500)).json()
    assert len(body["data"]) == 10
    assert body["meta"] == {"current_page": 1, "total_pages": 3, "total_records": 25}


@pytest.mark.parametrize("params", [{"page": "0"}, {"limit": "x"}, {"page": "-1"},
                                    {"date_from": "2026-4-1"}, {"date_to": "2026-02-30"}])
async def test_bad_parameters_answer_400_naming_the_field(
        start: Start, session: aiohttp.ClientSession, params: dict[str, Any]) -> None:
    """Malformed page, limit or dates answer 400 with the documented errors object."""
    _, base = await start()
    answer = await get(session, f"{base}/invoices", **params)
    assert answer.status == 400
    body = answer.json()
    assert body["success"] is False
    assert body["message"] == "Validation failed"
    assert set(body["errors"]) == set(params)


async def test_date_filter_is_inclusive_and_meta_counts_the_filtered_set(
        start: Start, session: aiohttp.ClientSession) -> None:
    """date_from/date_to keep records whose date lies in the inclusive range, and only those."""
    sim, base = await start(records={"invoices": 300})
    low, high = datetime.date(2026, 1, 1), datetime.date(2026, 1, 31)
    want = [r["id"] for r in sim.records("invoices")
            if isinstance(d := r["date"], datetime.date) and low <= d <= high]
    body = (await get(session, f"{base}/invoices", limit=100, date_from=low.isoformat(),
                      date_to=high.isoformat())).json()
    assert body["meta"]["total_records"] == len(want) > 0
    assert [r["id"] for r in body["data"]] == want
    assert {r["date"] for r in body["data"]} <= {
        (low + datetime.timedelta(days=n)).isoformat() for n in range(31)}
    one_day = want and next(r["date"] for r in body["data"])
    same = (await get(session, f"{base}/invoices", date_from=one_day, date_to=one_day)).json()
    assert {r["date"] for r in same["data"]} == {one_day}


async def test_date_filter_exists_only_where_documented(start: Start,
                                                        session: aiohttp.ClientSession) -> None:
    """Customers cannot be filtered by date: 400 rather than silently everything."""
    _, base = await start()
    answer = await get(session, f"{base}/customers", date_from="2026-01-01")
    assert answer.status == 400
    assert "date_from" in answer.json()["errors"]


async def test_one_record_by_id(start: Start, session: aiohttp.ClientSession) -> None:
    """GET {resource}/{id} answers the record in the envelope, 404 for an unknown id."""
    sim, base = await start()
    answer = (await get(session, f"{base}/tickets/3")).json()
    assert answer["success"] is True
    assert answer["data"]["id"] == 3
    assert answer["data"]["subject"] == next(r for r in sim.records("tickets")
                                             if r["id"] == 3)["subject"]
    assert (await get(session, f"{base}/tickets/99999")).status == 404


async def test_a_deleted_record_answers_404_by_id(start: Start,
                                                  session: aiohttp.ClientSession) -> None:
    """GET by id of a record deleted since: 404 with the error envelope, counted and logged
    like any API request; a bare-array server answers the bare record."""
    sim, base = await start()
    sim.delete("customers", 4)
    answer = await get(session, f"{base}/customers/4")
    assert (answer.status, answer.json()["success"]) == (404, False)
    assert "X-RateLimit-Remaining" in answer.headers
    assert [(r.path, r.status) for r in sim.requests] == [("/api/v2/customers/4", 404)]
    _, bare_base = await start(bare_array=True)
    assert (await get(session, f"{bare_base}/customers/5")).json()["id"] == 5


async def test_no_meta_listings(start: Start, session: aiohttp.ClientSession) -> None:
    """no_meta: the envelope of 004_'s invoices example, {"success", "data"}, no meta."""
    _, base = await start(no_meta=True)
    answer = (await get(session, f"{base}/invoices", limit=5)).json()
    assert set(answer) == {"success", "data"}
    assert len(answer["data"]) == 5


async def test_the_key_as_api_key_query(start: Start, session: aiohttp.ClientSession) -> None:
    """?api_key= is accepted like the Bearer header (the documents' alternative); under
    drop_authorization the header never arrives, so only the query form works."""
    _, base = await start()
    assert (await get(session, f"{base}/customers", headers={},
                      api_key=CLOUDONEX_KEY)).status == 200
    assert (await get(session, f"{base}/customers", headers={}, api_key="wrong")).status == 401
    _, dropping = await start(drop_authorization=True)
    assert (await get(session, f"{dropping}/customers")).status == 401
    assert (await get(session, f"{dropping}/customers/1", headers={},
                      api_key=CLOUDONEX_KEY)).status == 200


# ---- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": CLOUDONEX_KEY}])
async def test_missing_or_wrong_key_answers_401(start: Start, session: aiohttp.ClientSession,
                                                headers: dict[str, str]) -> None:
    """Without the right Bearer key: 401 with the documented message."""
    _, base = await start()
    answer = await get(session, f"{base}/customers", headers=headers)
    assert answer.status == 401
    assert answer.json() == {"success": False,
                             "message": "Invalid API key or unauthorized access"}


async def test_forbidden_unknown_and_wrong_method(start: Start,
                                                  session: aiohttp.ClientSession) -> None:
    """403 for a forbidden resource, JSON 404 for an unknown one, 405 for PATCH on a list
    (POST creates: the write endpoints)."""
    _, base = await start(forbidden=frozenset({"leads"}))
    forbidden = await get(session, f"{base}/leads")
    assert forbidden.status == 403
    assert forbidden.json()["success"] is False
    assert (await get(session, f"{base}/customers")).status == 200
    missing = await get(session, f"{base}/users")
    assert missing.status == 404
    assert missing.json()["success"] is False
    posted = await get(session, f"{base}/customers", method="PATCH")
    assert posted.status == 405
    assert posted.headers["Allow"] == "GET"


async def test_html_not_found_quirk(start: Start, session: aiohttp.ClientSession) -> None:
    """With html_not_found an unknown resource answers the web server's HTML page."""
    _, base = await start(html_not_found=True)
    answer = await get(session, f"{base}/users")
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in answer.text


# ---- rate limit ---------------------------------------------------------------------------


def fake_clocks(sim: CloudOnexSimulator, wall: float = 1_800_000_000.0) -> list[float]:
    """Freeze the simulator's clocks; moving ``[0]`` moves both together."""
    now = [0.0]
    sim.clock = lambda: now[0]
    sim.wall = lambda: wall + now[0]
    return now


async def test_rate_headers_count_down_then_429_with_retry_after(
        start: Start, session: aiohttp.ClientSession) -> None:
    """Remaining counts down per request; over the limit: 429, Retry-After, Reset."""
    sim, base = await start(rate_requests=3, rate_seconds=30)
    now = fake_clocks(sim)
    seen = []
    for moment in (0.0, 1.0, 2.0, 3.0):
        now[0] = moment
        answer = await get(session, f"{base}/products")
        seen.append((answer.status, answer.headers["X-RateLimit-Limit"],
                     answer.headers["X-RateLimit-Remaining"],
                     answer.headers["X-RateLimit-Reset"]))
    reset = str(1_800_000_000 + 30)  # when the first request leaves the window
    assert seen == [(200, "3", "2", reset), (200, "3", "1", reset), (200, "3", "0", reset),
                    (429, "3", "0", str(1_800_000_000 + 31))]
    assert answer.headers["Retry-After"] == "28"
    assert answer.json() == {"success": False, "message": "Too many requests"}
    assert [r.limited for r in sim.requests] == [False, False, False, True]


async def test_refused_requests_count_too(start: Start, session: aiohttp.ClientSession) -> None:
    """A client that keeps asking while limited stays limited; patience is rewarded."""
    sim, base = await start(rate_requests=2, rate_seconds=10)
    now = fake_clocks(sim)
    statuses = []
    for moment in (0.0, 0.0, 1.0, 9.5, 20.0):
        now[0] = moment
        statuses.append((await get(session, f"{base}/products")).status)
    assert statuses == [200, 200, 429, 429, 200]


async def test_401_answers_count_against_the_presented_key(
        start: Start, session: aiohttp.ClientSession) -> None:
    """Every arrival is counted, including those the server refuses with 401."""
    sim, base = await start(rate_requests=5, rate_seconds=60)
    fake_clocks(sim)
    bad = {"Authorization": "Bearer wrong"}
    remaining = [(await get(session, f"{base}/products", headers=bad)
                  ).headers["X-RateLimit-Remaining"] for _ in range(2)]
    assert remaining == ["4", "3"]
    assert (await get(session, f"{base}/products")).headers["X-RateLimit-Remaining"] == "4"


async def test_spend_hook_uses_the_budget_of_another_client(
        start: Start, session: aiohttp.ClientSession) -> None:
    """spend(N) takes N slots now: Remaining drops and Reset says when they come back."""
    sim, base = await start(rate_requests=10, rate_seconds=100)
    now = fake_clocks(sim)
    now[0] = 5.0
    assert sim.spend(9) == (1, 1_800_000_000 + 105)
    now[0] = 6.0
    answer = await get(session, f"{base}/products")
    assert answer.status == 200
    assert (answer.headers["X-RateLimit-Remaining"], answer.headers["X-RateLimit-Reset"]) == (
        "0", str(1_800_000_000 + 105))
    assert (await get(session, f"{base}/products")).status == 429
    now[0] = 105.0  # the spent slots leave the window; the client's own two remain
    answer = await get(session, f"{base}/products")
    assert answer.status == 200
    assert answer.headers["X-RateLimit-Remaining"] == "7"


async def test_spend_over_admin_http(start: Start, session: aiohttp.ClientSession) -> None:
    """POST /_admin/spend does what spend() does, for other processes."""
    _sim, base = await start(rate_requests=50, rate_seconds=100)
    root = base.removesuffix("/api/v2")
    async with session.post(f"{root}/_admin/spend", json={"requests": 45}) as response:
        assert (await response.json())["remaining"] == 5
    answer = await get(session, f"{base}/products")
    assert answer.headers["X-RateLimit-Remaining"] == "4"


async def test_rate_headers_can_be_switched_off(start: Start,
                                                session: aiohttp.ClientSession) -> None:
    """rate_headers=False: no X-RateLimit-* headers, the limit still holds."""
    _, base = await start(rate_headers=False, rate_requests=1, rate_seconds=60)
    first = await get(session, f"{base}/products")
    assert not [h for h in first.headers if h.startswith("X-RateLimit")]
    second = await get(session, f"{base}/products")
    assert second.status == 429
    assert second.headers["Retry-After"] == "60"


# ---- drift and mutations ------------------------------------------------------------------


async def test_inserts_between_pages_repeat_rows(start: Start,
                                                 session: aiohttp.ClientSession) -> None:
    """Drift inserting 3 after page 1 pushes page 1's last 3 rows onto page 2."""
    sim, base = await start(records={"invoices": 30})
    sim.arm_drift("invoices", after_page=1, insert=3)
    page1, page2 = await read_all(session, f"{base}/invoices", 2, limit=10)
    assert page1 == list(range(30, 20, -1))
    assert page2[:3] == page1[-3:]
    assert [r["id"] for r in sim.records("invoices")][:3] == [33, 32, 31]


async def test_deletes_between_pages_skip_rows_once(start: Start,
                                                    session: aiohttp.ClientSession) -> None:
    """Drift deleting 2 served rows shifts later pages up; it is one-shot and re-armable."""
    sim, base = await start(records={"orders": 30}, drift={"orders": {"after_page": 1,
                                                                      "delete": 2}})
    page1, page2 = await read_all(session, f"{base}/orders", 2, limit=10)
    deleted = sim.deleted_ids("orders")
    assert len(deleted) == 2
    assert deleted <= set(page1)
    assert page2 == list(range(18, 8, -1))  # 20 and 19 moved to page 1: never seen
    again = await read_all(session, f"{base}/orders", 2, limit=10)
    assert [*chain(*again)] == [r["id"] for r in sim.records("orders")][:20]  # no drift now
    sim.arm_drift("orders", after_page=1, delete=1)
    await read_all(session, f"{base}/orders", 1, limit=10)
    assert len(sim.deleted_ids("orders")) == 3


async def test_drift_under_a_date_filter_over_admin_http(
        start: Start, session: aiohttp.ClientSession) -> None:
    """/_admin/drift arms drift; deletes hit rows the filtered listing has served."""
    sim, base = await start(records={"transactions": 200})
    root = base.removesuffix("/api/v2") + "/_admin"
    async with session.post(f"{root}/drift", json={"resource": "transactions", "after_page": 1,
                                                   "delete": 3}) as response:
        assert response.status == 200
    window: dict[str, Any] = {"date_from": "2025-10-01", "date_to": "2025-12-31", "limit": 5}
    page1 = (await get(session, f"{base}/transactions", **window)).json()["data"]
    assert sim.deleted_ids("transactions") <= {r["id"] for r in page1}
    assert len(sim.deleted_ids("transactions")) == 3


async def test_fault_and_request_log_over_admin_http(
        start: Start, session: aiohttp.ClientSession) -> None:
    """/_admin/fault queues a fault; /_admin/requests returns the request log."""
    _, base = await start()
    root = base.removesuffix("/api/v2") + "/_admin"
    async with session.post(f"{root}/fault", json={"fault": "bad_gateway"}) as response:
        assert response.status == 200
    assert (await get(session, f"{base}/leads")).status == 502
    assert (await get(session, f"{base}/leads")).status == 200
    async with session.get(f"{root}/requests") as response:
        log = await response.json()
    assert [(e["path"], e["status"], e["fault"], e["limited"]) for e in log] == [
        ("/api/v2/leads", 502, "bad_gateway", False), ("/api/v2/leads", 200, None, False)]
    async with session.post(f"{root}/fault", json={"fault": "nope"}) as response:
        assert response.status == 400


async def test_mutation_api(start: Start, session: aiohttp.ClientSession) -> None:
    """insert adds new top ids, edit changes fields and updated_at, delete removes."""
    sim, base = await start(records={"customers": 10})
    assert sim.insert("customers", 2) == [11, 12]
    before = next(r for r in sim.records("customers") if r["id"] == 5)
    edited = sim.edit("customers", 5, city="Ipoh")
    assert edited["city"] == "Ipoh"
    assert edited["updated_at"] != before["updated_at"]
    sim.delete("customers", 7)
    with pytest.raises(KeyError):
        sim.delete("customers", 7)
    body = (await get(session, f"{base}/customers")).json()
    assert [r["id"] for r in body["data"]] == [12, 11, 10, 9, 8, 6, 5, 4, 3, 2, 1]
    assert next(r for r in body["data"] if r["id"] == 5)["city"] == "Ipoh"
    assert sim.deleted_ids("customers") == {7}
    assert [m[0] for m in sim.mutations] == ["insert", "insert", "edit", "delete"]


async def test_mutations_over_admin_http(start: Start, session: aiohttp.ClientSession) -> None:
    """/_admin/mutate inserts, edits (JSON values typed) and deletes; /_admin/records tells."""
    sim, base = await start(records={"invoices": 5})
    root = base.removesuffix("/api/v2") + "/_admin"
    calls = [{"resource": "invoices", "action": "insert", "count": 2},
             {"resource": "invoices", "action": "edit", "id": 3,
              "fields": {"amount": "19.99", "status": "Paid"}},
             {"resource": "invoices", "action": "delete", "id": 1}]
    results = []
    for call in calls:
        async with session.post(f"{root}/mutate", json=call) as response:
            results.append((response.status, (await response.json())["ids"]))
    assert results == [(200, [6, 7]), (200, [3]), (200, [1])]
    assert next(r for r in sim.records("invoices") if r["id"] == 3)["amount"] == Decimal(
        "19.99")
    async with session.get(f"{root}/records/invoices") as response:
        truth = json.loads(await response.text(), parse_float=Decimal)
    assert [r["id"] for r in truth["records"]] == [7, 6, 5, 4, 3, 2]
    assert truth["deleted_ids"] == [1]
    async with session.post(f"{root}/mutate", json={"resource": "nope",
                                                    "action": "insert"}) as response:
        assert response.status == 400


async def test_continuous_mutations(start: Start) -> None:
    """mutations_per_minute keeps changing the data while the simulator runs."""
    sim, _ = await start(mutations_per_minute=60_000)
    await waiting.until(lambda: len(sim.mutations) >= 3, "three mutations", deadline_s=10)
    assert {m[0] for m in sim.mutations} <= {"insert", "edit", "delete"}


# ---- quirks and exact values --------------------------------------------------------------


async def test_strict_shape_by_default(start: Start, session: aiohttp.ClientSession) -> None:
    """Documented fields only, numbers as numbers, ISO date-times with Z."""
    _, base = await start()
    customer = (await get(session, f"{base}/customers", limit=1)).json()["data"][0]
    assert list(customer) == ["id", "account", "email", "phone", "address", "city", "state",
                              "zip", "country", "created_at", "updated_at"]
    assert isinstance(customer["id"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", customer["created_at"])
    invoice = (await get(session, f"{base}/invoices", limit=1)).json()["data"][0]
    assert "currency" not in invoice
    assert set(invoice["items"][0]) == {"description",
                                                                      "amount", "qty"}


async def test_quirks_bend_the_shapes(start: Start, session: aiohttp.ClientSession) -> None:
    """numbers_as_strings, zoneless_datetimes, bare_array and extra_fields together."""
    sim, base = await start(numbers_as_strings=True, zoneless_datetimes=True, bare_array=True,
                            extra_fields=True)
    customers = (await get(session, f"{base}/customers", limit=2)).json()
    assert isinstance(customers, list)
    assert len(customers) == 2
    truth = sim.records("customers")[0]
    assert customers[0]["id"] == str(truth["id"])
    created = truth["created_at"]
    assert isinstance(created, datetime.datetime)
    assert customers[0]["created_at"] == created.astimezone(
        sim.options.zone).strftime("%Y-%m-%d %H:%M:%S")
    assert "tags" in customers[0]
    invoice = (await get(session, f"{base}/invoices", limit=1)).json()[0]
    assert re.fullmatch(r"\d+\.\d\d", invoice["amount"])
    assert invoice["currency"] == "MYR"
    assert isinstance(invoice["items"][0]["qty"], str)


async def test_stale_updated_at(start: Start) -> None:
    """With stale_updated_at edits keep updated_at and inserts have none."""
    sim, _ = await start(stale_updated_at=True)
    before = sim.records("customers")[-1]
    assert isinstance(before["id"], int)
    assert sim.edit("customers", before["id"], phone="0123")["updated_at"] == before[
        "updated_at"]
    new_id = sim.insert("customers")[0]
    assert sim.records("customers")[0]["id"] == new_id
    assert sim.records("customers")[0]["updated_at"] is None


@pytest.mark.parametrize("strings", [False, True])
async def test_money_is_exact(start: Start, session: aiohttp.ClientSession,
                              strings: bool) -> None:
    """Every amount on the wire has two places and equals the ground truth's Decimal."""
    sim, base = await start(records={"invoices": 100}, numbers_as_strings=strings)
    served = (await get(session, f"{base}/invoices", limit=100)).json()["data"]
    truth: dict[Any, Any] = {r["id"]: r for r in sim.records("invoices")}
    seen: set[Decimal] = set()
    for row in served:
        key = int(row["id"])
        values = [(row["amount"], truth[key]["amount"])] + [
            (line["amount"], want["amount"])
            for line, want in zip(row["items"], truth[key]["items"], strict=True)]
        for wire, want in values:
            exact = Decimal(wire)
            assert exact == want
            assert exact.as_tuple().exponent == -2
            seen.add(exact)
    assert {Decimal("0.10"), Decimal("1234567.89"), Decimal("19.99")} <= seen | set(
        NASTY_MONEY)
    assert seen & set(NASTY_MONEY)


# ---- faults -------------------------------------------------------------------------------


async def test_each_injected_fault(start: Start, session: aiohttp.ClientSession) -> None:
    """inject() bends the next answer: the status, type and body each fault promises."""
    sim, base = await start(slow_seconds=0.05)
    results = {}
    for fault in Fault:
        sim.inject(fault)
        answer = await get(session, f"{base}/products")
        results[fault] = (answer.status, answer.headers["Content-Type"].split(";")[0])
        if fault is Fault.TRUNCATED:
            with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
                answer.json()
        if fault is Fault.RATE_LIMITED:
            assert answer.headers["Retry-After"] == "1"
        if fault is Fault.BAD_GATEWAY:
            assert "X-RateLimit-Remaining" not in answer.headers
    assert results == {
        Fault.SERVER_ERROR: (500, "application/json"),
        Fault.SERVER_ERROR_HTML: (500, "text/html"),
        Fault.HTML_200: (200, "text/html"),
        Fault.BAD_GATEWAY: (502, "text/html"),
        Fault.SLOW: (200, "application/json"),
        Fault.TRUNCATED: (200, "application/json"),
        Fault.RATE_LIMITED: (429, "application/json"),
    }
    assert [r.fault for r in sim.requests] == [f.value for f in Fault]


async def test_random_faults_are_reproducible(start: Start,
                                              session: aiohttp.ClientSession) -> None:
    """The same seed and rate inject the same faults in the same order."""
    runs = []
    for _ in range(2):
        _sim, base = await start(faults=0.5, fault_kinds=frozenset(
            {Fault.SERVER_ERROR, Fault.HTML_200, Fault.RATE_LIMITED}))
        runs.append([(await get(session, f"{base}/products")).status for _ in range(12)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


async def test_request_log(start: Start, session: aiohttp.ClientSession) -> None:
    """Each request is logged with path, query, status and whether it was a 429."""
    sim, base = await start(rate_requests=1, rate_seconds=60)
    await get(session, f"{base}/invoices", page=2, limit=5)
    await get(session, f"{base}/invoices", page=3, limit=5)
    logged = [(r.method, r.path, r.query, r.status, r.limited) for r in sim.requests]
    assert logged == [("GET", "/api/v2/invoices", {"page": "2", "limit": "5"}, 200, False),
                      ("GET", "/api/v2/invoices", {"page": "3", "limit": "5"}, 429, True)]
    assert sim.requests[0].at <= sim.requests[1].at


@pytest.mark.parametrize(("bad", "match"), [
    ({"records": {"users": 3}}, "unknown CloudOnex resources"),
    ({"forbidden": frozenset({"x"})}, "unknown CloudOnex resources"),
    ({"limit_cap": 0}, "limit_cap"), ({"faults": 2.0}, "faults"),
    ({"timezone": "Mars/Base"}, "time zone")])
def test_options_are_validated(bad: dict[str, Any], match: str) -> None:
    """Unknown resources and impossible numbers fail at construction, naming the knob."""
    with pytest.raises(ValueError, match=match):
        CloudOnexOptions(**bad)


_SERVED_AS = {FieldType.BIGINT: {Type.ID}, FieldType.NUMERIC: {Type.MONEY, Type.NUMBER},
              FieldType.DATE: {Type.DATE}, FieldType.TIMESTAMP: {Type.DATETIME},
              FieldType.TEXT: {Type.TEXT}}


@pytest.mark.parametrize("module", client_resources.RESOURCES, ids=lambda m: m.name)
def test_serves_every_field_the_client_documents(module: Module) -> None:
    """The simulator serves each field syncd's CloudOnex registry types, typed alike."""
    served = sim_resources.get(module.name)
    for f in module.header:
        assert served.type_of(f.name) in _SERVED_AS[f.type], f.name
    assert served.items == bool(module.lines)
    assert served.dated == (module.name in client_resources.DATED)


def test_dataset_is_deterministic() -> None:
    """The same seed and today give the same records."""
    a, b = (CloudOnexSimulator(CloudOnexOptions(today=TODAY, scale=0.2)) for _ in range(2))
    assert a.records("invoices") == b.records("invoices")
    assert a.records("invoices") != CloudOnexSimulator(
        CloudOnexOptions(today=TODAY, scale=0.2, seed=2)).records("invoices")


# ---- the command line ---------------------------------------------------------------------


async def test_syncd_simulate_kind_cloudonex(session: aiohttp.ClientSession) -> None:
    """`syncd simulate --kind cloudonex` prints base_url and key, serves, stops on SIGINT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncd", "simulate", "--kind", "cloudonex", "--port", "0",
        "--key", "k-123", "--records", "7", "--numbers-as-strings", env=cli_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(4)]
    try:
        match = re.search(r'base_url = "(http://127\.0\.0\.1:\d+/api/v2)"', "".join(lines))
        assert match
        assert "export SYNCD_CRM_API_KEY=k-123\n" in lines
        answer = await get(session, f"{match[1]}/suppliers",
                           headers={"Authorization": "Bearer k-123"})
        assert answer.json()["meta"]["total_records"] == 7
        assert answer.json()["data"][0]["id"] == "7"
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0


async def test_syncd_simulate_header_dropping_without_meta(
        session: aiohttp.ClientSession) -> None:
    """`--drop-authorization --no-meta`: announces auth = "query", accepts only ?api_key=,
    answers listings without meta."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncd", "simulate", "--kind", "cloudonex", "--port", "0",
        "--key", "k-123", "--records", "3", "--drop-authorization", "--no-meta",
        env=cli_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(5)]
    try:
        match = re.search(r'base_url = "(http://127\.0\.0\.1:\d+/api/v2)"', "".join(lines))
        assert match
        assert any(line.startswith('auth = "query"') for line in lines), lines
        bearer = await get(session, f"{match[1]}/suppliers",
                           headers={"Authorization": "Bearer k-123"})
        assert bearer.status == 401
        answer = await get(session, f"{match[1]}/suppliers", headers={}, api_key="k-123")
        assert set(answer.json()) == {"success", "data"}
        assert len(answer.json()["data"]) == 3
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
