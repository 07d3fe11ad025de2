-- Adaptive windows (CONTRACT §9): date ranges the server could not answer in one window
-- and the size that is tried there instead. The planner never reads a piece longer than
-- `days` that touches the range; rows are only ever added or made smaller.
CREATE TABLE syncd.window_size (
    source     text NOT NULL,
    module     text NOT NULL,
    date_from  date NOT NULL,
    date_to    date NOT NULL CHECK (date_to >= date_from),
    days       integer NOT NULL CHECK (days BETWEEN 1 AND 31),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, module, date_from, date_to)
);
