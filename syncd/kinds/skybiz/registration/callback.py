"""Verification of the SKYBIZ credential callback (CONTRACT §7), pure: no I/O, no clock.

The signature's key is the ``api_secret`` the same message carries, so a matching HMAC
proves the body was not altered after signing — not who sent it. Authenticity rests on
HTTPS, the single-use path token and the ±300 s window; see README "Getting credentials".
The only thing read from the body before the HMAC verifies is that key; nothing of the
message is stored, logged or trusted before it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.credentials.lookup import Secret

WINDOW_SECONDS = 300
MAX_BODY_BYTES = 16 * 1024  # two short strings; anything larger is not a callback
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only, unlike \d
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
# Printable ASCII without spaces: the value goes into a file that readers trim.
_CREDENTIAL = re.compile(r"[\x21-\x7e]{1,512}")
RENEWAL_FIELDS = ("api_renewal_date", "renewal_date", "APIRenewalDate", "expiry_date")

REASONS = {
    "wrong_path": "a callback came to a path other than the single-use one syncd gave "
                  "the server",
    "malformed": "the callback lacked a numeric X-Timestamp, a hex X-Signature or a JSON "
                 "body with api_key and api_secret",
    "stale_timestamp": "the callback's X-Timestamp was more than 300 s away from this "
                       "machine's clock (check the clock, e.g. timedatectl)",
    "bad_signature": "the callback's X-Signature did not match its body",
    "replay": "the same signed callback was delivered twice (a replay), so someone else may "
              "hold a copy of the secret",
    "used": "a second, different callback came to the single-use path after one was "
            "accepted (treated like a replay: someone else may hold the path and the secret)",
    "method": "a request other than POST came to the single-use path",
    "oversized": "a request to the single-use path had a body over 16 KiB",
    "slow": "a request to the single-use path did not send its body within 10 s",
}


class CallbackRefused(Exception):
    """The callback is not accepted: ``status`` is the HTTP answer, ``kind`` says why."""

    def __init__(self, kind: str, status: int = 401) -> None:
        super().__init__(REASONS[kind])
        self.kind = kind
        self.status = status


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified callback: the credentials and what identifies the message."""

    api_key: Secret
    api_secret: Secret
    signature: str  # lower-case hex, for replay detection
    renewal_date: dt.date | None = None


def check_token(expected: str, path: str) -> None:
    """The last segment of ``path`` must be the single-use token (404 otherwise)."""
    given = path.rstrip("/").rsplit("/", 1)[-1]
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
        raise CallbackRefused("wrong_path", 404)


def verify(timestamp: str | None, signature: str | None, body: bytes, *, now: float,
           seen: Collection[str] = ()) -> Delivery:
    """Accept the callback or raise CallbackRefused: window, HMAC over the raw bytes, replay."""
    if timestamp is None or signature is None or not _TIMESTAMP.fullmatch(timestamp) \
            or not _SIGNATURE.fullmatch(signature) or len(body) > MAX_BODY_BYTES:
        raise CallbackRefused("malformed")
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        raise CallbackRefused("stale_timestamp")
    doc = _object(body)
    secret = doc.get("api_secret")
    if not isinstance(secret, str) or not _CREDENTIAL.fullmatch(secret):
        raise CallbackRefused("malformed")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise CallbackRefused("bad_signature")
    if expected in seen:
        raise CallbackRefused("replay")
    key = doc.get("api_key")
    if not isinstance(key, str) or not _CREDENTIAL.fullmatch(key):
        raise CallbackRefused("malformed")
    return Delivery(Secret(key), Secret(secret), expected, renewal_date(doc))


def renewal_date(doc: Mapping[str, Any]) -> dt.date | None:
    """The renewal (expiry) date of a registration answer or callback, when it names one."""
    for name in RENEWAL_FIELDS:
        value = doc.get(name)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                continue
    return None


def _object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, strictly (UTF-8, no NaN); CallbackRefused otherwise."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_refuse)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise CallbackRefused("malformed") from None
    if not isinstance(doc, dict):
        raise CallbackRefused("malformed")
    return doc


def _refuse(name: str) -> Any:
    raise ValueError(name)
