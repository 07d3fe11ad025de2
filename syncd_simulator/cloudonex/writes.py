"""The simulated CloudOnex write endpoints: POST for seven resources, PUT/DELETE for
customers, POST ``/batch/customers`` — validated, committed, answered in 004_'s shapes.

Knobs for tests (``sim.writes``): ``lose_after_commit`` (the next N writes commit, then the
connection is reset without an answer), ``fail_before_commit`` (the next N writes answer
500 and change nothing), ``delay`` (seconds a committed write waits before answering).
A batch is all or nothing; its errors are keyed ``customers.N.field``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from syncd_simulator import encoding
from syncd_simulator.cloudonex import builders
from syncd_simulator.cloudonex.data import coerce
from syncd_simulator.cloudonex.query import Refused
from syncd_simulator.cloudonex.reply import Reply, error
from syncd_simulator.cloudonex.resources import Record
from syncd_simulator.faults import reset as reset_connection

# The Sim that registers these routes (typed loosely: it imports this module).
Sim = Any

API = "/api/v2"
CREATABLE = ("customers", "invoices", "transactions", "products", "quotes", "tickets", "leads")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ITEMS = {"invoices", "quotes"}


class Writes:
    """The write endpoints of one simulator, with their test knobs and a log of writes."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.lose_after_commit = 0
        self.fail_before_commit = 0
        self.delay = 0.0
        self.created: list[tuple[str, int]] = []  # (resource, id) in order

    def add_routes(self, app: web.Application) -> None:
        """POST/PUT/DELETE routes ahead of the simulator's catch-all."""
        app.router.add_post(API + "/batch/customers", self._batch)
        for name in CREATABLE:
            app.router.add_post(f"{API}/{name}", self._create)
        app.router.add_put(API + "/customers/{id:[0-9]+}", self._update)
        app.router.add_delete(API + "/customers/{id:[0-9]+}", self._delete)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        resource = request.path.rstrip("/").rsplit("/", 1)[-1]

        def act(doc: Any) -> Reply:
            errors = dict(_check(resource, _object(doc), self.sim))
            if errors:
                raise Refused(400, "Validation failed", errors)
            record = self._insert(resource, doc)
            return self._reply(201, self._shown(resource, record), "Created")

        return await self._serve(request, act)

    async def _batch(self, request: web.Request) -> web.StreamResponse:
        def act(doc: Any) -> Reply:
            listed = doc.get("customers") if isinstance(doc, Mapping) else None
            if not isinstance(listed, list) or not listed:
                raise Refused(400, "Validation failed",
                              {"customers": "The customers field must be a non-empty list"})
            errors = {f"customers.{n}.{k}": v for n, c in enumerate(listed)
                      for k, v in _check("customers", _object(c), self.sim)}
            if errors:
                raise Refused(400, "Validation failed", errors)
            made = [self._shown("customers", self._insert("customers", c)) for c in listed]
            return self._reply(201, made, f"{len(made)} customers created")

        return await self._serve(request, act)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        rid = int(request.match_info["id"])

        def act(doc: Any) -> Reply:
            fields = _object(doc)
            errors = dict(_check("customers", fields, self.sim, partial=True))
            if errors:
                raise Refused(400, "Validation failed", errors)
            self._existing(rid)
            known = {k: v for k, v in fields.items() if k in _CUSTOMER_FIELDS}
            record = self.sim.edit("customers", rid, **known)
            return self._reply(200, self._shown("customers", record), "Customer updated")

        return await self._serve(request, act)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        rid = int(request.match_info["id"])

        def act(doc: Any) -> Reply:
            self._existing(rid)
            self.sim.delete("customers", rid)
            return self._reply(200, None, "Customer deleted")

        return await self._serve(request, act)

    async def _serve(self, request: web.Request, act: Any) -> web.StreamResponse:
        """Key, rate, permission, body, then ``act`` — with the lost-answer knobs."""
        sim, arrived = self.sim, self.sim.clock()
        given = request.headers.get("Authorization", "")
        key = given[7:].strip() if given[:7].lower() == "bearer " else ""
        who = key or f"ip:{request.remote}"
        wait = sim._window.hit(who, arrived)
        lose = False
        try:
            if key != sim.options.api_key:
                raise Refused(401, "Invalid API key or unauthorized access")
            if wait is not None:
                raise Refused(429, "Too many requests", retry_after=max(1, round(wait)))
            parts = request.path.removeprefix(API + "/").split("/")
            resource = parts[1] if parts[0] == "batch" else parts[0]
            if resource in sim.options.forbidden:
                raise Refused(403, f"This API key has no access to {resource}")
            if self.fail_before_commit > 0:
                self.fail_before_commit -= 1
                raise Refused(500, "Internal server error")
            doc = _parse(await request.read())
            reply = act(doc)
            if self.lose_after_commit > 0:
                self.lose_after_commit -= 1
                lose = True
            elif self.delay:
                await asyncio.sleep(self.delay)
        except Refused as exc:
            reply = error(exc)
        if lose:
            sim._log(request, arrived, 0, None)
            reset_connection(request.transport)
            raise asyncio.CancelledError  # aiohttp's way to drop a request without answering
        answered: web.StreamResponse = await sim._deliver(request, arrived, who, reply, None)
        return answered

    def _insert(self, resource: str, doc: Mapping[str, Any]) -> Record:
        """A new record holding exactly the document's values (others empty)."""
        now = datetime.datetime.now(datetime.UTC)
        [rid] = self.sim.dataset.insert(resource, 1, now)
        row: Record | None = self.sim.dataset.get(resource, rid)
        assert row is not None
        for name in _fields(resource):
            if name in ("id", "created_at", "updated_at"):
                continue
            row[name] = coerce(resource, name, doc[name]) if name in doc else None
        if resource in _ITEMS:
            row["items"] = [{"description": str(i["description"]),
                             "amount": Decimal(str(i["amount"])), "qty": _qty(i["qty"])}
                            for i in doc["items"]]
        if resource == "invoices":
            row["amount"] = builders.total(row["items"])  # type: ignore[arg-type]  # set above
            row["invoice_number"] = f"INV-{self.sim.dataset.today.year}-{rid:05d}"
            row["status"] = "Unpaid"
            row["date"] = row["date"] or self.sim.dataset.today
        if resource == "transactions":
            row["date"] = row["date"] or self.sim.dataset.today
        self.sim.mutations.append(("insert", resource, rid))
        self.created.append((resource, rid))
        return row

    def _existing(self, rid: int) -> None:
        if self.sim.dataset.get("customers", rid) is None:
            raise Refused(404, "Record not found")

    def _shown(self, resource: str, record: Record) -> dict[str, object]:
        from syncd_simulator.cloudonex import render, resources

        return render.record(resources.get(resource), record, self.sim.options)

    def _reply(self, status: int, data: object, message: str) -> Reply:
        return Reply(status, encoding.dumps({"success": True, "data": data,
                                             "message": message}))


_CUSTOMER_FIELDS = ("account", "email", "phone", "address", "city", "state", "zip", "country")


def _fields(resource: str) -> list[str]:
    from syncd_simulator.cloudonex import resources

    return [name for name, _ in resources.get(resource).fields]


def _qty(value: object) -> int | Decimal:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else number


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "Invalid JSON body") from None


def _object(doc: Any) -> Mapping[str, Any]:
    return doc if isinstance(doc, Mapping) else {}


def _check(resource: str, doc: Mapping[str, Any], sim: Sim,
           partial: bool = False) -> Iterator[tuple[str, str]]:
    """The server's rules: (field, message) in the API's words."""
    required = {"customers": ("account",), "invoices": ("customer_id", "items"),
                "quotes": ("customer_id", "items"), "transactions": ("type", "amount"),
                "products": ("name",), "tickets": ("customer_id", "subject", "message"),
                "leads": ()}[resource]
    for name in required:
        if not partial and doc.get(name) in (None, "", []):
            yield name, f"The {name} field is required"
    email = doc.get("email")
    if email not in (None, "") and not (isinstance(email, str) and _EMAIL.match(email)):
        yield "email", "Invalid email format"
    for name in ("amount", "price"):
        if name in doc and not _positive(doc[name], allow_zero=name == "price"):
            yield name, f"{name.capitalize()} must be greater than 0"
    cid = doc.get("customer_id")
    if cid is not None and (not str(cid).isdigit() or sim.dataset.get("customers",
                                                                         int(str(cid))) is None):
        yield "customer_id", "Customer not found"
    items = doc.get("items")
    for n, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, Mapping) or not item.get("description"):
            yield f"items.{n}.description", "The description field is required"
            continue
        if not _positive(item.get("amount")):
            yield f"items.{n}.amount", "Amount must be greater than 0"
        if not _positive(item.get("qty")):
            yield f"items.{n}.qty", "Quantity must be greater than 0"


def _positive(value: object, *, allow_zero: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return False
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return False
    return number >= 0 if allow_zero else number > 0
