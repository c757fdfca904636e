-- Issue 17: A/B variants and reach, kept with the delivery; mirrors
-- migrations/sqlite/0011_variants_reach.sql.
-- `variant`: the label of the A/B variant this chat got in this cycle (NULL: a plain message).
-- Views, forwards, reactions and replies as Telegram counted them at the last reach read;
-- `reach_reads` counts the reads done, `reach_at` is when the last one was (Unix ms).
-- None of these columns is in an index: a reach write rewrites no index (migration 0008).
-- Adding a column with a constant default rewrites no table (PostgreSQL 11 and later).
ALTER TABLE deliveries
    ADD COLUMN variant     TEXT,
    ADD COLUMN views       BIGINT,
    ADD COLUMN forwards    BIGINT,
    ADD COLUMN reactions   BIGINT,
    ADD COLUMN replies     BIGINT,
    ADD COLUMN reach_reads BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN reach_at    BIGINT;
