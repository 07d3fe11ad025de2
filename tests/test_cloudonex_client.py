"""The CloudOnex client over aioresponses: the key stays secret, budget headers are obeyed."""

from __future__ import annotations

import re
import time
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
import yarl
from aioresponses import aioresponses

from syncd.config import CloudonexOptions, RateLimit, SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import ModuleForbidden, SourceUnauthorized
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.cloudonex.client import CloudonexClient

KEY = "cx-secret-key-0123456789"
URL = "https://crm.example.com/api/v2"
PAGES = re.compile(r"^https://crm\.example\.com/api/v2/customers\?.*$")


def source() -> SourceConfig:
    return SourceConfig(name="crm", kind="cloudonex", base_url=URL, timezone="UTC",
                        options=CloudonexOptions(), modules=("customers",),
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


ODD_KEY = "cx+odd/key=with&chars 42"  # changed by URL encoding


def query_source(key: str = ODD_KEY) -> SourceConfig:
    return SourceConfig(name="crm", kind="cloudonex", base_url=URL, timezone="UTC",
                        options=CloudonexOptions(auth="query"), modules=("customers",),
                        rate_limit=RateLimit(1000, 3600, 0),
                        credentials=Credentials(Secret(key)))


async def test_auth_query_sends_the_key_as_api_key_and_no_header() -> None:
    """auth = "query": ?api_key= in the URL sent, no Authorization header."""
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(query_source(), session, limiter, backoff=Backoff(0, 0, 1))
        with aioresponses() as m:
            m.get(PAGES, status=200, payload={"success": True, "data": [{"id": 1}]})
            fetched = await client.page("customers", 1, bulk=False, priority=Priority.FRESH)
            (_, sent_url), calls = next(iter(m.requests.items()))
    assert fetched.page.total_pages is None  # no meta
    assert sent_url.query["api_key"] == ODD_KEY
    assert "Authorization" not in calls[0].kwargs["headers"]


@pytest.mark.parametrize("echo", [ODD_KEY, quote(ODD_KEY, safe=""), quote_plus(ODD_KEY),
                                  "api_key=" + yarl.URL.build(query={"api_key": ODD_KEY})
                                  .raw_query_string.partition("=")[2]])
async def test_a_url_the_server_echoes_has_the_key_replaced(echo: str) -> None:
    """An error quoting the request URL (the key raw or URL-encoded) never reaches the
    sentence with the key in it."""
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(query_source(), session, limiter, backoff=Backoff(0, 0, 1))
        with aioresponses() as m:
            m.get(PAGES, status=403, payload={"success": False,
                                              "message": f"No route /customers?{echo}"})
            with pytest.raises(ModuleForbidden) as info:
                await client.page("customers", 1, bulk=False, priority=Priority.FRESH)
    assert "[the API key]" in str(info.value)
    for form in (ODD_KEY, quote(ODD_KEY, safe=""), quote_plus(ODD_KEY)):
        assert form not in str(info.value)


RECORD = re.compile(r"^https://crm\.example\.com/api/v2/customers/17(\?.*)?$")


async def test_record_by_id_found_missing_retried_and_refused() -> None:
    """record(): the record, None for 404, a 500 retried, a 403 refused with its sentence."""
    limiter = RateLimiter(1000, 3600, margin=0)
    async with aiohttp.ClientSession() as session:
        client = CloudonexClient(source(), session, limiter, backoff=Backoff(0, 0, 3))
        with aioresponses() as m:
            m.get(RECORD, status=500, payload={"success": False, "message": "db down"})
            m.get(RECORD, status=200, payload={"success": True, "data": {"id": 17}})
            m.get(RECORD, status=404, payload={"success": False, "message": "Not found"})
            m.get(RECORD, status=403, payload={"success": False, "message": "no"})
            found = await client.record("customers", 17)
            missing = await client.record("customers", 17)
            with pytest.raises(ModuleForbidden) as info:
                await client.record("customers", 17)
            sent = next(iter(m.requests.values()))[0]
    assert (bytes(found.record or b""), found.requests) == (b'{"id": 17}', 2)
    assert missing.record is None
    assert "reading one record (https://crm.example.com/api/v2/customers/17)" in str(
        info.value)
    assert sent.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
