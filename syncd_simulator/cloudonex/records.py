"""``GET {resource}/{id}``: one record in the envelope, or 404 when it is absent or deleted.

syncd confirms a deletion with it before marking a record deleted (CONTRACT §10). Its own
module, so that other endpoints of one record (writes) can sit beside it without touching
the listing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from syncd_simulator import encoding
from syncd_simulator.cloudonex import render
from syncd_simulator.cloudonex.query import Refused
from syncd_simulator.cloudonex.reply import Reply
from syncd_simulator.cloudonex.resources import Resource

# The Sim that registers these routes (typed loosely: it imports this module).
Sim = Any

PATH = r"/{name}/{rid:\d+}"  # below the API prefix


def add_routes(app: web.Application, sim: Sim, prefix: str) -> None:
    """Register ``GET {prefix}/{resource}/{id}`` of ``sim`` on ``app``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        answered: web.StreamResponse = await sim.serve(
            request, lambda resource, rid: lambda: one(sim, resource, rid))
        return answered

    app.router.add_get(prefix + PATH, handle)


def one(sim: Sim, resource: Resource, rid: int | None) -> Reply:
    """The live record ``rid`` as the listing writes it, or a 404 envelope."""
    row = sim.dataset.get(resource.name, rid) if rid is not None else None
    if row is None:
        raise Refused(404, "Record not found")
    data = render.record(resource, row, sim.options)
    return Reply(200, encoding.dumps(data if sim.options.bare_array
                                     else {"success": True, "data": data}))
