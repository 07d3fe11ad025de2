"""The push state machine of one source: pending -> sending -> inserted | rejected | invalid.

Per module (customers first, so that new invoices can name them): validate the pending
documents, mark the failures ``invalid``, cut the rest into requests, and around every
request write ``sending`` before it goes out and the outcome after its answer. A request
that got no answer leaves its documents ``sending``; whoever sends them next treats "already
exists" for them as ``inserted`` — at most once at the API, nothing lost on a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import structlog

from syncd.core.errors import ApiError, RequestRejected, RetriesExhausted, SourceUnauthorized
from syncd.kinds.skybiz.push import batches, encoding, outbox, validation
from syncd.kinds.skybiz.push.outcome import NAMED, Outcome, interpret

log = structlog.get_logger("syncd.push")
ORDER = ("customer", "sales", "purchase")
MAX_ROUNDS = 20  # customer batches shrink by their culprits each round


class Creator(Protocol):
    """What the sender needs of the HTTP client (SkybizClient.create)."""

    async def create(self, module_name: str, documents: list[str],
                     on_attempt: Callable[[int, bool], Awaitable[None]]
                     ) -> tuple[dict[str, Any], str | None]: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """A document that will not be created, and why."""

    id: int
    name: str
    state: str  # invalid | rejected
    error: str


@dataclass(slots=True)
class ModulePush:
    """How one module's push went."""

    source: str
    module: str
    inserted: int = 0
    rejected: int = 0
    invalid: int = 0
    waiting: int = 0  # still pending or sending afterwards
    requests: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: ApiError | None = None


class Pusher:
    """Pushes one source's outbox over one warehouse connection and one client."""

    def __init__(self, conn: asyncpg.Connection, source: str, client: Creator | None) -> None:
        self.conn, self.source, self.client = conn, source, client

    async def push(self, modules: Sequence[str] = ORDER, *, dry_run: bool = False
                   ) -> list[ModulePush]:
        """Every selected module in ORDER; a 401 stops the rest, a 403 only its module."""
        results, stop = [], None
        for module in (m for m in ORDER if m in modules):
            result = ModulePush(self.source, module)
            results.append(result)
            try:
                if stop is not None:
                    raise stop
                await self._module(result, dry_run)
            except SourceUnauthorized as exc:
                stop = result.error = exc
            except ApiError as exc:
                result.error = exc
            if result.error is not None:
                log.error("push.module_failed", source=self.source, module=module,
                          error=str(result.error))
            left = len(await outbox.open_rows(self.conn, self.source, module))
            result.waiting = left - result.invalid if dry_run else left
        return results

    async def _module(self, result: ModulePush, dry_run: bool) -> None:
        for _ in range(MAX_ROUNDS):
            rows = await outbox.open_rows(self.conn, self.source, result.module)
            docs = {r.id: encoding.loads(r.text) for r in rows}
            bad = await self._check(result.module, [r for r in rows if r.state == "pending"],
                                    docs)
            for row_id, error in bad.items():
                result.problems.append(Problem(row_id, _name(result.module, docs[row_id]),
                                               "invalid", error))
            result.invalid += len(bad)
            if dry_run:
                return
            await outbox.mark_invalid(self.conn, bad)
            ready = [r for r in rows if r.id not in bad]
            requeued = 0
            for batch in batches.split(ready, _namer(result.module, docs)):
                requeued += await self._send(result, batch, docs)
            if not requeued:
                return

    async def _check(self, module: str, fresh: list[outbox.Row], docs: dict[int, Any]
                     ) -> dict[int, str]:
        """Validator failures, and duplicates among the live rows (a failing row still
        conflicts with a different one of its key; its own message is the validator's)."""
        bad = {r.id: "; ".join(errs) for n, r in enumerate(fresh, 1)
               if (errs := validation.validate(module, docs[r.id], n))}
        names = [_name(module, docs[r.id]) for r in fresh]
        if names:
            live = await outbox.keys(self.conn, self.source, module, names)
            fresh_ids = {r.id for r in fresh}
            bad = {i: e for i, e in validation.duplicates(live, module).items()
                   if i in fresh_ids} | bad
        return bad

    async def _send(self, result: ModulePush, batch: list[outbox.Row], docs: dict[int, Any]
                    ) -> int:
        """One request (with its retries); how many of its documents go back to pending."""
        assert self.client is not None, "a push that sends needs a client"
        ids = [r.id for r in batch]
        names = [_name(result.module, docs[i]) for i in ids]
        uncertain = {r.id for r in batch if r.state == "sending"}

        async def on_attempt(attempt: int, lost: bool) -> None:
            if lost:
                uncertain.update(ids)
            await outbox.mark_sending(self.conn, ids)
            result.requests += 1

        try:
            data, request_id = await self.client.create(result.module, [r.text for r in batch],
                                                        on_attempt)
        except RetriesExhausted:
            raise  # no answer: the documents stay `sending` for the next attempt
        except RequestRejected as exc:
            outcomes = _refused_whole(exc, names, ids, uncertain)
            data, request_id = {}, exc.request_id
        except ApiError:
            await outbox.back_to_pending(self.conn, [i for i in ids if i not in uncertain])
            raise
        else:
            found = interpret(result.module, data, names, [i in uncertain for i in ids])
            outcomes = dict(zip(ids, found, strict=True))
        batch_id = data.get("batch_id")
        await outbox.record(self.conn, outcomes, request_id,
                            None if batch_id is None else str(batch_id))
        return self._tally(result, outcomes, docs)

    def _tally(self, result: ModulePush, outcomes: dict[int, Outcome], docs: dict[int, Any]
               ) -> int:
        for row_id, o in outcomes.items():
            if o.state == "inserted":
                result.inserted += 1
            elif o.state == "rejected":
                result.rejected += 1
                result.problems.append(Problem(row_id, _name(result.module, docs[row_id]),
                                               "rejected", o.error or ""))
        return sum(1 for o in outcomes.values() if o.state == "pending")


def _refused_whole(exc: RequestRejected, names: list[str], ids: list[int],
                   uncertain: set[int]) -> dict[int, Outcome]:
    """A 400 for the whole request: the document it names is rejected, the rest wait; when it
    names none, every document of the request is rejected with the server's words."""
    words = exc.message or str(exc)
    named = NAMED.search(words)
    culprit = named.group(1) if named and named.group(1) in names else None
    out = {}
    for row_id, name in zip(ids, names, strict=True):
        if culprit is None or name == culprit:
            out[row_id] = Outcome("rejected", words, "request")
        else:
            out[row_id] = Outcome("sending" if row_id in uncertain else "pending")
    return out


def _namer(module: str, docs: dict[int, Any]) -> Callable[[outbox.Row], str]:
    return lambda row: _name(module, docs[row.id])


def _name(module: str, doc: Any) -> str:
    return validation.name_of(module, doc) if isinstance(doc, dict) else ""
