"""Create requests (``action: "create"``) the way the docs describe the server.

Sales and purchase: each document is checked on its own (compulsory fields, DocType,
BlankLine, positivity, the four amount rules at ±0.01, references, duplicates); the valid
ones are inserted, the others reported per ``fail_details`` category. Customers: all
documents are checked first and any failure rejects the whole batch. This is written
independently of ``syncd.push.validation`` so that a property test can compare the two.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from syncd import registry
from syncd.simulator import values as v
from syncd.simulator.data import KUALA_LUMPUR, Dataset
from syncd.simulator.rules import CREATABLE, Rejected

__all__ = ["CREATABLE", "MAX_DOCUMENTS", "create", "documents"]
DATA_KEYS = {"sales": "sales_data", "purchase": "purchase_data", "customer": "customer_data"}
MAX_DOCUMENTS = 500
_DOCTYPES = {"sales": ["CusInv", "CS", "CusCN", "CusDN"], "purchase": ["SupInv", "SupCN", "SupDN"]}
_HEADER = ["Doc1No", "CusCode", "DocType", "HCNetAmt", "HCDtTax"]
_ITEM = ["ItemCode", "Description", "Qty", "FactorQty", "UOM", "HCUnitCost", "HCLineAmt",
         "BlankLine"]
_CUSTOMER = ["AccountCode", "CusCode", "CusName", "CurCode", "D_ay", "CategoryCode"]
_CENT = Decimal("0.01")
OTHER_CHARGES = frozenset({"DELIVERY", "SERVICE", "FREIGHT"})
GL_ACCOUNTS = frozenset({"500-000", "510-000", "400-000"})
TAX_CODES = frozenset({code for code, _ in v.TAXES if code} | {"TX-P"})
CURRENCIES = frozenset({"RM", "MYR", "SGD", "USD"})
DEPARTMENTS = frozenset({"ADM", "SLS", "OPS"})
PROJECTS = frozenset({"P001", "P002"})
# (line field, fail_details key, message) for the optional references of a line.
_LINE_REFS = (
    ("DetailTaxCode", "invalid_tax_codes", "Tax Code '{}' does not exist", TAX_CODES),
    ("SalesPersonCode", "invalid_sales_persons", "Sales Person '{}' does not exist",
     frozenset(v.SALES_PERSONS)),
    ("LocationCode", "invalid_locations", "Location '{}' does not exist", frozenset(v.LOCATIONS)),
    ("DepartmentCode", "invalid_departments", "Department '{}' does not exist", DEPARTMENTS),
    ("ProjectCode", "invalid_projects", "Project '{}' does not exist", PROJECTS),
    ("BranchCode", "invalid_branches", "Branch '{}' does not exist", frozenset(v.BRANCHES)),
)


@dataclass(slots=True)
class Report:
    """The per-document verdicts of one request, shaped like the documented answer."""

    module: str
    ok: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, name: str, category: str, entry: object, message: str) -> None:
        """Record one failure of document ``name`` under ``category``."""
        if category == "amount_mismatch":
            self.details.setdefault(category, {}).setdefault(name, []).append(message)
        elif category != "validation_errors":
            self.details.setdefault(category, []).append(entry)
        self.errors.setdefault(name, []).append(message)

    def answer(self, total: int) -> dict[str, Any]:
        """The ``data`` part of the create answer."""
        keys = (["compulsory_fields_missing", "duplicate_customers", "invalid_currencies"]
                if self.module == "customer" else
                ["compulsory_fields_missing", "duplicate_documents", "invalid_customers",
                 "invalid_suppliers", "invalid_items", "invalid_tax_codes",
                 "invalid_sales_persons", "invalid_locations", "invalid_departments",
                 "invalid_projects", "invalid_branches"])
        details = {k: self.details.get(k, []) for k in keys}
        if self.module != "customer":
            details["amount_mismatch"] = self.details.get("amount_mismatch", {})
        details["validation_errors"] = self.errors
        return {"summary": {"total_documents": total, "inserted": len(self.ok),
                            "failed": len(self.failed)},
                "successful_documents": self.ok, "failed_documents": self.failed,
                "fail_details": details}


def documents(module: str, raw: bytes) -> list[Any]:
    """The request's documents, numbers parsed exactly; 400 for a missing or oversize list."""
    key = DATA_KEYS[module]
    body = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    data = body.get(key) if isinstance(body, dict) else None
    if data is None:
        raise Rejected(400, f"{key} is required for create action")
    docs = data.get("documents") if isinstance(data, dict) else None
    if not isinstance(docs, list) or not docs:
        raise Rejected(400, f"{key}.documents must be a non-empty array")
    if len(docs) > MAX_DOCUMENTS:
        raise Rejected(400, f"Maximum {MAX_DOCUMENTS} documents allowed. You sent {len(docs)}.")
    return docs


def create(dataset: Dataset, module: str, docs: list[Any]) -> dict[str, Any]:
    """Check and insert ``docs``; the answer's data (without requested_by, mode, batch_id)."""
    report = Report(module)
    with localcontext() as ctx:
        ctx.prec = 200
        if module == "customer":
            _customers(dataset, docs, report)
        else:
            _documents(dataset, module, docs, report)
    return report.answer(len(docs))


# ---- sales and purchase -----------------------------------------------------------------

def _documents(dataset: Dataset, module: str, docs: list[Any], report: Report) -> None:
    seen: set[tuple[str, str]] = set()
    for position, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            report.failed.append("")
            report.fail("", "validation_errors", None, f"Document {position}: not a JSON object")
            continue
        name = _text(doc.get("Doc1No"))
        before = len(report.errors.get(name, []))
        _check_document(dataset, module, doc, position, report)
        key = (_text(doc.get("DocType")), name)
        if len(report.errors.get(name, [])) == before:
            if key in seen:
                report.fail(name, "duplicate_documents", {"Doc1No": name, "error":
                            "Duplicate Doc1No found in the same batch"},
                            "Duplicate Doc1No found in the same batch")
            elif dataset.has_document(module, *key):
                report.fail(name, "duplicate_documents",
                            {"Doc1No": name, "error": "Document already exists"},
                            "Document already exists")
        if len(report.errors.get(name, [])) > before:
            report.failed.append(name)
            continue
        seen.add(key)
        _insert_document(dataset, module, doc)
        report.ok.append(name)


def _check_document(dataset: Dataset, module: str, doc: dict[str, Any], position: int,
                    report: Report) -> None:
    name = _text(doc.get("Doc1No"))
    where = f"Document {position} (Doc1No: {name})"
    missing = [f for f in _HEADER if _empty(doc.get(f))]
    if missing:
        text = f"{where}: Missing header fields - {', '.join(missing)}"
        report.fail(name, "compulsory_fields_missing", text, text)
    doctype = doc.get("DocType")
    if not _empty(doctype) and doctype not in _DOCTYPES[module]:
        report.fail(name, "validation_errors", None,
                    f"Invalid DocType '{doctype}'. Allowed: {', '.join(_DOCTYPES[module])}")
    if doc.get("CurRate1") not in (None, "") and not _positive(doc.get("CurRate1")):
        report.fail(name, "validation_errors", None, f"{where}: CurRate1 must be greater than 0")
    lines = doc.get("items")
    if not isinstance(lines, list) or len(lines) == 0:
        report.fail(name, "validation_errors", None, f"{where}: items must be a non-empty array")
        return
    for field_name in ("HCNetAmt", "HCDtTax"):
        if not _empty(doc.get(field_name)) and _dec(doc.get(field_name)) is None:
            report.fail(name, "validation_errors", None, f"{where}: {field_name} must be a number")
    for n, line in enumerate(lines, 1):
        _check_line(dataset, name, line, f"{where}, Item {n}", report)
    _check_totals(name, doc, lines, report)
    _check_party(dataset, module, doc, report, position=position)


def _check_line(dataset: Dataset, name: str, line: object, where: str, report: Report
                ) -> None:
    if not isinstance(line, dict):
        report.fail(name, "validation_errors", None, f"{where}: not a JSON object")
        return
    missing = [f for f in _ITEM if _empty(line.get(f))]
    if missing:
        text = f"{where}: Missing fields - {', '.join(missing)}"
        report.fail(name, "compulsory_fields_missing", text, text)
    for f in ("Qty", "FactorQty", "HCUnitCost", "HCLineAmt", "HCTax", "TaxRate1"):
        if not _empty(line.get(f)) and _dec(line.get(f)) is None:
            report.fail(name, "validation_errors", None, f"{where}: {f} must be a number")
    kind = "" if _empty(line.get("BlankLine")) else str(line.get("BlankLine"))
    if kind and kind not in ("0", "4", "6"):
        report.fail(name, "validation_errors", None,
                    f"{where}: Invalid BlankLine '{line.get('BlankLine')}'. Allowed: 0, 4, 6")
    qty, unit = _dec(line.get("Qty")), _dec(line.get("HCUnitCost"))
    amount, factor = _dec(line.get("HCLineAmt")), _dec(line.get("FactorQty"))
    if kind in ("0", "4") and qty is not None and qty <= 0:
        report.fail(name, "validation_errors", None, f"{where}: Qty must be greater than 0")
    if factor is not None and factor <= 0:
        report.fail(name, "validation_errors", None, f"{where}: FactorQty must be greater than 0")
    if kind == "0" and unit is not None and unit <= 0:
        report.fail(name, "validation_errors", None, f"{where}: HCUnitCost must be greater than 0")
    if None not in (qty, unit, amount) and abs(amount - qty * unit) > _CENT:  # type: ignore[operator]
        report.fail(name, "amount_mismatch", None, "HCLineAmt does not match Qty × HCUnitCost")
    _check_tax(name, line, where, amount, report)
    _check_line_refs(dataset, name, kind, line, report)


def _check_tax(name: str, line: dict[str, Any], where: str, amount: Decimal | None,
               report: Report) -> None:
    if not _empty(line.get("TaxRate1")) and _empty(line.get("HCTax")):
        report.fail(name, "validation_errors", None,
                    f"{where}: HCTax is required when TaxRate1 is provided")
        return
    rate, tax = _dec(line.get("TaxRate1")), _dec(line.get("HCTax"))
    if rate is not None and rate > 0 and amount is not None and tax is not None \
            and abs(tax - amount * rate / 100) > _CENT:
        report.fail(name, "amount_mismatch", None, "HCTax does not match HCLineAmt × TaxRate1%")


def _check_totals(name: str, doc: dict[str, Any], lines: list[Any], report: Report) -> None:
    rows = [ln for ln in lines if isinstance(ln, dict)]
    net, tax = _dec(doc.get("HCNetAmt")), _dec(doc.get("HCDtTax"))
    amounts = [_dec(ln.get("HCLineAmt")) for ln in rows]
    taxes = [Decimal(0) if _empty(ln.get("HCTax")) else _dec(ln.get("HCTax")) for ln in rows]
    if net is not None and all(a is not None for a in amounts) \
            and abs(net - sum(a for a in amounts if a is not None)) > _CENT:
        report.fail(name, "amount_mismatch", None,
                    "Header HCNetAmt does not match sum of HCLineAmt")
    if tax is not None and all(t is not None for t in taxes) \
            and abs(tax - sum(t for t in taxes if t is not None)) > _CENT:
        report.fail(name, "amount_mismatch", None, "Header HCDtTax does not match sum of HCTax")


def _check_party(dataset: Dataset, module: str, doc: dict[str, Any], report: Report, *,
                 position: int) -> None:
    name = _text(doc.get("Doc1No"))
    code = doc.get("CusCode")
    if _empty(code):
        return
    master, category, label = (("customer", "invalid_customers", "Customer Code")
                               if module == "sales" else
                               ("supplier", "invalid_suppliers", "Supplier Code"))
    if not dataset.has_master(master, str(code)):
        message = f"{label} '{code}' does not exist"
        report.fail(name, category, f"Document {position} (Doc1No: {name}): {message}", message)


def _check_line_refs(dataset: Dataset, name: str, kind: str, line: dict[str, Any],
                     report: Report) -> None:
    code = line.get("ItemCode")
    if not _empty(code) and kind in ("0", "4", "6"):
        known = (dataset.has_master("item", str(code)) if kind == "0" else
                 str(code) in (OTHER_CHARGES if kind == "4" else GL_ACCOUNTS))
        if not known:
            message = f"ItemCode '{code}' does not exist"
            report.fail(name, "invalid_items", {"Doc1No": name, "error": message}, message)
    for field_name, category, text, known_codes in _LINE_REFS:
        value = line.get(field_name)
        if not _empty(value) and str(value) not in known_codes:
            message = text.format(value)
            report.fail(name, category, {"Doc1No": name, "error": message}, message)


def _insert_document(dataset: Dataset, module: str, doc: dict[str, Any]) -> None:
    """Store the document with the digits it was sent with; D_ate defaults to today."""
    mod = registry.get(module)
    header_names = {f.name for f in mod.header}
    line_names = {f.name for f in mod.lines}
    header = {k: _stored(x) for k, x in doc.items() if k in header_names}
    header.setdefault("D_ate", dataset.today.isoformat())
    header.setdefault("CurRate1", Decimal(1))
    lines = []
    for n, line in enumerate(doc["items"], 1):
        kept = {k: _stored(x) for k, x in line.items() if k in line_names}
        if "LineNo" in line_names:
            kept.setdefault("LineNo", n)
        lines.append(kept)
    dataset.add_document(module, header, lines)


# ---- customers ------------------------------------------------------------------------

def _customers(dataset: Dataset, docs: list[Any], report: Report) -> None:
    seen: set[str] = set()
    names = []
    for position, given in enumerate(docs, 1):
        doc = given if isinstance(given, dict) else {}
        code = _text(doc.get("CusCode"))
        names.append(code)
        missing = [f for f in _CUSTOMER if _empty(doc.get(f))]
        if missing:
            text = f"Document {position} (CusCode: {code}): Missing fields - {', '.join(missing)}"
            report.fail(code, "compulsory_fields_missing", text, text)
            continue
        if code in seen:
            report.fail(code, "duplicate_customers", {"cuscode": code, "error":
                        "Duplicate CusCode found in the same batch"},
                        "Duplicate CusCode found in the same batch")
        elif dataset.has_master("customer", code):
            report.fail(code, "duplicate_customers",
                        {"cuscode": code, "error": "Customer code already exists"},
                        "Customer code already exists")
        if str(doc.get("CurCode")) not in CURRENCIES:
            text = (f"Document {position} (CusCode: {code}): Currency code "
                    f"'{doc.get('CurCode')}' does not exist")
            report.fail(code, "invalid_currencies", text, text)
        seen.add(code)
    if report.errors:  # all or nothing: one bad document rejects the batch
        report.failed.extend(names)
        return
    for doc in docs:
        _insert_customer(dataset, doc)
    report.ok.extend(names)


def _insert_customer(dataset: Dataset, doc: Mapping[str, Any]) -> None:
    """A customer master row from a create document; FinCatCode is the server's business."""
    known = {f.name for f in registry.get("customer").header}
    row = {k: _stored(x) for k, x in doc.items() if k in known}
    address = ", ".join(str(doc[k]) for k in ("Address1", "Address2", "Address3", "Address4")
                        if not _empty(doc.get(k)))
    row |= {"Address": address, "TermCode": str(doc["D_ay"]),
            "DateStart": dataset.today.isoformat()}
    row.setdefault("CreditLimit", Decimal("0"))
    now = datetime.datetime.now(KUALA_LUMPUR).replace(tzinfo=None)
    dataset.edit_master("customer", str(doc["CusCode"]), row, now)


# ---- values -----------------------------------------------------------------------------

def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _dec(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        out = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    return out if out.is_finite() else None


def _positive(value: object) -> bool:
    number = _dec(value)
    return number is not None and number > 0


def _stored(value: object) -> v.Value:
    """A value as the ERP keeps it: numbers exactly as sent, everything else as text."""
    if value is None or isinstance(value, str | Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return str(value)
