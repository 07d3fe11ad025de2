"""The warehouse commands' bodies (composition root): build connections, run, answer.

``cli.py`` parses arguments and prints; everything here returns data.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg

from syncd.config import Config, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ConfigError, SourceBusy
from syncd.core.results import ModuleRun, ResyncRange
from syncd.core.statusdoc import BudgetDoc, CapacityDoc, ModuleDoc, SourceDoc, StatusDoc
from syncd.engine import capacity
from syncd.engine.hosts import limiters_for
from syncd.engine.progress import Progress
from syncd.kinds.skybiz.push import outbox
from syncd.service import leader, membership
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
    known = {m for s in sources for m in s.source_kind.names}
    for m in modules:
        if m not in known:
            raise ConfigError(f"unknown module {m!r}; known: {', '.join(sorted(known))}.")
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
                syncer = source.source_kind.syncer()
                async with syncer(source, conn, backoff=backoff,
                                  limiter=limiters[source.name]) as worker:
                    return await worker.run(source.modules, progress(source), now=now,
                                            resync=resync)

        results = await asyncio.gather(*(one(s) for s in sources))
    return [run for runs in results for run in runs]


async def reset(cfg: Config, source: SourceConfig, module: str) -> bool:
    async with warehouse(cfg) as dsn, db.connection(dsn) as conn:
        if source.source_kind.windowed:
            return await state.reset(conn, source.name, module)
        return await state.forget_full_read(conn, source.name, module)


async def status(cfg: Config, now: dt.datetime) -> StatusDoc:
    """The ``status --json`` document (CONTRACT §5) plus new fields and unparsed values."""
    figures = capacity.from_config(cfg, now)
    async with warehouse(cfg) as dsn, db.connection(dsn) as conn:
        leaders = await membership.leaders(conn)
        return {"sources": [
            await source_status(conn, s, now, leader=leaders.get(s.name),
                                host_capacity=figures[s.name].to_json())
            for s in cfg.sources]}


async def source_status(
    conn: asyncpg.Connection, source: SourceConfig, now: dt.datetime, *,
    leader: str | None = None, host_capacity: CapacityDoc | None = None,
) -> SourceDoc:
    """One source's part of the status document; its leader and its host's capacity as the
    caller knows them (computed once for all sources)."""
    modules: list[ModuleDoc] = []
    windowed = source.backfill_from is not None
    for name in source.modules:
        st = await state.module_status(conn, source.name, source.module(name))
        floor = source.backfill_floor(name)  # masters: masters_from; documents: backfill_from
        if floor is not None:
            high = st.high_watermark
            complete = st.low_watermark is not None and st.low_watermark <= floor
            progress = _progress(st, floor, source.today(now))
        else:  # a paged kind: current as of its last read, complete after a complete read
            high = st.last_success_at.astimezone(source.zone).date() if st.last_success_at \
                else None
            complete = st.last_full_read_at is not None
            progress = 1.0 if complete else 0.0
        entry: ModuleDoc = {
            "module": name,
            "high_watermark": _iso(high),
            "low_watermark": _iso(st.low_watermark),
            "backfill_complete": complete,
            "backfill_progress": progress,
            "rows": st.rows,
            "deleted_rows": st.deleted_rows,
            "last_success_at": _iso(_local(st.last_success_at, source)),
            "last_error": st.last_error,
            "new_fields": list(st.new_fields),
            "unparsed_values": st.unparsed_values,
        }
        if not windowed:
            entry["last_full_read_at"] = _iso(_local(st.last_full_read_at, source))
        modules.append(entry)
    doc: SourceDoc = {
        "name": source.name, "kind": source.kind, "modules": modules,
        "renewal_date": _iso(source.renewal_date),
        "leader": leader, "outbox": await outbox.counts(conn, source.name),
        "capacity": host_capacity}
    if not windowed:
        doc["budget"] = _budget(await state.budget(conn, source.name), source, now)
    return doc


def _local(at: dt.datetime | None, source: SourceConfig) -> dt.datetime | None:
    return at.astimezone(source.zone).replace(microsecond=0) if at else None


def _budget(seen: state.Budget | None, source: SourceConfig, now: dt.datetime) -> BudgetDoc:
    """The API budget as its server announced it last (``remaining`` is back to the limit
    once ``reset_at`` has passed)."""
    rate = source.rate_limit
    limit = seen.limit if seen and seen.limit is not None else rate.requests
    remaining = seen.remaining if seen else None
    if seen and seen.reset_at is not None and seen.reset_at <= now:
        remaining = limit
    return {"limit": limit, "per_seconds": rate.per_seconds, "remaining": remaining,
            "reset_at": _iso(_local(seen.reset_at, source) if seen else None),
            "observed_at": _iso(_local(seen.observed_at, source) if seen else None)}


def _progress(st: state.ModuleStatus, backfill_from: dt.date, today: dt.date) -> float:
    """Share of the days from the module's backfill floor to today that are loaded."""
    if st.low_watermark is None or st.high_watermark is None:
        return 0.0
    span = (today - min(backfill_from, today)).days + 1
    low = max(st.low_watermark, backfill_from)
    loaded = (min(st.high_watermark, today) - low).days + 1
    return round(max(0.0, min(1.0, loaded / span)), 4)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
