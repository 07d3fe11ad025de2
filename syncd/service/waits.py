"""Waiting on the first of several things (pure asyncio): the daemon's and leadership's
sleeps that a stop or a lost connection cuts short, and the backoff of reconnecting loops."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

from syncd.core.backoff import Backoff

# Reconnecting to the warehouse: 1 s, then up to 2, 4, 8, then at most 10 s between tries —
# a restart is caught within seconds, an outage of hours costs one connect per 10 s.
RECONNECT = Backoff(initial=1.0, maximum=10.0)


async def first(*aws: Awaitable[Any]) -> None:
    """Return when the first of ``aws`` completes; cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Retries:
    """The consecutive failures of one reconnecting loop, and the pause before its next try."""

    def __init__(self, stop: asyncio.Event, backoff: Backoff = RECONNECT,
                 rand: Callable[[], float] = random.random) -> None:
        self.stop, self.backoff, self.rand = stop, backoff, rand
        self.failures = 0

    def delay(self) -> float:
        """Count one more failure; the seconds to wait before the next try."""
        self.failures += 1
        return self.backoff.delay(self.failures, self.rand)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the loop's ``stop`` is set first."""
        await pause(self.stop, seconds)

    def succeeded(self) -> None:
        self.failures = 0
