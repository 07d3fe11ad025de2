"""The daemon's top-of-job handlers, without a warehouse: any exception is counted and
logged with its traceback, and the daemon goes on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from syncd import config
from syncd.core.windows import Purpose
from syncd.service.daemon import Daemon
from syncd.service.notify import Notifier
from tests.conftest import MINIMAL


class Exploding:
    """A syncer whose pass fails with an exception nobody planned for."""

    async def run(self, *args: Any, **kwargs: Any) -> None:
        raise KeyError("boom")


async def test_an_unexpected_exception_in_a_pass_is_counted_and_logged(
    write_config: Callable[[str], Path],
) -> None:
    """A KeyError out of a pass (not a SyncdError) neither escapes the job nor goes
    unnoticed: syncd_job_errors counts it and daemon.job_crashed carries the traceback."""
    daemon = Daemon(config.load(write_config(MINIMAL), {}), "postgresql://unused", Notifier())
    worker = daemon.workers[0]
    worker.sync = Exploding()  # type: ignore[assignment]  # a stand-in for SourceSync
    with capture_logs() as logs:
        await worker._pass(("sales",), frozenset({Purpose.FRESH}))
    crashed = [e for e in logs if e["event"] == "daemon.job_crashed"]
    assert [(e["source"], e["job"], e["error"]) for e in crashed] == [
        ("main", "pass", "KeyError: 'boom'")]
    assert isinstance(crashed[0]["exc_info"], KeyError)
    assert daemon.metrics.registry.get_sample_value(
        "syncd_job_errors_total", {"source": "main", "job": "pass"}) == 1
    assert worker.passes == set()
