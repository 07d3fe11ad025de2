"""HTTP pieces every source kind's client shares: the session (TLS, timeouts), reading a
body into one buffer, and the translation of aiohttp's failures into syncd's errors —
the only place that knows aiohttp's exceptions."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import aiohttp

from syncd import __version__
from syncd.config import SourceConfig
from syncd.core.errors import EndpointMisconfigured, RetriableError, Unreachable


def ssl_context(source: SourceConfig) -> ssl.SSLContext:
    """System trust store plus the optional ``ca_file``; verification is never turned off."""
    ctx = ssl.create_default_context()
    if source.ca_file is not None:
        ctx.load_verify_locations(cafile=str(source.ca_file))
    return ctx


@contextlib.asynccontextmanager
async def open_session(source: SourceConfig) -> AsyncIterator[aiohttp.ClientSession]:
    """The one HTTP session of a source, with TLS verification and timeouts."""
    timeout = aiohttp.ClientTimeout(
        total=None, connect=source.connect_timeout, sock_read=source.read_timeout)
    connector = aiohttp.TCPConnector(ssl=ssl_context(source), limit=16)
    headers = {"User-Agent": f"syncd/{__version__}", "Accept": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, raise_for_status=False,
    ) as session:
        yield session


class Asker(Protocol):
    """Who asked (any kind's request context): named in the error sentences."""

    @property
    def source(self) -> str: ...
    @property
    def module(self) -> str: ...


class ClientObserver(Protocol):
    """Who wants to know about each answer (metrics); the default ignores everything."""

    def response(self, module: str, status: int) -> None: ...
    def retry(self, module: str) -> None: ...
    def waited(self, seconds: float) -> None: ...


class NoObserver:
    def response(self, module: str, status: int) -> None:
        pass

    def retry(self, module: str) -> None:
        pass

    def waited(self, seconds: float) -> None:
        pass


async def read_body(resp: aiohttp.ClientResponse) -> bytearray:
    """The whole body in one buffer, sized from Content-Length when the body is sent as
    is: a big answer is never held twice (aiohttp's ``read()`` joins its chunks into a
    second copy, and a growing buffer is copied as it grows)."""
    size = resp.content_length if "Content-Encoding" not in resp.headers else None
    body = bytearray(size or 0)
    at = 0
    async for chunk in resp.content.iter_any():
        end = at + len(chunk)
        if end <= len(body):
            body[at:end] = chunk
        else:
            body[at:] = chunk  # more than announced: grow
        at = end
    del body[at:]  # less than announced (a broken answer, judged later)
    return body


@contextlib.contextmanager
def transport_errors(ctx: Asker) -> Iterator[None]:
    """Translate aiohttp/socket failures into syncd errors — the only place that does."""
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        raise EndpointMisconfigured(
            f"{ctx.module}: the TLS certificate of {exc.host} could not be verified; if the "
            f"server uses a private CA, set ca_file for source {ctx.source!r}.",
            module=ctx.module) from None
    except aiohttp.ClientConnectorError as exc:
        raise Unreachable(
            f"Cannot connect to {exc.host}:{exc.port} "
            f"({exc.os_error.strerror or exc.os_error}); check base_url of source "
            f"{ctx.source!r} and the network.",
            module=ctx.module) from None
    except aiohttp.ConnectionTimeoutError:
        raise Unreachable(
            f"{ctx.module}: connecting to the server timed out; syncd retries (check the "
            f"network and connect_timeout of source {ctx.source!r} if it persists).",
            module=ctx.module) from None
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        kind = type(exc).__name__
        raise RetriableError(
            f"{ctx.module}: the connection failed mid-request ({kind}); syncd retries.",
            module=ctx.module) from None
