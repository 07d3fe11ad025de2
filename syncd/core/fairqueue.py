"""Who goes next at a shared limiter (pure): priority classes, round-robin between sources
within a class, and a guaranteed share for every class below the top so none starves.

Order of choice for the next free slot:

1. A *guarded* class (every class except FRESH) that has watched ``share - 1`` grants go
   to other classes while it waited, since its own last grant, is *due*; the
   highest-priority due class goes first. So while FRESH work fills the limit, PUSH and
   BACKFILL still get at least one start in five and REREAD one in ten (``SHARE``).
2. Otherwise the highest-priority class that waits.

Inside the chosen class, sources take turns (per-source queues served round-robin), so
a source with many modules in flight gets no more turns than one with a single module, and
one store's long backfill never queues in front of another store's backfill. Within one
source's queue an item may carry an ``order`` (lowest first, ties in arrival order): the
limiter orders date windows newest first, so across all of a source's modules the recent
past is read before anyone's distant past.

The counters count grants, not time, and only grants a class waited through: a class that
was idle has no claim saved up, so a fresh request never waits behind backfill merely
because backfill was quiet a while ago.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Priority(IntEnum):
    """Who goes first when several requests wait: lowest value wins (within SHARE)."""

    FRESH = 0  # incremental passes: the dashboards are waiting for them
    PUSH = 1  # write-back: a shop waits for its invoice, but reads of today come first
    BACKFILL = 2  # history
    REREAD = 3  # nightly deep re-reads / reconciles


# "At least one start in N" for each guarded class while higher classes fill the limit.
# REREAD gets less than backfill: it repeats loaded data, but must still finish by morning.
SHARE: dict[Priority, int] = {Priority.PUSH: 5, Priority.BACKFILL: 5, Priority.REREAD: 10}


@dataclass(slots=True)
class _Class(Generic[T]):
    """One priority class: a queue per source (lowest order first, then arrival), and the
    order in which sources take turns."""

    queues: OrderedDict[str, list[tuple[float, int, T]]] = field(default_factory=OrderedDict)
    arrivals: Iterator[int] = field(default_factory=itertools.count)

    def push(self, source: str, item: T, order: float) -> None:
        # A source new to the class joins the end of the rotation.
        heapq.heappush(self.queues.setdefault(source, []), (order, next(self.arrivals), item))

    def pop(self) -> T:
        source, queue = next(iter(self.queues.items()))
        item = heapq.heappop(queue)[2]
        # The served source goes to the back of the rotation (or leaves it when empty).
        del self.queues[source]
        if queue:
            self.queues[source] = queue
        return item

    def discard(self, source: str, item: T) -> bool:
        queue = self.queues.get(source)
        at = next((n for n, entry in enumerate(queue or ()) if entry[2] is item), None)
        if queue is None or at is None:
            return False
        queue[at] = queue[-1]
        queue.pop()
        heapq.heapify(queue)
        if not queue:
            del self.queues[source]
        return True


class FairQueue(Generic[T]):
    """Waiting items by priority and source; ``pop()`` hands out the next turn."""

    def __init__(self, share: dict[Priority, int] | None = None) -> None:
        self.share = dict(SHARE if share is None else share)
        if any(n < 1 for n in self.share.values()):
            raise ValueError(f"every share must be at least 1 in 1, got {self.share}")
        self._classes: dict[Priority, _Class[T]] = {p: _Class() for p in Priority}
        self._len = 0
        # Grants that went to other classes while this class waited, since its last grant;
        # capped at its share, which is all the claim a class needs.
        self._passed_over: dict[Priority, int] = dict.fromkeys(self.share, 0)

    def __len__(self) -> int:
        return self._len

    def push(self, priority: Priority, source: str, item: T, order: float = 0.0) -> None:
        """Queue ``item`` of ``source`` at ``priority``; of one source's items in a class the
        lowest ``order`` goes first, equal orders in arrival order."""
        self._classes[priority].push(source, item, order)
        self._len += 1

    def discard(self, priority: Priority, source: str, item: T) -> bool:
        """Take a waiting item out (its requester gave up); tell whether it was queued."""
        found = self._classes[priority].discard(source, item)
        self._len -= found
        return found

    def next_class(self) -> Priority | None:
        """The class whose turn it is, or None when nothing waits."""
        waiting = [p for p in Priority if self._classes[p].queues]
        due = [p for p in waiting if p in self.share
               and self._passed_over[p] >= self.share[p] - 1]
        candidates = due or waiting
        return candidates[0] if candidates else None

    def pop(self, skip: Callable[[T], bool] = lambda item: False) -> T | None:
        """Remove and return the item whose turn it is, counting the grant; items for which
        ``skip`` holds (requesters already gone) are dropped uncounted. None when empty."""
        while (priority := self.next_class()) is not None:
            item = self._classes[priority].pop()
            self._len -= 1
            if not skip(item):
                self.granted(priority)
                return item
        return None

    def granted(self, priority: Priority) -> None:
        """Count a start of ``priority`` (also one that needed no queue)."""
        for p, n in self._passed_over.items():
            if p == priority:
                self._passed_over[p] = 0
            elif self._classes[p].queues:
                self._passed_over[p] = min(n + 1, self.share[p])
