"""The load statements, built once per module from the registry (pure: no I/O).

A window arrives as COPY rows built on the client (``syncd.rows``): first one row per
unit (document or master record) into ``pg_temp.syncd_keys_<module>`` — key, modification
time, hash — then only the new or changed units' rows, straight into the module's tables.
Schema, tables, keys and columns all come from the Module: nothing here names an API.

Every module statement takes $1 = the source name; ``mark_deleted`` also $2/$3 = the
window's dates. Date-times without a zone are read in the session TimeZone, which the
loader sets to the source's timezone for the window's transaction.

A window's statements cost the same in a warehouse of years (bench/growth.py): each
stored row is reached from the window's keys by a probe of the table's primary key — a
lateral subquery fenced with ``OFFSET 0`` (``_probe``) — and deleted or marked by its
``ctid`` (a Tid Scan). The planner cannot turn a probe into a scan of the source's whole
history, which is what its estimates chose whenever they were off: a table still being
filled has no statistics for ``source = $1`` (bench/README.md, Scale).
"""

from __future__ import annotations

from syncd.core.model import Module


def keys_table(module: Module) -> str:
    """The name of the module's per-connection table of the window's units."""
    return f"syncd_keys_{module.name}"


def keys_columns(module: Module) -> list[str]:
    """The columns of ``keys_table`` in the order ``WindowRows.keys`` writes them."""
    mod = module.modified
    return ["ord", *(f.column for f in module.key_fields), *([mod.column] if mod else []), "_hash"]


def create_keys_table(module: Module) -> str:
    """The per-connection table of the window's units (emptied at every commit), indexed
    by key: checking a stored row against the window is then a probe, whatever the
    planner thinks of the window's size."""
    mod = module.modified
    cols = [f"{f.column} {f.type.value} NOT NULL" for f in module.key_fields]
    if mod is not None:
        cols.append(f"{mod.column} {mod.type.value}")
    keys = ", ".join(f.column for f in module.key_fields)
    return (f"CREATE TEMP TABLE IF NOT EXISTS {keys_table(module)} (ord bigint NOT NULL, "
            f"{', '.join(cols)}, _hash bytea NOT NULL) ON COMMIT DELETE ROWS; "
            f"CREATE INDEX IF NOT EXISTS {keys_table(module)}_key "
            f"ON pg_temp.{keys_table(module)} ({keys})")


def header_columns(module: Module) -> list[str]:
    """The columns of a header (or master) row in the order ``WindowRows`` writes them."""
    return ["source", *(f.column for f in module.header), "_raw", "_hash"]


def line_columns(module: Module) -> list[str]:
    """The columns of a line row in the order ``WindowRows`` writes them."""
    return ["source", *module.line_key_columns, "line_seq",
            *(f.column for f in module.lines), "_raw"]


def _match(module: Module, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{f.column} = {right}.{f.column}" for f in module.key_fields)


def _match_lines(module: Module, lines: str, parent: str) -> str:
    """The lines of ``parent`` (its key columns may be named otherwise in the lines table)."""
    return " AND ".join(f"{lines}.{col} = {parent}.{f.column}"
                        for col, f in zip(module.line_key_columns, module.key_fields, strict=True))


def _probe(table: str, columns: str, match: str) -> str:
    """The rows of ``table`` that ``match`` one outer unit: a subquery kept apart from the
    join (``OFFSET 0``), so that it stays a per-unit lookup by primary key."""
    return f"SELECT {columns} FROM {table} x WHERE x.source = $1 AND {match} OFFSET 0"


def _lines_of(module: Module, units: str) -> str:
    """The ``ctid``s of the stored lines of ``units`` (a relation with the key columns)."""
    probe = _probe(module.line_table or "", "x.ctid", _match_lines(module, "x", "u"))
    return f"ARRAY(SELECT l.ctid FROM {units} u, LATERAL ({probe}) l)"


def changed(module: Module) -> str:
    """The window's new or changed units (their ``ord``), whose stored rows (and lines)
    are deleted here so that COPY can write them afresh.

    Masters: of several versions of one key in a window the newest modification wins
    (then the last received), and a row is never replaced by an older version.
    """
    mod = module.modified
    keys = ", ".join(f.column for f in module.key_fields)
    units = f"pg_temp.{keys_table(module)}"
    if mod is not None:
        units = (f"(SELECT DISTINCT ON ({keys}) * FROM {units} "
                 f"ORDER BY {keys}, {mod.column} DESC NULLS LAST, ord DESC)")
    newer = f" AND (t.{mod.column} IS NULL OR k.{mod.column} >= t.{mod.column})" if mod else ""
    stored = "x.ctid AS tid, x._hash, x._deleted_at" + (f", x.{mod.column}" if mod else "")
    lines = ""
    if module.line_table:
        lines = f""",
old_lines AS (  -- a new unit's too: lines whose header is gone (by hand) go with it
    DELETE FROM {module.line_table} WHERE ctid = ANY({_lines_of(module, "c")}))"""
    return f"""
WITH c AS (
    SELECT k.*, t.tid FROM {units} k
    LEFT JOIN LATERAL ({_probe(module.table, stored, _match(module, "x", "k"))}) t ON true
    WHERE t.tid IS NULL
       OR ((t._hash IS DISTINCT FROM k._hash OR t._deleted_at IS NOT NULL){newer})),
old AS (
    DELETE FROM {module.table} WHERE ctid = ANY(ARRAY(SELECT tid FROM c WHERE tid IS NOT NULL))
){lines}
SELECT ord FROM c
"""


def mark_deleted(module: Module) -> str:
    """Documents dated inside the window but absent from its complete answer are deleted."""
    date_col = module.date_field.lower()
    keys = ", ".join(f"t.{f.column}" for f in module.key_fields)
    lines = ""
    if module.line_table:
        lines = f""",
lines AS (
    UPDATE {module.line_table} SET _deleted_at = now()
    WHERE ctid = ANY({_lines_of(module, "gone")})
    RETURNING 1)"""
    return f"""
WITH gone AS (
    UPDATE {module.table} t SET _deleted_at = now()
    WHERE t.source = $1 AND t.{date_col} BETWEEN $2 AND $3 AND t._deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_temp.{keys_table(module)} k
                      WHERE {_match(module, "k", "t")})
    RETURNING {keys}){lines}
SELECT count(*) AS deleted FROM gone
"""


def _key_text(module: Module, alias: str) -> str:
    return " || '|' || ".join(f"({alias}.{f.column})::text" for f in module.key_fields)


def record_seen(module: Module) -> str:
    """Reconcile: remember the keys a window returned ($2 module, $3 cycle)."""
    return f"""
INSERT INTO syncd.reconcile_seen (source, module, cycle, key)
SELECT DISTINCT $1::text, $2::text, $3::timestamptz, {_key_text(module, "k")}
FROM pg_temp.{keys_table(module)} k
ON CONFLICT DO NOTHING
"""


def apply_reconcile(module: Module) -> str:
    """Reconcile: rows stored before the cycle began and not seen in it are deleted."""
    return f"""
WITH gone AS (
    UPDATE {module.table} t SET _deleted_at = now()
    WHERE t.source = $1 AND t._deleted_at IS NULL AND t._synced_at < $3
      AND NOT EXISTS (SELECT 1 FROM syncd.reconcile_seen s WHERE s.source = $1
                      AND s.module = $2 AND s.cycle = $3 AND s.key = {_key_text(module, "t")})
    RETURNING 1)
SELECT count(*) FROM gone
"""


def absent(module: Module) -> str:
    """After a read of a whole resource: the live rows whose key is not among the read's
    keys ($2, an array) — the deletion candidates, ascending (single-column keys)."""
    (key,) = module.key_fields
    return f"""
WITH seen AS (SELECT DISTINCT k FROM unnest($2::{key.type.value}[]) AS s(k))
SELECT t.{key.column} AS key FROM {module.table} t
WHERE t.source = $1 AND t._deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.k = t.{key.column})
ORDER BY t.{key.column}
"""


def mark_gone(module: Module) -> str:
    """The rows (and their lines) whose keys ($2, an array) the server confirmed gone are
    deleted (single-column keys)."""
    (key,) = module.key_fields
    lines = ""
    if module.line_table:
        lines = f""",
lines AS (
    UPDATE {module.line_table} l SET _deleted_at = now() FROM gone g
    WHERE l.source = $1 AND {_match_lines(module, "l", "g")} AND l._deleted_at IS NULL
    RETURNING 1)"""
    return f"""
WITH gone AS (
    UPDATE {module.table} t SET _deleted_at = now()
    WHERE t.source = $1 AND t._deleted_at IS NULL
      AND t.{key.column} = ANY($2::{key.type.value}[])
    RETURNING t.{key.column}){lines}
SELECT count(*) AS deleted FROM gone
"""
