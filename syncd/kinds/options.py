"""Each kind's own source options: the keys only its sources have, their defaults written
once, checked when the object is made (issue #16).

Pure data at the kind registry's layer (it imports nothing of syncd but core), so the
config may hold them and the registry may name them: a ``SourceKind`` names its options
class, whose ``KEYS`` are the TOML keys its source table takes beyond every source's.
``syncd.config.reader`` parses a table's values into one; a value out of range raises
``OptionError``, which names the key and says what to fix in one plain sentence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

MASTERS_FROM = dt.date(2000, 1, 1)  # masters (read by a modified date) walk back to here
OLDEST_DATE, NEWEST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
PAGE_SIZES = (1, 1000)  # a CloudOnex page: records asked per request, least and most
AUTHS = ("bearer", "query")


class OptionError(ValueError):
    """One option's value is wrong: ``key`` names it, ``what`` says what to fix."""

    def __init__(self, key: str, what: str) -> None:
        super().__init__(f"{key}: {what}")
        self.key, self.what = key, what


def _date_in_range(key: str, value: Any) -> None:
    """A date from 1900-01-01 to 2999-12-31: window arithmetic stays far from its limits."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise OptionError(key, f"{value!r} is not a date; write it as \"YYYY-MM-DD\".")
    if not OLDEST_DATE <= value <= NEWEST_DATE:
        raise OptionError(key, f"{value} is out of range; give a date from {OLDEST_DATE} to "
                          f"{NEWEST_DATE}.")


@dataclass(frozen=True, slots=True)
class SkybizOptions:
    """A SKYBIZ source's own settings: it reads by date windows from a backfill floor."""

    KEYS: ClassVar[tuple[str, ...]] = (
        "backfill_from", "masters_from", "endpoints", "lookback_days", "register_url")

    backfill_from: dt.date  # documents' backfill reads back to here (required)
    masters_from: dt.date = MASTERS_FROM  # masters' backfill stops here
    register_url: str | None = None  # where `syncd register` posts (the docs name none)
    renewal_date: dt.date | None = None  # stored by `syncd register`, when the API gave one

    def __post_init__(self) -> None:
        _date_in_range("backfill_from", self.backfill_from)
        _date_in_range("masters_from", self.masters_from)
        if self.renewal_date is not None and not isinstance(self.renewal_date, dt.date):
            raise OptionError("renewal_date", f"{self.renewal_date!r} is not a date.")


@dataclass(frozen=True, slots=True)
class CloudonexOptions:
    """A CloudOnex source's own settings: it reads resources page by page."""

    KEYS: ClassVar[tuple[str, ...]] = ("page_size", "lookback_days", "auth")

    page_size: int = 100  # records asked per page
    full_read_seconds: float = 6 * 3600.0  # [schedule] full_read: how often a resource is
    #                                        read completely at least (0: every pass)
    auth: str = "bearer"  # "query" sends ?api_key= (for servers that drop the header)

    def __post_init__(self) -> None:
        low, high = PAGE_SIZES
        if isinstance(self.page_size, bool) or not isinstance(self.page_size, int) \
                or not low <= self.page_size <= high:
            raise OptionError("page_size", f"must be a whole number from {low} to {high}.")
        seconds = self.full_read_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
                or not 0 <= seconds < float("inf"):
            raise OptionError("full_read_seconds", "must be 0 or a positive, finite number "
                              "of seconds.")
        if self.auth not in AUTHS:
            raise OptionError("auth", 'must be "bearer" (the Authorization header, the '
                              'default) or "query" (?api_key=, for servers that drop the '
                              'header).')


# What a source's ``options`` is: its kind's options class (``SourceKind.options``).
KindOptions = SkybizOptions | CloudonexOptions
