"""``syncd push`` (composition root): read the file, lock each source, send, report.

Kind-neutral: each source's kind names its writer (``registry.SourceKind.writer_path``) and
its syncer supplies the client the writer sends with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from syncd.config import Config, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ConfigError, SourceBusy
from syncd.engine.hosts import limiters_for
from syncd.engine.limiter import RateLimiter
from syncd.engine.outbox import jsontext
from syncd.engine.outbox.pusher import Pusher
from syncd.engine.outbox.writer import OPERATIONS, Document, ModulePush, Problem, Writer
from syncd.kinds import registry
from syncd.warehouse import db, outbox

__all__ = ["ModulePush", "Problem", "check_entries", "load_file", "modules", "push", "render",
           "sentences", "succeeded"]
Entry = outbox.Entry


def writer_for(source: SourceConfig, client: Any = None) -> Writer:
    """The source kind's outbox writer (``client`` None: it only validates)."""
    writer: Writer = source.source_kind.writer()(source, client)
    return writer


def push_modules(kind: registry.SourceKind) -> tuple[str, ...]:
    """The modules a kind pushes, in its order (none when it has no write-back)."""
    if not kind.pushes or kind.writer_path is None:
        return ()
    names: tuple[str, ...] = kind.writer().modules  # a class attribute of every writer
    return names


def modules(given: Sequence[str]) -> tuple[str, ...]:
    """The push modules asked for (every kind's when none)."""
    known = tuple(dict.fromkeys(m for k in registry.KINDS.values() for m in push_modules(k)))
    for m in given:
        if m not in known:
            raise ConfigError(f"push knows the modules {', '.join(known)}, not {m!r}.")
    return tuple(m for m in known if not given or m in given)


def load_file(path: Path, cfg: Config) -> list[Entry]:
    """The ``--file`` documents: a JSON array of {source, module, document} objects (with
    ``operation`` and ``target_id`` for an update or delete)."""
    try:
        items = jsontext.loads(path.read_bytes())
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
    known = push_modules(cfg.source(str(source)).source_kind)
    if item.get("module") not in known:
        raise ConfigError(f"{path}: entry {n}: module must be one of {', '.join(known)}.")
    operation = item.get("operation", "create")
    target = item.get("target_id")
    if operation not in OPERATIONS or (operation != "create" and target in (None, "")):
        raise ConfigError(f"{path}: entry {n}: operation must be one of "
                          f"{', '.join(OPERATIONS)}; update and delete need a target_id.")
    return Entry(str(source), str(item["module"]), jsontext.dumps(item["document"]),
                 str(operation), None if target is None else str(target))


def check_entries(entries: list[Entry], cfg: Config) -> list[ModulePush]:
    """``--dry-run --file``: validate the file's documents without touching the outbox."""
    results: dict[tuple[str, str], ModulePush] = {}
    for n, e in enumerate(entries, 1):
        result = results.setdefault((e.source, e.module), ModulePush(e.source, e.module))
        writer = writer_for(cfg.source(e.source))
        doc = Document(n, "pending", e.text, jsontext.loads(e.text), e.operation, e.target_id)
        errors = writer.validate(e.module, doc, n)
        if errors:
            result.invalid += 1
            result.problems.append(Problem(n, writer.name(e.module, doc), "invalid",
                                           "; ".join(errors)))
        else:
            result.waiting += 1
    return list(results.values())


async def push(cfg: Config, sources: list[SourceConfig], wanted: tuple[str, ...], *,
               dry_run: bool = False, entries: list[Entry] | None = None,
               backoff: Backoff | None = None) -> list[ModulePush]:
    """Add ``entries`` to the outbox, then push (or only validate) every source's documents."""

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
        return await Pusher(conn, source.name, writer_for(source)).push(wanted, dry_run=True)
    syncer = source.source_kind.syncer()
    async with syncer(source, conn, limiter=limiter, backoff=backoff) as sync:
        writer = writer_for(source, sync.client)
        return await Pusher(conn, source.name, writer).push(wanted)


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
