-- Issue 15 (albums): media an account already uploaded, so a later send and a restart name it
-- instead of uploading the file again. Keyed by the account (Telegram's ids and access hashes
-- are per account), the SHA-256 of the file's bytes (64 lowercase hex digits: an edited file
-- is a new upload) and the kind (the same bytes as a photo and as a document are two). `kind`: 'photo' (inputPhoto) | 'document' (inputDocument);
-- `media_id`, `access_hash` and `file_reference` (lowercase hex of Telegram's bytes) are what
-- messages.uploadMedia (or the first messages.sendMedia) gave back. A re-use Telegram refuses
-- (FILE_REFERENCE_EXPIRED, MEDIA_EMPTY, MEDIA_INVALID) deletes the row; the file is uploaded
-- once more. Times are Unix milliseconds (UTC).
CREATE TABLE uploads (
    account        TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('photo', 'document')),
    media_id       INTEGER NOT NULL,
    access_hash    INTEGER NOT NULL,
    file_reference TEXT    NOT NULL,
    uploaded_at    INTEGER NOT NULL,
    PRIMARY KEY (account, sha256, kind)
);
-- An album's other items (issue 15), after the first one in `message_id`: their ids joined by
-- commas, NULL when the post is not an album. A 'post' record keeps them; a 'delete' deletes
-- them with `message_id`, so replacing an album removes every item of it.
ALTER TABLE follow_ups ADD COLUMN album_ids TEXT;
