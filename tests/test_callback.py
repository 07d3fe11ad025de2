"""The pure callback verifier: window, HMAC over the raw bytes, hex case, replay, path token."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.kinds.skybiz.registration.callback import (
    CallbackRefused,
    check_token,
    renewal_date,
    verify,
)

NOW = 1_790_000_000
KEY = "AbCdEfGhIjKlMnOpQrStUvWxY"
SECRET = "f" * 64
BODY = json.dumps({"api_key": KEY, "api_secret": SECRET}).encode()


def sign(body: bytes, stamp: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def test_a_correctly_signed_callback_yields_the_credentials() -> None:
    """A fresh, correctly signed callback is accepted and carries key and secret."""
    d = verify(str(NOW), sign(BODY, str(NOW)), BODY, now=NOW)
    assert d.api_key.reveal() == KEY
    assert d.api_secret.reveal() == SECRET
    assert d.signature == sign(BODY, str(NOW))
    assert SECRET not in repr(d)


@pytest.mark.parametrize(("offset", "accepted"), [
    (0, True), (300, True), (-300, True), (301, False), (-301, False), (86_400, False)])
def test_the_timestamp_window_is_300_seconds_either_way(offset: int, accepted: bool) -> None:
    """X-Timestamp may lie at most 300 s before or after now."""
    stamp = str(NOW + offset)
    if accepted:
        verify(stamp, sign(BODY, stamp), BODY, now=NOW)
    else:
        with pytest.raises(CallbackRefused) as info:
            verify(stamp, sign(BODY, stamp), BODY, now=NOW)
        assert (info.value.kind, info.value.status) == ("stale_timestamp", 401)


@pytest.mark.parametrize(("case", "stamp", "signature", "body", "kind"), [
    ("no timestamp", None, sign(BODY, str(NOW)), BODY, "malformed"),
    ("no signature", str(NOW), None, BODY, "malformed"),
    ("timestamp not a number", "1.79e9", sign(BODY, "1.79e9"), BODY, "malformed"),
    ("non-ASCII digits", "١٧٩", sign(BODY, str(NOW)), BODY, "malformed"),
    ("signature not hex", str(NOW), "z" * 64, BODY, "malformed"),
    ("signature truncated", str(NOW), sign(BODY, str(NOW))[:63], BODY, "malformed"),
    ("signed by another key", str(NOW), sign(BODY, str(NOW), "x" * 64), BODY, "bad_signature"),
    ("signed other timestamp", str(NOW), sign(BODY, str(NOW - 1)), BODY, "bad_signature"),
    ("body re-serialised", str(NOW), sign(json.dumps(json.loads(BODY), indent=1).encode(),
                                          str(NOW)), BODY, "bad_signature"),
    ("body not JSON", str(NOW), sign(b"api_key=x", str(NOW)), b"api_key=x", "malformed"),
    ("body a list", str(NOW), sign(b"[1]", str(NOW)), b"[1]", "malformed"),
    ("no secret", str(NOW), sign(b'{"api_key":"k"}', str(NOW)), b'{"api_key":"k"}',
     "malformed"),
    ("secret with a newline", str(NOW), sign(b'{"api_key":"k","api_secret":"a\\nb"}', str(NOW),
                                            "a\nb"),
     b'{"api_key":"k","api_secret":"a\\nb"}', "malformed"),
])
def test_refusals(case: str, stamp: str | None, signature: str | None, body: bytes,
                  kind: str) -> None:
    """Anything but a well-formed, correctly signed message is refused with 401 and a reason."""
    with pytest.raises(CallbackRefused) as info:
        verify(stamp, signature, body, now=NOW)
    assert (info.value.kind, info.value.status) == (kind, 401), case


def test_a_key_missing_after_a_valid_signature_is_malformed() -> None:
    """A signed body without api_key is refused (nothing to store)."""
    body = json.dumps({"api_secret": SECRET}).encode()
    with pytest.raises(CallbackRefused) as info:
        verify(str(NOW), sign(body, str(NOW)), body, now=NOW)
    assert info.value.kind == "malformed"


def test_hex_case_does_not_matter() -> None:
    """An upper-case hex signature is the same signature."""
    verify(str(NOW), sign(BODY, str(NOW)).upper(), BODY, now=NOW)


def test_a_signature_seen_before_is_a_replay() -> None:
    """The same signed message a second time is refused as a replay."""
    signature = sign(BODY, str(NOW))
    with pytest.raises(CallbackRefused) as info:
        verify(str(NOW), signature.upper(), BODY, now=NOW, seen={signature})
    assert info.value.kind == "replay"


@pytest.mark.parametrize(("path", "ok"), [
    ("/syncd/callback/TOKEN", True), ("/TOKEN", True), ("/syncd/callback/TOKEN/", True),
    ("/syncd/callback/TOKE", False), ("/syncd/callback/TOKENx", False),
    ("/syncd/callback", False), ("/", False), ("/TOKEN/extra", False)])
def test_the_path_must_end_in_the_token(path: str, ok: bool) -> None:
    """Only a path whose last segment is the token passes; anything else is a 404."""
    if ok:
        check_token("TOKEN", path)
    else:
        with pytest.raises(CallbackRefused) as info:
            check_token("TOKEN", path)
        assert (info.value.kind, info.value.status) == ("wrong_path", 404)


@pytest.mark.parametrize(("doc", "expected"), [
    ({"api_renewal_date": "2027-12-02"}, dt.date(2027, 12, 2)),
    ({"renewal_date": "2027-12-02 00:00:00"}, dt.date(2027, 12, 2)),
    ({"APIRenewalDate": "2027-12-02"}, dt.date(2027, 12, 2)),
    ({"api_renewal_date": "soon"}, None), ({"api_renewal_date": 20271202}, None), ({}, None)])
def test_renewal_date_is_read_from_the_documented_spellings(
        doc: dict[str, object], expected: dt.date | None) -> None:
    """The renewal date is taken when a known field holds an ISO date, else None."""
    assert renewal_date(doc) == expected


@given(stamp=st.one_of(st.none(), st.text(max_size=20)),
       signature=st.one_of(st.none(), st.text(max_size=80)),
       body=st.binary(max_size=300))
def test_arbitrary_input_is_refused_cleanly(stamp: str | None, signature: str | None,
                                            body: bytes) -> None:
    """Random headers and bodies never raise anything but CallbackRefused, never verify."""
    with pytest.raises(CallbackRefused):
        verify(stamp, signature, body, now=NOW)


@given(key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1,
                   max_size=40),
       secret=st.text(min_size=1, max_size=80), offset=st.integers(-400, 400),
       tamper=st.booleans())
def test_only_a_matching_signature_verifies(key: str, secret: str, offset: int,
                                            tamper: bool) -> None:
    """Acceptance happens exactly when the HMAC matches, the window holds and values are clean."""
    body = json.dumps({"api_key": key, "api_secret": secret}).encode()
    stamp = str(NOW + offset)
    signature = sign(body + (b" " if tamper else b""), stamp, secret)
    clean = all(0x21 <= ord(c) <= 0x7e for c in secret)
    try:
        d = verify(stamp, signature, body, now=NOW)
    except CallbackRefused:
        assert tamper or abs(offset) > 300 or not clean
    else:
        assert not tamper
        assert abs(offset) <= 300
        assert clean
        assert d.api_key.reveal() == key
