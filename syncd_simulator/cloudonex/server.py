"""The simulated CloudOnex API over aiohttp: strict checks in a fixed order, optional quirks."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import time
from collections.abc import Callable

from aiohttp import web

from syncd_simulator import encoding
from syncd_simulator.cloudonex import admin, query, records, render, resources, webhooks, writes
from syncd_simulator.cloudonex.data import Dataset
from syncd_simulator.cloudonex.faults import BAD_GATEWAY, ERROR_PAGE, PHP_FATAL, Fault, FaultPlan
from syncd_simulator.cloudonex.options import CloudOnexOptions, CloudOnexRequest, Drift
from syncd_simulator.cloudonex.query import Refused
from syncd_simulator.cloudonex.reply import HTML, Reply, error
from syncd_simulator.cloudonex.resources import Record, Resource
from syncd_simulator.faults import truncate
from syncd_simulator.ratelimit import SlidingWindow

API = "/api/v2"
UNAUTHORIZED = "Invalid API key or unauthorized access"
NOT_FOUND_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>\n"
    "<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
    "</body></html>\n"
)


class CloudOnexSimulator:
    """A CloudOnex API server over a deterministic, mutable dataset; see ``CloudOnexOptions``."""

    def __init__(self, options: CloudOnexOptions = CloudOnexOptions()) -> None:  # noqa: B008 - frozen
        self.options = options
        self.dataset = Dataset(options)
        self.requests: list[CloudOnexRequest] = []
        self.mutations: list[tuple[str, str, int]] = []  # (action, resource, id), in order
        self.clock: Callable[[], float] = time.monotonic  # tests may swap in fake clocks
        self.wall: Callable[[], float] = time.time
        self._window = SlidingWindow(options.rate_requests, options.rate_seconds)
        self._faults = FaultPlan(options.faults, options.seed, options.fault_kinds)
        self._drift: dict[str, Drift] = options.drifts()
        self._runner: web.AppRunner | None = None
        self._mutator: asyncio.Task[None] | None = None
        self.writes = writes.Writes(self)  # POST/PUT/DELETE endpoints and their knobs
        self.hooks = webhooks.Hooks(self)  # POST /webhooks; events fired on mutations

    def app(self) -> web.Application:
        """A fresh aiohttp application serving this simulator's state."""
        app = web.Application()
        admin.add_routes(app, self)
        self.writes.add_routes(app)
        self.hooks.add_routes(app)
        records.add_routes(app, self, API)
        app.router.add_route("*", API + "/{tail:.*}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._outside)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base_url to configure."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        if self.options.mutations_per_minute > 0:
            self._mutator = asyncio.create_task(self._mutate_forever())
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{runner.addresses[0][1]}{API}"

    async def stop(self) -> None:
        """Stop mutating and listening; idempotent."""
        if self._mutator is not None:
            self._mutator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._mutator
            self._mutator = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ---- ground truth and hooks for tests (the admin endpoints call these too) ---------

    def records(self, resource: str) -> list[Record]:
        """The live records, newest id first, with typed values (copies)."""
        return self.dataset.records(resource)

    def deleted_ids(self, resource: str) -> frozenset[int]:
        """Ids of ``resource`` deleted since the start."""
        return self.dataset.deleted_ids(resource)

    def insert(self, resource: str, count: int = 1) -> list[int]:
        """Create ``count`` records (dated today, new highest ids); return their ids."""
        ids = self.dataset.insert(resource, count, _now())
        self.mutations += [("insert", resource, rid) for rid in ids]
        return ids

    def edit(self, resource: str, rid: int, **fields: object) -> Record:
        """Change ``fields`` of record ``rid`` (none: a random edit); return the new record."""
        record = self.dataset.edit(resource, rid, _now(), fields)
        self.mutations.append(("edit", resource, rid))
        return record

    def delete(self, resource: str, rid: int) -> None:
        """Delete record ``rid`` (KeyError when it is not live)."""
        self.dataset.delete(resource, rid)
        self.mutations.append(("delete", resource, rid))

    def spend(self, requests: int, key: str | None = None) -> tuple[int, int]:
        """Another client spends ``requests`` of the key's budget now: (remaining, reset)."""
        who = key or self.options.api_key
        now = self.clock()
        for _ in range(requests):
            self._window.hit(who, now)
        return self._rate_state(who, now)

    def arm_drift(self, resource: str, after_page: int = 1, insert: int = 0,
                  delete: int = 0) -> None:
        """Once page ``after_page`` of ``resource`` is served, insert and delete (one shot)."""
        self._drift[resources.get(resource).name] = Drift(after_page, insert, delete)

    def inject(self, fault: Fault, count: int = 1) -> None:
        """Bend the next ``count`` authorised API answers with ``fault``."""
        self._faults.queue(Fault(fault), count)

    # ---- one request -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one listing request (or anything else below the API prefix)."""

        def answer(resource: Resource, rid: int | None) -> Callable[[], Reply]:
            if rid is not None:
                return lambda: records.one(self, resource, rid)
            listing = query.parse(resource, request.query, self.options.limit_cap)
            return lambda: self._page(resource, listing)

        return await self.serve(request, answer)

    async def serve(self, request: web.Request,
                    answer: Callable[[Resource, int | None], Callable[[], Reply]]
                    ) -> web.StreamResponse:
        """Answer one API request: 401, 429, 404, 405, 403, then ``answer``'s own checks
        (400), faults, then the reply ``answer`` returned makes."""
        arrived = self.clock()
        key = self._key(request)
        who = key or f"ip:{request.remote}"
        wait = self._window.hit(who, arrived)  # every arrival counts, refused ones too
        fault: Fault | None = None
        try:
            resource, rid = self._route(request, key, wait)
            make = answer(resource, rid)
            fault = self._faults.roll()
            reply = self._faulty(fault) or make()
        except Refused as exc:
            reply = error(exc)
        return await self._deliver(request, arrived, who, reply, fault)

    def _key(self, request: web.Request) -> str:
        """The key presented as ``Authorization: Bearer`` (unless the web server drops the
        header, ``drop_authorization``) or else as ``?api_key=``."""
        given = "" if self.options.drop_authorization else request.headers.get(
            "Authorization", "")
        bearer = given[7:].strip() if given[:7].lower() == "bearer " else ""
        return bearer or request.query.get("api_key", "")

    def _route(self, request: web.Request, key: str, wait: float | None
               ) -> tuple[Resource, int | None]:
        """The resource and optional id asked for, after the key, limit, path, method checks."""
        if key != self.options.api_key:
            raise Refused(401, UNAUTHORIZED)
        if wait is not None:
            raise Refused(429, "Too many requests", retry_after=SlidingWindow.retry_after(wait))
        name, _, rest = request.path.removeprefix(API).strip("/").partition("/")
        resource = resources.BY_NAME.get(name)
        if resource is None or (rest and not rest.isdigit()):
            raise Refused(404, "Resource not found",
                          page=NOT_FOUND_PAGE if self.options.html_not_found else None)
        if request.method != "GET":
            raise Refused(405, "Method not allowed", {"method": "only GET is supported here"})
        if name in self.options.forbidden:
            raise Refused(403, f"This API key has no access to {name}")
        return resource, int(rest) if rest else None

    def _faulty(self, fault: Fault | None) -> Reply | None:
        """The answer that replaces the real one under ``fault``, if it does."""
        if fault is Fault.RATE_LIMITED:
            raise Refused(429, "Too many requests", retry_after=1)
        if fault is Fault.SERVER_ERROR:
            raise Refused(500, "Internal server error")
        if fault is Fault.SERVER_ERROR_HTML:
            return Reply(500, PHP_FATAL, HTML)
        if fault is Fault.HTML_200:
            return Reply(200, ERROR_PAGE, HTML)
        if fault is Fault.BAD_GATEWAY:
            return Reply(502, BAD_GATEWAY, "text/html", rate_headers=False)
        return None

    def _page(self, resource: Resource, listing: query.ListQuery) -> Reply:
        """One page, newest id first; then any drift armed for this page happens."""
        rows = self.dataset.newest_first(resource.name, listing.date_from, listing.date_to)
        data = [render.record(resource, row, self.options) for row in rows[listing.window()]]
        envelope: dict[str, object] = {"success": True, "data": data}
        if not self.options.no_meta:
            envelope["meta"] = listing.meta(len(rows))
        drift = self._drift.get(resource.name)
        if drift is not None and drift.after_page == listing.page:
            del self._drift[resource.name]
            served = [r["id"] for r in rows[:listing.window().stop]]
            self.dataset.drift(resource.name, [i for i in served if isinstance(i, int)],
                               drift.insert, drift.delete, _now())
        return Reply(200, encoding.dumps(data if self.options.bare_array else envelope))

    async def _deliver(self, request: web.Request, arrived: float, who: str, reply: Reply,
                       fault: Fault | None) -> web.StreamResponse:
        """Log, then send ``reply`` with the rate headers, bent by a SLOW or TRUNCATED fault."""
        self._log(request, arrived, reply.status, fault)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if self.options.rate_headers and reply.rate_headers:
            remaining, reset = self._rate_state(who, arrived)
            headers |= {"X-RateLimit-Limit": str(self.options.rate_requests),
                        "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}
        if fault is Fault.SLOW:
            await asyncio.sleep(self.options.slow_seconds)
        elif fault is Fault.TRUNCATED:
            reply.text = truncate(reply.text)
        return web.Response(status=reply.status, body=reply.text.encode(), headers=headers)

    def _rate_state(self, who: str, now: float) -> tuple[int, int]:
        """Remaining requests, and Reset: Unix seconds when the window next frees a slot."""
        used, free_at = self._window.usage(who, now)
        reset = math.ceil(self.wall() + (free_at - now))
        return max(0, self.options.rate_requests - used), reset

    async def _outside(self, request: web.Request) -> web.StreamResponse:
        """Anything outside the API prefix: the web server's HTML 404, uncounted."""
        self._log(request, self.clock(), 404, None)
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")

    def _log(self, request: web.Request, arrived: float, status: int,
             fault: Fault | None) -> None:
        """Remember the request for tests and benchmarks."""
        self.requests.append(CloudOnexRequest(arrived, request.method, request.path,
                                              dict(request.query), status,
                                              fault.value if fault else None))

    async def _mutate_forever(self) -> None:
        """Random inserts, edits and deletes at ``mutations_per_minute``, until stopped."""
        pause = 60.0 / self.options.mutations_per_minute
        while True:
            await asyncio.sleep(pause)
            self.mutations.append(self.dataset.random_mutation(_now()))


def _now() -> datetime.datetime:
    """The moment a mutation happens, in UTC."""
    return datetime.datetime.now(datetime.UTC)
