-- Write-back (CONTRACT §8): documents to create at the API, one row each, inserted by the
-- user's systems or by `syncd push --file`. syncd moves `state` pending -> sending ->
-- inserted | rejected | invalid, recording it before and after every request.
CREATE TABLE syncd.outbox (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    module        text NOT NULL CHECK (module IN ('sales', 'purchase', 'customer')),
    document      jsonb NOT NULL,          -- exactly as the API takes it (numbers stay numeric)
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'inserted', 'rejected', 'invalid')),
    error         text,                    -- the API's or the validator's words
    fail_category text,                    -- the fail_details key, or 'validation'
    request_id    text,
    batch_id      text,
    attempts      integer NOT NULL DEFAULT 0,  -- requests that carried this document
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_open ON syncd.outbox (source, module, id)
    WHERE state IN ('pending', 'sending');

-- A running `syncd run` LISTENs on syncd_outbox and pushes within seconds of an insert.
-- PostgreSQL folds identical notifications of one transaction into one, so a bulk insert
-- wakes the daemon once per source.
CREATE FUNCTION syncd.outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('syncd_outbox', NEW.source);
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON syncd.outbox
    FOR EACH ROW EXECUTE FUNCTION syncd.outbox_notify();
