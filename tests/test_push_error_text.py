"""A server's words reach the outbox `error` column of both kinds' writers only scrubbed
of credentials, free of control characters and capped (pure)."""

from __future__ import annotations

import pytest

from syncd.core.errors import RequestRejected
from syncd.credentials import redaction
from syncd.kinds.cloudonex.client import Written
from syncd.kinds.cloudonex.push import outcome as cloudonex
from syncd.kinds.skybiz.push import outcome as skybiz
from syncd.kinds.skybiz.push.writer import _refused_whole

SECRET = "outbox/secret+canary=" + "5e2a" * 10
CAP = 1000


def echoes(size: int) -> str:
    """A message that echoes the secret inside ``size`` characters of terminal escapes."""
    filler = ("x\x1b[2J" * size)[:size]
    return f"{filler}{SECRET}{filler}"


def clean(text: str | None, cap: int = CAP) -> None:
    assert text
    assert len(text) <= cap
    assert "\x1b" not in text
    for n in range(6, len(SECRET) + 1):
        assert SECRET[:n] not in text


@pytest.mark.parametrize("size", [10, 5000, 200_000])
def test_skybiz_rejections_are_scrubbed_and_capped(size: int) -> None:
    """fail_details messages (several per document) and a whole-request 400's words."""
    redaction.remember(SECRET)
    answer = {"failed_documents": ["A"], "fail_details": {
        "invalid_items": [{"Doc1No": "A", "error": echoes(size)}],
        f"c{SECRET}" + "k" * size: {"A": [f"second {echoes(size)}"]}}}
    [got] = skybiz.interpret("sales", answer, ["A"], [False])
    assert got.state == "rejected"
    clean(got.error)
    clean(got.category, 100)
    refused = RequestRejected("sales: the server refused the request.", message=echoes(size))
    [whole] = _refused_whole(refused, ["A"], [1], set()).values()
    clean(whole.error)


@pytest.mark.parametrize("size", [10, 5000, 200_000])
def test_cloudonex_rejections_are_scrubbed_and_capped(size: int) -> None:
    """A 400's field errors and message, a 404's message, a batch's keyed errors."""
    redaction.remember(SECRET)
    errors = {"email": echoes(size), "account": f"two {echoes(size)}",
              f"f{SECRET}" + "k" * size: "three"}
    got = cloudonex.single("create", Written(400, None, errors, echoes(size)), False)
    clean(got.error)
    clean(got.category, 100)
    bare = cloudonex.single("create", Written(400, None, {}, echoes(size)), False)
    clean(bare.error)
    gone = cloudonex.single("update", Written(404, None, {}, echoes(size)), False)
    clean(gone.error)
    batch = Written(400, None, {"customers.0.email": echoes(size)}, None)
    [first, second], placed = cloudonex.batch(batch, 2)
    assert placed
    clean(first.error)
    assert second.state == "pending"


def test_plain_messages_are_kept_as_the_api_wrote_them() -> None:
    """Scrubbing changes nothing an honest server says."""
    got = cloudonex.single("create", Written(400, None, {"email": "Invalid email format",
                                                         "amount": "Amount must be greater "
                                                         "than 0"}, None), False)
    assert (got.error, got.category) == (
        "Invalid email format; Amount must be greater than 0", "email")
