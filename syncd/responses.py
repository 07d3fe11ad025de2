"""Turn one SKYBIZ HTTP answer into records or into the right error (pure, no I/O).

Order per the docs' parsing recommendation: HTTP status, then the JSON body, then its
``status`` field. Liberal in what we accept: ``"success"`` and ``"response"`` both mean
success, ``mode`` may be a number or a string, a PHP warning printed before the JSON is
skipped. Numbers become ``Decimal`` (never float) so money stays exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from syncd.errors import (
    ApiError,
    EndpointMisconfigured,
    ModuleForbidden,
    RateLimited,
    RequestRejected,
    RetriableError,
    SourceUnauthorized,
)

SUCCESS = frozenset({"success", "response", "ok"})


@dataclass(frozen=True, slots=True)
class Page:
    """The records of one successful read and what the server said about them."""

    records: list[dict[str, Any]]
    request_id: str | None
    mode: str | None
    skipped_prefix: int = 0  # bytes of non-JSON (PHP warnings) before the body


@dataclass(frozen=True, slots=True)
class Context:
    """Who asked: used only to phrase the error sentence."""

    source: str
    module: str
    label: str
    credential_hint: str  # where the user sets the credentials


def parse_json(body: bytes) -> tuple[Any, int]:
    """The JSON value in ``body`` with numbers as Decimal/int, and the prefix bytes skipped."""
    start = body.find(b"{")
    if start < 0:
        raise ValueError("no JSON object in the body")
    text = body[start:].decode("utf-8", errors="replace")
    return json.loads(text, parse_float=Decimal, parse_constant=str), start


def classify(status: int, body: bytes, ctx: Context, retry_after: float | None = None) -> Page:
    """The Page of a successful read, or raise the ApiError that says what to do."""
    try:
        doc, skipped = parse_json(body)
    except ValueError:
        doc, skipped = None, 0
    envelope = doc if isinstance(doc, dict) else {}
    message = _text(envelope.get("message"))
    request_id = _text(envelope.get("request_id"))
    if 200 <= status < 300:
        if doc is None:
            raise RetriableError(
                f"{ctx.module}: the server answered 200 with a body that is not complete JSON "
                "(truncated or garbled); syncd retries.",
                status=status, request_id=request_id, module=ctx.module)
        state = str(envelope.get("status", "")).strip().lower()
        if state not in SUCCESS:
            raise _error_for(_status_of_message(message), message, request_id, ctx, retry_after)
        return _page(envelope, request_id, skipped, ctx)
    raise _error_for(status, message, request_id, ctx, retry_after)


def _page(envelope: dict[str, Any], request_id: str | None, skipped: int, ctx: Context) -> Page:
    data = envelope.get("data")
    if isinstance(data, dict):
        mode = data.get("mode")
        total = data.get("total_returned")
        records = data.get("data", [])
    else:
        mode, total, records = None, None, data if data is not None else []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RetriableError(
            f"{ctx.module}: the server answered success without a list of records; syncd retries.",
            status=200, request_id=request_id, module=ctx.module)
    if isinstance(total, int | str) and str(total).isdigit() and int(total) != len(records):
        raise RetriableError(
            f"{ctx.module}: the server announced {total} records but sent {len(records)}; "
            "syncd retries.", status=200, request_id=request_id, module=ctx.module)
    return Page(records, request_id, None if mode is None else str(mode), skipped)


def _status_of_message(message: str | None) -> int:
    """A 2xx answer with ``status: error``: infer the HTTP status its message belongs to."""
    m = (message or "").lower()
    table = (
        ("rate limit", 429),
        ("invalid api credentials", 401), ("api key expired", 401),
        ("permission denied", 403), ("module not found", 403), ("https is required", 403),
        ("only allows localhost", 403), ("integration is disabled", 403),
        ("internal server error", 500), ("database connection failed", 500),
        ("only post method", 405), ("store not found", 404),
    )
    return next((code for needle, code in table if needle in m), 400)


def _error_for(
    status: int, message: str | None, request_id: str | None, ctx: Context,
    retry_after: float | None,
) -> ApiError:
    said = f" (\"{message}\")" if message else ""
    kw: dict[str, Any] = {"status": status, "message": message, "request_id": request_id,
                          "module": ctx.module, "retry_after": retry_after}
    if status == 429:
        return RateLimited(f"{ctx.module}: the server's rate limit was hit{said}; syncd slows "
                           "down and retries.", **kw)
    if status >= 500 or status in (408, 425):
        return RetriableError(f"{ctx.module}: the server failed with HTTP {status}{said}; syncd "
                              "retries.", **kw)
    if status == 401:
        return SourceUnauthorized(_unauthorized(message, ctx) + said.replace(" (", " (server: "),
                                  **kw)
    if status == 403:
        return ModuleForbidden(f"{ctx.module}: access refused{said}; {_forbidden_fix(message, ctx)}",
                               **kw)
    if status in (404, 405):
        return EndpointMisconfigured(
            f"{ctx.module}: HTTP {status}{said} — the URL is not a SKYBIZ module endpoint; check "
            f"base_url (and endpoints) of source {ctx.source!r} in the config.", **kw)
    return RequestRejected(f"{ctx.module}: the server rejected the request with HTTP {status}"
                           f"{said}; this is a syncd bug or an unsupported server — please "
                           "report it with the request_id.", **kw)


def _unauthorized(message: str | None, ctx: Context) -> str:
    m = (message or "").lower()
    if "expired" in m or "no expiry" in m:
        return (f"The API key of source {ctx.source!r} is expired or has no expiry date: delete "
                "it in the SKYBIZ portal, register a new key set and update "
                f"{ctx.credential_hint}")
    return (f"The SKYBIZ API refused the credentials of source {ctx.source!r}: check "
            f"{ctx.credential_hint} (no stray spaces) or re-register the key set")


def _forbidden_fix(message: str | None, ctx: Context) -> str:
    m = (message or "").lower()
    if "https" in m:
        return "use an https:// base_url."
    if "localhost" in m:
        return ("the key is in Developer mode; ask your SKYBIZ administrator to switch API "
                "integration to Production mode.")
    if "disabled" in m:
        return "ask your SKYBIZ administrator to enable API integration for this store."
    if "not found" in m:
        return (f"ask your SKYBIZ administrator to add {ctx.label} to this key's module "
                "permissions.")
    return (f"ask your SKYBIZ administrator to enable {ctx.label} read permission for this key "
            f"(portal: API Credentials > Modules), or remove {ctx.module!r} from modules.")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
