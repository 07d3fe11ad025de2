"""A typed record as the server writes it in JSON, bent by the options' quirks."""

from __future__ import annotations

import datetime
from decimal import Decimal

from syncd_simulator.cloudonex.options import CloudOnexOptions
from syncd_simulator.cloudonex.resources import ITEM_FIELDS, Cell, Resource, Type


def value(cell: Cell, kind: Type, options: CloudOnexOptions) -> object:
    """One field's JSON value (Decimals stay exact for ``encoding.dumps``)."""
    if cell is None:
        return None
    if kind in (Type.ID, Type.MONEY, Type.NUMBER) and options.numbers_as_strings:
        return format(cell, "f") if isinstance(cell, Decimal) else str(cell)
    if isinstance(cell, datetime.datetime):
        if options.zoneless_datetimes:
            return cell.astimezone(options.zone).strftime("%Y-%m-%d %H:%M:%S")
        return cell.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(cell, datetime.date):
        return cell.isoformat()
    return cell


def record(resource: Resource, row: dict[str, Cell], options: CloudOnexOptions
           ) -> dict[str, object]:
    """The record's JSON object: documented fields in order, items, then any extras."""
    out = {name: value(row[name], kind, options) for name, kind in resource.fields}
    if resource.items:
        lines = row["items"]
        out["items"] = [{name: value(line[name], kind, options) for name, kind in ITEM_FIELDS}
                        for line in (lines if isinstance(lines, list) else [])
                        if isinstance(line, dict)]
    if options.extra_fields:
        out |= {name: value(row[name], kind, options) for name, kind in resource.extras}
    return out
