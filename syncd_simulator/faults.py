"""The misbehaviours a real PHP server shows now and then, injected with a seeded RNG."""

from __future__ import annotations

import asyncio
import datetime
import random
import socket
import struct
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """One kind of injected misbehaviour."""

    INTERNAL_ERROR = "internal_error"  # 500 "Internal server error"
    DATABASE_DOWN = "database_down"  # 500 "Database connection failed"
    TRUNCATED = "truncated"  # the body stops mid-JSON (Content-Length matches the stub)
    PHP_WARNING = "php_warning"  # a PHP warning printed before the JSON, as text/html
    SLOW = "slow"  # the normal answer, after ``slow_seconds``
    RESET = "reset"  # the connection is reset without any answer
    HEAVY = "heavy"  # out of memory on a window too long for its days (``HeavyDays``)


_RANDOM = [f for f in Fault if f is not Fault.HEAVY]  # HEAVY follows the dates, not the dice


SERVER_ERRORS = {
    Fault.INTERNAL_ERROR: "Internal server error",
    Fault.DATABASE_DOWN: "Database connection failed",
}
PHP_WARNING = (
    '<br />\n<b>Warning</b>:  Undefined array key "x" in '
    "/var/www/api/modules/{endpoint} on line 42<br />\n"
)
PHP_OUT_OF_MEMORY = (
    "<br />\n<b>Fatal error</b>:  Allowed memory size of 134217728 bytes exhausted (tried "
    "to allocate 20480 bytes) in /var/www/api/modules/{endpoint} on line 88<br />\n"
)


@dataclass(frozen=True, slots=True)
class HeavyDays:
    """Days so heavy that a window longer than ``max_days`` covering any of them runs the
    PHP process out of memory: a 500 (after ``slow_seconds`` when ``hang``, as a server
    killed by its time limit answers). ``max_days`` 0: not even a single day is answered."""

    date_from: datetime.date
    date_to: datetime.date
    max_days: int = 7
    hang: bool = False
    modules: frozenset[str] = frozenset()  # empty: every module is that heavy

    def __post_init__(self) -> None:
        if self.date_from > self.date_to or not 0 <= self.max_days <= 31:
            raise ValueError("heavy days need date_from <= date_to and max_days in 0..31")

    def overwhelms(self, module: str, date_from: datetime.date, date_to: datetime.date) -> bool:
        """Whether a read of ``module`` over ``date_from..date_to`` runs out of memory."""
        days = (date_to - date_from).days + 1
        return (days > self.max_days and date_from <= self.date_to and self.date_from <= date_to
                and (not self.modules or module in self.modules))


class FaultPlan:
    """Decides, request by request and reproducibly from the seed, which fault to inject."""

    def __init__(self, probability: float, seed: int) -> None:
        self.probability = probability
        self._rng = random.Random(f"{seed}:faults")

    def roll(self) -> Fault | None:
        """The fault for the next request, or None for a healthy answer."""
        if self.probability <= 0 or self._rng.random() >= self.probability:
            return None
        return self._rng.choice(_RANDOM)


def truncate(text: str) -> str:
    """A strict prefix of a JSON document, which is never valid JSON itself."""
    return text[: max(1, len(text) // 2)] if len(text) > 1 else ""


def reset(transport: asyncio.BaseTransport | None) -> None:
    """Drop the connection with a TCP RST instead of an answer."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger on with a zero timeout makes close() send RST rather than FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()
