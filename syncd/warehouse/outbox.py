"""``syncd.outbox`` in the warehouse: the only SQL of write-back, for every kind.

Every state change is its own committed statement (or transaction), written before a
request goes out and after its answer is read, so a crash anywhere leaves each document
``pending``, ``sending`` (sent or maybe sent) or decided — never lost, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from syncd.core.outcomes import Outcome
from syncd.warehouse.db import db_errors

STATES = ("pending", "sending", "inserted", "rejected", "invalid")
# pg_try_advisory_lock key: one pusher per source at a time (CLI and daemon alike).
_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('syncd.push.' || $1, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('syncd.push.' || $1, 0))"

_OPEN = """
SELECT id, state, document::text AS text, operation, target_id, attempts FROM syncd.outbox
WHERE source = $1 AND module = $2 AND state IN ('pending', 'sending') ORDER BY id
"""
# Rows that are or may become documents at the API, for the duplicate check: those whose
# document field $3 (named by the kind's writer, never by API data) is among $4.
_LIVE = """
SELECT id, document::text AS text FROM syncd.outbox
WHERE source = $1 AND module = $2 AND state IN ('pending', 'sending', 'inserted')
  AND document->>$3 = ANY($4::text[])
ORDER BY id
"""
# Record ids found at the source that other rows already hold as theirs.
_CLAIMED = """
SELECT created_id FROM syncd.outbox
WHERE source = $1 AND module = $2 AND created_id = ANY($3::text[])
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
    created_id = coalesce(x.created_id, o.created_id),
    request_id = $6, batch_id = $7,
    updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS x(id, state, error, category, created_id)
WHERE o.id = x.id
"""
_BACK = """
UPDATE syncd.outbox SET state = 'pending', updated_at = now()
WHERE id = ANY($1::bigint[]) AND state = 'sending'
"""
# Pending rows of modules the source's kind does not push (a SKYBIZ module on a CloudOnex
# source, or the reverse): invalid at once, with the reason, instead of waiting for ever.
_FOREIGN = """
UPDATE syncd.outbox SET state = 'invalid', fail_category = 'validation', updated_at = now(),
    error = 'module ' || module || ' is not pushed by this source''s kind; use one of ' || $3
WHERE source = $1 AND state = 'pending' AND NOT module = ANY($2::text[])
"""
_COUNTS = """
SELECT module, state, count(*)::bigint AS n FROM syncd.outbox WHERE source = $1
GROUP BY module, state ORDER BY module
"""
_ADD = """
INSERT INTO syncd.outbox (source, module, document, operation, target_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[])
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One open outbox document: its id, state, the JSON text stored and what it asks."""

    id: int
    state: str
    text: str
    operation: str = "create"
    target_id: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """A document to add: its source, module, JSON text and operation."""

    source: str
    module: str
    text: str
    operation: str = "create"
    target_id: str | None = None


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
        return [Row(r["id"], r["state"], r["text"], r["operation"], r["target_id"],
                    r["attempts"]) for r in await conn.fetch(_OPEN, source, module)]


async def live(conn: asyncpg.Connection, source: str, module: str, field: str,
               values: Sequence[str]) -> list[tuple[int, str]]:
    """(id, document text) of the live rows whose ``field`` is among ``values``, by id."""
    with db_errors("reading the outbox"):
        rows = await conn.fetch(_LIVE, source, module, field, list(values))
    return [(r["id"], r["text"]) for r in rows]


async def claimed(conn: asyncpg.Connection, source: str, module: str,
                  candidates: Sequence[str]) -> set[str]:
    """The record ids among ``candidates`` that rows of the module already hold."""
    with db_errors("reading the outbox"):
        return {r[0] for r in await conn.fetch(_CLAIMED, source, module, list(candidates))}


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
        values = list(outcomes.values())
        await conn.execute(_RECORD, list(outcomes), [o.state for o in values],
                           [o.error for o in values], [o.category for o in values],
                           [o.created_id for o in values], request_id, batch_id)


async def back_to_pending(conn: asyncpg.Connection, ids: Iterable[int]) -> None:
    """The API refused the whole request (401/403/…): these documents were not created."""
    with db_errors("recording a refused request"):
        await conn.execute(_BACK, list(ids))


async def refuse_foreign(conn: asyncpg.Connection, source: str, modules: Sequence[str]) -> int:
    """Mark pending rows of other modules than ``modules`` invalid; how many."""
    with db_errors("recording invalid documents"):
        done: str = await conn.execute(_FOREIGN, source, list(modules), ", ".join(modules))
    return int(done.rsplit(maxsplit=1)[-1])


async def counts(conn: asyncpg.Connection, source: str) -> dict[str, dict[str, int]]:
    """module -> documents per state, for the modules the source's outbox has rows of."""
    with db_errors("counting the outbox"):
        rows = await conn.fetch(_COUNTS, source)
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["module"], dict.fromkeys(STATES, 0))[r["state"]] = r["n"]
    return out


async def add(conn: asyncpg.Connection,
              entries: Sequence[Entry | tuple[str, str, str]]) -> int:
    """Insert documents (an Entry, or a (source, module, JSON text) create) as pending."""
    rows = [e if isinstance(e, Entry) else Entry(*e) for e in entries]
    with db_errors("adding documents to the outbox"):
        await conn.execute(_ADD, [e.source for e in rows], [e.module for e in rows],
                           [e.text for e in rows], [e.operation for e in rows],
                           [e.target_id for e in rows])
    return len(rows)
