"""Tests for syncd.limiter: the sliding-window maths and the asyncio limiter in virtual time."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import heapq
import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.engine.limiter import Priority, RateLimiter, SlidingWindow

# --- checkers and schedules shared by the tests -------------------------------------------


def max_in_window(starts: Sequence[float], length: float) -> int:
    """Most starts in any window [s, s + length) opened at one of the starts."""
    ordered = sorted(starts)
    return max((sum(1 for t in ordered if s <= t < s + length) for s in ordered), default=0)


def sliding_schedule(
    arrivals: Sequence[float], requests: int, per: float, margin: float
) -> list[float]:
    """Start each arrival, in order, at the earliest moment the sliding window allows."""
    window = SlidingWindow(requests, per, margin)
    starts = []
    for arrival in arrivals:
        start = max(arrival, window.next_start(arrival))
        window.record(start)
        starts.append(start)
    return starts


def token_bucket_schedule(arrivals: Sequence[float], capacity: int, rate: float) -> list[float]:
    """Start each arrival, in order, as a token bucket (full at first) would let it."""
    tokens, refilled_at = float(capacity), 0.0
    starts: list[float] = []
    for arrival in arrivals:
        now = max(arrival, starts[-1] if starts else arrival)
        tokens = min(capacity, tokens + (now - refilled_at) * rate)
        if tokens < 1:
            now += (1 - tokens) / rate
            tokens = 1.0
        refilled_at, tokens = now, tokens - 1
        starts.append(now)
    return starts


arrival_lists = st.lists(
    st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=40
).map(sorted)


# --- SlidingWindow ------------------------------------------------------------------------


@given(
    arrivals=arrival_lists,
    requests=st.integers(min_value=1, max_value=6),
    per=st.floats(min_value=0.5, max_value=30),
    margin=st.floats(min_value=0, max_value=1),
)
def test_window_never_holds_more_than_allowed(
    arrivals: list[float], requests: int, per: float, margin: float
) -> None:
    """Whatever the arrivals, no window of length per_seconds holds more than `requests` starts."""
    starts = sliding_schedule(arrivals, requests, per, margin)
    assert max_in_window(starts, per) <= requests
    # The margin is kept too, up to float rounding of the start times.
    assert max_in_window(starts, per + max(0.0, margin - 1e-9)) <= requests


@given(
    arrivals=arrival_lists,
    requests=st.integers(min_value=1, max_value=6),
    per=st.floats(min_value=0.5, max_value=30),
    margin=st.floats(min_value=0, max_value=1),
)
def test_every_start_is_as_early_as_allowed(
    arrivals: list[float], requests: int, per: float, margin: float
) -> None:
    """Each start is at its arrival or exactly per + margin after the start `requests` back."""
    starts = sliding_schedule(arrivals, requests, per, margin)
    assert starts == sorted(starts)
    for i, (arrival, start) in enumerate(zip(arrivals, starts, strict=True)):
        assert start >= arrival
        if start > arrival:
            assert i >= requests
            assert math.isclose(start, starts[i - requests] + per + margin, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("arrivals", "bucket_max"),
    [
        ([0.0] * 20, 9),  # a burst: the bucket refills while the burst is still counted
        ([0.0] * 5 + [2.0, 4.0, 6.0, 8.0], 9),  # a burst then one request per refill
        ([i * 0.5 for i in range(30)], 9),  # a steady stream faster than the refill
    ],
)
def test_token_bucket_breaks_the_window_the_sliding_window_keeps(
    arrivals: list[float], bucket_max: int
) -> None:
    """The checker catches a token bucket's 9-in-10-s schedule, so the property tests can fail."""
    assert max_in_window(token_bucket_schedule(arrivals, 5, 0.5), 10) == bucket_max
    assert max_in_window(sliding_schedule(arrivals, 5, 10, 0.2), 10) == 5


def test_initial_burst_then_one_window_later() -> None:
    """The first `requests` start at once, the next one per_seconds + margin after the oldest."""
    starts = sliding_schedule([0.0] * 11, 5, 10, 0.2)
    assert starts == [0.0] * 5 + [10.2] * 5 + [pytest.approx(20.4)]


def test_steady_rate_is_at_least_95_percent_of_allowed() -> None:
    """Back-to-back requests run at 5 / 10.2 s, 98 % of the server's 5 / 10 s."""
    starts = sliding_schedule([0.0] * 1000, 5, 10, 0.2)
    rate = (len(starts) - 5) / starts[-1]
    assert rate / (5 / 10) == pytest.approx(10 / 10.2)
    assert rate / (5 / 10) >= 0.95


def test_pause_delays_starts_and_never_shortens() -> None:
    """A pause holds every start until its end, and a shorter later pause keeps the longer one."""
    window = SlidingWindow(5, 10)
    window.pause_until(7)
    window.pause_until(3)
    assert window.next_start(1) == 7
    assert window.next_start(8) == 8


def test_record_refuses_starts_out_of_order() -> None:
    """Recording a start before the previous one raises, as the maths assume order."""
    window = SlidingWindow(2, 10)
    window.record(5)
    with pytest.raises(ValueError, match="before the previous"):
        window.record(4)


@pytest.mark.parametrize(
    ("requests", "per", "margin"), [(0, 10, 0.2), (5, 0, 0.2), (5, -1, 0.2), (5, 10, -0.1)]
)
def test_window_rejects_nonsense_limits(requests: int, per: float, margin: float) -> None:
    """A window without room, length or with a negative margin is refused on construction."""
    with pytest.raises(ValueError, match="must"):
        SlidingWindow(requests, per, margin)


# --- RateLimiter in virtual time ----------------------------------------------------------


class VirtualTime:
    """A fake clock and sleep: time moves only when the test jumps to the next sleeper."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        """Return the virtual now."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time reaches now + seconds."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), woken))
        await woken

    async def advance(self, until: float) -> None:
        """Wake every sleeper due by ``until`` in deadline order, then stand at ``until``."""
        await settle()
        while self._sleepers and self._sleepers[0][0] <= until:
            when, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            if not woken.done():
                woken.set_result(None)
            await settle()
        self.now = max(self.now, until)
        await settle()

    async def run(self, tasks: Sequence[asyncio.Task[object]]) -> None:
        """Jump from sleeper to sleeper until every task is done."""
        await settle()
        while not all(task.done() for task in tasks):
            assert self._sleepers, "deadlock: tasks wait but nobody sleeps"
            await self.advance(self._sleepers[0][0])


async def settle() -> None:
    """Let every ready callback chain (future -> task -> future) run to its next wait."""
    for _ in range(20):
        await asyncio.sleep(0)


def make_limiter(clock: VirtualTime, requests: int = 5, per: float = 10) -> RateLimiter:
    """A limiter on virtual time with the server's default limits."""
    return RateLimiter(requests, per, clock=clock.time, sleep=clock.sleep)


def spawn(
    limiter: RateLimiter, log: list[tuple[str, float]], name: str, priority: Priority
) -> asyncio.Task[object]:
    """Start a task that acquires and logs (name, virtual start time)."""
    clock = limiter._clock  # the same clock the limiter reads

    async def request() -> object:
        await limiter.acquire(priority)
        log.append((name, clock()))
        return None

    return asyncio.get_running_loop().create_task(request())


async def fill_staggered(limiter: RateLimiter, clock: VirtualTime) -> None:
    """Take the 5 slots at t = 0, 1, 2, 3, 4, so one slot frees per second from 10.2 on."""
    for t in range(5):
        await clock.advance(t)
        assert (await limiter.acquire()).waited == 0.0


async def test_burst_is_immediate_and_the_next_waits_a_window() -> None:
    """Five acquires return at once; the sixth returns at 10.2 s, reporting its wait."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    for _ in range(5):
        assert (await limiter.acquire()).waited == 0.0
    sixth = asyncio.get_running_loop().create_task(limiter.acquire())
    await clock.run([sixth])
    assert sixth.result().waited == pytest.approx(10.2)
    assert limiter.started == 6
    assert limiter.total_wait == pytest.approx(10.2)


async def test_fresh_overtakes_waiting_backfill() -> None:
    """A FRESH request arriving after two BACKFILL waiters takes the next free slot."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    await fill_staggered(limiter, clock)
    tasks = [spawn(limiter, log, name, Priority.BACKFILL) for name in ("b1", "b2")]
    await clock.advance(5)
    tasks.append(spawn(limiter, log, "f1", Priority.FRESH))
    await settle()
    assert limiter.waiting == {Priority.FRESH: 1, Priority.PUSH: 0, Priority.BACKFILL: 2,
                              Priority.REREAD: 0}
    await clock.run(tasks)
    assert log == [("f1", 10.2), ("b1", 11.2), ("b2", pytest.approx(12.2))]


async def test_push_goes_after_fresh_and_before_backfill() -> None:
    """Write-back waits behind fresh reads but ahead of backfill and deep re-reads."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    await fill_staggered(limiter, clock)
    plan = [("r1", Priority.REREAD), ("b1", Priority.BACKFILL), ("p1", Priority.PUSH),
            ("f1", Priority.FRESH)]
    tasks = [spawn(limiter, log, name, priority) for name, priority in plan]
    await clock.run(tasks)
    assert [name for name, _ in log] == ["f1", "p1", "b1", "r1"]


async def test_fifo_within_a_priority_and_priority_order_across() -> None:
    """Waiters of one priority start in arrival order; REREAD waits for all BACKFILL."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    await fill_staggered(limiter, clock)
    plan = [("r1", Priority.REREAD), ("b1", Priority.BACKFILL), ("r2", Priority.REREAD)]
    plan += [("b2", Priority.BACKFILL), ("b3", Priority.BACKFILL)]
    tasks = [spawn(limiter, log, name, priority) for name, priority in plan]
    await clock.run(tasks)
    assert [name for name, _ in log] == ["b1", "b2", "b3", "r1", "r2"]
    assert [t for _, t in log] == pytest.approx([10.2, 11.2, 12.2, 13.2, 14.2])


async def test_pause_delays_waiting_and_new_acquirers() -> None:
    """A 429 pause holds back an acquirer already waiting and one that arrives during it."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    for _ in range(5):
        await limiter.acquire()
    tasks = [spawn(limiter, log, "waiting", Priority.FRESH)]
    await clock.advance(5)
    limiter.pause(10)
    await clock.advance(14)
    tasks.append(spawn(limiter, log, "late", Priority.FRESH))
    await clock.run(tasks)
    assert log == [("waiting", 15.0), ("late", 15.0)]


async def test_pause_holds_an_idle_limiter() -> None:
    """With free slots but a pause, the next acquire waits out the pause."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    limiter.pause(3)
    task = asyncio.get_running_loop().create_task(limiter.acquire())
    await clock.run([task])
    assert task.result().waited == 3.0


async def test_cancelled_waiter_frees_its_turn() -> None:
    """Cancelling a waiter lets the next one start in its slot, with no start counted for it."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    await fill_staggered(limiter, clock)
    first = spawn(limiter, log, "first", Priority.FRESH)
    second = spawn(limiter, log, "second", Priority.FRESH)
    await clock.advance(5)
    first.cancel()
    await clock.run([second])
    assert first.cancelled()
    assert log == [("second", 10.2)]
    assert limiter.started == 6
    assert limiter.waiting[Priority.FRESH] == 0


async def test_all_waiters_cancelled_leaves_no_task_and_limiter_usable() -> None:
    """When every waiter is cancelled the dispatcher ends, and a later acquire still works."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    for _ in range(5):
        await limiter.acquire()
    waiters = [asyncio.get_running_loop().create_task(limiter.acquire()) for _ in range(3)]
    await settle()
    for waiter in waiters:
        waiter.cancel()
    await clock.advance(10.2)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert limiter.started == 5
    assert (await limiter.acquire()).waited == 0.0


async def test_twenty_concurrent_acquirers_keep_the_window() -> None:
    """Twenty acquirers at once finish at (20/5 - 1) * 10.2 s, never 6 in a 10 s window."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    tasks = [spawn(limiter, log, str(i), Priority(i % 3)) for i in range(20)]
    await clock.run(tasks)
    starts = [t for _, t in log]
    assert max_in_window(starts, 10) == 5
    assert max(starts) == pytest.approx((20 / 5 - 1) * 10.2)
    assert limiter.started == 20
    assert limiter.total_wait == pytest.approx(5 * (10.2 + 20.4 + 30.6))


async def test_default_clock_is_the_running_loop() -> None:
    """Without injected time the limiter reads loop.time() and serves the burst at once."""
    limiter = RateLimiter(5, 10)
    loop = asyncio.get_running_loop()
    before = loop.time()
    waits = [(await limiter.acquire()).waited for _ in range(5)]
    after = loop.time()
    assert waits == [0.0] * 5
    # the starts were stamped by the loop's clock, between ``before`` and ``after``
    assert before + 10.2 <= limiter._window.next_start(after) <= after + 10.2


def test_restamp_counts_a_late_send_at_its_real_time() -> None:
    """A start that went out later than granted (busy loop) blocks the window from then on."""
    window = SlidingWindow(5, 10.0, margin=0.2)
    for t in (0.0, 1.0, 2.0, 3.0, 4.0):
        window.record(t)
    assert window.next_start(4.0) == pytest.approx(10.2)
    window.restamp(0.0, 4.5)
    assert window.next_start(4.5) == pytest.approx(11.2)


async def test_a_start_that_went_out_late_is_counted_when_it_went_out() -> None:
    """One request per 10 s: granted at 0 but sent only at 3 s (the loop was busy parsing
    an answer), so the server saw it at 3 — the next one waits until 3 + 10.2 s."""
    clock = VirtualTime()
    limiter = make_limiter(clock, requests=1)
    first = await limiter.acquire()
    await clock.advance(3.0)
    first.went_out()
    first.went_out()  # headers, then the body: counted once
    assert first.at == pytest.approx(3.0)
    second = asyncio.get_running_loop().create_task(limiter.acquire())
    await clock.run([second])
    assert second.result().at == pytest.approx(13.2)
    assert second.result().waited == pytest.approx(10.2)


# --- fair sharing between the sources of one host (CONTRACT §9) ----------------------------


class Recorder:
    """Requests through one limiter, each logged as (source, priority, queued at, started at)."""

    def __init__(self, limiter: RateLimiter, clock: VirtualTime, until: float) -> None:
        self.limiter, self.clock, self.until = limiter, clock, until
        self.log: list[tuple[str, Priority, float, float]] = []

    async def request(self, source: str, priority: Priority, seconds: float) -> None:
        """One request: queue, start, then stay in flight for ``seconds``."""
        queued = self.clock.time()
        await self.limiter.acquire(priority, source=source)
        self.log.append((source, priority, queued, self.clock.time()))
        await self.clock.sleep(seconds)

    async def fresh_store(self, source: str, modules: int, interval: float) -> None:
        """Passes of every module's today window; the next pass `interval` after one ends."""
        while self.clock.time() < self.until:
            async with asyncio.TaskGroup() as group:
                for _ in range(modules):
                    group.create_task(self.request(source, Priority.FRESH, 0.5))
            await self.clock.sleep(interval)

    async def backfill_store(self, source: str, modules: int) -> None:
        """Every module walks its history, one window after another."""

        async def module() -> None:
            while self.clock.time() < self.until:
                await self.request(source, Priority.BACKFILL, 1.0)

        async with asyncio.TaskGroup() as group:
            for _ in range(modules):
                group.create_task(module())


async def test_four_busy_stores_share_fairly_and_backfill_keeps_one_in_five() -> None:
    """4 stores × 8 modules of fresh work every 5 s plus a new store's backfill on one host:
    the window stays strict, backfill never waits through more than 4 starts (≥ 1 in 5), and
    the stores' fresh windows take turns, none served twice while another waits."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    recorder = Recorder(limiter, clock, until=600)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(recorder.fresh_store(f"store{i}", 8, 5.0)) for i in range(1, 5)]
    tasks.append(loop.create_task(recorder.backfill_store("new", 8)))
    await clock.run(tasks)
    log = recorder.log
    starts = [started for *_, started in log]
    assert max_in_window(starts, 10.2 - 1e-6) == 5
    backfill = [i for i, (_, priority, *_) in enumerate(log) if priority is Priority.BACKFILL]
    assert len(backfill) / len(log) >= 1 / 5
    assert backfill[0] == 5 + 4  # the burst of 5 went out before backfill queued
    assert max(b - a for a, b in itertools.pairwise([*backfill, len(log)])) <= 5
    fresh = [(s, q, t) for s, p, q, t in log if p is Priority.FRESH]
    per_store = collections.Counter(s for s, *_ in fresh)
    assert max(per_store.values()) - min(per_store.values()) <= 8  # at most one pass apart
    for source, _, t1 in fresh:
        later = [t for s, _, t in fresh if s == source and t > t1]
        if not later:
            continue
        t2 = min(later)
        for other, queued, started in fresh:
            # Another store whose request waited through both turns got a turn in between.
            if other != source and queued <= t1 and started > t2:
                assert any(s == other and t1 < t <= t2 for s, _, t in fresh)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=30), st.sampled_from(list(Priority)),
                          st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30))
def test_fair_limiter_stays_strict_and_serves_everyone(
    requests: list[tuple[float, Priority, str]]
) -> None:
    """Whatever sources and priorities arrive when, every request starts, no window of
    per_seconds + margin holds more than `requests` starts, and none starts before it came."""

    async def scenario() -> list[tuple[float, float]]:
        clock = VirtualTime()
        limiter = make_limiter(clock, requests=3, per=5)
        log: list[tuple[float, float]] = []

        async def one(at: float, priority: Priority, source: str) -> None:
            await clock.sleep(at)
            await limiter.acquire(priority, source=source)
            log.append((at, clock.time()))

        loop = asyncio.get_running_loop()
        await clock.run([loop.create_task(one(*r)) for r in requests])
        return log

    log = asyncio.run(scenario())
    assert len(log) == len(requests)
    assert all(started >= arrived for arrived, started in log)
    assert max_in_window([started for _, started in log], 5.2 - 1e-9) <= 3


async def test_a_sources_backfill_goes_newest_window_first_across_modules() -> None:
    """Backfill requests of three modules of one source start by the day their window
    reaches, latest first, whatever order they queued in; fresh still goes before them."""
    clock = VirtualTime()
    limiter = make_limiter(clock)
    log: list[tuple[str, float]] = []
    await fill_staggered(limiter, clock)
    loop = asyncio.get_running_loop()

    async def request(name: str, priority: Priority, reaches: dt.date | None) -> None:
        await limiter.acquire(priority, "shop", reaches=reaches)
        log.append((name, clock.time()))

    plan = [("sales-2019", Priority.BACKFILL, dt.date(2019, 5, 31)),
            ("customer-2025", Priority.BACKFILL, dt.date(2025, 1, 31)),
            ("item-2022", Priority.BACKFILL, dt.date(2022, 3, 31)),
            ("undated", Priority.BACKFILL, None),
            ("sales-today", Priority.FRESH, dt.date(2026, 4, 30))]
    tasks = [loop.create_task(request(*p)) for p in plan]
    await clock.run(tasks)
    assert [name for name, _ in log] == ["sales-today", "customer-2025", "item-2022",
                                         "sales-2019", "undated"]
