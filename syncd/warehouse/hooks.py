"""``syncd.webhooks`` in the warehouse: registered webhook tokens (hashed) per source."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import asyncpg

from syncd.warehouse.db import db_errors


def digest(token: str) -> bytes:
    """What is stored of a token: its SHA-256 (the token itself is never kept)."""
    return hashlib.sha256(token.encode()).digest()


async def add(conn: asyncpg.Connection, source: str, token: str, url: str,
              events: Sequence[str]) -> None:
    with db_errors("recording the webhook"):
        await conn.execute("INSERT INTO syncd.webhooks (source, token_sha256, url, events) "
                           "VALUES ($1, $2, $3, $4::text[])", source, digest(token), url,
                           list(events))


async def tokens(conn: asyncpg.Connection) -> dict[bytes, str]:
    """Token digest -> source, for every registered webhook."""
    with db_errors("reading the webhooks"):
        rows = await conn.fetch("SELECT token_sha256, source FROM syncd.webhooks")
    return {bytes(r[0]): r[1] for r in rows}


async def heard(conn: asyncpg.Connection, source: str, at: dt.datetime) -> None:
    """A hint for ``source`` arrived at ``at``."""
    with db_errors("recording a webhook"):
        await conn.execute("UPDATE syncd.webhooks SET last_webhook_at = $2 WHERE source = $1",
                           source, at)


async def last_heard(conn: asyncpg.Connection, source: str) -> dt.datetime | None:
    with db_errors("reading the webhooks"):
        at: dt.datetime | None = await conn.fetchval(
            "SELECT max(last_webhook_at) FROM syncd.webhooks WHERE source = $1", source)
    return at
