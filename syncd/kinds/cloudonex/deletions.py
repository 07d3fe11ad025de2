"""Confirming a complete read's deletion candidates by id (CONTRACT §10).

A record stored live but absent from a read that ran to its end is only a candidate: it
may have slid between pages while the read ran (a deletion ahead of it moves it up onto a
page already read). ``GET {resource}/{id}`` decides: 404 — gone, marked deleted; 200 —
alive, upserted from that answer. So drift can never delete a live record, with or without
``meta``. It costs one request per candidate, as bulk traffic, at most
``budget.confirmations`` per read; what is left (the cap, or a failure that stopped the
confirmation) stays live and is a candidate again at the next complete read.

A server without a single-record endpoint would answer 404 for every id: 404s are trusted
only once this process has seen the endpoint answer a record (a slid candidate, or a probe
of an id the read did return).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import structlog

from syncd.core.errors import RequestRejected
from syncd.engine.limiter import Priority
from syncd.kinds.cloudonex.client import CloudonexClient, FetchedRecord

log = structlog.get_logger("syncd.cloudonex")
PROBES = 2  # ids the read returned, asked to prove the endpoint (one may have just gone)


@dataclass(slots=True)
class Confirmation:
    """What the confirmation of one read's candidates found so far."""

    candidates: int = 0
    gone: list[int] = field(default_factory=list)  # answered 404
    alive: list[msgspec.Raw] = field(default_factory=list)  # answered the record
    requests: int = 0
    first_sent: float | None = None
    proven: bool = False  # the endpoint answered a record: its 404s mean "gone"

    @property
    def asked(self) -> int:
        return len(self.gone) + len(self.alive)

    @property
    def left(self) -> int:
        """Candidates not confirmed: they stay live until the next complete read."""
        return self.candidates - self.asked

    def trusted_gone(self) -> list[int]:
        """The ids to mark deleted: only 404s of an endpoint known to answer records."""
        return self.gone if self.proven else []

    def count(self, got: FetchedRecord) -> None:
        self.requests += got.requests
        self.first_sent = self.first_sent or got.first_sent


async def confirm(client: CloudonexClient, resource: str, candidates: Sequence[int],
                  returned: Sequence[int], into: Confirmation, *, cap: int,
                  priority: Priority) -> None:
    """Ask for each of the first ``cap`` candidates by id, filling ``into`` as answers come
    (a failure leaves what was found so far); ``returned``: ids the read itself returned."""
    into.candidates = len(candidates)
    for rid in candidates[:cap]:
        got = await client.record(resource, rid, priority=priority, bulk=True)
        into.count(got)
        if got.record is None:
            into.gone.append(rid)
        else:
            into.alive.append(got.record)
            into.proven = True
    if into.gone and not into.proven:
        await _prove(client, resource, returned, into, priority)


async def _prove(client: CloudonexClient, resource: str, returned: Sequence[int],
                 into: Confirmation, priority: Priority) -> None:
    """Every candidate answered 404: ask for records the read did return, to tell a real
    deletion from a server that has no single-record endpoint at all."""
    asked = list(returned[:PROBES])
    if not asked:  # an empty listing: nothing can show that the endpoint answers records
        log.warning("sync.deletions_unproven", module=resource, candidates=into.candidates,
                    reason="the listing returned no record to prove GET by id with")
    for rid in asked:
        got = await client.record(resource, rid, priority=priority, bulk=True)
        into.count(got)
        if got.record is not None:
            into.proven = True
            return
    if asked:
        url = client.context(resource).url
        raise RequestRejected(
            f"{resource}: {url}/{{id}} answers 404 even for records the listing returns "
            f"(ids {', '.join(map(str, asked))}): this server has no single-record endpoint "
            f"for {resource}, so syncd cannot confirm its deletions and marks none — please "
            "report it.", status=404, module=resource)


def started(into: Confirmation) -> float:
    """When the confirmation's first request went out (now, if none did)."""
    return into.first_sent if into.first_sent is not None else time.monotonic()
