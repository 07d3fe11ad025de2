"""Splitting an answer body into envelope and raw records, without copying it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core.body import Num, parse, prepare


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a":"x\\u0000y"}', b'{"a":"x\\ufffdy"}'),
        (b'{"a":"\\\\u0000"}', b'{"a":"\\\\u0000"}'),  # an escaped backslash, not a NUL
        (b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\ud83d\\ude00"}'),  # a valid pair stays
        (b'{"a":"\\ud800 x"}', b'{"a":"\\ufffd x"}'),  # a lone high surrogate
        (b'{"a":"\\udc00"}', b'{"a":"\\ufffd"}'),  # a lone low surrogate
        (b'Notice: x\n{"a":1}', b'{"a":1}'),  # PHP output before the JSON
        (b'{"a":"caf\xc3\xa9"}', b'{"a":"caf\xc3\xa9"}'),  # valid UTF-8 stays
        (b'{"a":"caf\xe9 \xff"}', b'{"a":"caf\xef\xbf\xbd \xef\xbf\xbd"}'),  # Latin-1
        (b'\xe9 warn {"a":"\xc3"}', b'{"a":"\xef\xbf\xbd"}'),  # a cut sequence
    ],
)
def test_prepare_makes_text_postgresql_can_store(raw: bytes, expected: bytes) -> None:
    """NUL, unpaired surrogate escapes and invalid UTF-8 become U+FFFD; everything else is
    untouched."""
    assert bytes(prepare(raw)) == expected


@given(st.binary(max_size=300).filter(lambda b: b"\\" not in b))
def test_prepared_text_is_the_utf8_the_answer_holds(noise: bytes) -> None:
    """Whatever bytes an answer holds, the prepared JSON part is valid UTF-8: its valid
    sequences unchanged, every invalid one a U+FFFD."""
    answer = b"{" + noise
    assert bytes(prepare(answer, 0)) == answer.decode("utf-8", "replace").encode()



@pytest.mark.parametrize(
    ("raw", "records", "objects", "total"),
    [
        (b'{"status":"success","data":{"total_returned":2,"data":[{"a":1},{"b":2}]}}', 2, 2, "2"),
        (b'{"status":"success","data":[{"a":1}]}', 1, 1, None),  # a bare list under data
        (b'{"status":"success","data":{"total_returned":0}}', None, 0, "0"),
        (b'{"status":"success","data":{"data":[{"a":1},7,"x"]}}', 3, 1, None),
        (b'{"status":"success","data":{"data":{"2":{"a":1},"10":{"b":2}}}}', 2, 2, None),
        (b'{"status":"success","data":{"data":{"2":{"a":1},"10":3}}}', None, 0, None),
        (b'{"status":"success","data":null}', None, 0, None),
    ],
)
def test_records_are_found_in_every_envelope_shape(
        raw: bytes, records: int | None, objects: int, total: str | None) -> None:
    """The records array (or PHP's object of records) is found; non-objects are counted."""
    got = parse(raw)
    assert got.envelope.parsed
    assert (got.envelope.records, got.envelope.objects) == (records, objects)
    assert got.envelope.total_returned == total
    assert len(got.records) == objects


def test_records_are_views_of_the_body_in_key_order() -> None:
    """Records come back as their own bytes, PHP's keyed object in numeric key order."""
    got = parse(b'{"data":{"data":{"10":{"n":"B"},"2":{"n":"A"},"x":{"n":"C"}}}}')
    assert [bytes(r) for r in got.records] == [b'{"n":"A"}', b'{"n":"B"}', b'{"n":"C"}']


@pytest.mark.parametrize("raw", [b'{"status":"success","data":[{"a":1}', b"", b"<html>",
                                 b'{"a":1} trailing'])
def test_broken_json_is_not_parsed(raw: bytes) -> None:
    """A truncated or garbled body says so, and has no records."""
    got = parse(raw)
    assert not got.envelope.parsed
    assert got.records == []


def test_envelope_values_keep_their_text() -> None:
    """Numbers in the envelope keep their digits; mode may be a number or a string."""
    env = parse(b'{"status":"success","request_id":12.50,"data":{"mode":2,"data":[]}}').envelope
    assert (env.request_id, env.mode, env.status) == ("12.50", "2", "success")
    assert isinstance(Num("1.0"), str)
