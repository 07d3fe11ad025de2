"""``syncd check``: can each configured module of each source be read right now?"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TextIO

from syncd.cli import report
from syncd.config import Config
from syncd.core.backoff import Backoff
from syncd.core.errors import (
    ApiError,
    EndpointMisconfigured,
    ModuleForbidden,
    RetriesExhausted,
    SourceUnauthorized,
)
from syncd.engine import capacity
from syncd.engine.hosts import limiters_for

# Two tries: enough to ride out one transient fault, short enough to answer quickly.
CHECK_BACKOFF = Backoff(initial=1.0, maximum=2.0, attempts=2)


@dataclass(frozen=True, slots=True)
class ModuleCheck:
    """The outcome for one module: ``ok`` or what is wrong, plus the sentence to act on."""

    source: str
    module: str
    result: str
    detail: str
    error: str | None = None  # the one plain sentence, for stderr


def outcome(source: str, module: str, exc: ApiError) -> ModuleCheck:
    """Map an error onto the check table's vocabulary."""
    result = {
        SourceUnauthorized: "bad credentials",
        ModuleForbidden: "no read permission",
        EndpointMisconfigured: "misconfigured",
        RetriesExhausted: "unreachable",
    }.get(type(exc), "error")
    detail = exc.message or ("request_id " + exc.request_id if exc.request_id else result)
    return ModuleCheck(source, module, result, detail, str(exc))


async def run_check(config: Config, now: dt.datetime) -> list[ModuleCheck]:
    limiters = limiters_for(list(config.sources))
    results: list[ModuleCheck] = []
    for source in config.sources:
        checker = source.source_kind.checker()
        results.extend(await checker(source, now, limiters[source.name]))
    return results


def render(results: list[ModuleCheck], out: TextIO) -> None:
    """The answer table on stdout."""
    report.table([("SOURCE", "MODULE", "RESULT", "DETAIL")]
                 + [(r.source, r.module, r.result, r.detail) for r in results], out)


def capacity_report(config: Config, out: TextIO, now: dt.datetime) -> list[str]:
    """Write each host's capacity line under the table; return its warnings (one sentence
    per host whose configured intervals cannot be met)."""
    figures = capacity.from_config(config, now)
    for line in dict.fromkeys(c.sentence() for c in figures.values()):
        out.write(f"capacity {line}\n")
    return capacity.warnings(figures)


def sentences(results: list[ModuleCheck]) -> list[str]:
    """The distinct error sentences, credentials first (they explain the rest)."""
    errors = sorted((r for r in results if r.error), key=lambda r: r.result != "bad credentials")
    return list(dict.fromkeys(r.error or "" for r in errors))
