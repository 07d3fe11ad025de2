"""Every parse path ends in syncd's error tree, whatever a server sends (CONTRACT §10).

Random bytes and random JSON shapes (deep nesting, huge numbers, NUL, control characters,
odd envelopes) go to ``body.parse`` and to both kinds' answer judges: each either returns
its result or raises a ``SyncdError`` — never a RecursionError, msgspec's own errors, or a
UnicodeDecodeError.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.core import body
from syncd.core.errors import RetriableError, SyncdError
from syncd.kinds.cloudonex import answers as cloudonex
from syncd.kinds.skybiz import answers as skybiz

SKYBIZ = skybiz.Context("main", "sales", "Sales", "$SYNCD_MAIN_API_KEY")
CLOUDONEX = cloudonex.Context("crm", "invoices", "https://crm.example.com/api/v2/invoices",
                              "$SYNCD_CRM_API_KEY")
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["\x00", "\x1b[2J", "\ud800", "0", "", "success", "true", "1e999"]),
)
shapes = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
statuses = st.sampled_from([200, 201, 204, 400, 401, 403, 404, 405, 408, 429, 500, 502, 302])


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """A SKYBIZ- or CloudOnex-like envelope around a random payload, maybe behind a PHP
    warning, maybe with a deep nest, a huge number or raw bytes spliced into it."""
    payload = draw(shapes)
    doc: dict[str, Any] = draw(st.sampled_from([
        {"status": "success", "data": {"mode": 2, "total_returned": "1", "data": [payload]}},
        {"status": draw(st.sampled_from(["success", "error", "response"])), "data": payload},
        {"success": draw(st.sampled_from([True, False, "true", 1])), "data": [payload],
         "meta": {"total_records": draw(scalars)}},
        {"status": "success", "data": {"summary": payload}},
        payload,
    ]))
    text = _dumps(doc)
    depth = draw(st.sampled_from([0, 0, 10, 900, 1100, 5000]))
    if depth:
        nest = draw(st.sampled_from([b"[", b'{"a":[']))
        close = b"]" if nest == b"[" else b"]}"
        at = draw(st.integers(0, len(text)))
        text = text[:at] + nest * depth + b"1" + close * depth + text[at:]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([b"\x00", b"\xff\xfe", b"1" + b"0" * 5000,
                                                 b"\\u0000", b"\\ud800"])) + text[at:]
    prefix = draw(st.sampled_from([b"", b"<br />Warning: SQLSTATE[HY000] [2002] {x}\n"]))
    return prefix + text


answers = st.one_of(st.binary(max_size=300), envelopes())


def _skybiz_read(status: int, data: bytes) -> None:
    with contextlib.suppress(SyncdError):
        skybiz.classify(status, data, SKYBIZ)


@FUZZ
@given(data=answers)
def test_body_parse_never_raises(data: bytes) -> None:
    """body.parse (after prepare) returns a Body for any bytes at all."""
    try:
        prepared = body.prepare(data)
    except ValueError:  # no JSON object in it: the callers' documented case
        return
    parsed = body.parse(prepared)
    assert isinstance(parsed, body.Body)
    assert parsed.envelope.parsed or not parsed.records


@FUZZ
@given(status=statuses, data=answers)
def test_skybiz_judges_stay_in_the_error_tree(status: int, data: bytes) -> None:
    """classify, judge (on parse's envelope) and judge_create return or raise a SyncdError."""
    _skybiz_read(status, data)
    try:
        parsed = body.parse(body.prepare(data))
    except ValueError:
        parsed = body.parse(b"")
    for call in (lambda: skybiz.judge(status, parsed.envelope, SKYBIZ),
                 lambda: skybiz.judge_create(status, data, SKYBIZ)):
        with contextlib.suppress(SyncdError):
            call()


@FUZZ
@given(status=statuses, data=answers)
def test_cloudonex_judge_stays_in_the_error_tree(status: int, data: bytes) -> None:
    """cloudonex.judge returns a Page or raises a SyncdError."""
    try:
        page = cloudonex.judge(status, data, CLOUDONEX)
    except SyncdError:
        return
    assert isinstance(page, cloudonex.Page)


DEEP = b'{"status":"success","data":[{"a":' + b"[" * 5000 + b"]" * 5000 + b"}]}"
HUGE = b'{"status":"success","data":[{"a":1' + b"0" * 5000 + b"}]}"


@pytest.mark.parametrize(("data", "words"), [(DEEP, "nested deeper"), (HUGE, "cannot read")])
def test_skybiz_unreadable_body_is_a_retriable_sentence(data: bytes, words: str) -> None:
    """A body nested 5000 deep or with a 5000-digit number is a RetriableError saying so."""
    with pytest.raises(RetriableError, match=words):
        skybiz.classify(200, data, SKYBIZ)


def test_cloudonex_deep_page_is_a_retriable_sentence() -> None:
    """A CloudOnex page nested 5000 deep is a RetriableError saying so."""
    data = DEEP.replace(b'"status":"success"', b'"success":true')
    with pytest.raises(RetriableError, match="nested deeper"):
        cloudonex.judge(200, data, CLOUDONEX)


def test_skybiz_record_with_invalid_utf8_is_kept() -> None:
    """Invalid UTF-8 inside a record is replaced with U+FFFD; the record is kept."""
    data = b'{"status":"success","data":[{"CusCode":"C\xff1"}]}'
    page = skybiz.classify(200, data, SKYBIZ)
    assert page.records == [{"CusCode": "C\ufffd1"}]


def test_a_64_mb_string_is_a_kept_record() -> None:
    """A record holding a 64 MB string parses (as one record) without error."""
    data = b'{"status":"success","data":[{"Remark":"' + b"x" * (64 << 20) + b'"}]}'
    parsed = body.parse(body.prepare(data))
    assert parsed.envelope.records == 1
    assert len(parsed.records[0]) > 64 << 20


header_values = st.one_of(st.none(), st.text(max_size=30),
                          st.sampled_from(["inf", "-inf", "nan", "1e15", "9999999999", "1e400",
                                           "1" + "0" * 5000, " 5 ", "0x10", "-1"]))


@FUZZ
@given(limit=header_values, remaining=header_values, reset=header_values)
def test_rate_headers_never_raise_and_stay_finite(
    limit: str | None, remaining: str | None, reset: str | None
) -> None:
    """X-RateLimit-* of any text read without error; a Reset that is read is finite."""
    headers = {k: v for k, v in (("X-RateLimit-Limit", limit),
                                 ("X-RateLimit-Remaining", remaining),
                                 ("X-RateLimit-Reset", reset)) if v is not None}
    read = cloudonex.RateHeaders.read(headers)
    assert read.reset_at is None or read.reset_at - read.reset_at == 0
