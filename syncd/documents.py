"""Group document-module records into documents (pure).

Sales, purchase and sales order answer either flat rows — one per detail line, header
fields repeated — or nested documents with an ``items`` array. Both become the same
``Document``: header from the first row, lines in the order received.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncd.registry import Module

Record = dict[str, Any]


@dataclass(slots=True)
class Document:
    """One document: its key, header fields and detail lines as received."""

    key: tuple[str, ...]
    header: Record
    lines: list[Record] = field(default_factory=list)


def document_key(module: Module, record: Record) -> tuple[str, ...]:
    """The key values of ``record`` as text (the server may send Doc1No as a number)."""
    return tuple("" if record.get(k) is None else str(record.get(k)) for k in module.key)


def group(module: Module, records: Iterable[Record]) -> list[Document]:
    """Documents in order of first appearance; flat rows and nested items alike."""
    header_names = [f.name for f in module.header]
    docs: dict[tuple[str, ...], Document] = {}
    for record in records:
        key = document_key(module, record)
        items = record.get("items")
        doc = docs.get(key)
        if doc is None:
            header = {k: v for k, v in record.items() if k != "items"}
            if not isinstance(items, list):
                header = {k: record[k] for k in header_names if k in record}
            doc = docs[key] = Document(key, header)
        if isinstance(items, list):
            doc.lines.extend(i for i in items if isinstance(i, dict))
        else:
            doc.lines.append(record)
    return list(docs.values())
