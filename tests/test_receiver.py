"""The callback receiver over a real socket, fuzzed: it stores only what verifies, never 500s."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.kinds.skybiz.registration import receiver
from syncd.kinds.skybiz.registration.receiver import Receiver, make_runner

NOW = 1_790_000_000
TOKEN = "tok_Zx9-single-use"
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=90)


@dataclass
class Served:
    port: int
    current: list[Receiver]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One receiver server on its own loop thread; each example swaps in a fresh Receiver."""
    current = [Receiver(TOKEN, clock=lambda: NOW)]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def route(request: web.BaseRequest) -> web.StreamResponse:
        return await current[0].handle(request)

    async def start() -> None:
        runner = make_runner(route)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert ready.wait(10)
    yield Served(int(holder["port"]), current)  # type: ignore[call-overload]
    runner = holder["runner"]
    assert isinstance(runner, web.BaseRunner)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def send(port: int, method: str, path: str, headers: list[tuple[str, str]],
         body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return conn.getresponse().status
    finally:
        conn.close()


@st.composite
def callbacks(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str]], bytes, bool]:
    """A request that is either a well-formed callback (possibly spoiled) or noise."""
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]))
    right_path = draw(st.booleans())
    path = f"/cb/{TOKEN}" if right_path else "/cb/" + draw(
        st.text("abcdefghijklmnopqrstuvwxyz-_0123456789", max_size=20))
    if draw(st.booleans()):  # noise
        headers = [(n, draw(PRINTABLE)) for n in draw(st.lists(
            st.sampled_from(["X-Timestamp", "X-Signature", "Content-Type"]), max_size=4))]
        return method, path, headers, draw(st.binary(max_size=400)), False
    secret = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    body = json.dumps({"api_key": draw(st.text("ABCxyz019", min_size=25, max_size=25)),
                       "api_secret": secret}).encode()
    offset = draw(st.sampled_from([0, 299, -299, 301, -301]))
    stamp = str(NOW + offset)
    wrong_key = draw(st.booleans())
    signature = hmac.new((secret + "x" if wrong_key else secret).encode(),
                         stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = [("Content-Type", "application/json"), ("X-Timestamp", stamp),
               ("X-Signature", draw(st.sampled_from([signature, signature.upper()])))]
    duplicate = draw(st.booleans()) and draw(st.booleans())
    if duplicate:
        headers.append(("X-Signature", signature))
    valid = (method == "POST" and right_path and abs(offset) <= 300 and not wrong_key
             and not duplicate)
    return method, path, headers, body, valid


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=callbacks())
def test_fuzzed_requests_store_only_verified_callbacks(
        served: Served, caplog: pytest.LogCaptureFixture,
        request: tuple[str, str, list[tuple[str, str]], bytes, bool]) -> None:
    """Whatever the method, headers and body, only a verified callback at the right path is
    kept, every other request is refused with 401/404/405 and nothing logs a traceback."""
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    method, path, headers, body, valid = request
    status = send(served.port, method, path, headers, body)
    assert (rx.delivery is not None) == valid
    # 400: aiohttp's own answer to malformed HTTP (e.g. a duplicated Content-Type).
    assert status == 200 if valid else status in (400, 401, 404, 405)
    if not valid and not path.endswith(TOKEN):
        assert status in (400, 404)  # the token is checked first, whatever the method
    assert len(rx.refusals) == (0 if valid or status == 400 else 1)
    assert not [r for r in caplog.records if r.exc_info]


def test_a_second_valid_callback_is_refused_and_the_first_kept(served: Served) -> None:
    """The path is single-use: after one accepted callback, even a valid one is refused."""
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    statuses = []
    for key in ("A" * 25, "B" * 25):
        body = json.dumps({"api_key": key, "api_secret": "s" * 64}).encode()
        sig = hmac.new(b"s" * 64, str(NOW).encode() + b"." + body, hashlib.sha256).hexdigest()
        statuses.append(send(served.port, "POST", f"/x/{TOKEN}",
                             [("X-Timestamp", str(NOW)), ("X-Signature", sig)], body))
    assert statuses == [200, 401]
    assert rx.delivery is not None
    assert rx.delivery.api_key.reveal() == "A" * 25
    assert [r.kind for r in rx.refusals] == ["used"]
    assert rx.replayed  # a second verified callback is refused like a replay


def test_an_exact_resend_is_recorded_as_a_replay(served: Served) -> None:
    """The same signed request twice: accepted once, then refused as a replay."""
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    body = json.dumps({"api_key": "A" * 25, "api_secret": "s" * 64}).encode()
    sig = hmac.new(b"s" * 64, str(NOW).encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = [("X-Timestamp", str(NOW)), ("X-Signature", sig)]
    assert [send(served.port, "POST", f"/{TOKEN}", headers, body) for _ in "12"] == [200, 401]
    assert rx.replayed


@pytest.mark.parametrize(("request_", "status", "kind"), [
    (("POST", f"/{TOKEN}", 17 * 1024), 401, "oversized"),
    (("GET", f"/{TOKEN}", 0), 405, "method"),
    (("PUT", f"/{TOKEN}", 10), 405, "method"),
    (("GET", "/", 0), 404, "wrong_path"),
    (("POST", "/wp-login.php", 20 * 1024), 404, "wrong_path"),
    (("POST", f"/{TOKEN}", 10), 401, "malformed"),
])
def test_noise_is_answered_by_what_it_is(served: Served, request_: tuple[str, str, int],
                                         status: int, kind: str) -> None:
    """A wrong path is 404 whatever the method, another method at the path 405, an
    oversized or unsigned body at the path 401; each is one noted refusal."""
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    method, path, size = request_
    assert send(served.port, method, path, [], b"x" * size) == status
    assert [r.kind for r in rx.refusals] == [kind]
    assert rx.delivery is None


# --- slow-loris and floods: bounded connections, deadlines for the head and the body -----


def _partial(port: int, data: bytes) -> socket.socket:
    """A connection that sends ``data`` and then holds still."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(data)
    return conn


def _closed_by_server(conn: socket.socket) -> bool:
    """Whether the server ends the connection (EOF or reset) within the socket's timeout."""
    try:
        while conn.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _signed_callback() -> tuple[list[tuple[str, str]], bytes]:
    body = json.dumps({"api_key": "A" * 25, "api_secret": "s" * 64}).encode()
    sig = hmac.new(b"s" * 64, str(NOW).encode() + b"." + body, hashlib.sha256).hexdigest()
    return [("X-Timestamp", str(NOW)), ("X-Signature", sig)], body


def test_a_slow_request_head_is_cut_off(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client trickling its request head is disconnected at the head deadline; the real
    callback afterwards is still accepted."""
    monkeypatch.setattr(receiver, "HEAD_SECONDS", 0.2)
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    with _partial(served.port, f"POST /{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()) as slow:
        assert _closed_by_server(slow)
    headers, body = _signed_callback()
    assert send(served.port, "POST", f"/{TOKEN}", headers, body) == 200
    assert rx.delivery is not None


def test_a_slow_body_is_refused(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body that does not arrive within the body deadline is a 401 "slow" refusal."""
    monkeypatch.setattr(receiver, "BODY_SECONDS", 0.2)
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    head = f"POST /{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n12345"
    with _partial(served.port, head.encode()) as slow:
        answer = slow.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401")
    assert [r.kind for r in rx.refusals] == ["slow"]


def test_connections_beyond_the_cap_are_turned_away(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_PER_PEER open connections from one address the next is closed at once,
    the held ones stay open, and once they go a real callback is accepted."""
    monkeypatch.setattr(receiver, "MAX_PER_PEER", 3)
    rx = Receiver(TOKEN, clock=lambda: NOW)
    served.current[0] = rx
    held = [_partial(served.port, b"GET / HTTP/1.1\r\n") for _ in range(3)]
    try:
        with _partial(served.port, b"GET / HTTP/1.1\r\n") as extra:
            assert _closed_by_server(extra)
        for conn in held:
            conn.settimeout(0.05)
            assert not _closed_by_server(conn)
    finally:
        for conn in held:
            conn.close()
    headers, body = _signed_callback()
    assert send(served.port, "POST", f"/{TOKEN}", headers, body) == 200
