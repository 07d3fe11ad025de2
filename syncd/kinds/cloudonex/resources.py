"""The CloudOnex resources as data (CONTRACT §6): endpoint, key, fields and their types.

One warehouse table per resource in schema ``cloudonex`` named as the resource, keyed by
``(source, id)``; the ``items`` of invoices, quotes, orders and purchases go to
``<singular>_items`` keyed by ``(source, <singular>_id, line_seq)``. A field's type follows
its name: ids bigint, money and quantities numeric, dates date, date-times timestamptz,
everything else documented text. Undocumented fields stay in ``_raw``.
"""

from __future__ import annotations

from syncd.core.model import Field, FieldType, Module, ModuleKind

SCHEMA = "cloudonex"
# How the hourly budget is shared: complete reads never use the reserve kept for fresh
# reads; write-back takes at most its share, so a push never starves the reads.
RESERVE_SHARE = 0.2
PUSH_SHARE = 0.5
_NUMERIC = frozenset({"amount", "price", "tax_rate", "qty", "balance"})
_DATES = frozenset({"date", "due_date", "valid_until"})
_TIMESTAMPS = frozenset({"created_at", "updated_at"})


def field_type(name: str) -> FieldType:
    """The column type a documented field's name implies."""
    if name == "id" or name.endswith("_id"):
        return FieldType.BIGINT
    if name in _NUMERIC:
        return FieldType.NUMERIC
    if name in _DATES:
        return FieldType.DATE
    if name in _TIMESTAMPS:
        return FieldType.TIMESTAMP
    return FieldType.TEXT


def _fields(spec: str) -> tuple[Field, ...]:
    return tuple(Field(n, field_type(n)) for n in spec.split())


_ITEMS = _fields("description amount qty")


def _resource(name: str, spec: str, *, items: str | None = None,
              dated: bool = False) -> Module:
    """One resource; ``items`` names the singular of a resource with line items, ``dated``
    one the server filters by ``date_from``/``date_to`` on its ``date``."""
    return Module(
        name=name, endpoint=name, label=name,
        kind=ModuleKind.DOCUMENT if dated else ModuleKind.MASTER,
        date_field="date" if dated else "", key=("id",), header=_fields(spec),
        lines=_ITEMS if items else (), schema=SCHEMA,
        line_name=f"{items}_items" if items else None,
        line_key=(f"{items}_id",) if items else (), flat_lines=False,
        lookback_days=7 if dated else 2)


RESOURCES: tuple[Module, ...] = (
    _resource("customers", "id account email phone address city state zip country "
              "created_at updated_at"),
    _resource("invoices", "id invoice_number customer_id amount status date due_date notes",
              items="invoice", dated=True),
    _resource("transactions", "id type account_id amount category_id description date",
              dated=True),
    _resource("products", "id name price description type tax_rate"),
    _resource("quotes", "id customer_id valid_until", items="quote"),
    _resource("orders", "id", items="order"),
    _resource("suppliers", "id"),
    _resource("purchases", "id", items="purchase"),
    _resource("leads", "id first_name last_name email company phone source"),
    _resource("tickets", "id customer_id subject message department_id priority status"),
)

BY_NAME: dict[str, Module] = {m.name: m for m in RESOURCES}
DATED = frozenset(m.name for m in RESOURCES if m.kind is ModuleKind.DOCUMENT)
