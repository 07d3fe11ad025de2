"""API values to COPY text: typed, validated, never failing in PostgreSQL, money exact."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core.body import Num
from syncd.core.copytext import BAD, COPY_OPTIONS, NULL, convert, escape, raw_field, text
from syncd.core.model import FieldType
from syncd.warehouse import db

N, B, D, T, TS = (FieldType.NUMERIC, FieldType.BIGINT, FieldType.DATE, FieldType.TIME,
                  FieldType.TIMESTAMP)

# (type, value as msgspec decodes it, expected Python value after PostgreSQL reads the
# field; NULL: no value, not counted; BAD: NULL and counted as unparsed)
CASES: list[tuple[FieldType, Any, Any]] = [
    (N, Num("12.30"), Decimal("12.30")),
    (N, Num("0.1"), Decimal("0.1")),  # no binary float holds it
    (N, Num("123456789012345678.123456789"), Decimal("123456789012345678.123456789")),
    (N, 42, Decimal(42)),
    (N, "1500.00", Decimal("1500.00")),
    (N, "-0.5", Decimal("-0.5")),
    (N, "1E+2", Decimal("100")),
    (N, Num("1e2"), Decimal("100")),
    (N, Num("1e99999"), BAD),  # beyond PostgreSQL's numeric range
    (N, " 7 ", Decimal("7")),
    (N, "", NULL),
    (N, "N/A", BAD),
    (N, "1,234.50", BAD),
    (N, "NaN", BAD),
    (N, True, BAD),
    (N, None, NULL),
    (B, 42, 42),
    (B, "42", 42),
    (B, "42.0", 42),
    (B, Num("42.0"), 42),
    (B, "42.5", BAD),
    (B, "abc", BAD),
    (B, "99999999999999999999", BAD),
    (B, 10**19, BAD),
    (D, "2026-02-28", dt.date(2026, 2, 28)),
    (D, "2024-02-29", dt.date(2024, 2, 29)),
    (D, "2026-02-29", BAD),
    (D, "2026-04-31", BAD),
    (D, "0000-00-00", NULL),
    (D, "2026-13-01", BAD),
    (D, "2026/04/01", BAD),
    (D, "", NULL),
    (D, "2026-04-01 10:00:00", dt.date(2026, 4, 1)),
    (D, 20260401, BAD),
    (T, "10:30:00", dt.time(10, 30)),
    (T, "9:05", dt.time(9, 5)),
    (T, "24:00:00", BAD),
    (T, "", NULL),
    (TS, "2026-04-15 10:30:00", dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC)),
    (TS, "2026-04-15T10:30:00", dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC)),
    (TS, "2026-04-15", dt.datetime(2026, 4, 14, 16, 0, tzinfo=dt.UTC)),
    (TS, "2026-04-15 10:30:00+00:00", dt.datetime(2026, 4, 15, 10, 30, tzinfo=dt.UTC)),
    (TS, "2026-04-15T10:30:00Z", dt.datetime(2026, 4, 15, 10, 30, tzinfo=dt.UTC)),
    (TS, "2026-04-15 10:30:00.250+0800",
     dt.datetime(2026, 4, 15, 2, 30, 0, 250000, tzinfo=dt.UTC)),
    (TS, "0000-00-00 00:00:00", NULL),
    (TS, "2026-04-15 25:00:00", BAD),
    (TS, "2026-02-30 10:00:00", BAD),
    (TS, "yesterday", BAD),
]


@pytest.mark.parametrize(("kind", "value", "expected"), CASES)
def test_unparseable_values_are_null_and_counted_only_when_present(
        kind: FieldType, value: Any, expected: Any) -> None:
    """Empty strings and zero dates are no value; other values that do not parse are BAD."""
    got = convert(value, kind)
    if expected is NULL or expected is BAD:
        assert got is expected
    else:
        assert isinstance(got, str)
        assert got is not NULL


async def test_every_converted_value_is_read_exactly_by_postgresql(pg_dsn: str) -> None:
    """PostgreSQL reads each converter's text as the exact typed value (Kuala Lumpur time)."""
    conn: asyncpg.Connection = await db.connect(pg_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('TimeZone', 'Asia/Kuala_Lumpur', true)")
            for kind, value, expected in CASES:
                got = convert(value, kind)
                if got is not NULL and isinstance(got, str):
                    read = await conn.fetchval(f"SELECT $1::text::{kind.value}", got)
                    assert read == expected, (kind, value)
                    assert str(read) == str(expected)  # digits kept: 12.30 stays 12.30
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("plain", "plain"), ("tab\there", "\x01tab\there\x01"), ("a\\b", "a\\b"),
     ("line\r\nbreak", "\x01line\r\nbreak\x01"), ("\\N", "\x01\\N\x01"), ("陈氏 ☕", "陈氏 ☕"),
     (None, NULL), (True, "true"), (7, "7"), (Num("1.50"), "1.50"),
     ({"a": [1]}, '{"a":[1]}')])
def test_text_fields_are_escaped_for_copy(value: Any, expected: str) -> None:
    """Text keeps every character; a value COPY could misread is quoted, None is NULL."""
    assert text(value) == expected


def _read_back(field: str) -> str:
    """What COPY's CSV format (quote \\x01) reads back from an unquoted or quoted field."""
    if field.startswith("\x01"):
        return field[1:-1].replace("\x01\x01", "\x01")
    return field


@given(st.text())
def test_escaped_text_reads_back_as_the_original(value: str) -> None:
    """Whatever the text, its COPY field has no raw separator and reads back unchanged."""
    field = escape(value)
    if not field.startswith("\x01"):
        assert not {"\t", "\n", "\r", "\x01"} & set(field)
        assert field != NULL
    assert _read_back(field) == value.replace("\0", "\ufffd")


def test_raw_json_bytes_are_quoted_for_copy() -> None:
    """A record's bytes keep PHP's escapes and whitespace: only quoted, never rewritten."""
    assert raw_field(b'{"a":"x\\/y",\n\t"b":1}') == b'\x01{"a":"x\\/y",\n\t"b":1}\x01'


NASTY = ["", " padded ", "\\N", "NULL", "tab\tin", "line\nbreak\r\n", "back\\slash\\",
         "quote\x01in", "\"quoted\"", "陈氏贸易 ☕ 🍜", "nul\0byte", "\\.", "a,b;c"]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_copy_reads_every_text_and_raw_record_back_exactly(pg_dsn: str) -> None:
    """Through a real COPY with syncd's options, text and raw JSON arrive unchanged."""
    raws = [b'{"a":"x\\/y \\u9648","b":1.50}', b'{ "pretty" :\n\t[1, 2] }']
    rows = [escape(v).encode() + b"\t" + raw_field(raws[i % 2]) + b"\n"
            for i, v in enumerate(NASTY)]
    rows.append(b"\\N\t" + raw_field(raws[0]) + b"\n")
    conn: asyncpg.Connection = await db.connect(pg_dsn)
    try:
        await conn.execute("CREATE TABLE t (n serial, v text, j json)")
        await conn.copy_to_table("t", columns=["v", "j"], source=_once(b"".join(rows)),
                                 **COPY_OPTIONS)
        got = await conn.fetch("SELECT v, j::text AS j FROM t ORDER BY n")
    finally:
        await conn.close()
    assert [r["v"] for r in got] == [v.replace("\0", "\ufffd") for v in NASTY] + [None]
    assert [r["j"].encode() for r in got] == [raws[i % 2] for i in range(len(NASTY))] + [
        raws[0]]
