"""The CloudOnex documents' rules, checked before anything is sent (pure, exact).

Messages are the API's own words where 003_/004_ show them ("Invalid email format",
"Amount must be greater than 0"); the rules the docs leave open get a message in the same
style, each prefixed by the field it is about (``items.1.amount``), as the API keys its
``errors``. Money is compared as Decimal and may carry at most two decimal places, so
nothing is rounded silently at the server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

RESOURCES = ("customers", "products", "invoices", "quotes", "transactions", "tickets", "leads")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
CENT = Decimal("0.01")
PRIORITIES = ("Low", "Medium", "High", "Urgent")
TRANSACTION_TYPES = ("Income", "Expense")
PRODUCT_TYPES = ("product", "service")
Problems = Iterator[tuple[str, str]]  # (field, message)


def absent(value: object) -> bool:
    """A required field counts as missing when absent, null or blank."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def number(value: object) -> Decimal | None:
    """The exact value of a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        return None
    try:
        parsed = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def check(resource: str, operation: str, target_id: str | None, doc: object) -> list[str]:
    """Every rule the document breaks as "field: message"; empty when it may be sent."""
    return [f"{name}: {message}" for name, message in problems(resource, operation,
                                                               target_id, doc)]


def problems(resource: str, operation: str, target_id: str | None, doc: object
             ) -> list[tuple[str, str]]:
    """(field, message) for every broken rule, in field order."""
    if resource not in RESOURCES:
        return [("module", f"CloudOnex has no write-back for {resource!r}")]
    if operation != "create" and resource != "customers":
        return [("operation", f"{resource} can only be created (004_ documents update and "
                 "delete for customers only)")]
    if operation != "create" and not _positive_id(target_id):
        return [("target_id", f"A {operation} needs the id of the record (target_id)")]
    if not isinstance(doc, Mapping):
        return [("document", "The document must be a JSON object")]
    if operation == "delete":
        return []  # nothing of the document is sent
    return list(_RULES[resource](doc, operation == "create"))


def _customer(doc: Mapping[str, Any], create: bool) -> Problems:
    if create or "account" in doc:
        yield from _required(doc, "account", "The account field is required")
    if not create and not doc:
        yield "document", "An update needs at least one field"
    yield from _email(doc)
    for name in ("phone", "address", "city", "state", "zip", "country"):
        yield from _text(doc, name)


def _invoice(doc: Mapping[str, Any], create: bool) -> Problems:
    yield from _reference(doc, "customer_id")
    yield from _date(doc, "date")
    yield from _date(doc, "due_date")
    start, due = _parsed_date(doc.get("date")), _parsed_date(doc.get("due_date"))
    if start and due and due < start:
        yield "due_date", "The due date must not be before the invoice date"
    yield from _items(doc)
    yield from _text(doc, "notes")


def _quote(doc: Mapping[str, Any], create: bool) -> Problems:
    yield from _reference(doc, "customer_id")
    yield from _date(doc, "valid_until")
    yield from _items(doc)


def _transaction(doc: Mapping[str, Any], create: bool) -> Problems:
    if doc.get("type") not in TRANSACTION_TYPES:
        yield "type", "Type must be Income or Expense"
    yield from _reference(doc, "account_id")
    yield from _money(doc, "amount", "Amount", positive=True)
    yield from _reference(doc, "category_id", required=False)
    yield from _text(doc, "description")
    yield from _date(doc, "date")


def _product(doc: Mapping[str, Any], create: bool) -> Problems:
    yield from _required(doc, "name", "The name field is required")
    yield from _money(doc, "price", "Price", positive=False)
    yield from _text(doc, "description")
    if not absent(doc.get("type")) and doc.get("type") not in PRODUCT_TYPES:
        yield "type", "Type must be product or service"
    rate = doc.get("tax_rate")
    if rate is not None and ((r := number(rate)) is None or not 0 <= r <= 100):
        yield "tax_rate", "Tax rate must be a number from 0 to 100"


def _ticket(doc: Mapping[str, Any], create: bool) -> Problems:
    yield from _reference(doc, "customer_id")
    yield from _required(doc, "subject", "The subject field is required")
    yield from _required(doc, "message", "The message field is required")
    yield from _reference(doc, "department_id", required=False)
    if not absent(doc.get("priority")) and doc.get("priority") not in PRIORITIES:
        yield "priority", "Priority must be one of " + ", ".join(PRIORITIES)


def _lead(doc: Mapping[str, Any], create: bool) -> Problems:
    if all(absent(doc.get(n)) for n in ("first_name", "last_name", "company")):
        yield "first_name", "A lead needs a first_name, last_name or company"
    yield from _email(doc)
    for name in ("first_name", "last_name", "company", "phone", "source"):
        yield from _text(doc, name)


def _items(doc: Mapping[str, Any]) -> Problems:
    items = doc.get("items")
    if not isinstance(items, list) or not items:
        yield "items", "At least one item (description, amount, qty) is required"
        return
    for n, item in enumerate(items):
        where = f"items.{n}"
        if not isinstance(item, Mapping):
            yield where, "Each item must be an object with description, amount and qty"
            continue
        yield from _required(item, "description", "The description field is required", where)
        yield from _money(item, "amount", "Amount", positive=True, where=where)
        qty = number(item.get("qty"))
        if qty is None or qty <= 0:
            yield f"{where}.qty", "Quantity must be greater than 0"


def _money(doc: Mapping[str, Any], name: str, label: str, *, positive: bool,
           where: str = "") -> Problems:
    field = f"{where}.{name}" if where else name
    value = number(doc.get(name))
    if value is None:
        yield field, f"{label} must be a number"
    elif (value <= 0) if positive else (value < 0):
        yield field, f"{label} must be greater than 0" if positive else \
            f"{label} must not be negative"
    elif value != value.quantize(CENT):
        yield field, f"{label} must have at most 2 decimal places"


def _required(doc: Mapping[str, Any], name: str, message: str, where: str = "") -> Problems:
    if absent(doc.get(name)) or not isinstance(doc.get(name), str):
        yield (f"{where}.{name}" if where else name), message


def _text(doc: Mapping[str, Any], name: str) -> Problems:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        yield name, f"The {name} field must be text"


def _email(doc: Mapping[str, Any]) -> Problems:
    value = doc.get("email")
    if value is not None and value != "" and not (isinstance(value, str)
                                                  and EMAIL.match(value)):
        yield "email", "Invalid email format"


def _reference(doc: Mapping[str, Any], name: str, *, required: bool = True) -> Problems:
    value = doc.get(name)
    if value is None and not required:
        return
    if not _positive_id(value):
        yield name, f"The {name} field must be the id of an existing record"


def _date(doc: Mapping[str, Any], name: str) -> Problems:
    if doc.get(name) is not None and _parsed_date(doc.get(name)) is None:
        yield name, f"The {name} field must be a date (YYYY-MM-DD)"


def _parsed_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _positive_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isdigit() and int(value) > 0


_RULES: dict[str, Callable[[Mapping[str, Any], bool], Problems]] = {
    "customers": _customer, "invoices": _invoice, "quotes": _quote,
    "transactions": _transaction, "products": _product, "tickets": _ticket, "leads": _lead,
}
