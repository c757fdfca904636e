//! The reads `run` and `stats` make beside the `Store` port, on PostgreSQL: the twins of
//! `crate::messages` (current version of a set), `crate::switch`, `crate::web` (targets added
//! at run time), `crate::stats`, `crate::series` and `crate::migrated`, with the same
//! answers (`tests/store/postgres.rs` compares them). `SUM` of a `BIGINT` is a `NUMERIC` in
//! PostgreSQL: cast back to `BIGINT` here.

use std::collections::BTreeMap;

use jiff::Timestamp;
use smb_domain::{DeliveryStatus, HoldReason, Message, PauseKind, TargetState};
use smb_engine::StoreError;
use sqlx::postgres::PgRow;

use super::row::{col, count, opt_word, word};
use super::{PgStore, db_err};
use crate::sqlite::{ms, ts};
use crate::stats::{Counts, MigratedTarget};
use crate::{
    AddedTarget, ChatMigration, HeldTarget, MessageSetVersion, PeriodSummary, Stats, TargetCounts,
    TargetMode, TargetSwitches,
};

fn opt_count(r: &PgRow, column: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = col(r, column)?;
    v.map(|n| {
        u64::try_from(n).map_err(|e| StoreError::Decode {
            column: column.to_owned(),
            source: std::sync::Arc::new(e),
        })
    })
    .transpose()
}

impl PgStore {
    /// The newest version of `set`, as [`crate::SqliteStore::current_message_set`].
    pub async fn current_message_set(
        &self,
        set: &str,
    ) -> Result<Option<MessageSetVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT set_name, version, texts, created_at, summary, source
             FROM message_set_versions WHERE set_name = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(set)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let set: String = col(&row, "set_name")?;
        let version: i64 = col(&row, "version")?;
        let texts: String = col(&row, "texts")?;
        let messages: Vec<Message> =
            serde_json::from_str(&texts).map_err(|e| StoreError::Decode {
                column: format!("texts of version {version} of message set `{set}`"),
                source: std::sync::Arc::new(e),
            })?;
        Ok(Some(MessageSetVersion {
            set,
            version,
            messages,
            created_at: ts(col(&row, "created_at")?),
            summary: col(&row, "summary")?,
            source: col(&row, "source")?,
        }))
    }

    /// Every choice of `targets switch`, as [`crate::SqliteStore::target_switches`].
    pub async fn target_switches(&self) -> Result<TargetSwitches, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, mode, since FROM target_switch ORDER BY broadcaster COLLATE \"C\"",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut out = TargetSwitches::default();
        for r in rows {
            let name: String = col(&r, "broadcaster")?;
            let mode: String = col(&r, "mode")?;
            let Some(mode) = TargetMode::parse(&mode) else {
                continue;
            };
            let entry = (mode, ts(col(&r, "since")?));
            if name == crate::ALL_BROADCASTERS {
                out.all = Some(entry);
            } else {
                out.by_broadcaster.insert(name, entry);
            }
        }
        Ok(out)
    }

    /// Every target added at run time, as [`crate::SqliteStore::added_targets`].
    pub async fn added_targets(&self) -> Result<Vec<AddedTarget>, StoreError> {
        let rows = sqlx::query(
            "SELECT list, target, raw, added_at FROM web_targets
             ORDER BY list COLLATE \"C\", added_at, target COLLATE \"C\"",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(AddedTarget {
                    list: col(r, "list")?,
                    target: col(r, "target")?,
                    raw: col(r, "raw")?,
                    added_at: ts(col(r, "added_at")?),
                })
            })
            .collect()
    }

    /// Upgraded groups, as [`crate::SqliteStore::chat_migrations`].
    pub async fn chat_migrations(&self) -> Result<Vec<ChatMigration>, StoreError> {
        let rows = sqlx::query(
            "SELECT old_target, new_target, account, at FROM chat_migrations
             ORDER BY at, old_target COLLATE \"C\"",
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

    /// Targets held back at `now`, as [`crate::SqliteStore::held_targets`].
    pub async fn held_targets(&self, now: Timestamp) -> Result<Vec<HeldTarget>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, reason, until FROM chat_holds
             WHERE until > $1 AND reason NOT LIKE 'refused:%' ORDER BY target COLLATE \"C\"",
        )
        .bind(ms(now))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let reason: String = col(r, "reason")?;
                Ok(HeldTarget::new(
                    col(r, "target")?,
                    HoldReason::decode(&reason),
                    ts(col(r, "until")?),
                ))
            })
            .collect()
    }

    /// Figures since `since` (all time when `None`), as [`crate::SqliteStore::stats`].
    pub async fn stats(
        &self,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Stats, StoreError> {
        let from = since.map_or(i64::MIN, ms);
        let mut st = Stats {
            since: since.map(|t| t.to_string()),
            generated_at: now.to_string(),
            ..Stats::default()
        };
        let rows = sqlx::query(
            "SELECT broadcaster, account, status, COUNT(*) AS n,
                    MAX(CASE WHEN status = 'sent' THEN updated_at END) AS last
             FROM deliveries WHERE updated_at >= $1 GROUP BY broadcaster, account, status",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let status: DeliveryStatus = word(&r, "status")?;
            let n: u64 = count(&r, "n")?;
            st.totals.add(status, n);
            let b = st.broadcasters.entry(col(&r, "broadcaster")?).or_default();
            b.counts.add(status, n);
            if let Some(last) = col::<Option<i64>>(&r, "last")? {
                let last = ts(last).to_string();
                if b.last_sent_at.as_ref().is_none_or(|l| *l < last) {
                    b.last_sent_at = Some(last);
                }
            }
            st.accounts
                .entry(col(&r, "account")?)
                .or_default()
                .counts
                .add(status, n);
        }
        let rows = sqlx::query(
            "SELECT broadcaster, error_code, COUNT(*) AS n FROM deliveries
             WHERE status = 'failed' AND updated_at >= $1 GROUP BY broadcaster, error_code",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let code: Option<String> = col(&r, "error_code")?;
            st.broadcasters
                .entry(col(&r, "broadcaster")?)
                .or_default()
                .failed_by_code
                .insert(code.unwrap_or_else(|| "UNKNOWN".into()), count(&r, "n")?);
        }
        let rows = sqlx::query(
            "SELECT c.broadcaster, c.cycle, c.completed_at,
                    (SELECT COUNT(*) FROM deliveries d WHERE d.broadcaster = c.broadcaster
                       AND d.cycle = c.cycle AND d.status IN ('sent', 'failed')) AS done,
                    (SELECT COUNT(*) FROM cycles c2 WHERE c2.broadcaster = c.broadcaster
                       AND c2.completed_at IS NOT NULL AND c2.completed_at >= $1) AS completed
             FROM cycles c
             WHERE c.cycle = (SELECT MAX(cycle) FROM cycles c3 WHERE c3.broadcaster = c.broadcaster)",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let b = st.broadcasters.entry(col(&r, "broadcaster")?).or_default();
            b.current_cycle = Some(count(&r, "cycle")?);
            b.cycle_completed = col::<Option<i64>>(&r, "completed_at")?.is_some();
            b.cycle_done = count(&r, "done")?;
            b.cycles_completed = count(&r, "completed")?;
        }
        let rows = sqlx::query(
            "SELECT account, kind, COUNT(*) AS n, SUM(seconds)::BIGINT AS s FROM pauses
             WHERE at >= $1 GROUP BY account, kind",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let a = st.accounts.entry(col(&r, "account")?).or_default();
            let n: u64 = count(&r, "n")?;
            match word(&r, "kind")? {
                PauseKind::FloodWait => {
                    a.flood_waits += n;
                    a.flood_wait_seconds += opt_count(&r, "s")?.unwrap_or(0);
                }
                PauseKind::SlowMode => a.slowmode_waits += n,
            }
        }
        let rows = sqlx::query("SELECT account, paused_until, stopped_reason FROM accounts")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        for r in rows {
            let a = st.accounts.entry(col(&r, "account")?).or_default();
            a.paused_until = col::<Option<i64>>(&r, "paused_until")?
                .filter(|p| *p > ms(now))
                .map(|p| ts(p).to_string());
            a.stopped_reason = opt_word(&r, "stopped_reason")?;
        }
        let rows = sqlx::query(
            "SELECT d.account, d.error_code, d.updated_at FROM deliveries d
             JOIN (SELECT account, MAX(updated_at) AS m FROM deliveries
                   WHERE error_code IS NOT NULL GROUP BY account) x
               ON x.account = d.account AND x.m = d.updated_at
             WHERE d.error_code IS NOT NULL",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let a = st.accounts.entry(col(&r, "account")?).or_default();
            let code: String = col(&r, "error_code")?;
            a.last_error = Some(format!("{code} at {}", ts(col(&r, "updated_at")?)));
        }
        st.held_targets = self.held_targets(now).await?;
        st.disabled_targets = self
            .target_rows()
            .await?
            .into_iter()
            .filter(|t| t.status == TargetState::Disabled)
            .collect();
        for m in self.chat_migrations().await? {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) AS n FROM deliveries
                 WHERE target IN ($1, $2) AND updated_at >= $3 GROUP BY status",
            )
            .bind(&m.old)
            .bind(&m.new)
            .bind(from)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
            let mut counts = Counts::default();
            for r in rows {
                counts.add(word(&r, "status")?, count(&r, "n")?);
            }
            st.migrated_targets.push(MigratedTarget {
                target: m.new,
                alias: m.old,
                since: m.at,
                counts,
            });
        }
        Ok(st)
    }

    /// Per target key: deliveries by status since `since`, as
    /// [`crate::SqliteStore::target_counts`].
    pub async fn target_counts(
        &self,
        since: Option<Timestamp>,
    ) -> Result<BTreeMap<String, TargetCounts>, StoreError> {
        let from = since.map_or(i64::MIN, ms);
        let rows = sqlx::query(
            "SELECT target, status, COUNT(*) AS n FROM deliveries
             WHERE updated_at >= $1 GROUP BY target, status",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut out: BTreeMap<String, TargetCounts> = BTreeMap::new();
        for r in rows {
            let t = out.entry(col(&r, "target")?).or_default();
            let n: u64 = count(&r, "n")?;
            match word(&r, "status")? {
                DeliveryStatus::Sent => t.sent += n,
                DeliveryStatus::Failed => t.failed += n,
                DeliveryStatus::Deferred => t.deferred += n,
                DeliveryStatus::Pending => t.pending += n,
            }
        }
        let rows = sqlx::query(
            "SELECT d.target, d.error_code FROM deliveries d
             JOIN (SELECT target, MAX(updated_at) AS m FROM deliveries
                   WHERE error_code IS NOT NULL AND updated_at >= $1 GROUP BY target) x
               ON x.target = d.target AND x.m = d.updated_at
             WHERE d.error_code IS NOT NULL",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            out.entry(col(&r, "target")?).or_default().last_error = col(&r, "error_code")?;
        }
        Ok(out)
    }

    /// Sent and failed deliveries, completed cycles and flood waits in `[since, until)`, as
    /// [`crate::SqliteStore::period_summary`].
    pub async fn period_summary(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<PeriodSummary, StoreError> {
        let (from, to) = (ms(since), ms(until));
        let mut out = PeriodSummary::default();
        let rows = sqlx::query(
            "SELECT broadcaster, account, status, error_class, COUNT(*) AS n FROM deliveries
             WHERE status IN ('sent', 'failed') AND updated_at >= $1 AND updated_at < $2
             GROUP BY broadcaster, account, status, error_class",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let n: u64 = count(&r, "n")?;
            let status: DeliveryStatus = word(&r, "status")?;
            let b = out.broadcasters.entry(col(&r, "broadcaster")?).or_default();
            let a = out.accounts.entry(col(&r, "account")?).or_default();
            if status == DeliveryStatus::Sent {
                b.sent += n;
                a.sent += n;
            } else {
                let class: Option<String> = col(&r, "error_class")?;
                *b.failed_by_class
                    .entry(class.unwrap_or_else(|| "unknown".into()))
                    .or_default() += n;
                a.failed += n;
            }
        }
        let rows = sqlx::query(
            "SELECT broadcaster, COUNT(*) AS n FROM cycles
             WHERE completed_at >= $1 AND completed_at < $2 GROUP BY broadcaster",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            out.broadcasters
                .entry(col(&r, "broadcaster")?)
                .or_default()
                .cycles_completed = count(&r, "n")?;
        }
        let rows = sqlx::query(
            "SELECT account, COUNT(*) AS n, SUM(seconds)::BIGINT AS s FROM pauses
             WHERE kind = 'flood_wait' AND at >= $1 AND at < $2 GROUP BY account",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let a = out.accounts.entry(col(&r, "account")?).or_default();
            a.flood_waits = count(&r, "n")?;
            a.flood_wait_seconds = opt_count(&r, "s")?.unwrap_or(0);
        }
        Ok(out)
    }
}
