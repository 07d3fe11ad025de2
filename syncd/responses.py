"""Turn one SKYBIZ HTTP answer into records or into the right error (pure, no I/O).

Order per the docs' parsing recommendation: HTTP status, then the JSON body, then its
``status`` field. Liberal in what we accept: ``"success"`` and ``"response"`` both mean
success, ``mode`` may be a number or a string, a PHP warning printed before the JSON is
skipped. Numbers become ``Decimal`` (never float) so money stays exact.
"""

from __future__ import annotations

import json
import re
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
class Envelope:
    """What a body says about itself, however it was parsed (here or by PostgreSQL)."""

    parsed: bool  # the body was complete JSON
    status: str | None = None
    message: str | None = None
    request_id: str | None = None
    mode: str | None = None
    total_returned: str | None = None
    records: int | None = None  # length of the records array; None: there is none
    objects: int | None = None  # how many of those records are JSON objects


@dataclass(frozen=True, slots=True)
class Context:
    """Who asked: used only to phrase the error sentence."""

    source: str
    module: str
    label: str
    credential_hint: str  # where the user sets the credentials


def parse_json(body: bytes) -> tuple[Any, int]:
    """The JSON value in ``body`` with numbers as Decimal/int, and the prefix bytes skipped."""
    start = json_start(body)
    text = body[start:].decode("utf-8", errors="replace")
    return json.loads(text, parse_float=Decimal, parse_constant=str), start


def json_start(body: bytes) -> int:
    """Where the JSON object starts: a PHP warning printed before it is skipped."""
    start = body.find(b"{")
    if start < 0:
        raise ValueError("no JSON object in the body")
    return start


_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def prepare_body(body: bytes) -> bytes:
    """The JSON part of a body, ready for PostgreSQL: PHP warnings before it skipped, and
    ``\\u0000`` and unpaired surrogate escapes (text PostgreSQL cannot store) made U+FFFD.

    The scan looks only at ``\\u0000`` / ``\\uD8..`` escapes (a literal-prefixed search),
    and the body is copied only when one of them has to change.
    """
    start = json_start(body)
    if start:
        body = body[start:]
    if b"\\u0000" not in body and _surrogates_paired(body):
        return body
    cuts: list[tuple[int, int]] = []
    paired_low = -1  # start of a low surrogate already matched to the high before it
    for m in _SUSPECT.finditer(body):
        at = m.start()
        if at == paired_low or _escaped(body, at):
            continue
        code = int(body[at + 2:at + 6], 16)
        if 0xD800 <= code <= 0xDBFF and _is_low(body, at + 6):
            paired_low = at + 6
            continue
        cuts.append((at, at + 6))
    if not cuts:
        return body
    parts, last = [], 0
    for a, b in cuts:
        parts += [body[last:a], b"\\ufffd"]
        last = b
    parts.append(body[last:])
    return b"".join(parts)


_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _surrogates_paired(body: bytes) -> bool:
    """Fast (C-speed) check that every surrogate escape is half of a valid pair."""
    if b"\\ud" not in body and b"\\uD" not in body:
        return True
    return len(_SURROGATE.findall(body)) == 2 * len(_PAIR.findall(body))


def _escaped(body: bytes, at: int) -> bool:
    """Whether the backslash at ``at`` is itself escaped (an odd run of backslashes)."""
    run = 0
    while at - run - 1 >= 0 and body[at - run - 1] == 0x5C:
        run += 1
    return run % 2 == 1


def _is_low(body: bytes, at: int) -> bool:
    """Whether a low-surrogate escape (\\uDC00-\\uDFFF) starts at ``at``."""
    chunk = body[at:at + 6]
    return (len(chunk) == 6 and chunk[:2] == b"\\u" and chunk[2:3] in b"dD"
            and chunk[3:4] in b"cdefCDEF")


def classify(status: int, body: bytes, ctx: Context, retry_after: float | None = None) -> Page:
    """The Page of a successful read, or raise the ApiError that says what to do."""
    try:
        doc, skipped = parse_json(body)
    except ValueError:
        doc, skipped = None, 0
    envelope, records = _envelope(doc)
    judge(status, envelope, ctx, retry_after)
    return Page(records, envelope.request_id, envelope.mode, skipped)


def _envelope(doc: Any) -> tuple[Envelope, list[dict[str, Any]]]:
    if not isinstance(doc, dict):
        return Envelope(parsed=doc is not None), []
    data = doc.get("data")
    inner = data if isinstance(data, dict) else {}
    records = data if isinstance(data, list) else _as_list(inner.get("data"))
    rows = records if isinstance(records, list) else []
    objects = [r for r in rows if isinstance(r, dict)]
    return Envelope(
        parsed=True, status=_text(doc.get("status")), message=_text(doc.get("message")),
        request_id=_text(doc.get("request_id")), mode=_text(inner.get("mode")),
        total_returned=_text(inner.get("total_returned")),
        records=len(rows) if isinstance(records, list) else None, objects=len(objects),
    ), objects


def _as_list(records: Any) -> Any:
    """PHP encodes a list whose keys are not 0..n-1 as an object: take its values in order."""
    if isinstance(records, dict) and records and all(isinstance(v, dict)
                                                     for v in records.values()):
        return [records[k] for k in sorted(records, key=lambda k: (not k.isdigit(), int(k)
                                                                   if k.isdigit() else 0, k))]
    return records


def judge(status: int, env: Envelope, ctx: Context, retry_after: float | None = None) -> None:
    """Raise the error an answer means; return quietly for a complete successful read."""
    if not 200 <= status < 300:
        raise _error_for(status, env.message, env.request_id, ctx, retry_after)
    kw: dict[str, Any] = {"status": status, "request_id": env.request_id, "module": ctx.module}
    if not env.parsed:
        raise RetriableError(
            f"{ctx.module}: the server answered 200 with a body that is not complete JSON "
            "(truncated or garbled); syncd retries.", **kw)
    if (env.status or "").strip().lower() not in SUCCESS:
        raise _error_for(_status_of_message(env.message), env.message, env.request_id, ctx,
                         retry_after)
    total = (env.total_returned or "").strip()
    # No records array is only believable when the server says, explicitly, zero records:
    # an empty answer would otherwise mark every document of the window as deleted.
    if (env.records is None and total != "0") or (env.records or 0) != (env.objects or 0):
        raise RetriableError(
            f"{ctx.module}: the server answered success without a list of records; syncd "
            "retries.", **kw)
    if total.isdigit() and int(total) != (env.records or 0):
        raise RetriableError(
            f"{ctx.module}: the server announced {total} records but sent {env.records}; "
            "syncd retries.", **kw)


def judge_create(
    status: int, body: bytes, ctx: Context, retry_after: float | None = None
) -> tuple[dict[str, Any], str | None]:
    """The ``data`` of a create answer and its request_id, or raise the error it means."""
    try:
        doc, _ = parse_json(body)
    except ValueError:
        doc = None
    env = _envelope(doc)[0]
    if not 200 <= status < 300:
        raise _error_for(status, env.message, env.request_id, ctx, retry_after)
    kw: dict[str, Any] = {"status": status, "request_id": env.request_id, "module": ctx.module}
    if not isinstance(doc, dict):
        raise RetriableError(f"{ctx.module}: the server answered a create request with a body "
                             "that is not complete JSON; syncd retries.", **kw)
    if (env.status or "").strip().lower() not in SUCCESS:
        raise _error_for(_status_of_message(env.message), env.message, env.request_id, ctx,
                         retry_after)
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise RetriableError(f"{ctx.module}: the server answered a create request without a "
                             "batch summary; syncd retries.", **kw)
    return data, env.request_id


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
        server = f" (server said: \"{message}\")" if message else ""
        return SourceUnauthorized(f"{_unauthorized(message, ctx)}{server}.", **kw)
    if status == 403:
        fix = _forbidden_fix(message, ctx)
        return ModuleForbidden(f"{ctx.module}: access refused{said}; {fix}", **kw)
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
    if "create permission" in m:
        return (f"ask your SKYBIZ administrator to enable {ctx.label} create permission for "
                "this key (portal: API Credentials > Modules); its outbox documents wait.")
    if "not found" in m:
        return (f"ask your SKYBIZ administrator to add {ctx.label} to this key's module "
                "permissions.")
    return (f"ask your SKYBIZ administrator to enable {ctx.label} read permission for this key "
            f"(portal: API Credentials > Modules), or remove {ctx.module!r} from modules.")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
