"""The CloudOnex client over aioresponses: the key stays secret, budget headers are obeyed."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest
from aioresponses import aioresponses

from syncd.config import RateLimit, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import SourceUnauthorized
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.cloudonex.client import CloudonexClient

KEY = "cx-secret-key-0123456789"
URL = "https://crm.example.com/api/v2"
PAGES = re.compile(r"^https://crm\.example\.com/api/v2/customers\?.*$")


def source() -> SourceConfig:
    return SourceConfig(name="crm", kind="cloudonex", base_url=URL, timezone="UTC",
                        backfill_from=None, modules=("customers",),
                        rate_limit=RateLimit(1000, 3600, 0), credentials=Credentials(Secret(KEY)))


async def test_a_key_echoed_by_the_server_never_reaches_the_sentence() -> None:
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(source(), session, limiter, backoff=Backoff(0, 0, 1))
        with aioresponses() as m:
            m.get(PAGES, status=401, payload={"success": False,
                                              "message": f"Invalid API key {KEY}"})
            with pytest.raises(SourceUnauthorized) as info:
                await client.page("customers", 1, bulk=False, priority=Priority.FRESH)
            sent = next(iter(m.requests.values()))[0]
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.message)
    assert "[the API key]" in str(info.value)
    assert sent.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(next(iter(m.requests))[1])  # never in the URL


async def test_little_budget_left_holds_every_read_until_reset() -> None:
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(source(), session, limiter)
        with aioresponses() as m:
            reset = int(time.time()) + 120
            m.get(PAGES, status=200, payload={"success": True, "data": [{"id": 1}],
                                              "meta": {"current_page": 1, "total_pages": 1,
                                                       "total_records": 1}},
                  headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "1",
                           "X-RateLimit-Reset": str(reset)})
            fetched = await client.page("customers", 1, bulk=False, priority=Priority.FRESH)
    assert [bytes(r) for r in fetched.page.records] == [b'{"id": 1}']
    now = limiter._clock()
    assert limiter._window.next_start(now) - now > 100  # held until the reset, ~120 s


async def test_the_reserve_holds_only_complete_reads() -> None:
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(source(), session, limiter)
        with aioresponses() as m:
            m.get(PAGES, status=200, payload={"success": True, "data": [],
                                              "meta": {"total_records": 0}},
                  headers={"X-RateLimit-Remaining": "150",
                           "X-RateLimit-Reset": str(int(time.time()) + 60)})
            await client.page("customers", 1, bulk=True, priority=Priority.BACKFILL)
    now = limiter._clock()
    assert limiter._window.next_start(now) == now  # fresh reads go on
    assert client.bulk._window.next_start(now) - now > 30  # complete reads wait
