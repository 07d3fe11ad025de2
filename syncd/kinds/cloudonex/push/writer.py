"""CloudOnex's writer for the outbox (``syncd.engine.outbox``): seven resources created,
customers also updated and deleted, several customer creates per ``/batch/customers``.

Never twice without an idempotency key: a create whose answer was lost (or that met a 5xx)
stays ``sending``; before it goes again the engine asks ``look_up``, which reads the
resource's newest page (and its last page, for a server that lists oldest first) and
names the records whose content matches (``matching``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syncd.config import SourceConfig
from syncd.core.backoff import Backoff
from syncd.core.errors import AnswerLost, RetriesExhausted
from syncd.core.outcomes import Outcome
from syncd.engine.limiter import Priority
from syncd.engine.outbox import jsontext
from syncd.engine.outbox.writer import Answer, Document, OnAttempt
from syncd.kinds.cloudonex.client import CloudonexClient
from syncd.kinds.cloudonex.push import matching, outcome, rules

ORDER = ("customers", "products", "invoices", "quotes", "transactions", "tickets", "leads")
BATCH = 50  # customer creates per /batch/customers request
_NAMES = ("account", "name", "subject", "invoice_number", "description", "company",
          "first_name")


class CloudonexWriter:
    """Writes to one CloudOnex source through its client (None: only validate)."""

    modules = ORDER

    def __init__(self, source: SourceConfig | None, client: CloudonexClient | None) -> None:
        self.client = client
        self.backoff = client.backoff if client is not None else Backoff()
        self.singly: set[int] = set()  # documents a batch answer could not place

    def name(self, module: str, doc: Document) -> str:
        if doc.operation != "create":
            return f"{doc.operation} {module}/{doc.target_id}"
        body = doc.body if isinstance(doc.body, dict) else {}
        return next((str(body[n]) for n in _NAMES if body.get(n) not in (None, "")), "")

    def validate(self, module: str, doc: Document, position: int) -> list[str]:
        return rules.check(module, doc.operation, doc.target_id, doc.body)

    def duplicate_field(self, module: str) -> None:
        return None  # CloudOnex records have no business key: equal documents may be meant

    def duplicates(self, module: str, live: Sequence[tuple[int, Any, str]]) -> dict[int, str]:
        return {}

    def batches(self, module: str, docs: list[Document]) -> list[list[Document]]:
        """Customer creates in batches of BATCH; everything else one per request."""
        group = [d for d in docs if module == "customers" and d.operation == "create"
                 and d.id not in self.singly]
        alone = [[d] for d in docs if d not in group]
        return [group[i:i + BATCH] for i in range(0, len(group), BATCH)] + alone

    async def look_up(self, module: str, docs: list[Document]) -> dict[int, list[str]]:
        """Ids of the newest records matching each document, newest first."""
        assert self.client is not None, "a push that sends needs a client"
        found: dict[int, list[str]] = {}
        fetched = await self.client.page(module, 1, bulk=False, priority=Priority.PUSH)
        self._match(module, docs, fetched.page.records, found)
        last = fetched.page.total_pages
        if last and last > 1 and any(d.id not in found for d in docs):
            more = await self.client.page(module, last, bulk=False, priority=Priority.PUSH)
            self._match(module, docs, list(reversed(more.page.records)), found)
        return found

    def _match(self, module: str, docs: list[Document], records: list[Any],
               found: dict[int, list[str]]) -> None:
        for raw in records:
            try:
                record = jsontext.loads(bytes(raw))
            except ValueError:
                continue
            rid = outcome.created_id(record)
            if rid is None or not isinstance(record, dict):
                continue
            for d in docs:
                if isinstance(d.body, dict) and matching.matches(module, d.body, record):
                    found.setdefault(d.id, []).append(rid)

    async def send(self, module: str, batch: list[Document], uncertain: set[int],
                   on_attempt: OnAttempt) -> Answer:
        assert self.client is not None, "a push that sends needs a client"
        if len(batch) > 1:
            return await self._batch(module, batch, on_attempt)
        doc = batch[0]
        method, path = {"create": ("POST", module),
                        "update": ("PUT", f"{module}/{doc.target_id}"),
                        "delete": ("DELETE", f"{module}/{doc.target_id}")}[doc.operation]
        body = None if doc.operation == "delete" else doc.text
        try:
            written = await self.client.write(method, module, path, body, on_attempt)
        except AnswerLost as exc:
            return self._lost(batch, exc)
        result = outcome.single(doc.operation, written, doc.id in uncertain)
        return Answer({doc.id: result}, again=result.state == "sending")

    async def _batch(self, module: str, batch: list[Document], on_attempt: OnAttempt
                     ) -> Answer:
        assert self.client is not None
        body = '{"customers":[' + ",".join(d.text for d in batch) + "]}"
        try:
            written = await self.client.write("POST", module, "batch/customers", body,
                                              on_attempt)
        except AnswerLost as exc:
            return self._lost(batch, exc)
        if not 200 <= written.status < 300 and written.status not in (400, 422):
            written = type(written)(400, written.data, written.errors, written.message)
        found, placed = outcome.batch(written, len(batch))
        if not placed:
            self.singly.update(d.id for d in batch)  # their own requests will say who
        outcomes = dict(zip((d.id for d in batch), found, strict=True))
        return Answer(outcomes, again=any(o.state in ("pending", "sending") for o in found))

    def _lost(self, batch: list[Document], exc: AnswerLost) -> Answer:
        """No answer: the documents stay ``sending`` and are looked for before the next
        try — at once, until the retry budget is spent, then by the next push."""
        if max(d.attempts for d in batch) + 1 >= self.backoff.attempts:
            raise RetriesExhausted(f"{str(exc).removesuffix('; syncd retries.')}; the "
                                   "documents stay sending and are looked for at the source "
                                   "before the next try.", status=exc.status,
                                   message=exc.message, module=exc.module) from exc
        return Answer({d.id: Outcome("sending") for d in batch}, again=True)
