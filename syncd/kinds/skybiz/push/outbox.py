"""``syncd.outbox`` in the warehouse: the only SQL of the push package.

Every state change is its own committed statement (or transaction), written before a
request goes out and after its answer is read, so a crash anywhere leaves each document
``pending``, ``sending`` (sent or maybe sent) or decided — never lost, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from syncd.kinds.skybiz.push.outcome import Outcome
from syncd.warehouse.db import db_errors

STATES = ("pending", "sending", "inserted", "rejected", "invalid")
# pg_try_advisory_lock key: one pusher per source at a time (CLI and daemon alike).
_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('syncd.push.' || $1, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('syncd.push.' || $1, 0))"

_OPEN = """
SELECT id, state, document::text AS text FROM syncd.outbox
WHERE source = $1 AND module = $2 AND state IN ('pending', 'sending') ORDER BY id
"""
# Rows that are or may become documents at the API, for the duplicate check.
_KEYS = """
SELECT id, coalesce(document->>'DocType', ''),
       coalesce(document->>CASE WHEN $2 = 'customer' THEN 'CusCode' ELSE 'Doc1No' END, ''),
       document::text
FROM syncd.outbox
WHERE source = $1 AND module = $2 AND state IN ('pending', 'sending', 'inserted')
  AND document->>CASE WHEN $2 = 'customer' THEN 'CusCode' ELSE 'Doc1No' END = ANY($3::text[])
ORDER BY id
"""
_INVALID = """
UPDATE syncd.outbox AS o SET state = 'invalid', error = x.error,
    fail_category = 'validation', updated_at = now()
FROM unnest($1::bigint[], $2::text[]) AS x(id, error)
WHERE o.id = x.id AND o.state = 'pending'
"""
_SENDING = """
UPDATE syncd.outbox SET state = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id = ANY($1::bigint[])
"""
_RECORD = """
UPDATE syncd.outbox AS o SET state = x.state, error = x.error, fail_category = x.category,
    request_id = $5, batch_id = $6, updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS x(id, state, error, category)
WHERE o.id = x.id
"""
_BACK = """
UPDATE syncd.outbox SET state = 'pending', updated_at = now()
WHERE id = ANY($1::bigint[]) AND state = 'sending'
"""
_COUNTS = """
SELECT module, state, count(*)::bigint AS n FROM syncd.outbox WHERE source = $1
GROUP BY module, state ORDER BY module
"""
_ADD = """
INSERT INTO syncd.outbox (source, module, document)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One open outbox document: its id, state and the JSON text stored."""

    id: int
    state: str
    text: str


async def lock(conn: asyncpg.Connection, source: str) -> bool:
    """Become the source's only pusher on this connection; False when another one is."""
    with db_errors("locking the outbox"):
        taken: bool = await conn.fetchval(_LOCK, source)
    return taken


async def unlock(conn: asyncpg.Connection, source: str) -> None:
    with db_errors("unlocking the outbox"):
        await conn.fetchval(_UNLOCK, source)


async def open_rows(conn: asyncpg.Connection, source: str, module: str) -> list[Row]:
    """The module's pending and sending documents, oldest first."""
    with db_errors("reading the outbox"):
        return [Row(r["id"], r["state"], r["text"])
                for r in await conn.fetch(_OPEN, source, module)]


async def keys(conn: asyncpg.Connection, source: str, module: str, names: Sequence[str]
               ) -> list[tuple[int, tuple[str, ...], str]]:
    """(id, key, content) of the live rows whose name is among ``names``, in id order; the
    content is jsonb's canonical text, so copies differing only in layout compare equal."""
    with db_errors("reading the outbox"):
        rows = await conn.fetch(_KEYS, source, module, list(names))
    return [(r[0], (r[2],) if module == "customer" else (r[1], r[2]), r[3]) for r in rows]


async def mark_invalid(conn: asyncpg.Connection, errors: dict[int, str]) -> None:
    with db_errors("recording invalid documents"):
        await conn.execute(_INVALID, list(errors), list(errors.values()))


async def mark_sending(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Written (and committed) before each request that carries these documents."""
    with db_errors("recording a request"):
        await conn.execute(_SENDING, list(ids))


async def record(conn: asyncpg.Connection, outcomes: dict[int, Outcome],
                 request_id: str | None, batch_id: str | None) -> None:
    """Every document's outcome of one answer, in one transaction."""
    with db_errors("recording an answer"):
        await conn.execute(_RECORD, list(outcomes), [o.state for o in outcomes.values()],
                           [o.error for o in outcomes.values()],
                           [o.category for o in outcomes.values()], request_id, batch_id)


async def back_to_pending(conn: asyncpg.Connection, ids: Iterable[int]) -> None:
    """The API refused the whole request (401/403/…): these documents were not created."""
    with db_errors("recording a refused request"):
        await conn.execute(_BACK, list(ids))


async def counts(conn: asyncpg.Connection, source: str) -> dict[str, dict[str, int]]:
    """module -> documents per state, for the modules the source's outbox has rows of."""
    with db_errors("counting the outbox"):
        rows = await conn.fetch(_COUNTS, source)
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["module"], dict.fromkeys(STATES, 0))[r["state"]] = r["n"]
    return out


async def add(conn: asyncpg.Connection, entries: Sequence[tuple[str, str, str]]) -> int:
    """Insert (source, module, document JSON text) rows as pending; how many."""
    with db_errors("adding documents to the outbox"):
        await conn.execute(_ADD, [e[0] for e in entries], [e[1] for e in entries],
                           [e[2] for e in entries])
    return len(entries)
