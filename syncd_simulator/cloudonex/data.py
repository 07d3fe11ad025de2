"""The CloudOnex simulator's ground truth: seeded records per resource, and their mutations."""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from syncd_simulator.cloudonex import resources
from syncd_simulator.cloudonex.builders import BUILDERS, Refs
from syncd_simulator.cloudonex.options import CloudOnexOptions
from syncd_simulator.cloudonex.resources import Cell, Record, Type

_EDITS: dict[str, tuple[str, ...]] = {  # what a random edit changes, per resource
    "customers": ("phone",), "invoices": ("status", "notes"), "transactions": ("description",),
    "products": ("price",), "quotes": ("valid_until",), "orders": ("status",),
    "suppliers": ("phone",), "purchases": ("status",), "leads": ("company",),
    "tickets": ("status", "priority"),
}


def _spread(rng: random.Random, n: int, first: datetime.date, last: datetime.date,
            zone: datetime.tzinfo) -> list[tuple[datetime.date, datetime.datetime]]:
    """``n`` ascending (day, moment) pairs between ``first`` and ``last``: ids follow time."""
    span = (last - first).days
    days = sorted(first + datetime.timedelta(days=rng.randint(0, span)) for _ in range(n))
    return [(d, datetime.datetime.combine(d, datetime.time(8), zone).astimezone(datetime.UTC)
             + datetime.timedelta(seconds=rng.randint(0, 10 * 3600))) for d in days]


class Dataset:
    """Every live record per resource (keyed by id, ascending) and the ids deleted since."""

    def __init__(self, options: CloudOnexOptions) -> None:
        self.options = options
        self.today = options.today or datetime.datetime.now(options.zone).date()
        counts = {name: options.count(name) for name in resources.NAMES}
        self._refs = Refs(counts)
        self._rows: dict[str, dict[int, Record]] = {}
        self._deleted: dict[str, set[int]] = {name: set() for name in resources.NAMES}
        first = self.today - datetime.timedelta(days=options.history_days)
        for name in resources.NAMES:
            rng = random.Random(f"{options.seed}:cloudonex:{name}")
            moments = _spread(rng, counts[name], first, self.today, options.zone)
            self._rows[name] = {rid: BUILDERS[name](rng, rid, day, at, self._refs)
                                for rid, (day, at) in enumerate(moments, start=1)}
        self._next = {name: counts[name] + 1 for name in resources.NAMES}
        self._rng = random.Random(f"{options.seed}:cloudonex:mutations")

    # ---- reads -------------------------------------------------------------------------

    def newest_first(self, resource: str, date_from: datetime.date | None = None,
                     date_to: datetime.date | None = None) -> list[Record]:
        """Live records, id descending, whose ``date`` lies in the inclusive range (shared)."""
        rows = reversed(self._rows[resources.get(resource).name].values())
        if date_from is None and date_to is None:
            return list(rows)
        low, high = date_from or datetime.date.min, date_to or datetime.date.max
        return [r for r in rows if isinstance(d := r["date"], datetime.date) and low <= d <= high]

    def records(self, resource: str) -> list[Record]:
        """Copies of the live records, newest id first, with typed values."""
        return copy.deepcopy(self.newest_first(resource))

    def get(self, resource: str, rid: int) -> Record | None:
        """The live record ``rid`` (shared), or None."""
        return self._rows[resources.get(resource).name].get(rid)

    def deleted_ids(self, resource: str) -> frozenset[int]:
        """Ids deleted since the start (an id re-inserted is never reused)."""
        return frozenset(self._deleted[resources.get(resource).name])

    # ---- mutations ---------------------------------------------------------------------

    def insert(self, resource: str, count: int, now: datetime.datetime) -> list[int]:
        """Add ``count`` records dated today with new highest ids; return their ids."""
        rows = self._rows[resources.get(resource).name]
        made = []
        for _ in range(count):
            rid = self._next[resource]
            self._next[resource] += 1
            record = BUILDERS[resource](self._rng, rid, self.today, now, self._refs)
            if "updated_at" in record and self.options.stale_updated_at:
                record["updated_at"] = None
            rows[rid] = record
            made.append(rid)
        return made

    def edit(self, resource: str, rid: int, now: datetime.datetime,
             fields: Mapping[str, object]) -> Record:
        """Change ``fields`` (JSON-ish values are typed; none given: a random edit)."""
        record = self._live(resource, rid)
        changes = {name: coerce(resource, name, value) for name, value in fields.items()}
        if not changes:
            fresh = BUILDERS[resource](self._rng, rid, self.today, now, self._refs)
            changes = {name: fresh[name] for name in _EDITS[resource]}
        record.update(changes)
        stale = self.options.stale_updated_at or "updated_at" in changes
        if "updated_at" in record and not stale:
            record["updated_at"] = now
        return copy.deepcopy(record)

    def delete(self, resource: str, rid: int) -> None:
        """Remove the live record ``rid`` (KeyError when there is none)."""
        self._live(resource, rid)
        del self._rows[resource][rid]
        self._deleted[resource].add(rid)

    def random_mutation(self, now: datetime.datetime) -> tuple[str, str, int]:
        """Insert (half the time), edit or delete on a random resource: (action, resource, id)."""
        resource = self._rng.choice(resources.NAMES)
        live = list(self._rows[resource])
        roll = self._rng.random()
        if roll < 0.5 or not live:
            return "insert", resource, self.insert(resource, 1, now)[0]
        rid = self._rng.choice(live)
        if roll < 0.85:
            self.edit(resource, rid, now, {})
            return "edit", resource, rid
        self.delete(resource, rid)
        return "delete", resource, rid

    def drift(self, resource: str, served: list[int], insert: int, delete: int,
              now: datetime.datetime) -> None:
        """Insert at the top, and delete ``delete`` of the ``served`` ids a client has read."""
        self.insert(resource, insert, now)
        for rid in self._rng.sample(served, min(delete, len(served))):
            self.delete(resource, rid)

    def _live(self, resource: str, rid: int) -> Record:
        """The live record, or KeyError naming it."""
        record = self._rows[resources.get(resource).name].get(rid)
        if record is None:
            raise KeyError(f"no live {resource} record with id {rid}")
        return record


def coerce(resource: str, name: str, value: object) -> Cell:
    """A field value given as JSON (or Python) typed like the ground truth; ValueError if not."""
    try:
        kind = resources.get(resource).type_of(name)
    except KeyError:
        raise ValueError(f"{resource} has no editable field {name!r}") from None
    if value is None or kind in (Type.TEXT, Type.TAGS):
        return value if value is None or isinstance(value, str | list) else str(value)
    try:
        if kind is Type.ID:
            return int(str(value))
        if kind in (Type.MONEY, Type.NUMBER):
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            return number.quantize(Decimal("0.01")) if kind is Type.MONEY else number
        if kind is Type.DATE:
            return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(
                str(value))
        return value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(
            str(value))
    except (ValueError, InvalidOperation):
        raise ValueError(f"{resource}.{name} cannot be {value!r}") from None
