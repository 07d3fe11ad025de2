"""A window's records as COPY rows for its module's tables (pure: no I/O).

Two passes over the records (``msgspec.Raw`` views of the body):

1. ``WindowRows.keys`` groups records into units — a document (its header and lines,
   flat or nested) or a master record — and yields one COPY row per unit: its position,
   its typed key, its modification time (masters) and a hash of its bytes as received.
   The warehouse answers which units are new or changed.
2. ``lines`` and ``headers`` decode only those units and yield their typed rows.

A re-read of unchanged data therefore costs a key decode and a hash per record, and
nothing is written. Source-neutral: schema, table, key and fields come from the Module.
"""

from __future__ import annotations

import functools
import hashlib
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from syncd import copytext
from syncd.body import ABSENT, Num
from syncd.copytext import BAD, NULL
from syncd.registry import Field, Module

CHUNK = 1 << 20  # bytes of COPY data handed over at a time
LOAD_FORMAT = b"syncd-rows-1"  # part of every unit hash: a new format rewrites rows once


@dataclass(frozen=True, slots=True)
class Shape:
    """What the row builders need to know about one module, compiled once."""

    module: Module
    fields: tuple[Field, ...]  # header then line fields, as the record struct holds them
    key: tuple[Field, ...]
    key_attrs: tuple[str, ...]  # the key fields' attributes on a record struct
    modified: Field | None
    salt: bytes  # hash key: a registry change invalidates stored hashes
    row: Callable[[Any], tuple[copytext.Field, ...]]  # header fields of a record
    line: Callable[[Any], tuple[copytext.Field, ...]]  # line fields of a record
    has_line: Callable[[Any], bool]  # a flat record carries a line (some detail set)
    key_decoder: msgspec.json.Decoder[Any]
    structs: dict[frozenset[str], msgspec.json.Decoder[Any]] = field(default_factory=dict)

    def decoder(self, extra: frozenset[str]) -> msgspec.json.Decoder[Any]:
        """A strict decoder for the known fields plus ``extra`` (fields seen, not typed)."""
        found = self.structs.get(extra)
        if found is None:
            names = [f.name for f in self.fields] + sorted(extra)
            found = self.structs[extra] = _decoder(names, items=bool(self.module.lines),
                                                   strict=True)
        return found


def _decoder(names: list[str], *, items: bool, strict: bool) -> msgspec.json.Decoder[Any]:
    """Struct attributes are f0, f1 … renamed to the API's names (any spelling works)."""
    spec: list[tuple[str, Any, Any]] = [(f"f{i}", Any, None) for i in range(len(names))]
    rename = {f"f{i}": n for i, n in enumerate(names)}
    if items and "items" not in names:
        spec.append(("items", msgspec.Raw, ABSENT))
    struct = msgspec.defstruct("Record", spec, rename=rename, gc=False,
                               forbid_unknown_fields=strict)
    return msgspec.json.Decoder(struct, float_hook=Num)


def _attrs(fields: Iterable[Field], offset: int = 0) -> list[tuple[str, Field]]:
    return [(f"f{i}", f) for i, f in enumerate(fields, offset)]


def _expression(attr: str, f: Field) -> str:
    """One field's COPY text; the common cases inline (6.6 M values in a big window)."""
    if f.type == "text":
        return (f"(x if type(x := r.{attr}) is str and x.isprintable() and '\\\\' not in x "
                f"else text(x))")
    if f.type == "numeric":
        return (f"(x if type(x := r.{attr}) is Num and 'e' not in x and 'E' not in x "
                f"else {f.type}(x))")
    return f"{f.type}(r.{attr})"


def _compile(name: str, body: str) -> Callable[[Any], Any]:
    """A function from generated source: an unrolled per-field expression runs about twice
    as fast as a loop over converters, and the loader runs it for every value."""
    namespace: dict[str, Any] = {"Num": Num, "text": copytext.text}
    namespace |= {str(kind): conv for kind, conv in copytext.CONVERTERS.items()}
    exec(f"def {name}(r):\n    return {body}\n", namespace)  # noqa: S102 - source built above
    fn: Callable[[Any], Any] = namespace[name]
    return fn


@functools.cache
def shape(module: Module) -> Shape:
    """The compiled row builders of ``module``."""
    fields = module.header + module.lines
    attrs = {f.name: a for a, f in _attrs(fields)}
    header = _attrs(module.header)
    lines = _attrs(module.lines, len(module.header))
    row = _compile("row", "(" + "".join(_expression(a, f) + ", " for a, f in header) + ")")
    line = _compile("line", "(" + "".join(_expression(a, f) + ", " for a, f in lines) + ")")
    has_line = _compile("has_line", " or ".join(f"r.{a} is not None" for a, _ in lines)
                        or "False")
    key = tuple(next(f for f in module.header if f.name == k) for k in module.key)
    modified = next((f for f in module.header if f.name == module.modified_field), None)
    wanted = [f.name for f in key] + ([modified.name] if modified else [])
    salt = hashlib.blake2b(LOAD_FORMAT + repr(fields).encode() + repr(module.key).encode(),
                           digest_size=32).digest()
    return Shape(module, fields, key, tuple(attrs[f.name] for f in key), modified, salt,
                 row, line, has_line,
                 _decoder(wanted, items=False, strict=False), {
                     frozenset(): _decoder(list(attrs), items=bool(module.lines),
                                           strict=True)})


@dataclass(slots=True)
class Tally:
    """What the rows built so far amount to."""

    headers: int = 0
    lines: int = 0
    unparsed: int = 0


class WindowRows:
    """The COPY rows of one window of one module (see the module docstring)."""

    def __init__(self, shape: Shape, records: list[msgspec.Raw], source: str) -> None:
        self.shape, self.records, self.source = shape, records, copytext.escape(source)
        self.unit_of = array("q", [-1]) * len(records)  # record -> its unit's first record
        self.units = 0
        self.changed: set[int] = set()
        self.tally = Tally()
        self.new_fields: set[str] = set()
        self._window_hash = hashlib.blake2b(digest_size=16)
        self._digests: dict[int, bytes] = {}
        self._headers: list[bytes] = []

    @property
    def content_hash(self) -> str:
        """A hash of every unit's bytes as received, in order (after ``keys``)."""
        return self._window_hash.hexdigest()

    # ---- pass 1 -------------------------------------------------------------------------

    def keys(self) -> Iterator[bytes]:
        """COPY rows (ord, key…, [modified], _hash) of every unit with a complete key."""
        s = self.shape
        decode = s.key_decoder.decode
        convs = [copytext.CONVERTERS[f.type] for f in s.key]
        modified = copytext.CONVERTERS[s.modified.type] if s.modified else None
        groups: dict[tuple[copytext.Field, ...], tuple[int, Any]] = {}
        units: list[tuple[int, tuple[copytext.Field, ...], copytext.Field | None]] = []
        for i, raw in enumerate(self.records):
            rec = decode(raw)
            key = tuple(c(getattr(rec, f"f{j}")) for j, c in enumerate(convs))
            if NULL in key or BAD in key:
                continue  # no key, no row: nothing could ever find or replace it
            if modified is not None:
                mod = modified(getattr(rec, f"f{len(convs)}"))
                self.unit_of[i] = i
                self._digests[i] = hashlib.blake2b(raw, digest_size=16, key=s.salt).digest()
                units.append((i, key, mod))
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = (i, hashlib.blake2b(digest_size=16, key=s.salt))
                units.append((i, key, None))
            self.unit_of[i] = group[0]
            group[1].update(raw)
        for first, hasher in groups.values():
            self._digests[first] = hasher.digest()
        self.units = len(units)
        rows = []
        for first, unit_key, unit_mod in units:
            digest = self._digests[first]
            self._window_hash.update(digest)
            newest = () if unit_mod is None else (unit_mod,)
            cols = (str(first), *unit_key, *newest, copytext.bytea(digest))
            rows.append(_join(cols, []).encode() + b"\n")
        yield from _chunks(rows)

    # ---- pass 2 -------------------------------------------------------------------------

    def lines(self) -> Iterator[bytes]:
        """COPY rows of the changed documents' lines; their header rows are kept for
        ``headers``. A module without lines yields nothing here."""
        if not self.shape.module.lines:
            return
        yield from _chunks(self._document_rows())

    def headers(self) -> Iterator[bytes]:
        """COPY rows of the changed units' header (or master) rows."""
        if self.shape.module.lines:
            rows: Iterable[bytes] = self._headers
        else:
            rows = (self._header_row(i, self._decode(self.records[i]), self.records[i])
                    for i in sorted(self.changed))
        yield from _chunks(rows)
        self._headers = []

    def _document_rows(self) -> Iterator[bytes]:
        s = self.shape
        keys = [(copytext.CONVERTERS[f.type], a) for f, a in zip(s.key, s.key_attrs, strict=True)]
        seq: dict[int, int] = {}
        key_of: dict[int, str] = {}
        for i, raw in enumerate(self.records):
            unit = self.unit_of[i]
            if unit < 0 or unit not in self.changed:
                continue
            rec = self._decode(raw)
            if unit == i:
                self._headers.append(self._header_row(i, rec, raw))
                key_of[unit] = _join([c(getattr(rec, a)) for c, a in keys], [])
            key = key_of[unit]
            nested = _items(rec)
            if nested is None:
                if s.has_line(rec):
                    seq[unit] = n = seq.get(unit, 0) + 1
                    yield self._line_row(key, n, rec, raw)
                continue
            for item in nested:
                seq[unit] = n = seq.get(unit, 0) + 1
                yield self._line_row(key, n, self._decode(item), item)

    def _decode(self, raw: msgspec.Raw) -> Any:
        """The record as a struct; unknown fields are noted and the decoder widened."""
        extra = frozenset(self.new_fields)
        try:
            return self.shape.decoder(extra).decode(raw)
        except msgspec.ValidationError:
            names = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
            known = {f.name for f in self.shape.fields} | {"items"}
            self.new_fields |= set(names) - known
            return self.shape.decoder(frozenset(self.new_fields)).decode(raw)

    def _header_row(self, i: int, rec: Any, raw: msgspec.Raw) -> bytes:
        self.tally.headers += 1
        bad: list[int] = []
        head = _join((self.source, *self.shape.row(rec), ""), bad)
        self.tally.unparsed += len(bad)
        return (head.encode() + copytext.raw_field(_without_items(rec, raw))
                + f"\t{copytext.bytea(self._digests[i])}\n".encode())

    def _line_row(self, key: str, seq: int, rec: Any, raw: msgspec.Raw) -> bytes:
        self.tally.lines += 1
        bad: list[int] = []
        head = _join((self.source, key, str(seq), *self.shape.line(rec), ""), bad)
        self.tally.unparsed += len(bad)
        return head.encode() + copytext.raw_field(bytes(raw)) + b"\n"


def _join(values: Iterable[copytext.Field | None], bad: list[int]) -> str:
    """One COPY row's text fields; a BAD value is written as NULL and noted in ``bad``."""
    values = tuple(values)
    try:
        return "\t".join(values)  # type: ignore[arg-type]  # BAD, if any, raises here
    except TypeError:
        bad.extend(i for i, v in enumerate(values) if v is BAD)
        return "\t".join(NULL if v is BAD or v is None else v  # type: ignore[misc]
                         for v in values)


def _chunks(rows: Iterable[bytes]) -> Iterator[bytes]:
    """Rows joined into pieces of about CHUNK bytes."""
    out: list[bytes] = []
    size = 0
    for row in rows:
        out.append(row)
        size += len(row)
        if size >= CHUNK:
            yield b"".join(out)
            out, size = [], 0
    if out:
        yield b"".join(out)


def _items(rec: Any) -> list[msgspec.Raw] | None:
    items = getattr(rec, "items", ABSENT)
    if bytes(memoryview(items)[:1]) != b"[":
        return None
    return [i for i in msgspec.json.decode(items, type=list[msgspec.Raw])
            if bytes(memoryview(i)[:1]) == b"{"]


_ITEMS_KEY = re.compile(rb'"items"\s*:\s*\Z')


def _without_items(rec: Any, raw: msgspec.Raw) -> bytes:
    """A nested document's header ``_raw``: the record without its ``items`` member."""
    data = bytes(raw)
    items = bytes(getattr(rec, "items", ABSENT))
    if not items.startswith(b"["):
        return data
    at = data.find(items)
    while at >= 0:
        if head := _ITEMS_KEY.search(data, max(0, at - 64), at):
            before, after = data[:head.start()].rstrip(), data[at + len(items):].lstrip()
            if after.startswith(b","):
                return before + after[1:]
            return before.removesuffix(b",") + after
        at = data.find(items, at + 1)
    return data
