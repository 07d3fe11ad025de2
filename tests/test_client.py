"""The SKYBIZ client over aioresponses: payloads, retries, Retry-After, stop rules."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from syncd.config import RateLimit, SkybizOptions, SourceConfig
from syncd.core import errors
from syncd.core.backoff import Backoff
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.limiter import RateLimiter
from syncd.kinds.skybiz.answers import classify
from syncd.kinds.skybiz.client import SkybizClient

BASE = "https://erp.example.com/01/clientportal/apiv2/modules"
KEY, SECRET = "K" * 25, "S" * 64
D1, D2 = dt.date(2026, 4, 1), dt.date(2026, 5, 1)

SOURCE = SourceConfig(
    name="main", kind="skybiz", base_url=BASE, timezone="Asia/Kuala_Lumpur",
    options=SkybizOptions(dt.date(2024, 1, 1)), modules=("customer", "sales", "price_matrix"),
    rate_limit=RateLimit(1000, 1.0, 0.0),
    credentials=Credentials(Secret(KEY), Secret(SECRET)),
)


def ok(records: list[dict[str, Any]], status_word: str = "success") -> dict[str, Any]:
    return {"status": status_word, "timestamp": "t", "request_id": "req_ok",
            "data": {"requested_by": KEY, "mode": 1, "total_returned": len(records),
                     "data": records}}


def err(message: str, request_id: str = "req_err") -> dict[str, Any]:
    return {"status": "error", "timestamp": "t", "request_id": request_id, "message": message}


class Recorder:
    """Collects the delays the client asked to sleep, instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(session: aiohttp.ClientSession, rec: Recorder,
                backoff: Backoff | None = None) -> tuple[SkybizClient, RateLimiter]:
    limiter = RateLimiter(1000, 1.0, margin=0.0)
    client = SkybizClient(SOURCE, session, limiter, backoff=backoff or Backoff(),
                          rand=lambda: 0.5, sleep=rec.sleep)
    return client, limiter


def url(module: str) -> str:
    return f"{BASE}/{module}.php"


async def test_read_sends_exactly_the_documented_payload(
    session: aiohttp.ClientSession,
) -> None:
    """A read is a JSON POST with key, secret, action and the inclusive dates only."""
    seen: list[dict[str, Any]] = []

    def capture(u: Any, **kw: Any) -> CallbackResult:
        seen.append(kw["json"])
        return CallbackResult(status=200, payload=ok([{"CusCode": "C1"}]))

    rec = Recorder()
    client, _ = make_client(session, rec)
    with aioresponses() as m:
        m.post(url("customer"), callback=capture)
        m.post(url("price_matrix"), callback=capture)
        page = await client.read("customer", D1, D2)
        await client.read("price_matrix", D1, D2)
    assert page.records == [{"CusCode": "C1"}]
    assert seen[0] == {"api_key": KEY, "api_secret": SECRET, "action": "read",
                       "date_from": "2026-04-01", "date_to": "2026-05-01"}
    assert seen[1]["item_code"] == ""
    assert seen[1]["cus_code"] == ""


async def test_fields_only_sent_to_modules_that_accept_them(
    session: aiohttp.ClientSession,
) -> None:
    """`fields` goes to customer, never to sales (which ignores it)."""
    seen: list[dict[str, Any]] = []

    def capture(u: Any, **kw: Any) -> CallbackResult:
        seen.append(kw["json"])
        return CallbackResult(status=200, payload=ok([]))

    client, _ = make_client(session, Recorder())
    with aioresponses() as m:
        m.post(url("customer"), callback=capture)
        m.post(url("sales"), callback=capture)
        await client.read("customer", D1, D1, fields=("CusCode",))
        await client.read("sales", D1, D1, fields=("Doc1No",))
    assert seen[0]["fields"] == ["CusCode"]
    assert "fields" not in seen[1]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, err("Internal server error")),
        (500, err("Database connection failed")),
        (502, "<html>bad gateway</html>"),
        (200, '{"status":"success","data":{"data":[{"a":1'),  # truncated
    ],
)
async def test_transient_failures_are_retried_with_backoff(
    session: aiohttp.ClientSession, status: int, body: Any
) -> None:
    """5xx and broken 200 bodies are retried after ≥ 1 s doubling delays, then succeed."""
    rec = Recorder()
    client, _ = make_client(session, rec)
    with aioresponses() as m:
        for _ in range(2):
            if isinstance(body, dict):
                m.post(url("sales"), status=status, payload=body)
            else:
                m.post(url("sales"), status=status, body=body)
        m.post(url("sales"), payload=ok([{"Doc1No": "A"}]))
        page = await client.read("sales", D1, D2)
    assert page.records == [{"Doc1No": "A"}]
    assert rec.sleeps == [1.0, 1.5]  # attempt 1: exactly 1 s; attempt 2: 1 + 0.5 * (2 - 1)
    assert client.requests == 3
    assert client.retries == 2


async def test_connection_errors_are_retried(session: aiohttp.ClientSession) -> None:
    """A reset connection is a transient error."""
    rec = Recorder()
    client, _ = make_client(session, rec)
    with aioresponses() as m:
        m.post(url("sales"), exception=aiohttp.ServerDisconnectedError())
        m.post(url("sales"), payload=ok([]))
        page = await client.read("sales", D1, D2)
    assert page.records == []
    assert len(rec.sleeps) == 1


async def test_retry_budget_runs_out(session: aiohttp.ClientSession) -> None:
    """After `attempts` tries the client gives up with RetriesExhausted carrying request_id."""
    rec = Recorder()
    client, _ = make_client(session, rec, Backoff(attempts=3))
    with aioresponses() as m:
        for i in range(3):
            m.post(url("sales"), status=500, payload=err("Internal server error", f"req_{i}"))
        with pytest.raises(errors.RetriesExhausted) as info:
            await client.read("sales", D1, D2)
    assert info.value.request_id == "req_2"
    assert client.requests == 3
    assert len(rec.sleeps) == 2


async def fetch_split(client: SkybizClient) -> list[dict[str, Any]]:
    """A read that asks to split after two failures the window's size may cause."""

    def accept(answer: Any) -> list[dict[str, Any]]:
        return classify(answer.status, answer.body, answer.ctx, answer.retry_after).records

    return await client.fetch("sales", D1, D2, accept, split_after=2)


@pytest.mark.parametrize("fault", [
    {"status": 500, "payload": err("Internal server error", "req_oom")},
    {"exception": aiohttp.ServerTimeoutError()},
    {"body": '{"status":"success","data":{"total_ret'},
])
async def test_two_failures_of_a_window_ask_for_smaller_pieces(
    session: aiohttp.ClientSession, fault: dict[str, Any],
) -> None:
    """With split_after=2, a second 500, timeout or truncated body raises WindowTooLarge
    carrying the requests spent, instead of spending the whole retry budget."""
    rec = Recorder()
    client, _ = make_client(session, rec, Backoff(attempts=6))
    with aioresponses() as m:
        for _ in range(2):
            m.post(url("sales"), **fault)
        with pytest.raises(errors.WindowTooLarge) as info:
            await fetch_split(client)
    assert info.value.requests == 2
    assert client.requests == 2
    assert len(rec.sleeps) == 1


async def test_429_and_unreachable_are_no_reason_to_split(
    session: aiohttp.ClientSession,
) -> None:
    """Rate limits and a refused connection say nothing about the window's size: only
    failures the server gave to the read itself count towards a split."""
    rec = Recorder()
    client, limiter = make_client(session, rec, Backoff(attempts=6))
    limiter.pause = lambda seconds: None  # type: ignore[method-assign]  # no real wait
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("erp.example.com", 443, True, True, None, None,
                                            None), OSError(111, "Connection refused"))
    with aioresponses() as m:
        m.post(url("sales"), status=429, payload=err("Rate limit exceeded"))
        m.post(url("sales"), exception=refused)
        m.post(url("sales"), status=500, payload=err("Internal server error"))
        m.post(url("sales"), status=429, payload=err("Rate limit exceeded"))
        m.post(url("sales"), payload=ok([{"Doc1No": "A"}]))
        assert await fetch_split(client) == [{"Doc1No": "A"}]
    assert client.requests == 5


async def test_429_honours_retry_after_and_pauses_the_whole_source(
    session: aiohttp.ClientSession,
) -> None:
    """A 429 with Retry-After: 7 pauses the shared limiter ≥ 7 s for every module."""
    rec = Recorder()
    client, limiter = make_client(session, rec)
    paused: list[float] = []
    limiter.pause = paused.append  # type: ignore[method-assign]  # record, don't wait 7 s
    with aioresponses() as m:
        m.post(url("sales"), status=429, payload=err("Rate limit exceeded"),
               headers={"Retry-After": "7"})
        m.post(url("sales"), payload=ok([]))
        await client.read("sales", D1, D2)
    assert paused == [7.0]
    assert rec.sleeps == []  # the limiter's pause does the waiting, for everyone


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "Date range cannot exceed 31 days.", errors.RequestRejected),
        (401, "Invalid API credentials", errors.SourceUnauthorized),
        (403, "Sales read permission denied", errors.ModuleForbidden),
        (404, "Store not found", errors.EndpointMisconfigured),
        (405, "Only POST method allowed", errors.EndpointMisconfigured),
    ],
)
async def test_permanent_errors_are_not_retried(
    session: aiohttp.ClientSession, status: int, message: str, kind: type[Exception]
) -> None:
    """400/401/403/404/405 fail at once: exactly one request, no sleep."""
    rec = Recorder()
    client, _ = make_client(session, rec)
    with aioresponses() as m:
        m.post(url("sales"), status=status, payload=err(message))
        with pytest.raises(kind):
            await client.read("sales", D1, D2)
    assert client.requests == 1
    assert rec.sleeps == []


async def test_unauthorized_sentence_never_contains_the_secret(
    session: aiohttp.ClientSession,
) -> None:
    """The 401 sentence tells where to fix credentials and never shows them."""
    client, _ = make_client(session, Recorder())
    with aioresponses() as m:
        m.post(url("sales"), status=401, payload=err("Invalid API credentials"))
        with pytest.raises(errors.SourceUnauthorized) as info:
            await client.read("sales", D1, D2)
    text = str(info.value) + repr(info.value)
    assert "SYNCD_MAIN_API_KEY" in text
    assert SECRET not in text
    assert KEY not in text


async def test_client_logs_failures_with_request_id(
    session: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every failed request is logged with the server's request_id, never the secret."""
    from syncd import logs

    logs.configure("json")
    client, _ = make_client(session, Recorder())
    with aioresponses() as m:
        m.post(url("sales"), status=500, payload=err("Internal server error", "req_xyz"))
        m.post(url("sales"), payload=ok([]))
        await client.read("sales", D1, D2)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    failed = [x for x in lines if x["event"] == "api.request_failed"]
    assert failed
    assert failed[0]["request_id"] == "req_xyz"
    assert SECRET not in json.dumps(lines)
