"""What every benchmark stands on: an embedded PostgreSQL in a temp dir, the bundled SKYBIZ
simulator, and a syncd config pointing one source at the one from the other."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from syncd import logs
from syncd.config import Config, RateLimit, SkybizOptions, SourceConfig, WarehouseConfig
from syncd.credentials.lookup import Credentials, Secret
from syncd.kinds.skybiz import modules as skybiz
from syncd.warehouse import db
from syncd_simulator import Simulator


def source_for(sim: Simulator, base_url: str, backfill_from: dt.date, rate: RateLimit, *,
               modules: tuple[str, ...] = tuple(m.name for m in skybiz.MODULES),
               name: str = "bench", masters_from: dt.date | None = None) -> SourceConfig:
    """A source reading ``sim`` at ``base_url`` with the simulator's own credentials; its
    masters walk back as far as its documents unless ``masters_from`` says otherwise (the
    simulator's masters are no older than its history)."""
    return SourceConfig(
        name=name, kind="skybiz", base_url=base_url, timezone="Asia/Kuala_Lumpur",
        options=SkybizOptions(backfill_from, masters_from=masters_from or backfill_from),
        modules=modules, rate_limit=rate,
        credentials=Credentials(Secret(sim.options.api_key), Secret(sim.options.api_secret)))


def config_for(dsn: str, *sources: SourceConfig) -> Config:
    """A config of ``sources`` loading into ``dsn``."""
    return Config(Path("bench.toml"), WarehouseConfig(Secret(dsn), Path(".")), sources)


@contextlib.asynccontextmanager
async def served(sim: Simulator) -> AsyncIterator[str]:
    """``sim`` on an event loop of its own thread, as a real server does not share the
    client's loop: an arrival is stamped when it arrives, not when the client's loop lets
    the simulator run (with one loop, a 40 ms parse here delays the server's clock there
    and a 0.05 s margin earns 429s no real server would send). Yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="simulator", daemon=True)
    thread.start()
    try:
        url = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sim.start(), loop))
        try:
            yield url
        finally:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sim.stop(), loop))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def run(measure: Callable[[str], Awaitable[bool]]) -> int:
    """Run ``measure(dsn)`` against a fresh embedded PostgreSQL with quiet logs; the exit code
    says whether it met its targets (0) or not (1)."""
    logs.configure("console", logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, \
            db.embedded(Path(tmp)) as dsn:
        ok = asyncio.run(measure(dsn))
    return 0 if ok else 1


def verdict(ok: bool) -> str:
    """How a figure is judged against its target."""
    return "OK" if ok else "MISSED"
