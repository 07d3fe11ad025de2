"""CloudOnex pure logic: judging one answer, the server's budget, the pass plan, completeness."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core.errors import (
    ApiError,
    EndpointMisconfigured,
    ModuleForbidden,
    RateLimited,
    RequestRejected,
    RetriableError,
    SourceUnauthorized,
)
from syncd.core.windows import Purpose
from syncd.engine.limiter import Priority
from syncd.kinds.cloudonex import answers, budget, plan
from syncd.kinds.cloudonex.answers import Context, Page, RateHeaders
from syncd.kinds.cloudonex.budget import Hold, Verdict
from syncd.kinds.cloudonex.plan import Read
from syncd.kinds.cloudonex.reader import Listing, last_page

KEY = "cx-key-canary-3e8a1f6b2c9d4e7a"
CTX = Context("crm", "customers", "https://crm.example.com/api/v2/customers",
              "$SYNCD_CRM_API_KEY")
NOTICE = (b"<br />\n<b>Notice</b>:  Undefined index: tags [3] in "
          b"/var/www/html/api/v2/customers.php on line <b>42</b><br />\n")
WARNING = (b"<br />\n<b>Warning</b>:  PDO::query(): SQLSTATE[HY000] [2002] Connection "
           b"refused in /var/www/html/system/orm.php:1195\nStack trace:\n#0 {main}<br />\n")
META = {"current_page": 1, "total_pages": 1, "total_records": 2}
RECORDS = [{"id": 2, "amount": "1500.00"}, {"id": 1, "amount": 0.25}]  # 0.25: exact in binary too
_EXACT = msgspec.json.Decoder(float_hook=Decimal)


def envelope(data: Any = RECORDS, meta: Any = META, success: Any = True) -> bytes:
    return json.dumps({"success": success, "data": data, "meta": meta}).encode()


def decoded(page: Page) -> list[Any]:
    """The page's records as Python objects, money as Decimal (exactly as sent)."""
    return [_EXACT.decode(r) for r in page.records]


# ---- answers.judge: pages ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "want", "meta"),
    [
        (envelope(), RECORDS, (1, 1, 2, True)),
        (envelope(meta={"current_page": "1", "total_pages": " 1", "total_records": "2"}),
         RECORDS, (1, 1, 2, True)),  # meta numbers as strings
        (envelope(success="true"), RECORDS, (1, 1, 2, True)),
        (envelope(success=1), RECORDS, (1, 1, 2, True)),
        (envelope(success="TRUE"), RECORDS, (1, 1, 2, True)),
        (json.dumps(RECORDS).encode(), RECORDS, (None, None, None, False)),  # bare array
        (NOTICE + envelope(), RECORDS, (1, 1, 2, True)),  # a PHP notice before the JSON
        (NOTICE + json.dumps(RECORDS).encode(), RECORDS, (None, None, None, False)),
        (b"PHP Warning:  Undefined variable $x in /a.php on line 3\n" + envelope(), RECORDS,
         (1, 1, 2, True)),
        (WARNING * 5 + envelope(), RECORDS, (1, 1, 2, True)),  # warnings with stack traces
        (WARNING * 5 + json.dumps(RECORDS).encode(), RECORDS, (None, None, None, False)),
        (envelope(data={"7": {"id": 7}, "10": {"id": 10}, "x": {"id": 1}}),
         [{"id": 7}, {"id": 10}, {"id": 1}], (1, 1, 2, True)),  # records as a keyed object
        (envelope(data=[], meta={"current_page": 1, "total_pages": 0, "total_records": 0}),
         [], (1, 0, 0, True)),
        (envelope(data=None, meta={"current_page": 1, "total_pages": 0, "total_records": 0}),
         [], (1, 0, 0, True)),  # null data is believable with an explicit zero total
        (envelope(data={}, meta={"total_records": "0"}), [], (None, None, 0, True)),
        (b'{"success":true,"meta":{"total_records":0}}', [], (None, None, 0, True)),
        (json.dumps([]).encode(), [], (None, None, None, False)),  # an empty bare array
        (envelope(meta=None), RECORDS, (None, None, None, True)),  # no meta: no totals
        (envelope(meta={"total_records": 2.5, "total_pages": True}), RECORDS,
         (None, None, None, True)),  # nonsense meta is no meta
    ],
)
def test_judge_reads_every_shape_of_a_page(body: bytes, want: list[Any],
                                           meta: tuple[Any, ...]) -> None:
    """Envelopes, bare arrays, notices, string meta and keyed records all give the records."""
    page = answers.judge(200, body, CTX)
    assert decoded(page) == want
    assert (page.current_page, page.total_pages, page.total_records, page.enveloped) == meta


def test_money_digits_are_exact() -> None:
    """Money stays raw bytes: trailing zeros and long fractions survive to the loader."""
    body = (b'{"success":true,"data":[{"id":1,"amount":1500.00,"qty":"0.333333333333333333"},'
            b'{"id":2,"amount":12345678901234567890.01}],"meta":{"total_records":2}}')
    page = answers.judge(200, body, CTX)
    assert [bytes(r) for r in page.records] == [
        b'{"id":1,"amount":1500.00,"qty":"0.333333333333333333"}',
        b'{"id":2,"amount":12345678901234567890.01}']
    assert decoded(page)[1]["amount"] == Decimal("12345678901234567890.01")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (b'"a\\u0000b"', "a\ufffdb"),  # NUL: PostgreSQL text cannot hold it
        (b'"\\ud800x"', "\ufffdx"),  # a lone high surrogate
        (b'"x\\udfff"', "x\ufffd"),  # a lone low surrogate
        (b'"\\ud83d\\ude00"', "\U0001F600"),  # a valid pair stays
        (b'"\\\\u0000"', "\\u0000"),  # an escaped backslash, not a NUL
    ],
)
@pytest.mark.parametrize("bare", [False, True])
def test_escapes_postgresql_cannot_store_are_cleaned(text: bytes, want: str, bare: bool) -> None:
    """NUL and lone surrogate escapes become U+FFFD; money next to them keeps its digits."""
    records = b'[{"id":5,"name":' + text + b',"amount":"1500.10","price":0.1000}]'
    body = records if bare else (b'{"success":true,"data":' + records
                                 + b',"meta":{"total_records":1}}')
    page = answers.judge(200, NOTICE + body, CTX)
    [record] = decoded(page)
    assert record["name"] == want
    assert record["amount"] == "1500.10"
    assert str(record["price"]) == "0.1000"
    assert page.enveloped is not bare


# ---- answers.judge: faults and refusals --------------------------------------------------

_HALF = envelope(data=[{"id": 3, "name": "c"}, {"id": 2, "name": "b"}, {"id": 1, "name": "a"}],
                 meta={"current_page": 1, "total_pages": 1, "total_records": 3})


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>\n"
        b"<h1>Whoops, looks like something went wrong.</h1>\n</body></html>\n",
        b"<html><head><style>body{color:red}</style></head><body>[oops]</body></html>",
        b"<br />\n<b>Fatal error</b>:  Uncaught PDOException: SQLSTATE[HY000] [2002] "
        b"Connection refused in /var/www/html/system/orm.php:1195<br />\n",
        b"",
        b"   \n",
        _HALF[: len(_HALF) // 2],  # cut mid-JSON
        _HALF[:-1],  # only the last brace missing: the meta object must not pass for a page
        _HALF[: _HALF.index(b"}") + 1],  # cut right after the first record
        _HALF[: _HALF.index(b"]") + 1],  # cut right after the records array
        NOTICE + _HALF[: _HALF.index(b"]") + 1],
        json.dumps(RECORDS).encode()[:-1],  # a bare array cut before its last bracket
        envelope(data=None),  # null data without a zero total: never "no records"
        envelope(data=None, meta=None),
        envelope(data="nothing", meta={"total_records": 0}),
        b'{"success":true,"meta":{"total_records":5}}',
    ],
)
def test_broken_or_empty_answers_with_200_are_retried(body: bytes) -> None:
    """An HTML page, a cut-off body or a success without records is a retriable fault."""
    with pytest.raises(RetriableError) as info:
        answers.judge(200, body, CTX)
    assert type(info.value) is RetriableError
    assert info.value.status == 200
    assert str(info.value).startswith("customers: ")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("Rate limit exceeded", RateLimited),
        ("Too many requests", RateLimited),
        ("Invalid API key or unauthorized access", SourceUnauthorized),
        ("Unauthorized", SourceUnauthorized),
        ("Forbidden: no permission for customers", ModuleForbidden),
        ("Resource not found", EndpointMisconfigured),
        ("Internal server error", RetriableError),
        ("Database connection failed", RetriableError),
        ("Validation failed", RequestRejected),
        (None, RequestRejected),
    ],
)
@pytest.mark.parametrize("success", [False, "false", 0, None])
def test_success_false_with_200_is_judged_by_its_message(message: str | None,
                                                         error: type[ApiError],
                                                         success: Any) -> None:
    """A 200 saying ``success: false`` is the error its message names."""
    body = json.dumps({"success": success, "message": message, "errors": {}}).encode()
    with pytest.raises(ApiError) as info:
        answers.judge(200, body, CTX, retry_after=7.0)
    assert type(info.value) is error
    assert info.value.message == message
    assert info.value.retry_after == 7.0
    if message and error is not EndpointMisconfigured:  # a 404 names the URL instead
        assert message in str(info.value)


def _one_sentence(text: str) -> bool:
    """One line, one final full stop (the URL's dots and an arrow are not sentence ends)."""
    body = text.removesuffix(".")
    return "\n" not in text and text.endswith(".") and ". " not in body and "! " not in body


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, SourceUnauthorized, ("source 'crm'", "$SYNCD_CRM_API_KEY", "new key")),
        (403, ModuleForbidden, ("customers", "give this API key access", "remove 'customers'",
                                "source 'crm'")),
        (404, EndpointMisconfigured, ("customers", "HTTP 404",
                                      "https://crm.example.com/api/v2/customers",
                                      "base_url of source 'crm'", "/api/v2")),
        (405, EndpointMisconfigured, ("customers", "HTTP 405", "base_url of source 'crm'")),
        (429, RateLimited, ("customers", "rate limit", "waits")),
        (500, RetriableError, ("customers", "HTTP 500", "retries")),
        (502, RetriableError, ("customers", "HTTP 502", "retries")),
        (503, RetriableError, ("customers", "HTTP 503", "retries")),
        (408, RetriableError, ("customers", "HTTP 408", "retries")),
        (400, RequestRejected, ("customers", "HTTP 400", "report")),
        (422, RequestRejected, ("customers", "HTTP 422", "report")),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        b'{"success":false,"message":"Something went wrong","errors":{}}',
        b"<html><body><h1>Error</h1></body></html>",
        NOTICE + b'{"success":false,"message":"Something went wrong"}',
        b"",
    ],
)
def test_error_statuses_raise_one_plain_sentence(status: int, error: type[ApiError],
                                                 words: tuple[str, ...], body: bytes) -> None:
    """Each status gives its error class and one sentence naming the resource (or source)
    and what to do, without the key; the server's message is quoted when there is one."""
    with pytest.raises(ApiError) as info:
        answers.judge(status, body, CTX, retry_after=3.0)
    exc = info.value
    text = str(exc)
    assert type(exc) is error
    assert (exc.status, exc.module, exc.retry_after) == (status, "customers", 3.0)
    assert all(w in text for w in words), text
    assert _one_sentence(text), text
    assert KEY not in text
    assert "Bearer" not in text
    if b"Something went wrong" in body:
        assert exc.message == "Something went wrong"
        assert ('"Something went wrong"' in text) is (error is not EndpointMisconfigured)
    else:
        assert exc.message is None


def test_a_long_server_message_is_cut() -> None:
    """A server message (a stack trace) is quoted at most 300 characters long."""
    body = json.dumps({"success": False, "message": "x" * 5000}).encode()
    with pytest.raises(RetriableError) as info:
        answers.judge(500, body, CTX)
    assert info.value.message == "x" * 299 + "…"
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "998",
          "X-RateLimit-Reset": "1767225600"}, RateHeaders(1000, 998, 1767225600.0)),
        ({"X-RateLimit-Remaining": " 5 "}, RateHeaders(None, 5, None)),
        ({"X-RateLimit-Remaining": "many", "X-RateLimit-Reset": "soon"},
         RateHeaders(None, None, None)),
        ({}, RateHeaders(None, None, None)),
    ],
)
def test_rate_headers_are_read_liberally(headers: dict[str, str], want: RateHeaders) -> None:
    """Missing or garbled headers are absent, never an error."""
    got = RateHeaders.read(headers)
    assert got == want
    assert got.present is (want.remaining is not None)


# ---- answers.judge: a round-trip property ------------------------------------------------

_MONEY = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),  # "1500.00"
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)
# Text with what PostgreSQL cannot store (NUL, lone surrogate halves) and what JSON escapes.
_TEXT = st.lists(st.one_of(st.characters(), st.sampled_from(
    ["\x00", "\ud800", "\udbff", "\udc00", "\ude00", "\ud83d", "\\", "\\u0000", '"'])),
    max_size=12).map("".join)
_RECORD = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(1, 2**62), st.integers(1, 2**62).map(str)),
     "amount": _MONEY, "price": _MONEY, "name": _TEXT},
    optional={"items": st.lists(st.fixed_dictionaries({"amount": _MONEY, "qty": _MONEY}),
                                max_size=3)})


def _texts(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string in it (not to keys)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_texts(v, change) for v in value]
    if isinstance(value, dict):
        return {k: _texts(v, change) for k, v in value.items()}
    return value


def _stored(text: str) -> str:
    """What PostgreSQL gets: a surrogate pair is its character; NUL and lone halves U+FFFD."""
    whole = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return whole.replace("\x00", "\ufffd")


def _no_surrogates(text: str) -> str:
    """UTF-8 cannot carry surrogates: only escaped (ASCII) JSON sends them."""
    return "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(_RECORD, max_size=8), ascii_only=st.booleans(),
       notice=st.sampled_from([b"", NOTICE]), shape=st.sampled_from(["list", "keyed", "bare"]))
def test_an_envelope_round_trips(records: list[dict[str, Any]], ascii_only: bool,
                                 notice: bytes, shape: str) -> None:
    """Whatever the records, the page's records decode to exactly what was sent."""
    if not ascii_only:
        records = _texts(records, _no_surrogates)
    data: Any = records if shape != "keyed" else {str(i): r for i, r in enumerate(records)}
    doc = data if shape == "bare" else {
        "success": True, "data": data,
        "meta": {"current_page": 1, "total_pages": 1, "total_records": len(records)}}
    text = json.dumps(doc, ensure_ascii=ascii_only)
    if shape == "keyed" and not records:
        text = text.replace('"data": {}', '"data": []')  # PHP's empty list
    page = answers.judge(200, notice + text.encode(), CTX)
    want = json.loads(json.dumps(records), parse_float=Decimal)
    assert decoded(page) == _texts(want, _stored)
    assert page.enveloped is (shape != "bare")
    assert page.total_records == (None if shape == "bare" else len(records))


# ---- budget ------------------------------------------------------------------------------

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("reset_at", "want"),
    [
        (None, None),
        (NOW + 90, 90.0),  # Unix time
        (NOW - 5, 0.0),  # already past
        (42.0, 42.0),  # seconds to go
        (0.0, 0.0),
        (999_999_999.0, 999_999_999.0),  # the largest "seconds to go"
        (1_000_000_000.0, 0.0),  # the smallest Unix time (long past)
    ],
)
def test_seconds_to_reset(reset_at: float | None, want: float | None) -> None:
    """Reset is a Unix time, or (from some servers) the seconds to go."""
    assert budget.seconds_to_reset(RateHeaders(1000, 10, reset_at), NOW) == want


@pytest.mark.parametrize(("limit", "want"), [(1000, 200), (100, 20), (12, 2), (5, 1), (1, 1)])
def test_reserve_is_a_fifth_of_the_budget(limit: int, want: int) -> None:
    """Fresh reads keep a fifth of the hour (at least one request)."""
    assert budget.reserve(limit) == want


@pytest.mark.parametrize(
    ("remaining", "in_flight", "header_limit", "reset_at", "want"),
    [
        (None, 0, 1000, NOW + 60, None),  # no headers: the configured limit alone
        (999, 0, 1000, NOW + 60, None),
        (201, 0, 1000, NOW + 60, None),
        (200, 0, 1000, NOW + 60, Verdict(Hold.BULK, 60.0)),  # the reserve: bulk waits
        (205, 5, 1000, NOW + 60, Verdict(Hold.BULK, 60.0)),  # our own in flight count
        (2, 0, 1000, NOW + 60, Verdict(Hold.BULK, 60.0)),
        (1, 0, 1000, NOW + 60, Verdict(Hold.ALL, 60.0)),  # the next would leave 0
        (0, 0, 1000, NOW + 60, Verdict(Hold.ALL, 60.0)),
        (4, 3, 1000, NOW + 60, Verdict(Hold.ALL, 60.0)),  # 1 + in flight
        (5, 3, 1000, NOW + 60, Verdict(Hold.BULK, 60.0)),
        (1, 0, 1000, 30.0, Verdict(Hold.ALL, 30.0)),  # Reset as seconds to go
        (1, 0, 1000, None, Verdict(Hold.ALL, budget.UNKNOWN_RESET)),
        (150, 0, 1000, NOW - 10, Verdict(Hold.BULK, 0.0)),
        (30, 0, None, NOW + 60, Verdict(Hold.BULK, 60.0)),  # reserve of the configured 200
        (30, 0, 100, NOW + 60, None),  # reserve of the server's 100: 20
        (20, 0, 100, NOW + 60, Verdict(Hold.BULK, 60.0)),
    ],
)
def test_budget_judge(remaining: int | None, in_flight: int, header_limit: int | None,
                      reset_at: float | None, want: Verdict | None) -> None:
    """Near zero every read holds until Reset; within the reserve only complete reads."""
    headers = RateHeaders(header_limit, remaining, reset_at)
    assert budget.judge(headers, NOW, in_flight, 1000) == want


# ---- plan --------------------------------------------------------------------------------

TODAY = dt.date(2026, 3, 10)
AT = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
DATED = frozenset({"invoices", "transactions"})
MODULES = ("customers", "invoices", "transactions")
BOTH = frozenset({Purpose.FRESH, Purpose.BACKFILL})
HOURS_6 = 6 * 3600.0


def _ago(**kw: float) -> dt.datetime:
    return AT - dt.timedelta(**kw)


def _window(module: str, days: int) -> Read:
    return Read(module, False, Priority.FRESH, TODAY - dt.timedelta(days=days - 1), TODAY)


def _full(module: str, priority: Priority = Priority.BACKFILL) -> Read:
    return Read(module, True, priority)


EVERY_HOUR_AGO = {m: _ago(hours=1) for m in MODULES}


LOOKBACK = {"customers": 2, "invoices": 7, "transactions": 3}


@pytest.mark.parametrize(
    ("purposes", "full_reads", "tried", "seconds", "want"),
    [
        # first pass: complete reads only, no window before one
        (BOTH, {}, {}, HOURS_6,
         [_full("customers"), _full("invoices"), _full("transactions")]),
        (frozenset({Purpose.FRESH}), {}, {}, HOURS_6, []),
        # later passes: windows for dated resources only
        (BOTH, EVERY_HOUR_AGO, {}, HOURS_6,
         [_window("invoices", 7), _window("transactions", 3)]),
        (frozenset({Purpose.FRESH}), EVERY_HOUR_AGO, {}, 0.0,
         [_window("invoices", 7), _window("transactions", 3)]),
        # a complete read is due after full_read seconds, or every pass with 0
        (BOTH, {"customers": _ago(hours=6), "invoices": _ago(hours=5, minutes=59)}, {},
         HOURS_6, [_window("invoices", 7), _full("customers"), _full("transactions")]),
        (BOTH, EVERY_HOUR_AGO, {}, 0.0,
         [_window("invoices", 7), _window("transactions", 3), _full("customers"),
          _full("invoices"), _full("transactions")]),
        (frozenset({Purpose.BACKFILL}), EVERY_HOUR_AGO, {}, 0.0,
         [_full("customers"), _full("invoices"), _full("transactions")]),
        # a tried (failed) attempt spaces complete reads like a finished one
        (BOTH, {}, {"customers": _ago(hours=1)}, HOURS_6,
         [_full("invoices"), _full("transactions")]),
        (BOTH, EVERY_HOUR_AGO | {"customers": _ago(hours=7)}, {"customers": _ago(hours=1)},
         HOURS_6, [_window("invoices", 7), _window("transactions", 3)]),
        (BOTH, EVERY_HOUR_AGO, {"customers": _ago(hours=8)}, HOURS_6,
         [_window("invoices", 7), _window("transactions", 3)]),
        (BOTH, EVERY_HOUR_AGO | {"customers": _ago(hours=9)}, {"customers": _ago(hours=7)},
         HOURS_6, [_window("invoices", 7), _window("transactions", 3), _full("customers")]),
        # the purposes of other kinds plan nothing here
        (frozenset({Purpose.REREAD}), {}, {}, 0.0, []),
        (frozenset({Purpose.RECONCILE}), EVERY_HOUR_AGO, {}, 0.0, []),
        (frozenset({Purpose.REREAD, Purpose.RECONCILE}), {}, {}, 0.0, []),
    ],
)
def test_plan(purposes: frozenset[Purpose], full_reads: dict[str, dt.datetime],
              tried: dict[str, dt.datetime], seconds: float, want: list[Read]) -> None:
    """A pass reads recent windows of dated resources once a complete read exists, and
    every resource completely when its last complete read (or attempt) is old enough."""
    got = plan.plan(MODULES, purposes, today=TODAY, now=AT, full_reads=full_reads, tried=tried,
                    full_read_seconds=seconds, lookback=LOOKBACK.__getitem__, dated=DATED)
    assert got == want


@pytest.mark.parametrize(
    ("purposes", "full_reads", "resync", "want"),
    [
        (BOTH, {}, (dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
         [_full("customers", Priority.FRESH),
          Read("invoices", False, Priority.FRESH, dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
          Read("transactions", False, Priority.FRESH, dt.date(2026, 1, 1),
               dt.date(2026, 1, 31))]),
        (frozenset({Purpose.RESYNC}), EVERY_HOUR_AGO,
         (dt.date(2026, 3, 1), dt.date(2026, 12, 31)),  # never past today
         [_full("customers", Priority.FRESH),
          Read("invoices", False, Priority.FRESH, dt.date(2026, 3, 1), TODAY),
          Read("transactions", False, Priority.FRESH, dt.date(2026, 3, 1), TODAY)]),
    ],
)
def test_plan_resync(purposes: frozenset[Purpose], full_reads: dict[str, dt.datetime],
                     resync: tuple[dt.date, dt.date], want: list[Read]) -> None:
    """Resync reads its range for dated resources and the others completely, at once."""
    got = plan.plan(MODULES, purposes, today=TODAY, now=AT, full_reads=full_reads, tried={},
                    full_read_seconds=HOURS_6, lookback=LOOKBACK.__getitem__, dated=DATED,
                    resync=resync)
    assert got == want


def test_read_labels() -> None:
    """A read names itself in logs and progress."""
    assert _full("customers").label == "complete read"
    assert _window("invoices", 7).label == "2026-03-04..2026-03-10"


# ---- reader.Listing.stable / moved_down --------------------------------------------------

def _ids(n: int) -> dict[int, None]:
    return dict.fromkeys(range(1, n + 1))


@pytest.mark.parametrize(
    ("listing", "stable"),
    [
        (Listing(_ids(250), [250, 250, 250], ended=True, pages=3), True),
        (Listing({}, [0], ended=True, pages=1), True),  # an empty resource
        (Listing(_ids(250), [250, 250], ended=False, pages=2), False),  # a page missing
        (Listing(_ids(250), [250, 251, 251], ended=True, pages=3), False),  # total changed
        (Listing(_ids(249), [250] * 3, ended=True, pages=3), False),  # a record skipped
        (Listing(_ids(251), [250] * 3, ended=True, pages=3), False),  # more than the total
        (Listing(_ids(250), [250] * 3, repeated=True, ended=True, pages=3), False),
        (Listing(_ids(250), [None] * 3, ended=True, pages=3), False),  # no meta
        (Listing(_ids(250), [None, 250, 250], ended=True, pages=3), False),
        (Listing(_ids(250), [], ended=True, pages=0), False),
    ],
)
def test_listing_stable(listing: Listing, stable: bool) -> None:
    """Stable (§6, with meta): ended, one total on every page, no id twice, all of them."""
    assert listing.stable is stable


@pytest.mark.parametrize(
    ("listing", "drifted"),
    [
        (Listing(_ids(250), [250, 250, 250], ended=True, pages=3), False),
        (Listing(_ids(250), [250, 252, 252], ended=True, pages=3), True),  # inserted
        (Listing(_ids(250), [252, 250, 250], ended=True, pages=3), True),  # deleted
        (Listing(_ids(250), [None] * 3, repeated=True, ended=True, pages=3), True),
        (Listing(_ids(250), [None] * 3, ended=True, pages=3), False),
    ],
)
def test_listing_drifted(listing: Listing, drifted: bool) -> None:
    """Drifted: an id came twice or the total changed while the read ran."""
    assert listing.drifted is drifted


@pytest.mark.parametrize("after", [b"\n<br />\n<b>Deprecated</b>: f() in x.php on line [3]<br />",
                                   b"<b>Notice</b>: {main}", b" \n"])
def test_php_output_after_the_envelope_is_ignored(after: bytes) -> None:
    """A notice PHP prints after ``echo json_encode(...)`` does not hide the page."""
    body = (b'{"success":true,"data":[{"id":7,"amount":"0.10"}],'
            b'"meta":{"current_page":1,"total_pages":1,"total_records":1}}') + after
    page = answers.judge(200, body, CTX)
    assert [msgspec.json.decode(r) for r in page.records] == [{"id": 7, "amount": "0.10"}]
    assert page.total_records == 1


def test_success_false_with_an_unknown_message_does_not_claim_http_400() -> None:
    body = json.dumps({"success": False, "message": "Something odd"}).encode()
    with pytest.raises(RequestRejected) as info:
        answers.judge(200, body, CTX)
    assert "HTTP 400" not in str(info.value)
    assert '"Something odd"' in str(info.value)


# ---- answers.judge_record: GET {resource}/{id} --------------------------------------------

ONE = Context("crm", "customers", "https://crm.example.com/api/v2/customers/17",
              "$SYNCD_CRM_API_KEY")


@pytest.mark.parametrize("body", [
    b'{"success": true, "data": {"id": 17, "amount": 1.10}}',
    b'{"success": "1", "data": [{"id": "17", "amount": 1.10}]}',
    b'{"success": true, "data": [{"id": 16}, {"id": 17, "amount": 1.10}]}',
    b'{"id": 17, "amount": 1.10}',  # a bare record
    b'[{"id": 17, "amount": 1.10}]',  # a bare list of one
    NOTICE + b'{"success": true, "data": {"id": 17, "amount": 1.10}}',
])
def test_judge_record_finds_the_record_in_any_shape(body: bytes) -> None:
    """The asked record, as raw bytes, whatever shape carries it."""
    found = answers.judge_record(200, body, ONE, 17)
    assert found is not None
    assert msgspec.json.decode(found)["id"] in (17, "17")
    assert b"1.10" in bytes(found)  # money untouched


@pytest.mark.parametrize(("status", "body"), [
    (404, b'{"success": false, "message": "Record not found"}'),
    (404, b"<html><h1>Not Found</h1></html>"),
    (410, b""),
    (200, b'{"success": false, "message": "Customer not found"}'),
])
def test_judge_record_not_found(status: int, body: bytes) -> None:
    """404 (JSON or HTML), 410, or success: false saying not found: the record is gone."""
    assert answers.judge_record(status, body, ONE, 17) is None


@pytest.mark.parametrize(("status", "body", "error", "says"), [
    (401, b'{"success": false, "message": "Invalid API key"}', SourceUnauthorized,
     "refused the key of source 'crm'"),
    (403, b'{"success": false, "message": "Forbidden"}', ModuleForbidden,
     "reading one record (https://crm.example.com/api/v2/customers/17) was refused"),
    (200, b'{"success": false, "message": "Permission denied"}', ModuleForbidden,
     "deletions of customers cannot be confirmed"),
    (500, b'{"success": false, "message": "db"}', RetriableError, "HTTP 500"),
    (200, b"<html>Whoops</html>", RetriableError, "not JSON"),
    (200, b'{"success": true, "data": {"id": 18}}', RequestRejected, "without record 17"),
    (200, b'{"success": true, "data": null}', RequestRejected, "marks none"),
    (200, b'{"success": true, "data": []}', RequestRejected, "without a 404"),
    (200, b'{"success": true}', RequestRejected, "please report it"),
])
def test_judge_record_failures(status: int, body: bytes, error: type[ApiError],
                               says: str) -> None:
    """Refusals and answers without the record never count as "gone"."""
    with pytest.raises(error) as info:
        answers.judge_record(status, body, ONE, 17)
    assert says in str(info.value)


@pytest.mark.parametrize(("raw", "want"), [
    (b'{"id": 5}', 5), (b'{"id": "5"}', 5), (b'{"id": null}', None), (b'{"x": 1}', None),
    (b'{"id": "abc"}', None), (b'[1]', None), (b'{"id": 1.5}', None),
])
def test_record_id(raw: bytes, want: int | None) -> None:
    """An id is a number or a digit string; anything else is no id."""
    assert answers.record_id(msgspec.Raw(raw)) == want


def test_confirmations_are_a_quarter_of_the_bulk_share() -> None:
    """1000/h leaves 800 for bulk reads: 200 confirmations per complete read, at least 1."""
    assert budget.confirmations(1000) == 200
    assert budget.confirmations(20) == 4
    assert budget.confirmations(1) == 1


R = [msgspec.Raw(b'{"id": 1}')]


@pytest.mark.parametrize(("page", "number", "size", "want"), [
    (Page(R * 100, 1, 3, 250), 1, 100, None),  # meta: more pages announced
    (Page(R * 50, 3, 3, 250), 3, 100, True),  # meta: the last page
    (Page([], 3, 2, 190), 3, 100, True),  # meta: past the last, the listing shrank
    (Page([], 2, 3, 250), 2, 100, False),  # meta: empty before the announced last
    (Page([], 1, 0, 0), 1, 100, True),  # meta: an empty resource
    (Page(R * 100, 3, 3, 300), 3, 100, True),  # meta: a full last page needs no more
    (Page(R * 100), 1, 100, None),  # no meta: a full first page
    (Page(R * 20), 1, 20, None),  # no meta: short of limit, maybe capped: page 2 decides
    (Page([]), 2, 20, True),  # no meta: an empty page
    (Page(R * 7), 4, 20, True),  # no meta: a short page
    (Page(R * 20), 4, 20, None),  # no meta: a full page
    (Page([]), 1, 100, True),  # no meta: an empty resource
])
def test_last_page(page: Page, number: int, size: int, want: bool | None) -> None:
    """A listing ends at the page its meta calls the last, else at a short or empty page."""
    assert last_page(page, number, size) is want
