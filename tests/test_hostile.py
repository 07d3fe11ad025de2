"""A hostile SKYBIZ server over a real socket: one module's answers are scripted to hurt
(redirects, endless or oversized bodies, trickles, rate headers that lie), every other
module is served by the honest simulator behind it. Each case: no traceback, the hostile
module's last_error says what happened, the other module is exact, and a redirect target
receives nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from syncd import config
from syncd.cli import commands
from syncd.core.backoff import Backoff
from syncd.core.results import ModuleRun
from syncd.engine.progress import LogProgress
from syncd_simulator import Simulator, SimulatorOptions
from tests.conftest import fetch

HISTORY = 3
ZERO = Backoff(initial=0.0, maximum=0.0, attempts=3, retry_after_cap=0.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Front:
    """The hostile server: ``sales.php`` answers with ``self.hostile``; anything else is
    passed to the honest simulator."""

    def __init__(self, sim_url: str) -> None:
        self.sim_url = sim_url
        self.hostile: Handler | None = None
        self.hits = 0
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/sales.php") and self.hostile is not None:
            self.hits += 1
            return await self.hostile(request)
        body = await request.read()
        async with aiohttp.ClientSession() as s, s.post(
                self.sim_url + request.path.split("/modules", 1)[1], data=body,
                headers={"Content-Type": request.content_type}) as resp:
            return web.Response(status=resp.status, body=await resp.read(),
                                content_type="application/json")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/01/clientportal/apiv2/modules"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Recorder:
    """Another loopback host a redirect points at: records whatever reaches it."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.read())
        return web.json_response({"status": "success", "data": []})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.2", 0).start()
        return f"http://127.0.0.2:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclasses.dataclass
class Env:
    sim: Simulator
    front: Front
    cfg: config.Config
    dsn: str

    async def sync(self, **source: Any) -> dict[str, ModuleRun]:
        src = dataclasses.replace(self.cfg.sources[0], modules=("customer", "sales"), **source)
        now = dt.datetime.combine(self.sim.dataset.today, dt.time(12),
                                  src.zone)
        runs = await commands.sync(self.cfg, [src], lambda s: LogProgress(), now=now,
                                   backoff=ZERO)
        return {r.module: r for r in runs}

    async def customers_exact(self) -> None:
        truth = self.sim.dataset.records_between(
            "customer", self.sim.dataset.today - dt.timedelta(days=HISTORY),
            self.sim.dataset.today)
        rows = await fetch(self.dsn, "SELECT cuscode FROM skybiz.customer")
        assert {r["cuscode"] for r in rows} == {str(t["CusCode"]) for t in truth}
        assert rows


@pytest.fixture
async def env(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Env]:
    sim = Simulator(SimulatorOptions(history_days=HISTORY, rate_requests=1000,
                                     rate_seconds=1.0))
    front = Front(await sim.start())
    url = await front.start()
    path = tmp_path / "syncd.toml"
    path.write_text(
        f'[warehouse]\ndsn = "{pg_dsn}"\n[sources.main]\nbase_url = "{url}"\n'
        f'backfill_from = "{sim.dataset.today - dt.timedelta(days=HISTORY)}"\n'
        f'masters_from = "{sim.dataset.today - dt.timedelta(days=HISTORY)}"\n'
        "[sources.main.rate_limit]\nrequests = 1000\nper_seconds = 1\nmargin_seconds = 0\n")
    creds = {"SYNCD_MAIN_API_KEY": sim.options.api_key,
             "SYNCD_MAIN_API_SECRET": sim.options.api_secret}
    try:
        yield Env(sim, front, config.load(path, creds, need_credentials=True), pg_dsn)
    finally:
        await front.stop()
        await sim.stop()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed_and_names_its_target(env: Env, status: int) -> None:
    """A 3xx to another host fails the module with a sentence naming that host; the host
    never sees a byte of the credentials."""
    target = Recorder()
    elsewhere = await target.start()
    try:
        async def redirect(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": elsewhere + "/steal"})

        env.front.hostile = redirect
        runs = await env.sync()
    finally:
        await target.stop()
    assert target.received == []
    error = str(runs["sales"].error)
    assert "127.0.0.2" in error
    assert "redirect" in error
    assert env.sim.options.api_secret not in error
    assert runs["customer"].error is None
    await env.customers_exact()


async def test_an_announced_5_gb_answer_is_refused_unread(env: Env) -> None:
    """Content-Length: 5 GB is refused from the header (the window splits down to a day,
    then the module stops with one sentence naming max_answer_mb); nothing is buffered."""

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 5 * 1024**3
        await resp.prepare(request)
        try:
            for _ in range(5):
                await resp.write(b" " * 1024)
                await asyncio.sleep(0.2)  # a trickle: the client must not wait for it
        except (ConnectionError, RuntimeError):
            pass
        return resp

    env.front.hostile = huge
    runs = await env.sync()
    assert "max_answer_mb" in str(runs["sales"].error)
    assert runs["customer"].error is None
    await env.customers_exact()


async def test_an_endless_chunked_body_is_cut_at_the_limit(env: Env) -> None:
    """A chunked body with no end is refused once the bytes read pass max_answer_mb."""

    async def endless(request: web.Request) -> web.StreamResponse:
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

    env.front.hostile = endless
    runs = await env.sync(max_answer_mb=1)
    assert "max_answer_mb = 1 MB" in str(runs["sales"].error)
    assert runs["customer"].error is None
    await env.customers_exact()


async def test_a_trickling_answer_ends_at_the_request_deadline(env: Env) -> None:
    """A body sent a byte at a time never completes: each try ends at request_timeout and
    the module stops with a sentence naming it, while the other module is loaded."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 1000
        await resp.prepare(request)
        try:
            for _ in range(1000):
                await resp.write(b" ")
                await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    env.front.hostile = trickle
    runs = await env.sync(request_timeout=0.3)
    assert "request_timeout" in str(runs["sales"].error)
    assert runs["customer"].error is None
    await env.customers_exact()


async def test_an_html_page_with_200_is_no_data(env: Env) -> None:
    """An HTML error page sent with 200 is not "no records": the module fails with a
    sentence after its retries, nothing of sales is stored."""

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>502 Bad Gateway</body></html>",
                            content_type="text/html")

    env.front.hostile = html
    runs = await env.sync()
    assert runs["sales"].error is not None
    assert (await fetch(env.dsn, "SELECT count(*) AS n FROM skybiz.sales"))[0]["n"] == 0
    assert runs["customer"].error is None
    await env.customers_exact()


def _sales_answer(records: bytes) -> bytes:
    return (b'{"status":"success","request_id":"r1","data":{"mode":1,"total_returned":1,'
            b'"data":[' + records + b"]}}")


async def test_json_nested_5000_deep_fails_the_window_not_the_pass(env: Env) -> None:
    """An answer nested deeper than any parser's recursion: the module stops with a sentence
    (no RecursionError), the other module is exact."""

    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=_sales_answer(b"[" * 5000 + b"]" * 5000),
                            content_type="application/json")

    env.front.hostile = deep
    runs = await env.sync()
    assert runs["sales"].error is not None
    assert "Recursion" not in str(runs["sales"].error)
    assert runs["customer"].error is None
    await env.customers_exact()


async def test_invalid_utf8_nul_and_a_64_mb_string_keep_the_record(env: Env) -> None:
    """Invalid UTF-8 bytes, a NUL escape and a 64 MB string inside a sales record: the
    record is stored (bad bytes replaced, the long value in _raw), nothing crashes."""
    today = env.sim.dataset.today.isoformat()
    big = b"x" * (64 * 1024 * 1024)
    record = (b'{"DocType":"CS","Doc1No":"H1","D_ate":"' + today.encode() + b'",'
              b'"CusCode":"caf\xc3\xa9 \xff\xfe bad","Remark":"nul\\u0000here",'
              b'"Note":"' + big + b'"}')

    async def nasty(request: web.Request) -> web.Response:
        return web.Response(body=_sales_answer(record), content_type="application/json")

    env.front.hostile = nasty
    runs = await env.sync()
    assert runs["sales"].error is None, runs["sales"].error
    rows = await fetch(env.dsn, "SELECT doc1no, cuscode, length(_raw::text) AS raw "
                       "FROM skybiz.sales")
    assert [r["doc1no"] for r in rows] == ["H1"]
    assert rows[0]["cuscode"].startswith("café ")
    assert "\ufffd" in rows[0]["cuscode"]
    assert rows[0]["raw"] > len(big)
    await env.customers_exact()


@pytest.mark.parametrize("reset", ["9999999999", "1e15", "inf", "nan", "-5", "soon"])
def test_a_lying_rate_header_holds_no_longer_than_the_sources_window(reset: str) -> None:
    """X-RateLimit-Remaining: 0 with an absurd Reset holds reads for at most the source's
    own per_seconds (CONTRACT §10), whatever the header says."""
    import time

    from syncd.kinds.cloudonex import budget
    from syncd.kinds.cloudonex.answers import RateHeaders

    headers = RateHeaders.read({"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset": reset})
    verdict = budget.judge(headers, time.time(), 0, 1000, cap=3600.0)
    assert verdict is not None
    assert 0 <= verdict.seconds <= 3600.0
