"""The status document (CONTRACT §5) of every source, built in one place: for
``syncd status``, the demo, the daemon's status page, ``/status.json`` and its gauges."""

from __future__ import annotations

import datetime as dt

from syncd.config import Config, SourceConfig
from syncd.core import freshness as fresh
from syncd.core.statusdoc import CapacityDoc, ModuleDoc, SourceDoc, StatusDoc
from syncd.engine import capacity
from syncd.engine.syncer import kind_syncer
from syncd.service import membership
from syncd.warehouse import db, hooks, outbox, state
from syncd.warehouse import freshness as reads


async def document(cfg: Config, now: dt.datetime) -> StatusDoc:
    """The ``status --json`` document (CONTRACT §5) plus new fields and unparsed values."""
    figures = capacity.from_config(cfg, now)
    async with db.ready(cfg.warehouse) as dsn, db.connection(dsn) as conn:
        leaders = await membership.leaders(conn)
        for s in cfg.sources:
            await reads.save_targets(conn, s.name, s.freshness)
        doc: StatusDoc = {"sources": [
            await source_document(conn, s, now, leader=leaders.get(s.name),
                                host_capacity=figures[s.name].to_json())
            for s in cfg.sources]}
    add_target_fits(doc, capacity.target_fits(capacity.loads_of(cfg)))
    return doc


async def source_document(
    conn: db.Connection, source: SourceConfig, now: dt.datetime, *,
    leader: str | None = None, host_capacity: CapacityDoc | None = None,
) -> SourceDoc:
    """One source's part of the status document; its leader and its host's capacity as the
    caller knows them (computed once for all sources)."""
    modules: list[ModuleDoc] = []
    kind = kind_syncer(source)
    read_at = await reads.reads(conn, source.name)
    for name in source.modules:
        st = await state.module_status(conn, source.name, source.module(name))
        standing = kind.standing(source, st, now)
        entry: ModuleDoc = {
            "module": name,
            "high_watermark": _iso(standing.high),
            "low_watermark": _iso(st.low_watermark),
            "backfill_complete": standing.complete,
            "backfill_progress": standing.progress,
            "rows": st.rows,
            "deleted_rows": st.deleted_rows,
            "last_success_at": source.local_iso(st.last_success_at),
            "last_error": st.last_error,
            "new_fields": list(st.new_fields),
            "unparsed_values": st.unparsed_values,
        }
        if standing.reads_completely:
            entry["last_full_read_at"] = source.local_iso(standing.full_read_at)
        _add_freshness(entry, source.freshness_target(name), read_at.get(name), now)
        modules.append(entry)
    doc: SourceDoc = {
        "name": source.name, "kind": source.kind, "modules": modules,
        "renewal_date": _iso(source.renewal_date),
        "leader": leader, "outbox": await outbox.counts(conn, source.name),
        "capacity": host_capacity}
    if (budget := await kind.budget_doc(conn, source, now)) is not None:
        doc["budget"] = budget
    if source.source_kind.request_encodings:  # CONTRACT §10: which one the server takes
        doc["request_encoding"] = (await state.request_encoding(conn, source.name)
                                   or source.source_kind.request_encodings[0])
    if source.source_kind.hints_path:
        doc["last_webhook_at"] = source.local_iso(await hooks.last_heard(conn, source.name))
    return doc


def _add_freshness(entry: ModuleDoc, target: float, read_at: dt.datetime | None,
                   now: dt.datetime) -> None:
    """§11: the module's target, the age of its newest committed read, and whether stale."""
    age = fresh.age_seconds(read_at, now)
    entry["freshness_target"] = target
    entry["age_seconds"] = None if age is None else round(age, 1)
    entry["stale"] = fresh.is_stale(age, target)


def add_target_fits(doc: StatusDoc, fits: list[capacity.TargetFit]) -> None:
    """Mark each module whose target its host's rate cannot meet (``target_met``)."""
    met = {(f.source, f.module): f.met for f in fits}
    for s in doc["sources"]:
        for m in s["modules"]:
            m["target_met"] = met.get((s["name"], m["module"]), True)
        host = _host(s)
        peers = {o["name"] for o in doc["sources"] if _host(o) == host}
        s["freshness_warning"] = capacity.unmet_sentence([f for f in fits if f.source in peers])


def _host(s: SourceDoc) -> str | None:
    return s["capacity"]["host"] if s["capacity"] else None


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
