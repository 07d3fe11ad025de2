"""Reading one window in pieces when the server cannot answer it whole (CONTRACT §9).

The maths lives in ``splits.py``; this holds one module's state for a pass — its current
size and its remembered spans — and the loop around the fetch: split a window after two
failures at one size, remember the split, grow back after each success, and turn a single
day that still fails into the module's one sentence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import structlog

from syncd.core.errors import RetriesExhausted, WindowTooLarge, says_nothing_of_size
from syncd.core.splits import Span, grow, halve, next_piece, rest
from syncd.core.windows import Window

log = structlog.get_logger("syncd.sync")
T = TypeVar("T")
SPLIT_AFTER = 2  # failures at one size before a window is read in halves

# fetch(piece, split_after, spent): read and load one piece; ``split_after`` is None for a
# single day (nothing smaller exists: the whole retry budget applies), ``spent`` the
# requests the failed larger tries cost, to be counted on the piece that loads.
Fetch = Callable[[Window, int | None, int], Awaitable[T]]


class PieceReader:
    """Reads the windows of one module of one pass, splitting those the server cannot answer."""

    def __init__(self, source: str, module: str, spans: Iterable[Span],
                 remember: Callable[[Span], Awaitable[None]], *, max_days: int) -> None:
        self.source, self.module = source, module
        self.spans = list(spans)
        self.max_days = max_days  # the kind's longest window
        self.size = max_days  # what the next piece may be; halves on failure, doubles on success
        # Growing back stays below a size that failed in two places apart: such a limit is
        # the server's rather than one heavy day's, and trying that size again would cost
        # two refused requests each time (CONTRACT §9: at most two failures per size).
        self.ceiling = max_days
        self._failed: list[Window] = []
        self._remember = remember

    async def read(self, window: Window, fetch: Fetch[T]) -> list[T]:
        """Every piece of ``window`` read and loaded, in order; their results."""
        results: list[T] = []
        remaining: Window | None = window
        spent = 0
        while remaining is not None:
            piece = next_piece(remaining, self.size, self.spans)
            try:
                results.append(await fetch(piece, SPLIT_AFTER if piece.days > 1 else None, spent))
            except WindowTooLarge as exc:
                spent += exc.requests
                await self._split(piece, exc)
                continue
            except RetriesExhausted as exc:
                # Rate limits and an unreachable server say nothing about the day.
                if piece.days > 1 or says_nothing_of_size(exc.__cause__):
                    raise
                raise _unanswerable(piece, exc) from exc
            spent = 0
            self.size = grow(self.size, self.ceiling)
            remaining = rest(remaining, piece)
        return results

    async def _split(self, piece: Window, exc: WindowTooLarge) -> None:
        if any(f.days <= piece.days and (f.date_to < piece.date_from
                                         or piece.date_to < f.date_from)
               for f in self._failed):
            self.ceiling = max(1, min(self.ceiling, piece.days - 1))
        self._failed.append(piece)
        self.size = halve(piece.days)
        span = Span(piece.date_from, piece.date_to, self.size)
        self.spans.append(span)
        await self._remember(span)
        log.warning("sync.window_split", source=self.source, module=self.module,
                    window=str(piece), purpose=piece.purpose.value, days=self.size,
                    requests=exc.requests, http_status=exc.status, request_id=exc.request_id)


def _unanswerable(piece: Window, exc: RetriesExhausted) -> RetriesExhausted:
    """The module's one sentence when a single day still fails after the whole budget."""
    said = str(exc).removeprefix(f"{exc.module}: ").split("; gave up")[0]
    cause = (f"HTTP {exc.status}" + (f" {exc.message}" if exc.message else "")
             if exc.status else said if "answer" in said else "no complete answer")
    ref = f" (request_id {exc.request_id})" if exc.request_id else ""
    return RetriesExhausted(
        f"{exc.module}: the server cannot answer {piece.date_from} even as a one-day window "
        f"({cause}); syncd retries it next pass — if it keeps failing, ask SKYBIZ support "
        f"why {exc.module} of that day cannot be read{ref}.",
        status=exc.status, message=exc.message, request_id=exc.request_id, module=exc.module)
