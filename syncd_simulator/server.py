"""The simulated SKYBIZ API over aiohttp: strict, documented check order, optional faults."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from syncd_simulator import create, encoding, phpform, rules
from syncd_simulator import fields as skybiz
from syncd_simulator.churn import Churn
from syncd_simulator.data import KUALA_LUMPUR, Dataset
from syncd_simulator.faults import (
    PHP_OUT_OF_MEMORY,
    PHP_WARNING,
    SERVER_ERRORS,
    Fault,
    FaultPlan,
    truncate,
)
from syncd_simulator.faults import reset as reset_connection
from syncd_simulator.fields import Module
from syncd_simulator.options import RequestLog, SimulatorOptions
from syncd_simulator.ratelimit import SlidingWindow
from syncd_simulator.registration import REGISTER_PATH, Registrar
from syncd_simulator.rules import Body, ReadQuery, Rejected

PREFIX = "/01/clientportal/apiv2/modules"
ENDPOINTS: dict[str, Module] = {f"{PREFIX}/{m.endpoint}": m for m in skybiz.MODULES}
_NOT_FOUND = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    "<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on this server.</p>\n</body></html>\n"
)


@dataclass(slots=True)
class Reply:
    """An answer before delivery, so that faults can still bend it."""

    status: int
    text: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    lost: bool = False  # processed (documents inserted), then the connection drops
    fault: Fault | None = None  # a fault decided by the request itself (heavy days)


class Simulator:
    """A SKYBIZ API server holding a deterministic dataset; see ``SimulatorOptions``."""

    def __init__(self, options: SimulatorOptions = SimulatorOptions()) -> None:  # noqa: B008 - frozen
        self.options = options
        self.dataset = Dataset(options.seed, options.history_days, options.today,
                               options.scale, options.nested_documents,
                               masters_days=options.masters_days)
        self.requests: list[RequestLog] = []
        self.clock: Callable[[], float] = time.monotonic  # tests may swap in a fake clock
        self._by_ip = SlidingWindow(options.rate_requests, options.rate_seconds)
        self._by_key = SlidingWindow(options.rate_requests, options.rate_seconds)
        self._faults = FaultPlan(options.faults, options.seed)
        self._answers = 0
        self._last_id = 0
        self._runner: web.AppRunner | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skybiz-simulator")
        self.registration = Registrar(self)
        # Create-request faults tests switch on: answers to drop after the insert, and a
        # delay between the insert and the answer.
        self.lose_create_answers = 0
        self.create_delay = 0.0
        self.churn = Churn(self.dataset, options.seed)
        self._churning: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        """A fresh aiohttp application serving this simulator's state."""
        app = web.Application()
        app.router.add_post(REGISTER_PATH, self.registration.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0, *,
                    ssl_context: ssl.SSLContext | None = None) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base_url to configure."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        if self.options.mutations_per_second > 0:
            self._churning = asyncio.create_task(self._churn())
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://{shown}:{bound}{PREFIX}"

    async def _churn(self) -> None:
        """Change the dataset ``mutations_per_second`` times a second, on the worker that
        serialises every dataset access."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1 / self.options.mutations_per_second)
            await loop.run_in_executor(self._worker, self.churn.step,
                                       datetime.datetime.now(KUALA_LUMPUR))

    async def quiet(self) -> None:
        """Stop changing the dataset; when this returns, no change is in progress."""
        if self._churning is not None:
            self._churning.cancel()
            await asyncio.gather(self._churning, return_exceptions=True)
            self._churning = None
            # A step already handed to the worker may still run: wait until it has.
            await asyncio.get_running_loop().run_in_executor(self._worker, lambda: None)

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        await self.quiet()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ---- one request -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request, checks in the documented order, then inject any fault."""
        arrived = self.clock()
        module = ENDPOINTS.get(request.path)
        ip_wait = self._by_ip.hit(request.remote or "", arrived)  # every arrival counts
        if module is None:
            self._log(arrived, request.path, 404, {}, None)
            return web.Response(status=404, body=_NOT_FOUND.encode(),
                                headers={"Content-Type": "text/html; charset=iso-8859-1"})
        fault: Fault | None = None
        body: Body = {}
        try:
            if request.method != "POST":
                raise Rejected(405, "Only POST method allowed")
            if ip_wait is not None:
                raise Rejected(429, "Rate limit exceeded", SlidingWindow.retry_after(ip_wait))
            fault = self._faults.roll()
            if fault in SERVER_ERRORS:
                raise Rejected(500, SERVER_ERRORS[fault])
            raw = await request.read()
            body = self._body(request.content_type, raw)
            if self.options.form_only and body:  # the create path reads the JSON text
                raw = encoding.dumps(body).encode()
            reply = await self._read(module, body, request, arrived, raw)
        except Rejected as exc:
            reply = self._error(exc)
        if reply.lost:
            fault = Fault.RESET
        fault = reply.fault or fault
        return await self._deliver(request, arrived, module, body, reply=reply, fault=fault)

    def _body(self, content_type: str, raw: bytes) -> Body:
        """The request as the server reads it: a JSON object, or with ``form_only`` only
        form fields, as PHP's ``$_POST`` (a JSON body is then no fields at all)."""
        if not self.options.form_only:
            return rules.parse_body(content_type, raw)
        return phpform.parse(raw) if content_type == "application/x-www-form-urlencoded" else {}

    async def _read(self, module: Module, body: Body, request: web.Request, now: float,
                    raw: bytes = b"") -> Reply:
        """Everything after the body parses: auth, key limit, mode, action, dates, data."""
        key = rules.check_credentials(body, self.options, self.dataset.today)
        key_wait = self._by_key.hit(key, now)
        if key_wait is not None:
            raise Rejected(429, "Rate limit exceeded", SlidingWindow.retry_after(key_wait))
        rules.check_mode(self.options, request.secure, request.remote)
        rules.check_action(body, module, self.options)
        if body.get("action") == "create":
            return await self._create(module, key, raw)
        dates = rules.check_dates(body)
        query = rules.check_selection(body, module, dates)
        heavy = self.options.heavy
        if heavy is not None and heavy.overwhelms(module.name, query.date_from, query.date_to):
            if heavy.hang:
                await asyncio.sleep(self.options.slow_seconds)
            return Reply(500, PHP_OUT_OF_MEMORY.format(endpoint=module.endpoint),
                         "text/html; charset=UTF-8", fault=Fault.HEAVY)
        head = self._success_head(key, query)
        # Big answers take a while to build: do it off the event loop so that arrivals
        # are still timestamped promptly (one worker also serialises dataset access).
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._render, module, query, head)

    async def _create(self, module: Module, key: str, raw: bytes) -> Reply:
        """Insert what passes the server's checks; answer the documented batch summary."""
        docs = create.documents(module.name, raw)
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self._worker, create.create, self.dataset,
                                          module.name, docs)
        now = datetime.datetime.now(KUALA_LUMPUR)
        head = {"requested_by": key, "mode": str(self.options.mode),
                "batch_id": f"API{now:%Y%m%d%H%M%S}"}
        reply = Reply(200, encoding.dumps(self._envelope("success") | {"data": head | data}))
        if self.lose_create_answers > 0:
            self.lose_create_answers -= 1
            reply.lost = True
        elif self.create_delay:
            await asyncio.sleep(self.create_delay)
        return reply

    def _render(self, module: Module, query: ReadQuery, head: dict[str, Any]) -> Reply:
        """The success answer: the dataset's rows, filtered and projected, in the envelope."""
        rows = rules.select(self.dataset.records_between(module.name, query.date_from,
                                                         query.date_to), query)
        head["data"] |= {"total_returned": len(rows), "data": rows}
        return Reply(200, encoding.dumps(head))

    async def _deliver(self, request: web.Request, arrived: float, module: Module, body: Body,
                       *, reply: Reply, fault: Fault | None) -> web.StreamResponse:
        """Send ``reply`` bent by ``fault``, and log the request."""
        if fault is Fault.RESET:
            self._log(arrived, module.name, 0, body, fault)
            reset_connection(request.transport)
            raise asyncio.CancelledError  # aiohttp's way to drop a request without answering
        if fault is Fault.SLOW:
            await asyncio.sleep(self.options.slow_seconds)
        elif fault is Fault.TRUNCATED:
            reply.text = truncate(reply.text)
        elif fault is Fault.PHP_WARNING:
            # The warning went out before header(): PHP then answers as text/html.
            reply.text = PHP_WARNING.format(endpoint=module.endpoint) + reply.text
            reply.content_type = "text/html; charset=UTF-8"
        self._log(arrived, module.name, reply.status, body, fault)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        return web.Response(status=reply.status, body=reply.text.encode(), headers=headers)

    # ---- envelopes ---------------------------------------------------------------------

    def _success_head(self, key: str, query: ReadQuery) -> dict[str, Any]:
        """The read envelope minus rows; documented spellings of status and mode alternate."""
        turn, self._answers = self._answers, self._answers + 1
        mode: int | str = self.options.mode if turn // 2 % 2 == 0 else str(self.options.mode)
        data = {
            "requested_by": key, "mode": mode,
            "date_range": {"from": query.date_from.isoformat(), "to": query.date_to.isoformat(),
                           "days": (query.date_to - query.date_from).days + 1},
        }
        return self._envelope("success" if turn % 2 == 0 else "response") | {"data": data}

    def _error(self, exc: Rejected) -> Reply:
        """The error envelope, with Retry-After on 429."""
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        text = encoding.dumps(self._envelope("error") | {"message": exc.message})
        return Reply(exc.status, text, headers=headers)

    def _envelope(self, status: str) -> dict[str, object]:
        """status, timestamp (ISO 8601, Malaysian offset) and a uniqid-style request_id."""
        now = datetime.datetime.now(KUALA_LUMPUR)
        micros = max(int(time.time() * 1_000_000), self._last_id + 1)
        self._last_id = micros
        request_id = f"req_{micros // 1_000_000:08x}{micros % 1_000_000:05x}"
        return {"status": status, "timestamp": now.isoformat(timespec="seconds"),
                "request_id": request_id}

    def _log(self, arrived: float, target: str, status: int, body: Body,
             fault: Fault | None) -> None:
        """Remember the request for tests and benchmarks."""
        dates = [x if isinstance(x := body.get(k), str) else None for k in ("date_from", "date_to")]
        self.requests.append(RequestLog(arrived, target, status, dates[0], dates[1],
                                        fault.value if fault else None))
