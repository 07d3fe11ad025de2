"""The misbehaviours real CloudOnex servers and their proxies show, injected with a seeded RNG."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from enum import StrEnum


class Fault(StrEnum):
    """One kind of injected misbehaviour."""

    SERVER_ERROR = "server_error"  # 500 with the JSON error envelope
    SERVER_ERROR_HTML = "server_error_html"  # 500 with a PHP fatal-error HTML page
    HTML_200 = "html_200"  # 200 OK whose body is an HTML error page, not JSON
    BAD_GATEWAY = "bad_gateway"  # 502 from the reverse proxy, HTML
    SLOW = "slow"  # the normal answer after ``slow_seconds`` (a client timeout, if shorter)
    TRUNCATED = "truncated"  # the body stops mid-JSON
    RATE_LIMITED = "rate_limited"  # a 429 although the key's budget is not spent


PHP_FATAL = (
    "<br />\n<b>Fatal error</b>:  Uncaught PDOException: SQLSTATE[HY000] [2002] "
    "Connection refused in /var/www/html/system/orm.php:1195<br />\n"
)
ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Error</title></head><body>\n"
    "<h1>Whoops, looks like something went wrong.</h1>\n</body></html>\n"
)
BAD_GATEWAY = (
    "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
    "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n"
)


class FaultPlan:
    """Decides, request by request and reproducibly from the seed, which fault to inject."""

    def __init__(self, probability: float, seed: int, kinds: Iterable[Fault]) -> None:
        self.probability = probability
        self._kinds = sorted(kinds)  # sorted: a frozenset's order is not reproducible
        self._rng = random.Random(f"{seed}:cloudonex-faults")
        self._queued: deque[Fault] = deque()

    def queue(self, fault: Fault, count: int = 1) -> None:
        """Inject ``fault`` into the next ``count`` authorised requests, before any dice."""
        self._queued.extend([fault] * count)

    def roll(self) -> Fault | None:
        """The fault for the next request, or None for a healthy answer."""
        if self._queued:
            return self._queued.popleft()
        if self.probability <= 0 or self._rng.random() >= self.probability:
            return None
        return self._rng.choice(self._kinds)
