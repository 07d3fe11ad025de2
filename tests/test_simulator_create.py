"""The simulator's create endpoints: the docs' server-side checks, partial success,
all-or-nothing customers, duplicates, the 500-document limit and a lost answer."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from syncd.engine.outbox.jsontext import dumps
from syncd.kinds.skybiz import modules as skybiz
from syncd_simulator import Simulator, SimulatorOptions

TODAY = datetime.date(2026, 4, 30)
OPTIONS = SimulatorOptions(today=TODAY, rate_requests=100_000, history_days=10)
KEY, SECRET = OPTIONS.api_key, OPTIONS.api_secret


@pytest.fixture
async def client() -> AsyncIterator[tuple[Simulator, TestClient[Any, Any]]]:
    """A simulator on a real socket and a client for it."""
    sim = Simulator(OPTIONS)
    test_client: TestClient[Any, Any] = TestClient(TestServer(sim.app()))
    await test_client.start_server()
    yield sim, test_client
    await test_client.close()


def refs(sim: Simulator) -> dict[str, str]:
    """Codes that exist in the simulator's masters."""
    return {"customer": str(sim.dataset.masters("customer")[0]["CusCode"]),
            "supplier": str(sim.dataset.masters("supplier")[0]["CusCode"]),
            "item": str(sim.dataset.masters("item")[0]["ItemCode"])}


def invoice(sim: Simulator, doc1no: str, **header: Any) -> dict[str, Any]:
    """A valid one-line sales invoice; ``header`` overrides header fields."""
    r = refs(sim)
    doc: dict[str, Any] = {
        "Doc1No": doc1no, "CusCode": r["customer"], "DocType": "CusInv",
        "HCNetAmt": Decimal("100.10"), "HCDtTax": Decimal("6.01"),
        "items": [{"ItemCode": r["item"], "Description": "Widget", "Qty": Decimal("3"),
                   "FactorQty": 1, "UOM": "PCS", "HCUnitCost": Decimal("33.3667"),
                   "HCLineAmt": Decimal("100.10"), "BlankLine": "0",
                   "HCTax": Decimal("6.01"), "TaxRate1": 6}]}
    doc.update(header)
    return doc


async def post(c: TestClient[Any, Any], module: str, docs: list[Any]) -> tuple[int, Any]:
    """POST a create request; (status, parsed body with Decimal numbers)."""
    body = dumps({"api_key": KEY, "api_secret": SECRET, "action": "create",
                  {"sales": "sales_data", "purchase": "purchase_data",
                   "customer": "customer_data"}[module]: {"documents": docs}})
    path = f"/01/clientportal/apiv2/modules/{skybiz.get(module).endpoint}"
    resp = await c.post(path, data=body, headers={"Content-Type": "application/json"})
    return resp.status, json.loads(await resp.text(), parse_float=Decimal)


async def test_partial_success_inserts_the_valid_documents(
    client: tuple[Simulator, TestClient[Any, Any]]
) -> None:
    """Bad customer and amount mismatch fail their documents; the valid one is inserted."""
    sim, c = client
    docs = [invoice(sim, "WEB-1"), invoice(sim, "WEB-2", CusCode="NOPE"),
            invoice(sim, "WEB-3", HCNetAmt=Decimal("100.12"))]
    status, answer = await post(c, "sales", docs)
    data = answer["data"]
    assert (status, answer["status"]) == (200, "success")
    assert data["summary"] == {"total_documents": 3, "inserted": 1, "failed": 2}
    assert data["successful_documents"] == ["WEB-1"]
    assert data["failed_documents"] == ["WEB-2", "WEB-3"]
    details = data["fail_details"]
    assert details["invalid_customers"] == ["Document 2 (Doc1No: WEB-2): Customer Code 'NOPE' "
                                            "does not exist"]
    assert details["amount_mismatch"] == {
        "WEB-3": ["Header HCNetAmt does not match sum of HCLineAmt"]}
    assert details["validation_errors"]["WEB-2"] == ["Customer Code 'NOPE' does not exist"]
    assert data["batch_id"].startswith("API")
    created = [d for d in sim.dataset.documents("sales", TODAY, TODAY)
               if d.header["Doc1No"] == "WEB-1"]
    assert len(created) == 1
    assert created[0].header["HCNetAmt"] == Decimal("100.10")
    assert str(created[0].lines[0]["HCUnitCost"]) == "33.3667"


async def test_duplicates_are_refused(client: tuple[Simulator, TestClient[Any, Any]]) -> None:
    """A Doc1No that exists for its DocType, or twice in one batch, is not inserted again."""
    sim, c = client
    assert (await post(c, "sales", [invoice(sim, "WEB-9")]))[1]["data"]["summary"]["inserted"] == 1
    _, answer = await post(c, "sales", [invoice(sim, "WEB-9"), invoice(sim, "WEB-8"),
                                        invoice(sim, "WEB-8"),
                                        invoice(sim, "WEB-9", DocType="CusDN")])
    data = answer["data"]
    assert data["successful_documents"] == ["WEB-8", "WEB-9"]
    assert data["fail_details"]["duplicate_documents"] == [
        {"Doc1No": "WEB-9", "error": "Document already exists"},
        {"Doc1No": "WEB-8", "error": "Duplicate Doc1No found in the same batch"}]


async def test_customer_batch_is_all_or_nothing(
    client: tuple[Simulator, TestClient[Any, Any]]
) -> None:
    """One customer without CusName rejects the whole batch; nothing is created."""
    sim, c = client
    good = {"AccountCode": "AR-001", "CusCode": "NEW1", "CusName": "Acme", "CurCode": "RM",
            "D_ay": 30, "CategoryCode": "RETAIL", "CreditLimit": Decimal("1000.50")}
    bad = good | {"CusCode": "NEW2", "CusName": ""}
    _, answer = await post(c, "customer", [good, bad])
    data = answer["data"]
    assert data["summary"] == {"total_documents": 2, "inserted": 0, "failed": 2}
    assert data["fail_details"]["compulsory_fields_missing"] == [
        "Document 2 (CusCode: NEW2): Missing fields - CusName"]
    assert not sim.dataset.has_master("customer", "NEW1")
    _, answer = await post(c, "customer", [good])
    assert answer["data"]["successful_documents"] == ["NEW1"]
    row = next(r for r in sim.dataset.masters("customer") if r["CusCode"] == "NEW1")
    assert (row["CreditLimit"], row["TermCode"]) == (Decimal("1000.50"), "30")
    _, answer = await post(c, "customer", [good])
    assert answer["data"]["fail_details"]["duplicate_customers"] == [
        {"cuscode": "NEW1", "error": "Customer code already exists"}]


@pytest.mark.parametrize(("module", "docs", "status", "message"), [
    ("sales", None, 400, "sales_data is required for create action"),
    ("purchase", [], 400, "purchase_data.documents must be a non-empty array"),
    ("sales", [{}] * 501, 400, "Maximum 500 documents allowed. You sent 501."),
    ("item", [{}], 403, "Item create permission denied"),
])
async def test_request_level_refusals(
    client: tuple[Simulator, TestClient[Any, Any]], module: str, docs: Any, status: int,
    message: str
) -> None:
    """Missing data key, empty list, more than 500 documents, a read-only module."""
    _, c = client
    body: dict[str, Any] = {"api_key": KEY, "api_secret": SECRET, "action": "create"}
    if docs is not None:
        body[f"{module}_data"] = {"documents": docs}
    resp = await c.post(f"/01/clientportal/apiv2/modules/{skybiz.get(module).endpoint}",
                        json=body)
    assert (resp.status, (await resp.json())["message"]) == (status, message)


async def test_lost_answer_after_insert(client: tuple[Simulator, TestClient[Any, Any]]) -> None:
    """With a lost answer switched on, the document is inserted and the connection drops."""
    sim, c = client
    sim.lose_create_answers = 1
    with pytest.raises(aiohttp.ClientError):
        await post(c, "sales", [invoice(sim, "WEB-LOST")])
    assert sim.dataset.has_document("sales", "CusInv", "WEB-LOST")
    _, answer = await post(c, "sales", [invoice(sim, "WEB-LOST")])
    assert answer["data"]["fail_details"]["validation_errors"] == {
        "WEB-LOST": ["Document already exists"]}
