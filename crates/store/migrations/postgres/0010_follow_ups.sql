-- Issue 15: the follow-up journal; mirrors migrations/sqlite/0010_follow_ups.sql (see there for
-- the meaning of each column). Each edit, pin, unpin or delete of one of our posts is written
-- `pending` (result NULL) before its Telegram call and gets its result after. `step` orders
-- the actions of one cycle: post -1, edit 0, pin 1, unpin 2, delete 3. Times are Unix
-- milliseconds (UTC) in BIGINT.
CREATE TABLE follow_ups (
    broadcaster TEXT   NOT NULL,
    cycle       BIGINT NOT NULL,
    target      TEXT   NOT NULL,
    action      TEXT   NOT NULL CHECK (action IN ('post', 'edit', 'pin', 'unpin', 'delete')),
    step        BIGINT NOT NULL,
    account     TEXT   NOT NULL,
    message_id  BIGINT NOT NULL,
    result      TEXT   CHECK (result IN ('done', 'gone', 'refused')),
    error_code  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (broadcaster, cycle, target, action)
);
-- The pending ones, read at every start.
CREATE INDEX follow_ups_pending ON follow_ups (cycle, step) WHERE result IS NULL;
-- "Our previous post in this chat": the deliveries of one (broadcaster, target), newest cycle
-- first; columns a delivery never changes after its insert.
CREATE INDEX deliveries_post ON deliveries (broadcaster, target, cycle);
