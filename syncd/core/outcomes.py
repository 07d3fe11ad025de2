"""What a write-back request decided for one outbox document (pure data: the outbox's
SQL, the engine's pusher and each kind's writer speak it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    """The next state of one document and why."""

    state: str  # inserted | rejected | pending (innocent: send again) | sending (unknown)
    error: str | None = None
    category: str | None = None
    created_id: str | None = None
