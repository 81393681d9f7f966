-- Chopin's job queue. Times are Unix milliseconds; a finished job is deleted, a dead one
-- is kept with its last error until it is retried or discarded.
CREATE TABLE chopin_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'dead')),
    priority     INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    timeout_ms   INTEGER NOT NULL,
    lease_until  INTEGER,
    unique_key   TEXT,
    last_error   TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX chopin_jobs_ready ON chopin_jobs (state, priority, run_at, id);
CREATE INDEX chopin_jobs_leases ON chopin_jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX chopin_jobs_unique_key ON chopin_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');

-- The last tick of each recurring job that a process enqueued: claiming a tick moves it.
CREATE TABLE chopin_schedules (
    name      TEXT    PRIMARY KEY,
    last_tick INTEGER NOT NULL
);
