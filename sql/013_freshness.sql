-- Freshness targets and alerts (CONTRACT §11).

-- Per (source, module): the freshness target of the running config (written by `syncd run`
-- when it leads the source, and by `syncd status`) and the newest committed read.
CREATE TABLE IF NOT EXISTS syncd.freshness (
    source         text NOT NULL,
    module         text NOT NULL,
    target_seconds double precision CHECK (target_seconds > 0),
    read_at        timestamptz,   -- newest committed window that reached the high watermark
    PRIMARY KEY (source, module)
);

-- A committed window that reaches the top of the loaded range is a read of the newest data
-- (fresh passes, the first backfill window, re-reads); older backfill windows are not.
-- Runs in the window's own transaction, after its watermark moved.
CREATE OR REPLACE FUNCTION syncd.note_read() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.date_to >= (SELECT high_watermark FROM syncd.module_state
                       WHERE source = NEW.source AND module = NEW.module) THEN
        INSERT INTO syncd.freshness AS f (source, module, read_at)
        VALUES (NEW.source, NEW.module, NEW.committed_at)
        ON CONFLICT (source, module) DO UPDATE
            SET read_at = greatest(f.read_at, EXCLUDED.read_at);
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS window_read ON syncd.window;
CREATE TRIGGER window_read AFTER INSERT ON syncd.window
FOR EACH ROW EXECUTE FUNCTION syncd.note_read();

-- Upgrading: the reads already in the ledger.
INSERT INTO syncd.freshness (source, module, read_at)
SELECT w.source, w.module, max(w.committed_at)
FROM syncd.window w JOIN syncd.module_state m USING (source, module)
WHERE w.date_to >= m.high_watermark
GROUP BY w.source, w.module
ON CONFLICT (source, module) DO NOTHING;

-- Paged kinds (CloudOnex) keep no ledger: their newest committed page is last_success_at.
CREATE OR REPLACE VIEW bi.freshness AS
SELECT m.source, m.module, m.low_watermark, m.high_watermark, m.last_success_at,
       now() - m.last_success_at AS since_last_success,
       CASE WHEN m.high_watermark IS NOT NULL
            THEN now() - (m.high_watermark + 1)::timestamptz END AS data_lag,
       m.last_error, m.last_full_read_at,
       f.target_seconds AS freshness_target,
       extract(epoch FROM now() - coalesce(f.read_at, m.last_success_at))::double precision
           AS age_seconds,
       CASE WHEN f.target_seconds IS NOT NULL
            THEN coalesce(extract(epoch FROM now() - coalesce(f.read_at, m.last_success_at))
                          > f.target_seconds, true) END AS stale
FROM syncd.module_state m
LEFT JOIN syncd.freshness f USING (source, module);

-- Alerts open now, one row per condition: inserting it is raising it, deleting it is
-- clearing it, so whichever instance changes the row sends the message — exactly once,
-- across restarts and instances. scope: a source name, 'host:HOST' or 'instance:HOST:PID'.
CREATE TABLE IF NOT EXISTS syncd.alert (
    scope     text NOT NULL,
    module    text NOT NULL DEFAULT '',
    condition text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    text      text NOT NULL,
    PRIMARY KEY (scope, module, condition)
);

-- Every message to send, written in the same transaction as the alert row it reports.
-- pending: the endpoints (a hash of each URL, never the URL: it is a secret) that have not
-- answered 2xx yet; a message is delivered when it is empty.
CREATE TABLE IF NOT EXISTS syncd.alert_event (
    id         bigserial PRIMARY KEY,
    scope      text NOT NULL,
    module     text NOT NULL,
    condition  text NOT NULL,
    state      text NOT NULL CHECK (state IN ('firing', 'resolved')),
    message    jsonb NOT NULL,
    pending    text[] NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_event_pending ON syncd.alert_event (id)
    WHERE pending <> '{}';
