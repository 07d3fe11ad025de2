"""Peak memory of `syncd sync` against a hostile server (issue 17's closing figure).

A real `syncd sync` child process (modules customer and sales, one source per case so each
starts from an empty state) reads a local aiohttp front server: every module is passed to
the bundled SKYBIZ simulator, except that ``sales.php`` answers, per case,

* ``honest``: normally — the baseline;
* ``announced``: ``Content-Length: 5 GB``, then a trickle of a kilobyte every 0.2 s;
  max_answer_mb = 1024 (the default): refused from the header, nothing buffered;
* ``endless``: a chunked body that never ends, max_answer_mb = 64: cut once 64 MB are read.

Each child runs under a small wrapper process of its own, so the figure is that child's
alone: the wrapper prints ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``. Targets: the
announced 5 GB costs nothing over the baseline (< baseline + 32 MB, far under 1x
max_answer_mb) and the sentence says it was refused from the header; the endless body
costs at most what the limit allows (< baseline + 2 x 64 MB); in both, customer is loaded
and the hostile module ends in one sentence naming max_answer_mb, without a traceback.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import testbed
from aiohttp import web

from syncd_simulator import Simulator, SimulatorOptions

HISTORY = 30
GB, MB = 1024**3, 1024**2
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def announced(request: web.Request) -> web.StreamResponse:
    """5 GB announced, a kilobyte every 0.2 s sent, until the client hangs up."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = 5 * GB
    await resp.prepare(request)
    try:
        while True:
            await resp.write(b" " * 1024)
            await asyncio.sleep(0.2)  # the trickle itself
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def endless(request: web.Request) -> web.StreamResponse:
    """A chunked JSON string that never ends, until the client hangs up."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        await resp.write(b'{"status":"success","data":{"data":["')
        while True:
            await resp.write(b"x" * 65536)
    except (ConnectionError, RuntimeError):
        pass
    return resp


class Front:
    """``sales.php`` answered by ``hostile`` (None: honestly); the rest by the simulator."""

    def __init__(self, sim_url: str) -> None:
        self.sim_url = sim_url
        self.hostile: Handler | None = None
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/sales.php") and self.hostile is not None:
            return await self.hostile(request)
        assert self.session is not None
        async with self.session.post(
                self.sim_url + request.path.split("/modules", 1)[1], data=await request.read(),
                headers={"Content-Type": request.content_type}) as resp:
            return web.Response(status=resp.status, body=await resp.read(),
                                content_type="application/json")

    async def start(self) -> str:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/01/clientportal/apiv2/modules"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


def config_text(name: str, url: str, dsn: str, since: dt.date, max_mb: int) -> str:
    return (f'[warehouse]\ndsn = "{dsn}"\n\n[sources.{name}]\nbase_url = "{url}"\n'
            f'backfill_from = "{since.isoformat()}"\nmodules = ["customer", "sales"]\n'
            f"max_answer_mb = {max_mb}\n\n[sources.{name}.rate_limit]\nrequests = 1000\n"
            "per_seconds = 1\nmargin_seconds = 0\n")


async def measured(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run ``python -m syncd ARGS`` under the wrapper (this file with ``--child``); its
    exit code, stderr and peak RSS."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    result: dict[str, object] = json.loads(out)
    return result


def child(args: list[str]) -> int:
    """The wrapper: run syncd, then print its exit code, stderr and peak RSS as JSON."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and package
        [sys.executable, "-m", "syncd", *args], capture_output=True, check=False,
        stdin=subprocess.DEVNULL)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"code": done.returncode, "stderr": done.stderr.decode(errors="replace"),
                      "peak_mb": peak_kb / 1024}))
    return 0


@dataclass(frozen=True, slots=True)
class Bed:
    """What every case runs against: the front, its URL, the simulator, the warehouse."""

    front: Front
    url: str
    sim: Simulator
    dsn: str
    tmp: Path


async def case(bed: Bed, name: str, hostile: Handler | None,
               max_mb: int) -> dict[str, object]:
    """One `syncd sync` of its own source against the front with ``hostile`` sales."""
    front, sim, dsn = bed.front, bed.sim, bed.dsn
    path = bed.tmp / f"{name}.toml"
    path.write_text(config_text(name, bed.url, dsn, sim.dataset.start, max_mb), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")} | {
        f"SYNCD_{name.upper()}_API_KEY": sim.options.api_key,
        f"SYNCD_{name.upper()}_API_SECRET": sim.options.api_secret}
    if name == "honest":
        migrated = await measured(["migrate", "--config", str(path)], env)
        assert migrated["code"] == 0, migrated["stderr"]
    front.hostile = hostile
    result = await measured(["sync", "--config", str(path)], env)
    conn = await asyncpg.connect(dsn)
    try:
        result["customers"] = await conn.fetchval(
            "SELECT count(*) FROM skybiz.customer WHERE source = $1", name)
    finally:
        await conn.close()
    return result


async def measure(dsn: str) -> bool:
    sim = Simulator(SimulatorOptions(history_days=HISTORY, rate_requests=1000,
                                     rate_seconds=1.0))
    front = Front(await sim.start())
    url = await front.start()
    tmp = Path(tempfile.mkdtemp(prefix="syncd-hostile-"))
    try:
        bed = Bed(front, url, sim, dsn, tmp)
        base = await case(bed, "honest", None, 1024)
        huge = await case(bed, "announced", announced, 1024)
        cut = await case(bed, "endless", endless, 64)
    finally:
        await front.stop()
        await sim.stop()
        shutil.rmtree(tmp)
    return report(base, huge, cut)


def report(base: dict[str, object], huge: dict[str, object], cut: dict[str, object]) -> bool:
    """The figures beside their targets."""
    floor = float(str(base["peak_mb"]))
    ok = base["code"] == 0
    print(f"honest server (baseline): peak RSS {floor:.1f} MB, exit {base['code']}, "
          f"{base['customers']} customers")
    for what, got, limit, extra in (
            ("Content-Length 5 GB + trickle, max_answer_mb 1024", huge, 1024, 32),
            ("endless chunked body, max_answer_mb 64", cut, 64, 2 * 64)):
        peak, err = float(str(got["peak_mb"])), str(got["stderr"])
        sentence = next((line for line in err.splitlines()
                         if line.startswith("syncd:") and "max_answer_mb" in line), "")
        clean = "Traceback" not in err and bool(sentence) and got["customers"] == base[
            "customers"]
        header = "announced" not in what or "it announced 5,120 MB" in sentence
        good = peak < floor + extra and clean and header
        print(f"{what}: peak RSS {peak:.1f} MB = baseline {peak - floor:+.1f} MB (target < "
              f"baseline + {extra} MB, {extra / limit:.2g}x max_answer_mb), exit "
              f"{got['code']}, customers {got['customers']}, no traceback "
              f"{'Traceback' not in err} {testbed.verdict(good)}")
        print(f"  {sentence.strip()[:300]}")
        ok &= good
    return ok


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit(testbed.run(measure))
