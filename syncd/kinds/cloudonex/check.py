"""``syncd check`` of a CloudOnex source: the first page of every resource, read once.

When the key is refused (401), the first resource is asked once more with the key sent the
other way (``?api_key=`` instead of ``Authorization: Bearer``, or back): a server whose web
server drops the header (PHP under CGI/FastCGI) accepts the query form, and the check then
says to set ``auth = "query"`` rather than to fix a key that is right.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import aiohttp

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ApiError, SourceUnauthorized
from syncd.engine.checks import CHECK_BACKOFF, ModuleCheck, outcome
from syncd.engine.http import open_session
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.cloudonex.client import CloudonexClient
from syncd.kinds.options import CloudonexOptions

OTHER = {"bearer": "query", "query": "bearer"}


async def check_source(source: SourceConfig, now: dt.datetime, limiter: RateLimiter,
                       backoff: Backoff = CHECK_BACKOFF) -> list[ModuleCheck]:
    """The first page of every resource of ``source``, through its host's limiter."""
    async with open_session(source) as session:
        client = CloudonexClient(source, session, limiter, backoff=backoff)
        results: list[ModuleCheck] = []
        for name in source.modules:
            try:
                fetched = await client.page(name, 1, bulk=False, priority=Priority.FRESH)
            except SourceUnauthorized as exc:  # refused for every resource: ask no further
                works = await _other_way(source, session, limiter, name)
                rest = source.modules[len(results):]
                return results + [_hint(source, works, m) if works else
                                  outcome(source.name, m, exc) for m in rest]
            except ApiError as exc:
                results.append(outcome(source.name, name, exc))
                continue
            total = fetched.page.total_records
            detail = f"{total} records" if total is not None else \
                f"{len(fetched.page.records)} records on page 1 (no totals)"
            results.append(ModuleCheck(source.name, name, "ok", detail))
        return results


def _hint(source: SourceConfig, works: str, module: str) -> ModuleCheck:
    """The check row of a resource once the key worked sent the other way (``works``)."""
    where = f"[sources.{source.name}]"
    if works == "query":
        detail = 'Bearer refused, ?api_key= accepted: set auth = "query"'
        sentence = (f"The CloudOnex server of source {source.name!r} refuses the key in the "
                    "Authorization header but accepts it as ?api_key= (its web server drops "
                    "the header, as PHP under CGI/FastCGI does): set auth = \"query\" in "
                    f"{where}.")
    else:
        detail = '?api_key= refused, Bearer accepted: remove auth = "query"'
        sentence = (f"The CloudOnex server of source {source.name!r} refuses the key as "
                    "?api_key= but accepts it in the Authorization header: remove "
                    f"auth = \"query\" from {where}.")
    return ModuleCheck(source.name, module, "bad credentials", detail, sentence)


async def _other_way(source: SourceConfig, session: aiohttp.ClientSession,
                     limiter: RateLimiter, resource: str) -> str | None:
    """The other ``auth``, when the key refused as configured is accepted sent that way."""
    options = source.options_of(CloudonexOptions)
    other = dataclasses.replace(source, options=dataclasses.replace(
        options, auth=OTHER[options.auth]))
    client = CloudonexClient(other, session, limiter, backoff=Backoff(0, 0, 1))
    try:
        await client.page(resource, 1, bulk=False, priority=Priority.FRESH)
    except ApiError:
        return None
    return other.auth
