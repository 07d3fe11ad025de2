"""API hosts: the server limits every key *and every IP*, so all sources on one host share
one limiter (and one capacity figure)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from syncd.config import RateLimit, SourceConfig
from syncd.engine.limiter import RateLimiter


def host_of(source: SourceConfig) -> str:
    """The limiter's key: ``host:port`` of ``base_url`` (what ``limiters_for`` groups by)."""
    return urlsplit(source.base_url).netloc.lower()


def limiters_for(sources: list[SourceConfig]) -> dict[str, RateLimiter]:
    """One limiter per API host, shared by every source on it: the server limits per key
    *and per IP*, so two stores synced from one box through one host share its budget.
    Where their settings differ, the strictest rate and the widest margin apply."""
    by_host: dict[str, list[SourceConfig]] = {}
    for s in sources:
        by_host.setdefault(host_of(s), []).append(s)
    shared: dict[str, RateLimiter] = {}
    for group in by_host.values():
        rate = host_rate(s.rate_limit for s in group)
        limiter = RateLimiter(rate.requests, rate.per_seconds, margin=rate.margin_seconds)
        shared.update((s.name, limiter) for s in group)
    return shared


def host_rate(rates: Iterable[RateLimit]) -> RateLimit:
    """The rate sources sharing a host are held to: the strictest, with the widest margin."""
    rates = list(rates)
    strictest = min(rates, key=lambda r: r.requests / r.per_seconds)
    return RateLimit(strictest.requests, strictest.per_seconds,
                     max(r.margin_seconds for r in rates))
