"""API hosts: the server limits every key *and every IP*, so all sources on one host share
one limiter (and one capacity figure)."""

from __future__ import annotations

from urllib.parse import urlsplit

from syncd.config import SourceConfig
from syncd.limiter import RateLimiter


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
        strictest = min(group, key=lambda s: s.rate_limit.requests / s.rate_limit.per_seconds)
        margin = max(s.rate_limit.margin_seconds for s in group)
        rl = strictest.rate_limit
        limiter = RateLimiter(rl.requests, rl.per_seconds, margin=margin)
        shared.update((s.name, limiter) for s in group)
    return shared
