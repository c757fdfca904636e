//! Upgraded groups: a basic group (`-N`) that Telegram migrated to a supergroup (`-100…`).
//! Written once per group by the driver (through [`smb_engine::Store::record_migration`]);
//! read by `stats`, the targets list and the dashboard, which show the new id with the old
//! one as its alias and count the old id's deliveries under the new one.

use jiff::Timestamp;
use serde::Serialize;
use smb_engine::StoreError;

use crate::row::col;
use crate::sqlite::{SqliteStore, db_err, ms, ts};

/// One upgraded group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChatMigration {
    /// The basic group's target key (`-N`), kept as the alias.
    pub old: String,
    /// The supergroup's target key (`-100…`).
    pub new: String,
    /// The account whose post found the upgrade.
    pub account: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl SqliteStore {
    /// Every recorded upgrade, oldest first.
    pub async fn chat_migrations(&self) -> Result<Vec<ChatMigration>, StoreError> {
        let rows = sqlx::query(
            "SELECT old_target, new_target, account, at FROM chat_migrations ORDER BY at, old_target",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ChatMigration {
                    old: col(r, "old_target")?,
                    new: col(r, "new_target")?,
                    account: col(r, "account")?,
                    at: ts(col(r, "at")?).to_string(),
                })
            })
            .collect()
    }

    /// `true` when `old` was not known and is recorded now. Reads first: this runs after
    /// every post into an upgraded group, and a known group costs no write.
    pub(crate) async fn insert_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let known: Option<String> =
            sqlx::query_scalar("SELECT new_target FROM chat_migrations WHERE old_target = ?")
                .bind(old)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
        if known.as_deref() == Some(new) {
            return Ok(false);
        }
        let mut conn = self.message_writer().await?;
        let done = sqlx::query(
            "INSERT INTO chat_migrations (old_target, new_target, account, at) VALUES (?, ?, ?, ?)
             ON CONFLICT (old_target) DO UPDATE SET new_target = excluded.new_target,
                 account = excluded.account, at = excluded.at
             WHERE new_target <> excluded.new_target",
        )
        .bind(old)
        .bind(new)
        .bind(account)
        .bind(ms(at))
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
