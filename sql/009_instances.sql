-- Several `syncd run` instances (CONTRACT §9): who is alive, and who leads which source.
-- An instance is alive while its heartbeat is recent (syncd.membership.DEAD_AFTER); rows of
-- dead instances are ignored by every reader and deleted after a day.
CREATE TABLE syncd.instance (
    id           text PRIMARY KEY,          -- random per process start
    host         text NOT NULL,
    pid          integer NOT NULL,
    listen       text NOT NULL,             -- [observability] listen
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL       -- PostgreSQL's clock, never the instance's
);

-- Written by the leader on the connection that holds the source's advisory lock, after
-- taking it; deleted before releasing it. The lock is the fence, this row is for `status`
-- and for keeping a source where it is (sticky assignment).
CREATE TABLE syncd.source_leader (
    source   text PRIMARY KEY,
    instance text NOT NULL REFERENCES syncd.instance (id) ON DELETE CASCADE,
    since    timestamptz NOT NULL DEFAULT now()
);
