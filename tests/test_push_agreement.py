"""Property: syncd's validator and the simulator's server-side checks agree on any document."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.kinds.skybiz.push import validation
from syncd_simulator import Dataset
from syncd_simulator import create as server

DATASET = Dataset(seed=3, history_days=5, today=datetime.date(2026, 4, 30))
CUSTOMER = str(DATASET.masters("customer")[0]["CusCode"])
SUPPLIER = str(DATASET.masters("supplier")[0]["CusCode"])
ITEM = str(DATASET.masters("item")[0]["ItemCode"])
CODES = {"0": ITEM, "4": "DELIVERY", "6": "500-000", "5": ITEM, "": ITEM}
NUMBERS = itertools.count(1)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2,
                      allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=3,
                         allow_nan=False, allow_infinity=False)
rates = st.sampled_from([None, Decimal(0), Decimal(6), Decimal("10"), Decimal("8.5")])
tiny = st.sampled_from([Decimal("0.01"), Decimal("-0.01"), Decimal("0.011"), Decimal("-0.02"),
                        Decimal("0.005"), Decimal(1)])


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    """One consistent line: Qty × HCUnitCost to the cent, HCTax from TaxRate1."""
    blank = draw(st.sampled_from(["0", "4", "6"]))
    qty, unit, rate = draw(quantities), draw(amounts), draw(rates)
    amount = (qty * unit).quantize(Decimal("0.01"))
    line: dict[str, Any] = {
        "ItemCode": CODES[blank], "Description": "thing", "Qty": qty, "FactorQty": Decimal(1),
        "UOM": "PCS", "HCUnitCost": unit, "HCLineAmt": amount, "BlankLine": blank}
    if rate is not None:
        line |= {"TaxRate1": rate, "HCTax": (amount * rate / 100).quantize(Decimal("0.01"))}
    return line


def _line(doc: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """A line of ``doc`` to break (a fresh one when the document has none)."""
    if not isinstance(doc.get("items"), list) or not doc["items"]:
        doc["items"] = [draw(lines())]
    line: dict[str, Any] = doc["items"][draw(st.integers(0, len(doc["items"]) - 1))]
    return line


def _bump(row: dict[str, Any], name: str, draw: st.DrawFn) -> None:
    if isinstance(row.get(name), Decimal):
        row[name] += draw(tiny)


def _set(doc: dict[str, Any], draw: st.DrawFn, in_line: bool, names: list[str],
         values: list[Any]) -> None:
    row = _line(doc, draw) if in_line else doc
    name, value = draw(st.sampled_from(names)), draw(st.sampled_from(values))
    if value == "drop":
        row.pop(name, None)
    else:
        row[name] = value


def _blank(line: dict[str, Any], value: object) -> None:
    """Another line type, with an ItemCode the server knows for it (references stay valid)."""
    line["BlankLine"] = value
    line["ItemCode"] = CODES.get(str(value), ITEM)


MUTATIONS = [
    lambda d, draw: _bump(_line(d, draw), "HCLineAmt", draw),
    lambda d, draw: _bump(_line(d, draw), "HCTax", draw),
    lambda d, draw: _bump(d, draw(st.sampled_from(["HCNetAmt", "HCDtTax"])), draw),
    lambda d, draw: _set(d, draw, True, ["Qty", "HCUnitCost", "FactorQty"],
                         [Decimal(0), Decimal(-1), "abc", "2.50", 3]),
    lambda d, draw: _blank(_line(d, draw), draw(st.sampled_from(["5", "", None, 0, "4", 6]))),
    lambda d, draw: _set(d, draw, True, [*validation.ITEM_FIELDS, "HCTax"], ["", None, "drop"]),
    lambda d, draw: _set(d, draw, False, list(validation.HEADER_FIELDS[1:]),
                         ["", None, "drop", "  "]),
    lambda d, draw: _set(d, draw, False, ["CurRate1"], [Decimal(0), "-2", "x", 1, "", "1.5"]),
    lambda d, draw: _set(d, draw, False, ["DocType"], ["CusInv", "PurRet", "SupCN", "cs"]),
    lambda d, draw: _set(d, draw, False, ["items"], [[], "none"]),
]


@st.composite
def documents(draw: st.DrawFn, module: str) -> dict[str, Any]:
    """A consistent document with none, one or two mutations applied."""
    items = draw(st.lists(lines(), min_size=1, max_size=3))
    doc: dict[str, Any] = {
        "Doc1No": f"P-{next(NUMBERS)}", "CusCode": CUSTOMER if module == "sales" else SUPPLIER,
        "DocType": draw(st.sampled_from(validation.DOCTYPES[module])),
        "HCNetAmt": sum((i["HCLineAmt"] for i in items), Decimal(0)),
        "HCDtTax": sum((i.get("HCTax", Decimal(0)) for i in items), Decimal(0)),
        "items": items}
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        mutate(doc, draw)
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["sales", "purchase"]).flatmap(
    lambda m: st.tuples(st.just(m), documents(m))))
def test_validator_agrees_with_the_simulator(case: tuple[str, dict[str, Any]]) -> None:
    """Same verdict and same messages from the client-side and the server-side checks."""
    module, doc = case
    ours = validation.validate(module, doc)
    answer = server.create(DATASET, module, [doc])
    theirs = answer["fail_details"]["validation_errors"].get(doc["Doc1No"], [])
    assert sorted(ours) == sorted(theirs)
    assert (answer["summary"]["inserted"] == 1) == (ours == [])


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    f: st.sampled_from(["", None, "X", 30]) for f in validation.CUSTOMER_FIELDS}))
def test_customer_checks_agree(doc: dict[str, Any]) -> None:
    """Customer compulsory fields: the validator's verdict is the server's (currency known)."""
    doc = doc | {"CurCode": doc.get("CurCode") and "RM", "CusCode": f"Q{next(NUMBERS)}"}
    ours = validation.validate("customer", doc)
    answer = server.create(DATASET, "customer", [doc])
    theirs = answer["fail_details"]["validation_errors"].get(doc["CusCode"], [])
    assert sorted(ours) == sorted(theirs)
