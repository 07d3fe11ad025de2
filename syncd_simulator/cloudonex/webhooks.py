"""The simulated CloudOnex webhooks: ``POST /api/v2/webhooks`` registers ``{url, events}``;
every mutation (writes, admin hooks, random churn) then POSTs an event to each URL.

Shapes for tests (``sim.hooks.shape``): ``"id"`` (``{"event", "data": {"id"}}``, the
default), ``"no_id"`` (the event alone), ``"malformed"`` (a body that is not JSON);
``noise = True`` also sends, per event, a forged one to a wrong path beside the real one.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import aiohttp
from aiohttp import web

# The Sim that registers these routes (typed loosely: it imports this module).
Sim = Any

API = "/api/v2"
_SINGULAR = {"customers": "customer", "invoices": "invoice", "transactions": "transaction",
             "products": "product", "quotes": "quote", "orders": "order",
             "suppliers": "supplier", "purchases": "purchase", "leads": "lead",
             "tickets": "ticket"}
_ACTION = {"insert": "created", "edit": "updated", "delete": "deleted"}


class Watched(list[tuple[str, str, int]]):
    """The simulator's mutation log that tells the webhooks of every entry added."""

    def __init__(self, items: list[tuple[str, str, int]], hooks: Hooks) -> None:
        super().__init__(items)
        self.hooks = hooks

    def append(self, item: tuple[str, str, int]) -> None:
        super().append(item)
        self.hooks.fire(*item)

    def __iadd__(self, items: Any) -> Watched:  # type: ignore[override,misc]  # list's own
        #                                          signature; each entry must be announced
        for item in items:
            self.append(item)
        return self


class Hooks:
    """Registered webhooks and the deliveries made to them."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.registered: list[dict[str, Any]] = []
        self.delivered: list[tuple[str, int, str]] = []  # (url, status, event)
        self.shape = "id"
        self.noise = False
        self._tasks: set[asyncio.Task[None]] = set()
        sim.mutations = Watched(sim.mutations, self)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(API + "/webhooks", self._register)

    async def _register(self, request: web.Request) -> web.StreamResponse:
        from syncd_simulator import encoding
        from syncd_simulator.cloudonex.query import Refused
        from syncd_simulator.cloudonex.reply import Reply, error

        sim, arrived = self.sim, self.sim.clock()
        given = request.headers.get("Authorization", "")
        key = given[7:].strip() if given[:7].lower() == "bearer " else ""
        try:
            if key != sim.options.api_key:
                raise Refused(401, "Invalid API key or unauthorized access")
            try:
                doc = json.loads(await request.read())
            except ValueError:
                raise Refused(400, "Invalid JSON body") from None
            url, events = (doc.get("url"), doc.get("events")) if isinstance(doc, dict) \
                else (None, None)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise Refused(400, "Validation failed", {"url": "The url must be a valid URL"})
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise Refused(400, "Validation failed", {"events": "Events must be a list"})
            hook = {"id": len(self.registered) + 1, "url": url, "events": events}
            self.registered.append(hook)
            reply = Reply(201, encoding.dumps({"success": True, "data": hook,
                                               "message": "Webhook registered"}))
        except Refused as exc:
            reply = error(exc)
        answered: web.StreamResponse = await sim._deliver(request, arrived, key or "ip",
                                                          reply, None)
        return answered

    def fire(self, action: str, resource: str, rid: int) -> None:
        """Deliver the event of one mutation to every hook that listens for it."""
        event = f"{_SINGULAR.get(resource, resource)}.{_ACTION.get(action, action)}"
        if resource == "transactions" and action == "insert":
            event = "payment.received"
        for hook in self.registered:
            if hook["events"] and event not in hook["events"] and "*" not in hook["events"]:
                continue
            bodies = [(hook["url"], self._body(event, rid))]
            if self.noise:
                wrong = hook["url"].rsplit("/", 1)[0] + "/forged-token"
                bodies.append((wrong, self._body(event, rid)))
            for url, body in bodies:
                task = asyncio.get_running_loop().create_task(self._post(url, body, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _body(self, event: str, rid: int) -> bytes:
        if self.shape == "malformed":
            return b'{"event": "' + event.encode() + b'", "data": {"id": '
        doc: dict[str, Any] = {"event": event,
                               "timestamp": datetime.datetime.now(datetime.UTC).isoformat()}
        if self.shape == "id":
            doc["data"] = {"id": rid}
        return json.dumps(doc).encode()

    async def _post(self, url: str, body: bytes, event: str) -> None:
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    url, data=body, headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=5)) as resp:
                self.delivered.append((url, resp.status, event))
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.delivered.append((url, 0, event))
