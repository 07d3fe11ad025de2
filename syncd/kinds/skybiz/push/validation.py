"""The documentation's create rules, checked before anything is sent (pure, exact).

Messages are the API's own words (``000_…`` error reference, ``001_…`` customer module)
where the docs give them; the few rules the docs state without a message get one in the
same style. Numbers are compared as Decimal with the documented ±0.01 tolerance, never as
binary floats.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

MODULES = ("sales", "purchase", "customer")
DOCTYPES = {"sales": ("CusInv", "CS", "CusCN", "CusDN"), "purchase": ("SupInv", "SupCN", "SupDN")}
BLANK_LINES = ("0", "4", "6")  # stock item, other charge, GL account
HEADER_FIELDS = ("Doc1No", "CusCode", "DocType", "HCNetAmt", "HCDtTax")
ITEM_FIELDS = ("ItemCode", "Description", "Qty", "FactorQty", "UOM", "HCUnitCost", "HCLineAmt",
               "BlankLine")
CUSTOMER_FIELDS = ("AccountCode", "CusCode", "CusName", "CurCode", "D_ay", "CategoryCode")
TOLERANCE = Decimal("0.01")
LINE_AMOUNT = "HCLineAmt does not match Qty × HCUnitCost"
LINE_TAX = "HCTax does not match HCLineAmt × TaxRate1%"
HEADER_NET = "Header HCNetAmt does not match sum of HCLineAmt"
HEADER_TAX = "Header HCDtTax does not match sum of HCTax"
AMOUNT_MESSAGES = (LINE_AMOUNT, LINE_TAX, HEADER_NET, HEADER_TAX)


def absent(value: object) -> bool:
    """A compulsory field counts as missing when absent, null or an empty string."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def number(value: object) -> Decimal | None:
    """The exact value of a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value) if Decimal(value).is_finite() else None
    if isinstance(value, float):  # only reachable through a caller that parsed with floats
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def key_of(module: str, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The document's identity at the API: (DocType, Doc1No), or (CusCode,) for customers."""
    if module == "customer":
        return (str(doc.get("CusCode", "")),)
    return (str(doc.get("DocType", "")), str(doc.get("Doc1No", "")))


def name_of(module: str, doc: Mapping[str, Any]) -> str:
    """How the API names the document in its answers: Doc1No, or CusCode for customers."""
    return key_of(module, doc)[-1]


def validate(module: str, doc: object, position: int = 1) -> list[str]:
    """Every rule ``doc`` breaks, in the API's words; empty when it may be sent.

    ``position`` is the document's 1-based place in its request, as the API numbers it.
    """
    if not isinstance(doc, Mapping):
        return [f"Document {position}: not a JSON object"]
    with localcontext() as ctx:
        ctx.prec = 200  # products and sums of stored digits stay exact
        if module == "customer":
            return list(_customer(doc, position))
        return list(_document(module, doc, position))


def duplicates(rows: list[tuple[int, tuple[str, ...], str]], module: str) -> dict[int, str]:
    """Rows (id, key, content) in id order that must not be sent: id -> message.

    The caller passes every outbox row that is or may become a document at the API
    (pending, sending, inserted), so a document is never created twice from two rows. Rows
    sharing a key with different content are all refused (nobody can tell which is meant);
    of identical copies the first is the one sent, every later one refers to it.
    """
    groups: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for row_id, key, content in rows:
        groups.setdefault(key, []).append((row_id, content))
    out: dict[int, str] = {}
    for key, members in groups.items():
        ids = [row_id for row_id, _ in members]
        if len({content for _, content in members}) > 1:
            listed = ", ".join(map(str, ids))
            out |= dict.fromkeys(ids, f"conflicting duplicates: outbox ids {listed} have "
                                 f"{_key_words(module, key)} with different content; insert "
                                 "the one meant again as a new row")
        else:
            out |= dict.fromkeys(ids[1:], f"duplicate of outbox id {ids[0]}")
    return out


def _key_words(module: str, key: tuple[str, ...]) -> str:
    if module == "customer":
        return f"CusCode {key[0]!r}"
    return f"DocType {key[0]!r} and Doc1No {key[1]!r}"


def _customer(doc: Mapping[str, Any], position: int) -> Iterator[str]:
    missing = [f for f in CUSTOMER_FIELDS if absent(doc.get(f))]
    if missing:
        yield (f"Document {position} (CusCode: {doc.get('CusCode') or ''}): Missing fields - "
               + ", ".join(missing))


def _document(module: str, doc: Mapping[str, Any], position: int) -> Iterator[str]:
    where = f"Document {position} (Doc1No: {doc.get('Doc1No') or ''})"
    missing = [f for f in HEADER_FIELDS if absent(doc.get(f))]
    if missing:
        yield f"{where}: Missing header fields - " + ", ".join(missing)
    doctype = doc.get("DocType")
    if not absent(doctype) and doctype not in DOCTYPES[module]:
        yield f"Invalid DocType '{doctype}'. Allowed: " + ", ".join(DOCTYPES[module])
    rate = doc.get("CurRate1")
    if rate is not None and rate != "" and ((r := number(rate)) is None or r <= 0):
        yield f"{where}: CurRate1 must be greater than 0"
    items = doc.get("items")
    if not isinstance(items, list) or not items:
        yield f"{where}: items must be a non-empty array"
        return
    yield from _non_numbers(doc, where, ("HCNetAmt", "HCDtTax"))
    for n, item in enumerate(items, 1):
        yield from _item(item, f"{where}, Item {n}")
    yield from _header_sums(doc, items)


def _non_numbers(row: Mapping[str, Any], where: str, names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        if not absent(row.get(name)) and number(row.get(name)) is None:
            yield f"{where}: {name} must be a number"


def _item(item: object, where: str) -> Iterator[str]:
    if not isinstance(item, Mapping):
        yield f"{where}: not a JSON object"
        return
    missing = [f for f in ITEM_FIELDS if absent(item.get(f))]
    if missing:
        yield f"{where}: Missing fields - " + ", ".join(missing)
    yield from _non_numbers(item, where, ("Qty", "FactorQty", "HCUnitCost", "HCLineAmt",
                                          "HCTax", "TaxRate1"))
    blank = item.get("BlankLine")
    if not absent(blank) and str(blank) not in BLANK_LINES:
        yield f"{where}: Invalid BlankLine '{blank}'. Allowed: " + ", ".join(BLANK_LINES)
    qty, factor = number(item.get("Qty")), number(item.get("FactorQty"))
    unit, amount = number(item.get("HCUnitCost")), number(item.get("HCLineAmt"))
    if qty is not None and qty <= 0 and str(blank) in ("0", "4"):
        yield f"{where}: Qty must be greater than 0"
    if factor is not None and factor <= 0:
        yield f"{where}: FactorQty must be greater than 0"
    if unit is not None and unit <= 0 and str(blank) == "0":
        yield f"{where}: HCUnitCost must be greater than 0"
    if qty is not None and unit is not None and amount is not None \
            and abs(amount - qty * unit) > TOLERANCE:
        yield LINE_AMOUNT
    yield from _line_tax(item, where, amount)


def _line_tax(item: Mapping[str, Any], where: str, amount: Decimal | None) -> Iterator[str]:
    rate, tax = number(item.get("TaxRate1")), number(item.get("HCTax"))
    if not absent(item.get("TaxRate1")) and absent(item.get("HCTax")):
        yield f"{where}: HCTax is required when TaxRate1 is provided"
    elif rate is not None and rate > 0 and amount is not None and tax is not None \
            and abs(tax - amount * rate / 100) > TOLERANCE:
        yield LINE_TAX


def _header_sums(doc: Mapping[str, Any], items: list[Any]) -> Iterator[str]:
    rows = [i for i in items if isinstance(i, Mapping)]
    amounts = [number(i.get("HCLineAmt")) for i in rows]
    taxes = [number(i.get("HCTax")) if not absent(i.get("HCTax")) else Decimal(0)
             for i in rows]
    net, tax = number(doc.get("HCNetAmt")), number(doc.get("HCDtTax"))
    if net is not None and None not in amounts and abs(net - _sum(amounts)) > TOLERANCE:
        yield HEADER_NET
    if tax is not None and None not in taxes and abs(tax - _sum(taxes)) > TOLERANCE:
        yield HEADER_TAX


def _sum(values: list[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))
