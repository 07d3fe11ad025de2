"""Soak: `syncd run` for N minutes against a source that keeps changing and misbehaving.

The daemon runs as its own process (`python -m syncd run`, a pass every few seconds) against
the bundled simulator (about one change a second — renamed masters, new, edited and deleted
recent documents — and 5 % injected faults) and an embedded PostgreSQL. Once a second this
script samples the daemon's RSS (/proc/PID/status), its open files (/proc/PID/fd) and its
warehouse connections (pg_stat_activity). At the end the changes stop, the daemon makes two
more passes of every module, and the warehouse's live rows are compared with the
simulator's live dataset, module by module: keys, the fields the changes touch, and each
document's line count.

Targets: RSS growth after warm-up < 5 MB; open files and connections in the last stretch
no higher than anywhere after warm-up before it; data exact; 0 answers 429.

    .venv/bin/python bench/soak.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import testbed

from syncd.core.model import Module, ModuleKind
from syncd.kinds.skybiz import modules as skybiz
from syncd_simulator import Simulator, SimulatorOptions
from syncd_simulator.churn import EDITED

SOURCE = "soak"
# Server and client alike; 5 per 1.2 s is enough for 8 modules every 3 s. The margin is the
# production default: it is its absolute size that absorbs the jitter between a request's
# start in the daemon and its arrival at the server (0.05 s met one 429 on a loaded box).
RATE, PER, MARGIN = 5, 1.0, 0.2
HISTORY_DAYS = 90
RSS_GROWTH_MB = 5.0
QUIET_PASSES = 2  # fresh windows per module fetched after the changes stopped


@dataclass
class Samples:
    """One reading a second of the daemon: (seconds since start, value)."""

    rss_kb: list[tuple[float, int]] = field(default_factory=list)
    files: list[tuple[float, int]] = field(default_factory=list)
    conns: list[tuple[float, int]] = field(default_factory=list)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs")
    parser.add_argument("--interval", type=float, default=3.0, help="[schedule] interval, s")
    parser.add_argument("--faults", type=float, default=0.05, help="fault probability")
    parser.add_argument("--mutations", type=float, default=1.0, help="source changes per s")
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds after the backfill before the baseline is taken")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def config_text(base_url: str, dsn: str, backfill_from: dt.date, interval: float) -> str:
    return (f'[warehouse]\ndsn = "{dsn}"\n\n[sources.{SOURCE}]\nbase_url = "{base_url}"\n'
            f'backfill_from = "{backfill_from.isoformat()}"\n\n'
            f"[sources.{SOURCE}.rate_limit]\nrequests = {RATE}\nper_seconds = {PER}\n"
            f'margin_seconds = {MARGIN}\n\n[schedule]\ninterval = "{interval:g}s"\n\n'
            f'[observability]\nlisten = "127.0.0.1:{free_port()}"\nlog_format = "json"\n')


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def sample(pid: int, conn: asyncpg.Connection, into: Samples, started: float) -> None:
    """Read the daemon's RSS, open files and warehouse connections once a second, forever."""
    while True:
        at = time.monotonic() - started
        into.rss_kb.append((at, rss_kb(pid)))
        into.files.append((at, len(os.listdir(f"/proc/{pid}/fd"))))
        into.conns.append((at, await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")))
        await asyncio.sleep(1.0)  # the sampling period itself, not a wait for anything


async def backfilled(conn: asyncpg.Connection, backfill_from: dt.date) -> bool:
    """Whether every module's low watermark has reached ``backfill_from``."""
    if await conn.fetchval("SELECT to_regclass('syncd.module_state')") is None:
        return False
    done = await conn.fetchval("SELECT count(*) FROM syncd.module_state WHERE source = $1 "
                               "AND low_watermark <= $2", SOURCE, backfill_from)
    return bool(done == len(skybiz.MODULES))


async def passes_since(conn: asyncpg.Connection, since: dt.datetime) -> int:
    """The fewest fresh windows any module has fetched since ``since``."""
    counts = {r["module"]: r["n"] for r in await conn.fetch(
        "SELECT module, count(*) AS n FROM syncd.window WHERE source = $1 "
        "AND purpose = 'fresh' AND fetched_at > $2 GROUP BY module", SOURCE, since)}
    return min(counts.get(m.name, 0) for m in skybiz.MODULES)


async def until(probe: Callable[[], Awaitable[bool]], what: str, deadline_s: float,
                proc: asyncio.subprocess.Process) -> None:
    """Poll ``probe`` until true; fail after the deadline or when the daemon exits."""
    end = time.monotonic() + deadline_s
    while not await probe():
        if proc.returncode is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}) before {what}")
        if time.monotonic() > end:
            raise RuntimeError(f"no {what} within {deadline_s:.0f} s")
        await asyncio.sleep(0.2)


def truth(sim: Simulator, module: Module) -> dict[tuple[str, ...], tuple[str | None, ...]]:
    """key → (checked field, line count) of every live record the simulator serves."""
    ds = sim.dataset
    checked = module.modified_field if module.kind is ModuleKind.MASTER else EDITED[module.name]
    assert checked is not None

    def text(value: object) -> str | None:
        return None if value is None else str(value)

    if module.kind is ModuleKind.MASTER:
        return {tuple(str(r[k]) for k in module.key): (text(r[checked]),)
                for r in ds.records_between(module.name, ds.start, ds.today)}
    return {tuple(str(d.header[k]) for k in module.key):
            (text(d.header[checked]),) + ((str(len(d.lines)),) if module.has_lines else ())
            for d in ds.documents(module.name, ds.start, ds.today)}


async def warehouse(conn: asyncpg.Connection, module: Module
                    ) -> dict[tuple[str, ...], tuple[str | None, ...]]:
    """The same from the warehouse's live rows (the checked field as received, in _raw)."""
    checked = module.modified_field if module.kind is ModuleKind.MASTER else EDITED[module.name]
    keys = ", ".join(f"h.{k.lower()}::text" for k in module.key)
    lines = (f", (SELECT count(*) FROM skybiz.{module.name}_line l WHERE l._deleted_at IS NULL"
             f" AND l.source = h.source AND (l.doctype, l.doc1no) = (h.doctype, h.doc1no))::text"
             if module.has_lines else "")
    rows = await conn.fetch(f"SELECT {keys}, h._raw->>'{checked}'{lines} "
                            f"FROM skybiz.{module.name} h "
                            "WHERE h._deleted_at IS NULL AND h.source = $1", SOURCE)
    n = len(module.key)
    return {tuple(r[:n]): tuple(r[n:]) for r in rows}


async def compare(conn: asyncpg.Connection, sim: Simulator) -> list[str]:
    """One line per module: rows, and how many differ from the source (0 is exact)."""
    report = []
    for module in skybiz.MODULES:
        want, got = truth(sim, module), await warehouse(conn, module)
        missing = len(want.keys() - got.keys())
        extra = len(got.keys() - want.keys())
        stale = sum(1 for k in want.keys() & got.keys() if want[k] != got[k])
        report.append(f"{module.name}: {len(want)} live rows at the source, {len(got)} in the "
                      f"warehouse, {missing} missing, {extra} extra, {stale} stale")
    return report


def mb(kb: float) -> float:
    return kb / 1024


def window(series: list[tuple[float, int]], start: float, end: float) -> list[int]:
    return [v for at, v in series if start <= at < end]


def judge(s: Samples, warm: float, end: float) -> tuple[list[str], bool]:
    """Figures beside targets: RSS growth, open files and connections after warm-up."""
    span = min(30.0, (end - warm) / 3)  # compare the first and last stretch after warm-up
    rss_a, rss_b = window(s.rss_kb, warm, warm + span), window(s.rss_kb, end - span, end)
    growth = mb(statistics.median(rss_b) - statistics.median(rss_a))
    lines, ok = [], True
    ok_rss = growth < RSS_GROWTH_MB
    lines.append(f"RSS after warm-up {mb(statistics.median(rss_a)):.1f} MB, at the end "
                 f"{mb(statistics.median(rss_b)):.1f} MB (medians of {span:.0f} s), peak "
                 f"{mb(max(v for _, v in s.rss_kb)):.1f} MB: growth {growth:+.2f} MB "
                 f"(target < {RSS_GROWTH_MB:g} MB) {testbed.verdict(ok_rss)}")
    ok &= ok_rss
    for name, series in (("open files", s.files), ("warehouse connections", s.conns)):
        # Pooled HTTP and database connections come and go with the work in flight, so the
        # count moves within a band; growth is the last stretch rising above that band.
        a, b = window(series, warm, end - span), window(series, end - span, end)
        good = max(b) <= max(a)
        lines.append(f"{name} after warm-up {min(a)}–{max(a)}, in the last {span:.0f} s "
                     f"{min(b)}–{max(b)}, max over the run {max(v for _, v in series)} "
                     f"(target: no growth) {testbed.verdict(good)}")
        ok &= good
    return lines, ok


async def measure(dsn: str, args: argparse.Namespace) -> bool:
    sim = Simulator(SimulatorOptions(history_days=HISTORY_DAYS, rate_requests=RATE,
                                     rate_seconds=PER, faults=args.faults,
                                     mutations_per_second=args.mutations))
    base_url = await sim.start()
    tmp = Path(tempfile.mkdtemp(prefix="syncd-soak-"))
    path = tmp / "syncd.toml"
    path.write_text(config_text(base_url, dsn, sim.dataset.start, args.interval), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")} | {
        f"SYNCD_{SOURCE.upper()}_API_KEY": sim.options.api_key,
        f"SYNCD_{SOURCE.upper()}_API_SECRET": sim.options.api_secret}
    log = (tmp / "daemon.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncd", "run", "--config", str(path), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    conn, sampling = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    samples, started = Samples(), time.monotonic()
    sampler = asyncio.create_task(sample(proc.pid, sampling, samples, started))
    try:
        await until(lambda: backfilled(conn, sim.dataset.start), "a finished backfill", 300,
                    proc)
        warm = time.monotonic() - started + args.warmup
        run_for = max(args.minutes * 60, warm + 60)  # at least a minute after warm-up
        print(f"backfill done after {time.monotonic() - started:.0f} s; running until "
              f"{run_for:.0f} s with {args.mutations:g} changes/s and "
              f"{args.faults:.0%} faults …", flush=True)
        while time.monotonic() - started < run_for:
            if proc.returncode is not None:
                raise RuntimeError(f"the daemon exited ({proc.returncode}); see {tmp}")
            await asyncio.sleep(1.0)  # the run's own length, checking the daemon lives
        end = time.monotonic() - started
        await sim.quiet()
        quiet_at = dt.datetime.now(dt.UTC)
        async def quiet_passes() -> bool:
            return await passes_since(conn, quiet_at) >= QUIET_PASSES

        await until(quiet_passes, f"{QUIET_PASSES} quiet passes", 120, proc)
        sampler.cancel()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        report = await compare(conn, sim)
    finally:
        sampler.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.gather(sampler, return_exceptions=True)
        await conn.close()
        await sampling.close()
        await sim.stop()
        log.close()
    ok = print_figures(args, sim, samples=samples, warm=warm, end=end, report=report,
                       code=code, tmp=tmp)
    if ok:  # the daemon's log is kept only when a target was missed
        shutil.rmtree(tmp)
    return ok


def print_figures(args: argparse.Namespace, sim: Simulator, *, samples: Samples, warm: float,
                  end: float, report: list[str], code: int | None, tmp: Path) -> bool:
    requests = len(sim.requests)
    limited = sum(1 for r in sim.requests if r.status == 429)
    faults = sum(1 for r in sim.requests if r.fault)
    print(f"{end:.0f} s of `syncd run` (interval {args.interval:g} s), {requests} requests, "
          f"{faults} faults injected, {sum(sim.churn.counts.values())} source changes "
          f"{dict(sim.churn.counts)}; warm-up ended at {warm:.0f} s; "
          f"{len(samples.rss_kb)} samples")
    lines, ok = judge(samples, warm, end)
    for line in lines:
        print(line)
    ok_429 = limited == 0
    print(f"429 answers {limited} (target 0) {testbed.verdict(ok_429)}")
    exact = all(" 0 missing, 0 extra, 0 stale" in line for line in report)
    print(f"data after {QUIET_PASSES} quiet passes (target exact) {testbed.verdict(exact)}")
    for line in report:
        print(f"  {line}")
    ok_exit = code == 0
    print(f"daemon exit on SIGTERM {code} (target 0) {testbed.verdict(ok_exit)}; log {tmp}")
    return ok and ok_429 and exact and ok_exit


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    sys.exit(testbed.run(lambda dsn: measure(dsn, options)))
