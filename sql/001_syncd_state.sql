-- syncd's own state: watermarks, the window ledger, and the value parsers used by loads.
CREATE SCHEMA IF NOT EXISTS syncd;

-- One row per (source, module): the loaded range and what happened last.
CREATE TABLE syncd.module_state (
    source          text NOT NULL,
    module          text NOT NULL,
    low_watermark   date,
    high_watermark  date,
    last_success_at timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    new_fields      text[] NOT NULL DEFAULT '{}',   -- fields the API sent that the docs don't list
    unparsed_values bigint NOT NULL DEFAULT 0,      -- values stored as NULL (kept in _raw)
    PRIMARY KEY (source, module),
    CHECK ((low_watermark IS NULL) = (high_watermark IS NULL)),
    CHECK (low_watermark <= high_watermark)
);

-- Every committed window, written in the same transaction as its rows.
CREATE TABLE syncd.window (
    id           bigserial PRIMARY KEY,
    source       text NOT NULL,
    module       text NOT NULL,
    date_from    date NOT NULL,
    date_to      date NOT NULL,
    purpose      text NOT NULL,          -- fresh | backfill | resync
    records      integer NOT NULL,       -- records (flat rows) received
    upserted     integer NOT NULL,       -- rows inserted or changed
    deleted      integer NOT NULL,       -- rows newly marked _deleted_at
    content_hash text NOT NULL,          -- md5 of the records array as received
    request_id   text,
    requests     integer NOT NULL,       -- HTTP requests it took, retries included
    fetched_at   timestamptz NOT NULL,
    duration_ms  integer NOT NULL,       -- fetch + load
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX window_by_module ON syncd.window (source, module, date_from);

-- Value parsers: NULL for anything that does not parse ('' , '0000-00-00', 'N/A' ...), and
-- never an error, so one bad value never drops a row. Plain SQL CASE expressions (no
-- exception blocks, which would cost a subtransaction per value); nested CASEs guarantee
-- a cast only runs on text the pattern has already vetted.
CREATE FUNCTION syncd.to_numeric(t text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,4})?\s*$'
                THEN t::numeric END
$$;

CREATE FUNCTION syncd.to_bigint(t text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*[-+]?\d{1,18}(\.0*)?\s*$' THEN trunc(t::numeric)::bigint END
$$;

CREATE FUNCTION syncd.to_date(t text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([ T].*)?$'
                     AND ltrim(t) !~ '^0000'
           THEN CASE WHEN substr(ltrim(t), 9, 2)::int <= extract(day from
                          (substr(ltrim(t), 1, 7) || '-01')::date + interval '1 month - 1 day')
                     THEN substr(ltrim(t), 1, 10)::date END
           END
$$;

CREATE FUNCTION syncd.to_time(t text) RETURNS time
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?\s*$'
                THEN t::time END
$$;

-- A date-time as the API sends it ("YYYY-MM-DD HH:MM:SS", local to the source) read in
-- the session's TimeZone, which each load sets to the source's timezone for its
-- transaction; an explicit offset or Z is honoured; a bare date is local midnight.
CREATE FUNCTION syncd.to_timestamptz(t text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN syncd.to_date(t) IS NULL THEN NULL
        WHEN t ~ '^\s*\d{4}-\d{2}-\d{2}\s*$' THEN syncd.to_date(t)::timestamp::timestamptz
        WHEN t ~ '^\s*\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?\s*$'
            THEN replace(trim(t), 'T', ' ')::timestamp::timestamptz
        WHEN t ~ '^\s*\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[-+](0\d|1[0-4])(:?[0-5]\d)?)\s*$'
            THEN trim(t)::timestamptz
    END
$$;
