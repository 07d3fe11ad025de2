"""The observability listener: ``/`` (status page), ``/metrics`` (Prometheus text),
``/healthz`` and ``/status.json``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from syncd.core.errors import ConfigError
from syncd.core.statusdoc import StatusDoc
from syncd.service import statuspage
from syncd.service.metrics import Metrics

# None when healthy, else the reason; a cached answer (``health.WarehouseProbe``), no I/O.
HealthCheck = Callable[[], str | None]
StatusSource = Callable[[], Awaitable[StatusDoc]]


def make_app(metrics: Metrics, health: HealthCheck, status: StatusSource) -> web.Application:
    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        reason = health()
        if reason is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"unhealthy: {reason}\n")

    async def status_view(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(await status()), content_type="application/json")

    async def page(_: web.Request) -> web.Response:
        doc, now = await status(), metrics.clock()
        html = statuspage.render(doc, dt.datetime.fromtimestamp(now, dt.UTC),
                                 activity_of(metrics, doc, now))
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status.json", status_view)
    return app


def activity_of(metrics: Metrics, doc: StatusDoc, now: float) -> statuspage.Activity:
    """The last minutes and hours of every module the page shows, from the daemon's
    histories."""
    return {(s["name"], m["module"]): (metrics.recent.series(s["name"], m["module"], now),
                                       metrics.history.series(s["name"], m["module"], now))
            for s in doc["sources"] for m in s["modules"]}


async def serve(app: web.Application, host: str, port: int,
                where: str = "[observability] listen") -> web.AppRunner:
    """Start listening; the caller cleans the runner up (``where``: the key a failure
    names)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"{where} {host}:{port} cannot be used "
                          f"({exc.strerror or exc}); pick a free address and port.") from None
    return runner
