"""The status document (CONTRACT §5) as types: what `status --json`, `/status.json`, the
status page, the text report and the gauges all read. Keys in ``NotRequired`` are present
only where they apply (paged kinds, the daemon's view)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ModuleDoc(TypedDict):
    module: str
    high_watermark: str | None
    low_watermark: str | None
    backfill_complete: bool
    backfill_progress: float
    rows: int
    deleted_rows: int
    last_success_at: str | None
    last_error: str | None
    new_fields: list[str]
    unparsed_values: int
    last_full_read_at: NotRequired[str | None]  # paged kinds: the last complete read
    requests_last_hour: NotRequired[int]  # the daemon's view
    rate_limited_last_hour: NotRequired[int]
    freshness_target: NotRequired[float]  # seconds the data may be old (§11)
    age_seconds: NotRequired[float | None]  # now - the newest committed read
    stale: NotRequired[bool]  # age above target (or never read)
    target_met: NotRequired[bool]  # the host's rate can keep it within its target


class BudgetDoc(TypedDict):
    """A paged kind's API budget as its server announced it last."""

    limit: int
    per_seconds: float
    remaining: int | None
    reset_at: str | None
    observed_at: str | None
    complete_reads_limit: NotRequired[int]  # of the hour, at most (the rest is for fresh)
    push_limit: NotRequired[int]  # of the hour, at most, for write-back


class CapacityDoc(TypedDict):
    """How often the host's rate lets each module be read (``syncd.capacity``)."""

    host: str
    sources_on_host: int
    requests_per_round: int
    rate: str
    margin_seconds: float
    min_interval_seconds: int
    min_interval_while_backfilling_seconds: int
    interval_seconds: float
    load: float
    meets_interval: bool
    first_run_requests: int  # every backfill of the host's sources, whole
    first_run_seconds: int  # ... at the host's full rate
    summary: str
    warning: str | None


class SourceDoc(TypedDict):
    name: str
    kind: str
    modules: list[ModuleDoc]
    renewal_date: str | None
    leader: str | None  # "HOST:PID" of the leading instance
    outbox: dict[str, dict[str, int]]
    capacity: CapacityDoc | None
    budget: NotRequired[BudgetDoc]  # paged kinds
    freshness_warning: NotRequired[str | None]  # targets the host's rate cannot meet
    last_webhook_at: NotRequired[str | None]  # kinds with webhooks (CONTRACT §8.2)
    request_encoding: NotRequired[str]  # kinds that post bodies: json, or form (§10)
    role: NotRequired[str]  # the daemon's view: leader / standby
    backfill_from: NotRequired[str | None]
    today: NotRequired[str]
    timezone: NotRequired[str]  # the daemon's view: the zone the source's times are in


class OpenDoc(TypedDict):
    """An alert open now (§11)."""

    scope: str  # a source, "host:H" or "instance:H:P"
    module: str | None
    condition: str
    opened_at: str  # UTC
    what: str


class StatusDoc(TypedDict):
    sources: list[SourceDoc]
    alerts: NotRequired[list[OpenDoc]]  # the daemon's view: alerts open now
