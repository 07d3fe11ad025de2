"""A window's records as COPY rows for its module's tables (pure: no I/O).

Two passes over the records (``msgspec.Raw`` views of the body):

1. ``WindowRows.keys`` groups records into units — a document (its header and lines,
   flat or nested) or a master record — and yields one COPY row per unit: its position,
   its typed key, its modification time (masters) and a hash of its bytes as received.
   The warehouse answers which units are new or changed.
2. ``lines`` and ``headers`` decode only those units and yield their typed rows.

A re-read of unchanged data therefore costs a key decode and a hash per record, and
nothing is written. Source-neutral: schema, table, key and fields come from the Module.
Rows are in the COPY format of ``syncd.copytext`` (``copytext.COPY_OPTIONS``).
"""

from __future__ import annotations

import functools
import hashlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import xxhash

from syncd.core import copytext
from syncd.core.body import ABSENT, Num, first_byte
from syncd.core.copytext import BAD, NULL
from syncd.core.model import Field, Module

CHUNK = 1 << 20  # bytes of COPY data handed over at a time
LOAD_FORMAT = b"syncd-rows-2"  # part of every unit hash: a new format rewrites rows once
# (2: a nested document's header `_raw` keeps its `items`, CONTRACT §3)
# A server decides the field names: each new set of unknown names builds a decoder, so
# the decoders kept per module and the unknown names noted per window are both bounded.
DECODERS_KEPT = 16
MAX_NEW_FIELDS = 100


@dataclass(slots=True)
class Tally:
    """What the rows built so far amount to."""

    headers: int = 0
    lines: int = 0
    unparsed: int = 0


@dataclass(frozen=True, slots=True)
class RowText:
    """One table row's typed fields from a record struct, as COPY text.

    ``fast`` joins the fields in one go and raises TypeError when a value did not parse
    (BAD is not a str); ``values`` then gives them one by one, to write NULL and count.
    """

    fast: Callable[[Any, str], str]
    values: Callable[[Any], tuple[copytext.Field, ...]]

    def __call__(self, rec: Any, head: str, tally: Tally) -> str:
        """``head``, the fields, and a trailing separator (the ``_raw`` column follows)."""
        try:
            return self.fast(rec, head)
        except TypeError:
            values = self.values(rec)
            tally.unparsed += sum(v is BAD for v in values)
            return "\t".join((head, *(NULL if v is BAD else str(v) for v in values), ""))


@dataclass(frozen=True, slots=True)
class Shape:
    """What the row builders need to know about one module, compiled once."""

    module: Module
    fields: tuple[Field, ...]  # header then line fields, as the record struct holds them
    salt: int  # hash seed: a registry change invalidates stored hashes
    header: RowText
    line: RowText
    has_line: Callable[[Any], bool]  # a flat record carries a line (some detail set)
    unit_key: Callable[[Any], tuple[copytext.Field, ...]]  # key (+ modified) of a key struct
    record_key: Callable[[Any], tuple[copytext.Field, ...]]  # key of a record struct
    key_decoder: msgspec.json.Decoder[Any]
    decoders: dict[frozenset[str], msgspec.json.Decoder[Any]] = field(default_factory=dict)

    @property
    def by_modification(self) -> bool:
        """Masters: every record is a unit; of one key's versions the newest wins (SQL)."""
        return self.module.modified_field is not None

    def decoder(self, extra: frozenset[str]) -> msgspec.json.Decoder[Any]:
        """A strict decoder for the known fields plus ``extra`` (fields seen, not typed);
        once ``extra`` holds MAX_NEW_FIELDS names, a lenient one that ignores any others
        (they stay in ``_raw``). At most DECODERS_KEPT are kept, the oldest dropped."""
        found = self.decoders.get(extra)
        if found is None:
            if len(self.decoders) >= DECODERS_KEPT:
                del self.decoders[next(iter(self.decoders))]
            names = [f.name for f in self.fields] + sorted(extra)
            found = self.decoders[extra] = _decoder(names, items=bool(self.module.lines),
                                                    strict=len(extra) < MAX_NEW_FIELDS)
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


def _expression(attr: str, f: Field) -> str:
    """One field's COPY text; the common cases inline (6.6 M values in a big window)."""
    if f.type == "text":
        return f"(x if type(x := r.{attr}) is str and x.isprintable() and x != NULL else text(x))"
    if f.type == "numeric":
        return (f"(x if type(x := r.{attr}) is Num and 'e' not in x and 'E' not in x "
                f"else str(x) if type(x) is int else {f.type}(x))")
    return f"{f.type}(r.{attr})"


def _compile(source: str) -> Callable[..., Any]:
    """A function from generated source: an unrolled expression per field runs about twice
    as fast as a loop over converters, and the loader runs it for every value."""
    namespace: dict[str, Any] = {"Num": Num, "NULL": NULL, "text": copytext.text}
    namespace |= {str(kind): conv for kind, conv in copytext.CONVERTERS.items()}
    exec(source, namespace)  # noqa: S102 - built from the registry's field types only
    fn: Callable[..., Any] = namespace["f"]
    return fn


def _row_text(attrs: list[tuple[str, Field]]) -> RowText:
    exprs = "".join(_expression(a, f) + ", " for a, f in attrs)
    return RowText(fast=_compile(f"def f(r, head):\n    return '\\t'.join((head, {exprs}''))"),
                   values=_compile(f"def f(r):\n    return ({exprs})"))


@functools.cache
def shape(module: Module) -> Shape:
    """The compiled row builders of ``module``."""
    fields = module.fields
    attrs = [(f"f{i}", f) for i, f in enumerate(fields)]
    by_name = {f.name: (a, f) for a, f in attrs}
    lines = [by_name[f.name] for f in module.lines]
    key = [by_name[f.name] for f in module.key_fields]
    wanted = [*module.key_fields, *([module.modified] if module.modified else [])]
    unit = [(f"f{i}", f) for i, f in enumerate(wanted)]
    has_line = (" or ".join(f"r.{a} is not None" for a, _ in lines) if module.flat_lines
                else "") or "False"
    salt = int.from_bytes(hashlib.blake2b(
        LOAD_FORMAT + repr(fields).encode() + repr(module.key).encode(), digest_size=8).digest())
    return Shape(
        module, fields, salt, _row_text(attrs[:len(module.header)]), _row_text(lines),
        has_line=_compile(f"def f(r):\n    return {has_line}"),
        unit_key=_compile(f"def f(r):\n    return ({''.join(_value(a, f) for a, f in unit)})"),
        record_key=_compile(f"def f(r):\n    return ({''.join(_value(a, f) for a, f in key)})"),
        key_decoder=_decoder([f.name for f in wanted], items=False, strict=False))


def _value(attr: str, f: Field) -> str:
    return f"{f.type}(r.{attr}), "


class WindowRows:
    """The COPY rows of one window of one module (see the module docstring)."""

    def __init__(self, shape: Shape, records: list[msgspec.Raw], source: str) -> None:
        self.shape, self.records, self.source = shape, records, copytext.escape(source)
        self.unit_of = array("q", [-1]) * len(records)  # record -> its unit's first record
        self.changed: set[int] = set()  # units (first records) to write; set by the caller
        self.tally = Tally()
        self.new_fields: set[str] = set()
        self._window_hash = xxhash.xxh3_128()
        self._digests: dict[int, bytes] = {}
        self._strict = shape.decoder(frozenset())

    @property
    def content_hash(self) -> str:
        """A hash of every unit's bytes as received, in order (after ``keys``)."""
        return self._window_hash.hexdigest()

    def keys(self) -> Iterator[bytes]:
        """COPY rows (ord, key…, [modified], _hash) of every unit with a complete key."""
        units = self._group()
        rows = []
        for first, values in units:
            digest = self._digests[first]
            self._window_hash.update(digest)
            cols = (str(first), *(NULL if v is BAD else v for v in values),
                    copytext.bytea(digest))
            rows.append(("\t".join(cols) + "\n").encode())  # type: ignore[arg-type]
        yield from _chunks(rows)

    def _group(self) -> list[tuple[int, tuple[copytext.Field, ...]]]:
        """Units in order of their first record; every record's unit; every unit's hash."""
        s = self.shape
        decode, unit_key, salt, n_key = (s.key_decoder.decode, s.unit_key, s.salt,
                                         len(s.module.key))
        groups: dict[tuple[copytext.Field, ...], tuple[int, Any]] = {}
        units: list[tuple[int, tuple[copytext.Field, ...]]] = []
        for i, raw in enumerate(self.records):
            values = unit_key(decode(raw))
            key = values[:n_key]
            if NULL in key or BAD in key:
                continue  # no key, no row: nothing could ever find or replace it
            if s.by_modification:
                self.unit_of[i] = i
                self._digests[i] = xxhash.xxh3_128_digest(raw, salt)
                units.append((i, values))
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = (i, xxhash.xxh3_128(seed=salt))
                units.append((i, values))
            self.unit_of[i] = group[0]
            group[1].update(raw)
        for first, hasher in groups.values():
            self._digests[first] = hasher.digest()
        return units

    def lines(self) -> Iterator[bytes]:
        """COPY rows of the changed documents' lines, in pieces of about CHUNK bytes. A
        module without lines yields nothing."""
        if not self.shape.module.lines:
            return
        out: list[bytes | msgspec.Raw] = []
        size = 0
        seq: dict[int, int] = {}
        key_of: dict[int, str] = {}
        line, has_line, tally, changed = (self.shape.line, self.shape.has_line, self.tally,
                                          self.changed)
        for i, raw in enumerate(self.records):
            unit = self.unit_of[i]
            if unit < 0 or unit not in changed:
                continue
            rec = self._decode(raw)
            if unit == i:
                key_of[unit] = "\t".join(self.shape.record_key(rec))  # type: ignore[arg-type]
            items = self._items(rec) if len(rec.items) else None
            for item, item_raw in items or ([(rec, raw)] if has_line(rec) else []):
                seq[unit] = n = seq.get(unit, 0) + 1
                text = line(item, f"{self.source}\t{key_of[unit]}\t{n}", tally)
                # msgspec has validated the record: its bytes hold no control character,
                # so quoting is all the raw JSON needs (no copy, no scan).
                out += (text.encode(), b"\x01", item_raw, b"\x01\n")
                size += len(item_raw) + len(text) + 3
                tally.lines += 1
            if size >= CHUNK:
                yield b"".join(out)
                out, size = [], 0
        if out:
            yield b"".join(out)

    def headers(self) -> Iterator[bytes]:
        """COPY rows of the changed units' header (or master) rows: a document's header is
        its first record (decoded again rather than kept, so memory stays flat)."""
        yield from _chunks(self._header_row(i, self._decode(self.records[i]), self.records[i])
                           for i in sorted(self.changed))

    def _items(self, rec: Any) -> list[tuple[Any, msgspec.Raw]] | None:
        """A nested document's line items (each as a struct, with its raw bytes)."""
        if first_byte(rec.items) != b"[":
            return None
        items = msgspec.json.decode(rec.items, type=list[msgspec.Raw])
        return [(self._decode(i), i) for i in items if first_byte(i) == b"{"]

    def _decode(self, raw: msgspec.Raw) -> Any:
        """The record as a struct; unknown fields are noted and the decoder widened."""
        try:
            return self._strict.decode(raw)
        except msgspec.ValidationError:
            names = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
            # `items` is structure only where the module has lines; on a master it is a
            # plain field like any other the registry does not know (kept in `_raw`).
            known = {f.name for f in self.shape.fields} | (
                {"items"} if self.shape.module.lines else set())
            room = max(0, MAX_NEW_FIELDS - len(self.new_fields))
            self.new_fields |= set(sorted(set(names) - known)[:room])
            self._strict = self.shape.decoder(frozenset(self.new_fields))
            return self._strict.decode(raw)

    def _header_row(self, i: int, rec: Any, raw: msgspec.Raw) -> bytes:
        self.tally.headers += 1
        text = self.shape.header(rec, self.source, self.tally)
        digest = copytext.bytea(self._digests[i])
        # `_raw` is the whole record as received, a nested document's `items` included.
        return b"".join((text.encode(), copytext.raw_field(raw), f"\t{digest}\n".encode()))


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
