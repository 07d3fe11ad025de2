"""The pure assignment of sources to live instances (syncd.shares)."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from syncd.service.shares import assign, score

SIX = [f"s{i}" for i in range(1, 7)]


def loads(out: dict[str, str], instances: list[str]) -> list[int]:
    counted = Counter(out.values())
    return sorted(counted[i] for i in instances)


@pytest.mark.parametrize(("sources", "instances"), [
    (SIX, ["a", "b", "c"]), (SIX, ["a", "b", "c", "d"]), (SIX, ["a"]),
    (SIX[:1], ["a", "b"]), ([f"x{i}" for i in range(50)], [f"i{i}" for i in range(7)]),
])
def test_every_source_once_and_loads_differ_by_at_most_one(
        sources: list[str], instances: list[str]) -> None:
    """Fresh assignment: every source has one live instance; loads are within one."""
    out = assign(sources, instances, {})
    assert sorted(out) == sorted(sources)
    assert set(out.values()) <= set(instances)
    got = loads(out, instances)
    assert got[-1] - got[0] <= 1
    assert got[-1] <= math.ceil(len(sources) / len(instances))


def test_the_same_answer_whatever_the_order_of_the_inputs() -> None:
    """Every instance computes the same shares from the same snapshot."""
    leaders = {"s1": "b", "s2": "b", "s3": "b", "s4": "a"}
    answers = {tuple(sorted(assign(s, i, leaders).items()))
               for s in itertools.permutations(SIX[:4])
               for i in itertools.permutations(["a", "b", "c"])}
    assert len(answers) == 1


def test_live_leaders_keep_their_sources() -> None:
    """A balanced set of current leaders is left exactly as it is (no needless handover)."""
    leaders = {"s1": "c", "s2": "c", "s3": "a", "s4": "a", "s5": "b", "s6": "b"}
    assert assign(SIX, ["a", "b", "c"], leaders) == leaders


def test_a_standby_does_not_take_a_single_source_from_its_leader() -> None:
    """One source, two instances: the leader keeps it; the other stands by."""
    assert assign(["main"], ["a", "b"], {"main": "b"}) == {"main": "b"}
    assert assign(["main"], ["b", "a"], {"main": "a"}) == {"main": "a"}


def test_a_dead_instances_sources_go_to_the_survivors_evenly() -> None:
    """Sources whose leader is no longer live are spread over the least loaded instances;
    the survivors keep what they had."""
    leaders = {"s1": "a", "s2": "a", "s3": "b", "s4": "b", "s5": "c", "s6": "c"}
    out = assign(SIX, ["a", "b"], leaders)
    assert loads(out, ["a", "b"]) == [3, 3]
    assert all(out[s] == leaders[s] for s in ("s1", "s2", "s3", "s4"))


def test_a_rejoining_instance_gets_a_share_back() -> None:
    """Two instances leading three each and a newcomer: each gives one, and only one."""
    leaders = {"s1": "a", "s2": "a", "s3": "a", "s4": "b", "s5": "b", "s6": "b"}
    out = assign(SIX, ["a", "b", "c"], leaders)
    assert loads(out, ["a", "b", "c"]) == [2, 2, 2]
    assert sum(out[s] != leaders[s] for s in SIX) == 2


def test_a_newcomer_gets_a_share_even_when_nobody_is_over_the_ceiling() -> None:
    """Six sources on 2+2+2 and a fourth instance: one handover makes it 2, 2, 1, 1."""
    leaders = {"s1": "a", "s2": "a", "s3": "b", "s4": "b", "s5": "c", "s6": "c"}
    out = assign(SIX, ["a", "b", "c", "d"], leaders)
    assert loads(out, ["a", "b", "c", "d"]) == [1, 1, 2, 2]
    assert [s for s in SIX if out[s] != leaders[s]] == [s for s in SIX if out[s] == "d"]


def test_no_instances_no_assignment() -> None:
    """With nobody alive (our own heartbeat lost), nobody leads."""
    assert assign(SIX, [], {"s1": "a"}) == {}


def test_score_is_stable_across_processes() -> None:
    """The rendezvous weight is a fixed hash (not Python's salted hash())."""
    assert score("s1", "a") == score("s1", "a") != score("s1", "b")
    assert score("main", "x") == 0xF343A0BE10B556F3
