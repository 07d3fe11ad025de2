"""The load statements, built once per module from the registry (pure: no I/O).

A window's answer body is handed to PostgreSQL as JSON text: ``STAGE`` splits it into the
per-connection staging table (flat rows or nested ``items`` alike), then set-based merges
read from there. Numbers never pass through a binary float: ``->>`` yields the number's
own digits and ``syncd.to_numeric`` casts them. Identifiers come from the registry only.

Every module statement takes $1 = the source name; ``mark_deleted`` also $2/$3 = the
window's dates. Date-times are read in the session TimeZone, which the loader sets to the
source's timezone for the window's transaction.
"""

from __future__ import annotations

from syncd.registry import Field, FieldType, Module

STAGE_TABLES = """
SET temp_buffers = '256MB';
CREATE TEMP TABLE IF NOT EXISTS syncd_body (body text NOT NULL) ON COMMIT DELETE ROWS;
ALTER TABLE syncd_body ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TEMP TABLE IF NOT EXISTS syncd_stage (
    ord bigint NOT NULL, iord bigint, nested boolean NOT NULL, rec jsonb NOT NULL, item jsonb
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS syncd_changed (dt text, dn text) ON COMMIT DELETE ROWS
"""

# The body arrives in pg_temp.syncd_body (streamed by COPY) and is parsed exactly once.
# Returns the envelope for judging and how many records were staged.
STAGE = """
WITH b AS MATERIALIZED (SELECT body::jsonb AS j FROM pg_temp.syncd_body),
a AS MATERIALIZED (
    SELECT CASE WHEN jsonb_typeof(j) <> 'object' THEN NULL
                WHEN jsonb_typeof(j->'data') = 'array' THEN j->'data'
                -- PHP encodes a list whose keys are not 0..n-1 as an object
                WHEN jsonb_typeof(j->'data'->'data') = 'object'
                     AND j->'data'->'data' <> '{}'
                     AND NOT jsonb_path_exists(j->'data'->'data', '$.* ? (@.type() != "object")')
                THEN (SELECT jsonb_agg(value ORDER BY key !~ '^[0-9]+$',
                                       CASE WHEN key ~ '^[0-9]{1,18}$' THEN key::bigint END, key)
                      FROM jsonb_each(j->'data'->'data'))
                ELSE j->'data'->'data' END AS recs
    FROM b),
ins AS (
    INSERT INTO pg_temp.syncd_stage (ord, iord, nested, rec, item)
    SELECT e.ord, it.iord, coalesce(jsonb_typeof(e.r->'items') = 'array', false),
           e.r - 'items', it.i
    FROM a, jsonb_array_elements(CASE WHEN jsonb_typeof(a.recs) = 'array' THEN a.recs END)
            WITH ORDINALITY AS e(r, ord)
    LEFT JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(e.r->'items') = 'array' THEN e.r->'items' END)
            WITH ORDINALITY AS it(i, iord) ON true
    WHERE jsonb_typeof(e.r) = 'object'
    RETURNING ord)
SELECT CASE WHEN jsonb_typeof(b.j) = 'object' THEN b.j->>'status' END AS status,
       CASE WHEN jsonb_typeof(b.j) = 'object' THEN b.j->>'message' END AS message,
       CASE WHEN jsonb_typeof(b.j) = 'object' THEN b.j->>'request_id' END AS request_id,
       CASE WHEN jsonb_typeof(b.j->'data') = 'object' THEN b.j->'data'->>'mode' END AS mode,
       CASE WHEN jsonb_typeof(b.j->'data') = 'object'
            THEN b.j->'data'->>'total_returned' END AS total_returned,
       CASE WHEN jsonb_typeof(a.recs) = 'array' THEN jsonb_array_length(a.recs) END AS sent,
       (SELECT count(DISTINCT ord) FROM ins) AS staged,
       to_hex(jsonb_hash_extended(coalesce(a.recs, 'null'), 0)) AS content_hash
FROM b, a
"""

# $1: the module's known field names; only the others come back.
NEW_FIELDS = """
SELECT DISTINCT k FROM (
    SELECT jsonb_object_keys(rec - $1::text[]) AS k FROM pg_temp.syncd_stage
    WHERE iord IS NULL OR iord = 1
    UNION ALL
    SELECT jsonb_object_keys(item - $1::text[]) FROM pg_temp.syncd_stage
    WHERE item IS NOT NULL) keys
"""


_NO_VALUE = "^(0000-00-00( 00:00:00)?)?$"


def _ref(name: str, doc: str = "rec") -> str:
    return f"{doc}->>'{name}'"


def typed(field: Field, doc: str = "rec") -> str:
    """The SQL expression reading ``field`` from a staged record into its column type."""
    raw = _ref(field.name, doc)
    return {
        FieldType.TEXT: raw,
        # A JSON number is already exact numeric in jsonb: only strings need the parser.
        FieldType.NUMERIC: (f"CASE jsonb_typeof({doc}->'{field.name}') "
                            f"WHEN 'number' THEN ({doc}->'{field.name}')::numeric "
                            f"WHEN 'string' THEN syncd.to_numeric({raw}) END"),
        FieldType.BIGINT: f"syncd.to_bigint({raw})",
        FieldType.DATE: f"syncd.to_date({raw})",
        FieldType.TIME: f"syncd.to_time({raw})",
        FieldType.TIMESTAMP: f"syncd.to_timestamptz({raw})",
    }[field.type]


def _unparsed(fields: tuple[Field, ...], row: str) -> str:
    """Per stored row: how many typed values arrived but were stored as NULL.

    An empty string or a zero date is "no value" (what PHP/MySQL send for unset fields)
    and is not counted: the count flags surprises such as "N/A" in a number.
    """
    # IS TRUE: a field absent from the record is NULL here, and must count as 0, not NULL.
    checks = [f"((btrim({row}._raw->>'{f.name}') !~ '{_NO_VALUE}' AND {row}.{f.column} IS NULL)"
              " IS TRUE)::int"
              for f in fields if f.type is not FieldType.TEXT]
    return " + ".join(checks) or "0"


def _key_present(module: Module, doc: str = "rec") -> str:
    return " AND ".join(f"{typed(_field(module, k), doc)} IS NOT NULL" for k in module.key)


def _field(module: Module, name: str) -> Field:
    return next(f for f in module.header if f.name == name)


def _key_exprs(module: Module, doc: str = "rec") -> list[str]:
    return [typed(_field(module, k), doc) for k in module.key]


def merge_rows(module: Module) -> str:
    """Upsert the header (or master) rows of the staged window; returns (rows, unparsed).

    Duplicates within the window are resolved first (the newest modification, then the
    last received); an update is skipped when nothing changed, and a master row is never
    overwritten by an older version.
    """
    keys = _key_exprs(module)
    cols = [f.column for f in module.header]
    values = [typed(f) for f in module.header]
    order = ", ".join(keys)
    if module.modified_field:
        newest = typed(_field(module, module.modified_field))
        order += f", {newest} DESC NULLS LAST, ord DESC"
    else:
        order += ", ord"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in _key_cols(module))
    guard = "(t._raw IS DISTINCT FROM EXCLUDED._raw OR t._deleted_at IS NOT NULL)"
    if module.modified_field:
        mod = _field(module, module.modified_field).column
        guard += f" AND (t.{mod} IS NULL OR EXCLUDED.{mod} >= t.{mod})"
    return f"""
WITH src AS (
    SELECT DISTINCT ON ({", ".join(keys)}) rec FROM pg_temp.syncd_stage
    WHERE {_key_present(module)}
    ORDER BY {order}),
up AS (
    INSERT INTO skybiz.{module.name} AS t (source, {", ".join(cols)}, _synced_at, _deleted_at, _raw)
    SELECT $1, {", ".join(values)}, now(), NULL, rec FROM src
    ON CONFLICT (source, {", ".join(_key_cols(module))}) DO UPDATE SET {updates},
        _synced_at = EXCLUDED._synced_at, _deleted_at = NULL, _raw = EXCLUDED._raw
    WHERE {guard}
    RETURNING {_unparsed(module.header, "t")} AS bad)
SELECT count(*) AS rows, coalesce(sum(bad), 0) AS unparsed FROM up
"""


def _key_cols(module: Module) -> list[str]:
    return [k.lower() for k in module.key]


def _line_filter(module: Module) -> str:
    """Staged rows that are lines: nested items, or flat rows with any detail field set."""
    return f"""CASE WHEN nested THEN item IS NOT NULL
               -- a flat row whose detail fields are all null is a document without lines
               ELSE num_nonnulls({", ".join(_ref(f.name) for f in module.lines)}) > 0 END
      AND {_key_present(module)}"""


def changed_documents(module: Module) -> str:
    """Note the window's documents whose lines differ from the stored ones (as received),
    or were marked deleted: only their lines are replaced, so a re-read of unchanged
    documents rewrites nothing."""
    return f"""
WITH docs AS (
    SELECT DISTINCT rec->>'DocType' AS dt, rec->>'Doc1No' AS dn FROM pg_temp.syncd_stage
    WHERE {_key_present(module)}),
new AS (
    SELECT rec->>'DocType' AS dt, rec->>'Doc1No' AS dn,
           array_agg(CASE WHEN nested THEN item ELSE rec END ORDER BY ord, iord) AS lines
    FROM pg_temp.syncd_stage WHERE {_line_filter(module)} GROUP BY 1, 2),
old AS (
    SELECT l.doctype AS dt, l.doc1no AS dn, array_agg(l._raw ORDER BY l.line_seq) AS lines,
           bool_or(l._deleted_at IS NOT NULL) AS gone
    FROM skybiz.{module.name}_line l JOIN docs d ON l.doctype = d.dt AND l.doc1no = d.dn
    WHERE l.source = $1 GROUP BY 1, 2)
INSERT INTO pg_temp.syncd_changed (dt, dn)
SELECT d.dt, d.dn FROM docs d LEFT JOIN new n USING (dt, dn) LEFT JOIN old o USING (dt, dn)
WHERE n.lines IS DISTINCT FROM o.lines OR coalesce(o.gone, false)
"""


def delete_lines(module: Module) -> str:
    """Drop the stored lines of the window's changed documents (they are re-inserted)."""
    return f"""
DELETE FROM skybiz.{module.name}_line l USING pg_temp.syncd_changed c
WHERE l.source = $1 AND l.doctype = c.dt AND l.doc1no = c.dn
"""


def insert_lines(module: Module) -> str:
    """Insert the changed documents' lines; line_seq is the 1-based position as received."""
    cols = [f.column for f in module.lines]
    values = [typed(f, "r") for f in module.lines]
    return f"""
WITH src AS (
    SELECT rec->>'DocType' AS dt, rec->>'Doc1No' AS dn,
           CASE WHEN nested THEN item ELSE rec END AS r,
           row_number() OVER (PARTITION BY rec->>'DocType', rec->>'Doc1No'
                              ORDER BY ord, iord) AS seq
    FROM pg_temp.syncd_stage s
    JOIN pg_temp.syncd_changed c ON c.dt = s.rec->>'DocType' AND c.dn = s.rec->>'Doc1No'
    WHERE {_line_filter(module)}),
ins AS (
    INSERT INTO skybiz.{module.name}_line AS t
        (source, doctype, doc1no, line_seq, {", ".join(cols)}, _synced_at, _deleted_at, _raw)
    SELECT $1, dt, dn, seq, {", ".join(values)}, now(), NULL, r FROM src
    RETURNING {_unparsed(module.lines, "t")} AS bad)
SELECT count(*) AS rows, coalesce(sum(bad), 0) AS unparsed FROM ins
"""


def mark_deleted(module: Module) -> str:
    """Documents dated inside the window but absent from its complete answer are deleted."""
    date_col = module.date_field.lower()
    match = " AND ".join(
        f"{expr} = t.{col}" for expr, col in zip(_key_exprs(module, "s.rec"),
                                                  _key_cols(module), strict=True))
    lines = ""
    if module.lines:
        lines = f""",
lines AS (
    UPDATE skybiz.{module.name}_line l SET _deleted_at = now() FROM gone g
    WHERE l.source = $1 AND l.doctype = g.doctype AND l.doc1no = g.doc1no
    RETURNING 1)"""
    return f"""
WITH gone AS (
    UPDATE skybiz.{module.name} t SET _deleted_at = now()
    WHERE t.source = $1 AND t.{date_col} BETWEEN $2 AND $3 AND t._deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_temp.syncd_stage s WHERE {match})
    RETURNING t.*){lines}
SELECT count(*) AS deleted FROM gone
"""


def _key_text(exprs: list[str]) -> str:
    return " || '|' || ".join(f"({e})::text" for e in exprs)


def record_seen(module: Module) -> str:
    """Reconcile: remember the keys a window returned ($2 module, $3 cycle)."""
    return f"""
INSERT INTO syncd.reconcile_seen (source, module, cycle, key)
SELECT DISTINCT $1::text, $2::text, $3::timestamptz, {_key_text(_key_exprs(module))}
FROM pg_temp.syncd_stage
WHERE {_key_present(module)}
ON CONFLICT DO NOTHING
"""


def apply_reconcile(module: Module) -> str:
    """Reconcile: rows stored before the cycle began and not seen in it are deleted."""
    key = _key_text([f"t.{c}" for c in _key_cols(module)])
    return f"""
WITH gone AS (
    UPDATE skybiz.{module.name} t SET _deleted_at = now()
    WHERE t.source = $1 AND t._deleted_at IS NULL AND t._synced_at < $3
      AND NOT EXISTS (SELECT 1 FROM syncd.reconcile_seen s WHERE s.source = $1
                      AND s.module = $2 AND s.cycle = $3 AND s.key = {key})
    RETURNING 1)
SELECT count(*) FROM gone
"""
