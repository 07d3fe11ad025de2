"""Turn one CloudOnex HTTP answer into a page of records (or one record, ``judge_record``)
or into the right error (pure).

Liberal in what it accepts, as real servers send it: a PHP notice before the JSON, the
bare JSON array of older servers (no envelope, no meta), ``success`` as ``true``, ``1`` or
``"true"``, meta numbers as strings, records sent as a keyed object. An HTML page with 200
(a proxy's or PHP's error page) is a retriable fault, never "no records". Records stay
raw bytes (``msgspec.Raw``) for the loader; money is never decoded here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from syncd.core import copytext
from syncd.core.body import ABSENT, TOO_DEEP, UNREADABLE, first_byte, prepare, records_of
from syncd.core.errors import (
    ApiError,
    EndpointMisconfigured,
    ModuleForbidden,
    RateLimited,
    RequestRejected,
    RetriableError,
    SourceUnauthorized,
)
from syncd.core.model import FieldType
from syncd.credentials.redaction import said as server_words


@dataclass(frozen=True, slots=True)
class Context:
    """Who asked: used only to phrase the error sentence."""

    source: str
    module: str
    url: str  # without query string: never holds a credential
    key_hint: str  # where the user sets the key


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its records and what the server said about the listing."""

    records: list[msgspec.Raw]
    current_page: int | None = None
    total_pages: int | None = None
    total_records: int | None = None
    enveloped: bool = True  # False: an older server's bare array (no meta)


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """``X-RateLimit-*`` of one answer; any may be absent."""

    limit: int | None
    remaining: int | None
    reset_at: float | None  # Unix seconds

    @classmethod
    def read(cls, headers: Any) -> RateHeaders:
        return cls(_int(headers.get("X-RateLimit-Limit")),
                   _int(headers.get("X-RateLimit-Remaining")),
                   _float(headers.get("X-RateLimit-Reset")))

    @property
    def present(self) -> bool:
        return self.remaining is not None


class _Envelope(msgspec.Struct, gc=False):
    success: Any = None
    data: msgspec.Raw = ABSENT
    meta: Any = None
    message: Any = None
    errors: Any = None


class _Id(msgspec.Struct, gc=False):
    id: Any = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_IDS = msgspec.json.Decoder(_Id)
_RAW = msgspec.json.Decoder(msgspec.Raw)
_ANY = msgspec.json.Decoder()
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_TRUE = frozenset({"true", "1", "yes", "ok", "success"})
# Brackets tried as the start of the JSON: PHP warnings before it carry some of their own
# ("SQLSTATE[HY000] [2002]", "#0 {main}"), a few per warning. Each miss fails within bytes.
_STARTS = 64


def judge(status: int, body: bytes | bytearray, ctx: Context,
          retry_after: float | None = None) -> Page:
    """The page of a successful answer, or raise the ApiError that says what to do."""
    try:
        return _judge(status, body, ctx, retry_after)
    except RecursionError:  # msgspec recurses per level of nesting, on Python's stack
        fault = TOO_DEEP
    except (msgspec.DecodeError, msgspec.ValidationError):  # e.g. a number out of range
        fault = UNREADABLE
    if not 200 <= status < 300:
        raise error_for(status, None, ctx, retry_after)
    raise RetriableError(f"{ctx.module}: the server answered {status} with a page that "
                         f"{fault}; syncd retries.", status=status, module=ctx.module)


def _judge(status: int, body: bytes | bytearray, ctx: Context,
           retry_after: float | None) -> Page:
    # Escapes PostgreSQL cannot store become U+FFFD first: msgspec refuses lone surrogates.
    cleaned = prepare(body, 0)
    text = cleaned if isinstance(cleaned, bytes) else body
    doc, start = _json(text)
    env = doc if isinstance(doc, _Envelope) else None
    message = _text(env.message) if env else None
    if not 200 <= status < 300:
        raise error_for(status, message, ctx, retry_after)
    if doc is None:
        raise RetriableError(f"{ctx.module}: the server answered {status} with a page that "
                             "is not JSON (an HTML error page or a cut-off answer); syncd "
                             "retries.", status=status, module=ctx.module)
    if env is None:  # an older server: the bare array of the page's records
        return Page(_LIST.decode(memoryview(text)[start:]), enveloped=False)
    if not _true(env.success):
        implied = _status_of(message)
        if implied == 400:  # no known meaning: say what the server did say, not "HTTP 400"
            said = f" (\"{message}\")" if message else ""
            raise RequestRejected(f"{ctx.module}: the server answered success: false{said}; "
                                  "this is a syncd bug or an unsupported server — please "
                                  "report it.", status=status, message=message,
                                  module=ctx.module, retry_after=retry_after)
        raise error_for(implied, message, ctx, retry_after)
    meta = env.meta if isinstance(env.meta, dict) else {}
    page = Page([], _int(meta.get("current_page")), _int(meta.get("total_pages")),
                _int(meta.get("total_records")))
    kind = first_byte(env.data)
    records = records_of(env.data) if kind in (b"[", b"{") else None
    if records is None:
        # No records array is believable only with an explicit zero total: an empty answer
        # must never be taken for "every record is gone".
        empty = kind in (b"", b"n") or bytes(env.data).strip() == b"{}"
        if empty and page.total_records == 0:
            return page
        raise RetriableError(f"{ctx.module}: the server answered success without a list "
                             "of records; syncd retries.", status=status, module=ctx.module)
    return Page(records, page.current_page, page.total_pages, page.total_records)


def judge_record(status: int, body: bytes | bytearray, ctx: Context, rid: int,
                 retry_after: float | None = None) -> msgspec.Raw | None:
    """Record ``rid`` of a ``GET {resource}/{id}`` answer (its data an object, a list of
    one, or a bare record), None when the server says it does not exist (404), or raise."""
    cleaned = prepare(body, 0)
    text = cleaned if isinstance(cleaned, bytes) else body
    doc, start = _json(text)
    env = doc if isinstance(doc, _Envelope) else None
    message = _text(env.message) if env else None
    if status in (404, 410):
        return None
    if status == 403:
        raise _by_id_refused(ctx, status, message, retry_after)
    if not 200 <= status < 300:
        raise error_for(status, message, ctx, retry_after)
    if doc is None:
        raise RetriableError(f"{ctx.module}: the server answered {status} to {ctx.url} with "
                             "a body that is not JSON; syncd retries.", status=status,
                             module=ctx.module)
    if env is not None and env.success is not None and not _true(env.success):
        implied = _status_of(message)
        if implied == 404:
            return None
        if implied == 403:
            raise _by_id_refused(ctx, status, message, retry_after)
        if implied != 400:
            raise error_for(implied, message, ctx, retry_after)
    found = [r for r in _candidates(env, text, start) if record_id(r) == rid]
    if not found:
        said = f" (\"{message}\")" if message else ""
        raise RequestRejected(
            f"{ctx.module}: {ctx.url} answered {status} without record {rid} and without "
            f"a 404{said}; syncd cannot confirm deletions of {ctx.module} on this server and "
            "marks none — please report it.", status=status, message=message,
            module=ctx.module)
    return found[0]


def _candidates(env: _Envelope | None, text: bytes | bytearray,
                start: int) -> list[msgspec.Raw]:
    """What a single-record answer holds: its data object or list, or the bare record."""
    view = memoryview(text)[start:]
    try:
        if env is None:
            return _LIST.decode(view)
        if env.success is None and env.data == ABSENT:
            return [_RAW.decode(view)]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []
    kind = first_byte(env.data)
    if kind == b"{":
        return [env.data]
    return _LIST.decode(env.data) if kind == b"[" else []


def _by_id_refused(ctx: Context, status: int, message: str | None,
                   retry_after: float | None) -> ModuleForbidden:
    said = f" (\"{message}\")" if message else ""
    return ModuleForbidden(
        f"{ctx.module}: reading one record ({ctx.url}) was refused{said} although the "
        f"listing was allowed; deletions of {ctx.module} cannot be confirmed, so none is "
        f"marked: give this API key access to single {ctx.module} records in CloudOnex.",
        status=status, message=message, module=ctx.module, retry_after=retry_after)


def record_id(raw: msgspec.Raw) -> int | None:
    """A record's id (a number or a digit string), or None when it has none."""
    try:
        value = copytext.convert(_IDS.decode(raw).id, FieldType.BIGINT)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return int(value) if isinstance(value, str) and value != copytext.NULL else None


def _json(body: bytes | bytearray) -> tuple[_Envelope | list[Any] | None, int]:
    """The envelope (or bare list) and where its JSON starts; (None, 0) for no JSON."""
    at, tries = 0, 0
    while tries < _STARTS:
        brace, bracket = body.find(b"{", at), body.find(b"[", at)
        starts = [i for i in (brace, bracket) if i >= 0]
        if not starts:
            return None, 0
        at = min(starts)
        view = memoryview(body)[at:]
        try:
            if body[at:at + 1] == b"{":
                return _ENVELOPE.decode(view), at
            decoded = _ANY.decode(view)
            if isinstance(decoded, list):
                return decoded, at
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if isinstance(exc, msgspec.ValidationError) and body[at:at + 1] == b"{":
                # Every envelope field takes any value: only a number out of range fails
                # here, so this is the answer, unreadable — not a cue to look further in.
                raise
            envelope = _before_trailing_text(view, str(exc))
            if envelope is not None:
                return envelope, at
            if "truncated" in str(exc):
                # JSON that starts here runs to the end and is cut off: what lies inside it
                # (the records array, one record, the meta object) is no answer on its own.
                return None, 0
        at, tries = at + 1, tries + 1
    return None, 0


_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")


def _before_trailing_text(view: memoryview, error: str) -> _Envelope | None:
    """An envelope followed by PHP output (a notice printed after ``echo json_encode``):
    the envelope alone, when it really is one (``success`` or ``data`` present)."""
    m = _TRAILING.search(error)
    if m is None or bytes(view[:1]) != b"{":
        return None
    end = bytes(view[:int(m[1])]).rfind(b"}") + 1  # the position msgspec names is past it
    try:
        envelope = _ENVELOPE.decode(view[:end])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return envelope if envelope.success is not None or envelope.data != ABSENT else None


def error_for(status: int, message: str | None, ctx: Context,
              retry_after: float | None) -> ApiError:
    """The error an HTTP status (or an error envelope's message) means for this resource."""
    message = server_words(message)
    said = f" (\"{message}\")" if message else ""
    kw: dict[str, Any] = {"status": status, "message": message, "module": ctx.module,
                          "retry_after": retry_after}
    if status == 429:
        return RateLimited(f"{ctx.module}: the API's rate limit was hit{said}; syncd waits "
                           "for the budget to reset and retries.", **kw)
    if status >= 500 or status in (408, 425):
        return RetriableError(f"{ctx.module}: the server failed with HTTP {status}{said}; "
                              "syncd retries.", **kw)
    if status == 401:
        return SourceUnauthorized(
            f"The CloudOnex API refused the key of source {ctx.source!r}{said}: check "
            f"{ctx.key_hint} (no stray spaces), or create a new key in CloudOnex under "
            "Settings → API Access.", **kw)
    if status == 403:
        return ModuleForbidden(
            f"{ctx.module}: access refused{said}; give this API key access to "
            f"{ctx.module} in CloudOnex, or remove {ctx.module!r} from modules of source "
            f"{ctx.source!r}.", **kw)
    if status in (404, 405):
        return EndpointMisconfigured(
            f"{ctx.module}: HTTP {status} at {ctx.url} — not a CloudOnex resource; check "
            f"base_url of source {ctx.source!r} (it should end in /api/v2).", **kw)
    return RequestRejected(f"{ctx.module}: the server rejected the request with HTTP "
                           f"{status}{said}; this is a syncd bug or an unsupported server — "
                           "please report it.", **kw)


def _status_of(message: str | None) -> int:
    """A 200 with ``success: false``: the HTTP status its message belongs to."""
    m = (message or "").lower()
    table = (("rate limit", 429), ("too many", 429), ("unauthori", 401), ("api key", 401),
             ("forbidden", 403), ("permission", 403), ("not found", 404),
             ("server error", 500), ("database", 500))
    return next((code for needle, code in table if needle in m), 400)


def _true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE if value is not None else False


def _text(value: Any) -> str | None:
    """A server's message, scrubbed of credentials and control characters, capped."""
    return server_words(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    """A header's number; ``inf``, ``nan`` and unparseable text are no number at all."""
    try:
        number = float(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
