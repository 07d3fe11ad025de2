"""Adaptive windows: the piece reader alone (fake fetch), then end to end against a
simulator whose heavy days run its PHP process out of memory, into a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from syncd.core.backoff import Backoff
from syncd.core.errors import RetriesExhausted, Unreachable, WindowTooLarge
from syncd.core.results import Cycle, ResyncRange
from syncd.core.splits import Span
from syncd.core.windows import Purpose, Window
from syncd.engine.pieces import PieceReader
from syncd.kinds.skybiz import modules as skybiz
from syncd.warehouse import db, sizes
from syncd_simulator import HeavyDays
from tests.test_sync import Env, assert_matches_source, deep_pass, fetch, make_env

D = dt.date(2024, 3, 1)
FAST = Backoff(initial=0.0, maximum=0.0, attempts=4, retry_after_cap=0.0)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


class FakeServer:
    """Fails every piece longer than ``max_days`` that touches ``heavy``; records calls."""

    def __init__(self, heavy: dt.date, max_days: int) -> None:
        self.heavy, self.max_days = heavy, max_days
        self.calls: list[tuple[str, int | None, int]] = []

    async def fetch(self, piece: Window, split_after: int | None, spent: int) -> str:
        self.calls.append((str(piece), split_after, spent))
        if piece.date_from <= self.heavy <= piece.date_to and piece.days > self.max_days:
            if split_after is None:
                raise RetriesExhausted("sales: the server had an internal error; gave up.",
                                       status=500, message="Internal server error",
                                       request_id="req_9", module="sales")
            raise WindowTooLarge("sales: internal error", requests=split_after, status=500)
        return str(piece)


def reader(remembered: list[Span]) -> PieceReader:
    async def remember(span: Span) -> None:
        remembered.append(span)

    return PieceReader("main", "sales", [], remember, max_days=skybiz.MAX_WINDOW_DAYS)


async def test_a_split_window_loads_in_pieces_and_the_next_window_grows_back() -> None:
    """A backfill window with one heavy day is halved after two failures; each success
    doubles the size, so the next window starts at the size that worked and grows to 31."""
    remembered: list[Span] = []
    pieces = reader(remembered)
    server = FakeServer(heavy=day(0), max_days=1)
    first = await pieces.read(Window(day(0), day(30), Purpose.BACKFILL), server.fetch)
    assert first == [f"{day(15)}..{day(30)}", f"{day(7)}..{day(14)}", f"{day(3)}..{day(6)}",
                     f"{day(1)}..{day(2)}", f"{day(0)}..{day(0)}"]
    assert [s.days for s in remembered] == [16, 8, 4, 2]
    second = await pieces.read(Window(day(-31), day(-1), Purpose.BACKFILL), server.fetch)
    assert second == [f"{day(-8)}..{day(-1)}", f"{day(-24)}..{day(-9)}",
                      f"{day(-31)}..{day(-25)}"]  # 8 days worked last: 8, 16, then 31
    assert pieces.size == 31


async def test_failed_tries_are_counted_on_the_piece_that_loads() -> None:
    """The requests spent on a failing size travel to the next piece (the ledger counts
    every request); a single day gets the whole retry budget (no split_after)."""
    server = FakeServer(heavy=day(0), max_days=1)
    await reader([]).read(Window(day(0), day(1), Purpose.FRESH), server.fetch)
    assert server.calls == [(f"{day(0)}..{day(1)}", 2, 0), (f"{day(0)}..{day(0)}", None, 2),
                            (f"{day(1)}..{day(1)}", None, 0)]


async def test_remembered_spans_are_planned_at_their_size() -> None:
    """A range split in an earlier pass is read at its size at once: no failed request."""
    server = FakeServer(heavy=day(10), max_days=4)
    pieces = PieceReader("main", "sales", [Span(day(8), day(12), 4)], _nothing,
                         max_days=skybiz.MAX_WINDOW_DAYS)
    await pieces.read(Window(day(0), day(30), Purpose.RESYNC), server.fetch)
    assert [c[0] for c in server.calls] == [f"{day(0)}..{day(7)}", f"{day(8)}..{day(11)}",
                                            f"{day(12)}..{day(15)}", f"{day(16)}..{day(30)}"]


async def test_a_single_day_that_still_fails_names_the_day() -> None:
    """One plain sentence: the module, the day, the server's answer and what to do."""
    server = FakeServer(heavy=day(3), max_days=0)
    with pytest.raises(RetriesExhausted) as info:
        await reader([]).read(Window(day(0), day(7), Purpose.FRESH), server.fetch)
    text = str(info.value)
    assert text.startswith(f"sales: the server cannot answer {day(3)} even as a one-day "
                           "window (HTTP 500 Internal server error); syncd retries it next pass")
    assert "SKYBIZ support" in text
    assert "req_9" in text
    assert text.count(". ") == 0  # one sentence


async def test_an_unreachable_server_is_not_blamed_on_the_day() -> None:
    """Retries used up on a refused connection keep their own sentence (check the network)."""

    async def refused(piece: Window, split_after: int | None, spent: int) -> str:
        cause = Unreachable("Cannot connect to erp:443 (Connection refused); check base_url.")
        raise RetriesExhausted("Cannot connect to erp:443; gave up.") from cause

    with pytest.raises(RetriesExhausted, match=r"^Cannot connect"):
        await reader([]).read(Window(day(0), day(0), Purpose.FRESH), refused)


async def _nothing(span: Span) -> None:
    pass


async def test_the_warehouse_keeps_the_smallest_size_of_a_range(pg_dsn: str) -> None:
    """A range split again keeps the smaller size; ranges are kept per source and module."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await sizes.remember(conn, "main", "sales", Span(day(0), day(30), 8))
        await sizes.remember(conn, "main", "sales", Span(day(0), day(30), 16))
        await sizes.remember(conn, "main", "sales", Span(day(0), day(15), 4))
        await sizes.remember(conn, "other", "sales", Span(day(0), day(30), 2))
        assert await sizes.spans(conn, "main", "sales") == [
            Span(day(0), day(15), 4), Span(day(0), day(30), 8)]
        assert await sizes.spans(conn, "main", "purchase") == []
    finally:
        await conn.close()


# --- end to end ------------------------------------------------------------------------

HEAVY_MAX_DAYS = 4
TODAY = dt.date(2026, 11, 21)  # the simulator's today, so the heavy days can be placed


@pytest.fixture
async def heavy(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Env]:
    """A server whose sales of ten days 41..50 days ago fit only in windows of ≤ 4 days."""
    async for e in make_env(tmp_path, pg_dsn, today=TODAY, scale=0.25, heavy=HeavyDays(
            TODAY - dt.timedelta(days=50), TODAY - dt.timedelta(days=41), HEAVY_MAX_DAYS,
            modules=frozenset({"sales"}))):
        yield e


def failed(env: Env, since: int = 0) -> int:
    return sum(1 for r in env.sim.requests[since:] if r.status == 500)


async def ledger(env: Env, purpose: str) -> list[tuple[dt.date, dt.date]]:
    rows = await fetch(env.dsn, "SELECT date_from, date_to FROM syncd.window WHERE module = "
                       "'sales' AND purpose = ANY($1) ORDER BY date_from",
                       [purpose] if purpose != "pass" else ["fresh", "backfill"])
    return [(r["date_from"], r["date_to"]) for r in rows]


async def test_a_heavy_month_is_split_loaded_exactly_and_remembered(heavy: Env) -> None:
    """The month the server cannot answer loads in pieces, the data is exact, the watermarks
    contiguous; resync and the nightly re-read reuse the remembered split (no 500 at all)."""
    runs = await heavy.sync(modules=("sales",), backoff=FAST)
    assert runs[0].error is None
    await assert_matches_source(heavy, skybiz.get("sales"))
    marks = await fetch(heavy.dsn, "SELECT low_watermark, high_watermark FROM "
                        "syncd.module_state WHERE module = 'sales'")
    assert (marks[0][0], marks[0][1]) == (heavy.backfill_from, heavy.today)
    pieces = await ledger(heavy, "pass")
    assert pieces[0][0] == heavy.backfill_from
    assert pieces[-1][1] == heavy.today
    assert all(b[0] == a[1] + dt.timedelta(days=1) for a, b in itertools.pairwise(pieces))
    opts = heavy.sim.options.heavy
    assert opts is not None
    touching = [p for p in pieces if p[0] <= opts.date_to and opts.date_from <= p[1]]
    assert touching
    assert all((p[1] - p[0]).days < HEAVY_MAX_DAYS for p in touching)
    remembered = await fetch(heavy.dsn, "SELECT min(days) AS d FROM syncd.window_size "
                             "WHERE source = 'main' AND module = 'sales'")
    assert remembered[0]["d"] == HEAVY_MAX_DAYS
    first_pass = len(heavy.sim.requests)
    spent = await fetch(heavy.dsn, "SELECT sum(requests) AS n FROM syncd.window")
    assert spent[0]["n"] == first_pass  # every failed try is on the ledger too
    # The fewest requests possible, had syncd known: 31-day windows around the heavy days,
    # 4-day windows over them.
    days = [(opts.date_from - heavy.backfill_from).days, (opts.date_to - opts.date_from).days + 1,
            (heavy.today - opts.date_to).days]
    fewest = -(-days[0] // 31) + -(-days[1] // HEAVY_MAX_DAYS) + -(-days[2] // 31)
    assert first_pass <= 4 * fewest

    runs = await heavy.sync(resync=ResyncRange(heavy.backfill_from, heavy.today),
                            modules=("sales",), backoff=FAST)
    assert runs[0].error is None
    assert failed(heavy, first_pass) == 0
    resync = len(heavy.sim.requests) - first_pass
    assert resync == len(await ledger(heavy, "resync"))
    assert resync <= 2 * fewest
    print(f"\nsplit: first pass {first_pass} requests ({len(pieces)} pieces, "
          f"{failed(heavy)} failed), resync {resync}, fewest possible {fewest}")
    before = len(heavy.sim.requests)
    runs = await deep_pass(heavy, Purpose.REREAD, ("sales",), Cycle(dt.datetime.now(dt.UTC)))
    assert runs[0].error is None
    assert runs[0].done > 2
    assert failed(heavy, before) == 0


async def test_a_day_that_never_answers_stops_only_its_module(
    tmp_path: Path, pg_dsn: str
) -> None:
    """A day failing even alone stops sales with one sentence naming it; the watermark
    covers exactly the loaded days above it, and customer finishes untouched."""
    bad = TODAY - dt.timedelta(days=45)
    async for e in make_env(tmp_path, pg_dsn, today=TODAY, scale=0.25, heavy=HeavyDays(
            bad, bad, 0, modules=frozenset({"sales"}))):
        runs = {r.module: r for r in await e.sync(modules=("sales", "customer"),
                                                  backoff=FAST)}
        assert runs["customer"].error is None
        await assert_matches_source(e, skybiz.get("customer"))
        text = str(runs["sales"].error)
        assert text.startswith(f"sales: the server cannot answer {bad} even as a one-day "
                               "window (HTTP 500")
        state = await fetch(e.dsn, "SELECT low_watermark, high_watermark, last_error FROM "
                            "syncd.module_state WHERE module = 'sales'")
        assert (state[0][0], state[0][1]) == (bad + dt.timedelta(days=1), e.today)
        assert state[0]["last_error"] == text
        one_day = [r for r in e.sim.requests if r.date_from == r.date_to == bad.isoformat()]
        assert len(one_day) == FAST.attempts
        assert Counter(r.status for r in e.sim.requests if r.module == "customer") == {200: 3}


class SizeLimitedServer:
    """Refuses every read longer than ``max_days`` (the same everywhere), counting refusals
    as requests: each WindowTooLarge stands for the two refused tries it took."""

    def __init__(self, max_days: int) -> None:
        self.max_days = max_days
        self.refused = 0
        self.loaded: list[Window] = []

    async def fetch(self, piece: Window, split_after: int | None, spent: int) -> str:
        if piece.days > self.max_days:
            assert split_after is not None
            self.refused += split_after
            raise WindowTooLarge("sales: internal error", requests=split_after, status=500)
        self.loaded.append(piece)
        return str(piece)


async def test_a_server_wide_size_limit_is_learned_within_the_contract_budget() -> None:
    """A server that answers 500 to every read longer than 7 days costs a 121-day backfill
    at most 4 · ⌈121/31⌉ = 16 refused requests (CONTRACT §9), and every day is loaded."""
    from syncd.core.windows import Watermarks, plan

    pieces = reader([])
    server = SizeLimitedServer(max_days=7)
    today = D + dt.timedelta(days=120)
    for window in plan(Watermarks(), today, D, 7, max_days=skybiz.MAX_WINDOW_DAYS):
        await pieces.read(window, server.fetch)
    days = {w.date_from + dt.timedelta(days=i) for w in server.loaded for i in range(w.days)}
    assert days >= {D + dt.timedelta(days=i) for i in range(121)}
    assert server.refused <= 16
