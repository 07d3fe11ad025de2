"""Source kinds: the one place that lists the APIs syncd speaks (the seam), as descriptors.

A kind is a package of its own (``syncd.kinds.skybiz``, ``syncd.kinds.cloudonex``),
described here by what the engine needs: its modules (the kind's pure data table), its
default rate, which credentials it takes, its own options (``syncd.kinds.options``: the
config keys only its sources have, with their defaults), and where its syncer and its
checker live — as import paths, resolved only when a pass needs them, so this registry
imports nothing of a kind but its module table. The engine (daemon, commands, status,
metrics) asks this module and never names a kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from syncd.core.model import Module
from syncd.kinds.cloudonex import resources
from syncd.kinds.options import CloudonexOptions, KindOptions, SkybizOptions
from syncd.kinds.skybiz import modules as skybiz


@dataclass(frozen=True, slots=True)
class SourceKind:
    """What the engine knows about one API."""

    name: str  # `kind = "…"` in the config
    label: str  # how sentences name the API
    modules: tuple[Module, ...]
    default_rate: tuple[int, float]  # requests per seconds, per key
    credentials: tuple[str, ...]  # credential file suffixes / env names, e.g. api_key
    options: type[KindOptions]  # its sources' own settings (``SourceConfig.options``)
    windowed: bool  # read by date windows with watermarks and a backfill (backfill_from)
    syncer_path: str  # "module:Class" of its Syncer: (source, conn, *, limiter, backoff,
    #                   observer) -> Syncer
    checker_path: str  # "module:function" of its `syncd check` of one source
    url_hint: str  # an example base_url
    window_days: int = 0  # windowed kinds: the longest date window one request may read
    pushes: bool = False  # has an outbox (`syncd push`)
    writer_path: str | None = None  # "module:Class" of its outbox Writer: (source, client)
    #                                 -> Writer (client None: only validate)
    registers: bool = False  # credentials can be obtained by `syncd register`
    # the request encodings its server may take, the first tried first (CONTRACT §10)
    request_encodings: tuple[str, ...] = ()
    hints_path: str | None = None  # "module:Class" of its webhook HintReader: (syncer) ->
    #                                reader (`syncd webhooks`, CONTRACT §8.2)

    def module(self, name: str) -> Module:
        """The module called ``name``; KeyError lists the known names."""
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(f"unknown module {name!r} for kind {self.name}; known: "
                       f"{', '.join(self.names)}")

    @property
    def config_keys(self) -> tuple[str, ...]:
        """The source table keys only this kind has (its options class declares them)."""
        return self.options.KEYS

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modules)

    def syncer(self) -> Callable[..., Any]:
        """The kind's Syncer class (``syncd.engine.syncer.open_syncer`` builds it)."""
        return _resolve(self.syncer_path)  # type: ignore[no-any-return]

    def checker(self) -> Callable[..., Awaitable[Any]]:
        return _resolve(self.checker_path)  # type: ignore[no-any-return]

    def hints(self) -> Any:
        """The factory of its webhook hint reader (``syncd.service.hooks.Reader``)."""
        if self.hints_path is None:
            raise KeyError(f"kind {self.name} has no webhooks")
        return _resolve(self.hints_path)

    def writer(self) -> Any:
        """The factory of its outbox writer (``syncd.engine.outbox.writer.Writer``)."""
        if self.writer_path is None:
            raise KeyError(f"kind {self.name} has no write-back")
        return _resolve(self.writer_path)


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, SourceKind] = {k.name: k for k in (
    SourceKind(
        name="skybiz", label="SKYBIZ", modules=skybiz.MODULES, default_rate=(5, 10.0),
        credentials=("api_key", "api_secret"),
        options=SkybizOptions,
        windowed=True, syncer_path="syncd.kinds.skybiz.sync:SourceSync",
        checker_path="syncd.kinds.skybiz.check:check_source",
        url_hint="https://example.com/01/clientportal/apiv2/modules",
        window_days=skybiz.MAX_WINDOW_DAYS, pushes=True,
        writer_path="syncd.kinds.skybiz.push.writer:SkybizWriter", registers=True,
        request_encodings=("json", "form")),
    SourceKind(
        name="cloudonex", label="CloudOnex", modules=resources.RESOURCES,
        default_rate=(1000, 3600.0), credentials=("api_key",),
        options=CloudonexOptions, windowed=False,
        syncer_path="syncd.kinds.cloudonex.reader:ResourceSync",
        checker_path="syncd.kinds.cloudonex.check:check_source",
        url_hint="https://crm.example.com/api/v2", pushes=True,
        writer_path="syncd.kinds.cloudonex.push.writer:CloudonexWriter",
        hints_path="syncd.kinds.cloudonex.hints:HintReader"),
)}


# The kind of a source whose table names none: the first API syncd spoke (CONTRACT §2).
DEFAULT = "skybiz"


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
