-- Versions of message sets fetched from their sources (Google Sheets, CSV, files); mirrors
-- migrations/sqlite/0002_message_sets.sql. Every accepted change is a new row; the highest
-- version of a set is its current content. `texts` is the JSON array of messages
-- ({"text", "active", "priority"}), kept as text like in SQLite.
-- Times are Unix milliseconds (UTC).

CREATE TABLE message_set_versions (
    set_name   TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    texts      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    summary    TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    PRIMARY KEY (set_name, version)
);
