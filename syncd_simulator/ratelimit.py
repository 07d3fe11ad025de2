"""The server's strict sliding-window rate limit, pure: the caller passes the clock reading."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """At most ``limit`` arrivals per trailing ``seconds``, counted per key (IP or API key)."""

    # Every arrival is recorded, refused ones included, so a client that keeps hammering
    # while limited stays limited: that is how the real server punishes impatience.

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._arrivals: dict[str, deque[float]] = {}

    def hit(self, who: str, now: float) -> float | None:
        """Record an arrival at ``now``; None if allowed, else seconds until a slot frees."""
        arrivals = self._arrivals.setdefault(who, deque())
        # An arrival exactly `seconds` old has left the window: [now - seconds] is open.
        while arrivals and arrivals[0] <= now - self.seconds:
            arrivals.popleft()
        arrivals.append(now)
        if len(arrivals) <= self.limit:
            return None
        # This refused arrival counts too, so the next one passes only once every arrival
        # but the newest `limit - 1` has left the window.
        return arrivals[-self.limit] + self.seconds - now

    def usage(self, who: str, now: float) -> tuple[int, float]:
        """Arrivals counted at ``now``, and when the window next has (another) free slot."""
        arrivals = [t for t in self._arrivals.get(who, ()) if t > now - self.seconds]
        if not arrivals:
            return 0, now
        # Full (refused arrivals included): a slot frees once all but `limit - 1` have left.
        # Otherwise: when the oldest counted arrival leaves.
        first = arrivals[-self.limit] if len(arrivals) >= self.limit else arrivals[0]
        return len(arrivals), first + self.seconds

    @staticmethod
    def retry_after(wait: float) -> int:
        """The Retry-After header value: whole seconds, at least 1."""
        return max(1, math.ceil(wait))
