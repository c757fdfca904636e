-- Issue 15: the follow-up journal. Each follow-up to one of our posts (edit it, pin the new
-- one, unpin or delete the previous one) is written `pending` (durably) before its Telegram
-- call and gets its result after, like a delivery; a pending one is carried out after a
-- restart. Identity: the post that caused it (broadcaster, cycle, target) and the action.
-- `step` orders the actions of one cycle: edit 0, pin 1, unpin 2, delete 3 (post first, then
-- pin, then unpin or delete the old one: a crash never leaves a chat without a current post).
-- Action 'post' (step -1) is no action: the record of the cycle's post and its id, written
-- with the follow-ups before the delivery's outcome and born 'done', so a restart that lost
-- that outcome (the re-send answers RANDOM_ID_DUPLICATE, without an id) still knows the post.
-- `result`: NULL while pending, else 'done' | 'gone' (the post was gone already) | 'refused'
-- (Telegram refused; `error_code` says why and the documented fallback was taken).
-- Times are Unix milliseconds (UTC).
CREATE TABLE follow_ups (
    broadcaster TEXT    NOT NULL,
    cycle       INTEGER NOT NULL,
    target      TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('post', 'edit', 'pin', 'unpin', 'delete')),
    step        INTEGER NOT NULL,
    account     TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    result      TEXT    CHECK (result IN ('done', 'gone', 'refused')),
    error_code  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (broadcaster, cycle, target, action)
);
-- The pending ones, read at every start.
CREATE INDEX follow_ups_pending ON follow_ups (cycle, step) WHERE result IS NULL;
-- "Our previous post in this chat" reads the deliveries of one (broadcaster, target) newest
-- cycle first. Only columns a delivery never changes after its insert: an outcome rewrites no
-- index of it (migration 0008).
CREATE INDEX deliveries_post ON deliveries (broadcaster, target, cycle);
