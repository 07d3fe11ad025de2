"""Webhook hints of CloudOnex (CONTRACT §8.2): what a POST names, and the targeted read.

A payload is not authenticated, so it is only a hint: its event names the resources to read
(invoice.* -> invoices; payment.* -> transactions and invoices; customer.* -> customers …;
anything else -> every resource of the source) and an id in it, when it is a plain number,
the record to read by id. Nothing of the payload is written to the warehouse: what is loaded
is what the API answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import structlog

from syncd.core.errors import RequestRejected
from syncd.engine.limiter import Priority
from syncd.engine.outbox import jsontext
from syncd.kinds.cloudonex.client import CloudonexClient
from syncd.kinds.cloudonex.reader import ResourceSync
from syncd.warehouse.loader import Batch

log = structlog.get_logger("syncd.webhooks")
Hint = tuple[str, str | None]  # (resource, record id or None: the newest page)
MAX_BODY = 64 * 1024
_PREFIX = {"invoice": ("invoices",), "payment": ("transactions", "invoices"),
           "customer": ("customers",), "transaction": ("transactions",), "quote": ("quotes",),
           "product": ("products",), "ticket": ("tickets",), "lead": ("leads",),
           "order": ("orders",), "supplier": ("suppliers",), "purchase": ("purchases",)}
DEFAULT_EVENTS = ("invoice.created", "invoice.updated", "payment.received",
                  "customer.created", "customer.updated", "customer.deleted")


def parse(body: bytes, modules: tuple[str, ...]) -> set[Hint]:
    """The reads a payload hints at, among the source's ``modules`` (noise: read them all)."""
    try:
        doc: Any = json.loads(body[:MAX_BODY].decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        doc = None
    doc = doc if isinstance(doc, Mapping) else {}
    event = doc.get("event") or doc.get("type")
    prefix = event.split(".", 1)[0].lower() if isinstance(event, str) else ""
    named = [m for m in _PREFIX.get(prefix, modules) if m in modules] or list(modules)
    rid = _id(doc.get("data")) or _id(doc)
    return {(m, rid if n == 0 and prefix in _PREFIX else None) for n, m in enumerate(named)}


def _id(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    rid = value.get("id")
    text = str(rid) if isinstance(rid, int | str) and not isinstance(rid, bool) else ""
    return text if text.isdigit() and len(text) <= 18 else None


class HintReader:
    """Reads what hints name through a source's syncer (its client, limiter and loader)."""

    events = DEFAULT_EVENTS

    def __init__(self, sync: ResourceSync) -> None:
        self.sync = sync

    @staticmethod
    async def register(client: CloudonexClient, url: str, events: tuple[str, ...]) -> str:
        """POST ``{url, events}`` to ``/webhooks``; the server's message (raises on refusal)."""

        async def sent(attempt: int, lost: bool) -> None:
            return None

        written = await client.write("POST", "customers", "webhooks",
                                     jsontext.dumps({"url": url, "events": list(events)}), sent)
        if not 200 <= written.status < 300:
            said = "; ".join(written.errors.values()) or written.message or "no reason given"
            raise RequestRejected(f"the CloudOnex API refused the webhook ({said}); check the "
                                  "URL and the events.", status=written.status)
        return written.message or "registered"

    def parse(self, body: bytes) -> set[Hint]:
        return parse(body, self.sync.source.modules)

    async def read(self, hints: set[Hint]) -> int:
        """Each hinted record by id (or the resource's newest page); records loaded."""
        client = self.sync.client
        assert client is not None
        loaded = 0
        for resource, rid in sorted(hints, key=lambda h: (h[0], h[1] or "")):
            module = self.sync.source.module(resource)
            started = time.monotonic()
            if rid is not None and rid.isdigit():
                got = await client.record(resource, int(rid))
                records = [got.record] if got.record is not None else []
            else:
                fetched = await client.page(resource, 1, bulk=False, priority=Priority.FRESH)
                records = fetched.page.records
            if records:
                await asyncio.shield(self.sync.loader.load_page(
                    module, Batch(records, None, 1, started),
                    f"webhook {resource}/{rid or 'page 1'}", "fresh"))
                loaded += len(records)
        log.info("webhooks.read", source=self.sync.source.name, reads=len(hints),
                 records=loaded)
        return loaded
