"""Requests of at most 500 documents, never one name twice in a request (pure).

The API reports outcomes by Doc1No (or CusCode) alone, while Doc1No is unique only per
DocType: two documents sharing a Doc1No go out in different requests, so every name in an
answer points at exactly one document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

MAX_DOCUMENTS = 500  # the API refuses a larger request whole
T = TypeVar("T")


def split(items: Sequence[T], name: Callable[[T], str], limit: int = MAX_DOCUMENTS
          ) -> list[list[T]]:
    """``items`` in order, cut into batches of at most ``limit`` with distinct names."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    batches: list[list[T]] = []
    names: list[set[str]] = []
    for item in items:
        key = name(item)
        # First batch that still has room and does not hold this name yet.
        for batch, taken in zip(batches, names, strict=True):
            if len(batch) < limit and key not in taken:
                batch.append(item)
                taken.add(key)
                break
        else:
            batches.append([item])
            names.append({key})
    return batches
