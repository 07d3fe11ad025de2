"""How a simulated CloudOnex server behaves: key, limits, data volume, quirks and faults."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd_simulator.cloudonex import resources
from syncd_simulator.cloudonex.faults import Fault


@dataclass(frozen=True, slots=True)
class Drift:
    """A one-shot change made right after page ``after_page`` of a listing was served."""

    after_page: int = 1
    insert: int = 0  # new records (new highest ids: later pages shift down, rows repeat)
    delete: int = 0  # records already served are deleted (later pages shift up, rows skipped)

    def __post_init__(self) -> None:
        if self.after_page < 1 or self.insert < 0 or self.delete < 0:
            raise ValueError("drift needs after_page >= 1, insert >= 0 and delete >= 0")


@dataclass(frozen=True, slots=True)
class CloudOnexOptions:
    """Every knob; the defaults give a strict server that answers exactly as documented.

    Quirks of real servers, each off by default: ``numbers_as_strings`` (ids, money and
    quantities as JSON strings such as "1500.00", "17"), ``zoneless_datetimes``
    (created_at/updated_at as "2024-01-15 10:00:00" in ``timezone`` instead of ISO with
    "Z"), ``stale_updated_at`` (edits keep updated_at; inserted records have it null),
    ``bare_array`` (the body is the page's bare JSON array: no envelope, no meta),
    ``extra_fields`` (undocumented fields such as ``currency`` and ``tags``),
    ``html_not_found`` (an unknown resource answers an HTML 404 page, not JSON),
    ``no_meta`` (the envelope without ``meta``, as 004_'s invoices example answers),
    ``drop_authorization`` (the web server never passes the ``Authorization`` header on, as
    PHP under CGI/FastCGI: only ``?api_key=`` authenticates).
    """

    seed: int = 1
    api_key: str = "cloudonex-demo-key-00000000"
    records: Mapping[str, int] = field(default_factory=dict)  # per resource; else count*scale
    scale: float = 1.0
    history_days: int = 365
    today: datetime.date | None = None  # default: today in ``timezone``
    timezone: str = "Asia/Kuala_Lumpur"
    limit_cap: int = 100  # larger ``limit`` values are silently capped
    rate_requests: int = 1000
    rate_seconds: float = 3600.0
    rate_headers: bool = True
    forbidden: frozenset[str] = frozenset()  # resources the key may not read: 403
    numbers_as_strings: bool = False
    zoneless_datetimes: bool = False
    stale_updated_at: bool = False
    bare_array: bool = False
    extra_fields: bool = False
    html_not_found: bool = False
    no_meta: bool = False
    drop_authorization: bool = False
    faults: float = 0.0  # probability of an injected fault per authorised request
    fault_kinds: frozenset[Fault] = frozenset(Fault)
    slow_seconds: float = 2.0
    mutations_per_minute: float = 0.0  # continuous random inserts, edits and deletes
    # Armed at start; a plain mapping such as {"after_page": 1, "insert": 3} also does.
    drift: Mapping[str, Drift | Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drift", {  # frozen: normalised once, here
            name: d if isinstance(d, Drift) else Drift(**d) for name, d in self.drift.items()})
        unknown = (set(self.records) | set(self.forbidden) | set(self.drift)) - set(
            resources.NAMES)
        if unknown:
            raise ValueError(f"unknown CloudOnex resources: {sorted(unknown)}")
        if any(n < 0 for n in self.records.values()) or self.scale <= 0:
            raise ValueError("records must be >= 0 and scale > 0")
        if self.history_days < 0 or self.limit_cap < 1 or self.slow_seconds < 0:
            raise ValueError("history_days >= 0, limit_cap >= 1, slow_seconds >= 0")
        if self.rate_requests < 1 or self.rate_seconds <= 0:
            raise ValueError("rate_requests >= 1 and rate_seconds > 0")
        if not 0.0 <= self.faults <= 1.0 or not self.fault_kinds:
            raise ValueError(f"faults must lie in [0, 1] with some fault_kinds: {self.faults}")
        if self.mutations_per_minute < 0 or not self.api_key:
            raise ValueError("mutations_per_minute >= 0 and a non-empty api_key")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None

    def drifts(self) -> dict[str, Drift]:
        """The drift armed at start, per resource (plain mappings became ``Drift`` above)."""
        return {name: d for name, d in self.drift.items() if isinstance(d, Drift)}

    @property
    def zone(self) -> ZoneInfo:
        """The server's time zone."""
        return ZoneInfo(self.timezone)

    def count(self, resource: str) -> int:
        """How many records ``resource`` starts with."""
        given = self.records.get(resource)
        return given if given is not None else round(resources.get(resource).count * self.scale)


class CloudOnexRequest(NamedTuple):
    """One API request as the simulator saw it."""

    at: float  # the simulator clock (time.monotonic by default) at arrival
    method: str
    path: str
    query: dict[str, str]
    status: int
    fault: str | None  # the injected fault, if any

    @property
    def limited(self) -> bool:
        """Whether the answer was 429 Too Many Requests (real or injected)."""
        return self.status == 429
