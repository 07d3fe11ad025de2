"""The warehouse commands' bodies (composition root): build connections, run, answer.

``cli.py`` parses arguments and prints; everything here returns data.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import asyncpg

from syncd import leader, membership, registry
from syncd.backoff import Backoff
from syncd.config import Config, SourceConfig
from syncd.errors import ConfigError, SourceBusy
from syncd.progress import Progress
from syncd.push import outbox
from syncd.sync import ModuleRun, ResyncRange, SourceSync, limiters_for
from syncd.warehouse import db, state


@contextlib.asynccontextmanager
async def warehouse(cfg: Config, *, migrate: bool = True) -> AsyncIterator[str]:
    """The warehouse DSN (embedded PostgreSQL started if none is configured), migrated."""
    async with db.warehouse_dsn(cfg.warehouse) as dsn:
        if migrate:
            async with db.connection(dsn) as conn:
                await db.migrate(conn)
        yield dsn


async def migrate(cfg: Config) -> list[str]:
    async with db.warehouse_dsn(cfg.warehouse) as dsn, db.connection(dsn) as conn:
        return await db.migrate(conn)


def select(cfg: Config, source: str | None, modules: list[str]) -> list[SourceConfig]:
    """The sources of a command, each narrowed to the requested modules."""
    sources = [cfg.source(source)] if source else list(cfg.sources)
    for m in modules:
        if m not in registry.BY_NAME:
            raise ConfigError(f"unknown module {m!r}; known: {', '.join(registry.BY_NAME)}.")
    out = []
    for s in sources:
        chosen = tuple(m for m in s.modules if not modules or m in modules)
        missing = [m for m in modules if m not in s.modules]
        if missing and source:
            raise ConfigError(f"{cfg.path}: source {s.name!r} does not sync {missing[0]!r}; "
                              "add it to its modules list.")
        if chosen:
            out.append(_with_modules(s, chosen))
    if not out:
        raise ConfigError(f"{cfg.path}: no configured source syncs {', '.join(modules)}.")
    return out


def _with_modules(s: SourceConfig, modules: tuple[str, ...]) -> SourceConfig:
    return replace(s, modules=modules)


async def sync(
    cfg: Config, sources: list[SourceConfig], progress: Callable[[SourceConfig], Progress], *,
    now: dt.datetime, resync: ResyncRange | None = None, backoff: Backoff | None = None,
) -> list[ModuleRun]:
    """One pass over ``sources`` (concurrently, one connection each); returns every run."""
    limiters = limiters_for(sources)
    async with warehouse(cfg) as dsn:

        async def one(source: SourceConfig) -> list[ModuleRun]:
            async with db.connection(dsn) as conn:
                if not await leader.try_lead(conn, source.name):
                    raise SourceBusy(f"source {source.name!r} is being synced by another syncd "
                                     "(a running `syncd run`?); let it work or stop it first.")
                async with SourceSync(source, conn, backoff=backoff,
                                      limiter=limiters[source.name]) as worker:
                    return await worker.run(source.modules, progress(source), now=now,
                                            resync=resync)

        results = await asyncio.gather(*(one(s) for s in sources))
    return [run for runs in results for run in runs]


async def reset(cfg: Config, source: SourceConfig, module: str) -> bool:
    async with warehouse(cfg) as dsn, db.connection(dsn) as conn:
        return await state.reset(conn, source.name, module)


async def status(cfg: Config, now: dt.datetime) -> dict[str, Any]:
    """The ``status --json`` document (CONTRACT §5) plus new fields and unparsed values."""
    async with warehouse(cfg) as dsn, db.connection(dsn) as conn:
        return {"sources": [await source_status(conn, s, now) for s in cfg.sources]}


async def source_status(
    conn: asyncpg.Connection, source: SourceConfig, now: dt.datetime
) -> dict[str, Any]:
    """One source's part of the status document."""
    modules = []
    for name in source.modules:
        st = await state.module_status(conn, source.name, name)
        complete = st.low_watermark is not None and st.low_watermark <= source.backfill_from
        modules.append({
            "module": name,
            "high_watermark": _iso(st.high_watermark),
            "low_watermark": _iso(st.low_watermark),
            "backfill_complete": complete,
            "backfill_progress": _progress(st, source, now),
            "rows": st.rows,
            "deleted_rows": st.deleted_rows,
            "last_success_at": _iso(st.last_success_at.astimezone(source.zone)
                                    .replace(microsecond=0) if st.last_success_at else None),
            "last_error": st.last_error,
            "new_fields": list(st.new_fields),
            "unparsed_values": st.unparsed_values,
        })
    return {"name": source.name, "kind": source.kind, "modules": modules,
            "renewal_date": _iso(source.renewal_date),
            "leader": (await membership.leaders(conn)).get(source.name),
            "outbox": await outbox.counts(conn, source.name)}


def _progress(st: state.ModuleStatus, source: SourceConfig, now: dt.datetime) -> float:
    """Share of the days from backfill_from to today that are loaded."""
    if st.low_watermark is None or st.high_watermark is None:
        return 0.0
    today = source.today(now)
    span = (today - min(source.backfill_from, today)).days + 1
    low = max(st.low_watermark, source.backfill_from)
    loaded = (min(st.high_watermark, today) - low).days + 1
    return round(max(0.0, min(1.0, loaded / span)), 4)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
