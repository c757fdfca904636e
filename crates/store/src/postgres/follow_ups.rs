//! The follow-up journal on PostgreSQL (issue 15, migration 0010): the twin of
//! `crate::follow_ups` (same rows, same order, same answers; `tests/store/postgres.rs` runs
//! one script on both stores).

use smb_engine::{FollowUp, FollowUpResult, OurPost, StoreError};
use sqlx::PgConnection;

use super::row::{col, count};
use super::{PgStore, db_err, sql_cycle};
use crate::follow_ups::{FollowUpCount, step};

/// Inserts `rows` as pending (a `post` record is born done); one already there keeps its
/// state.
pub(super) async fn insert(
    conn: &mut PgConnection,
    rows: &[FollowUp],
    at: i64,
) -> Result<(), sqlx::Error> {
    for r in rows {
        sqlx::query(
            "INSERT INTO follow_ups (broadcaster, cycle, target, action, step, account, message_id, \
             album_ids, result, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (broadcaster, cycle, target, action) DO NOTHING",
        )
        .bind(&r.broadcaster)
        .bind(sql_cycle(r.cycle))
        .bind(&r.target)
        .bind(r.action.as_str())
        .bind(step(r.action))
        .bind(&r.account)
        .bind(r.message_id)
        .bind(crate::follow_ups::album_ids(&r.album))
        .bind((r.action == smb_engine::FollowUpAction::Post).then_some("done"))
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the result of `row`.
pub(super) async fn record(
    conn: &mut PgConnection,
    row: &FollowUp,
    result: &FollowUpResult,
    at: i64,
) -> Result<(), sqlx::Error> {
    let code = match result {
        FollowUpResult::Refused { code } => Some(code.as_str()),
        _ => None,
    };
    sqlx::query(
        "UPDATE follow_ups SET result = $1, error_code = $2, updated_at = $3
         WHERE broadcaster = $4 AND cycle = $5 AND target = $6 AND action = $7",
    )
    .bind(result.as_str())
    .bind(code)
    .bind(at)
    .bind(&row.broadcaster)
    .bind(sql_cycle(row.cycle))
    .bind(&row.target)
    .bind(row.action.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl PgStore {
    pub(super) async fn read_previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<OurPost>, StoreError> {
        let row = sqlx::query(
            "SELECT cycle, account, message_id, album_ids FROM (
                 SELECT cycle, account, message_id, NULL::TEXT AS album_ids FROM deliveries
                 WHERE broadcaster = $1 AND target = $2 AND cycle < $3 AND status = 'sent'
                   AND message_id IS NOT NULL
                 UNION ALL
                 SELECT cycle, account, message_id, album_ids FROM follow_ups
                 WHERE broadcaster = $1 AND target = $2 AND cycle < $3 AND action = 'post') AS p
             ORDER BY cycle DESC, album_ids IS NULL LIMIT 1",
        )
        .bind(broadcaster)
        .bind(target)
        .bind(sql_cycle(before_cycle))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(OurPost {
                cycle: count(&r, "cycle")?,
                account: col(&r, "account")?,
                message_id: col(&r, "message_id")?,
                album: crate::follow_ups::parse_album_ids(col(&r, "album_ids")?)?,
            })
        })
        .transpose()
    }

    pub(super) async fn read_pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, action, account, message_id, album_ids FROM follow_ups
             WHERE result IS NULL ORDER BY cycle, step",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let action: String = col(r, "action")?;
                let action = action.parse().map_err(|e: String| StoreError::Decode {
                    column: "follow_ups.action".into(),
                    source: std::sync::Arc::new(std::io::Error::other(e)),
                })?;
                Ok(FollowUp {
                    broadcaster: col(r, "broadcaster")?,
                    cycle: count(r, "cycle")?,
                    target: col(r, "target")?,
                    account: col(r, "account")?,
                    action,
                    message_id: col(r, "message_id")?,
                    album: crate::follow_ups::parse_album_ids(col(r, "album_ids")?)?,
                })
            })
            .collect()
    }

    /// The follow-ups of every broadcaster counted by action and result, as
    /// [`crate::SqliteStore::follow_up_counts`] (same order: text byte-wise).
    pub async fn follow_up_counts(&self) -> Result<Vec<FollowUpCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, action, COALESCE(result, 'pending') AS result, error_code,
                    COUNT(*) AS n
             FROM follow_ups WHERE action <> 'post' GROUP BY broadcaster, action, result, error_code
             ORDER BY broadcaster COLLATE \"C\", MIN(step), COALESCE(result, 'pending') COLLATE \"C\",
                      error_code COLLATE \"C\" NULLS FIRST",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(FollowUpCount {
                    broadcaster: col(r, "broadcaster")?,
                    action: col(r, "action")?,
                    result: col(r, "result")?,
                    code: col(r, "error_code")?,
                    count: count(r, "n")?,
                })
            })
            .collect()
    }
}
