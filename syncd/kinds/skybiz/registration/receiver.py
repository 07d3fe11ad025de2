"""The callback receiver of ``syncd register``: one aiohttp app, accepts one verified POST.

Every request is answered 401 (404 for a wrong path) unless ``callback.verify`` accepts
it — other methods and oversized bodies too; only HTTP that aiohttp cannot parse gets its
own 400. Refusals are logged with their reason and the peer, never the body or the path.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from syncd import logs
from syncd.core.errors import ConfigError
from syncd.kinds.skybiz.registration import callback
from syncd.kinds.skybiz.registration.callback import CallbackRefused, Delivery

log = structlog.get_logger("syncd.register")


class Receiver:
    """Holds the single-use token and what arrived; ``delivered`` is set on acceptance."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.clock = clock
        self.delivery: Delivery | None = None
        self.refusals: list[CallbackRefused] = []
        self.delivered = asyncio.Event()

    @property
    def replayed(self) -> bool:
        return any(r.kind == "replay" for r in self.refusals)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=callback.MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """Verify one request; accept it only if it is the first valid one."""
        try:
            if request.method != "POST":
                raise CallbackRefused("malformed")
            callback.check_token(self.token, request.path)
            body = await request.read()
            delivery = callback.verify(
                _single(request, "X-Timestamp"), _single(request, "X-Signature"), body,
                now=self.clock(), seen={self.delivery.signature} if self.delivery else ())
            if self.delivery is not None:
                raise CallbackRefused("used")
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(request, CallbackRefused("malformed"))
        except CallbackRefused as refused:
            return self._refuse(request, refused)
        for value in (delivery.api_key, delivery.api_secret):  # scrubbed from any log line
            logs.register_secret(value.reveal())
        self.delivery = delivery
        self.delivered.set()
        log.info("register.callback_verified", peer=request.remote)
        return web.json_response({"status": "success", "message": "credentials received"})

    def _refuse(self, request: web.Request, refused: CallbackRefused) -> web.Response:
        self.refusals.append(refused)
        log.warning("register.callback_refused", reason=refused.kind, peer=request.remote,
                    method=request.method)
        return web.json_response({"status": "error", "message": refused.kind},
                                 status=refused.status)


def _single(request: web.Request, name: str) -> str | None:
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


def make_runner(app: web.Application) -> web.AppRunner:
    """An AppRunner for the receiver's app: no access log, no tracebacks."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=1.0,
                         logger=_NoTracebacks("syncd.register.http"))


async def serve(receiver: Receiver, host: str, port: int,
                tls: ssl.SSLContext | None) -> web.AppRunner:
    """Start listening; the caller cleans the runner up."""
    runner = make_runner(receiver.app())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=tls).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"--listen {host}:{port} cannot be used ({exc.strerror or exc}); "
                          "pick a free address and port.") from None
    return runner
