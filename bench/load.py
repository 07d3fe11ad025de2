"""Load speed of one big SKYBIZ sales window against a raw COPY baseline, and peak RSS.

A 31-day window of ~180k flat lines (~110 MB, written as PHP writes JSON: see
``skybiz_window.py``) is served over a real socket by a separate process. In one run
against an embedded PostgreSQL, each timed from request to commit:

* baseline: POST + ``json.loads`` + text values COPYed into an UNLOGGED table of text
  columns (no typing, no keys, no WAL: the least any loader must do);
* syncd insert: the real client + loader into empty tables;
* syncd update: the same body again (nothing changed);
* syncd edit: a body in which 10 % of the documents changed.

Each is printed as a ratio to the baseline with client CPU (this process) and server CPU
(the backend, from /proc). Then ``syncd sync`` runs as its own process on the same window
and its peak RSS is printed against 1 × body + 100 MB. Exit 1 when a target is missed.

    .venv/bin/python bench/load.py
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import asyncpg.transaction
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
import skybiz_window
import stopwatch

from syncd import logs
from syncd.config import RateLimit, SkybizOptions, SourceConfig
from syncd.core import body, rows
from syncd.core.windows import Purpose, Window
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.http import RequestLoop, open_session
from syncd.engine.limiter import RateLimiter
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz import sync as skybiz_sync
from syncd.kinds.skybiz.client import SkybizClient
from syncd.warehouse import db, state
from syncd.warehouse import loader as loading
from syncd.warehouse.loader import Loader

SALES = skybiz.get("sales")
TZ = "Asia/Kuala_Lumpur"
TARGETS = {"insert": 1.0, "update": 1.0}  # issue 19: the load at the wire
RSS_SLACK_MB = 100
TODAY = dt.date.today()
WINDOW = Window(TODAY - dt.timedelta(days=30), TODAY, Purpose.BACKFILL)


@dataclass(frozen=True, slots=True)
class Figure:
    """One timed run: wall seconds, client CPU seconds, server (backend) CPU seconds."""

    wall: float
    client: float
    server: float


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend has used (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(conn: asyncpg.Connection, work: Awaitable[Any]) -> Figure:
    pid = conn.get_server_pid()
    wall, cpu, server = time.perf_counter(), time.process_time(), backend_cpu(pid)
    await work
    return Figure(time.perf_counter() - wall, time.process_time() - cpu,
                  backend_cpu(pid) - server)


async def baseline(url: str, conn: asyncpg.Connection) -> None:
    """POST + json.loads + COPY of the flat rows' values as text into an UNLOGGED table."""
    async with aiohttp.ClientSession() as session, session.post(url + "/sales.php",
                                                                 json={}) as resp:
        body = await resp.read()
    rows = json.loads(body)["data"]["data"]
    names = [f.name for f in SALES.fields]
    records = [tuple(None if (v := r.get(n)) is None else str(v) for n in names)
               for r in rows]
    async with conn.transaction():
        await conn.copy_records_to_table("flat", schema_name="bench", records=records)


def source(url: str) -> SourceConfig:
    return SourceConfig(
        name="bench", kind="skybiz", base_url=url, timezone=TZ,
        options=SkybizOptions(WINDOW.date_from),
        modules=("sales",), rate_limit=RateLimit(1000, 1, 0),
        credentials=Credentials(Secret("k" * 25), Secret("s" * 64)))


async def syncd_load(url: str, loader: Loader) -> None:
    """The real client fetches the window; the real loader commits it."""
    async with open_session(source(url)) as session:
        client = SkybizClient(source(url), session, RateLimiter(1000, 1, margin=0))
        ctx = client.context("sales")
        batch = await client.fetch("sales", WINDOW.date_from, WINDOW.date_to,
                                   lambda answer: skybiz_sync.judged(answer, ctx))
    await loader.load(SALES, WINDOW, batch)


def clocked() -> stopwatch.Stopwatch:
    """Time the parts of a window's way from the socket to the commit (syncd runs only)."""
    watch = stopwatch.Stopwatch()
    watch.wrap(RequestLoop, "_exchange", "http")
    watch.wrap(body, "prepare", "scan")
    watch.wrap(body, "parse", "parse")
    watch.wrap(loading.Loader, "load", "load")
    watch.wrap(rows.WindowRows, "keys", "hash")
    watch.wrap(loading.Loader, "_write", "write")
    watch.wrap(loading, "_copy", "copy")
    watch.wrap(state, "save_window", "state")
    watch.wrap(asyncpg.transaction.Transaction, "__aexit__", "commit")
    return watch


PARTS = ("HTTP (POST + body)", "NUL/surrogate scan", "split into records",
         "first pass (keys + hashes)",
         "COPY (rows built while sent)", "changed-document query",
         "deletion diff + watermarks", "ledger + state", "commit")


def parts(watch: dict[str, float]) -> dict[str, float]:
    """Seconds of one syncd run by part (the parts do not nest)."""
    s = collections.Counter(watch)
    return dict(zip(PARTS, (
        s["http"], s["scan"], s["parse"], s["hash"], s["copy"], s["write"] - s["copy"],
        s["load"] - s["hash"] - s["write"] - s["state"] - s["commit"], s["state"],
        s["commit"]), strict=True))


async def measure(base: str, dsn: str, win: skybiz_window.Window) -> dict[str, Figure]:
    """Every timed run in one session, and a check that the insert kept money exact."""
    conn = await db.connect(dsn)
    await db.migrate(conn)
    columns = ", ".join(f"{f.column} text" for f in SALES.fields)
    await conn.execute(f"CREATE SCHEMA bench; CREATE UNLOGGED TABLE bench.flat ({columns})")
    loader = Loader(conn, "bench", TZ)
    runs: dict[str, Figure] = {}
    runs["baseline"] = await timed(conn, baseline(base + "/a", conn))
    watch = clocked()
    runs["insert"] = await timed(conn, syncd_load(base + "/a", loader))
    BREAKDOWN.update(watch.seconds)
    total, lines = await conn.fetchrow("SELECT sum(hclineamt), count(*) FROM skybiz.sales_line")
    assert (total, lines) == (win.line_amount_total, win.lines), "the load is not exact"
    runs["update"] = await timed(conn, syncd_load(base + "/a", loader))
    runs["edit 10%"] = await timed(conn, syncd_load(base + "/b", loader))
    await conn.execute("TRUNCATE bench.flat")
    again = await timed(conn, baseline(base + "/a", conn))
    runs["baseline"] = min(runs["baseline"], again, key=lambda f: f.wall)
    await conn.execute("CREATE DATABASE rss")
    await conn.close()
    return runs


BREAKDOWN: dict[str, float] = {}  # the insert's seconds by stopwatch label


def report(runs: dict[str, Figure], win: skybiz_window.Window, mb: float) -> bool:
    base = runs["baseline"].wall
    print(f"window: {win.lines:,} flat lines, {win.documents:,} documents, body {mb:.0f} MB")
    print(f"{'run':10} {'wall s':>7} {'ratio':>6} {'target':>8} {'client CPU':>11} "
          f"{'server CPU':>11}")
    ok = True
    for name, f in runs.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            met = f.wall / base <= target
            ok &= met
            verdict = f"<= {target:.1f} {'OK' if met else 'MISSED'}"
        print(f"{name:10} {f.wall:7.2f} {f.wall / base:6.2f} {verdict:>8} {f.client:10.2f}s "
              f"{f.server:10.2f}s")
    print("insert, where the wall time went (client side; COPY overlaps the server's work):")
    for name, seconds in parts(BREAKDOWN).items():
        print(f"  {name:30} {seconds:6.2f} s")
    return ok


def rss_probe(base: str, dsn: str, mb: float, tmp: Path) -> bool:
    """``syncd sync`` of two windows (each answered with the whole body) as its own
    process; its peak RSS against the target: the second window must not be read while
    the first is held."""
    config = tmp / "rss.toml"
    since = dt.datetime.now(ZoneInfo(TZ)).date() - dt.timedelta(days=2 * 31 - 1)
    config.write_text(
        f'[warehouse]\ndsn = "{dsn.replace("/postgres?", "/rss?")}"\n\n[sources.bench]\n'
        f'base_url = "{base}/a"\nbackfill_from = "{since}"\nmodules = ["sales"]\n'
        f'timezone = "{TZ}"\n[sources.bench.rate_limit]\nrequests = 100\nper_seconds = 1\n')
    env = os.environ | {"SYNCD_BENCH_API_KEY": "k" * 25, "SYNCD_BENCH_API_SECRET": "s" * 64}
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--sync", str(config)], env=env, check=True,
        capture_output=True, text=True).stdout
    code, peak = int(out.split()[-2]), int(out.split()[-1]) / 1024
    if code != 0:
        print(f"syncd sync of 2 windows exited {code}")
        return False
    cap = mb + RSS_SLACK_MB
    print(f"syncd sync of 2 windows: peak RSS {peak:.0f} MB (target <= 1 x body + {RSS_SLACK_MB} = "
          f"{cap:.0f} MB) {'OK' if peak <= cap else 'MISSED'}")
    return peak <= cap


def sync_child(config: str) -> None:
    """Run ``syncd sync`` in this process, then print its peak RSS (VmHWM, kB)."""
    from syncd.cli import main as cli

    code = cli.main(["--config", config, "sync"])
    status = Path("/proc/self/status").read_text(encoding="ascii")
    print(code, next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM:")))


def serve(folder: str) -> None:
    """Answer POST /NAME/sales.php with the body in FOLDER/NAME.json (a separate process)."""
    bodies = {p.stem: p.read_bytes() for p in Path(folder).glob("*.json")}

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=bodies[request.match_info["name"]],
                            content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/{name}/sales.php", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> int:
    logs.configure("console", logging.WARNING)
    if sys.argv[1:2] in (["--serve"], ["--sync"]):
        handler: Callable[[str], None] = serve if sys.argv[1] == "--serve" else sync_child
        handler(sys.argv[2])
        return 0
    win = skybiz_window.generate(TODAY)
    edited = skybiz_window.generate(TODAY, edited=0.1)
    mb = len(win.body) / 2**20
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as name:
        tmp = Path(name)
        (tmp / "a.json").write_bytes(win.body)
        (tmp / "b.json").write_bytes(edited.body)
        del edited
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--serve", str(tmp)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            with db.embedded(tmp / "pg") as dsn:
                fast = report(asyncio.run(measure(base, dsn, win)), win, mb)
                small = rss_probe(base, dsn, mb, tmp)
        finally:
            server.terminate()
            server.wait()
    return 0 if fast and small else 1


if __name__ == "__main__":
    sys.exit(main())
