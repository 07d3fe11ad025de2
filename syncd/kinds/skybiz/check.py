"""``syncd check`` of a SKYBIZ source: today's window of every module, read once."""

from __future__ import annotations

import asyncio
import datetime as dt

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ApiError, SourceUnauthorized
from syncd.engine.checks import CHECK_BACKOFF, ModuleCheck, outcome
from syncd.engine.http import open_session
from syncd.engine.limiter import RateLimiter
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.client import FORM, SkybizClient


async def check_source(
    source: SourceConfig, now: dt.datetime, limiter: RateLimiter,
    backoff: Backoff = CHECK_BACKOFF,
) -> list[ModuleCheck]:
    """Read today's window of every module of ``source`` once, through its host's limiter."""
    today = source.today(now)
    async with open_session(source) as session:
        client = SkybizClient(source, session, limiter, backoff=backoff)

        refused: list[SourceUnauthorized] = []
        tasks: list[asyncio.Task[ModuleCheck]] = []

        async def one(name: str) -> ModuleCheck:
            key_fields = skybiz.get(name).key
            try:
                page = await client.read(name, today, today, fields=key_fields)
            except SourceUnauthorized as exc:
                # The credentials are refused for every module: ask no further.
                refused.append(exc)
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                return outcome(source.name, name, exc)
            except ApiError as exc:
                return outcome(source.name, name, exc)
            encoded = ", form-encoded" if client.encoding == FORM else ""
            return ModuleCheck(source.name, name, "ok",
                               f"{len(page.records)} records today, mode {page.mode}{encoded}")

        tasks.extend(asyncio.create_task(one(m)) for m in source.modules)
        done = await asyncio.gather(*tasks, return_exceptions=True)
        results = []
        for name, result in zip(source.modules, done, strict=True):
            if isinstance(result, asyncio.CancelledError) and refused:
                results.append(outcome(source.name, name, refused[0]))  # cut short by a 401
            elif isinstance(result, BaseException):
                raise result
            else:
                results.append(result)
        return results
