//! Reach and A/B variants on SQLite (issue 17, migration 0011): the reach the daemon read for
//! a delivery, which deliveries are due a read, and the figures per variant for `stats
//! --variants`, `/api/v1/variants` and the dashboard. Reach writes touch no indexed column.

use std::time::Duration;

use crate::row::col;
use crate::sqlite::{SqliteStore, db_err, ms, ts};
use jiff::Timestamp;
use smb_engine::{DeliveryKey, PostReach, StoreError};

/// A sent post whose next reach read is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachDue {
    /// The delivery (broadcaster, cycle, target).
    pub key: DeliveryKey,
    /// The account that posted it (reach is read as that account).
    pub account: String,
    /// Telegram's id of the post.
    pub message_id: i64,
    /// When it was sent (the sent outcome's time).
    pub sent_at: Timestamp,
    /// Reads done so far: the next is read number `reads + 1` of the `reach_after` list.
    pub reads: u32,
}

/// One post of an A/B slot with its last reach (`None` before the first read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantPost {
    /// The broadcaster that posted it.
    pub broadcaster: String,
    /// Its cycle.
    pub cycle: u64,
    /// The target's key.
    pub target: String,
    /// The variant label.
    pub variant: String,
    /// The text sent.
    pub message: String,
    /// Views at the last read (`None`: not read, or a group).
    pub views: Option<u64>,
    /// Reactions at the last read.
    pub reactions: Option<u64>,
    /// Replies at the last read.
    pub replies: Option<u64>,
    /// Forwards at the last read (`None`: not read, or a group).
    pub forwards: Option<u64>,
    /// Reach reads done (0: none yet).
    pub reach_reads: u32,
}

fn int(r: &sqlx::sqlite::SqliteRow, column: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = col(r, column)?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

fn reads(r: &sqlx::sqlite::SqliteRow) -> Result<u32, StoreError> {
    let v: i64 = col(r, "reach_reads")?;
    Ok(u32::try_from(v).unwrap_or(0))
}

fn text(r: &sqlx::sqlite::SqliteRow, column: &str) -> Result<String, StoreError> {
    col(r, column)
}

fn cycle_of(r: &sqlx::sqlite::SqliteRow) -> Result<u64, StoreError> {
    let c: i64 = col(r, "cycle")?;
    Ok(u64::try_from(c).unwrap_or(0))
}

impl SqliteStore {
    /// Stores a reach read of the delivery `key` (its figures, one more read done, at `at`).
    /// A group's missing views/forwards stay NULL. Answers false when no such delivery exists.
    pub async fn record_reach(
        &self,
        key: &DeliveryKey,
        reach: &PostReach,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut conn = self.message_writer().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET views = ?, forwards = ?, reactions = ?, replies = ?, \
             reach_reads = reach_reads + 1, reach_at = ? \
             WHERE broadcaster = ? AND cycle = ? AND target = ?",
        )
        .bind(reach.views.map(n))
        .bind(reach.forwards.map(n))
        .bind(n(reach.reactions))
        .bind(n(reach.replies))
        .bind(ms(at))
        .bind(&key.broadcaster)
        .bind(i64::try_from(key.cycle).unwrap_or(i64::MAX))
        .bind(key.target.key())
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    /// Sent posts (with a message id) whose next read is due at `now`: read number k + 1 is
    /// due `after[k]` after the send (`after` sorted ascending, e.g. 24 h and 72 h). Oldest
    /// first, at most `limit`.
    pub async fn reach_due(
        &self,
        after: &[Duration],
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ReachDue>, StoreError> {
        let Some(first) = after.first() else {
            return Ok(Vec::new());
        };
        let first_ms = i64::try_from(first.as_millis()).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, account, message_id, updated_at, reach_reads \
             FROM deliveries WHERE updated_at <= ? AND status = 'sent' \
             AND message_id IS NOT NULL AND reach_reads < ? ORDER BY updated_at",
        )
        .bind(ms(now).saturating_sub(first_ms))
        .bind(i64::try_from(after.len()).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut due = Vec::new();
        for r in &rows {
            let reads = reads(r)?;
            let sent_at: i64 = col(r, "updated_at")?;
            let Some(wait) = after.get(reads as usize) else {
                continue;
            };
            let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            if sent_at.saturating_add(wait) > ms(now) {
                continue;
            }
            let target = text(r, "target")?;
            let target = smb_domain::TargetRef::parse(&target)
                .map_err(|e| StoreError::Invalid(format!("deliveries.target `{target}`: {e}")))?;
            let message_id: i64 = col(r, "message_id")?;
            due.push(ReachDue {
                key: DeliveryKey {
                    broadcaster: text(r, "broadcaster")?,
                    cycle: cycle_of(r)?,
                    target,
                },
                account: text(r, "account")?,
                message_id,
                sent_at: ts(sent_at),
                reads,
            });
            if due.len() >= limit {
                break;
            }
        }
        Ok(due)
    }

    /// Per target key: how many of its posts were read and their median reach — views where
    /// Telegram counts them, else reactions + replies (groups) — for the dashboard's targets
    /// page (issue 17: dead chats, posts nobody sees, stand out). Targets without a read post
    /// are absent.
    pub async fn reach_per_target(
        &self,
    ) -> Result<std::collections::BTreeMap<String, (usize, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, views, reactions, replies FROM deliveries \
             WHERE status = 'sent' AND reach_reads > 0",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut per: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for r in &rows {
            let score = match int(r, "views")? {
                Some(v) => v,
                None => int(r, "reactions")?.unwrap_or(0) + int(r, "replies")?.unwrap_or(0),
            };
            per.entry(text(r, "target")?)
                .or_default()
                .push(score as f64);
        }
        Ok(per
            .into_iter()
            .map(|(t, mut xs)| {
                xs.sort_by(f64::total_cmp);
                let n = xs.len();
                let median = if n % 2 == 1 {
                    xs[n / 2]
                } else {
                    (xs[n / 2 - 1] + xs[n / 2]) / 2.0
                };
                (t, (n, median))
            })
            .collect())
    }

    /// Every sent post of an A/B slot with its last reach, for broadcasters posting message
    /// set `set` (`None`: all), oldest first.
    pub async fn variant_posts(
        &self,
        broadcasters: Option<&[String]>,
    ) -> Result<Vec<VariantPost>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, variant, message, views, forwards, reactions, \
             replies, reach_reads FROM deliveries \
             WHERE variant IS NOT NULL AND status = 'sent' ORDER BY updated_at",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut out = Vec::new();
        for r in &rows {
            let broadcaster = text(r, "broadcaster")?;
            if broadcasters.is_some_and(|b| !b.contains(&broadcaster)) {
                continue;
            }
            out.push(VariantPost {
                broadcaster,
                cycle: cycle_of(r)?,
                target: text(r, "target")?,
                variant: text(r, "variant")?,
                message: text(r, "message")?,
                views: int(r, "views")?,
                reactions: int(r, "reactions")?,
                replies: int(r, "replies")?,
                forwards: int(r, "forwards")?,
                reach_reads: reads(r)?,
            });
        }
        Ok(out)
    }
}

/// The daemon's reach collector reads and writes through these (issue 17).
#[async_trait::async_trait]
impl smb_engine::ReachJournal for SqliteStore {
    async fn reach_due(
        &self,
        after: &[Duration],
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<smb_engine::ReachItem>, StoreError> {
        Ok(SqliteStore::reach_due(self, after, now, limit)
            .await?
            .into_iter()
            .map(|d| smb_engine::ReachItem {
                key: d.key,
                account: d.account,
                message_id: d.message_id,
            })
            .collect())
    }

    async fn record_reach(
        &self,
        key: &DeliveryKey,
        reach: &PostReach,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        SqliteStore::record_reach(self, key, reach, at).await
    }
}
