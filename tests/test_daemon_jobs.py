"""The daemon's top-of-job handlers, without a warehouse: any exception is counted and
logged with its traceback, and the daemon goes on."""

from __future__ import annotations

import asyncio
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


class Closed:
    """A connection stand-in that says it is closed (nothing is read through it)."""

    def is_closed(self) -> bool:
        return True


class Stalling:
    """A syncer whose first pass runs until it is cancelled; later ones return at once."""

    def __init__(self) -> None:
        self.runs: list[frozenset[Purpose]] = []
        self.started = asyncio.Event()

    async def run(self, modules: Any, progress: Any, *, purposes: frozenset[Purpose],
                  **kwargs: Any) -> list[Any]:
        self.runs.append(purposes)
        if len(self.runs) == 1:
            self.started.set()
            await asyncio.Event().wait()
        return []


async def test_a_stop_during_a_deep_pass_starts_no_next_deep_pass(
    write_config: Callable[[str], Path],
) -> None:
    """The nightly reread is cancelled by the stop: the weekly reconcile due after it in the
    same deep job is not started (it would delay the stop)."""
    daemon = Daemon(config.load(write_config(MINIMAL), {}), "postgresql://unused", Notifier())
    worker = daemon.workers[0]
    worker.sync = stalling = Stalling()  # type: ignore[assignment]  # a stand-in syncer
    worker.conn = Closed()  # type: ignore[assignment]  # status refresh skips it
    worker.status = {"modules": [{"module": m, "backfill_complete": True}  # type: ignore
                                 for m in ("sales", "customer")]}
    deep = asyncio.create_task(worker._deep())
    await stalling.started.wait()
    daemon.stopping.set()
    await worker._cancel_passes()
    await deep
    assert stalling.runs == [frozenset({Purpose.REREAD})]
