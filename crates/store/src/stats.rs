//! The read side: figures for `stats`, reports, the dashboard. Works from a second process.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use smb_domain::{AccountStop, DeliveryStatus, HoldReason, PauseKind, TargetState};
use smb_engine::StoreError;

use crate::row::{col, count, opt_count, opt_word, word};
use crate::sqlite::{SqliteStore, ms, ts};

/// Delivery counts by status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Delivered (status `sent`).
    pub sent: u64,
    /// Failed for good (status `failed`).
    pub failed: u64,
    /// Postponed, to be retried (status `deferred`).
    pub deferred: u64,
    /// Claimed, outcome not recorded yet (any other status).
    pub pending: u64,
}

impl Counts {
    /// Adds `n` deliveries in `status`.
    pub fn add(&mut self, status: DeliveryStatus, n: u64) {
        match status {
            DeliveryStatus::Sent => self.sent += n,
            DeliveryStatus::Failed => self.failed += n,
            DeliveryStatus::Deferred => self.deferred += n,
            DeliveryStatus::Pending => self.pending += n,
        }
    }
}

/// One broadcaster's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BroadcasterStats {
    /// Its deliveries by status.
    pub counts: Counts,
    /// Failed deliveries by Telegram error code.
    pub failed_by_code: BTreeMap<String, u64>,
    /// Number of its latest cycle; `None` before the first.
    pub current_cycle: Option<u64>,
    /// Deliveries of that cycle that are sent or failed.
    pub cycle_done: u64,
    /// Whether that cycle has ended.
    pub cycle_completed: bool,
    /// Cycles ended since `since`.
    pub cycles_completed: u64,
    /// Time of the latest sent delivery (RFC 3339, UTC).
    pub last_sent_at: Option<String>,
}

/// One account's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AccountStats {
    /// Its deliveries by status.
    pub counts: Counts,
    /// FLOOD_WAIT pauses Telegram imposed.
    pub flood_waits: u64,
    /// Their total length, in seconds.
    pub flood_wait_seconds: u64,
    /// SLOWMODE_WAIT refusals (per-chat pauses).
    pub slowmode_waits: u64,
    /// End of the current pause (RFC 3339, UTC), if paused.
    pub paused_until: Option<String>,
    /// Why the account is stopped; JSON shows the stored text.
    pub stopped_reason: Option<AccountStop>,
    /// The latest error text recorded for the account, if any.
    pub last_error: Option<String>,
}

/// A disabled target, with why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetRow {
    /// The store key (`TargetRef::key`).
    pub target: String,
    /// Disabled by a refusal or by the operator.
    pub status: TargetState,
    /// Why (Telegram's error and the account that got it, or the operator's note).
    pub reason: Option<String>,
    /// When it got this status (RFC 3339, UTC).
    pub since: String,
    /// When the planner tries it again, if it will (RFC 3339, UTC).
    pub recheck_at: Option<String>,
}

/// A target its chat's rules or slow mode hold back, and until when.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeldTarget {
    /// The target as configured (its journal key).
    pub target: String,
    /// Which rule holds it, in English words (`chat rule min_gap 24h`, `chat rule hours 9-21:
    /// outside the window`, `slow mode 600 s: …`); times in UTC.
    pub reason: String,
    /// The next moment a post is allowed there (RFC 3339 to the second, UTC).
    pub until: String,
    /// The reason, typed, for words in another language or time zone (not serialised).
    #[serde(skip)]
    pub why: HoldReason,
    /// `until` as a moment (not serialised).
    #[serde(skip)]
    pub until_at: Timestamp,
    /// The broadcaster whose send is held, when known (`stats` plans it per broadcaster:
    /// another broadcaster may post into the same chat meanwhile); `None` for the journal's
    /// per-target record, and then left out of the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcaster: Option<String>,
    /// The account that send would go from, with `broadcaster`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl HeldTarget {
    /// A held target from its typed reason (English words and RFC 3339 time filled in).
    pub fn new(target: String, why: HoldReason, until: Timestamp) -> Self {
        HeldTarget {
            target,
            reason: why.to_string(),
            until: smb_domain::rfc3339_seconds(until),
            why,
            until_at: until,
            broadcaster: None,
            account: None,
        }
    }

    /// The same hold, naming whose send it holds (broadcaster, account) (qa5 F6).
    pub fn held_for(mut self, broadcaster: String, account: String) -> Self {
        self.broadcaster = Some(broadcaster);
        self.account = Some(account);
        self
    }
}

/// Everything `stats` shows, as one serialisable value (also `stats --json`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Start of the counted period (RFC 3339, UTC); `None`: all time.
    pub since: Option<String>,
    /// When the figures were read (RFC 3339, UTC).
    pub generated_at: String,
    /// Deliveries of every broadcaster by status.
    pub totals: Counts,
    /// By broadcaster name.
    pub broadcasters: BTreeMap<String, BroadcasterStats>,
    /// By account name.
    pub accounts: BTreeMap<String, AccountStats>,
    /// Disabled targets.
    pub disabled_targets: Vec<TargetRow>,
    /// Targets held back now by their chat's rules or slow mode (skipped for this cycle).
    pub held_targets: Vec<HeldTarget>,
    /// Basic groups upgraded to supergroups (absent from JSON when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrated_targets: Vec<MigratedTarget>,
}

/// An upgraded group in `stats`: the new id, the old one as its alias, and the deliveries
/// into either (since `since`), counted together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MigratedTarget {
    /// The supergroup's target key (`-100…`).
    pub target: String,
    /// The basic group's key (`-N`) it had before; its deliveries count here.
    pub alias: String,
    /// When the upgrade was found (RFC 3339, UTC).
    pub since: String,
    /// Deliveries into the old and the new id.
    pub counts: Counts,
}

impl SqliteStore {
    /// Targets held back at `now` by their chat's rules or slow mode, by target: what the
    /// daemon recorded last (`Store::record_chat_hold`), so `stats` and the dashboard show the
    /// same list, also right after a restart before the planner met those targets again.
    pub async fn held_targets(&self, now: Timestamp) -> Result<Vec<HeldTarget>, StoreError> {
        let rows = sqlx::query(
            // One account's refusal is not a hold of the chat (QA F2b): rows an older version
            // wrote for it are left out; refusals have their own table.
            "SELECT target, reason, until FROM chat_holds
             WHERE until > ? AND reason NOT LIKE 'refused:%' ORDER BY target",
        )
        .bind(ms(now))
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::database)?;
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

    /// Figures since `since` (all time when `None`).
    pub async fn stats(
        &self,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Stats, StoreError> {
        let from = since.map_or(i64::MIN, ms);
        let err = StoreError::database;
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
            let status: DeliveryStatus = word(&r, "status")?;
            let n = count::<u64, _>(&r, "n")?;
            st.totals.add(status, n);
            let b = st.broadcasters.entry(col(&r, "broadcaster")?).or_default();
            b.counts.add(status, n);
            if let Some(last) = col::<Option<i64>, _>(&r, "last")? {
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
             WHERE status = 'failed' AND updated_at >= ? GROUP BY broadcaster, error_code",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let code: Option<String> = col(&r, "error_code")?;
            st.broadcasters
                .entry(col(&r, "broadcaster")?)
                .or_default()
                .failed_by_code
                .insert(
                    code.unwrap_or_else(|| "UNKNOWN".into()),
                    count::<u64, _>(&r, "n")?,
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
            let b = st.broadcasters.entry(col(&r, "broadcaster")?).or_default();
            b.current_cycle = Some(count::<u64, _>(&r, "cycle")?);
            b.cycle_completed = col::<Option<i64>, _>(&r, "completed_at")?.is_some();
            b.cycle_done = count::<u64, _>(&r, "done")?;
            b.cycles_completed = count::<u64, _>(&r, "completed")?;
        }
        let rows = sqlx::query(
            "SELECT account, kind, COUNT(*) AS n, SUM(seconds) AS s FROM pauses WHERE at >= ? GROUP BY account, kind",
        )
        .bind(from)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        for r in rows {
            let a = st.accounts.entry(col(&r, "account")?).or_default();
            let n = count::<u64, _>(&r, "n")?;
            match word(&r, "kind")? {
                PauseKind::FloodWait => {
                    a.flood_waits += n;
                    a.flood_wait_seconds += opt_count::<u64, _>(&r, "s")?.unwrap_or(0);
                }
                PauseKind::SlowMode => a.slowmode_waits += n,
            }
        }
        let rows = sqlx::query("SELECT account, paused_until, stopped_reason FROM accounts")
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        for r in rows {
            let a = st.accounts.entry(col(&r, "account")?).or_default();
            a.paused_until = col::<Option<i64>, _>(&r, "paused_until")?
                .filter(|p| *p > ms(now))
                .map(|p| ts(p).to_string());
            a.stopped_reason = opt_word(&r, "stopped_reason")?;
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
                 WHERE target IN (?, ?) AND updated_at >= ? GROUP BY status",
            )
            .bind(&m.old)
            .bind(&m.new)
            .bind(from)
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
            let mut counts = Counts::default();
            for r in rows {
                counts.add(word(&r, "status")?, count::<u64, _>(&r, "n")?);
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
}
