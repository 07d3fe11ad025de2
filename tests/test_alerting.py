"""Which alerts hold (syncd.core.alerting): verdicts, decisions and messages, pure."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from syncd.core.alerting import (
    AlertKey,
    Condition,
    Instance,
    aged,
    capacity_verdict,
    counted,
    decide,
    instance_verdicts,
    message,
    source_verdicts,
)
from syncd.core.statusdoc import SourceDoc

TODAY = dt.date(2026, 11, 21)
NOW = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)


def doc(**module: Any) -> SourceDoc:
    m = {"module": "sales", "high_watermark": None, "low_watermark": None,
         "backfill_complete": True, "backfill_progress": 1.0, "rows": 0, "deleted_rows": 0,
         "last_success_at": None, "last_error": None, "new_fields": [], "unparsed_values": 0,
         "freshness_target": 300.0, "age_seconds": 10.0} | module
    return SourceDoc(name="main", kind="skybiz", modules=[m],  # type: ignore[list-item]
                     renewal_date=None, leader=None, outbox={}, capacity=None)


def key(condition: Condition, module: str = "sales") -> AlertKey:
    return AlertKey("main", module, condition)


@pytest.mark.parametrize(("streak", "verdict"), [
    (None, "unknown"),  # no pass since start: an open alert is neither repeated nor cleared
    (0, "clear"),
    (2, "unknown"),  # failing, but fewer than N in a row
    (3, "open"),
])
def test_failing_needs_n_passes_in_a_row(streak: int | None, verdict: str) -> None:
    """N = 3: only the third failed pass in a row opens it; a pass that works clears it."""
    streaks = {} if streak is None else {"sales": streak}
    got = source_verdicts(doc(last_error="sales: read permission denied"), streaks, 3, TODAY)
    k = key(Condition.FAILING)
    assert {"unknown": k not in got, "clear": got.get(k, 1) is None,
            "open": got.get(k) is not None}[verdict]
    if verdict == "open":
        assert "3 passes in a row failed: sales: read permission denied" in got[k].what


def test_counted_resets_on_success() -> None:
    """Failed passes add up per module; one success sets it back to 0."""
    assert counted({"sales": 2, "item": 1}, {"sales": True, "item": False}) == {
        "sales": 3, "item": 0}


@pytest.mark.parametrize(("age", "stale"), [(601.0, True), (600.0, False), (None, None)])
def test_stale_after_twice_the_target(age: float | None, stale: bool | None) -> None:
    """5-minute target: an alert past 10 minutes; never read gives no verdict."""
    got = source_verdicts(doc(age_seconds=age), {}, 3, TODAY)
    k = key(Condition.STALE)
    if stale is None:
        assert k not in got
    else:
        assert (got[k] is not None) is stale


def test_aged_grows_every_known_age() -> None:
    """A snapshot taken 500 s ago is 500 s older now (and stale after all)."""
    later = aged(doc(age_seconds=200.0), 500.0)
    assert later["modules"][0]["age_seconds"] == 700.0
    assert source_verdicts(later, {}, 3, TODAY)[key(Condition.STALE)] is not None


@pytest.mark.parametrize(("renewal", "expect"), [
    ("2026-12-06", None),  # 15 days ahead: not yet
    ("2026-12-05", "must be renewed by 2026-12-05 (14 days left)"),
    ("2026-11-20", "expired after 2026-11-20"),
])
def test_credentials_from_14_days_ahead(renewal: str, expect: str | None) -> None:
    """The key alert opens 14 days before the renewal date and says when it expired."""
    d = doc()
    d["renewal_date"] = renewal
    got = source_verdicts(d, {}, 3, TODAY)[AlertKey("main", "", Condition.CREDENTIALS)]
    assert (got.what if got else None) == (f"the API key {expect}" if expect else None)


def test_outbox_and_new_fields() -> None:
    """Rejected or invalid documents open an outbox alert per module; new fields too; an
    emptied outbox module (its rows deleted) clears."""
    d = doc(new_fields=["Colour"])
    d["outbox"] = {"purchase": {"pending": 1, "rejected": 2, "invalid": 1}}
    got = source_verdicts(d, {}, 3, TODAY)
    assert got[key(Condition.OUTBOX, "purchase")].what == (  # type: ignore[union-attr]
        "outbox documents were refused: 2 rejected, 1 invalid")
    assert got[key(Condition.OUTBOX, "sales")] is None
    assert "Colour" in got[key(Condition.NEW_FIELDS)].what  # type: ignore[union-attr]


def test_decide_raises_once_and_clears_once() -> None:
    """Open alerts are not raised again; only open ones are cleared; unknown are left."""
    d = doc(age_seconds=900.0)
    verdicts = source_verdicts(d, {"sales": 0}, 3, TODAY)
    raised, cleared = decide(verdicts, set())
    assert [a.key for a in raised] == [key(Condition.STALE)]
    raised, cleared = decide(verdicts, {key(Condition.STALE), key(Condition.FAILING),
                                        AlertKey("other", "sales", Condition.FAILING)})
    assert (raised, cleared) == ([], [key(Condition.FAILING)])


def test_capacity_is_per_host() -> None:
    """One alert for the host however many sources share it."""
    v = capacity_verdict("api.example", "api.example: 50 sources need 400 requests …")
    assert list(v) == [AlertKey("host:api.example", "", Condition.CAPACITY)]
    assert capacity_verdict("api.example", None) == {
        AlertKey("host:api.example", "", Condition.CAPACITY): None}


def test_a_dead_instance_is_taken_over_until_replaced() -> None:
    """A stale heartbeat opens "taken_over"; an instance started on that host after it
    died clears it, as does its row being forgotten."""
    t = NOW - dt.timedelta(minutes=5)
    dead = Instance("box1", 11, t, t)
    survivor = Instance("box1", 12, t - dt.timedelta(hours=1), NOW)
    k = AlertKey("instance:box1:11", "", Condition.TAKEN_OVER)
    got = instance_verdicts([dead, survivor], [], NOW, 10)
    assert got[k] is not None
    assert "box1:11 stopped heartbeating" in got[k].what
    assert AlertKey("instance:box1:12", "", Condition.TAKEN_OVER) not in got
    restarted = Instance("box1", 13, NOW - dt.timedelta(seconds=30), NOW)
    assert instance_verdicts([dead, survivor, restarted], [], NOW, 10)[k] is None
    assert instance_verdicts([survivor], ["instance:box1:11"], NOW, 10)[k] is None


def test_message_has_text_and_structured_fields() -> None:
    """Slack-style text plus source, module, condition, what and what to do, in UTC."""
    body = message(key(Condition.FAILING), "firing", "3 passes in a row failed: x",
                   "fix it", NOW.astimezone(dt.timezone(dt.timedelta(hours=8))))
    assert body == {
        "text": "[FIRING] syncd main/sales: failing — 3 passes in a row failed: x. What to "
                "do: fix it.",
        "state": "firing", "condition": "failing", "source": "main", "scope": "main",
        "module": "sales", "what": "3 passes in a row failed: x", "action": "fix it",
        "at": "2026-11-21T10:00:00+00:00"}
    assert message(AlertKey("host:h", "", Condition.CAPACITY), "resolved", "ok", "nothing",
                   NOW)["source"] is None


def test_demo_keep_says_where_to_look_and_sends_nothing() -> None:
    """`syncd demo --keep` names the status page, /metrics and the DSN and shows an
    [alerts] table to copy; the demo's own config has no [alerts] (it sends nothing)."""
    import tomllib
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from syncd.cli import demo

    text = demo.keep_hints("postgresql://demo@127.0.0.1:5999/postgres")
    assert "http://127.0.0.1:9108/" in text
    assert "http://127.0.0.1:9108/metrics" in text
    assert "postgresql://demo@127.0.0.1:5999/postgres" in text
    assert tomllib.loads(demo.ALERTS_SNIPPET)["alerts"]["after_failed_passes"] == 3
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "syncd.toml"
        demo.write_config(path, "http://127.0.0.1:1/m", "http://127.0.0.1:2/api/v2",
                          "postgresql://x@127.0.0.1/y", dt.date(2026, 1, 1))
        assert "alerts" not in tomllib.loads(path.read_text())
