"""The ten CloudOnex list resources: their fields and value types, as the simulator serves them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

Item = dict[str, str | Decimal | int]
Cell = int | Decimal | str | datetime.date | datetime.datetime | list[str] | list[Item] | None
Record = dict[str, Cell]


class Type(StrEnum):
    """How a field's value is held in the ground truth and written in JSON."""

    ID = "id"  # int; a string under numbers_as_strings
    MONEY = "money"  # Decimal with exactly two places; a string under numbers_as_strings
    NUMBER = "number"  # Decimal or int (qty, tax_rate); a string under numbers_as_strings
    DATE = "date"  # datetime.date, written YYYY-MM-DD
    DATETIME = "datetime"  # aware datetime.datetime; ISO "Z" or zone-less local text
    TEXT = "text"
    TAGS = "tags"  # list of strings (an undocumented extra)


@dataclass(frozen=True, slots=True)
class Resource:
    """One list endpoint: documented fields in order, undocumented extras, line items."""

    name: str
    fields: tuple[tuple[str, Type], ...]
    extras: tuple[tuple[str, Type], ...] = ()
    items: bool = False  # an ``items`` array of {description, amount, qty}
    dated: bool = False  # accepts date_from / date_to on its ``date`` field
    count: int = 50  # records generated at scale 1

    def type_of(self, name: str) -> Type:
        """The type of a documented or extra field (KeyError for others)."""
        return dict(self.fields + self.extras)[name]


ITEM_FIELDS: tuple[tuple[str, Type], ...] = (
    ("description", Type.TEXT), ("amount", Type.MONEY), ("qty", Type.NUMBER))
_ID, _MONEY, _NUM, _DATE, _DT, _TEXT = (Type.ID, Type.MONEY, Type.NUMBER, Type.DATE,
                                        Type.DATETIME, Type.TEXT)
_CURRENCY = (("currency", _TEXT),)

RESOURCES: tuple[Resource, ...] = (
    Resource("customers", (("id", _ID), ("account", _TEXT), ("email", _TEXT), ("phone", _TEXT),
                           ("address", _TEXT), ("city", _TEXT), ("state", _TEXT), ("zip", _TEXT),
                           ("country", _TEXT), ("created_at", _DT), ("updated_at", _DT)),
             extras=(("tags", Type.TAGS),), count=120),
    Resource("invoices", (("id", _ID), ("invoice_number", _TEXT), ("customer_id", _ID),
                          ("amount", _MONEY), ("status", _TEXT), ("date", _DATE),
                          ("due_date", _DATE), ("notes", _TEXT)),
             extras=_CURRENCY, items=True, dated=True, count=250),
    Resource("transactions", (("id", _ID), ("type", _TEXT), ("account_id", _ID),
                              ("amount", _MONEY), ("category_id", _ID), ("description", _TEXT),
                              ("date", _DATE)),
             extras=(("ref", _TEXT),), dated=True, count=300),
    Resource("products", (("id", _ID), ("name", _TEXT), ("price", _MONEY),
                          ("description", _TEXT), ("type", _TEXT), ("tax_rate", _NUM)),
             count=40),
    Resource("quotes", (("id", _ID), ("customer_id", _ID), ("valid_until", _DATE)),
             extras=_CURRENCY, items=True, count=60),
    Resource("orders", (("id", _ID), ("order_number", _TEXT), ("customer_id", _ID),
                        ("amount", _MONEY), ("status", _TEXT), ("date", _DATE)),
             extras=_CURRENCY, items=True, count=80),
    Resource("suppliers", (("id", _ID), ("name", _TEXT), ("email", _TEXT), ("phone", _TEXT),
                           ("city", _TEXT), ("country", _TEXT)),
             count=25),
    Resource("purchases", (("id", _ID), ("purchase_number", _TEXT), ("supplier_id", _ID),
                           ("amount", _MONEY), ("status", _TEXT), ("date", _DATE)),
             extras=_CURRENCY, items=True, count=60),
    Resource("leads", (("id", _ID), ("first_name", _TEXT), ("last_name", _TEXT),
                       ("email", _TEXT), ("company", _TEXT), ("phone", _TEXT),
                       ("source", _TEXT)),
             extras=(("tags", Type.TAGS),), count=70),
    Resource("tickets", (("id", _ID), ("customer_id", _ID), ("subject", _TEXT),
                         ("message", _TEXT), ("department_id", _ID), ("priority", _TEXT),
                         ("status", _TEXT)),
             count=50),
)
BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def get(name: str) -> Resource:
    """The resource called ``name``; ValueError names the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown CloudOnex resource {name!r}; known: {', '.join(NAMES)}"
                         ) from None
