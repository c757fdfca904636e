//! Versions of message sets: every accepted change fetched from a source (Google Sheet, CSV,
//! file) is a new numbered version; the highest is the set's current content. `history` and
//! `restore` work on these rows (they replace the original's `backup/messages/` folder).
//!
//! Writes here are rare (one per accepted update) and must not wait behind the delivery
//! journal's group commit, so they use a short connection of their own; SQLite's busy timeout
//! serialises them with the writer task.

use jiff::Timestamp;
use smb_domain::Message;
use smb_engine::StoreError;
use sqlx::{Connection, SqliteConnection};

use crate::row::col;
use crate::sqlite::{SqliteStore, ms, ts};

/// One stored version of a message set.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSetVersion {
    /// Name of the message set (`[messages.NAME]`).
    pub set: String,
    /// 1, 2, 3… per set.
    pub version: i64,
    /// The set's messages as stored in this version, in order.
    pub messages: Vec<Message>,
    /// When this version was stored.
    pub created_at: Timestamp,
    /// What changed against the previous version ("+2 new, −1 removed"; "restored version 3").
    pub summary: String,
    /// Where it came from (the source as configured, secrets never included).
    pub source: String,
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<MessageSetVersion, StoreError> {
    let set: String = col(row, "set_name")?;
    let version: i64 = col(row, "version")?;
    let texts: String = col(row, "texts")?;
    let messages: Vec<Message> = serde_json::from_str(&texts).map_err(|e| StoreError::Decode {
        column: format!("texts of version {version} of message set `{set}`"),
        source: std::sync::Arc::new(e),
    })?;
    Ok(MessageSetVersion {
        set,
        version,
        messages,
        created_at: ts(col(row, "created_at")?),
        summary: col(row, "summary")?,
        source: col(row, "source")?,
    })
}

/// The columns `decode` reads, spliced into literal SQL (sqlx only takes `&'static str`).
macro_rules! select_versions {
    ($rest:literal) => {
        concat!("SELECT set_name, version, texts, created_at, summary, source FROM message_set_versions ", $rest)
    };
}

impl SqliteStore {
    /// A short-lived read-write connection to the same database file as the read pool.
    pub(crate) async fn message_writer(&self) -> Result<SqliteConnection, StoreError> {
        let opts = (*self.read.connect_options()).clone().read_only(false);
        SqliteConnection::connect_with(&opts).await.map_err(db_err)
    }

    /// Stores `messages` as the next version of `set`, unless they equal the current version
    /// (then nothing is written and `None` comes back). Returns the new version number.
    pub async fn save_message_set_version(
        &self,
        set: &str,
        messages: &[Message],
        summary: &str,
        source: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let texts = serde_json::to_string(messages).map_err(|e| {
            StoreError::Invalid(format!("message set `{set}` cannot be stored: {e}"))
        })?;
        let mut conn = self.message_writer().await?;
        // IMMEDIATE takes the write lock up front, so the read of the current version and the
        // insert of the next one cannot interleave with another updater.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let current = sqlx::query(
            "SELECT version, texts FROM message_set_versions WHERE set_name = ? ORDER BY version DESC LIMIT 1",
        )
        .bind(set)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let next = match &current {
            Some(row) => {
                let stored: String = col(row, "texts")?;
                let same =
                    serde_json::from_str::<Vec<Message>>(&stored).is_ok_and(|m| m == messages);
                if same {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(None);
                }
                col::<i64, _>(row, "version")? + 1
            }
            None => 1,
        };
        sqlx::query(
            "INSERT INTO message_set_versions (set_name, version, texts, created_at, summary, source)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(set)
        .bind(next)
        .bind(&texts)
        .bind(ms(at))
        .bind(summary)
        .bind(source)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(next))
    }

    /// The newest version of `set`, if any was ever stored.
    pub async fn current_message_set(
        &self,
        set: &str,
    ) -> Result<Option<MessageSetVersion>, StoreError> {
        let row = sqlx::query(select_versions!(
            "WHERE set_name = ? ORDER BY version DESC LIMIT 1"
        ))
        .bind(set)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.as_ref().map(decode).transpose()
    }

    /// One version of `set`.
    pub async fn message_set_version(
        &self,
        set: &str,
        version: i64,
    ) -> Result<Option<MessageSetVersion>, StoreError> {
        let row = sqlx::query(select_versions!("WHERE set_name = ? AND version = ?"))
            .bind(set)
            .bind(version)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(decode).transpose()
    }

    /// Every version of `set`, newest first.
    pub async fn message_set_history(
        &self,
        set: &str,
    ) -> Result<Vec<MessageSetVersion>, StoreError> {
        let rows = sqlx::query(select_versions!("WHERE set_name = ? ORDER BY version DESC"))
            .bind(set)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter().map(decode).collect()
    }

    /// The names of the sets that have stored versions.
    pub async fn message_set_names(&self) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT DISTINCT set_name FROM message_set_versions ORDER BY set_name")
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        rows.iter().map(|r| col(r, "set_name")).collect()
    }

    /// Makes the content of `version` current again, as a new version (history is never
    /// rewritten). `None` when that content is already current.
    pub async fn restore_message_set(
        &self,
        set: &str,
        version: i64,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let Some(old) = self.message_set_version(set, version).await? else {
            return Err(StoreError::Invalid(format!(
                "message set `{set}` has no version {version}: see `sendmessagebot messages history {set}`"
            )));
        };
        self.save_message_set_version(
            set,
            &old.messages,
            &format!("restored version {version}"),
            &old.source,
            at,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteSettings;

    fn msgs(texts: &[&str]) -> Vec<Message> {
        texts.iter().map(|t| Message::new(*t)).collect()
    }

    #[tokio::test]
    async fn versions_are_numbered_deduplicated_and_restorable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, SqliteSettings::default())
            .await
            .unwrap();
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(store.current_message_set("b2b").await.unwrap(), None);
        assert_eq!(
            store
                .save_message_set_version("b2b", &msgs(&["a"]), "first", "file", at)
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            store
                .save_message_set_version("b2b", &msgs(&["a"]), "again", "file", at)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .save_message_set_version("b2b", &msgs(&["a", "b"]), "+1", "file", at)
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            store
                .save_message_set_version("b2c", &msgs(&["x"]), "first", "file", at)
                .await
                .unwrap(),
            Some(1)
        );
        let cur = store.current_message_set("b2b").await.unwrap().unwrap();
        assert_eq!(
            (cur.version, cur.messages.len(), cur.created_at),
            (2, 2, at)
        );
        assert_eq!(
            store.restore_message_set("b2b", 1, at).await.unwrap(),
            Some(3)
        );
        let cur = store.current_message_set("b2b").await.unwrap().unwrap();
        assert_eq!(
            (cur.version, cur.messages, cur.summary.as_str()),
            (3, msgs(&["a"]), "restored version 1")
        );
        assert_eq!(store.restore_message_set("b2b", 3, at).await.unwrap(), None);
        assert!(store.restore_message_set("b2b", 9, at).await.is_err());
        let versions: Vec<i64> = store
            .message_set_history("b2b")
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(versions, [3, 2, 1]);
        assert_eq!(store.message_set_names().await.unwrap(), ["b2b", "b2c"]);
    }
}
