//! The survival check of our posts on PostgreSQL (issue 15, migration 0014): the twin of
//! `crate::survival` (same rows, same answers). Its own transaction on the read pool, as
//! `record_migration`: the answer (removals in a row, newly flagged) comes from the database.

use smb_engine::{ChatSurvival, PostCheck, PostCheckResult, StoreError};

use super::row::{col, count};
use super::{PgStore, db_err};
use crate::sqlite::{ms, ts};

impl PgStore {
    pub(super) async fn insert_post_check(
        &self,
        check: &PostCheck,
    ) -> Result<PostCheckResult, StoreError> {
        let mut tx = self.read.begin().await.map_err(db_err)?;
        let at = ms(check.at);
        sqlx::query(
            "INSERT INTO chat_survival (target, checked_at) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(&check.target)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if check.removed {
            let new = sqlx::query(
                "INSERT INTO removed_posts (target, broadcaster, message_id, at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
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
                         removed_total = removed_total + 1, last_removed_at = $1
                     WHERE target = $2",
                )
                .bind(at)
                .bind(&check.target)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        } else {
            sqlx::query(
                "UPDATE chat_survival SET removed_in_row = 0, flagged = 0 WHERE target = $1",
            )
            .bind(&check.target)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let row =
            sqlx::query("SELECT removed_in_row, flagged FROM chat_survival WHERE target = $1")
                .bind(&check.target)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let removed_in_row: u32 = count(&row, "removed_in_row")?;
        let flagged: i64 = col(&row, "flagged")?;
        let flagged = flagged != 0;
        let newly_flagged = check.flag_after > 0 && removed_in_row >= check.flag_after && !flagged;
        if newly_flagged {
            sqlx::query("UPDATE chat_survival SET flagged = 1 WHERE target = $1")
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

    pub(super) async fn read_chat_survival(&self) -> Result<Vec<ChatSurvival>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, removed_in_row, removed_total, flagged, last_removed_at, checked_at
             FROM chat_survival ORDER BY target COLLATE \"C\"",
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
                    flagged: col::<i64>(r, "flagged")? != 0,
                    last_removed_at: col::<Option<i64>>(r, "last_removed_at")?.map(ts),
                    checked_at: ts(col(r, "checked_at")?),
                })
            })
            .collect()
    }
}
