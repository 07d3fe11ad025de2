"""How far a source reads ahead of its loads: the answers it holds, bounded in bytes.

Windows are fetched ahead of their commit (a pass keeps up to ``PASS_DEPTH`` in flight) so
that the wire and the warehouse overlap. Each fetched answer stays in memory until its
window commits, so without a bound a module of 121 MB windows with 16 in flight would
hold 2 GB. ``ReadAhead`` admits a window's request only when it is its module's next to
commit (always: the pass must move), or when the bytes already held plus the size of its
module's last answer stay within ``limit``; before a module's first answer nothing says
how large its answers are, so only its next window goes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

MB = 1 << 20
READ_AHEAD_BYTES = 64 * MB  # answers held per source besides each module's next to commit


class ReadAhead:
    """The answers of one source read (or being read) but not yet committed."""

    def __init__(self, limit: int = READ_AHEAD_BYTES) -> None:
        self.limit = limit
        self.held = 0  # bytes of answers read, plus the expected size of those in flight
        self._last: dict[str, int] = {}  # module -> size of its last answer
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def room(self, module: str, next_to_commit: Callable[[], bool]
                   ) -> AsyncIterator[Callable[[int], None]]:
        """Wait for room to read one answer of ``module``; yields ``took(size)`` to call
        once the answer is read. The room is given back on the way out (after the
        commit). ``next_to_commit()`` says whether the window is its module's next."""
        while not (next_to_commit() or self._fits(module)):
            changed = self._changed
            await changed.wait()
        reserved = self._last.get(module, 0)
        self.held += reserved

        def took(size: int) -> None:
            nonlocal reserved
            self.held += size - reserved
            reserved = size
            self._last[module] = size
            self.wake()

        try:
            yield took
        finally:
            self.held -= reserved
            self.wake()

    def wake(self) -> None:
        """Something changed (room given back, a size learnt, a window committed): the
        waiting windows look again."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _fits(self, module: str) -> bool:
        last = self._last.get(module)
        return last is not None and (self.held == 0 or self.held + last <= self.limit)
