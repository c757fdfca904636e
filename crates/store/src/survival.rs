//! The survival check of our posts on SQLite (issue 15, migration 0014): which of our posts
//! the chats' admins removed (once per post) and, per chat, the removals in a row and the flag
//! "our posts are being removed". Written by the driver before it posts into a chat where we
//! have a previous post ([`smb_engine::Store::record_post_check`]); read by `stats` and the
//! dashboard.

use smb_engine::{ChatSurvival, PostCheck, PostCheckResult, StoreError};
use sqlx::Connection as _;

use crate::row::{col, count};
use crate::sqlite::{SqliteStore, db_err, ms, ts};

impl SqliteStore {
    pub(crate) async fn insert_post_check(
        &self,
        check: &PostCheck,
    ) -> Result<PostCheckResult, StoreError> {
        let mut conn = self.message_writer().await?;
        let mut tx = conn.begin().await.map_err(db_err)?;
        let at = ms(check.at);
        sqlx::query(
            "INSERT INTO chat_survival (target, checked_at) VALUES (?, ?)
             ON CONFLICT (target) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(&check.target)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if check.removed {
            let new = sqlx::query(
                "INSERT INTO removed_posts (target, broadcaster, message_id, at) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&check.target)
            .bind(&check.broadcaster)
            .bind(check.message_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if new.rows_affected() > 0 {
                sqlx::query(
                    "UPDATE chat_survival SET removed_in_row = removed_in_row + 1,
                         removed_total = removed_total + 1, last_removed_at = ?
                     WHERE target = ?",
                )
                .bind(at)
                .bind(&check.target)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        } else {
            sqlx::query(
                "UPDATE chat_survival SET removed_in_row = 0, flagged = 0 WHERE target = ?",
            )
            .bind(&check.target)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let row = sqlx::query("SELECT removed_in_row, flagged FROM chat_survival WHERE target = ?")
            .bind(&check.target)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let removed_in_row: u32 = count(&row, "removed_in_row")?;
        let flagged: bool = col::<i64, _>(&row, "flagged")? != 0;
        let flag = check.flag_after > 0 && removed_in_row >= check.flag_after;
        let newly_flagged = flag && !flagged;
        if newly_flagged {
            sqlx::query("UPDATE chat_survival SET flagged = 1 WHERE target = ?")
                .bind(&check.target)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(PostCheckResult {
            removed_in_row,
            newly_flagged,
        })
    }

    pub(crate) async fn read_chat_survival(&self) -> Result<Vec<ChatSurvival>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, removed_in_row, removed_total, flagged, last_removed_at, checked_at
             FROM chat_survival ORDER BY target",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ChatSurvival {
                    target: col(r, "target")?,
                    removed_in_row: count(r, "removed_in_row")?,
                    removed_total: count(r, "removed_total")?,
                    flagged: col::<i64, _>(r, "flagged")? != 0,
                    last_removed_at: col::<Option<i64>, _>(r, "last_removed_at")?.map(ts),
                    checked_at: ts(col(r, "checked_at")?),
                })
            })
            .collect()
    }
}
