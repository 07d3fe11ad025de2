"""Tests for syncd.fairqueue: who goes next at a shared limiter."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core.fairqueue import SHARE, FairQueue, Priority

F, P, B, R = Priority.FRESH, Priority.PUSH, Priority.BACKFILL, Priority.REREAD


def drain(queue: FairQueue[str]) -> list[str]:
    """Pop until empty; the order of turns."""
    out = []
    while (item := queue.pop()) is not None:
        out.append(item)
    return out


def saturate(
    queue: FairQueue[str], classes: dict[Priority, list[str]], grants: int
) -> Counter[str]:
    """Keep every named source of every class waiting (refill after each turn); count turns."""
    counter = itertools.count()
    owner: dict[str, tuple[Priority, str]] = {}
    for priority, sources in classes.items():
        for source in sources:
            item = f"{source}#{next(counter)}"
            owner[item] = (priority, source)
            queue.push(priority, source, item)
    turns: Counter[str] = Counter()
    for _ in range(grants):
        item = queue.pop()
        assert item is not None
        priority, source = owner.pop(item)
        turns[source] += 1
        refill = f"{source}#{next(counter)}"
        owner[refill] = (priority, source)
        queue.push(priority, source, refill)
    return turns


@pytest.mark.parametrize(
    ("pushed", "order"),
    [
        ([(R, "r"), (B, "b"), (P, "p"), (F, "f")], ["f", "p", "b", "r"]),
        ([(B, "b1"), (B, "b2"), (F, "f1")], ["f1", "b1", "b2"]),
        ([(F, "f1"), (F, "f2"), (F, "f3")], ["f1", "f2", "f3"]),
    ],
)
def test_priority_order_when_nobody_is_owed_a_turn(
    pushed: list[tuple[Priority, str]], order: list[str]
) -> None:
    """Without a due share, the highest class goes first and each source keeps FIFO order."""
    queue: FairQueue[str] = FairQueue()
    for priority, name in pushed:
        queue.push(priority, "one source", name)
    assert drain(queue) == order


def test_sources_take_turns_within_a_class() -> None:
    """A source with eight modules waiting gets one turn, then the source with one waiter."""
    queue: FairQueue[str] = FairQueue()
    for module in range(8):
        queue.push(F, "big", f"big{module}")
    queue.push(F, "small", "small0")
    queue.push(F, "late", "late0")
    assert drain(queue)[:4] == ["big0", "small0", "late0", "big1"]


def test_a_served_source_goes_to_the_back_of_the_rotation() -> None:
    """A source that comes back after its turn waits behind the sources already queued."""
    queue: FairQueue[str] = FairQueue()
    queue.push(F, "a", "a1")
    queue.push(F, "b", "b1")
    assert queue.pop() == "a1"
    queue.push(F, "a", "a2")
    queue.push(F, "c", "c1")
    assert drain(queue) == ["b1", "a2", "c1"]


def test_backfill_gets_one_turn_in_five_while_fresh_fills_the_limit() -> None:
    """Four stores' fresh work always waiting still leaves every fifth start to backfill."""
    queue: FairQueue[str] = FairQueue()
    turns = saturate(queue, {F: ["s1", "s2", "s3", "s4"], B: ["new"]}, grants=100)
    assert turns["new"] == 20
    assert [turns[s] for s in ("s1", "s2", "s3", "s4")] == [20, 20, 20, 20]


def test_every_guarded_class_keeps_its_share_when_all_wait() -> None:
    """PUSH and BACKFILL one in five, REREAD one in ten (less only the first turn, which a
    higher class owed at the same moment may take), FRESH the rest: still half."""
    queue: FairQueue[str] = FairQueue()
    turns = saturate(queue, {F: ["f"], P: ["p"], B: ["b"], R: ["r"]}, grants=1000)
    assert turns == {"f": 502, "p": 200, "b": 199, "r": 99}
    assert all(turns[c.name[0].lower()] >= 1000 // SHARE[c] - 1 for c in (P, B, R))


def test_an_idle_class_saves_no_claim() -> None:
    """Fresh starts made while nothing else waited do not put later backfill ahead of fresh."""
    queue: FairQueue[str] = FairQueue()
    for _ in range(20):
        queue.granted(F)
    queue.push(B, "b", "b1")
    queue.push(F, "f", "f1")
    assert drain(queue) == ["f1", "b1"]


def test_discard_and_skip_take_gone_requesters_out_uncounted() -> None:
    """A discarded or skipped item is never handed out and costs its class no turn."""
    queue: FairQueue[str] = FairQueue()
    for name in ("f1", "f2", "f3"):
        queue.push(F, "s", name)
    queue.push(B, "s", "b1")
    assert queue.discard(F, "s", "f2")
    assert not queue.discard(F, "s", "f2")
    assert queue.pop(skip=lambda item: item == "f1") == "f3"
    assert len(queue) == 1
    assert drain(queue) == ["b1"]
    assert queue.pop() is None


def test_share_must_be_at_least_one_in_one() -> None:
    """A share of 0 would mean 'one in zero' and is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        FairQueue({B: 0})


# --- properties over random arrivals and turns --------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(list(Priority)), st.sampled_from(["a", "b", "c"])),
        st.just(None),  # a free slot: pop
    ),
    max_size=200,
)
shares = st.fixed_dictionaries({p: st.integers(min_value=2, max_value=10) for p in (P, B, R)})


@given(ops=operations, share=shares)
def test_turns_are_fifo_complete_and_starvation_is_bounded(
    ops: list[tuple[Priority, str] | None], share: dict[Priority, int]
) -> None:
    """Every item comes out once, in FIFO order per (class, source); a waiting guarded class
    watches at most share - 1 + (guarded classes above it) grants go elsewhere; and within a
    class no source gets two turns while another source of that class waits through both."""
    queue: FairQueue[tuple[Priority, str, int]] = FairQueue(share)
    seq = itertools.count()
    pushed: dict[tuple[Priority, str], list[int]] = defaultdict(list)
    popped: dict[tuple[Priority, str], list[int]] = defaultdict(list)
    waited_through: Counter[Priority] = Counter()  # grants to others since the class waits
    turns_seen: dict[tuple[Priority, str], Counter[str]] = defaultdict(Counter)
    for op in ops:
        if op is not None:
            number = next(seq)
            pushed[op].append(number)
            queue.push(op[0], op[1], (op[0], op[1], number))
            continue
        item = queue.pop()
        if item is None:
            assert len(queue) == 0
            continue
        priority, source, number = item
        popped[(priority, source)].append(number)
        for other in (P, B, R):
            if other != priority and len(pushed[(other, "a")]) + len(pushed[(other, "b")]) \
                    + len(pushed[(other, "c")]) > sum(len(popped[(other, s)]) for s in "abc"):
                waited_through[other] += 1
                above = sum(1 for p in (P, B, R) if p < other)
                assert waited_through[other] <= share[other] - 1 + above
        waited_through[priority] = 0
        # Round-robin: this source's turn resets its count; others of the class waiting
        # since its last turn must not see it twice.
        for other_source in "abc":
            key = (priority, other_source)
            if other_source != source and len(pushed[key]) > len(popped[key]):
                turns_seen[key][source] += 1
                assert turns_seen[key][source] <= 1
        turns_seen[(priority, source)].clear()
    for key, numbers in popped.items():
        assert numbers == pushed[key][: len(numbers)]
    assert len(queue) == sum(len(v) for v in pushed.values()) - sum(
        len(v) for v in popped.values())


@given(ops=st.lists(st.one_of(st.integers(min_value=0, max_value=40), st.none()), max_size=150))
def test_a_sources_items_go_lowest_order_first_then_in_arrival_order(
    ops: list[int | None]
) -> None:
    """Of one source's waiting items in a class, each turn goes to the lowest order (the
    limiter's newest window), ties to the earliest arrival; nothing is lost."""
    queue: FairQueue[tuple[int, int]] = FairQueue()
    waiting: list[tuple[int, int]] = []
    arrivals = itertools.count()
    for op in ops:
        if op is not None:
            item = (op, next(arrivals))
            waiting.append(item)
            queue.push(B, "shop", item, order=op)
            continue
        got = queue.pop()
        assert got == (min(waiting) if waiting else None)
        if got is not None:
            waiting.remove(got)
    assert sorted(drain_any(queue)) == sorted(waiting)


def drain_any(queue: FairQueue[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pop until empty."""
    out = []
    while (item := queue.pop()) is not None:
        out.append(item)
    return out


def test_order_applies_within_a_source_and_sources_still_take_turns() -> None:
    """A newer window of one source does not jump another source's turn, and a discarded
    item leaves the rest in order."""
    queue: FairQueue[str] = FairQueue()
    queue.push(B, "a", "a-2019", order=-2019)
    queue.push(B, "a", "a-2025", order=-2025)
    queue.push(B, "a", "a-2022", order=-2022)
    queue.push(B, "b", "b-2010", order=-2010)
    assert queue.discard(B, "a", "a-2022")
    assert drain(queue) == ["a-2025", "b-2010", "a-2019"]


def test_fresh_and_the_backfill_share_hold_with_ordered_backfill() -> None:
    """Ordered backfill items change nothing between classes: fresh first, and backfill
    still gets one turn in five while fresh fills the limit."""
    queue: FairQueue[str] = FairQueue()
    for n in range(20):
        queue.push(B, "shop", f"b{n}", order=-n)
    for n in range(20):
        queue.push(F, "shop", f"f{n}")
    turns = [queue.pop() or "" for _ in range(10)]
    assert turns == ["f0", "f1", "f2", "f3", "b19", "f4", "f5", "f6", "f7", "b18"]
