//! Reach and A/B variants on PostgreSQL (issue 17, migration 0011): the twin of
//! `crate::reach` (same methods, same answers; `tests/store/postgres.rs` runs one script on
//! both stores and compares). Reach writes touch no indexed column.

use std::time::Duration;

use jiff::Timestamp;
use smb_engine::{DeliveryKey, PostReach, StoreError};

use super::row::{col, count};
use super::{PgStore, db_err, sql_cycle};
use crate::sqlite::{ms, ts};
use crate::{ReachDue, VariantPost};

/// A nullable figure column as a count (`None`: not read, or a group's views/forwards).
fn figure(r: &sqlx::postgres::PgRow, column: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = col(r, column)?;
    // Written from `u64`s capped at i64::MAX: never negative; a negative one reads as 0 as in
    // the SQLite store.
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// A duration as whole milliseconds, the longest kept for an absurd one.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Stores a reach read of the delivery `key` (its figures, one more read done, at `at`),
    /// as [`crate::SqliteStore::record_reach`]. A group's missing views/forwards stay NULL.
    /// Answers false when no such delivery exists.
    ///
    /// Its own autocommitted statement, not a journal batch: a reach read lost to a crash is
    /// read again, and the answer (a row or none) comes from the database.
    pub async fn record_reach(
        &self,
        key: &DeliveryKey,
        reach: &PostReach,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE deliveries SET views = $1, forwards = $2, reactions = $3, replies = $4, \
             reach_reads = reach_reads + 1, reach_at = $5 \
             WHERE broadcaster = $6 AND cycle = $7 AND target = $8",
        )
        .bind(reach.views.map(n))
        .bind(reach.forwards.map(n))
        .bind(n(reach.reactions))
        .bind(n(reach.replies))
        .bind(ms(at))
        .bind(&key.broadcaster)
        .bind(sql_cycle(key.cycle))
        .bind(key.target.key())
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    /// Sent posts (with a message id) whose next read is due at `now`, as
    /// [`crate::SqliteStore::reach_due`]: read number k + 1 is due `after[k]` after the send
    /// (`after` sorted ascending). Oldest first, at most `limit`.
    pub async fn reach_due(
        &self,
        after: &[Duration],
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ReachDue>, StoreError> {
        let Some(first) = after.first() else {
            return Ok(Vec::new());
        };
        // The read due next is chosen in SQL here (set time number `reach_reads + 1` of the
        // list, bound as a 1-based array), so `limit` applies to due posts only. The wait is
        // compared with the time since the send, which cannot overflow as a sum could.
        let waits: Vec<i64> = after.iter().copied().map(millis).collect();
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, account, message_id, updated_at, reach_reads \
             FROM deliveries WHERE updated_at <= $1 AND status = 'sent' \
             AND message_id IS NOT NULL AND reach_reads < $2 \
             AND ($3::BIGINT[])[(reach_reads + 1)::INT] <= $4 - updated_at \
             ORDER BY updated_at LIMIT $5",
        )
        .bind(ms(now).saturating_sub(millis(*first)))
        .bind(i64::try_from(after.len()).unwrap_or(i64::MAX))
        .bind(&waits)
        .bind(ms(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let target: String = col(r, "target")?;
                let target = smb_domain::TargetRef::parse(&target).map_err(|e| {
                    StoreError::Invalid(format!("deliveries.target `{target}`: {e}"))
                })?;
                Ok(ReachDue {
                    key: DeliveryKey {
                        broadcaster: col(r, "broadcaster")?,
                        cycle: count(r, "cycle")?,
                        target,
                    },
                    account: col(r, "account")?,
                    message_id: col(r, "message_id")?,
                    sent_at: ts(col(r, "updated_at")?),
                    reads: count(r, "reach_reads")?,
                })
            })
            .collect()
    }

    /// Every sent post of an A/B slot with its last reach, for the broadcasters `broadcasters`
    /// (`None`: all), oldest first, as [`crate::SqliteStore::variant_posts`].
    pub async fn variant_posts(
        &self,
        broadcasters: Option<&[String]>,
    ) -> Result<Vec<VariantPost>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, variant, message, views, forwards, reactions, \
             replies, reach_reads FROM deliveries \
             WHERE variant IS NOT NULL AND status = 'sent' \
             AND ($1::TEXT[] IS NULL OR broadcaster = ANY($1)) ORDER BY updated_at",
        )
        .bind(broadcasters)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(VariantPost {
                    broadcaster: col(r, "broadcaster")?,
                    cycle: count(r, "cycle")?,
                    target: col(r, "target")?,
                    variant: col(r, "variant")?,
                    message: col(r, "message")?,
                    views: figure(r, "views")?,
                    reactions: figure(r, "reactions")?,
                    replies: figure(r, "replies")?,
                    forwards: figure(r, "forwards")?,
                    reach_reads: count(r, "reach_reads")?,
                })
            })
            .collect()
    }
}

/// The daemon's reach collector reads and writes through these (issue 17), as on SQLite.
#[async_trait::async_trait]
impl smb_engine::ReachJournal for PgStore {
    async fn reach_due(
        &self,
        after: &[Duration],
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<smb_engine::ReachItem>, StoreError> {
        Ok(PgStore::reach_due(self, after, now, limit)
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
        PgStore::record_reach(self, key, reach, at).await
    }
}
