"""Row building stays bounded whatever field names a server invents (issue 17)."""

from __future__ import annotations

import msgspec

from syncd.core import rows
from syncd.kinds.skybiz import modules as skybiz


def _records(n: int, fields_each: int = 1) -> list[msgspec.Raw]:
    """``n`` customer records, each with ``fields_each`` unknown fields of its own."""
    out = []
    for i in range(n):
        extra = {f"Odd{i}_{j}": j for j in range(fields_each)}
        doc = {"CusCode": f"C{i:05d}", "CusName": f"Name {i}",
               "DateTimeModified": "2024-01-02 03:04:05"} | extra
        out.append(msgspec.Raw(msgspec.json.encode(doc)))
    return out


def _build(records: list[msgspec.Raw]) -> rows.WindowRows:
    built = rows.WindowRows(rows.shape(skybiz.BY_NAME["customer"]), records, "main")
    list(built.keys())
    built.changed = set(range(len(records)))
    assert b"".join(built.headers()).count(b"\n") == len(records)
    return built


def test_new_field_names_and_decoders_are_bounded() -> None:
    """1000 records, each with unknown names of its own, all load; the window notes at most
    MAX_NEW_FIELDS names and the module keeps at most DECODERS_KEPT decoders."""
    built = _build(_records(1000))
    assert len(built.new_fields) == rows.MAX_NEW_FIELDS
    assert len(rows.shape(skybiz.BY_NAME["customer"]).decoders) <= rows.DECODERS_KEPT


def test_one_record_with_many_unknown_fields_is_kept() -> None:
    """A record with 5000 unknown fields is loaded and only MAX_NEW_FIELDS names are noted."""
    built = _build(_records(3, fields_each=5000))
    assert len(built.new_fields) == rows.MAX_NEW_FIELDS
    assert built.tally.headers == 3


def test_a_few_new_fields_are_all_reported() -> None:
    """Below the cap every unknown field name is reported, sorted by the loader."""
    built = _build(_records(3))
    assert built.new_fields == {"Odd0_0", "Odd1_0", "Odd2_0"}
