"""Which records at the source are a create whose answer was lost (pure).

Without an idempotency key, a record is recognised by its content: every field of the
resource's list below that the document sets must be equal at the source (numbers as
exact Decimals, ids as integers, text exactly, dates by their YYYY-MM-DD, items line by
line). Fields the listing does not show are skipped; at least one must compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from syncd.kinds.cloudonex.push.rules import number

FIELDS: dict[str, tuple[str, ...]] = {
    "customers": ("account", "email", "phone"),
    "invoices": ("customer_id", "date", "due_date", "items"),
    "quotes": ("customer_id", "valid_until", "items"),
    "transactions": ("type", "account_id", "amount", "date", "description"),
    "products": ("name", "price", "type"),
    "tickets": ("customer_id", "subject", "message"),
    "leads": ("first_name", "last_name", "email", "company"),
}
ITEM_FIELDS = ("description", "amount", "qty")


def matches(resource: str, doc: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether ``record`` (as the listing shows it) is what ``doc`` created."""
    compared = 0
    for name in FIELDS[resource]:
        if name not in doc or name not in record:
            continue
        if not _same(name, doc[name], record[name]):
            return False
        compared += 1
    return compared > 0


def _same(name: str, ours: Any, theirs: Any) -> bool:
    if name == "items":
        return _same_items(ours, theirs)
    if name in ("date", "due_date", "valid_until"):
        return isinstance(theirs, str) and str(ours)[:10] == theirs[:10]
    if name.endswith("_id") or name in ("amount", "price"):
        a, b = number(ours), number(theirs)
        return a is not None and a == b
    return isinstance(theirs, str) and str(ours).strip() == theirs.strip()


def _same_items(ours: Any, theirs: Any) -> bool:
    if not isinstance(ours, list) or not isinstance(theirs, list) or len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if not isinstance(a, Mapping) or not isinstance(b, Mapping):
            return False
        if str(a.get("description", "")).strip() != str(b.get("description", "")).strip():
            return False
        if any(_number(a.get(f)) != _number(b.get(f)) for f in ("amount", "qty")):
            return False
    return True


def _number(value: object) -> Decimal | None:
    return number(value)
