"""Showing a pass as it goes: live per-module bars on a terminal, log events otherwise.

Both go to stderr; stdout stays for the command's answer. The ETA comes from the rate
limit, which is what bounds a backfill: each remaining window costs one request slot.
The words are the status table's: *rows* of the module's table (a document module's
documents, a master's records) and their *lines* — never the API's "records", which are
lines in a flat answer and documents in a nested one.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

import structlog

from syncd.config import RateLimit
from syncd.core.results import LoadResult, ModuleRun

log = structlog.get_logger("syncd.sync")


class Progress(Protocol):
    def planned(self, run: ModuleRun) -> None: ...
    def window_done(self, run: ModuleRun, result: LoadResult) -> None: ...
    def finished(self, run: ModuleRun) -> None: ...


class LogProgress:
    """One structured summary line per committed window, and one per module."""

    def planned(self, run: ModuleRun) -> None:
        log.info("sync.module_planned", source=run.source, module=run.module,
                 windows=run.planned)

    def window_done(self, run: ModuleRun, result: LoadResult) -> None:
        log.info("sync.window_committed", source=run.source, module=run.module,
                 window=result.what, purpose=result.purpose,
                 records=result.records, upserted=result.upserted, lines=result.lines,
                 deleted=result.deleted, requests=result.requests,
                 retries=result.requests - 1, done=run.done, planned=run.planned)

    def finished(self, run: ModuleRun) -> None:
        if run.error is None:
            log.info("sync.module_done", source=run.source, module=run.module,
                     windows=run.done, records=run.records)
        else:
            log.warning("sync.module_failed", source=run.source, module=run.module,
                        error=str(run.error), request_id=run.error.request_id)


class TtyProgress:
    """Redraws a block of per-module bars with an ETA from the rate limit."""

    def __init__(self, rate: RateLimit, out: TextIO = sys.stderr, width: int = 24) -> None:
        self.seconds_per_request = rate.seconds_per_request
        self.out, self.width = out, width
        self.runs: dict[str, ModuleRun] = {}
        self.drawn = 0
        self.started = time.monotonic()

    def planned(self, run: ModuleRun) -> None:
        self.runs[f"{run.source}/{run.module}"] = run
        self._draw()

    def window_done(self, run: ModuleRun, result: LoadResult) -> None:
        self._draw()

    def finished(self, run: ModuleRun) -> None:
        self._draw()

    def _line(self, name: str, run: ModuleRun) -> str:
        done, planned = counted(run)
        bar = "#" * round(done / planned * self.width if planned else self.width)
        state = ("FAILED: " + str(run.error)[:60]) if run.error else (
            ("done, " if run.finished else "") + written_words(run))
        return f"{name:<22} [{bar:<{self.width}}] {done:>4}/{planned:<4} {state}"

    def _draw(self) -> None:
        lines = [self._line(n, r) for n, r in self.runs.items()]
        left = sum(max(0, r.planned - r.done) for r in self.runs.values()
                   if r.error is None and not r.finished)
        elapsed = time.monotonic() - self.started
        lines.append(f"{left} windows to go, ETA {_clock(left * self.seconds_per_request)}"
                     f" (elapsed {_clock(elapsed)})")
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")
        self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)


def counted(run: ModuleRun) -> tuple[int, int]:
    """Windows (or pages) done and planned. A read that finished is whole: a listing that
    ended before the pages its first page announced shows 3/3, never 3/4; a split window
    never shows more done than planned."""
    if run.finished and run.error is None:
        return run.done, run.done
    return run.done, max(run.planned, run.done)


def written(run: ModuleRun) -> tuple[int, int]:
    """Rows and lines the pass wrote (new or changed) so far."""
    return (sum(r.upserted for r in run.results), sum(r.lines for r in run.results))


def written_words(run: ModuleRun) -> str:
    """E.g. "17,774 rows, 80,367 lines"; no lines part for a module without any."""
    rows, lines = written(run)
    return f"{rows:,} rows" + (f", {lines:,} lines" if lines else "")


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def for_stream(rate: RateLimit, stream: TextIO = sys.stderr) -> Progress:
    """Bars on a terminal, log lines otherwise."""
    return TtyProgress(rate, stream) if stream.isatty() else LogProgress()
