"""Continuous source changes for soak runs: the edits a busy shop makes — renamed masters,
new, edited and deleted documents — all dated inside the lookback that every incremental
pass re-reads, so one quiet pass after the last change leaves the warehouse exact."""

from __future__ import annotations

import datetime
import random

from syncd_simulator import fields as skybiz
from syncd_simulator.data import Dataset
from syncd_simulator.documents import Document
from syncd_simulator.values import fmt_datetime

RECENT_DAYS = 3  # documents changed lie in the last 3 days: inside the 7-day lookback
RENAMED = {"customer": "CusName", "supplier": "CusName", "item": "Description"}
DOCUMENTS = ("sales", "purchase", "sales_order", "collection")
# The header field an edit changes: a reference, never part of the key or the date.
EDITED = {"sales": "Doc2No", "purchase": "Doc2No", "sales_order": "Doc2No",
          "collection": "Doc1No"}


class Churn:
    """Makes one seeded random change to a dataset per ``step``; counts what it did."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.counts: dict[str, int] = {"rename": 0, "add": 0, "edit": 0, "delete": 0}
        self._rng = random.Random(f"{seed}:churn")
        self._serial = 0
        self._stamp = datetime.datetime.min

    def step(self, now: datetime.datetime) -> str:
        """One change at ``now`` (the source's local time); returns its kind."""
        self._serial += 1
        kind = self._rng.choice(("rename", "add", "edit", "delete"))
        if kind == "rename":
            self._rename(now)
        else:
            module = self._rng.choice(DOCUMENTS)
            recent = self._recent(module, RECENT_DAYS)
            if not recent or kind == "add":
                kind = "add"
                self._add(module, self._rng.choice(recent or self._recent(module, 31)))
            else:
                self._change(module, kind, self._rng.choice(recent))
        self.counts[kind] += 1
        return kind

    def _recent(self, module: str, days: int) -> list[Document]:
        today = self.dataset.today
        return self.dataset.documents(module, today - datetime.timedelta(days=days - 1), today)

    def _rename(self, now: datetime.datetime) -> None:
        # Strictly increasing stamps: two versions of a row never share a modified time.
        self._stamp = max(now.replace(tzinfo=None, microsecond=0),
                          self._stamp + datetime.timedelta(seconds=1))
        module = self._rng.choice(tuple(RENAMED))
        row = self._rng.choice(self.dataset.masters(module))
        key = row[skybiz.get(module).key[0]]
        self.dataset.edit_master(module, key, {RENAMED[module]: f"Soak {self._serial}"},
                                 fmt_datetime(self._stamp))

    def _add(self, module: str, like: Document) -> None:
        header = {**like.header, "D_ate": self.dataset.today.isoformat()}
        if module == "collection":
            header["RunNo"] = 1_000_000_000 + self._serial  # receipts: numbered, never reused
        else:
            header["Doc1No"] = f"SOAK{self._serial:07d}"
        self.dataset.add_document(module, header, like.lines)

    def _change(self, module: str, kind: str, doc: Document) -> None:
        key = tuple(doc.header[k] for k in skybiz.get(module).key)
        edit = {EDITED[module]: f"SOAK-EDIT-{self._serial}"}
        if kind == "delete":
            self.dataset.delete(module, key)
        elif module == "collection":
            self.dataset.edit_collection(int(str(key[0])), edit)
        else:
            lines = doc.lines[:-1] if len(doc.lines) > 1 else None  # drop a line, if it has two
            self.dataset.edit_document(module, str(key[0]), str(key[1]), edit, lines)
