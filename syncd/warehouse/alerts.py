"""Open alerts and their outgoing messages in the warehouse (``syncd.alert``,
``syncd.alert_event``, sql/013): raising is inserting the row, clearing is deleting it, and
each change writes its message in the same transaction — so exactly one instance, once,
decides to send it, whatever restarts in between."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from syncd.core.alerting import Alert, AlertKey, Condition, Instance, message
from syncd.warehouse.db import db_errors

_OPEN = "SELECT scope, module, condition, opened_at, text FROM syncd.alert ORDER BY opened_at"
_RAISE = """
INSERT INTO syncd.alert (scope, module, condition, text) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING RETURNING opened_at
"""
_CLEAR = """
DELETE FROM syncd.alert WHERE scope = $1 AND module = $2 AND condition = $3
RETURNING opened_at, text
"""
_EVENT = """
INSERT INTO syncd.alert_event (scope, module, condition, state, message, pending)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
"""
# Locked while this instance sends them: another instance skips them (no double send).
_PENDING = """
SELECT id, message::text AS message, pending FROM syncd.alert_event
WHERE pending <> '{}' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_DELIVERED = "UPDATE syncd.alert_event SET pending = $2, attempts = attempts + 1, " \
             "last_error = $3 WHERE id = $1"
_FORGET_ENDPOINTS = """
UPDATE syncd.alert_event SET pending = ARRAY(SELECT unnest(pending) INTERSECT
                                             SELECT unnest($1::text[]))
WHERE pending <> '{}' AND NOT pending <@ $1::text[]
"""
_INSTANCES = "SELECT host, pid, started_at, heartbeat_at, clock_timestamp() AS now " \
             "FROM syncd.instance"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message not yet answered 2xx by every endpoint in ``pending``."""

    id: int
    body: dict[str, Any]
    pending: tuple[str, ...]


async def open_alerts(conn: asyncpg.Connection) -> dict[AlertKey, tuple[dt.datetime, str]]:
    """Every alert open now: since when, and what happened."""
    with db_errors("reading the open alerts"):
        rows = await conn.fetch(_OPEN)
    return {AlertKey(r["scope"], r["module"], Condition(r["condition"])):
            (r["opened_at"], r["text"]) for r in rows}


async def raise_alert(conn: asyncpg.Connection, alert: Alert, endpoints: Sequence[str],
                      now: dt.datetime) -> bool:
    """Open the alert and queue its message; False when it was open already."""
    k = alert.key
    with db_errors("raising an alert"):
        async with conn.transaction():
            if await conn.fetchval(_RAISE, k.scope, k.module, k.condition.value,
                                   alert.what) is None:
                return False
            body = message(k, "firing", alert.what, alert.action, now)
            await conn.execute(_EVENT, k.scope, k.module, k.condition.value, "firing",
                               json.dumps(body), list(endpoints))
    return True


async def clear_alert(conn: asyncpg.Connection, key: AlertKey, endpoints: Sequence[str],
                      now: dt.datetime) -> bool:
    """Close the alert and queue its "resolved" message; False when it was not open."""
    with db_errors("clearing an alert"):
        async with conn.transaction():
            row = await conn.fetchrow(_CLEAR, key.scope, key.module, key.condition.value)
            if row is None:
                return False
            opened = row["opened_at"].astimezone(dt.UTC)
            body = message(key, "resolved", f"recovered (open since {opened:%Y-%m-%d %H:%M} "
                           f"UTC: {row['text']})", "nothing", now)
            await conn.execute(_EVENT, key.scope, key.module, key.condition.value,
                               "resolved", json.dumps(body), list(endpoints))
    return True


async def pending(conn: asyncpg.Connection, limit: int = 20) -> list[Outgoing]:
    """Inside a transaction: the oldest undelivered messages, locked for this sender."""
    rows = await conn.fetch(_PENDING, limit)
    return [Outgoing(r["id"], json.loads(r["message"]), tuple(r["pending"])) for r in rows]


async def delivered(conn: asyncpg.Connection, event: int, still_pending: Sequence[str],
                    error: str | None) -> None:
    """Record an attempt: the endpoints still to answer 2xx, and the last failure."""
    await conn.execute(_DELIVERED, event, list(still_pending), error)


async def forget_endpoints(conn: asyncpg.Connection, configured: Sequence[str]) -> None:
    """Endpoints no longer configured will never answer: stop waiting for them."""
    with db_errors("updating the alert queue"):
        await conn.execute(_FORGET_ENDPOINTS, list(configured))


async def instances(conn: asyncpg.Connection) -> tuple[list[Instance], dt.datetime]:
    """Every instance row (dead ones included, until forgotten), and PostgreSQL's now."""
    with db_errors("reading the instances"):
        rows = await conn.fetch(_INSTANCES)
        now = rows[0]["now"] if rows else await conn.fetchval("SELECT clock_timestamp()")
    return [Instance(r["host"], r["pid"], r["started_at"], r["heartbeat_at"])
            for r in rows], now
