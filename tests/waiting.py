"""How tests wait: on an event when the thing waited for happens in this process, else by
polling a probe up to a deadline. A test never sleeps for a fixed time to let something
happen; the deadline only bounds a wait that normally ends much sooner."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.05  # how often a probe of another process (HTTP, SQL, a file) is asked again


async def until(probe: Callable[[], Awaitable[T | None] | T | None], what: str, *,
                deadline_s: float = 30.0, poll_s: float = POLL_S,
                alive: Callable[[], str | None] | None = None) -> T:
    """Ask ``probe`` (sync or async) until it returns something truthy and return that; fail
    naming ``what`` after ``deadline_s``, or as soon as ``alive`` returns a reason (e.g. the
    child process the test waits on has exited)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        got = probe()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got  # type: ignore[return-value]  # truthy, so not None
        dead = alive() if alive is not None else None
        assert dead is None, f"{dead} while waiting for {what}"
        assert loop.time() < deadline, f"no {what} within {deadline_s} s"
        await asyncio.sleep(poll_s)


class Changes:
    """A signal that in-process producers ``notify()`` whenever their state changes, so a
    test waits for a predicate on that state without polling."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter to re-check its predicate."""
        self._changed.set()
        self._changed = asyncio.Event()  # later waiters wait for the next change

    async def wait_for(self, predicate: Callable[[], T], what: str,
                       deadline_s: float = 30.0) -> T:
        """Return ``predicate()`` once it is truthy, re-checked at each change; fail naming
        ``what`` after ``deadline_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while not (got := predicate()):
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"no {what} within {deadline_s} s") from None
        return got
