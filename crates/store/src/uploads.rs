//! The uploads table on SQLite (issue 15 albums, migration 0015): what each account already
//! uploaded, by the SHA-256 of the file's bytes, so a later send and a restart re-use it
//! ([`smb_engine::Uploads`]). Written on its own connection, outside the journal's group
//! commit: a lost row only costs one more upload.

use async_trait::async_trait;
use jiff::Timestamp;
use smb_engine::{StoreError, StoredUpload, Uploads};

use crate::row::col;
use crate::sqlite::{SqliteStore, db_err, ms};

/// Telegram's bytes as lowercase hex (the `file_reference` column).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

/// The bytes of a `file_reference` column; not hex is a [`StoreError::Decode`] naming it.
pub(crate) fn from_hex(s: &str) -> Result<Vec<u8>, StoreError> {
    let bad = || StoreError::Decode {
        column: "file_reference".to_owned(),
        source: std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an even count of hex digits",
        )),
    };
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// The `kind` column's word.
pub(crate) fn kind_word(upload: &StoredUpload) -> &'static str {
    kind_of(upload.document)
}

/// The `kind` column's word for a document or a photo.
pub(crate) fn kind_of(document: bool) -> &'static str {
    if document { "document" } else { "photo" }
}

/// A row's `kind` back; another word is a [`StoreError::Decode`].
pub(crate) fn is_document(kind: &str) -> Result<bool, StoreError> {
    match kind {
        "document" => Ok(true),
        "photo" => Ok(false),
        other => Err(StoreError::Decode {
            column: "kind".to_owned(),
            source: std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{other}` is neither photo nor document"),
            )),
        }),
    }
}

#[async_trait]
impl Uploads for SqliteStore {
    async fn stored_upload(
        &self,
        account: &str,
        sha256: &str,
        document: bool,
    ) -> Result<Option<StoredUpload>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, media_id, access_hash, file_reference FROM uploads
             WHERE account = ? AND sha256 = ? AND kind = ?",
        )
        .bind(account)
        .bind(sha256)
        .bind(kind_of(document))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredUpload {
            document: is_document(col::<&str, _>(&row, "kind")?)?,
            id: col(&row, "media_id")?,
            access_hash: col(&row, "access_hash")?,
            file_reference: from_hex(col::<&str, _>(&row, "file_reference")?)?,
        }))
    }

    async fn remember_upload(
        &self,
        account: &str,
        sha256: &str,
        upload: &StoredUpload,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.message_writer().await?;
        sqlx::query(
            "INSERT INTO uploads (account, sha256, kind, media_id, access_hash, file_reference,
                 uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)
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
        .execute(&mut conn)
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
        let mut conn = self.message_writer().await?;
        sqlx::query("DELETE FROM uploads WHERE account = ? AND sha256 = ? AND kind = ?")
            .bind(account)
            .bind(sha256)
            .bind(kind_of(document))
            .execute(&mut conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_references_read_back_as_written() {
        let bytes = vec![0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(to_hex(&bytes), "00017f80ff");
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
