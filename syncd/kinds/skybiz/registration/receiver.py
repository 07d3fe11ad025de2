"""The callback receiver of ``syncd register``: a small HTTP server that accepts one
verified POST at its single-use path and shrugs off everything else.

The path token is checked first: any other path is 404, another method at the path 405,
anything at the path that does not verify 401. The internet reaches this port, so every
request is bounded: at most MAX_CONNECTIONS open at once (MAX_PER_PEER per address), the
request head within HEAD_SECONDS of connecting, the body (at most
``callback.MAX_BODY_BYTES``) within BODY_SECONDS, one request per connection. Refusals are
logged with their reason and the peer, never the body or the path; none of them ends the
wait (``flow`` decides that).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from syncd import logs
from syncd.core.errors import ConfigError
from syncd.core.text import printable
from syncd.kinds.skybiz.registration import callback
from syncd.kinds.skybiz.registration.callback import CallbackRefused, Delivery

log = structlog.get_logger("syncd.register")

MAX_CONNECTIONS = 128  # open at once, in all
MAX_PER_PEER = 8  # from one address: one scanner cannot take every slot from the server
HEAD_SECONDS = 10.0
BODY_SECONDS = 10.0
KEPT_REFUSALS = 100  # the latest refusals, for the closing sentence; a flood keeps no more
# Refusals anyone can cause without the token, or by being slow or large: never decisive.
NOISE = frozenset({"wrong_path", "method", "oversized", "slow"})


class Receiver:
    """Holds the single-use token and what arrived; ``delivered`` is set on acceptance."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.clock = clock
        self.delivery: Delivery | None = None
        self.refusals: collections.deque[CallbackRefused] = collections.deque(
            maxlen=KEPT_REFUSALS)
        self.delivered = asyncio.Event()

    @property
    def replayed(self) -> bool:
        """A second verified callback came (the same one, or another at the used path)."""
        return any(r.kind in ("replay", "used") for r in self.refusals)

    @property
    def decisive(self) -> list[CallbackRefused]:
        """Refusals of requests that held the token and were not mere noise."""
        return [r for r in self.refusals if r.kind not in NOISE]

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Verify one request; accept it only if it is the first valid one."""
        try:
            callback.check_token(self.token, request.path)
            if request.method != "POST":
                raise CallbackRefused("method", 405)
            body = await _body(request)
            delivery = callback.verify(
                _single(request, "X-Timestamp"), _single(request, "X-Signature"), body,
                now=self.clock(), seen={self.delivery.signature} if self.delivery else ())
            if self.delivery is not None:
                raise CallbackRefused("used")
        except CallbackRefused as refused:
            return self._refuse(request, refused)
        for value in (delivery.api_key, delivery.api_secret):  # scrubbed from any log line
            logs.register_secret(value.reveal())
        self.delivery = delivery
        self.delivered.set()
        log.info("register.callback_verified", peer=request.remote)
        return _answer(200, {"status": "success", "message": "credentials received"})

    def _refuse(self, request: web.BaseRequest, refused: CallbackRefused) -> web.Response:
        self.refusals.append(refused)
        log.warning("register.callback_refused", reason=refused.kind, peer=request.remote,
                    method=printable(request.method[:16]))
        answer = _answer(refused.status, {"status": "error", "message": refused.kind})
        if refused.status == 405:
            answer.headers["Allow"] = "POST"
        return answer


async def _body(request: web.BaseRequest) -> bytes:
    """The body, read within BODY_SECONDS and refused beyond MAX_BODY_BYTES, by its
    Content-Length or by the bytes that came (a chunked body says no length)."""
    limit = callback.MAX_BODY_BYTES
    if (request.content_length or 0) > limit:
        raise CallbackRefused("oversized")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            while chunk := await request.content.read(limit + 1 - size):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise CallbackRefused("oversized")
    except TimeoutError:
        raise CallbackRefused("slow") from None
    return b"".join(chunks)


def _answer(status: int, doc: dict[str, str]) -> web.Response:
    """A JSON answer that also closes the connection: one request per connection."""
    answer = web.json_response(doc, status=status)
    answer.force_close()
    return answer


def _single(request: web.BaseRequest, name: str) -> str | None:
    """A header that must appear exactly once."""
    values = request.headers.getall(name, [])
    return values[0] if len(values) == 1 else None


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The server context for ``--tls-cert/--tls-key``; ConfigError when they do not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load --tls-cert {cert} / --tls-key {key} "
                          f"({getattr(exc, 'strerror', None) or exc}); give a PEM "
                          "certificate and its private key.") from None
    return context


class _NoTracebacks(logging.Logger):
    """aiohttp's server logger, minus the traceback it prints for a malformed request."""

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        # Anyone on the internet can send a broken request line or duplicate headers:
        # aiohttp answers 400 by itself; one line of log is all that deserves.
        log.warning("register.bad_request", error=type(sys.exc_info()[1]).__name__)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class _GuardedServer(web.Server):
    """aiohttp's low-level server with connection caps and a deadline for the request
    head: a slow-loris client is cut off, a flood of connections is turned away."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, request_factory=self._head_complete, **kwargs)
        self._open: dict[RequestHandler, tuple[str, asyncio.TimerHandle]] = {}
        self._per_peer: collections.Counter[str] = collections.Counter()
        self.turned_away = 0

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        if len(self._open) >= MAX_CONNECTIONS or self._per_peer[host] >= MAX_PER_PEER:
            self.turned_away += 1
            if self.turned_away in (1, 10) or self.turned_away % 100 == 0:
                log.warning("register.connections_capped", peer=host,
                            turned_away=self.turned_away)
            # After aiohttp has started the connection's task: aborted at once, the task
            # would find the connection already gone and fail on an assertion.
            asyncio.get_running_loop().call_soon(transport.abort)
            return
        self._per_peer[host] += 1
        deadline = asyncio.get_running_loop().call_later(HEAD_SECONDS, self._too_slow, host,
                                                         transport)
        self._open[handler] = (host, deadline)

    def connection_lost(self, handler: RequestHandler,
                        exc: BaseException | None = None) -> None:
        host, deadline = self._open.pop(handler, ("", None))
        if deadline is not None:
            deadline.cancel()
            self._per_peer[host] -= 1
            if self._per_peer[host] <= 0:
                del self._per_peer[host]
        super().connection_lost(handler, exc)

    def _too_slow(self, host: str, transport: asyncio.Transport) -> None:
        log.warning("register.request_too_slow", peer=host, seconds=HEAD_SECONDS)
        transport.abort()

    def _head_complete(self, message: Any, payload: Any, protocol: RequestHandler,
                       writer: Any, task: asyncio.Task[None]) -> web.BaseRequest:
        """The request head is parsed: its deadline is met (the body has its own)."""
        if protocol in self._open:
            self._open[protocol][1].cancel()
        return web.BaseRequest(message, payload, protocol, writer, task,
                               asyncio.get_running_loop(),
                               client_max_size=callback.MAX_BODY_BYTES)


def make_runner(handler: Handler) -> web.ServerRunner:
    """A runner serving ``handler`` (normally ``Receiver.handle``) behind the guards."""
    # lingering_time=0: a body left unread (a refused, slow or oversized request) is not
    # drained for aiohttp's default 10 s; the connection just closes.
    server = _GuardedServer(handler, access_log=None, lingering_time=0,
                            logger=_NoTracebacks("syncd.register.http"))
    return web.ServerRunner(server, shutdown_timeout=1.0)


async def serve(receiver: Receiver, host: str, port: int,
                tls: ssl.SSLContext | None) -> web.BaseRunner:
    """Start listening; the caller cleans the runner up."""
    runner = make_runner(receiver.handle)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=tls).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"--listen {host}:{port} cannot be used ({exc.strerror or exc}); "
                          "pick a free address and port.") from None
    return runner
