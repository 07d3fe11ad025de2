"""How a simulated SKYBIZ server behaves: credentials, mode, limits, faults, data volume."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import NamedTuple

from syncd_simulator import fields as skybiz
from syncd_simulator.faults import HeavyDays

FAR_FUTURE = datetime.date(2099, 12, 31)


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """Every knob of the simulator; the defaults give a well-behaved developer-mode server."""

    seed: int = 1
    history_days: int = 730
    today: datetime.date | None = None
    rate_requests: int = 5
    rate_seconds: float = 10.0
    faults: float = 0.0
    api_key: str = "demo-key-0000000000000000"
    api_secret: str = "demo-secret-" + "x" * 52
    mode: int = 2
    expires: datetime.date | None = FAR_FUTURE
    denied_modules: frozenset[str] = field(default_factory=frozenset)
    missing_modules: frozenset[str] = field(default_factory=frozenset)
    create_denied_modules: frozenset[str] = field(default_factory=frozenset)
    nested_documents: bool = False
    form_only: bool = False  # read only form fields (PHP's $_POST): JSON requests get 400
    slow_seconds: float = 2.0
    scale: float = 1.0
    mutations_per_second: float = 0.0  # continuous source changes (soak runs); see churn.py
    heavy: HeavyDays | None = None  # days the server answers only in short windows
    # Masters last modified over this many days back from today (0: over history_days like
    # the documents); more than history_days gives masters older than every document.
    masters_days: int = 0

    def __post_init__(self) -> None:
        if self.history_days < 0 or self.rate_requests < 1 or self.rate_seconds <= 0:
            raise ValueError("history_days >= 0, rate_requests >= 1, rate_seconds > 0")
        if self.masters_days < 0:
            raise ValueError(f"masters_days must be >= 0, got {self.masters_days}")
        if not 0.0 <= self.faults <= 1.0:
            raise ValueError(f"faults must lie in [0, 1], got {self.faults}")
        if self.mode not in (0, 1, 2):
            raise ValueError(f"mode must be 0, 1 or 2, got {self.mode}")
        if self.scale <= 0 or self.slow_seconds < 0 or self.mutations_per_second < 0:
            raise ValueError("scale must be > 0, slow_seconds and mutations_per_second >= 0")
        if not self.api_key or not self.api_secret:
            raise ValueError("api_key and api_secret must not be empty")
        unknown = (self.denied_modules | self.missing_modules
                   | self.create_denied_modules
                   | (self.heavy.modules if self.heavy else frozenset())) - set(skybiz.BY_NAME)
        if unknown:
            raise ValueError(f"unknown modules: {sorted(unknown)}")


class RequestLog(NamedTuple):
    """One request as the simulator saw it; status 0 means the connection was reset."""

    at: float  # the simulator clock (time.monotonic by default) at arrival
    module: str  # registry module name, or the request path when no module matched
    status: int
    date_from: str | None
    date_to: str | None
    fault: str | None
