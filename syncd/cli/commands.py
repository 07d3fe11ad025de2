"""The warehouse commands' bodies (composition root): build connections, run, answer.

``main.py`` parses arguments and prints; everything here returns data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from syncd.config import Config, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ConfigError, SourceBusy
from syncd.core.results import ModuleRun, ResyncRange
from syncd.engine.hosts import limiters_for
from syncd.engine.progress import Progress
from syncd.engine.syncer import kind_syncer, open_syncer
from syncd.service import leader
from syncd.warehouse import db


async def migrate(cfg: Config) -> list[str]:
    """Apply the migrations not yet applied; their versions."""
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
    async with db.ready(cfg.warehouse) as dsn:

        async def one(source: SourceConfig) -> list[ModuleRun]:
            async with db.connection(dsn) as conn:
                if not await leader.try_lead(conn, source.name):
                    raise SourceBusy(f"source {source.name!r} is being synced by another syncd "
                                     "(a running `syncd run`?); let it work or stop it first.")
                async with open_syncer(source, conn, backoff=backoff,
                                       limiter=limiters[source.name]) as worker:
                    return await worker.run(source.modules, progress(source), now=now,
                                            resync=resync)

        results = await asyncio.gather(*(one(s) for s in sources))
    return [run for runs in results for run in runs]


async def reset(cfg: Config, source: SourceConfig, module: str) -> str:
    """``syncd reset`` of one module: what its kind forgot and what the next sync does."""
    async with db.ready(cfg.warehouse) as dsn, db.connection(dsn) as conn:
        return await kind_syncer(source).forget(conn, source, module)


