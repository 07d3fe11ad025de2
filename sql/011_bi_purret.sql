-- Purchase returns (PurRet) count negative in the bi views, like supplier credit notes
-- (CONTRACT §10 "BI sign"). Every signed view calls bi.sign, so replacing the function
-- re-signs them all; bi.purchase_daily also counts returns among its credit notes.
CREATE OR REPLACE FUNCTION bi.sign(doctype text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN doctype IN ('CusCN', 'SupCN', 'PurRet') THEN -1 ELSE 1 END
$$;

CREATE OR REPLACE VIEW bi.purchase_daily AS
SELECT p.source, p.d_ate AS day,
       count(*) AS documents,
       count(*) FILTER (WHERE p.doctype IN ('SupCN', 'PurRet')) AS credit_notes,
       sum(bi.sign(p.doctype) * p.hcnetamt) AS net_amount,
       sum(bi.sign(p.doctype) * p.hcdttax) AS tax_amount
FROM skybiz.purchase p
WHERE p._deleted_at IS NULL AND p.d_ate IS NOT NULL
GROUP BY p.source, p.d_ate;
