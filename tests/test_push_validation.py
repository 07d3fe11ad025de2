"""The pure validator: every documented create rule, both ways, in exact decimal arithmetic."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from syncd.kinds.skybiz.push import validation as v


def sales_doc(**header: Any) -> dict[str, Any]:
    """A valid two-line sales invoice (parsed as the outbox would: Decimal numbers)."""
    doc: dict[str, Any] = json.loads("""{
        "Doc1No": "INV-0001", "CusCode": "C-000001", "DocType": "CusInv",
        "HCNetAmt": 100.30, "HCDtTax": 9.03, "CurCode": "MYR", "CurRate1": 1,
        "items": [
          {"ItemCode": "ITEM001", "Description": "A", "Qty": 2, "FactorQty": 1, "UOM": "PCS",
           "HCUnitCost": 50.00, "HCLineAmt": 100.00, "BlankLine": "0", "HCTax": 9.00,
           "TaxRate1": 9},
          {"ItemCode": "GL", "Description": "0.1 + 0.2", "Qty": 3, "FactorQty": 1,
           "UOM": "UNIT", "HCUnitCost": 0.1, "HCLineAmt": 0.3, "BlankLine": "6",
           "HCTax": 0.03, "TaxRate1": 10}
        ]}""", parse_float=Decimal)
    doc.update(header)
    return doc


def customer_doc(**fields: Any) -> dict[str, Any]:
    """A valid customer with every compulsory field."""
    doc: dict[str, Any] = {"AccountCode": "AR-001", "CusCode": "CUST001", "CusName": "Acme",
                           "CurCode": "RM", "D_ay": 30, "CategoryCode": "RETAIL"}
    doc.update(fields)
    return doc


def with_item(n: int, **changes: Any) -> dict[str, Any]:
    """The valid sales document with item ``n`` (0-based) changed; None deletes a field."""
    doc = sales_doc()
    item = doc["items"][n]
    for k, value in changes.items():
        if value is None:
            item.pop(k)
        else:
            item[k] = value
    return doc


def without(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for n in names:
        out.pop(n)
    return out


D = Decimal
WHERE = "Document 1 (Doc1No: INV-0001)"
# (id, module, document, the one message expected; None: valid)
CASES: list[tuple[str, str, Any, str | None]] = [
    ("valid-sales", "sales", sales_doc(), None),
    ("valid-purchase", "purchase", sales_doc(DocType="SupCN"), None),
    ("valid-string-numbers", "sales", with_item(0, Qty="2", HCUnitCost="50.00"), None),
    ("header-missing", "sales", without(sales_doc(), "CusCode", "HCDtTax"),
     f"{WHERE}: Missing header fields - CusCode, HCDtTax"),
    ("header-empty-string", "sales", sales_doc(Doc1No=""),
     "Document 1 (Doc1No: ): Missing header fields - Doc1No"),
    ("doctype-sales", "sales", sales_doc(DocType="SupInv"),
     "Invalid DocType 'SupInv'. Allowed: CusInv, CS, CusCN, CusDN"),
    ("doctype-purchase", "purchase", sales_doc(DocType="PurRet"),
     "Invalid DocType 'PurRet'. Allowed: SupInv, SupCN, SupDN"),
    *[(f"doctype-{t}", "sales", sales_doc(DocType=t), None) for t in ("CS", "CusCN", "CusDN")],
    ("item-missing", "sales", with_item(1, UOM=None, BlankLine=None),
     f"{WHERE}, Item 2: Missing fields - UOM, BlankLine"),
    ("blankline-bad", "sales", with_item(0, BlankLine="5"),
     f"{WHERE}, Item 1: Invalid BlankLine '5'. Allowed: 0, 4, 6"),
    ("blankline-4", "sales", with_item(0, BlankLine="4"), None),
    ("qty-zero-stock", "sales", with_item(0, Qty=0, HCLineAmt=D("0.00"), HCTax=D(0))
     | {"HCNetAmt": D("0.30"), "HCDtTax": D("0.03")},
     f"{WHERE}, Item 1: Qty must be greater than 0"),
    ("qty-zero-gl", "sales", sales_doc(HCNetAmt=D("100.00"), HCDtTax=D("9.00"),
                                       items=[sales_doc()["items"][0],
                                              {**sales_doc()["items"][1], "Qty": 0,
                                               "HCLineAmt": 0, "HCTax": 0}]), None),
    ("factorqty-zero", "sales", with_item(0, FactorQty=0),
     f"{WHERE}, Item 1: FactorQty must be greater than 0"),
    ("unitcost-zero-stock", "sales", sales_doc(HCNetAmt=D("0.30"), HCDtTax=D("0.03"),
                                               items=[{**sales_doc()["items"][0],
                                                       "HCUnitCost": 0, "HCLineAmt": 0,
                                                       "HCTax": 0},
                                                      sales_doc()["items"][1]]),
     f"{WHERE}, Item 1: HCUnitCost must be greater than 0"),
    ("unitcost-zero-charge", "sales", with_item(1, BlankLine="4", HCUnitCost=D("0.1")), None),
    ("currate-zero", "sales", sales_doc(CurRate1=0), f"{WHERE}: CurRate1 must be greater than 0"),
    ("currate-absent", "sales", without(sales_doc(), "CurRate1"), None),
    ("line-amount-off", "sales", with_item(0, HCLineAmt=D("100.02")) | {"HCNetAmt": D("100.32")},
     v.LINE_AMOUNT),
    ("line-amount-at-tolerance", "sales",
     with_item(0, HCLineAmt=D("100.01"), HCTax=D("9.00")) | {"HCNetAmt": D("100.31")}, None),
    ("line-tax-off", "sales", with_item(0, HCTax=D("9.02")) | {"HCDtTax": D("9.05")}, v.LINE_TAX),
    ("line-tax-zero-rate", "sales", with_item(0, TaxRate1=0, HCTax=D("0.00"))
     | {"HCDtTax": D("0.03")}, None),
    ("line-tax-without-hctax", "sales", with_item(0, HCTax=None) | {"HCDtTax": D("0.03")},
     f"{WHERE}, Item 1: HCTax is required when TaxRate1 is provided"),
    ("header-net-off", "sales", sales_doc(HCNetAmt=D("100.32")), v.HEADER_NET),
    ("header-net-at-tolerance", "sales", sales_doc(HCNetAmt=D("100.31")), None),
    ("header-tax-off", "sales", sales_doc(HCDtTax=D("9.05")), v.HEADER_TAX),
    ("header-tax-at-tolerance", "sales", sales_doc(HCDtTax=D("9.04")), None),
    ("no-items", "sales", sales_doc(items=[]), f"{WHERE}: items must be a non-empty array"),
    ("not-a-number", "sales", with_item(0, Qty="two"), f"{WHERE}, Item 1: Qty must be a number"),
    ("customer-valid", "customer", customer_doc(), None),
    ("customer-missing", "customer", customer_doc(CusName="", D_ay=None),
     "Document 1 (CusCode: CUST001): Missing fields - CusName, D_ay"),
    ("not-an-object", "sales", ["x"], "Document 1: not a JSON object"),
]


@pytest.mark.parametrize(("module", "doc", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule(module: str, doc: Any, message: str | None) -> None:
    """Each documented rule accepts the good case and names the bad one in the API's words."""
    assert v.validate(module, doc) == ([] if message is None else [message])


def test_float_arithmetic_would_fail_where_decimal_passes() -> None:
    """0.1 × 3 = 0.3 exactly: the validator never goes through binary floats."""
    doc = sales_doc(HCNetAmt=D("0.30"), HCDtTax=D("0"), items=[
        {"ItemCode": "X", "Description": "d", "Qty": 3, "FactorQty": 1, "UOM": "U",
         "HCUnitCost": D("0.1"), "HCLineAmt": D("0.30"), "BlankLine": "0"}])
    assert v.validate("sales", doc) == []
    # Ten-digit amounts keep every digit: a one-cent error in 12 345 678 901.23 is found.
    big = sales_doc(HCNetAmt=D("12345678901.25"), HCDtTax=D("0"), items=[
        {"ItemCode": "X", "Description": "d", "Qty": 1, "FactorQty": 1, "UOM": "U",
         "HCUnitCost": D("12345678901.23"), "HCLineAmt": D("12345678901.23"), "BlankLine": "0"}])
    assert v.validate("sales", big) == [v.HEADER_NET]


def test_position_names_the_document() -> None:
    """The position given is the document number in the message, as the API counts."""
    assert v.validate("sales", sales_doc(Doc1No=None), position=7) == [
        "Document 7 (Doc1No: ): Missing header fields - Doc1No"]


CONFLICT = "conflicting duplicates: outbox ids {} have {} with different content; insert " \
    "the one meant again as a new row"


@pytest.mark.parametrize(("module", "rows", "expected"), [
    ("sales", [(1, ("CusInv", "A"), "x"), (2, ("CusCN", "A"), "y"), (3, ("CusInv", "A"), "x")],
     {3: "duplicate of outbox id 1"}),
    ("customer", [(4, ("C1",), "x"), (9, ("C1",), "x"), (10, ("C2",), "x"), (11, ("C1",), "x")],
     {9: "duplicate of outbox id 4", 11: "duplicate of outbox id 4"}),
    ("sales", [(1, ("CusInv", "A"), "x"), (2, ("CusInv", "B"), "x")], {}),
    ("sales", [(1, ("CusInv", "A"), "x"), (2, ("CusInv", "A"), "y"), (5, ("CusInv", "A"), "x")],
     dict.fromkeys((1, 2, 5), CONFLICT.format("1, 2, 5", "DocType 'CusInv' and Doc1No 'A'"))),
    ("customer", [(3, ("C1",), "x"), (4, ("C1",), "y")],
     dict.fromkeys((3, 4), CONFLICT.format("3, 4", "CusCode 'C1'"))),
])
def test_duplicates_within_the_outbox(
    module: str, rows: list[tuple[int, tuple[str, ...], str]], expected: dict[int, str]
) -> None:
    """Rows sharing a key (DocType + Doc1No, or CusCode): with different content all are
    refused; identical copies after the first refer to it."""
    assert v.duplicates(rows, module) == expected
