-- Issue 15: the survival check of our previous post in a chat; mirrors
-- migrations/sqlite/0014_post_survival.sql (see there for the meaning of each column). Times
-- are Unix milliseconds (UTC) in BIGINT; `flagged` is 0/1 as on SQLite.
CREATE TABLE removed_posts (
    target      TEXT   NOT NULL,
    broadcaster TEXT   NOT NULL,
    message_id  BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (target, broadcaster, message_id)
);
CREATE TABLE chat_survival (
    target          TEXT   PRIMARY KEY NOT NULL,
    removed_in_row  BIGINT NOT NULL DEFAULT 0,
    removed_total   BIGINT NOT NULL DEFAULT 0,
    flagged         BIGINT NOT NULL DEFAULT 0,
    last_removed_at BIGINT,
    checked_at      BIGINT NOT NULL
);
