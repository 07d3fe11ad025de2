"""The pass's progress and summary in the status table's words: rows and lines, and a
finished read is whole (never "3/4")."""

from __future__ import annotations

import io

import pytest

from syncd.cli import report
from syncd.config import RateLimit
from syncd.core.errors import ApiError
from syncd.core.results import LoadResult, ModuleRun
from syncd.engine import progress


def _result(rows: int, lines: int) -> LoadResult:
    return LoadResult("page 1/4", "complete", rows + lines, rows, lines, 0, 0, (), 1, 0.1)


def _run(planned: int, windows: list[tuple[int, int]], *, finished: bool = False,
         error: ApiError | None = None) -> ModuleRun:
    run = ModuleRun("crm", "invoices", planned=planned)
    for rows, lines in windows:
        run.absorb(_result(rows, lines))
    run.finished, run.error = finished, error
    return run


@pytest.mark.parametrize(("run", "shown"), [
    (_run(4, [(1, 0)] * 3, finished=True), (3, 3)),  # the listing ended a page early
    (_run(4, [(1, 0)] * 3), (3, 4)),  # still reading
    (_run(2, [(1, 0)] * 3), (3, 3)),  # a split window: more done than planned
    (_run(4, [(1, 0)] * 3, finished=True, error=ApiError("refused")), (3, 4)),
    (_run(0, [], finished=True), (0, 0)),
])
def test_counted(run: ModuleRun, shown: tuple[int, int]) -> None:
    """Done/planned as shown: whole once finished without error, never done > planned."""
    assert progress.counted(run) == shown


def test_tty_lines_use_rows_and_lines_and_a_finished_read_is_full() -> None:
    """The live bar of a finished read is full and says "done, N rows, N lines"; the ETA
    counts nothing for it."""
    out = io.StringIO()
    tty = progress.TtyProgress(RateLimit(5, 10.0), out, width=8)
    run = _run(4, [(120, 300), (80, 200), (10, 0)], finished=True)
    tty.planned(run)
    tty.finished(run)
    last = out.getvalue().split("\x1b[2K")[-2:]
    assert "[########]    3/3    done, 210 rows, 500 lines" in last[0]
    assert last[1].startswith("0 windows to go")
    assert "records" not in out.getvalue()


def test_master_modules_show_rows_only() -> None:
    """A module without lines says only its rows."""
    assert progress.written_words(_run(1, [(300, 0)])) == "300 rows"


def test_pass_summary_has_rows_and_lines_columns() -> None:
    """The summary after a pass names the rows and lines it wrote, as the status table
    names rows; a finished read shows whole."""
    out = io.StringIO()
    report.runs([_run(4, [(120, 300), (80, 200), (10, 0)], finished=True)], out)
    header, row = (line.split() for line in out.getvalue().splitlines())
    assert header == ["SOURCE", "MODULE", "WINDOWS", "ROWS", "LINES", "DELETED", "REQUESTS",
                      "RESULT"]
    assert row == ["crm", "invoices", "3/3", "210", "500", "0", "3", "ok"]


def test_status_times_carry_their_zone() -> None:
    """LAST SUCCESS, a complete read and a budget's reset show their UTC offset."""
    module = {"module": "invoices", "low_watermark": None, "high_watermark": "2026-12-05",
              "backfill_complete": True, "backfill_progress": 1.0, "rows": 1,
              "deleted_rows": 0, "last_success_at": "2026-12-05T03:48:41+08:00",
              "last_error": None, "new_fields": [], "unparsed_values": 0,
              "last_full_read_at": "2026-12-05T03:40:00+08:00"}
    doc = {"sources": [{"name": "crm", "kind": "cloudonex", "modules": [module],
                        "renewal_date": None, "outbox": {}, "capacity": None,
                        "budget": {"limit": 1000, "per_seconds": 3600, "remaining": 990,
                                   "reset_at": "2026-12-05T04:00:00+08:00",
                                   "observed_at": None}}]}
    out = io.StringIO()
    report.status(doc, out)  # type: ignore[arg-type]
    text = out.getvalue()
    assert "2026-12-05 03:48:41+08:00" in text
    assert "read 2026-12-05 03:40:00+08:00" in text
    assert "resets 2026-12-05 04:00:00+08:00" in text
