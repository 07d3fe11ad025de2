-- CloudOnex (CONTRACT §6): schema `cloudonex`, one table per resource keyed by
-- (source, id), the `items` of invoices, quotes, orders and purchases in `<singular>_items`.
-- Generated once from syncd/cloudonex/resources.py; tests/test_migrations.py checks they
-- still agree. Plus: when each module's last complete read finished, the API budget last
-- announced by each source's server, and the BI views of CloudOnex.
CREATE SCHEMA IF NOT EXISTS cloudonex;

CREATE TABLE cloudonex.customers (
    source text NOT NULL,
    id bigint NOT NULL,
    account text,
    email text,
    phone text,
    address text,
    city text,
    state text,
    zip text,
    country text,
    created_at timestamptz,
    updated_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.invoices (
    source text NOT NULL,
    id bigint NOT NULL,
    invoice_number text,
    customer_id bigint,
    amount numeric,
    status text,
    date date,
    due_date date,
    notes text,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE INDEX invoices_by_date ON cloudonex.invoices (source, date);
CREATE TABLE cloudonex.invoice_items (
    source text NOT NULL,
    invoice_id bigint NOT NULL,
    line_seq integer NOT NULL,
    description text,
    amount numeric,
    qty numeric,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    PRIMARY KEY (source, invoice_id, line_seq)
);
CREATE TABLE cloudonex.transactions (
    source text NOT NULL,
    id bigint NOT NULL,
    type text,
    account_id bigint,
    amount numeric,
    category_id bigint,
    description text,
    date date,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE INDEX transactions_by_date ON cloudonex.transactions (source, date);
CREATE TABLE cloudonex.products (
    source text NOT NULL,
    id bigint NOT NULL,
    name text,
    price numeric,
    description text,
    type text,
    tax_rate numeric,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.quotes (
    source text NOT NULL,
    id bigint NOT NULL,
    customer_id bigint,
    valid_until date,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.quote_items (
    source text NOT NULL,
    quote_id bigint NOT NULL,
    line_seq integer NOT NULL,
    description text,
    amount numeric,
    qty numeric,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    PRIMARY KEY (source, quote_id, line_seq)
);
CREATE TABLE cloudonex.orders (
    source text NOT NULL,
    id bigint NOT NULL,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.order_items (
    source text NOT NULL,
    order_id bigint NOT NULL,
    line_seq integer NOT NULL,
    description text,
    amount numeric,
    qty numeric,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    PRIMARY KEY (source, order_id, line_seq)
);
CREATE TABLE cloudonex.suppliers (
    source text NOT NULL,
    id bigint NOT NULL,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.purchases (
    source text NOT NULL,
    id bigint NOT NULL,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.purchase_items (
    source text NOT NULL,
    purchase_id bigint NOT NULL,
    line_seq integer NOT NULL,
    description text,
    amount numeric,
    qty numeric,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    PRIMARY KEY (source, purchase_id, line_seq)
);
CREATE TABLE cloudonex.leads (
    source text NOT NULL,
    id bigint NOT NULL,
    first_name text,
    last_name text,
    email text,
    company text,
    phone text,
    source_ text,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);
CREATE TABLE cloudonex.tickets (
    source text NOT NULL,
    id bigint NOT NULL,
    customer_id bigint,
    subject text,
    message text,
    department_id bigint,
    priority text,
    status text,
    _synced_at timestamptz NOT NULL DEFAULT now(),
    _deleted_at timestamptz,
    _raw json NOT NULL,
    _hash bytea,
    PRIMARY KEY (source, id)
);

ALTER TABLE syncd.module_state ADD COLUMN last_full_read_at timestamptz;

-- What the API's X-RateLimit-* headers said last (another client may share the key).
CREATE TABLE syncd.api_budget (
    source text PRIMARY KEY,
    "limit" integer,
    remaining integer,
    reset_at timestamptz,
    observed_at timestamptz NOT NULL DEFAULT now()
);

-- Invoices per month and status, deleted ones excluded; months in the invoice's own date.
CREATE VIEW bi.cloudonex_invoices_monthly AS
SELECT source, date_trunc('month', date)::date AS month, status,
       count(*) AS invoices, sum(amount) AS amount
FROM cloudonex.invoices
WHERE _deleted_at IS NULL
GROUP BY source, date_trunc('month', date), status;

-- Freshness of every module of every source kind; complete reads (CloudOnex) too.
CREATE OR REPLACE VIEW bi.freshness AS
SELECT m.source, m.module, m.low_watermark, m.high_watermark, m.last_success_at,
       now() - m.last_success_at AS since_last_success,
       CASE WHEN m.high_watermark IS NOT NULL
            THEN now() - (m.high_watermark + 1)::timestamptz END AS data_lag,
       m.last_error, m.last_full_read_at
FROM syncd.module_state m;
