//! The uploads table on PostgreSQL (issue 15 albums, migration 0015): the twin of
//! `crate::uploads` (same rows, same answers), on the read pool outside the journal's writer.

use async_trait::async_trait;
use jiff::Timestamp;
use smb_engine::{StoreError, StoredUpload, Uploads};

use super::row::col;
use super::{PgStore, db_err};
use crate::sqlite::ms;
use crate::uploads::{from_hex, is_document, kind_of, kind_word, to_hex};

#[async_trait]
impl Uploads for PgStore {
    async fn stored_upload(
        &self,
        account: &str,
        sha256: &str,
        document: bool,
    ) -> Result<Option<StoredUpload>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, media_id, access_hash, file_reference FROM uploads
             WHERE account = $1 AND sha256 = $2 AND kind = $3",
        )
        .bind(account)
        .bind(sha256)
        .bind(kind_of(document))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredUpload {
            document: is_document(col::<&str>(&row, "kind")?)?,
            id: col(&row, "media_id")?,
            access_hash: col(&row, "access_hash")?,
            file_reference: from_hex(col::<&str>(&row, "file_reference")?)?,
        }))
    }

    async fn remember_upload(
        &self,
        account: &str,
        sha256: &str,
        upload: &StoredUpload,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (account, sha256, kind, media_id, access_hash, file_reference,
                 uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account, sha256, kind) DO UPDATE SET
                 media_id = excluded.media_id, access_hash = excluded.access_hash,
                 file_reference = excluded.file_reference, uploaded_at = excluded.uploaded_at",
        )
        .bind(account)
        .bind(sha256)
        .bind(kind_word(upload))
        .bind(upload.id)
        .bind(upload.access_hash)
        .bind(to_hex(&upload.file_reference))
        .bind(ms(at))
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn forget_upload(
        &self,
        account: &str,
        sha256: &str,
        document: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM uploads WHERE account = $1 AND sha256 = $2 AND kind = $3")
            .bind(account)
            .bind(sha256)
            .bind(kind_of(document))
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
