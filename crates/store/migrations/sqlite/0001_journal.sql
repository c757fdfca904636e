-- The delivery journal and the state that must survive a restart.
-- Times are Unix milliseconds (UTC).

CREATE TABLE cycles (
    broadcaster  TEXT    NOT NULL,
    cycle        INTEGER NOT NULL,
    message      TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    PRIMARY KEY (broadcaster, cycle)
);

CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    broadcaster TEXT    NOT NULL,
    cycle       INTEGER NOT NULL,
    target      TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    random_id   INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'deferred')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    message_id  INTEGER,
    error_class TEXT,
    error_code  TEXT,
    error_text  TEXT,
    retry_at    INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (broadcaster, cycle, target)
);
CREATE INDEX deliveries_account_updated ON deliveries (account, updated_at);
CREATE INDEX deliveries_updated ON deliveries (updated_at);
CREATE INDEX deliveries_random_id ON deliveries (random_id);

CREATE TABLE targets (
    target     TEXT PRIMARY KEY,
    status     TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    reason     TEXT,
    since      INTEGER NOT NULL,
    recheck_at INTEGER
);

CREATE TABLE accounts (
    account        TEXT PRIMARY KEY,
    paused_until   INTEGER,
    pause_reason   TEXT,
    stopped_reason TEXT,
    stopped_at     INTEGER
);

-- Every wait Telegram imposed: flood waits on accounts, slow mode on chats.
CREATE TABLE pauses (
    id      INTEGER PRIMARY KEY,
    account TEXT    NOT NULL,
    target  TEXT,
    kind    TEXT    NOT NULL,
    seconds INTEGER NOT NULL,
    until   INTEGER NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX pauses_at ON pauses (at);
