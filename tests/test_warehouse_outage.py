"""The warehouse going away (CONTRACT §10): ``syncd run`` rides out a PostgreSQL stopped
with ``pg_ctl stop -m immediate`` in the middle of a backfill — /healthz answers 503 while
it is gone, the windows in flight are read again, nothing is committed twice or lost —
and one-shot commands end in one plain sentence."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd.service import httpd
from syncd.service.health import WarehouseProbe
from syncd.service.metrics import Metrics
from tests import waiting
from tests.conftest import finish_cli, run_cli, start_cli
from tests.test_daemon import (  # noqa: F401 - `daemons` and `own_warehouse` are fixtures
    SLOW_HISTORY,
    SLOW_MODULES,
    Daemons,
    OwnWarehouse,
    StartSim,
    all_backfilled,
    assert_no_canary,
    assert_no_traceback,
    daemon_config,
    daemons,
    free_port,
    healthz_is,
    http_get,
    leader,
    ledger,
    own_warehouse,
    sales_truth,
    scrape,
    twice,
    until,
    warehouse_sales,
)

pytestmark = pytest.mark.slow

OUTAGE_S = 20.0  # how long PostgreSQL stays away: the scenario itself, not a wait


class SilentNetwork:
    """A TCP proxy in front of a PostgreSQL's Unix socket that can go silent: while frozen
    no byte passes either way and new connections hang, as on a network that drops every
    packet (a failover whose old primary vanished without resetting its connections);
    ``fail_over`` then resets every connection it carried and lets new ones through."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.open = asyncio.Event()
        self.open.set()
        self.carried: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.accepted = 0  # connections ever opened through it

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def freeze(self) -> None:
        self.open.clear()

    def fail_over(self) -> None:
        for writer in self.carried:
            writer.transport.abort()
        self.carried.clear()
        self.open.set()

    async def stop(self) -> None:
        self.fail_over()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await self.open.wait()
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        self.carried |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            w.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            await self.open.wait()  # frozen: hold the bytes, read no more
            sink.write(data)
            await sink.drain()
        sink.transport.abort()


async def crash(warehouse: OwnWarehouse) -> None:
    """Stop the server the way a crash or a failover does: no shutdown checkpoint, every
    backend killed at once, its clients' sockets closed under them."""
    await asyncio.to_thread(warehouse._pg_ctl, "-m", "immediate", "stop")


async def backfill_windows(dsn: str) -> int:
    """Backfill windows committed so far (0 before the schema exists)."""
    conn = await asyncpg.connect(dsn)
    try:
        return sum(w["purpose"] == "backfill" for w in await ledger(conn))
    finally:
        await conn.close()


def slow_config(url: str, dsn: str, start: dt.date, port: int) -> str:
    """Three modules at 5 requests/s: a backfill of ~9 s, long enough to crash inside."""
    return daemon_config(url, dsn, start, port, modules=SLOW_MODULES, requests=5,
                         per_seconds=1, margin=0.05)


async def test_run_survives_immediate_stop_mid_backfill(
    simulator: StartSim, tmp_path: Path,
    own_warehouse: OwnWarehouse,  # noqa: F811 - the fixture imported above
    daemons: Daemons,  # noqa: F811 - the fixture imported above
) -> None:
    """PostgreSQL stopped with ``-m immediate`` mid-backfill and started again 20 s later:
    /healthz goes 503 and back to 200, the daemon leads again and finishes the backfill,
    every module's windows cover its range exactly once and the sales are exact."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    start, today = sim.dataset.start, sim.dataset.today
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(slow_config(url, own_warehouse.dsn, start, port), encoding="utf-8")
    daemon = await daemons(path, port)
    await until(lambda: healthz_is(port, 200), "/healthz 200", alive=daemon)
    await until(lambda: _three(own_warehouse.dsn), "3 backfill windows", alive=daemon)

    crashed_at = dt.datetime.now(dt.UTC)
    await crash(own_warehouse)
    seen = await healthz_during(port, daemon.exited)
    assert 503 in seen, seen
    await own_warehouse.start()
    await until(lambda: healthz_is(port, 200), "/healthz 200 after the restart",
                alive=daemon)
    doc = await until(lambda: all_backfilled(port), "the backfill finished after the restart",
                      deadline_s=90, alive=daemon)
    assert leader((await scrape(port))[1]) == 1

    conn = await asyncpg.connect(own_warehouse.dsn)
    try:
        windows = await ledger(conn)
        assert twice(windows) == []
        after = await conn.fetchval("SELECT count(*) FROM syncd.window WHERE purpose = "
                                    "'backfill' AND committed_at > $1", crashed_at)
        assert after > 0  # really interrupted: the backfill went on after the restart
        for module in SLOW_MODULES:
            spans = [(w["date_from"], w["date_to"]) for w in windows
                     if w["module"] == module and w["purpose"] == "backfill"]
            days = [f + dt.timedelta(days=i) for f, t in spans for i in range((t - f).days + 1)]
            assert len(days) == len(set(days)), module  # no day committed twice
            assert min(days) == start, module
        marks = {r["module"]: (r["low_watermark"], r["high_watermark"]) for r in await conn.fetch(
            "SELECT module, low_watermark, high_watermark FROM syncd.module_state")}
        assert marks == dict.fromkeys(SLOW_MODULES, (start, today))
        assert await warehouse_sales(conn) == sales_truth(sim)
    finally:
        await conn.close()
    assert {m["last_error"] for s in doc["sources"] for m in s["modules"]} == {None}

    daemon.terminate()
    result = await daemon.finish(20)
    assert result.code == 0, result.stderr[-3000:]
    assert_no_traceback(result)
    assert {"leader.lost", "health.warehouse_down", "health.warehouse_back"} <= set(
        daemon.events())
    assert daemon.events().count("leader.acquired") >= 2
    assert_no_canary(result.stdout, result.stderr)


async def _three(dsn: str) -> bool:
    return await backfill_windows(dsn) >= 3


async def healthz_during(port: int, alive: Callable[[], str | None]) -> list[int | None]:
    """Poll /healthz for the whole outage (``OUTAGE_S``); every status it answered."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + OUTAGE_S
    seen: list[int | None] = []

    async def over() -> bool:
        got = await http_get(port, "/healthz")
        seen.append(None if got is None else got[0])
        return loop.time() >= ends

    await waiting.until(over, "the end of the outage", deadline_s=OUTAGE_S + 15, poll_s=0.25,
                        alive=alive)
    return seen


async def test_status_with_the_warehouse_down_is_one_sentence(
    tmp_path: Path, own_warehouse: OwnWarehouse,  # noqa: F811 - the fixture imported above
) -> None:
    """``syncd status`` against a PostgreSQL stopped with ``-m immediate`` exits 1 with one
    plain sentence naming [warehouse] dsn, no traceback, nothing on stdout."""
    path = tmp_path / "syncd.toml"
    url = f"http://127.0.0.1:{free_port()}/01/clientportal/apiv2/modules"
    path.write_text(slow_config(url, own_warehouse.dsn, dt.date(2024, 1, 1), free_port()),
                    encoding="utf-8")
    await crash(own_warehouse)
    try:
        for args in (["status"], ["status", "--json"]):
            result = await run_cli(*args, "--config", str(path))
            assert result.code == 1, result.stderr
            assert_no_traceback(result)
            assert len(result.sentences) == 1, result.stderr
            assert "[warehouse] dsn" in result.sentences[0]
            assert result.stderr.strip().splitlines()[-1] == result.sentences[0]
            assert result.stdout == ""
    finally:
        await own_warehouse.start()  # the fixture stops what it started


async def test_sync_losing_the_warehouse_mid_pass_is_one_sentence(
    simulator: StartSim, tmp_path: Path,
    own_warehouse: OwnWarehouse,  # noqa: F811 - the fixture imported above
) -> None:
    """``syncd sync`` whose PostgreSQL is stopped with ``-m immediate`` mid-backfill exits 1
    with one plain sentence and no traceback; once PostgreSQL is back, a second ``sync``
    finishes the backfill with no window committed twice and exactly the source's sales."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    path = tmp_path / "syncd.toml"
    path.write_text(slow_config(url, own_warehouse.dsn, sim.dataset.start, free_port()),
                    encoding="utf-8")
    proc = await start_cli("sync", "--config", str(path))
    await waiting.until(lambda: _three(own_warehouse.dsn), "3 backfill windows",
                        alive=lambda: None if proc.returncode is None else "sync exited")
    await crash(own_warehouse)
    result = await finish_cli(proc)
    assert result.code == 1, result.stderr[-3000:]
    assert_no_traceback(result)
    assert len(result.sentences) == 1, result.stderr[-3000:]
    assert "PostgreSQL" in result.sentences[0]
    assert result.stderr.strip().splitlines()[-1] == result.sentences[0]

    await own_warehouse.start()
    again = await run_cli("sync", "--config", str(path), limit_s=90)
    assert again.code == 0, again.stderr[-3000:]
    conn = await asyncpg.connect(own_warehouse.dsn)
    try:
        assert twice(await ledger(conn)) == []
        assert await warehouse_sales(conn) == sales_truth(sim)
    finally:
        await conn.close()


async def test_run_gives_up_a_silent_warehouse_and_leads_again_after_failover(
    simulator: StartSim, tmp_path: Path,
    own_warehouse: OwnWarehouse,  # noqa: F811 - the fixture imported above
    daemons: Daemons,  # noqa: F811 - the fixture imported above
) -> None:
    """A warehouse that goes silent mid-backfill (every packet dropped, nothing reset): the
    daemon answers /healthz 503 and stops leading instead of hanging on its loads; after
    the failover resets the old connections it leads again and finishes the backfill with
    no window committed twice and exactly the source's sales."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    network = SilentNetwork(f"{own_warehouse.sockets}/.s.PGSQL.5432")
    via = f"postgresql://postgres@127.0.0.1:{await network.start()}/postgres"
    try:
        port = free_port()
        path = tmp_path / "syncd.toml"
        path.write_text(slow_config(url, via, sim.dataset.start, port), encoding="utf-8")
        daemon = await daemons(path, port)
        await until(lambda: _three(own_warehouse.dsn), "3 backfill windows", alive=daemon)
        network.freeze()
        await until(lambda: healthz_is(port, 503), "/healthz 503 while silent", alive=daemon)

        async def not_leading() -> bool:
            return leader((await scrape(port))[1]) == 0

        await until(not_leading, "leadership given up while silent", alive=daemon)
        network.fail_over()
        await until(lambda: all_backfilled(port), "the backfill finished after the failover",
                    deadline_s=90, alive=daemon)
        conn = await asyncpg.connect(own_warehouse.dsn)
        try:
            assert twice(await ledger(conn)) == []
            assert await warehouse_sales(conn) == sales_truth(sim)
        finally:
            await conn.close()
        daemon.terminate()
        result = await daemon.finish(30)
    finally:
        await network.stop()
    assert result.code == 0, result.stderr[-3000:]
    assert_no_traceback(result)


async def test_healthz_answers_from_the_probe_without_a_connection_per_request(
    own_warehouse: OwnWarehouse,  # noqa: F811 - the fixture imported above
) -> None:
    """/healthz answers from the probe's last result: 50 requests open no connection to
    PostgreSQL (the probe keeps its one), it turns 503 naming PostgreSQL once the server
    is stopped with ``-m immediate``, and 200 again once it is back."""
    network = SilentNetwork(f"{own_warehouse.sockets}/.s.PGSQL.5432")
    via = f"postgresql://postgres@127.0.0.1:{await network.start()}/postgres"
    probe = WarehouseProbe(via, every=0.1, timeout=2)
    task = asyncio.create_task(probe.run())

    async def no_status() -> Any:
        return {"sources": []}

    port = free_port()
    runner = await httpd.serve(httpd.make_app(Metrics(), probe.health, no_status),
                               "127.0.0.1", port)
    try:
        await until(lambda: healthz_is(port, 200), "/healthz 200")
        assert network.accepted == 1
        answers = [await http_get(port, "/healthz") for _ in range(50)]
        assert answers == [(200, "ok\n")] * 50
        assert network.accepted == 1

        await crash(own_warehouse)
        _, body = await until(lambda: healthz_is(port, 503), "/healthz 503")
        assert body.startswith("unhealthy: ")
        assert "PostgreSQL" in body
        await own_warehouse.start()
        await until(lambda: healthz_is(port, 200), "/healthz 200 again")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
        await network.stop()
