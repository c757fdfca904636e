//! The read side: figures for `stats`, reports, the dashboard. Works from a second process.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use smb_engine::StoreError;
use sqlx::Row;

use crate::sqlite::{SqliteStore, ms, ts};

/// Delivery counts by status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub failed: u64,
    pub deferred: u64,
    pub pending: u64,
}

impl Counts {
    fn add(&mut self, status: &str, n: u64) {
        match status {
            "sent" => self.sent += n,
            "failed" => self.failed += n,
            "deferred" => self.deferred += n,
            _ => self.pending += n,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BroadcasterStats {
    pub counts: Counts,
    /// Failed deliveries by Telegram error code.
    pub failed_by_code: BTreeMap<String, u64>,
    pub current_cycle: Option<u64>,
    pub cycle_done: u64,
    pub cycle_completed: bool,
    pub cycles_completed: u64,
    pub last_sent_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AccountStats {
    pub counts: Counts,
    pub flood_waits: u64,
    pub flood_wait_seconds: u64,
    pub slowmode_waits: u64,
    pub paused_until: Option<String>,
    pub stopped_reason: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetRow {
    pub target: String,
    pub status: String,
    pub reason: Option<String>,
    pub since: String,
    pub recheck_at: Option<String>,
}

/// A target its chat's rules or slow mode hold back, and until when.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeldTarget {
    pub target: String,
    pub reason: String,
    /// The next moment a post is allowed there.
    pub until: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub since: Option<String>,
    pub generated_at: String,
    pub totals: Counts,
    pub broadcasters: BTreeMap<String, BroadcasterStats>,
    pub accounts: BTreeMap<String, AccountStats>,
    pub disabled_targets: Vec<TargetRow>,
    /// Targets held back now by their chat's rules or slow mode (skipped for this cycle).
    pub held_targets: Vec<HeldTarget>,
}

impl SqliteStore {
    /// Figures since `since` (all time when `None`).
    pub async fn stats(
        &self,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Stats, StoreError> {
        let from = since.map(ms).unwrap_or(i64::MIN);
        let err = |e: sqlx::Error| StoreError::Database(e.to_string());
        let mut st = Stats {
            since: since.map(|t| t.to_string()),
            generated_at: now.to_string(),
            ..Stats::default()
        };
        let rows = sqlx::query(
            "SELECT broadcaster, account, status, COUNT(*) AS n, MAX(CASE WHEN status = 'sent' THEN updated_at END) AS last
             FROM deliveries WHERE updated_at >= ? GROUP BY broadcaster, account, status",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let status: String = r.get("status");
            let n = r.get::<i64, _>("n") as u64;
            st.totals.add(&status, n);
            let b = st.broadcasters.entry(r.get("broadcaster")).or_default();
            b.counts.add(&status, n);
            if let Some(last) = r.get::<Option<i64>, _>("last") {
                let last = ts(last).to_string();
                if b.last_sent_at.as_ref().is_none_or(|l| *l < last) {
                    b.last_sent_at = Some(last);
                }
            }
            st.accounts
                .entry(r.get("account"))
                .or_default()
                .counts
                .add(&status, n);
        }
        let rows = sqlx::query(
            "SELECT broadcaster, error_code, COUNT(*) AS n FROM deliveries
             WHERE status = 'failed' AND updated_at >= ? GROUP BY broadcaster, error_code",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let code: Option<String> = r.get("error_code");
            st.broadcasters
                .entry(r.get("broadcaster"))
                .or_default()
                .failed_by_code
                .insert(
                    code.unwrap_or_else(|| "UNKNOWN".into()),
                    r.get::<i64, _>("n") as u64,
                );
        }
        let rows = sqlx::query(
            "SELECT c.broadcaster, c.cycle, c.completed_at,
                    (SELECT COUNT(*) FROM deliveries d WHERE d.broadcaster = c.broadcaster AND d.cycle = c.cycle
                       AND d.status IN ('sent', 'failed')) AS done,
                    (SELECT COUNT(*) FROM cycles c2 WHERE c2.broadcaster = c.broadcaster
                       AND c2.completed_at IS NOT NULL AND c2.completed_at >= ?) AS completed
             FROM cycles c
             WHERE c.cycle = (SELECT MAX(cycle) FROM cycles c3 WHERE c3.broadcaster = c.broadcaster)",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let b = st.broadcasters.entry(r.get("broadcaster")).or_default();
            b.current_cycle = Some(r.get::<i64, _>("cycle") as u64);
            b.cycle_completed = r.get::<Option<i64>, _>("completed_at").is_some();
            b.cycle_done = r.get::<i64, _>("done") as u64;
            b.cycles_completed = r.get::<i64, _>("completed") as u64;
        }
        let rows = sqlx::query(
            "SELECT account, kind, COUNT(*) AS n, SUM(seconds) AS s FROM pauses WHERE at >= ? GROUP BY account, kind",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let a = st.accounts.entry(r.get("account")).or_default();
            let n = r.get::<i64, _>("n") as u64;
            if r.get::<String, _>("kind") == "flood_wait" {
                a.flood_waits += n;
                a.flood_wait_seconds += r.get::<Option<i64>, _>("s").unwrap_or(0) as u64;
            } else {
                a.slowmode_waits += n;
            }
        }
        let rows = sqlx::query("SELECT account, paused_until, stopped_reason FROM accounts")
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        for r in rows {
            let a = st.accounts.entry(r.get("account")).or_default();
            a.paused_until = r
                .get::<Option<i64>, _>("paused_until")
                .filter(|p| *p > ms(now))
                .map(|p| ts(p).to_string());
            a.stopped_reason = r.get("stopped_reason");
        }
        let rows = sqlx::query(
            "SELECT d.account, d.error_code, d.updated_at FROM deliveries d
             JOIN (SELECT account, MAX(updated_at) AS m FROM deliveries WHERE error_code IS NOT NULL GROUP BY account) x
               ON x.account = d.account AND x.m = d.updated_at
             WHERE d.error_code IS NOT NULL",
        )
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let a = st.accounts.entry(r.get("account")).or_default();
            let code: String = r.get("error_code");
            a.last_error = Some(format!("{code} at {}", ts(r.get("updated_at"))));
        }
        let rows = sqlx::query(
            "SELECT target, reason, until FROM chat_holds WHERE until > ? ORDER BY target",
        )
        .bind(ms(now))
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        st.held_targets = rows
            .iter()
            .map(|r| HeldTarget {
                target: r.get("target"),
                reason: r.get("reason"),
                until: ts(r.get("until")).to_string(),
            })
            .collect();
        st.disabled_targets = self
            .target_rows()
            .await?
            .into_iter()
            .filter(|t| t.status == "disabled")
            .collect();
        Ok(st)
    }
}
