"""Source kinds: the one place that lists the APIs syncd speaks (the seam).

A kind is a package of its own (``syncd.skybiz``, ``syncd.cloudonex``), described here by
what the engine needs: its modules, its default rate, which credentials it takes, its own
config keys, and where its syncer and its checker live. The engine (daemon, commands,
status, metrics) asks this module and never names a kind; the syncer is imported only when
a pass needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from syncd.core.model import Module
from syncd.kinds.cloudonex import resources
from syncd.kinds.skybiz import modules as skybiz

if TYPE_CHECKING:
    import datetime as dt

    from syncd.core.results import Cycle, ModuleRun, ResyncRange
    from syncd.core.windows import Purpose
    from syncd.engine.progress import Progress
    from syncd.warehouse.loader import Loader


class Syncer(Protocol):
    """One source's passes over one warehouse connection (an async context manager).

    ``loader.turn()`` guards the connection between loads; ``client`` is the kind's API
    client (write-back uses it where the kind has one)."""

    loader: Loader
    client: Any

    async def __aenter__(self) -> Syncer: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def run(self, modules: tuple[str, ...], progress: Progress, *, now: dt.datetime,
                  purposes: frozenset[Purpose] = ..., resync: ResyncRange | None = None,
                  cycle: Cycle | None = None) -> list[ModuleRun]: ...


@dataclass(frozen=True, slots=True)
class SourceKind:
    """What the engine knows about one API."""

    name: str  # `kind = "…"` in the config
    label: str  # how sentences name the API
    modules: tuple[Module, ...]
    default_rate: tuple[int, float]  # requests per seconds, per key
    credentials: tuple[str, ...]  # credential file suffixes / env names, e.g. api_key
    config_keys: tuple[str, ...]  # the source table keys only this kind has
    windowed: bool  # read by date windows with watermarks and a backfill (backfill_from)
    syncer_path: str  # "module:Class" of its Syncer: (source, conn, *, limiter, backoff,
    #                   observer) -> Syncer
    checker_path: str  # "module:function" of its `syncd check` of one source
    url_hint: str  # an example base_url
    pushes: bool = False  # has an outbox (`syncd push`)
    registers: bool = False  # credentials can be obtained by `syncd register`

    def module(self, name: str) -> Module:
        """The module called ``name``; KeyError lists the known names."""
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(f"unknown module {name!r} for kind {self.name}; known: "
                       f"{', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modules)

    def syncer(self) -> Callable[..., Syncer]:
        return _resolve(self.syncer_path)  # type: ignore[no-any-return]

    def checker(self) -> Callable[..., Awaitable[Any]]:
        return _resolve(self.checker_path)  # type: ignore[no-any-return]


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, SourceKind] = {k.name: k for k in (
    SourceKind(
        name="skybiz", label="SKYBIZ", modules=skybiz.MODULES, default_rate=(5, 10.0),
        credentials=("api_key", "api_secret"),
        config_keys=("backfill_from", "endpoints", "lookback_days", "register_url"),
        windowed=True, syncer_path="syncd.kinds.skybiz.sync:SourceSync",
        checker_path="syncd.kinds.skybiz.check:check_source",
        url_hint="https://example.com/01/clientportal/apiv2/modules", pushes=True,
        registers=True),
    SourceKind(
        name="cloudonex", label="CloudOnex", modules=resources.RESOURCES,
        default_rate=(1000, 3600.0), credentials=("api_key",),
        config_keys=("page_size", "lookback_days", "auth"), windowed=False,
        syncer_path="syncd.kinds.cloudonex.reader:ResourceSync",
        checker_path="syncd.kinds.cloudonex.check:check_source",
        url_hint="https://crm.example.com/api/v2"),
)}


def get(name: str) -> SourceKind:
    """The kind called ``name``; KeyError names the supported ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"kind {name!r} is not supported; use one of "
                       f"{', '.join(KINDS)}") from None


def all_module_names() -> tuple[str, ...]:
    """Every module name of every kind (for tables keyed by module name)."""
    return tuple(dict.fromkeys(m.name for k in KINDS.values() for m in k.modules))
