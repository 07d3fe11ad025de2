-- The reread and reconcile cycles ask which of a module's windows were committed since the
-- cycle began (syncd.warehouse.state.done_windows). The ledger only grows — at a pass every
-- 5 minutes about 100k rows per module a year — and its one index (source, module,
-- date_from) made that question a scan of the module's whole ledger (bench/growth.py:
-- 4,000 buffers, 40-58 ms per module per pass at 210k rows). With this index it reads only
-- the cycle's rows. Built in place (the ledger is locked against writes while it builds:
-- ~1 s per million rows).
CREATE INDEX IF NOT EXISTS window_by_commit
    ON syncd.window (source, module, purpose, committed_at);
