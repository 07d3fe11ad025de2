"""The simulator's ground truth: masters in memory, documents generated lazily per day."""

# Document days are regenerated from (seed, module, day) on demand, behind a bounded cache,
# so memory stays flat at any scale; mutations live in an overlay keyed by the module's key.

from __future__ import annotations

import bisect
import datetime
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from syncd_simulator import documents, masters, receipts
from syncd_simulator import fields as skybiz
from syncd_simulator import values as v
from syncd_simulator.documents import Document, Refs
from syncd_simulator.fields import Kind, Module
from syncd_simulator.values import Record, Value

KUALA_LUMPUR = ZoneInfo("Asia/Kuala_Lumpur")
Key = tuple[Value, ...]
Row = dict[str, Value | list[Record]]
DateLike = datetime.date | str
_CACHE_DOCS = 5000  # documents kept generated; a 31-day sales window at scale 1 is ~750


def kl_today() -> datetime.date:
    """Today's date in Malaysia, the source's calendar."""
    return datetime.datetime.now(KUALA_LUMPUR).date()


def _as_date(value: DateLike) -> datetime.date:
    """A date from a date or a YYYY-MM-DD string."""
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def _key(module: Module, record: Mapping[str, Value]) -> Key:
    """The record's primary key as a tuple of its key fields."""
    return tuple(record[name] for name in module.key)


def _sort_key(module: Module, record: Mapping[str, Value]) -> tuple[str, ...]:
    """Server order: by key, except price matrix, which the docs order by ItemCode, RunNo."""
    names = ("ItemCode", "RunNo") if module.name == "price_matrix" else module.key
    return tuple(f"{record[n]:>20}" if isinstance(record[n], int) else str(record[n])
                 for n in names)


class Dataset:
    """Every record the simulated server knows, and the edits tests make to them."""

    def __init__(self, seed: int = 1, history_days: int = 730,
                 today: datetime.date | None = None, scale: float = 1.0,
                 nested: bool = False, *, masters_days: int = 0) -> None:
        self.seed, self.scale, self.nested = seed, scale, nested
        self._today = today
        self.start = (today or kl_today()) - datetime.timedelta(days=history_days)
        # Masters are modified over their own span (masters_days back), else over history.
        self.masters_start = ((today or kl_today()) - datetime.timedelta(days=masters_days)
                              if masters_days else self.start)
        span = (self.masters_start, today or kl_today())
        cus = masters.parties("customer", seed, span)
        sup = masters.parties("supplier", seed, span)
        itm = masters.items(seed, span, [str(s["CusCode"]) for s in sup])
        pmx = masters.price_matrix(seed, span, itm, [str(c["CusCode"]) for c in cus])
        self._refs = Refs(cus, sup, itm)  # documents keep pointing at the original masters
        self._masters: dict[str, dict[Key, Record]] = {
            name: {_key(skybiz.get(name), r): dict(r) for r in rows}
            for name, rows in (("customer", cus), ("supplier", sup), ("item", itm),
                               ("price_matrix", pmx))}
        self._overrides: dict[str, dict[Key, Document | None]] = {
            m.name: {} for m in skybiz.MODULES if m.kind is Kind.DOCUMENT}
        self._cache: OrderedDict[tuple[str, datetime.date], list[Document]] = OrderedDict()
        self._cached_docs = 0
        self._run_starts: list[int] = [receipts.FIRST_RUNNO]

    @property
    def today(self) -> datetime.date:
        """The source's today: fixed by the options, else the current date in Malaysia."""
        return self._today or kl_today()

    # ---- reads -------------------------------------------------------------------------

    def masters(self, module: str) -> list[Record]:
        """Copies of every row of a master module, inactive price-matrix rows included."""
        mod = skybiz.get(module)
        rows = sorted(self._masters[module].values(), key=lambda r: _sort_key(mod, r))
        return [dict(r) for r in rows]

    def documents(self, module: str, date_from: DateLike, date_to: DateLike) -> list[Document]:
        """Copies of the documents (collection: header-only) dated within the range."""
        mod = skybiz.get(module)
        low, high = _as_date(date_from), _as_date(date_to)
        overrides = self._overrides[module]
        found = [d for day in self._days(low, high) for d in self._day(module, day)
                 if _key(mod, d.header) not in overrides]
        lo, hi = low.isoformat(), high.isoformat()
        found += [d for d in overrides.values()
                  if d is not None and lo <= str(d.header["D_ate"]) <= hi]
        found.sort(key=lambda d: _sort_key(mod, d.header))
        return [Document(dict(d.header), [dict(x) for x in d.lines]) for d in found]

    def records_between(self, module: str, date_from: DateLike, date_to: DateLike,
                        *, nested: bool | None = None) -> list[Row]:
        """Exactly the rows a read of ``module`` over the range answers, before fields/filters."""
        mod = skybiz.get(module)
        if mod.kind is Kind.MASTER:
            return self._master_rows(mod, _as_date(date_from), _as_date(date_to))
        docs = self.documents(module, date_from, date_to)
        if not mod.has_lines:
            return [dict(d.header) for d in docs]
        if self.nested if nested is None else nested:
            return [{**d.header, "items": list(d.lines)} for d in docs]
        empty: Record = {f.name: None for f in mod.lines}  # a line-less header: NULL details
        return [{**d.header, **line} for d in docs for line in (d.lines or [empty])]

    def _master_rows(self, mod: Module, low: datetime.date, high: datetime.date
                     ) -> list[Row]:
        """Master rows whose filter date lies in the range, active price rules only."""
        lo, hi = low.isoformat(), high.isoformat()
        # Filter first, then sort and copy only the matches (a read answers a window).
        found = [rec for rec in self._masters[mod.name].values()
                 if not (mod.name == "price_matrix" and rec["Status"] != "1")
                 and lo <= str(rec[mod.date_field])[:10] <= hi]
        found.sort(key=lambda r: _sort_key(mod, r))
        return [dict(r) for r in found]

    def _days(self, low: datetime.date, high: datetime.date) -> Iterable[datetime.date]:
        """The days of [low, high] that lie within the generated history."""
        day, last = max(low, self.start), min(high, self.today)
        while day <= last:
            yield day
            day += datetime.timedelta(days=1)

    def _day(self, module: str, day: datetime.date) -> list[Document]:
        """The generated documents of one module-day, from the cache when possible."""
        cached = self._cache.get((module, day))
        if cached is not None:
            self._cache.move_to_end((module, day))
            return cached
        docs = self._generate(module, day)
        self._cache[(module, day)] = docs
        self._cached_docs += len(docs)
        while self._cached_docs > _CACHE_DOCS and len(self._cache) > 1:
            self._cached_docs -= len(self._cache.popitem(last=False)[1])
        return docs

    def _generate(self, module: str, day: datetime.date) -> list[Document]:
        """Generate one module-day from the seed."""
        if module == "collection":
            rows = receipts.generate_day(self.seed, day, self.scale, self._refs,
                                         self._first_run_no(day))
            return [Document(r) for r in rows]
        return documents.generate_day(self.seed, module, day, self.scale, self._refs)

    def _first_run_no(self, day: datetime.date) -> int:
        """The RunNo of the first receipt of ``day``: receipts are numbered across days."""
        index = (day - self.start).days
        while len(self._run_starts) <= index:
            done = self.start + datetime.timedelta(days=len(self._run_starts) - 1)
            count = receipts.count_on(self.seed, done, self.scale)
            self._run_starts.append(self._run_starts[-1] + count)
        return self._run_starts[index]

    def _home_day(self, module: str, key: Key) -> datetime.date | None:
        """The day a generated record with ``key`` would have been issued on."""
        if module == "collection":
            if not isinstance(key[0], int):
                return None
            self._first_run_no(self.today + datetime.timedelta(days=1))
            index = bisect.bisect_right(self._run_starts, key[0]) - 1
            return self.start + datetime.timedelta(days=index) if index >= 0 else None
        return documents.day_of_doc1no(str(key[1]))

    def _find(self, module: str, key: Key) -> Document | None:
        """The current document with ``key``, or None when absent or deleted."""
        overrides = self._overrides[module]
        if key in overrides:
            return overrides[key]
        day = self._home_day(module, key)
        if day is None or not self.start <= day <= self.today:
            return None
        mod = skybiz.get(module)
        return next((d for d in self._day(module, day) if _key(mod, d.header) == key), None)

    def has_master(self, module: str, code: str) -> bool:
        """Whether the master row ``code`` exists (create requests check references)."""
        return (code,) in self._masters[module]

    def has_document(self, module: str, doctype: str, doc1no: str) -> bool:
        """Whether document (doctype, doc1no) exists now (create requests refuse duplicates)."""
        return self._find(module, (doctype, doc1no)) is not None

    # ---- mutations ---------------------------------------------------------------------

    def edit_master(self, module: str, key_value: Value, changes: Mapping[str, Value],
                    modified_at: datetime.datetime | str) -> None:
        """Change (or, for an unknown key, add) a master row and stamp its modified time."""
        mod = skybiz.get(module)
        if mod.kind is not Kind.MASTER or mod.modified_field is None:
            raise ValueError(f"{module} is not a master module")
        key = (key_value,)
        current = self._masters[module].get(key) or v.fill(v.template(mod.header),
                                                            {mod.key[0]: key_value})
        stamp = modified_at if isinstance(modified_at, str) else v.fmt_datetime(modified_at)
        updated = v.fill(current, {**changes, mod.modified_field: stamp})
        self._masters[module].pop(key, None)
        self._masters[module][_key(mod, updated)] = updated

    def add_document(self, module: str, header: Mapping[str, Value],
                     lines: Iterable[Mapping[str, Value]] = ()) -> None:
        """Add a new document (collection: a receipt); omitted totals come from its lines."""
        mod = self._document_module(module)
        new_lines = [v.fill(v.template(mod.lines), ln) for ln in lines]
        base = v.template(mod.header)
        if mod.has_lines:
            base["HCNetAmt"], base["HCDtTax"] = documents.totals(new_lines)
        doc = Document(v.fill(base, header), new_lines)
        key = _key(mod, doc.header)
        if self._find(module, key) is not None:
            raise ValueError(f"{module} {key} already exists")
        self._overrides[module][key] = doc

    def edit_document(self, module: str, doctype: str, doc1no: str,
                      header_changes: Mapping[str, Value] | None = None,
                      lines: Iterable[Mapping[str, Value]] | None = None) -> None:
        """Change a document's header and/or replace its lines; totals follow new lines."""
        self._edit(module, (doctype, doc1no), header_changes or {}, lines)

    def edit_collection(self, runno: int, changes: Mapping[str, Value]) -> None:
        """Change a collection receipt."""
        self._edit("collection", (runno,), changes, None)

    def _edit(self, module: str, key: Key, changes: Mapping[str, Value],
              lines: Iterable[Mapping[str, Value]] | None) -> None:
        """Replace the document ``key`` by its edited copy (moving it if the key changes)."""
        mod = self._document_module(module)
        doc = self._find(module, key)
        if doc is None:
            raise KeyError(f"{module} {key} does not exist")
        new_lines = ([v.fill(v.template(mod.lines), ln) for ln in lines] if lines is not None
                     else [dict(ln) for ln in doc.lines])
        header = dict(doc.header)
        if lines is not None and {"HCNetAmt", "HCDtTax"} <= set(header):
            header["HCNetAmt"], header["HCDtTax"] = documents.totals(new_lines)
        header = v.fill(header, changes)
        self._overrides[module][key] = None
        self._overrides[module][_key(mod, header)] = Document(header, new_lines)

    def delete_document(self, module: str, doctype: str, doc1no: str) -> None:
        """Delete a document so that reads no longer answer it."""
        self.delete(module, (doctype, doc1no))

    def delete_collection(self, runno: int) -> None:
        """Delete a collection receipt."""
        self.delete("collection", (runno,))

    def delete(self, module: str, key: Key) -> None:
        """Delete any record by its key tuple (in registry key order)."""
        mod = skybiz.get(module)
        if mod.kind is Kind.MASTER:
            del self._masters[module][tuple(key)]
        elif self._find(module, tuple(key)) is None:
            raise KeyError(f"{module} {key} does not exist")
        else:
            self._overrides[module][tuple(key)] = None

    def _document_module(self, module: str) -> Module:
        """The registry entry of a document module, or ValueError."""
        mod = skybiz.get(module)
        if mod.kind is not Kind.DOCUMENT:
            raise ValueError(f"{module} is not a document module")
        return mod


__all__ = ["Dataset", "Document", "Key", "Record", "Row", "Value", "kl_today"]
