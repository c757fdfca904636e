-- Versions of message sets fetched from their sources (Google Sheets, CSV, files).
-- Every accepted change is a new row; the highest version of a set is its current content.
-- `texts` is the JSON array of messages ({"text", "active", "priority"}).
-- Times are Unix milliseconds (UTC).

CREATE TABLE message_set_versions (
    set_name   TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    texts      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    summary    TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    PRIMARY KEY (set_name, version)
);
