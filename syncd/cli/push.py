"""``syncd push`` (composition root): read the file, lock each source, send, report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from syncd.config import Config, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ConfigError, SourceBusy
from syncd.engine.http import open_session
from syncd.engine.limiter import RateLimiter
from syncd.kinds.skybiz.client import SkybizClient
from syncd.kinds.skybiz.push import encoding, outbox, validation
from syncd.kinds.skybiz.push.sender import ORDER, ModulePush, Problem, Pusher
from syncd.warehouse import db

Entry = tuple[str, str, str]  # source, module, document JSON text


def modules(given: Sequence[str]) -> tuple[str, ...]:
    """The push modules asked for (all three when none)."""
    for m in given:
        if m not in ORDER:
            raise ConfigError(f"push knows the modules {', '.join(ORDER)}, not {m!r}.")
    return tuple(m for m in ORDER if not given or m in given)


def load_file(path: Path, cfg: Config) -> list[Entry]:
    """The ``--file`` documents: a JSON array of {source, module, document} objects."""
    try:
        items = encoding.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}).") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}).") from None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: must be a JSON array of {{source, module, document}}.")
    return [_entry(path, n, item, cfg) for n, item in enumerate(items, 1)]


def _entry(path: Path, n: int, item: Any, cfg: Config) -> Entry:
    if not isinstance(item, dict) or not isinstance(item.get("document"), dict):
        raise ConfigError(f"{path}: entry {n} must be an object with a \"document\" object.")
    source = item.get("source") or (cfg.sources[0].name if len(cfg.sources) == 1 else None)
    if source not in {s.name for s in cfg.sources}:
        raise ConfigError(f"{path}: entry {n} names source {source!r}, which is not configured.")
    if item.get("module") not in ORDER:
        raise ConfigError(f"{path}: entry {n}: module must be one of {', '.join(ORDER)}.")
    return str(source), str(item["module"]), encoding.dumps(item["document"])


def check_entries(entries: list[Entry]) -> list[ModulePush]:
    """``--dry-run --file``: validate the file's documents without touching the outbox."""
    results: dict[tuple[str, str], ModulePush] = {}
    for n, (source, module, text) in enumerate(entries, 1):
        result = results.setdefault((source, module), ModulePush(source, module))
        doc = encoding.loads(text)
        errors = validation.validate(module, doc, n)
        if errors:
            result.invalid += 1
            result.problems.append(Problem(n, validation.name_of(module, doc), "invalid",
                                           "; ".join(errors)))
        else:
            result.waiting += 1
    return list(results.values())


async def push(cfg: Config, sources: list[SourceConfig], wanted: tuple[str, ...], *,
               dry_run: bool = False, entries: list[Entry] | None = None,
               backoff: Backoff | None = None) -> list[ModulePush]:
    """Add ``entries`` to the outbox, then push (or only validate) every source's documents."""
    from syncd.engine.hosts import limiters_for

    limiters = limiters_for(sources)
    results: list[ModulePush] = []
    async with db.ready(cfg.warehouse) as dsn, db.connection(dsn) as conn:
        if entries:
            await outbox.add(conn, entries)
        for source in sources:
            if not await outbox.lock(conn, source.name):
                raise SourceBusy(f"the outbox of source {source.name!r} is being pushed by "
                                 "another syncd (a running `syncd run`?); it will send the "
                                 "documents, or stop it first.")
            try:
                results += await _one(conn, source, limiters[source.name], wanted,
                                      dry_run=dry_run, backoff=backoff)
            finally:
                await outbox.unlock(conn, source.name)
    return results


async def _one(conn: Any, source: SourceConfig, limiter: RateLimiter, wanted: tuple[str, ...],
               *, dry_run: bool, backoff: Backoff | None) -> list[ModulePush]:
    if dry_run:
        return await Pusher(conn, source.name, None).push(wanted, dry_run=True)
    async with open_session(source) as session:
        client = SkybizClient(source, session, limiter, backoff=backoff)
        return await Pusher(conn, source.name, client).push(wanted)


def render(results: list[ModulePush], out: IO[str], *, dry_run: bool = False) -> None:
    """Per module: counts, then each invalid or rejected document with its reason."""
    for r in results:
        if dry_run:
            line = f"{r.source}/{r.module}: {r.invalid} invalid, {r.waiting} ready to send"
        else:
            line = (f"{r.source}/{r.module}: {r.inserted} inserted, {r.rejected} rejected, "
                    f"{r.invalid} invalid, {r.waiting} waiting ({r.requests} request"
                    f"{'' if r.requests == 1 else 's'})")
        print(line, file=out)
        for p in r.problems:
            print(f"  {p.state} #{p.id} {p.name}: {p.error}", file=out)


def sentences(results: list[ModulePush]) -> list[str]:
    """One sentence per module that stopped on an API error (401 once per source)."""
    seen: list[str] = []
    for r in results:
        if r.error is not None and str(r.error) not in seen:
            seen.append(str(r.error))
    return seen


def succeeded(results: list[ModulePush], *, dry_run: bool = False) -> bool:
    """Exit 0 only when everything was inserted (dry run: everything is valid)."""
    return all(r.error is None and not r.problems and (dry_run or r.waiting == 0)
               for r in results)
