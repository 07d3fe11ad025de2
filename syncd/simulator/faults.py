"""The misbehaviours a real PHP server shows now and then, injected with a seeded RNG."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from enum import StrEnum


class Fault(StrEnum):
    """One kind of injected misbehaviour."""

    INTERNAL_ERROR = "internal_error"  # 500 "Internal server error"
    DATABASE_DOWN = "database_down"  # 500 "Database connection failed"
    TRUNCATED = "truncated"  # the body stops mid-JSON (Content-Length matches the stub)
    PHP_WARNING = "php_warning"  # a PHP warning printed before the JSON, as text/html
    SLOW = "slow"  # the normal answer, after ``slow_seconds``
    RESET = "reset"  # the connection is reset without any answer


SERVER_ERRORS = {
    Fault.INTERNAL_ERROR: "Internal server error",
    Fault.DATABASE_DOWN: "Database connection failed",
}
PHP_WARNING = (
    '<br />\n<b>Warning</b>:  Undefined array key "x" in '
    "/var/www/api/modules/{endpoint} on line 42<br />\n"
)


class FaultPlan:
    """Decides, request by request and reproducibly from the seed, which fault to inject."""

    def __init__(self, probability: float, seed: int) -> None:
        self.probability = probability
        self._rng = random.Random(f"{seed}:faults")

    def roll(self) -> Fault | None:
        """The fault for the next request, or None for a healthy answer."""
        if self.probability <= 0 or self._rng.random() >= self.probability:
            return None
        return self._rng.choice(list(Fault))


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
