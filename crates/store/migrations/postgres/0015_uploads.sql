-- Issue 15 (albums): media an account already uploaded; mirrors
-- migrations/sqlite/0015_uploads.sql (see there for the meaning of each column). Times are
-- Unix milliseconds (UTC) in BIGINT; `file_reference` is lowercase hex TEXT as on SQLite.
CREATE TABLE uploads (
    account        TEXT   NOT NULL,
    sha256         TEXT   NOT NULL,
    kind           TEXT   NOT NULL CHECK (kind IN ('photo', 'document')),
    media_id       BIGINT NOT NULL,
    access_hash    BIGINT NOT NULL,
    file_reference TEXT   NOT NULL,
    uploaded_at    BIGINT NOT NULL,
    PRIMARY KEY (account, sha256, kind)
);
-- An album's other items (issue 15): see migrations/sqlite/0015_uploads.sql.
ALTER TABLE follow_ups ADD COLUMN album_ids TEXT;
