"""A request's limiter start is counted when its bytes go out (CONTRACT §9: the server
counts arrivals). On Python 3.11 aiohttp writes a body from a task of its own, so a loop
busy parsing another answer sends it later than the grant; the session's trace tells
the start, over a real socket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from syncd.config import RateLimit, SkybizOptions, SourceConfig
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.http import open_session
from syncd.engine.limiter import RateLimiter
from tests.serving import served


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": len(await request.read())})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    async with served(app) as url:
        yield url


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_start_is_counted_when_the_request_is_written(server: str, method: str) -> None:
    now = [0.0]
    limiter = RateLimiter(1, 10.0, margin=0.0, clock=lambda: now[0])
    start = await limiter.acquire()
    now[0] = 4.0  # granted at 0; the loop was busy until 4 and wrote nothing yet
    source = SourceConfig(
        name="main", kind="skybiz", base_url=server, timezone="UTC",
        options=SkybizOptions(dt.date(2026, 1, 1)), modules=("sales",),
        rate_limit=RateLimit(1, 10.0),
        credentials=Credentials(Secret("K" * 25), Secret("S" * 64)))
    async with open_session(source) as session, session.request(
            method, f"{server}/echo", json={"a": 1} if method == "POST" else None,
            trace_request_ctx={"start": start}) as resp:
        assert resp.status == 200
    assert start.at == 4.0
    # The server saw it at 4: the next start waits until 14, not 10.
    assert limiter._window.next_start(now[0]) == pytest.approx(14.0)
