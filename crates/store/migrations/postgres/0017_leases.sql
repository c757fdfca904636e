-- Leases of several servers on one database (issue 16, part 2; docs/postgres.md "Leases and
-- fencing"). One row per lease: `account` is the lease's account (the first, by name, of a
-- group of accounts joined by backup_accounts, which are driven together). `holder` is the
-- SERVER_ID driving it (NULL: free), `epoch` goes up by one at every take, and every journal
-- write of the group checks it in its own transaction (fencing). `expires_at` is in Unix
-- milliseconds by the database's clock, so servers' clocks never disagree about it.
-- Mirrored by migrations/sqlite/0017_leases.sql (empty there: SQLite has one server).
CREATE TABLE leases (
    account    TEXT   PRIMARY KEY,
    holder     TEXT,
    epoch      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
-- The servers of the cluster: a server counts as alive while its heartbeat (written at every
-- lease renewal, LEASE_TTL/3) is younger than LEASE_TTL. Unix milliseconds, database clock.
CREATE TABLE servers (
    server_id    TEXT   PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
