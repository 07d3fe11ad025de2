"""The server-side checks of one sales or purchase create document, in the docs' words.

Each failure is filed under its ``fail_details`` category and in ``validation_errors``
(``Report``); the request handling around them lives in ``create.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd_simulator import values as v
from syncd_simulator.data import Dataset

_DOCTYPES = {"sales": ["CusInv", "CS", "CusCN", "CusDN"], "purchase": ["SupInv", "SupCN", "SupDN"]}
_HEADER = ["Doc1No", "CusCode", "DocType", "HCNetAmt", "HCDtTax"]
_ITEM = ["ItemCode", "Description", "Qty", "FactorQty", "UOM", "HCUnitCost", "HCLineAmt",
         "BlankLine"]
_CENT = Decimal("0.01")
OTHER_CHARGES = frozenset({"DELIVERY", "SERVICE", "FREIGHT"})
GL_ACCOUNTS = frozenset({"500-000", "510-000", "400-000"})
TAX_CODES = frozenset({code for code, _ in v.TAXES if code} | {"TX-P"})
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



def check_document(dataset: Dataset, module: str, doc: dict[str, Any], position: int,
                    report: Report) -> None:
    name = as_text(doc.get("Doc1No"))
    where = f"Document {position} (Doc1No: {name})"
    missing = [f for f in _HEADER if is_empty(doc.get(f))]
    if missing:
        text = f"{where}: Missing header fields - {', '.join(missing)}"
        report.fail(name, "compulsory_fields_missing", text, text)
    doctype = doc.get("DocType")
    if not is_empty(doctype) and doctype not in _DOCTYPES[module]:
        report.fail(name, "validation_errors", None,
                    f"Invalid DocType '{doctype}'. Allowed: {', '.join(_DOCTYPES[module])}")
    if doc.get("CurRate1") not in (None, "") and not _positive(doc.get("CurRate1")):
        report.fail(name, "validation_errors", None, f"{where}: CurRate1 must be greater than 0")
    lines = doc.get("items")
    if not isinstance(lines, list) or len(lines) == 0:
        report.fail(name, "validation_errors", None, f"{where}: items must be a non-empty array")
        return
    for field_name in ("HCNetAmt", "HCDtTax"):
        if not is_empty(doc.get(field_name)) and _dec(doc.get(field_name)) is None:
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
    missing = [f for f in _ITEM if is_empty(line.get(f))]
    if missing:
        text = f"{where}: Missing fields - {', '.join(missing)}"
        report.fail(name, "compulsory_fields_missing", text, text)
    for f in ("Qty", "FactorQty", "HCUnitCost", "HCLineAmt", "HCTax", "TaxRate1"):
        if not is_empty(line.get(f)) and _dec(line.get(f)) is None:
            report.fail(name, "validation_errors", None, f"{where}: {f} must be a number")
    kind = "" if is_empty(line.get("BlankLine")) else str(line.get("BlankLine"))
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
    if not is_empty(line.get("TaxRate1")) and is_empty(line.get("HCTax")):
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
    taxes = [Decimal(0) if is_empty(ln.get("HCTax")) else _dec(ln.get("HCTax")) for ln in rows]
    if net is not None and all(a is not None for a in amounts) \
            and abs(net - sum(a for a in amounts if a is not None)) > _CENT:
        report.fail(name, "amount_mismatch", None,
                    "Header HCNetAmt does not match sum of HCLineAmt")
    if tax is not None and all(t is not None for t in taxes) \
            and abs(tax - sum(t for t in taxes if t is not None)) > _CENT:
        report.fail(name, "amount_mismatch", None, "Header HCDtTax does not match sum of HCTax")


def _check_party(dataset: Dataset, module: str, doc: dict[str, Any], report: Report, *,
                 position: int) -> None:
    name = as_text(doc.get("Doc1No"))
    code = doc.get("CusCode")
    if is_empty(code):
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
    if not is_empty(code) and kind in ("0", "4", "6"):
        known = (dataset.has_master("item", str(code)) if kind == "0" else
                 str(code) in (OTHER_CHARGES if kind == "4" else GL_ACCOUNTS))
        if not known:
            message = f"ItemCode '{code}' does not exist"
            report.fail(name, "invalid_items", {"Doc1No": name, "error": message}, message)
    for field_name, category, text, known_codes in _LINE_REFS:
        value = line.get(field_name)
        if not is_empty(value) and str(value) not in known_codes:
            message = text.format(value)
            report.fail(name, category, {"Doc1No": name, "error": message}, message)




def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(value: object) -> str:
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


