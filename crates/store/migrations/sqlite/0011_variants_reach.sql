-- Issue 17: A/B variants and reach, kept with the delivery.
-- `variant`: the label of the A/B variant this chat got in this cycle (NULL: a plain message).
-- Reach, read a set time after the post (`reach_after`, default 24 h and 72 h): views and
-- forwards (channels), reactions (all kinds summed) and replies (a discussion's or a group's
-- thread), as Telegram counted them at the last read; `reach_reads` counts the reads done, so
-- the daemon knows which set time is next; `reach_at` is when the last one was (Unix ms).
-- None of these columns is in an index: a reach write rewrites no index (migration 0008).
ALTER TABLE deliveries ADD COLUMN variant TEXT;
ALTER TABLE deliveries ADD COLUMN views INTEGER;
ALTER TABLE deliveries ADD COLUMN forwards INTEGER;
ALTER TABLE deliveries ADD COLUMN reactions INTEGER;
ALTER TABLE deliveries ADD COLUMN replies INTEGER;
ALTER TABLE deliveries ADD COLUMN reach_reads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN reach_at INTEGER;
