"""Remembered window sizes (``syncd.window_size``): ranges the server answers only in pieces."""

from __future__ import annotations

import asyncpg

from syncd.core.splits import Span
from syncd.warehouse.db import db_errors

_SPANS = """
SELECT date_from, date_to, days FROM syncd.window_size
WHERE source = $1 AND module = $2 ORDER BY date_from, date_to
"""

# A range split again keeps the smaller size: a size that failed is never tried there again.
_REMEMBER = """
INSERT INTO syncd.window_size AS w (source, module, date_from, date_to, days)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (source, module, date_from, date_to) DO UPDATE SET days = least(w.days, EXCLUDED.days)
"""


async def spans(conn: asyncpg.Connection, source: str, module: str) -> list[Span]:
    """Every remembered range of one module."""
    with db_errors("reading remembered window sizes"):
        rows = await conn.fetch(_SPANS, source, module)
    return [Span(r["date_from"], r["date_to"], r["days"]) for r in rows]


async def remember(conn: asyncpg.Connection, source: str, module: str, span: Span) -> None:
    """Keep ``span`` for later passes, re-reads and resyncs."""
    with db_errors("remembering a window size"):
        await conn.execute(_REMEMBER, source, module, span.date_from, span.date_to, span.days)
