"""Turn one SKYBIZ HTTP answer into records or into the right error (pure, no I/O).

Order per the docs' parsing recommendation: HTTP status, then the JSON body, then its
``status`` field. Liberal in what we accept: ``"success"`` and ``"response"`` both mean
success, ``mode`` may be a number or a string, a PHP warning printed before the JSON is
skipped. Numbers become ``Decimal`` (never float) so money stays exact.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from syncd.core.body import TOO_DEEP, UNREADABLE, Envelope, json_start, parse, prepare
from syncd.core.errors import (
    ApiError,
    EndpointMisconfigured,
    ModuleForbidden,
    RateLimited,
    RequestRejected,
    RetriableError,
    SourceUnauthorized,
)
from syncd.credentials.redaction import said as server_words

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


def classify(status: int, body: bytes | bytearray, ctx: Context,
             retry_after: float | None = None) -> Page:
    """The Page of a successful read, or raise the ApiError that says what to do."""
    try:
        skipped = json_start(body)
        parsed = parse(prepare(body))
    except ValueError:
        skipped, parsed = 0, parse(b"")
    judge(status, parsed.envelope, ctx, retry_after)
    with unreadable_as_retriable(status, ctx):
        records = [_record(r) for r in parsed.records]
    return Page(records, parsed.envelope.request_id, parsed.envelope.mode, skipped)


def _record(raw: msgspec.Raw) -> dict[str, Any]:
    """One record as a dict; invalid UTF-8 inside it is replaced (U+FFFD), not refused."""
    try:
        return _RECORD.decode(raw)
    except msgspec.DecodeError:
        repaired = bytes(raw).decode("utf-8", "replace").encode()
        return _RECORD.decode(repaired)


@contextlib.contextmanager
def unreadable_as_retriable(status: int, ctx: Context) -> Iterator[None]:
    """A parser failure on bytes already judged (depth, a number out of range) becomes the
    RetriableError of a body that cannot be read: never an exception of msgspec's own."""
    try:
        yield
    except RecursionError:
        raise _unreadable(status, ctx, TOO_DEEP) from None
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise _unreadable(status, ctx, UNREADABLE) from None


def _unreadable(status: int, ctx: Context, fault: str) -> RetriableError:
    return RetriableError(f"{ctx.module}: the server answered {status} with a body that "
                          f"{fault}; syncd retries.", status=status, module=ctx.module)


# Small reads (check, tests) get plain dicts; numbers as Decimal, never float.
_RECORD = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
_VALUE = msgspec.json.Decoder(float_hook=Decimal)


def parse_json(body: bytes | bytearray) -> tuple[Any, int]:
    """A small JSON answer (create, registration) with numbers as Decimal/int, and the
    bytes of PHP warnings skipped before it; ValueError when there is no JSON."""
    start = json_start(body)
    try:
        return _VALUE.decode(memoryview(body)[start:]), start
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        # Nesting deeper than the stack or a number out of range is no usable answer either.
        raise ValueError("the body is not JSON syncd can read") from None


def _envelope_of(doc: Any) -> Envelope:
    """The envelope fields of a parsed small answer."""
    if not isinstance(doc, dict):
        return Envelope(parsed=doc is not None)

    def text(key: str) -> str | None:
        return None if doc.get(key) is None else str(doc[key])

    return Envelope(parsed=True, status=text("status"), message=text("message"),
                    request_id=text("request_id"))


def judge(status: int, env: Envelope, ctx: Context, retry_after: float | None = None) -> None:
    """Raise the error an answer means; return quietly for a complete successful read."""
    if not 200 <= status < 300:
        raise _error_for(status, env.message, env.request_id, ctx, retry_after)
    kw: dict[str, Any] = {"status": status, "request_id": server_words(env.request_id, 100),
                          "module": ctx.module}
    if not env.parsed:
        fault = env.fault or "is not complete JSON (truncated or garbled)"
        raise RetriableError(
            f"{ctx.module}: the server answered {status} with a body that {fault}; syncd "
            "retries.", **kw)
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
    status: int, body: bytes | bytearray, ctx: Context, retry_after: float | None = None
) -> tuple[dict[str, Any], str | None]:
    """The ``data`` of a create answer and its request_id, or raise the error it means."""
    try:
        doc, _ = parse_json(body)
    except ValueError:
        doc = None
    env = _envelope_of(doc)
    if not 200 <= status < 300:
        raise _error_for(status, env.message, env.request_id, ctx, retry_after)
    kw: dict[str, Any] = {"status": status, "request_id": server_words(env.request_id, 100),
                          "module": ctx.module}
    if not isinstance(doc, dict):
        raise RetriableError(f"{ctx.module}: the server answered a create request with a body "
                             "that is not JSON syncd can read (cut off, garbled or nested too "
                             "deep); syncd retries.", **kw)
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
    # The server's words go into sentences, logs and last_error: an echo of the request
    # must not carry the credentials there, nor a 64 MB message, nor terminal escapes.
    message, request_id = server_words(message), server_words(request_id, 100)
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
    expired = re.search(r"expired on ([0-9]{4}-[0-9]{2}-[0-9]{2})", m)
    if expired or "no expiry" in m:
        what = f"expired on {expired[1]}" if expired else "has no expiry date"
        return (f"The API key of source {ctx.source!r} {what}: delete it in the SKYBIZ "
                "portal, then run syncd register to get a new key set (or update "
                f"{ctx.credential_hint})")
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


