-- Weekly reconcile of master modules: keys seen during a cycle, and the last cycle whose
-- deletions were applied (so a finished cycle is applied exactly once).
CREATE UNLOGGED TABLE syncd.reconcile_seen (
    source text NOT NULL,
    module text NOT NULL,
    cycle  timestamptz NOT NULL,
    key    text NOT NULL,
    PRIMARY KEY (source, module, cycle, key)
);

ALTER TABLE syncd.module_state ADD COLUMN reconciled_cycle timestamptz;
