"""Plain-text answers for stdout: the pass summary and the status table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TextIO

from syncd.config import Config
from syncd.core.results import ModuleRun
from syncd.core.statusdoc import ModuleDoc, StatusDoc
from syncd.core.text import printable
from syncd.engine import capacity, progress
from syncd.engine.checks import ModuleCheck
from syncd.service.statuspage import outbox_counts


def table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Left-aligned columns; the last column is not padded. Cells may hold a server's
    words (a message, a field name): control characters never reach the terminal."""
    rows = [[printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def runs(items: list[ModuleRun], out: TextIO) -> None:
    """One line per module of the pass: the rows and lines it wrote (new or changed), in
    the status table's words."""
    rows = [("SOURCE", "MODULE", "WINDOWS", "ROWS", "LINES", "DELETED", "REQUESTS", "RESULT")]
    for r in items:
        result = "ok" if r.error is None else f"failed: {type(r.error).__name__}"
        done, planned = progress.counted(r)
        written, lines = progress.written(r)
        rows.append((r.source, r.module, f"{done}/{planned}", str(written), str(lines),
                     str(r.deleted), str(r.requests), result))
    table(rows, out)


def sentences(items: list[ModuleRun]) -> list[str]:
    """Each distinct error once, in the order met."""
    return list(dict.fromkeys(printable(str(r.error)) for r in items if r.error is not None))


def span(seconds: float) -> str:
    """A duration as a person reads it: "45s", "4m", "2h", "3d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def when(iso: str) -> str:
    """A time of the status document with its UTC offset, as a person reads it:
    "2026-12-05 03:48:41+08:00" (the source's zone)."""
    return iso.replace("T", " ", 1)


def freshness(m: ModuleDoc) -> str:
    """E.g. "4m/5m" (age / target), "stale 2h/1h", "-/5m" before the first read."""
    if "freshness_target" not in m:
        return "-"
    age = m.get("age_seconds")
    text = f"{'-' if age is None else span(age)}/{span(m['freshness_target'])}"
    return f"stale {text}" if m.get("stale") and age is not None else text


def status(doc: StatusDoc, out: TextIO) -> None:
    """The human form of ``status --json``."""
    rows = [("SOURCE", "MODULE", "LOADED", "BACKFILL", "ROWS", "DELETED", "AGE/TARGET",
             "LAST SUCCESS", "LAST ERROR")]
    notes: list[str] = []
    for s in doc["sources"]:
        if figures := s.get("capacity"):
            warning = figures["warning"]
            notes += [f"capacity {figures['summary']}", f"warning: {warning}" if warning
                      else ""]
        if warning := s.get("freshness_warning"):
            notes.append(f"warning: {warning}")
        if s.get("renewal_date"):
            notes.append(f"{s['name']}: the API key must be renewed by {s['renewal_date']} "
                         "(syncd register)")
        if budget := s.get("budget"):
            left = "?" if budget["remaining"] is None else budget["remaining"]
            resets = f", resets {when(budget['reset_at'])}" if budget["reset_at"] else ""
            notes.append(f"{s['name']}: API budget {left} of {budget['limit']} requests left"
                         f"{resets}")
        for m in s["modules"]:
            if "last_full_read_at" in m:  # a paged kind: complete reads, no date range
                full = m["last_full_read_at"]
                loaded = f"read {when(full)}" if full else "-"
                backfill = "complete" if m["backfill_complete"] else "first read"
            else:
                loaded = (f"{m['low_watermark']}..{m['high_watermark']}"
                          if m["low_watermark"] else "-")
                backfill = "complete" if m["backfill_complete"] else (
                    f"{m['backfill_progress']:.0%}")
            rows.append((s["name"], m["module"], loaded, backfill, str(m["rows"]),
                         str(m["deleted_rows"]), freshness(m),
                         when(m["last_success_at"]) if m["last_success_at"] else "never",
                         (m["last_error"] or "-")[:80]))
            if m["new_fields"]:
                notes.append(f"{s['name']}/{m['module']}: new fields seen: "
                             f"{', '.join(m['new_fields'])} (kept in _raw)")
            if m["unparsed_values"]:
                n = m["unparsed_values"]
                notes.append(f"{s['name']}/{m['module']}: {n} value{'s' if n != 1 else ''} did "
                             "not parse for their column (stored as NULL, kept in _raw)")
        notes += [f"{s['name']}/{module} outbox: {outbox_counts(counts)}"
                  for module, counts in s.get("outbox", {}).items()]
    table(rows, out)
    # Sources sharing a host repeat its capacity lines: each distinct line once.
    for note in dict.fromkeys(n for n in notes if n):
        out.write(printable(note) + "\n")


def checks(results: list[ModuleCheck], out: TextIO) -> None:
    """The answer table on stdout."""
    table([("SOURCE", "MODULE", "RESULT", "DETAIL")]
                 + [(r.source, r.module, r.result, r.detail) for r in results], out)


def capacity_report(config: Config, out: TextIO, now: dt.datetime) -> list[str]:
    """Write each host's capacity line under the table; return its warnings (one sentence
    per host whose configured intervals cannot be met)."""
    figures = capacity.from_config(config, now)
    for line in dict.fromkeys(c.sentence() for c in figures.values()):
        out.write(f"capacity {line}\n")
    targets, unmet = capacity.freshness_report(config)
    out.writelines(f"{line}\n" for line in targets)
    return [*capacity.warnings(figures), *unmet]
