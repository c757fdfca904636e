//! Time-bounded read queries for live views and reports: sends per minute (the `stats --watch`
//! sparkline) and the figures of one closed period (`[since, until)`, a channel report).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use smb_domain::DeliveryStatus;
use smb_engine::StoreError;

use crate::row::{col, count, opt_count, word};
use crate::sqlite::{SqliteStore, ms};

/// What one broadcaster did in a period.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PeriodBroadcaster {
    /// Deliveries sent in the period.
    pub sent: u64,
    /// Failed deliveries by error class (`target_dead`, `bad_content`, …).
    pub failed_by_class: BTreeMap<String, u64>,
    /// Cycles that ended in the period.
    pub cycles_completed: u64,
}

/// What one account did in a period.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PeriodAccount {
    /// Deliveries sent in the period.
    pub sent: u64,
    /// Deliveries that failed in the period.
    pub failed: u64,
    /// FLOOD_WAIT pauses Telegram imposed in the period.
    pub flood_waits: u64,
    /// Their total length, in seconds.
    pub flood_wait_seconds: u64,
}

/// The figures of `[since, until)`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PeriodSummary {
    /// By broadcaster name.
    pub broadcasters: BTreeMap<String, PeriodBroadcaster>,
    /// By account name.
    pub accounts: BTreeMap<String, PeriodAccount>,
}

/// Deliveries to one target.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TargetCounts {
    /// Deliveries sent.
    pub sent: u64,
    /// Deliveries failed for good.
    pub failed: u64,
    /// Deliveries postponed (a pause, a quiet hour) and not yet retried.
    pub deferred: u64,
    /// Deliveries claimed whose outcome is not recorded yet.
    pub pending: u64,
    /// Telegram's error code of the latest failed or deferred delivery to it.
    pub last_error: Option<String>,
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

impl SqliteStore {
    /// Sent deliveries per broadcaster in each of the `minutes` whole minutes that end at `now`
    /// (oldest first; the last bucket is the minute `now` is in, so far).
    pub async fn sends_per_minute(
        &self,
        now: Timestamp,
        minutes: usize,
    ) -> Result<BTreeMap<String, Vec<u64>>, StoreError> {
        const MINUTE: i64 = 60_000;
        let minutes = minutes.max(1);
        let last = ms(now).div_euclid(MINUTE);
        let first = last - (i64::try_from(minutes).unwrap_or(i64::MAX) - 1);
        let rows = sqlx::query(
            "SELECT broadcaster, updated_at / 60000 AS minute, COUNT(*) AS n FROM deliveries
             WHERE status = 'sent' AND updated_at >= ? AND updated_at < ?
             GROUP BY broadcaster, minute",
        )
        .bind(first * MINUTE)
        .bind((last + 1) * MINUTE)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for r in rows {
            let minute: i64 = col(&r, "minute")?;
            let Ok(i) = usize::try_from(minute - first) else {
                continue;
            };
            let series = out
                .entry(col(&r, "broadcaster")?)
                .or_insert_with(|| vec![0; minutes]);
            if let Some(slot) = series.get_mut(i) {
                *slot += count::<u64, _>(&r, "n")?;
            }
        }
        Ok(out)
    }

    /// Deliveries per target (by its store key) whose outcome was recorded since `since`
    /// (all time when `None`).
    pub async fn target_counts(
        &self,
        since: Option<Timestamp>,
    ) -> Result<BTreeMap<String, TargetCounts>, StoreError> {
        let from = since.map_or(i64::MIN, ms);
        let rows = sqlx::query(
            "SELECT target, status, COUNT(*) AS n FROM deliveries
             WHERE updated_at >= ? GROUP BY target, status",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let mut out: BTreeMap<String, TargetCounts> = BTreeMap::new();
        for r in rows {
            let t = out.entry(col(&r, "target")?).or_default();
            let n = count::<u64, _>(&r, "n")?;
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
                   WHERE error_code IS NOT NULL AND updated_at >= ? GROUP BY target) x
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

    /// Sends, failures, completed cycles and flood waits in `[since, until)`.
    pub async fn period_summary(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<PeriodSummary, StoreError> {
        let (from, to) = (ms(since), ms(until));
        let mut out = PeriodSummary::default();
        let rows = sqlx::query(
            "SELECT broadcaster, account, status, error_class, COUNT(*) AS n FROM deliveries
             WHERE status IN ('sent', 'failed') AND updated_at >= ? AND updated_at < ?
             GROUP BY broadcaster, account, status, error_class",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let n = count::<u64, _>(&r, "n")?;
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
             WHERE completed_at >= ? AND completed_at < ? GROUP BY broadcaster",
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
                .cycles_completed = count::<u64, _>(&r, "n")?;
        }
        let rows = sqlx::query(
            "SELECT account, COUNT(*) AS n, SUM(seconds) AS s FROM pauses
             WHERE kind = 'flood_wait' AND at >= ? AND at < ? GROUP BY account",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            let a = out.accounts.entry(col(&r, "account")?).or_default();
            a.flood_waits = count::<u64, _>(&r, "n")?;
            a.flood_wait_seconds = opt_count::<u64, _>(&r, "s")?.unwrap_or(0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use smb_domain::TargetRef;
    use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};

    use super::*;
    use crate::SqliteSettings;

    async fn deliver(store: &SqliteStore, b: &str, target: &str, at: Timestamp, outcome: Outcome) {
        let key = DeliveryKey {
            broadcaster: b.into(),
            cycle: 1,
            target: TargetRef::parse(target).unwrap(),
        };
        let pending = PendingDelivery {
            key: key.clone(),
            account: "acc1".into(),
            random_id: rand_id(target),
            message: "m".into(),
            variant: None,
            attempt: 1,
            at,
        };
        store.write_pending(&pending).await.unwrap();
        store.record_outcome(&key, &outcome, at).await.unwrap();
    }

    fn rand_id(s: &str) -> i64 {
        s.bytes()
            .fold(7i64, |h, b| h.wrapping_mul(31).wrapping_add(i64::from(b)))
    }

    #[tokio::test]
    async fn per_minute_buckets_and_a_bounded_period() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::open(&url, SqliteSettings::default())
            .await
            .unwrap();
        let now: Timestamp = "2026-11-24T10:05:30Z".parse().unwrap();
        let sent = Outcome::Sent {
            message_id: Some(1),
        };
        let m = |s: i64| now - jiff::SignedDuration::from_secs(s);
        store.start_cycle("b2b", 1, "m", m(600)).await.unwrap();
        deliver(&store, "b2b", "@chat_a", m(10), sent.clone()).await; // this minute
        deliver(&store, "b2b", "@chat_b", m(20), sent.clone()).await; // 10:05:10, this minute
        deliver(&store, "b2b", "@chat_c", m(100), sent.clone()).await; // 10:03:50
        deliver(&store, "b2b", "@chat_d", m(4000), sent.clone()).await; // outside the window
        let failed = Outcome::Failed {
            class: smb_domain::ErrorClass::TargetDead,
            code: "CHAT_WRITE_FORBIDDEN".into(),
            detail: "x".into(),
        };
        deliver(&store, "b2b", "@chat_e", m(30), failed).await;
        store.complete_cycle("b2b", 1, m(5)).await.unwrap();
        store
            .record_pause(
                "acc1",
                None,
                smb_domain::PauseKind::FloodWait,
                Duration::from_secs(42),
                now,
                m(50),
            )
            .await
            .unwrap();
        store.flush().await.unwrap();

        let series = store.sends_per_minute(now, 5).await.unwrap();
        assert_eq!(series["b2b"], vec![0, 0, 1, 0, 2]);

        let p = store.period_summary(m(3600), now).await.unwrap();
        let b = &p.broadcasters["b2b"];
        assert_eq!((b.sent, b.cycles_completed), (3, 1));
        assert_eq!(
            b.failed_by_class,
            BTreeMap::from([("target_dead".to_string(), 1)])
        );
        let a = &p.accounts["acc1"];
        assert_eq!(
            (a.sent, a.failed, a.flood_waits, a.flood_wait_seconds),
            (3, 1, 1, 42)
        );
        // `until` is exclusive: nothing at or after it counts.
        let early = store.period_summary(m(3600), m(20)).await.unwrap();
        assert_eq!(early.broadcasters["b2b"].sent, 1);

        let targets = store.target_counts(Some(m(3600))).await.unwrap();
        assert_eq!(targets.len(), 4, "{targets:?}");
        assert_eq!(targets["@chat_a"].sent, 1);
        assert_eq!(
            targets["@chat_e"],
            TargetCounts {
                failed: 1,
                last_error: Some("CHAT_WRITE_FORBIDDEN".into()),
                ..Default::default()
            }
        );
    }
}
