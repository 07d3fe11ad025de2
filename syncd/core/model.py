"""What a module of any source kind is: its fields, their warehouse types, keys, tables.

Each kind lists its modules with these types (``syncd.kinds.skybiz.modules``,
``syncd.kinds.cloudonex.resources``); the loader, the SQL builder and the row builders read only
these, never a kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    """The PostgreSQL type a field is stored as (CONTRACT §3)."""

    TEXT = "text"
    NUMERIC = "numeric"
    BIGINT = "bigint"
    DATE = "date"
    TIMESTAMP = "timestamptz"
    TIME = "time"


class ModuleKind(StrEnum):
    """Master rows are filtered by modification time; documents by their own date."""

    MASTER = "master"
    DOCUMENT = "document"


# syncd's own columns: an API field of the same name gets a trailing underscore.
OWN_COLUMNS = frozenset({"source", "line_seq", "_synced_at", "_deleted_at", "_raw", "_hash"})


@dataclass(frozen=True, slots=True)
class Field:
    """One API field; its column is the API name in lower case (``source`` → ``source_``)."""

    name: str
    type: FieldType

    @property
    def column(self) -> str:
        column = self.name.lower()
        return column + "_" if column in OWN_COLUMNS else column


@dataclass(frozen=True, slots=True)
class Module:
    """One module (resource) of a source kind: everything syncd needs to read and store it."""

    name: str  # config / CLI name, also the warehouse table name
    endpoint: str  # default file under base_url
    label: str  # how the server names it in "<label> read permission denied"
    kind: ModuleKind
    date_field: str  # the field the server's date_from/date_to filter applies to
    key: tuple[str, ...]  # API field names of the primary key (after `source`)
    header: tuple[Field, ...]
    lines: tuple[Field, ...] = ()  # detail fields: non-empty means header/line tables
    accepts_fields: bool = False  # whether the server honours `fields` / `filters`
    extra_params: tuple[tuple[str, str], ...] = ()  # always sent, e.g. price matrix filters
    lookback_days: int = 2
    modified_field: str | None = None  # newer-wins comparison for master rows
    schema: str = ""  # the warehouse schema of the module's tables (the kind's: required)
    line_name: str | None = None  # the lines table (default ``<name>_line``)
    line_key: tuple[str, ...] = ()  # the lines table's parent-key columns (default: the key's)
    flat_lines: bool = True  # a record without ``items`` may itself carry a line (flat rows)

    @property
    def table(self) -> str:
        """The module's (header or master) table, schema-qualified."""
        return f"{self.schema}.{self.name}"

    def __post_init__(self) -> None:
        if not self.schema:
            raise ValueError(f"module {self.name}: its kind must name the warehouse schema")
        header = {f.name.lower(): f for f in self.header}
        if len(header) != len(self.header):
            raise ValueError(f"module {self.name}: duplicate header field names")
        names = [f.name.lower() for f in self.lines]
        if len(set(names)) != len(names):
            raise ValueError(f"module {self.name}: duplicate line field names")
        for f in self.lines:  # a line field may share a header field's name and type only
            if f.name.lower() in header and header[f.name.lower()] != f:
                raise ValueError(f"module {self.name}: line field {f.name} clashes with the "
                                 "header field of that name")
        if self.line_key and len(self.line_key) != len(self.key):
            raise ValueError(f"module {self.name}: line_key must name one column per key field")
        for k in self.key:
            if k not in {f.name for f in self.header}:
                raise ValueError(f"module {self.name}: key field {k} is not a header field")

    @property
    def key_fields(self) -> tuple[Field, ...]:
        """The key's fields, in key order."""
        return tuple(next(f for f in self.header if f.name == k) for k in self.key)

    @property
    def modified(self) -> Field | None:
        """The field newer-wins compares (masters), if any."""
        return next((f for f in self.header if f.name == self.modified_field), None)

    @property
    def fields(self) -> tuple[Field, ...]:
        """Header then line fields, each name once (a line field may repeat a header's)."""
        names = {f.name for f in self.header}
        return self.header + tuple(f for f in self.lines if f.name not in names)

    @property
    def line_key_columns(self) -> tuple[str, ...]:
        """The lines table's columns holding the parent's key."""
        return self.line_key or tuple(f.column for f in self.key_fields)

    @property
    def has_lines(self) -> bool:
        return bool(self.lines)

    @property
    def line_table(self) -> str | None:
        """The lines table, schema-qualified (document modules only)."""
        if not self.lines:
            return None
        return f"{self.schema}.{self.line_name or self.name + '_line'}"
