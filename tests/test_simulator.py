"""The bundled SKYBIZ simulator: faithful to the API docs, strict, deterministic, mutable."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from syncd.core.model import ModuleKind
from syncd.kinds.skybiz import modules as skybiz
from syncd_simulator import Dataset, HeavyDays, Simulator, SimulatorOptions, cli
from syncd_simulator.documents import day_of_doc1no
from syncd_simulator.values import money

TODAY = datetime.date(2026, 4, 30)
DEFAULTS = SimulatorOptions()
KEY, SECRET = DEFAULTS.api_key, DEFAULTS.api_secret
MODULES = [m.name for m in skybiz.MODULES]
ENVELOPE_ID = re.compile(r'"timestamp":"[^"]*","request_id":"req_[0-9a-f]{13}"')

MakeClient = Callable[[Simulator], Awaitable[TestClient[Any, Any]]]


def sim_with(**options: Any) -> Simulator:
    """A simulator at a fixed today with rate limiting out of the way unless asked for."""
    options.setdefault("rate_requests", 100_000)
    return Simulator(SimulatorOptions(today=TODAY, **options))


def body(**changes: Any) -> dict[str, Any]:
    """A valid read body for the 31 days ending TODAY, with ``changes`` (None deletes)."""
    out: dict[str, Any] = {"api_key": KEY, "api_secret": SECRET, "action": "read",
                           "date_from": "2026-03-31", "date_to": "2026-04-30"}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def url(module: str) -> str:
    """The request path of a module."""
    return f"/01/clientportal/apiv2/modules/{skybiz.get(module).endpoint}"


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Start aiohttp test clients on real sockets, closed after the test."""
    clients: list[TestClient[Any, Any]] = []

    async def make(sim: Simulator) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(sim.app()))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def read(client: TestClient[Any, Any], module: str, payload: Any = None,
               **kw: Any) -> tuple[int, str]:
    """POST a JSON read and return (status, body text)."""
    response = await client.post(url(module), json=body() if payload is None else payload, **kw)
    return response.status, await response.text()


def exact(value: object) -> Decimal:
    """``value``, which must be a Decimal."""
    assert isinstance(value, Decimal), value
    return value


def decode(text: str) -> Any:
    """Parse a response keeping numbers exact."""
    return json.loads(text, parse_float=Decimal)


# ---- reads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
async def test_every_module_answers_a_31_day_read(make_client: MakeClient, module: str) -> None:
    """Each module answers 200 with the dataset's rows, all inside the date filter range."""
    sim = sim_with()
    status, text = await read(await make_client(sim), module)
    assert status == 200
    answer = decode(text)
    assert answer["status"] in ("success", "response")
    data = answer["data"]
    assert data["requested_by"] == KEY
    assert data["date_range"] == {"from": "2026-03-31", "to": "2026-04-30", "days": 31}
    assert data["total_returned"] == len(data["data"]) > 0
    mod = skybiz.get(module)
    assert all("2026-03-31" <= r[mod.date_field][:10] <= "2026-04-30" for r in data["data"])
    assert [list(r) for r in data["data"]] == [[f.name for f in mod.fields]] * len(data["data"])
    assert data["data"] == sim.dataset.records_between(module, "2026-03-31", "2026-04-30")


@pytest.mark.parametrize(("days", "status"), [(30, 200), (31, 400)])
async def test_widest_window_is_31_days_inclusive(make_client: MakeClient, days: int,
                                                  status: int) -> None:
    """date_to = date_from + 30 is accepted; one more day is refused."""
    end = datetime.date(2026, 3, 1) + datetime.timedelta(days=days)
    code, text = await read(await make_client(sim_with()), "sales",
                            body(date_from="2026-03-01", date_to=end.isoformat()))
    assert code == status
    if status == 400:
        assert decode(text)["message"] == "Date range cannot exceed 31 days."
    else:
        assert decode(text)["data"]["date_range"]["days"] == 31


async def test_documents_flat_by_default_and_nested_on_request(make_client: MakeClient) -> None:
    """Flat sales repeat the header on each line; nested sales carry an items array."""
    flat_sim, nested_sim = sim_with(), sim_with(nested_documents=True)
    _, flat_text = await read(await make_client(flat_sim), "sales")
    _, nested_text = await read(await make_client(nested_sim), "sales")
    flat, docs = decode(flat_text)["data"]["data"], decode(nested_text)["data"]["data"]
    sales = skybiz.get("sales")
    assert len(flat) == sum(len(d["items"]) for d in docs) > len(docs) > 0
    assert all(list(d) == [f.name for f in sales.header] + ["items"] for d in docs)
    assert all(list(i) == [f.name for f in sales.lines] for d in docs for i in d["items"])
    first = docs[0]
    assert flat[: len(first["items"])] == [
        {**{k: v for k, v in first.items() if k != "items"}, **line} for line in first["items"]]
    for doc in docs:
        assert doc["HCNetAmt"] == sum(i["HCLineAmt"] for i in doc["items"])


async def test_numbers_keep_their_exact_digits(make_client: MakeClient) -> None:
    """Decimals go out with every digit (12.30 stays 12.30), never through binary float."""
    sim = sim_with()
    _, text = await read(await make_client(sim), "sales",
                         body(date_from="2026-04-01", date_to="2026-04-01"))
    rows = sim.dataset.records_between("sales", "2026-04-01", "2026-04-01")
    literals = {f'"{k}":{v:f}' for r in rows for k, v in r.items() if isinstance(v, Decimal)}
    assert any(lit.endswith("0") and "." in lit for lit in literals)
    assert all(lit in text for lit in literals)
    assert '"FactorQty":1.0000' in text
    assert '"CurRate1":1.000000' in text


async def test_customer_fields_and_filters_are_honoured(make_client: MakeClient) -> None:
    """Customer keeps requested fields in request order and matches filters exactly."""
    sim = sim_with()
    client = await make_client(sim)
    town = next(str(r["Town"]) for r in sim.dataset.records_between("customer", "2026-03-31",
                                                                      "2026-04-30"))
    _, text = await read(client, "customer", body(fields=["Town", "CusCode", "Nope", "Town"],
                                                  filters={"Town": town}))
    rows = decode(text)["data"]["data"]
    assert rows
    assert all(list(r) == ["Town", "CusCode"] and r["Town"] == town for r in rows)


async def test_price_matrix_answers_active_rules_in_documented_order(
        make_client: MakeClient) -> None:
    """Only Status "1" rows, ordered by ItemCode then RunNo, item_code narrows them."""
    sim = sim_with()
    client = await make_client(sim)
    window = {"date_from": "2025-05-01", "date_to": "2025-05-31"}
    _, text = await read(client, "price_matrix", body(item_code="", cus_code="", **window))
    rows = decode(text)["data"]["data"]
    assert rows
    assert all(r["Status"] == "1" for r in rows)
    assert [(r["ItemCode"], r["RunNo"]) for r in rows] == sorted(
        (r["ItemCode"], r["RunNo"]) for r in rows)
    item = next(r["ItemCode"] for r in rows if r["ItemCode"])
    _, text = await read(client, "price_matrix", body(item_code=item, cus_code="", **window))
    assert {r["ItemCode"] for r in decode(text)["data"]["data"]} == {item}


async def test_success_envelope_alternates_documented_spellings(make_client: MakeClient) -> None:
    """status takes turns between "success" and "response", mode between 2 and "2"."""
    client = await make_client(sim_with())
    seen = set()
    for _ in range(4):
        answer = decode((await read(client, "supplier"))[1])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", answer["timestamp"])
        assert re.fullmatch(r"req_[0-9a-f]{13}", answer["request_id"])
        seen.add((answer["status"], answer["data"]["mode"]))
    assert seen == {("success", 2), ("response", 2), ("success", "2"), ("response", "2")}


async def test_same_seed_gives_the_same_bytes(make_client: MakeClient) -> None:
    """Two simulators with one seed answer identical bytes but for timestamp and request_id."""
    texts = []
    for seed in (7, 7, 8):
        client = await make_client(sim_with(seed=seed))
        parts = [ENVELOPE_ID.sub("", (await read(client, m))[1]) for m in MODULES]
        texts.append("".join(parts))
    assert texts[0] == texts[1] != texts[2]


# ---- errors ---------------------------------------------------------------------------------

BAD_LATER = {"action": None, "date_from": "x", "fields": "x"}  # would fail every later check
ERRORS: list[tuple[str, dict[str, Any], Any, int, str]] = [
    ("json-garbage", {}, b"{not json", 400, "Invalid JSON input"),
    ("json-array", {}, b"[]", 400, "Invalid JSON input"),
    ("missing-secret", {}, body(api_secret=None, **BAD_LATER), 400,
     "API key and secret are required"),
    ("empty-key", {}, body(api_key="", **BAD_LATER), 400, "API key and secret are required"),
    ("unknown-key", {"expires": None}, body(api_key="nope", **BAD_LATER), 401,
     "Invalid API credentials"),
    ("no-expiry", {"expires": None}, body(api_secret="bad", **BAD_LATER), 401,
     "Invalid API credentials: No expiry date set. Please generate new credentials."),
    ("expired", {"expires": datetime.date(2026, 4, 29)}, body(api_secret="bad", **BAD_LATER),
     401, "API key expired on 2026-04-29. Please delete the expired credentials and create a "
     "new API key set to continue using the API."),
    ("secret-whitespace", {"mode": 0}, body(api_secret=SECRET + " ", **BAD_LATER), 401,
     "Invalid API credentials"),
    ("mode-disabled", {"mode": 0}, body(**BAD_LATER), 403,
     "API integration is disabled for this account"),
    ("mode-production-http", {"mode": 1}, body(**BAD_LATER), 403,
     "HTTPS is required for Production mode"),
    ("action-missing", {"missing_modules": frozenset({"customer"})}, body(**BAD_LATER), 400,
     "action is required. Use 'read' or 'create'"),
    ("action-invalid", {}, body(action="delete", date_from="x"), 400,
     "Invalid action. Use 'read' or 'create'"),
    ("module-not-found", {"missing_modules": frozenset({"customer"}),
                          "denied_modules": frozenset({"customer"})},
     body(date_from="x"), 403, "Customer module not found"),
    ("create", {"create_denied_modules": frozenset({"customer"})}, body(action="create"), 403,
     "Customer create permission denied"),
    ("read-denied", {"denied_modules": frozenset({"customer"})}, body(date_from="x"), 403,
     "Customer read permission denied"),
    ("dates-missing", {}, body(date_to=None, fields="x"), 400,
     "date_from and date_to are required"),
    ("date-format", {}, body(date_from="2026/04/01", fields="x"), 400,
     "Invalid date format. Use YYYY-MM-DD format."),
    ("date-unicode-digits", {}, body(date_from="\uff12\uff10\uff12\uff16-04-01"), 400,
     "Invalid date format. Use YYYY-MM-DD format."),
    ("date-values", {}, body(date_from="2026-02-30", fields="x"), 400,
     "Invalid date values. Please provide valid dates."),
    ("date-order", {}, body(date_from="2026-05-01", fields="x"), 400,
     "date_from cannot be after date_to."),
    ("date-range", {}, body(date_from="2026-03-30", fields="x"), 400,
     "Date range cannot exceed 31 days."),
    ("fields-type", {}, body(fields="CusCode", filters="x"), 400, "fields must be an array"),
    ("filters-type", {}, body(filters="Town"), 400, "filters must be an array"),
    ("fields-unknown", {}, body(fields=["Nope", 3]), 400, "No valid fields requested"),
]


@pytest.mark.parametrize(("options", "payload", "status", "message"),
                         [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
async def test_documented_errors_in_documented_precedence(
        make_client: MakeClient, options: dict[str, Any], payload: Any, status: int,
        message: str) -> None:
    """Each read error of the docs' reference wins over every check that comes after it."""
    client = await make_client(sim_with(**options))
    kwargs = ({"data": payload, "headers": {"Content-Type": "application/json"}}
              if isinstance(payload, bytes) else {"json": payload})
    response = await client.post(url("customer"), **kwargs)
    answer = decode(await response.text())
    assert (response.status, answer["message"]) == (status, message)
    assert list(answer) == ["status", "timestamp", "request_id", "message"]
    assert answer["status"] == "error"


async def test_form_encoded_read_is_invalid_json(make_client: MakeClient) -> None:
    """A form-encoded body (the docs' PHP sample) is refused as invalid JSON."""
    response = await (await make_client(sim_with())).post(url("customer"), data=body())
    assert (response.status, decode(await response.text())["message"]) == (
        400, "Invalid JSON input")


async def test_json_without_json_content_type_is_refused(make_client: MakeClient) -> None:
    """Valid JSON sent without Content-Type application/json is refused."""
    response = await (await make_client(sim_with())).post(
        url("customer"), data=json.dumps(body()), headers={"Content-Type": "text/plain"})
    assert response.status == 400


async def test_non_post_and_unknown_paths(make_client: MakeClient) -> None:
    """GET gets 405 "Only POST method allowed"; an unknown endpoint gets an HTML 404."""
    client = await make_client(sim_with())
    response = await client.get(url("sales"))
    assert (response.status, decode(await response.text())["message"]) == (
        405, "Only POST method allowed")
    response = await client.post("/01/clientportal/apiv2/modules/sale.php", json=body())
    assert response.status == 404
    assert "<title>404 Not Found</title>" in await response.text()


def _peer(remote: str) -> Any:
    """A middleware making every request appear to come from ``remote``."""

    @web.middleware
    async def fake_peer(request: web.Request, handler: Any) -> web.StreamResponse:
        return await handler(request.clone(remote=remote))  # type: ignore[no-any-return]

    return fake_peer


async def test_developer_mode_refuses_non_local_peers() -> None:
    """In mode 2 a request from a non-loopback address gets 403."""
    sim = sim_with()
    app = sim.app()
    app.middlewares.append(_peer("192.0.2.7"))
    async with TestClient(TestServer(app)) as client:
        response = await client.post(url("item"), json=body(action=None))
        assert decode(await response.text())["message"] == (
            "Developer mode only allows localhost origins.")
        assert response.status == 403


# ---- rate limit ------------------------------------------------------------------------------


async def test_sixth_request_in_the_window_gets_429(make_client: MakeClient) -> None:
    """With 5 per 10 s, the 6th request within the window is refused, failures counted too."""
    sim = sim_with(rate_requests=5, rate_seconds=10.0)
    now = [100.0]
    sim.clock = lambda: now[0]
    client = await make_client(sim)
    statuses = [(await read(client, "item", body(api_key="wrong")))[0] for _ in range(2)]
    statuses += [(await read(client, "item"))[0] for _ in range(3)]
    response = await client.post(url("item"), json=body())
    assert statuses == [401, 401, 200, 200, 200]
    assert response.status == 429
    assert decode(await response.text())["message"] == "Rate limit exceeded"
    assert response.headers["Retry-After"] == "10"
    now[0] = 109.999
    assert (await read(client, "item"))[0] == 429  # the refused ones still count
    now[0] = 120.0
    assert (await read(client, "item"))[0] == 200


async def test_key_limit_applies_across_addresses() -> None:
    """The per-key window counts requests from every address using the key."""
    sim = sim_with(rate_requests=3, rate_seconds=10.0)
    sim.clock = lambda: 1.0
    statuses = []
    for remote in ("127.0.0.1", "127.0.0.1", "::1", "::1"):
        app = sim.app()
        app.middlewares.append(_peer(remote))
        async with TestClient(TestServer(app)) as client:
            statuses.append((await client.post(url("item"), json=body())).status)
    assert statuses == [200, 200, 200, 429]


# ---- faults ----------------------------------------------------------------------------------


async def _outcome(session: aiohttp.ClientSession, base_url: str) -> str:
    """Classify what the client saw for one read."""
    try:
        async with session.post(f"{base_url}/collection.php", json=body()) as response:
            text = await response.text()
    except aiohttp.ClientError:
        return "reset"
    if response.status == 500:
        return str(decode(text)["message"])
    if text.startswith("<br />\n<b>Warning</b>"):
        return "php_warning"
    try:
        decode(text)
    except ValueError:
        return "truncated"
    return "ok"


async def test_every_fault_kind_shows_up_at_fault_rate_one() -> None:
    """With faults=1.0 every request misbehaves, in each of the six ways at least once."""
    sim = sim_with(faults=1.0, slow_seconds=0.01, seed=3)
    base_url = await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            seen = [await _outcome(session, base_url) for _ in range(40)]
    finally:
        await sim.stop()
    assert {"reset", "Internal server error", "Database connection failed", "php_warning",
            "truncated", "ok"} <= set(seen)
    faults = [r.fault for r in sim.requests]
    assert None not in faults
    assert len(set(faults)) == 6
    assert seen.count("ok") == faults.count("slow")


@pytest.mark.parametrize(("dates", "module", "hang", "status"), [
    (("2026-03-31", "2026-04-30"), "sales", False, 500),  # 31 days over the heavy days
    (("2026-04-08", "2026-04-12"), "sales", False, 500),  # 5 > 4 days
    (("2026-04-08", "2026-04-12"), "sales", True, 500),  # the same after slow_seconds
    (("2026-04-09", "2026-04-12"), "sales", False, 200),  # 4 days fit
    (("2026-04-11", "2026-04-30"), "sales", False, 200),  # long but after the heavy days
    (("2026-03-31", "2026-04-30"), "customer", False, 200),  # another module
])
async def test_heavy_days_answer_out_of_memory_in_long_windows(
    make_client: MakeClient, dates: tuple[str, str], module: str, hang: bool, status: int,
) -> None:
    """A window longer than max_days over a heavy day gets PHP's out-of-memory 500 (as
    text/html, logged as fault "heavy"); shorter windows and other ranges are answered."""
    heavy = HeavyDays(datetime.date(2026, 4, 5), datetime.date(2026, 4, 10), 4,
                      hang=hang, modules=frozenset({"sales"}))
    sim = sim_with(heavy=heavy, slow_seconds=0.0)
    got, text = await read(await make_client(sim), module,
                           body(date_from=dates[0], date_to=dates[1]))
    assert got == status
    assert ("Allowed memory size" in text) == (got == 500)
    assert sim.requests[-1].fault == ("heavy" if got == 500 else None)


# ---- dataset -----------------------------------------------------------------------------------


async def test_mutations_change_the_next_answer(make_client: MakeClient) -> None:
    """Edits, additions and deletions in the dataset show in the server's next answer."""
    sim = sim_with()
    ds, client = sim.dataset, await make_client(sim)
    ds.edit_master("customer", "300-B0001", {"CusName": "Renamed"}, "2026-04-30 09:00:00")
    ds.add_document("sales", {"DocType": "CusInv", "Doc1No": "API-1", "D_ate": "2026-04-02"},
                    [{"ItemCode": "X", "Qty": Decimal("2"), "HCUnitCost": Decimal("0.10"),
                      "HCLineAmt": Decimal("0.20")}])
    victim = ds.documents("sales", "2026-04-03", "2026-04-03")[0].header
    ds.delete_document("sales", str(victim["DocType"]), str(victim["Doc1No"]))
    runno = ds.records_between("collection", "2026-04-04", "2026-04-04")[0]["RunNo"]
    assert isinstance(runno, int)
    ds.delete_collection(runno)
    customers = decode((await read(client, "customer"))[1])["data"]["data"]
    sales = decode((await read(client, "sales"))[1])["data"]["data"]
    receipts = decode((await read(client, "collection"))[1])["data"]["data"]
    assert {"CusCode": "300-B0001", "CusName": "Renamed"}.items() <= next(
        c for c in customers if c["CusCode"] == "300-B0001").items()
    added = [r for r in sales if r["Doc1No"] == "API-1"]
    assert [(r["HCLineAmt"], r["HCNetAmt"]) for r in added] == [(Decimal("0.20"),) * 2]
    assert (victim["DocType"], victim["Doc1No"]) not in {(r["DocType"], r["Doc1No"]) for r in sales}
    assert runno not in {r["RunNo"] for r in receipts}


def test_edit_document_replaces_lines_and_follows_totals() -> None:
    """Replacing a document's lines recomputes HCNetAmt/HCDtTax; a header edit sticks."""
    ds = Dataset(today=TODAY)
    doc = ds.documents("purchase", "2026-04-10", "2026-04-10")[0].header
    lines = [{"HCLineAmt": Decimal("0.10"), "HCTax": Decimal("0")},
             {"HCLineAmt": Decimal("0.20"), "HCTax": Decimal("0.01")}]
    ds.edit_document("purchase", str(doc["DocType"]), str(doc["Doc1No"]), {"Doc2No": "edited"},
                     lines)
    rows = [r for r in ds.records_between("purchase", "2026-04-10", "2026-04-10")
            if r["Doc1No"] == doc["Doc1No"] and r["DocType"] == doc["DocType"]]
    assert [(r["HCNetAmt"], r["HCDtTax"], r["Doc2No"]) for r in rows] == [
        (Decimal("0.30"), Decimal("0.01"), "edited")] * 2


def test_dataset_volumes() -> None:
    """730 days at scale 1 have the documented daily volumes."""
    ds = Dataset(today=TODAY)
    counts = {m: len(ds.documents(m, ds.start, ds.today))
              for m in ("sales", "purchase", "sales_order", "collection")}
    days = 731
    assert 20 * days < counts["sales"] < 30 * days
    assert 3 * days < counts["purchase"] < 5 * days
    assert 4.5 * days < counts["sales_order"] < 7.5 * days
    assert 12 * days < counts["collection"] < 18 * days
    assert [len(ds.masters(m)) for m in ("customer", "supplier", "item", "price_matrix")] == [
        300, 60, 400, 150]


def test_dataset_is_consistent_and_nasty() -> None:
    """Amounts add up, and the awkward cases the loader must survive are all present."""
    ds = Dataset(today=TODAY)
    docs = ds.documents("sales", "2026-01-01", "2026-04-30")
    for doc in docs:
        amounts = [(exact(ln["Qty"]), exact(ln["HCUnitCost"]), exact(ln["HCLineAmt"]))
                   for ln in doc.lines]
        assert [money(q * u) for q, u, _ in amounts] == [a for _, _, a in amounts]
        assert doc.header["HCNetAmt"] == sum(a for _, _, a in amounts)
    types_by_no: dict[object, set[object]] = {}
    for doc in docs:
        types_by_no.setdefault(doc.header["Doc1No"], set()).add(doc.header["DocType"])
    assert {"CusInv", "CusCN"} in types_by_no.values()
    assert {"CusInv", "CS", "CusCN", "CusDN"} == {d.header["DocType"] for d in docs}
    everything = [v for m in MODULES for r in ds.records_between(m, "2025-01-01", "2026-04-30")
                  for v in r.values()]
    for nasty in ("0000-00-00", "0000-00-00 00:00:00", "", "N/A", "\\N", "陈氏贸易有限公司",
                  "Café ☕ Noodle 🍜 House", "Tab\tSeparated Sdn Bhd",
                  "O'Reilly \"Best\" Hardware"):
        assert nasty in everything
    assert any(isinstance(v, Decimal) and v.as_tuple().exponent == -4 for v in everything)
    assert any([ln["HCLineAmt"] for ln in d.lines[:2]] == [Decimal("0.10"), Decimal("0.20")]
               for d in docs)


@pytest.mark.parametrize("module", MODULES)
def test_records_follow_the_registry_and_filter_field(module: str) -> None:
    """Every record carries exactly the registry's fields and a real date in its filter field."""
    ds = Dataset(today=TODAY, seed=5)
    mod = skybiz.get(module)
    rows = ds.records_between(module, ds.start, ds.today)
    assert rows
    assert all(list(r) == [f.name for f in mod.fields] for r in rows)
    assert all(datetime.date.fromisoformat(str(r[mod.date_field])[:10]) for r in rows)
    if mod.kind is ModuleKind.DOCUMENT and module != "collection":
        assert all(day_of_doc1no(str(r["Doc1No"])) for r in rows)


# ---- real socket, TLS, CLI ---------------------------------------------------------------------


async def test_start_serves_the_documented_url_layout() -> None:
    """start() listens on a free port and answers at base_url/<endpoint>."""
    sim = sim_with()
    base_url = await sim.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/01/clientportal/apiv2/modules", base_url)
        async with aiohttp.ClientSession() as session, session.post(
                f"{base_url}/item.php", json=body()) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
    finally:
        await sim.stop()
    assert [(r.module, r.status, r.date_from) for r in sim.requests] == [
        ("item", 200, "2026-03-31")]


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def test_production_mode_answers_over_https(self_signed: tuple[Path, Path]) -> None:
    """Mode 1 accepts the same read once it arrives over TLS."""
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sim = sim_with(mode=1)
    base_url = await sim.start(ssl_context=server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session, session.post(
                f"{base_url}/item.php", json=body(), ssl=client_ctx) as response:
            assert response.status == 200
            assert base_url.startswith("https://")
    finally:
        await sim.stop()


def test_cli_parses_rate_and_builds_options() -> None:
    """--rate 3/7.5 becomes 3 requests per 7.5 s; the other flags reach the options."""
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--rate", "3/7.5", "--faults", "0.05", "--nested", "--seed", "9",
                              "--heavy", "2024-03-01..2024-03-31/7"])
    options = cli.options_from(args)
    assert options.heavy == HeavyDays(datetime.date(2024, 3, 1), datetime.date(2024, 3, 31), 7)
    assert (options.rate_requests, options.rate_seconds, options.faults) == (3, 7.5, 0.05)
    assert options.nested_documents
    assert options.seed == 9
    assert args.port == 8765
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate", "five"])


async def test_cli_prints_url_and_credentials_then_stops_on_sigint() -> None:
    """run() prints base_url and export lines, serves, and exits 0 on SIGINT."""
    code = ("import argparse, sys; from syncd_simulator import cli; p = argparse.ArgumentParser();"
            " cli.add_arguments(p); sys.exit(cli.run(p.parse_args(['--port', '0'])))")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines = [(await proc.stdout.readline()).decode() for _ in range(4)]
    proc.send_signal(2)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert re.search(r'base_url = "http://127\.0\.0\.1:\d+/01/clientportal/apiv2/modules"',
                     lines[1])
    assert lines[2].strip() == f"export SYNCD_MAIN_API_KEY={KEY}"
    assert lines[3].strip() == f"export SYNCD_MAIN_API_SECRET={SECRET}"
