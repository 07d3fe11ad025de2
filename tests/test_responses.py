"""Classifying SKYBIZ answers: every row of the docs' error reference, and success shapes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from syncd.core import errors
from syncd.kinds.skybiz.answers import Context, classify

CTX = Context("main", "sales", "Sales", "SYNCD_MAIN_API_KEY / _API_SECRET")


def body(status: str = "success", **extra: Any) -> bytes:
    doc = {"status": status, "timestamp": "2026-04-07T10:45:32+08:00",
           "request_id": "req_6612f3a7b84c2", **extra}
    return json.dumps(doc).encode()


def error_body(message: str) -> bytes:
    return body("error", message=message)


# (HTTP status, message) rows of the docs' error reference that a read can meet, and the
# exception class syncd turns each into.
ERROR_REFERENCE = [
    (400, "API key and secret are required", errors.RequestRejected),
    (400, "action is required. Use 'read' or 'create'", errors.RequestRejected),
    (400, "Invalid action. Use 'read' or 'create'", errors.RequestRejected),
    (400, "Invalid JSON input", errors.RequestRejected),
    (400, "date_from and date_to are required", errors.RequestRejected),
    (400, "Invalid date format. Use YYYY-MM-DD format.", errors.RequestRejected),
    (400, "Invalid date values. Please provide valid dates.", errors.RequestRejected),
    (400, "Date range cannot exceed 31 days.", errors.RequestRejected),
    (400, "date_from cannot be after date_to.", errors.RequestRejected),
    (400, "fields must be an array", errors.RequestRejected),
    (400, "filters must be an array", errors.RequestRejected),
    (400, "No valid fields requested", errors.RequestRejected),
    (401, "Invalid API credentials", errors.SourceUnauthorized),
    (401, "Invalid API credentials: No expiry date set. Please generate new credentials.",
     errors.SourceUnauthorized),
    (401, "API key expired on 2026-01-31. Please delete the expired credentials and create a "
          "new API key set to continue using the API.", errors.SourceUnauthorized),
    (403, "API integration is disabled for this account", errors.ModuleForbidden),
    (403, "HTTPS is required for Production mode", errors.ModuleForbidden),
    (403, "Developer mode only allows localhost origins.", errors.ModuleForbidden),
    (403, "Sales read permission denied", errors.ModuleForbidden),
    (403, "Sales module not found", errors.ModuleForbidden),
    (404, "Store not found", errors.EndpointMisconfigured),
    (405, "Only POST method allowed", errors.EndpointMisconfigured),
    (429, "Rate limit exceeded", errors.RateLimited),
    (500, "Internal server error", errors.RetriableError),
    (500, "Database connection failed", errors.RetriableError),
]


@pytest.mark.parametrize(("status", "message", "kind"), ERROR_REFERENCE)
def test_error_reference_rows(status: int, message: str, kind: type[Exception]) -> None:
    """Each documented error maps to the exception that says what to do, with its request_id."""
    with pytest.raises(kind) as info:
        classify(status, error_body(message), CTX)
    exc = info.value
    assert isinstance(exc, errors.ApiError)
    assert type(exc) is kind
    assert exc.message == message
    assert exc.request_id == "req_6612f3a7b84c2"
    assert exc.status == status
    sentence = str(exc)
    assert sentence.endswith(".") or sentence.endswith(")")
    assert "\n" not in sentence


@pytest.mark.parametrize(("status", "message", "kind"), ERROR_REFERENCE)
def test_error_status_in_a_200_body_is_honoured(
    status: int, message: str, kind: type[Exception]
) -> None:
    """A 200 whose body says status=error is classified by its message, never as data."""
    with pytest.raises(errors.ApiError) as info:
        classify(200, error_body(message), CTX)
    assert isinstance(info.value, kind)


def test_expired_key_sentence_says_to_register_a_new_key() -> None:
    """The 401 expiry message names the date and the one fix: run syncd register."""
    msg = "API key expired on 2026-01-31. Please delete the expired credentials and create a new"
    with pytest.raises(errors.SourceUnauthorized) as info:
        classify(401, error_body(msg), CTX)
    assert "run syncd register" in str(info.value)
    assert "expired on 2026-01-31:" in str(info.value)


def test_permission_sentence_names_module_and_administrator() -> None:
    """A 403 permission error tells the user who can fix it and what to ask for."""
    with pytest.raises(errors.ModuleForbidden) as info:
        classify(403, error_body("Sales read permission denied"), CTX)
    assert "administrator" in str(info.value)
    assert "Sales read permission" in str(info.value)


@pytest.mark.parametrize("status_word", ["success", "response", "SUCCESS", "ok"])
@pytest.mark.parametrize("mode", [1, "1", 2, "2"])
def test_success_variants(status_word: str, mode: object) -> None:
    """'success' and 'response' both mean success; mode may be a number or a string."""
    raw = body(status_word, data={"requested_by": "k", "mode": mode, "total_returned": 1,
                                  "date_range": {"from": "2026-04-01", "to": "2026-04-30"},
                                  "data": [{"CusCode": "C1"}]})
    page = classify(200, raw, CTX)
    assert page.records == [{"CusCode": "C1"}]
    assert page.mode == str(mode)


def test_numbers_become_decimal_exactly() -> None:
    """0.1 + 0.2 style amounts keep their exact digits; integers stay int."""
    raw = (b'{"status":"success","request_id":"r","data":{"total_returned":1,"data":'
           b'[{"HCNetAmt": 0.30000000000000004441, "Qty": 3, "Rate": 12.30}]}}')
    rec = classify(200, raw, CTX).records[0]
    assert rec["HCNetAmt"] == Decimal("0.30000000000000004441")
    assert str(rec["Rate"]) == "12.30"
    assert rec["Qty"] == 3
    assert isinstance(rec["Qty"], int)


def test_php_warning_before_json_is_skipped() -> None:
    """A PHP notice printed before a complete JSON body does not cost a retry."""
    warning = (b'<br />\n<b>Warning</b>:  Undefined array key "x" in /var/www/a.php '
               b"on line 4<br />\n")
    raw = warning + body(data={"total_returned": 0, "data": []})
    page = classify(200, raw, CTX)
    assert page.records == []
    assert page.skipped_prefix == len(warning)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"status":"success","data":{"data":[{"a":1},',  # truncated
        b"",  # empty
        b"<html>Bad gateway</html>",  # not JSON at all
        b'{"status":"success","data":{"total_returned":3,"data":[{"a":1}]}}',  # short
        b'{"status":"success","data":{"data":"oops"}}',  # wrong shape
    ],
)
def test_broken_200_bodies_are_transient(raw: bytes) -> None:
    """Truncated, empty, non-JSON or incomplete 200 answers are retried, not loaded."""
    with pytest.raises(errors.RetriableError):
        classify(200, raw, CTX)


def test_explicit_zero_without_records_array_is_empty() -> None:
    """total_returned 0 with no records array is an empty window, not an error."""
    assert classify(200, body(data={"total_returned": 0}), CTX).records == []
    with pytest.raises(errors.RetriableError):
        classify(200, body(data={"mode": 1}), CTX)


def test_errors_with_non_json_bodies_still_classify_by_status() -> None:
    """A 502 from a proxy with an HTML body is retriable; a 404 page is a config error."""
    with pytest.raises(errors.RetriableError):
        classify(502, b"<html>Bad Gateway</html>", CTX)
    with pytest.raises(errors.EndpointMisconfigured, match="base_url"):
        classify(404, b"<html>Not Found</html>", CTX)


def test_retry_after_is_carried() -> None:
    """The parsed Retry-After travels on the RateLimited error."""
    with pytest.raises(errors.RateLimited) as info:
        classify(429, error_body("Rate limit exceeded"), CTX, retry_after=7.0)
    assert info.value.retry_after == 7.0


def test_records_sent_as_an_object_are_taken_in_key_order() -> None:
    """PHP encodes a list with gaps in its keys as an object: its values are the records."""
    raw = body(data={"total_returned": 2, "data": {"10": {"Doc1No": "B"}, "2": {"Doc1No": "A"}}})
    assert classify(200, raw, CTX).records == [{"Doc1No": "A"}, {"Doc1No": "B"}]
