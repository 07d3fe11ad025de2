"""Which alerts hold now (pure, §11): verdicts from what status knows, and the messages.

A verdict per alert key is an ``Alert`` (the condition holds), ``None`` (it is known to be
clear) or absent (unknown: e.g. no pass of the module since a restart, so a "failing" alert
opened before the restart is neither repeated nor cleared). ``decide`` compares the verdicts
with the alerts open now: each alert is raised once when it starts and cleared once when it
ends — the warehouse's open set makes that hold across restarts and instances.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from syncd.core import freshness
from syncd.core.statusdoc import ModuleDoc, SourceDoc

EXPIRY_WARNING_DAYS = 14


class Condition(StrEnum):
    FAILING = "failing"
    STALE = "stale"
    CREDENTIALS = "credentials"
    OUTBOX = "outbox"
    NEW_FIELDS = "new_fields"
    CAPACITY = "capacity"
    TAKEN_OVER = "taken_over"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What an alert is about: a source (or ``host:H``, ``instance:H:P``), a module or ""."""

    scope: str
    module: str
    condition: Condition

    def __post_init__(self) -> None:
        if not self.scope:
            raise ValueError("an alert needs a scope")

    @property
    def label(self) -> str:
        return f"{self.scope}/{self.module}" if self.module else self.scope


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition that holds: what happened and what to do, one sentence each."""

    key: AlertKey
    what: str
    action: str


Verdicts = dict[AlertKey, Alert | None]


def failing(source: str, module: str, failed_in_a_row: int | None, after: int,
            error: str | None) -> tuple[bool, Alert | None]:
    """(known, alert): unknown before the module's first pass since start, and while it has
    failed fewer than ``after`` times in a row; clear after a pass that succeeded."""
    if failed_in_a_row is None or 0 < failed_in_a_row < after:
        return False, None
    if failed_in_a_row == 0:
        return True, None
    return True, Alert(AlertKey(source, module, Condition.FAILING),
                       f"{failed_in_a_row} passes in a row failed: {error or 'see the log'}",
                       "fix what the error says (permission, credentials, base_url); syncd "
                       "tries again every pass and says when it recovers")


def counted(previous: Mapping[str, int], failed: Mapping[str, bool]) -> dict[str, int]:
    """The failed-in-a-row counts after a pass whose modules ``failed`` (True) or not."""
    out = dict(previous)
    for module, bad in failed.items():
        out[module] = out.get(module, 0) + 1 if bad else 0
    return out


def source_verdicts(doc: SourceDoc, failed_in_a_row: Mapping[str, int], after: int,
                    today: dt.date) -> Verdicts:
    """Every source-scoped verdict of one source's status (``failed_in_a_row``: modules
    with a pass since start; the doc's ages as of now)."""
    name = doc["name"]
    out: Verdicts = {}
    for m in doc["modules"]:
        module = m["module"]
        known, alert = failing(name, module, failed_in_a_row.get(module), after,
                               m["last_error"])
        if known:
            out[AlertKey(name, module, Condition.FAILING)] = alert
        if m.get("age_seconds") is not None and "freshness_target" in m:
            out[AlertKey(name, module, Condition.STALE)] = _stale(name, m["module"],
                                                                  m["age_seconds"],
                                                                  m["freshness_target"])
        fields = m["new_fields"]
        out[AlertKey(name, module, Condition.NEW_FIELDS)] = Alert(
            AlertKey(name, module, Condition.NEW_FIELDS),
            f"the API sent fields syncd does not know: {', '.join(fields)}",
            "nothing is lost (they are kept in _raw); tell the syncd maintainers so they "
            "become columns") if fields else None
    modules = {m["module"] for m in doc["modules"]} | set(doc.get("outbox", {}))
    for module in sorted(modules):
        out[AlertKey(name, module, Condition.OUTBOX)] = _outbox(
            name, module, doc.get("outbox", {}).get(module, {}))
    out[AlertKey(name, "", Condition.CREDENTIALS)] = _expiry(name, doc["renewal_date"], today)
    return out


def _stale(source: str, module: str, age: float | None, target: float) -> Alert | None:
    if not freshness.is_alarming(age, target):
        return None
    return Alert(AlertKey(source, module, Condition.STALE),
                 f"the newest data is {_span(age or 0)} old, more than twice its freshness "
                 f"target of {_span(target)}",
                 "check the module's last error and the capacity warning in syncd status; "
                 "lengthen the target if it is too tight for the host's rate")


def _outbox(source: str, module: str, counts: Mapping[str, int]) -> Alert | None:
    bad = {s: counts.get(s, 0) for s in ("rejected", "invalid") if counts.get(s, 0)}
    if not bad:
        return None
    return Alert(AlertKey(source, module, Condition.OUTBOX),
                 "outbox documents were refused: " + ", ".join(
                     f"{n} {state}" for state, n in bad.items()),
                 "read their error column in syncd.outbox, fix each document and set it back "
                 "to 'pending' (or delete it)")


def _expiry(source: str, renewal: str | None, today: dt.date) -> Alert | None:
    if renewal is None:
        return None
    days = (dt.date.fromisoformat(renewal) - today).days
    if days > EXPIRY_WARNING_DAYS:
        return None
    what = (f"the API key expired after {renewal}" if days < 0 else
            f"the API key must be renewed by {renewal} ({days} day{'s' if days != 1 else ''} "
            "left)")
    return Alert(AlertKey(source, "", Condition.CREDENTIALS), what,
                 "run syncd register for a new key set (or update the secrets), then "
                 "restart syncd")


def capacity_verdict(host: str, warning: str | None) -> Verdicts:
    """The host's schedule beyond its rate (the capacity or freshness warning), or clear."""
    key = AlertKey(f"host:{host}", "", Condition.CAPACITY)
    return {key: Alert(key, warning, "lengthen the freshness targets or the interval, sync "
                       "fewer modules, or give some sources to an instance with its own IP")
            if warning else None}


@dataclass(frozen=True, slots=True)
class Instance:
    """A row of ``syncd.instance``: who, when it started, its last heartbeat."""

    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime


def instance_verdicts(instances: Collection[Instance], open_scopes: Collection[str],
                      now: dt.datetime, dead_after: float) -> Verdicts:
    """An instance that stopped heartbeating without leaving: its sources were taken over;
    clear once an instance started on its host after it died (or its row is forgotten)."""
    out: Verdicts = {}
    dead = [i for i in instances if (now - i.heartbeat_at).total_seconds() > dead_after]
    for i in dead:
        key = AlertKey(f"instance:{i.host}:{i.pid}", "", Condition.TAKEN_OVER)
        replaced = any(o.host == i.host and o.started_at > i.heartbeat_at
                       and (now - o.heartbeat_at).total_seconds() <= dead_after
                       for o in instances)
        out[key] = None if replaced else Alert(
            key, f"instance {i.host}:{i.pid} stopped heartbeating at "
            f"{i.heartbeat_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC; the other instances "
            "take over its sources", "find out why it stopped (journalctl -u syncd on "
            f"{i.host}) and start it again; it gets its share back")
    for scope in open_scopes:
        key = AlertKey(scope, "", Condition.TAKEN_OVER)
        if scope.startswith("instance:") and key not in out:
            out[key] = None  # the row is gone (forgotten after a day)
    return out


def aged(doc: SourceDoc, elapsed: float) -> SourceDoc:
    """The status ``elapsed`` seconds later: every known age grown by that much."""
    modules: list[ModuleDoc] = []
    for module in doc["modules"]:
        m = ModuleDoc(**module)
        if (age := m.get("age_seconds")) is not None:
            m["age_seconds"] = age + elapsed
        modules.append(m)
    out = SourceDoc(**doc)
    out["modules"] = modules
    return out


def decide(verdicts: Verdicts, open_keys: Collection[AlertKey]) -> tuple[
        list[Alert], list[AlertKey]]:
    """The alerts to raise (hold, not open) and to clear (known clear, open)."""
    raise_ = [a for k, a in verdicts.items() if a is not None and k not in open_keys]
    clear = [k for k, a in verdicts.items() if a is None and k in open_keys]
    return raise_, clear


def message(key: AlertKey, state: str, what: str, action: str,
            now: dt.datetime) -> dict[str, Any]:
    """The JSON body: ``text`` for Slack / Mattermost / Teams, plus structured fields."""
    head = "FIRING" if state == "firing" else "RESOLVED" if state == "resolved" else "TEST"
    text = (f"[{head}] syncd {key.label}: {key.condition.value} — {what}."
            + (f" What to do: {action}." if state == "firing" else ""))
    source = key.scope if ":" not in key.scope else None
    return {"text": text, "state": state, "condition": key.condition.value,
            "source": source, "scope": key.scope, "module": key.module or None,
            "what": what, "action": action,
            "at": now.astimezone(dt.UTC).isoformat(timespec="seconds")}


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
