"""Freshness in the warehouse (``syncd.freshness``, §11): each module's target as the running
config says, and when its newest committed read was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import asyncpg

from syncd.warehouse.db import db_errors

# A windowed module's newest read is kept by a trigger on the ledger (sql/013); a paged
# module's is its newest committed page, last_success_at.
_READS = """
SELECT m.module, coalesce(f.read_at, m.last_success_at) AS read_at
FROM syncd.module_state m LEFT JOIN syncd.freshness f USING (source, module)
WHERE m.source = $1
"""

_SAVE_TARGETS = """
INSERT INTO syncd.freshness AS f (source, module, target_seconds)
SELECT $1, t.module, t.target FROM unnest($2::text[], $3::float8[]) AS t (module, target)
ON CONFLICT (source, module) DO UPDATE SET target_seconds = EXCLUDED.target_seconds
WHERE f.target_seconds IS DISTINCT FROM EXCLUDED.target_seconds
"""


async def reads(conn: asyncpg.Connection, source: str) -> dict[str, dt.datetime | None]:
    """Module → when its newest committed read was (absent before its first)."""
    with db_errors("reading the modules' newest reads"):
        rows = await conn.fetch(_READS, source)
    return {r["module"]: r["read_at"] for r in rows}


async def save_targets(conn: asyncpg.Connection, source: str,
                       targets: Mapping[str, float]) -> None:
    """Record the configured targets, so ``bi.freshness`` can say what is stale."""
    with db_errors("recording the freshness targets"):
        await conn.execute(_SAVE_TARGETS, source, list(targets), list(targets.values()))
