"""Grouping flat rows and nested documents into the same documents."""

from __future__ import annotations

from typing import Any

from syncd import registry
from syncd.documents import group

SALES = registry.get("sales")


def flat(doctype: str, doc1no: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"D_ate": "2026-04-01", "Doc1No": doc1no, "DocType": doctype, "CusCode": "C1",
            "HCNetAmt": 10, "ItemCode": item, "Qty": 1, **extra}


def test_flat_rows_group_by_doctype_and_doc1no() -> None:
    """Rows sharing (DocType, Doc1No) form one document with lines in received order."""
    rows = [flat("CusInv", "A1", "X"), flat("CusInv", "A1", "Y"),
            flat("CusCN", "A1", "Z"), flat("CusInv", "A2", "W")]
    docs = group(SALES, rows)
    assert [d.key for d in docs] == [("CusInv", "A1"), ("CusCN", "A1"), ("CusInv", "A2")]
    assert [line["ItemCode"] for line in docs[0].lines] == ["X", "Y"]
    assert "ItemCode" not in docs[0].header
    assert docs[0].header["CusCode"] == "C1"
    assert docs[0].lines[0] is rows[0]  # a flat line keeps the whole row as received


def test_interleaved_rows_still_join_their_document() -> None:
    """A document's rows need not be contiguous; order within it is preserved."""
    rows = [flat("CusInv", "A1", "X"), flat("CusInv", "A2", "W"), flat("CusInv", "A1", "Y")]
    docs = group(SALES, rows)
    assert [[ln["ItemCode"] for ln in d.lines] for d in docs] == [["X", "Y"], ["W"]]


def test_nested_documents_load_the_same() -> None:
    """An `items` array gives the same documents and lines as flat rows."""
    nested = [{"D_ate": "2026-04-01", "Doc1No": "A1", "DocType": "CusInv", "CusCode": "C1",
               "HCNetAmt": 10, "items": [{"ItemCode": "X", "Qty": 1}, {"ItemCode": "Y"}]}]
    docs = group(SALES, nested)
    assert len(docs) == 1
    assert docs[0].key == ("CusInv", "A1")
    assert [ln["ItemCode"] for ln in docs[0].lines] == ["X", "Y"]
    assert "items" not in docs[0].header


def test_numeric_doc1no_is_keyed_as_text() -> None:
    """A Doc1No sent as a JSON number keys the same as its text."""
    docs = group(SALES, [flat("CusInv", 1001, "X"), flat("CusInv", "1001", "Y")])  # type: ignore[arg-type]
    assert len(docs) == 1
    assert docs[0].key == ("CusInv", "1001")
