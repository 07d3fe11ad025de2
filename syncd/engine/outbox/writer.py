"""The seam between the outbox state machine and a kind's writer (types and a Protocol).

A kind's writer knows its documents: the modules it pushes and in which order, their rules,
how they are cut into requests, how an answer decides each of them, and how to look at the
source for a create whose answer was lost. The engine knows only the states.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.core.errors import ApiError
from syncd.core.outcomes import Outcome

OPERATIONS = ("create", "update", "delete")
# on_attempt(attempt, lost): called right before each try goes out; ``lost`` says an
# earlier try of the same request got no answer, so the server may hold its documents.
OnAttempt = Callable[[int, bool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Document:
    """One open outbox row: the JSON text stored and its parsed value (Decimals exact)."""

    id: int
    state: str  # pending | sending
    text: str
    body: Any
    operation: str = "create"
    target_id: str | None = None
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, got {self.operation!r}")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one request decided: an outcome per document it carried; ``again``: the answer
    was lost, so the documents left ``sending`` are looked for and sent again at once."""

    outcomes: dict[int, Outcome]
    request_id: str | None = None
    batch_id: str | None = None
    again: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """A document that will not be created, and why."""

    id: int
    name: str
    state: str  # invalid | rejected
    error: str


@dataclass(slots=True)
class ModulePush:
    """How one module's push went."""

    source: str
    module: str
    inserted: int = 0
    rejected: int = 0
    invalid: int = 0
    waiting: int = 0  # still pending or sending afterwards
    requests: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: ApiError | None = None


class Writer(Protocol):
    """A kind's write-back, built by the registry's ``writer_path`` as
    ``factory(source, client)`` (``client`` None for a dry run)."""

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules it pushes, in push order (masters before documents naming them)."""
        ...

    def name(self, module: str, doc: Document) -> str:
        """How answers and reports name the document."""
        ...

    def validate(self, module: str, doc: Document, position: int) -> list[str]:
        """Every rule the document breaks (``position``: its 1-based place); empty: send."""
        ...

    def duplicate_field(self, module: str) -> str | None:
        """The document field whose equal values among live rows may be duplicates."""
        ...

    def duplicates(self, module: str, live: Sequence[tuple[int, Any, str]]) -> dict[int, str]:
        """Live rows (id, body, canonical text) in id order that must not be sent (conflicting
        or repeated copies of one document): id -> message."""
        ...

    def batches(self, module: str, docs: list[Document]) -> list[list[Document]]:
        """The requests the documents go out in."""
        ...

    async def look_up(self, module: str, docs: list[Document]) -> dict[int, list[str]]:
        """For creates that may exist already: ids of matching records at the source."""
        ...

    async def send(self, module: str, batch: list[Document], uncertain: set[int],
                   on_attempt: OnAttempt) -> Answer:
        """One request with its retries; ``uncertain``: documents an earlier request may
        already have created (``on_attempt`` adds to it when a try gets no answer)."""
        ...
