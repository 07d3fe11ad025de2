-- The load path moves to the client (syncd/rows.py, syncd/copytext.py): rows arrive typed
-- by COPY, so the SQL value parsers go; `_raw` becomes `json`, the record's own bytes as
-- received (no server-side parse, CONTRACT §3), and every module table gets `_hash`, the
-- hash of its document or record as received, so a re-read of unchanged data writes nothing.
-- Existing rows have no hash yet: each is rewritten once, at its next re-read.

ALTER TABLE skybiz.customer ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.supplier ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.item ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.sales ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.sales_line ALTER COLUMN _raw TYPE json USING _raw::json;
ALTER TABLE skybiz.purchase ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.purchase_line ALTER COLUMN _raw TYPE json USING _raw::json;
ALTER TABLE skybiz.collection ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.sales_order ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;
ALTER TABLE skybiz.sales_order_line ALTER COLUMN _raw TYPE json USING _raw::json;
ALTER TABLE skybiz.price_matrix ALTER COLUMN _raw TYPE json USING _raw::json,
    ADD COLUMN _hash bytea;

DROP FUNCTION syncd.to_timestamptz(text);
DROP FUNCTION syncd.to_numeric(text);
DROP FUNCTION syncd.to_bigint(text);
DROP FUNCTION syncd.to_date(text);
DROP FUNCTION syncd.to_time(text);
