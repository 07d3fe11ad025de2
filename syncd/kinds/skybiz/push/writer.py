"""SKYBIZ's writer for the outbox (``syncd.engine.outbox``): its three modules, the
documentation's rules, requests of at most 500 with one Doc1No each, and every document's
state from the create answer. The API says "already exists" for a document an unanswered
request did create, so nothing needs looking up before a resend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from syncd.config import SourceConfig
from syncd.core.errors import RequestRejected
from syncd.core.outcomes import Outcome
from syncd.engine.outbox.writer import Answer, Document, OnAttempt
from syncd.kinds.skybiz.push import batches, validation
from syncd.kinds.skybiz.push.outcome import NAMED, interpret, words

ORDER = ("customer", "sales", "purchase")  # customers first: new invoices may name them


class Creator(Protocol):
    """What the writer needs of the HTTP client (SkybizClient.create)."""

    async def create(self, module_name: str, documents: list[str], on_attempt: OnAttempt
                     ) -> tuple[dict[str, Any], str | None]: ...


class SkybizWriter:
    """Creates SKYBIZ documents through one source's client (None: only validate)."""

    modules = ORDER

    def __init__(self, source: SourceConfig | None, client: Creator | None) -> None:
        self.client = client

    def name(self, module: str, doc: Document) -> str:
        return validation.name_of(module, doc.body)

    def validate(self, module: str, doc: Document, position: int) -> list[str]:
        if doc.operation != "create":
            return [f"SKYBIZ documents can only be created, not {doc.operation}d"]
        return validation.validate(module, doc.body, position)

    def duplicate_field(self, module: str) -> str:
        return "CusCode" if module == "customer" else "Doc1No"

    def duplicates(self, module: str, live: Sequence[tuple[int, Any, str]]) -> dict[int, str]:
        keys = [(i, validation.key_of(module, body), text) for i, body, text in live
                if isinstance(body, dict)]
        return validation.duplicates(keys, module)

    def batches(self, module: str, docs: list[Document]) -> list[list[Document]]:
        return batches.split(docs, lambda d: self.name(module, d))

    async def look_up(self, module: str, docs: list[Document]) -> dict[int, list[str]]:
        return {}  # a resend's "already exists" answers for it (outcome.interpret)

    async def send(self, module: str, batch: list[Document], uncertain: set[int],
                   on_attempt: OnAttempt) -> Answer:
        assert self.client is not None, "a push that sends needs a client"
        ids = [d.id for d in batch]
        names = [self.name(module, d) for d in batch]
        try:
            data, request_id = await self.client.create(module, [d.text for d in batch],
                                                        on_attempt)
        except RequestRejected as exc:
            return Answer(_refused_whole(exc, names, ids, uncertain), exc.request_id)
        found = interpret(module, data, names, [i in uncertain for i in ids])
        batch_id = data.get("batch_id")
        return Answer(dict(zip(ids, found, strict=True)), request_id,
                      None if batch_id is None else str(batch_id))


def _refused_whole(exc: RequestRejected, names: list[str], ids: list[int],
                   uncertain: set[int]) -> dict[int, Outcome]:
    """A 400 for the whole request: the document it names is rejected, the rest wait; when it
    names none, every document of the request is rejected with the server's words."""
    text = exc.message or str(exc)
    named = NAMED.search(text)
    said = words(text)
    culprit = named.group(1) if named and named.group(1) in names else None
    out = {}
    for row_id, name in zip(ids, names, strict=True):
        if culprit is None or name == culprit:
            out[row_id] = Outcome("rejected", said, "request")
        else:
            out[row_id] = Outcome("sending" if row_id in uncertain else "pending")
    return out
