"""The push state machine of one source: pending -> sending -> inserted | rejected | invalid.

Per module, in the writer's order: settle the documents an earlier request may have
created (the writer looks for them at the source; found ones are ``inserted`` with the
found id), validate the pending ones and mark the failures ``invalid``, cut the rest into
requests, and around every request write ``sending`` before it goes out and the outcome
after its answer. A request that got no answer leaves its documents ``sending``; whoever
sends them next looks first — at most once at the API, nothing lost on a crash.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from syncd.core.errors import ApiError, RetriesExhausted, SourceUnauthorized
from syncd.core.outcomes import Outcome
from syncd.engine.outbox import jsontext
from syncd.engine.outbox.writer import Answer, Document, ModulePush, Problem, Writer
from syncd.warehouse import db, outbox

log = structlog.get_logger("syncd.push")
MAX_ROUNDS = 20  # batches shrink by their culprits (or are looked for) each round


class Pusher:
    """Pushes one source's outbox over one warehouse connection and the kind's writer."""

    def __init__(self, conn: db.Connection, source: str, writer: Writer) -> None:
        self.conn, self.source, self.writer = conn, source, writer

    async def push(self, modules: Sequence[str] | None = None, *, dry_run: bool = False
                   ) -> list[ModulePush]:
        """Every selected module in the writer's order; a 401 stops the rest, a 403 only
        its module."""
        results, stop = [], None
        if not dry_run:
            await outbox.refuse_foreign(self.conn, self.source, self.writer.modules)
        for module in (m for m in self.writer.modules if modules is None or m in modules):
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
            docs = [_document(r) for r in
                    await outbox.open_rows(self.conn, self.source, result.module)]
            bad = await self._check(result.module, [d for d in docs if d.state == "pending"])
            by_id = {d.id: d for d in docs}
            for row_id, error in bad.items():
                result.problems.append(Problem(row_id, self._name(result.module, by_id[row_id]),
                                               "invalid", error))
            result.invalid += len(bad)
            if dry_run:
                return
            await outbox.mark_invalid(self.conn, bad)
            found = await self._settle(result, [d for d in docs if d.state == "sending"])
            ready = [d for d in docs if d.id not in bad and d.id not in found]
            again = 0
            for batch in self.writer.batches(result.module, ready):
                again += await self._send(result, batch)
            if not again:
                return

    async def _check(self, module: str, fresh: list[Document]) -> dict[int, str]:
        """Validator failures, and duplicates among the live rows (a failing row still
        conflicts with a different one of its key; its own message is the validator's)."""
        bad = {d.id: "; ".join(errs) for n, d in enumerate(fresh, 1)
               if (errs := self.writer.validate(module, d, n))}
        field = self.writer.duplicate_field(module)
        values = [str(d.body.get(field)) for d in fresh if field and isinstance(d.body, dict)]
        if field and values:
            # The text is jsonb's canonical form: copies differing only in layout are equal.
            live = [(i, jsontext.loads(text), text) for i, text in
                    await outbox.live(self.conn, self.source, module, field, values)]
            fresh_ids = {d.id for d in fresh}
            bad = {i: e for i, e in self.writer.duplicates(module, live).items()
                   if i in fresh_ids} | bad
        return bad

    async def _settle(self, result: ModulePush, uncertain: list[Document]) -> set[int]:
        """Creates an earlier request may have made: those found at the source become
        ``inserted`` with the found record's id (one record never for two rows)."""
        creates = [d for d in uncertain if d.operation == "create"]
        if not creates:
            return set()
        found = await self.writer.look_up(result.module, creates)
        candidates = sorted({c for ids in found.values() for c in ids})
        taken = await outbox.claimed(self.conn, self.source, result.module, candidates)
        outcomes: dict[int, Outcome] = {}
        for d in creates:
            match = next((c for c in found.get(d.id, []) if c not in taken), None)
            if match is not None:
                taken.add(match)
                outcomes[d.id] = Outcome("inserted", "found at the source after an earlier "
                                         "request of syncd got no answer", "found", match)
        if outcomes:
            await outbox.record(self.conn, outcomes, None, None)
            result.inserted += len(outcomes)
        log.info("push.looked_up", source=self.source, module=result.module,
                 looked=len(creates), found=len(outcomes))
        return set(outcomes)

    async def _send(self, result: ModulePush, batch: list[Document]) -> int:
        """One request (with its retries); how many of its documents go round again."""
        ids = [d.id for d in batch]
        uncertain = {d.id for d in batch if d.state == "sending"}

        async def on_attempt(attempt: int, lost: bool) -> None:
            if lost:
                uncertain.update(ids)
            await outbox.mark_sending(self.conn, ids)
            result.requests += 1

        try:
            answer = await self.writer.send(result.module, batch, uncertain, on_attempt)
        except RetriesExhausted:
            raise  # no answer: the documents stay `sending` for the next attempt
        except ApiError:
            await outbox.back_to_pending(self.conn, [i for i in ids if i not in uncertain])
            raise
        await outbox.record(self.conn, answer.outcomes, answer.request_id, answer.batch_id)
        return self._tally(result, answer, {d.id: d for d in batch})

    def _tally(self, result: ModulePush, answer: Answer, docs: dict[int, Document]) -> int:
        for row_id, o in answer.outcomes.items():
            if o.state == "inserted":
                result.inserted += 1
            elif o.state == "rejected":
                result.rejected += 1
                result.problems.append(Problem(row_id, self._name(result.module, docs[row_id]),
                                               "rejected", o.error or ""))
        return sum(1 for o in answer.outcomes.values()
                   if o.state == "pending" or (answer.again and o.state == "sending"))

    def _name(self, module: str, doc: Document) -> str:
        return self.writer.name(module, doc) if isinstance(doc.body, dict) else ""


def _document(row: outbox.Row) -> Document:
    return Document(row.id, row.state, row.text, jsontext.loads(row.text), row.operation,
                    row.target_id, row.attempts)
