-- Why a target is held back by its chat's rules or slow mode, and the next moment a post is
-- allowed there; mirrors migrations/sqlite/0006_chat_holds.sql. One row per target, the
-- latest hold. Times are Unix milliseconds (UTC).
CREATE TABLE chat_holds (
    target TEXT PRIMARY KEY,
    reason TEXT   NOT NULL,
    until  BIGINT NOT NULL,
    at     BIGINT NOT NULL
);
