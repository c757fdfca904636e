-- Issue 15: the survival check of our previous post in a chat, before posting there.
-- `removed_posts`: each of our posts found removed (by the chat's admins), once per post, so a
-- check repeated after a crash counts nothing new. `chat_survival`: per chat (target key),
-- our posts removed in a row (a live post at a check sets it back to 0), in all, and whether
-- the chat is flagged "our posts are being removed" (`removed_posts_flag` reached).
-- Times are Unix ms.
CREATE TABLE removed_posts (
    target TEXT NOT NULL,
    broadcaster TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (target, broadcaster, message_id)
);
CREATE TABLE chat_survival (
    target TEXT PRIMARY KEY NOT NULL,
    removed_in_row INTEGER NOT NULL DEFAULT 0,
    removed_total INTEGER NOT NULL DEFAULT 0,
    flagged INTEGER NOT NULL DEFAULT 0,
    last_removed_at INTEGER,
    checked_at INTEGER NOT NULL
);
