"""Which live instance leads which source (pure): balanced, sticky, the same everywhere.

Every instance computes the same answer from the same snapshot of the warehouse (live
instances, current leaders), so no instance needs to tell another what to do:

1. a source stays with its current leader while that leader is alive and leads no more
   than ⌈sources / instances⌉ (an instance over that keeps the sources it scores highest);
2. a source without a live leader goes to the least loaded instance (ties: the highest
   rendezvous score, then the id);
3. while one instance has two sources more than another, the fuller one hands its
   lowest-scored source to the emptier one — so a rejoining instance gets a share back.

Loads end up differing by at most one: nobody leads more than ⌈sources / instances⌉.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping


def score(source: str, instance: str) -> int:
    """Rendezvous weight of ``instance`` for ``source``: stable across processes."""
    digest = hashlib.blake2b(f"{source}\0{instance}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(sources: Iterable[str], instances: Iterable[str],
           leaders: Mapping[str, str]) -> dict[str, str]:
    """Source → instance for every source, given the live ``instances`` and the current
    ``leaders`` (source → instance; entries naming an instance not live are ignored)."""
    names, alive = sorted(set(sources)), sorted(set(instances))
    if not alive:
        return {}
    cap = math.ceil(len(names) / len(alive))
    load = dict.fromkeys(alive, 0)
    out: dict[str, str] = {}
    kept = [s for s in names if leaders.get(s) in load]
    for s in sorted(kept, key=lambda s: (-score(s, leaders[s]), s)):
        if load[leaders[s]] < cap:
            out[s] = leaders[s]
            load[leaders[s]] += 1
    for s in names:
        if s not in out:
            to = min(alive, key=lambda i: (load[i], -score(s, i), i))
            out[s] = to
            load[to] += 1
    _even_out(out, load)
    return out


def _even_out(out: dict[str, str], load: dict[str, int]) -> None:
    """Move sources from the fullest to the emptiest instance until loads differ by ≤ 1."""
    while True:
        full = max(load, key=lambda i: (load[i], i))
        empty = min(load, key=lambda i: (load[i], i))
        if load[full] - load[empty] <= 1:
            return
        given = min((s for s, i in out.items() if i == full), key=lambda s: (score(s, full), s))
        out[given] = empty
        load[full] -= 1
        load[empty] += 1
