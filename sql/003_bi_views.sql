-- Views for dashboards (schema bi). Every view: rows deleted at the source are excluded;
-- credit notes (CusCN, SupCN) count negative; amounts are home-currency numeric.
CREATE SCHEMA IF NOT EXISTS bi;

CREATE FUNCTION bi.sign(doctype text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN doctype IN ('CusCN', 'SupCN') THEN -1 ELSE 1 END
$$;

-- Sales per day: net amount (HCNetAmt), tax (HCDtTax) and document counts.
CREATE VIEW bi.sales_daily AS
SELECT s.source, s.d_ate AS day,
       count(*) AS documents,
       count(*) FILTER (WHERE s.doctype = 'CusCN') AS credit_notes,
       sum(bi.sign(s.doctype) * s.hcnetamt) AS net_amount,
       sum(bi.sign(s.doctype) * s.hcdttax) AS tax_amount
FROM skybiz.sales s
WHERE s._deleted_at IS NULL AND s.d_ate IS NOT NULL
GROUP BY s.source, s.d_ate;

-- Sales per customer and calendar month, with the customer's name.
CREATE VIEW bi.sales_by_customer_month AS
SELECT s.source, date_trunc('month', s.d_ate)::date AS month, s.cuscode,
       max(c.cusname) AS cusname,
       count(*) AS documents,
       sum(bi.sign(s.doctype) * s.hcnetamt) AS net_amount
FROM skybiz.sales s
LEFT JOIN skybiz.customer c
       ON c.source = s.source AND c.cuscode = s.cuscode AND c._deleted_at IS NULL
WHERE s._deleted_at IS NULL AND s.d_ate IS NOT NULL
GROUP BY s.source, date_trunc('month', s.d_ate), s.cuscode;

-- Sales per item and calendar month from the lines: quantity and line amount (HCLineAmt).
CREATE VIEW bi.sales_by_item_month AS
SELECT s.source, date_trunc('month', s.d_ate)::date AS month, l.itemcode,
       max(i.description) AS item_description,
       sum(bi.sign(s.doctype) * l.qty) AS qty,
       sum(bi.sign(s.doctype) * l.hclineamt) AS net_amount
FROM skybiz.sales s
JOIN skybiz.sales_line l
  ON l.source = s.source AND l.doctype = s.doctype AND l.doc1no = s.doc1no
LEFT JOIN skybiz.item i
       ON i.source = l.source AND i.itemcode = l.itemcode AND i._deleted_at IS NULL
WHERE s._deleted_at IS NULL AND l._deleted_at IS NULL AND s.d_ate IS NOT NULL
GROUP BY s.source, date_trunc('month', s.d_ate), l.itemcode;

-- Purchases per day: net amount and tax, supplier credit notes negative.
CREATE VIEW bi.purchase_daily AS
SELECT p.source, p.d_ate AS day,
       count(*) AS documents,
       count(*) FILTER (WHERE p.doctype = 'SupCN') AS credit_notes,
       sum(bi.sign(p.doctype) * p.hcnetamt) AS net_amount,
       sum(bi.sign(p.doctype) * p.hcdttax) AS tax_amount
FROM skybiz.purchase p
WHERE p._deleted_at IS NULL AND p.d_ate IS NOT NULL
GROUP BY p.source, p.d_ate;

-- Money collected per day: cash net of change, cards, cheques and vouchers; voided
-- receipts excluded.
CREATE VIEW bi.collection_daily AS
SELECT c.source, c.d_ate AS day,
       count(*) AS receipts,
       sum(bi.sign(c.doctype) * (coalesce(c.cashamt, 0) - coalesce(c.changeamt, 0)
           + coalesce(c.cc1amt, 0) + coalesce(c.cc2amt, 0) + coalesce(c.cheque1amt, 0)
           + coalesce(c.cheque2amt, 0) + coalesce(c.voucheramt, 0))) AS amount
FROM skybiz.collection c
WHERE c._deleted_at IS NULL AND c.d_ate IS NOT NULL
  AND coalesce(c.voidyn, '0') NOT IN ('1', 'Y', 'y')
GROUP BY c.source, c.d_ate;

-- How current each module is: what a dashboard shows next to its charts.
CREATE VIEW bi.freshness AS
SELECT m.source, m.module, m.low_watermark, m.high_watermark, m.last_success_at,
       now() - m.last_success_at AS since_last_success,
       CASE WHEN m.high_watermark IS NOT NULL
            THEN now() - (m.high_watermark + 1)::timestamptz END AS data_lag,
       m.last_error
FROM syncd.module_state m;
