"""``/_admin/…``: the simulator's test hooks over HTTP, for ``syncd simulate`` users and soaks.

Not part of the CloudOnex API: no key, no rate limit, not in the request log.

- ``POST /_admin/mutate`` ``{"resource", "action": "insert", "count": 1}`` |
  ``{"resource", "action": "edit", "id", "fields": {…}}`` | ``{"resource", "action": "delete",
  "id"}`` → ``{"success": true, "ids": […]}``
- ``POST /_admin/spend`` ``{"requests": N, "key": optional}`` → ``{"remaining", "reset"}``
- ``POST /_admin/drift`` ``{"resource", "after_page": 1, "insert": 0, "delete": 0}``
- ``POST /_admin/fault`` ``{"fault": "html_200", "count": 1}``
- ``GET /_admin/records/{resource}`` → ``{"records": […], "deleted_ids": […]}``
- ``GET /_admin/requests`` → the request log
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from syncd_simulator import encoding
from syncd_simulator.cloudonex import render, resources
from syncd_simulator.cloudonex.faults import Fault
from syncd_simulator.cloudonex.options import CloudOnexOptions

ADMIN = "/_admin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PLAIN = CloudOnexOptions(extra_fields=True)  # ground truth written without quirks


def _answer(body: object, status: int = 200) -> web.Response:
    """A JSON answer, money exact."""
    return web.Response(status=status, text=encoding.dumps(body),
                        content_type="application/json")


def _guarded(handler: Callable[[dict[str, Any]], dict[str, object]]) -> Handler:
    """A POST handler taking the JSON body; bad input answers 400 with the reason."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text() or "{}")
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            return _answer({"success": True} | handler(body))
        except (ValueError, KeyError, TypeError) as exc:
            return _answer({"success": False, "message": str(exc)}, 400)

    return handle


def add_routes(app: web.Application, sim: Any) -> None:
    """Register the admin endpoints of ``sim`` (the CloudOnexSimulator, which imports this
    module to call it: typed loosely so the two stay acyclic) on ``app``."""

    def mutate(body: dict[str, Any]) -> dict[str, object]:
        resource, action = str(body["resource"]), body.get("action")
        if action == "insert":
            return {"ids": sim.insert(resource, int(body.get("count", 1)))}
        if action == "edit":
            record = sim.edit(resource, int(body["id"]), **dict(body.get("fields") or {}))
            return {"ids": [body["id"]],
                    "record": render.record(resources.get(resource), record, _PLAIN)}
        if action == "delete":
            sim.delete(resource, int(body["id"]))
            return {"ids": [int(body["id"])]}
        raise ValueError("action must be insert, edit or delete")

    def spend(body: dict[str, Any]) -> dict[str, object]:
        remaining, reset = sim.spend(int(body["requests"]), body.get("key"))
        return {"remaining": remaining, "reset": reset}

    def drift(body: dict[str, Any]) -> dict[str, object]:
        sim.arm_drift(str(body["resource"]), int(body.get("after_page", 1)),
                      int(body.get("insert", 0)), int(body.get("delete", 0)))
        return {}

    def fault(body: dict[str, Any]) -> dict[str, object]:
        sim.inject(Fault(body["fault"]), int(body.get("count", 1)))
        return {}

    async def records(request: web.Request) -> web.StreamResponse:
        try:
            resource = resources.get(request.match_info["resource"])
        except ValueError as exc:
            return _answer({"success": False, "message": str(exc)}, 404)
        # render.record builds new dicts: the live rows need no deep copy first.
        rows = [render.record(resource, r, _PLAIN)
                for r in sim.dataset.newest_first(resource.name)]
        return _answer({"records": rows, "deleted_ids": sorted(sim.deleted_ids(resource.name))})

    async def requests(request: web.Request) -> web.StreamResponse:
        return _answer([r._asdict() | {"at": str(round(r.at, 6)), "limited": r.limited}
                        for r in sim.requests])

    for name, handler in (("mutate", mutate), ("spend", spend), ("drift", drift),
                          ("fault", fault)):
        app.router.add_post(f"{ADMIN}/{name}", _guarded(handler))
    app.router.add_get(ADMIN + "/records/{resource}", records)
    app.router.add_get(ADMIN + "/requests", requests)
