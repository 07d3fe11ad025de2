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
from decimal import Decimal, localcontext
from typing import Any

from syncd_simulator import fields as skybiz
from syncd_simulator import values as v
from syncd_simulator.checks import Report, as_text, check_document, is_empty
from syncd_simulator.data import KUALA_LUMPUR, Dataset
from syncd_simulator.rules import CREATABLE, Rejected

__all__ = ["CREATABLE", "MAX_DOCUMENTS", "create", "documents"]
DATA_KEYS = {"sales": "sales_data", "purchase": "purchase_data", "customer": "customer_data"}
MAX_DOCUMENTS = 500
_CUSTOMER = ["AccountCode", "CusCode", "CusName", "CurCode", "D_ay", "CategoryCode"]
CURRENCIES = frozenset({"RM", "MYR", "SGD", "USD"})


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
        name = as_text(doc.get("Doc1No"))
        before = len(report.errors.get(name, []))
        check_document(dataset, module, doc, position, report)
        key = (as_text(doc.get("DocType")), name)
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


def _insert_document(dataset: Dataset, module: str, doc: dict[str, Any]) -> None:
    """Store the document with the digits it was sent with; D_ate defaults to today."""
    mod = skybiz.get(module)
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
        code = as_text(doc.get("CusCode"))
        names.append(code)
        missing = [f for f in _CUSTOMER if is_empty(doc.get(f))]
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
    known = {f.name for f in skybiz.get("customer").header}
    row = {k: _stored(x) for k, x in doc.items() if k in known}
    address = ", ".join(str(doc[k]) for k in ("Address1", "Address2", "Address3", "Address4")
                        if not is_empty(doc.get(k)))
    row |= {"Address": address, "TermCode": str(doc["D_ay"]),
            "DateStart": dataset.today.isoformat()}
    row.setdefault("CreditLimit", Decimal("0"))
    now = datetime.datetime.now(KUALA_LUMPUR).replace(tzinfo=None)
    dataset.edit_master("customer", str(doc["CusCode"]), row, now)


def _stored(value: object) -> v.Value:
    """A value as the ERP keeps it: numbers exactly as sent, everything else as text."""
    if value is None or isinstance(value, str | Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return str(value)

