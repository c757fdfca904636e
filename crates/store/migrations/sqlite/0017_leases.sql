-- The twin of migrations/postgres/0017_leases.sql (issue 16's leases of several servers on one
-- PostgreSQL database). SQLite has one server (`run` holds the data directory's lock), so these
-- tables stay empty here; they exist so that both schemas keep the same tables (`db copy` and
-- the schema comparison need that). Times are Unix milliseconds (UTC).
CREATE TABLE leases (
    account    TEXT    PRIMARY KEY,
    holder     TEXT,
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE servers (
    server_id    TEXT    PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
