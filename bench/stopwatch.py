"""Where a benchmark's client time goes: wall seconds accumulated per labelled function.

``Stopwatch.wrap(owner, name, label)`` replaces ``owner.name`` (a function, coroutine
function or generator function) by a timed version for the rest of the process; calls
nested in another timed call are counted in both, so labels are read as parts of a whole
only where the benchmark says they do not nest. Only for benchmarks: it patches live code.
"""

from __future__ import annotations

import collections
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any


class Stopwatch:
    """Seconds and calls per label, and every call's seconds (in call order)."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.each: collections.defaultdict[str, list[float]] = collections.defaultdict(list)

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1
        self.each[label].append(seconds)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time every call of ``owner.name`` under ``label``."""
        fn: Callable[..., Any] = getattr(owner, name)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(label, time.perf_counter() - start)
            setattr(owner, name, timed_async)
        elif inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def timed_gen(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                out = list(fn(*args, **kwargs))  # consumed here: its whole cost, once
                self.add(label, time.perf_counter() - start)
                return iter(out)
            setattr(owner, name, timed_gen)
        else:
            @functools.wraps(fn)
            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.add(label, time.perf_counter() - start)
            setattr(owner, name, timed)

    def per(self, label: str, count: int) -> float:
        """Milliseconds of ``label`` per one of ``count`` (pages, windows)."""
        return 1000 * self.seconds[label] / max(1, count)
