"""Per-host request limiter: a sliding window of arrivals, served fairly (see fairqueue).

The SKYBIZ server counts request ARRIVALS in a sliding window (5 per 10 s per key and
per IP). A token bucket is the wrong model: after a burst it refills while the burst is
still inside the server's window and lets ~9 requests into one window. Instead we keep
the last ``requests`` start times and allow a start at ``t`` only once the oldest of them
is ``per_seconds + margin`` old; the margin absorbs network jitter that can bring two
arrivals closer together at the server than they were here.

Time comes only from the injected clock (default: the running loop's ``time()``) and
waiting only from the injected ``sleep``, so tests drive virtual time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from syncd.core.fairqueue import FairQueue, Priority

__all__ = ["Priority", "RateLimiter", "SlidingWindow", "Start"]


class SlidingWindow:
    """The pure maths: when may the next request start, given the recent starts."""

    def __init__(self, requests: int, per_seconds: float, margin: float = 0.2) -> None:
        if requests < 1:
            raise ValueError(f"requests must be at least 1, got {requests}")
        if per_seconds <= 0:
            raise ValueError(f"per_seconds must be positive, got {per_seconds}")
        if margin < 0:
            raise ValueError(f"margin must not be negative, got {margin}")
        self.requests = requests
        self.per_seconds = per_seconds
        self.margin = margin
        # Only the last `requests` starts can block the next one.
        self._starts: deque[float] = deque(maxlen=requests)
        self._paused_until = float("-inf")

    def next_start(self, now: float) -> float:
        """Return the earliest time >= ``now`` at which a start keeps the window legal."""
        earliest = max(now, self._paused_until)
        if len(self._starts) == self.requests:
            # (t - per - margin, t] must hold fewer than `requests` starts, so the
            # oldest kept start must have left it.
            earliest = max(earliest, self._starts[0] + self.per_seconds + self.margin)
        return earliest

    def record(self, at: float) -> None:
        """Count a request that started at ``at``; starts must be recorded in order."""
        if self._starts and at < self._starts[-1]:
            raise ValueError(f"start {at} recorded before the previous {self._starts[-1]}")
        self._starts.append(at)

    def restamp(self, old: float, new: float) -> None:
        """A start recorded at ``old`` really went out at ``new`` (later): count it then."""
        starts = sorted([*self._starts, new])
        if old in starts:
            starts.remove(old)
        # If `old` was already evicted, keeping the newest `requests` is the safe side.
        self._starts = deque(starts[-self.requests :], maxlen=self.requests)

    def pause_until(self, until: float) -> None:
        """Let nobody start before ``until``; a shorter pause never cuts a longer one."""
        self._paused_until = max(self._paused_until, until)


@dataclass(slots=True)
class Start:
    """One granted start, counted at ``at`` after ``waited`` seconds in the queue."""

    at: float
    waited: float
    _window: SlidingWindow = field(repr=False)
    _clock: Callable[[], float] = field(repr=False)

    def went_out(self) -> None:
        """The request's bytes are being handed to the socket now. A busy loop (a big
        answer parsed, a body written by a task of its own) may send it well after its
        grant; the server counts the real arrival, so the start is counted from now."""
        now = self._clock()
        if now > self.at:
            self._window.restamp(self.at, now)
            self.at = now


class RateLimiter:
    """One per API host, shared by its sources' modules: ``await acquire()`` before each
    request. Who gets a free slot is FairQueue's decision; this class only waits for it."""

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        margin: float = 0.2,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        share: dict[Priority, int] | None = None,
    ) -> None:
        self._window = SlidingWindow(requests, per_seconds, margin)
        self._clock = clock if clock is not None else _loop_time
        self._sleep = sleep if sleep is not None else asyncio.sleep
        # Each waiter is a future whose result is the time the dispatcher granted its start.
        self._queue: FairQueue[asyncio.Future[float]] = FairQueue(share)
        self._dispatcher: asyncio.Task[None] | None = None
        self.started = 0
        self.total_wait = 0.0
        self.waiting: dict[Priority, int] = dict.fromkeys(Priority, 0)

    async def acquire(self, priority: Priority = Priority.FRESH, source: str = "", *,
                      reaches: dt.date | None = None) -> Start:
        """Wait until this request of ``source`` may start and count it as started (the
        caller tells ``Start.went_out`` when it really goes out). Sources take turns within
        a priority (unnamed callers are one); of one source's waiting requests, the one
        whose window ``reaches`` the latest day goes first (newest first across its
        modules), requests naming no day after them."""
        entered = self._clock()
        # Fast path only when nobody queues: a free slot must not jump the queue.
        if not self._queue and self._window.next_start(entered) <= entered:
            self._grant(entered, priority)
            return Start(entered, 0.0, self._window, self._clock)
        granted: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.push(priority, source, granted, _order(reaches))
        self._ensure_dispatcher()
        self.waiting[priority] += 1
        try:
            # A cancel while queued takes the waiter out of the queue, so no slot is spent.
            # A cancel landing after the grant keeps the start counted: over-counting
            # delays one later start, under-counting could earn a 429.
            granted_at = await granted
        finally:
            self.waiting[priority] -= 1
            if granted.cancelled():
                self._queue.discard(priority, source, granted)
        start = Start(granted_at, 0.0, self._window, self._clock)
        # The loop may have been busy between the grant and this resume.
        start.went_out()
        start.waited = start.at - entered
        self.total_wait += start.waited
        return start

    def pause(self, seconds: float) -> None:
        """The server said 429: no request on this host starts for ``seconds`` from now."""
        # No wake-up needed: a sleeping dispatcher re-plans when it wakes, and a pause only
        # ever moves the next start later.
        self._window.pause_until(self._clock() + seconds)

    def _grant(self, at: float, priority: Priority) -> None:
        """Record a start at ``at`` (fast path); the caller sends in this same iteration."""
        self._queue.granted(priority)
        self._record(at)

    def _record(self, at: float) -> None:
        self._window.record(at)
        self.started += 1

    def _ensure_dispatcher(self) -> None:
        """Start the dispatcher unless one is running; it exits by itself when idle."""
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def _dispatch(self) -> None:
        """Hand out starts to the queue head, sleeping until the window allows the next."""
        while self._queue:
            now = self._clock()
            at = self._window.next_start(now)
            if at > now:
                # Re-plan after every sleep: a pause may have pushed `at` back, and whose
                # turn it is gets decided only when the slot is free.
                await self._sleep(at - now)
                continue
            # pop() counts the grant for fairness; record the start before waking the
            # waiter, so the next turn of this loop already sees the slot as taken.
            # A waiter cancelled since (its future is done) is dropped without a start.
            granted = self._queue.pop(skip=asyncio.Future.done)
            if granted is None:
                return
            self._record(now)
            granted.set_result(now)


def _order(reaches: dt.date | None) -> float:
    """The fair queue's order of a request: later days first, undated requests last."""
    return 0.0 if reaches is None else -float(reaches.toordinal())


def _loop_time() -> float:
    """Read the running loop's clock, the one time source tests can patch."""
    return asyncio.get_running_loop().time()
