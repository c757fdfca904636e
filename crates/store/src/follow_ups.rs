//! The follow-up journal (issue 15, table `follow_ups`, migration 0010): each edit, pin, unpin
//! and delete of our own posts, written pending before its Telegram call and with its result
//! after; the previous post of a (broadcaster, chat) read from the deliveries; the counts
//! `stats` shows.

use smb_engine::{FollowUp, FollowUpAction, FollowUpResult, OurPost, StoreError};
use sqlx::SqliteConnection;

use crate::row::{col, count};
use crate::sqlite::{SqliteStore, db_err};

/// The order of the actions of one cycle (column `step`): post first (the delivery), then
/// edit, pin, unpin, delete.
pub(crate) fn step(action: FollowUpAction) -> i64 {
    match action {
        FollowUpAction::Post => -1,
        FollowUpAction::Edit => 0,
        FollowUpAction::Pin => 1,
        FollowUpAction::Unpin => 2,
        FollowUpAction::Delete => 3,
    }
}

fn cycle(c: u64) -> i64 {
    // Cycles count from 1 by one per cycle: far below i64::MAX.
    i64::try_from(c).unwrap_or(i64::MAX)
}

/// Inserts `rows` as pending; one already there keeps its state.
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    rows: &[FollowUp],
    at: i64,
) -> Result<(), sqlx::Error> {
    for r in rows {
        sqlx::query(
            "INSERT INTO follow_ups (broadcaster, cycle, target, action, step, account, message_id, \
             album_ids, result, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (broadcaster, cycle, target, action) DO NOTHING",
        )
        .bind(&r.broadcaster)
        .bind(cycle(r.cycle))
        .bind(&r.target)
        .bind(r.action.as_str())
        .bind(step(r.action))
        .bind(&r.account)
        .bind(r.message_id)
        .bind(album_ids(&r.album))
        // A post record is born done: nothing to carry out.
        .bind((r.action == FollowUpAction::Post).then_some("done"))
        .bind(at)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the result of `row`.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    row: &FollowUp,
    result: &FollowUpResult,
    at: i64,
) -> Result<(), sqlx::Error> {
    let code = match result {
        FollowUpResult::Refused { code } => Some(code.as_str()),
        _ => None,
    };
    sqlx::query(
        "UPDATE follow_ups SET result = ?, error_code = ?, updated_at = ?
         WHERE broadcaster = ? AND cycle = ? AND target = ? AND action = ?",
    )
    .bind(result.as_str())
    .bind(code)
    .bind(at)
    .bind(&row.broadcaster)
    .bind(cycle(row.cycle))
    .bind(&row.target)
    .bind(row.action.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One line of the follow-up counts `stats` shows: how many of `action` ended in `result`
/// (with Telegram's error name for a refusal) for `broadcaster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpCount {
    /// The broadcaster.
    pub broadcaster: String,
    /// `edit`, `pin`, `unpin` or `delete`.
    pub action: String,
    /// `done`, `gone`, `refused` or `pending`.
    pub result: String,
    /// Telegram's error of a refusal (`MESSAGE_DELETE_FORBIDDEN`, …).
    pub code: Option<String>,
    /// How many.
    pub count: u64,
}

impl SqliteStore {
    pub(crate) async fn read_previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<OurPost>, StoreError> {
        let row = sqlx::query(
            "SELECT cycle, account, message_id, album_ids FROM (
                 SELECT cycle, account, message_id, NULL AS album_ids FROM deliveries
                 WHERE broadcaster = ? AND target = ? AND cycle < ? AND status = 'sent'
                   AND message_id IS NOT NULL
                 UNION ALL
                 SELECT cycle, account, message_id, album_ids FROM follow_ups
                 WHERE broadcaster = ? AND target = ? AND cycle < ? AND action = 'post')
             ORDER BY cycle DESC, album_ids IS NULL LIMIT 1",
        )
        .bind(broadcaster)
        .bind(target)
        .bind(cycle(before_cycle))
        .bind(broadcaster)
        .bind(target)
        .bind(cycle(before_cycle))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(OurPost {
                cycle: count(&r, "cycle")?,
                account: col(&r, "account")?,
                message_id: col(&r, "message_id")?,
                album: parse_album_ids(col(&r, "album_ids")?)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn read_pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, action, account, message_id, album_ids
             FROM follow_ups WHERE result IS NULL ORDER BY cycle, step",
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
                    album: parse_album_ids(col(r, "album_ids")?)?,
                })
            })
            .collect()
    }

    /// The follow-ups of every broadcaster counted by action and result (issue 15), for
    /// `stats`: pending ones too. Empty when no broadcaster uses `post_mode` or `pin`.
    pub async fn follow_up_counts(&self) -> Result<Vec<FollowUpCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, action, COALESCE(result, 'pending') AS result, error_code,
                    COUNT(*) AS n
             FROM follow_ups WHERE action <> 'post' GROUP BY broadcaster, action, result, error_code
             ORDER BY broadcaster, step, result, error_code",
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

/// An album's other items as the `album_ids` column keeps them (migration 0015): their ids
/// joined by commas, NULL when the post is not an album.
pub(crate) fn album_ids(ids: &[i64]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

/// The `album_ids` column back; anything but comma-separated integers is a
/// [`StoreError::Decode`] naming it.
pub(crate) fn parse_album_ids(column: Option<String>) -> Result<Vec<i64>, StoreError> {
    let Some(text) = column else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|id| {
            id.trim().parse::<i64>().map_err(|e| StoreError::Decode {
                column: "follow_ups.album_ids".into(),
                source: std::sync::Arc::new(e),
            })
        })
        .collect()
}
