-- The request encoding a SKYBIZ source's server accepts (CONTRACT §10): "json", or "form"
-- for servers that read only form fields. Learned by syncd, shown by `status --json`.
CREATE TABLE IF NOT EXISTS syncd.source_encoding (
    source text PRIMARY KEY,
    request_encoding text NOT NULL CHECK (request_encoding IN ('json', 'form')),
    learned_at timestamptz NOT NULL DEFAULT now()
);
