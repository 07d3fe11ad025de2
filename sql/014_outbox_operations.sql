-- Write-back to CloudOnex (CONTRACT §8.1): what a row asks for (create, update, delete),
-- the record an update or delete is for, and the id the API gave a created record.
-- Existing rows are creates of SKYBIZ documents and stay valid as they are.
ALTER TABLE syncd.outbox
    ADD COLUMN operation  text NOT NULL DEFAULT 'create',
    ADD COLUMN target_id  text,
    ADD COLUMN created_id text;

-- The module check becomes per kind: a row names a SKYBIZ module or a CloudOnex resource
-- (the outbox does not know a source's kind; syncd refuses a module of the other kind in
-- one sentence before sending). Update and delete exist only for CloudOnex customers, and
-- always name their record.
ALTER TABLE syncd.outbox DROP CONSTRAINT IF EXISTS outbox_module_check;
ALTER TABLE syncd.outbox ADD CONSTRAINT outbox_module_check CHECK (module IN (
    'sales', 'purchase', 'customer',
    'customers', 'invoices', 'transactions', 'products', 'quotes', 'tickets', 'leads'));
ALTER TABLE syncd.outbox ADD CONSTRAINT outbox_operation_check CHECK (
    operation = 'create'
    OR (operation IN ('update', 'delete') AND module = 'customers' AND target_id IS NOT NULL));

-- The never-twice check looks up which found records other rows already claimed.
CREATE INDEX outbox_created ON syncd.outbox (source, module, created_id)
    WHERE created_id IS NOT NULL;

-- CloudOnex webhooks (CONTRACT §8.2): what `syncd webhooks register` registered. Only the
-- SHA-256 of the unguessable path segment is kept; `syncd run` serves the paths whose last
-- segment hashes to one of these, and notes when a hint last arrived.
CREATE TABLE syncd.webhooks (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    token_sha256    bytea NOT NULL UNIQUE,
    url             text NOT NULL,           -- as given, without the secret segment
    events          text[] NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    last_webhook_at timestamptz
);
