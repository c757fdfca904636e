//! The PostgreSQL store (issue 16, part 1): the engine's `Store` port on a database server,
//! chosen by a `postgres://` or `postgresql://` `DATABASE_URL` (see [`is_postgres_url`]).
//!
//! The same shape as the SQLite store: one writer task owns one connection and commits what
//! callers queued in groups (group commit: each caller waits until the transaction holding its
//! write has committed, i.e. reached PostgreSQL's WAL on disk), and a small pool serves reads.
//! Like SQLite's, a batch of outcomes alone commits without waiting for the WAL flush
//! (`SET LOCAL synchronous_commit = off`): PostgreSQL writes WAL in order, so the next durable
//! commit (a pending write, a cycle, a flush) makes it durable too, and an outcome lost to a
//! crash of the database server leaves its delivery pending, re-sent with the same random_id
//! that Telegram drops as a duplicate.
//!
//! Schema: `migrations/postgres/`, the same tables and columns as `migrations/sqlite/` (times
//! are Unix milliseconds in `BIGINT`), applied at open under an advisory lock
//! ([`MIGRATION_LOCK`]) so that servers starting at once do not race.
//!
//! Text is ordered byte-wise (`COLLATE "C"`), as SQLite orders it, whatever the database's
//! locale: lists read back come in the same order from either store.
//!
//! Several servers on one database (issue 16, part 2): [`leases`] — who drives which
//! accounts, and the fence every journal write checks in its own transaction.

mod follow_ups;
pub mod leases;
mod reach;
mod reads;
mod row;
mod survival;
mod uploads;
mod writer;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{AccountStop, OperatorState, PauseKind, TargetState};
use smb_engine::{
    DeliveryKey, FollowUp, FollowUpResult, JournalPost, OurPost, Outcome, PendingDelivery, Store,
    StoreError, StoredAccount, StoredChatPause, StoredCycle, StoredDelivery, StoredRefusal,
    TargetStatus,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, oneshot};

use self::row::{col, count, opt_word, word};
use self::writer::{Job, Op, Writer};
use crate::sqlite::{ms, ts};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The key of the session advisory lock (`pg_advisory_lock`) held while migrations run: the
/// first server to start migrates, the others wait and then find nothing left to do. Any
/// constant works; this one is "smb_mig" in ASCII.
pub const MIGRATION_LOCK: i64 = 0x0073_6d62_5f6d_6967;

/// A reading connection unused this long is closed.
const READER_IDLE: Duration = Duration::from_secs(60);

/// `true` for the URLs this store opens: `postgres://…` and `postgresql://…` (libpq's two
/// schemes), case-insensitive, leading blanks ignored.
pub fn is_postgres_url(url: &str) -> bool {
    let u = url.trim_start().to_ascii_lowercase();
    u.starts_with("postgres://") || u.starts_with("postgresql://")
}

/// Tuning of [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Upper bound on writes committed together.
    pub max_batch: usize,
    /// Reading connections at most.
    pub max_readers: u32,
    /// PostgreSQL's `idle_in_transaction_session_timeout` for every connection of the store:
    /// a server frozen (SIGSTOP, a VM paused) in the middle of a transaction has its session
    /// ended by the database after this long, so the lease rows that transaction locked (the
    /// fence's `FOR SHARE`, a take's `FOR UPDATE`) do not keep the other servers from taking
    /// them over. `run` sets it from `LEASE_TTL` (docs/postgres.md); `None`: the server's
    /// setting.
    pub idle_in_transaction: Option<Duration>,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            max_batch: 2048,
            max_readers: 4,
            idle_in_transaction: None,
        }
    }
}

/// The `Store` port on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    tx: mpsc::Sender<Job>,
    pub(crate) read: PgPool,
    /// `host:port/database`, for errors (never the password).
    place: Arc<str>,
    /// Checked by the writer before each batch commits (unarmed: nothing checked).
    fence: leases::Fence,
}

impl std::fmt::Debug for PgStore {
    // The URL's password is never shown; the place is enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

/// `host:port/database` of `opts`: how errors name the server, without user or password.
fn place_of(opts: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("(the user's database)")
    )
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, libpq's
    /// parameters such as `sslmode` in the query), applies the pending migrations under
    /// [`MIGRATION_LOCK`] and starts the writer task.
    ///
    /// Errors: `Invalid` for a URL that does not parse (the message shows it with its password
    /// masked); `Database` naming `host:port/db` when the server cannot be reached or refuses
    /// the login; `Migration` when the schema cannot be brought up to date.
    pub async fn open(url: &str, settings: PgSettings) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url.trim()).map_err(|e| {
            StoreError::Invalid(format!(
                "DATABASE_URL `{}` is not a PostgreSQL URL ({}); write it as \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                smb_domain::redact::redact(url),
                smb_domain::redact::redact(&e.to_string())
            ))
        })?;
        let opts = match settings.idle_in_transaction {
            Some(d) => opts.options([(
                "idle_in_transaction_session_timeout",
                d.as_millis().max(1).to_string(),
            )]),
            None => opts,
        };
        let place: Arc<str> = place_of(&opts).into();
        let mut conn = PgConnection::connect_with(&opts).await.map_err(|e| {
            StoreError::database_in(format!("cannot connect to PostgreSQL at {place}"), e)
        })?;
        let read = PgPoolOptions::new()
            .max_connections(settings.max_readers.max(1))
            .min_connections(0)
            .idle_timeout(READER_IDLE)
            .connect_lazy_with(opts.clone());
        migrate(&mut conn, &read).await?;
        let (tx, rx) = mpsc::channel::<Job>(settings.max_batch.max(1) * 2);
        let fence = leases::Fence::default();
        let writer = Writer::new(conn, opts, place.clone(), fence.clone());
        tokio::spawn(writer::writer_loop(writer, rx, settings.max_batch.max(1)));
        Ok(PgStore {
            tx,
            read,
            place,
            fence,
        })
    }

    /// `host:port/database` this store writes to.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Waits for the queued writes, then closes the read pool. The store must not be used
    /// afterwards.
    pub async fn close(&self) -> Result<(), StoreError> {
        let res = self.submit(Op::Flush).await;
        self.read.close().await;
        res
    }

    async fn submit(&self, op: Op) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((op, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Targets with a recorded status (the rest are active), as [`crate::SqliteStore::target_rows`].
    pub async fn target_rows(&self) -> Result<Vec<crate::TargetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, status, reason, since, recheck_at FROM targets ORDER BY target COLLATE \"C\"",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(crate::TargetRow {
                    target: col(r, "target")?,
                    status: word(r, "status")?,
                    reason: col(r, "reason")?,
                    since: ts(col(r, "since")?).to_string(),
                    recheck_at: col::<Option<i64>>(r, "recheck_at")?.map(|v| ts(v).to_string()),
                })
            })
            .collect()
    }

    /// [`Store::refusals`] as an inherent method, as [`crate::SqliteStore::account_refusals`]:
    /// the refusals whose re-check comes after `after`, by account then target.
    pub async fn account_refusals(
        &self,
        after: Timestamp,
    ) -> Result<Vec<StoredRefusal>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, target, code, reason, until, at FROM account_refusals
             WHERE until > $1 ORDER BY account COLLATE \"C\", target COLLATE \"C\"",
        )
        .bind(ms(after))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredRefusal {
                    account: col(r, "account")?,
                    target: col(r, "target")?,
                    code: col(r, "code")?,
                    reason: col(r, "reason")?,
                    until: ts(col(r, "until")?),
                    at: ts(col(r, "at")?),
                })
            })
            .collect()
    }

    /// The version of the newest migration applied to the database (`None` before any).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }
}

/// The newest migration this program knows (`migrations/postgres/`).
pub fn latest_migration() -> Option<i64> {
    MIGRATOR.iter().map(|m| m.version).max()
}

/// Applies the pending migrations while `lock` holds [`MIGRATION_LOCK`]. The lock is a
/// session lock: released explicitly here, and by the server if this connection dies mid-way
/// (a failed migration is rolled back by its own transaction). The migrations run on a
/// connection of `pool` (sqlx's migrator takes a pool where it must be `Send` in a spawned
/// task); the lock on `lock`'s session still keeps every other server out.
async fn migrate(lock: &mut PgConnection, pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *lock)
        .await
        .map_err(|e| StoreError::database_in("cannot take the migration lock", e))?;
    let res = MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Migration(Arc::new(e)));
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *lock)
        .await
        .map_err(|e| StoreError::database_in("cannot release the migration lock", e));
    res?;
    unlocked.map(|_| ())
}

/// A cycle number as PostgreSQL keeps it (`BIGINT`, an `i64`).
#[expect(
    clippy::cast_possible_wrap,
    reason = "cycles count up by one from 1: 2^63 of them is out of reach"
)]
pub(crate) fn sql_cycle(cycle: u64) -> i64 {
    cycle as i64
}

#[async_trait]
impl Store for PgStore {
    async fn last_cycle(&self, broadcaster: &str) -> Result<Option<StoredCycle>, StoreError> {
        let row = sqlx::query(
            "SELECT cycle, message, started_at, completed_at FROM cycles
             WHERE broadcaster = $1 ORDER BY cycle DESC LIMIT 1",
        )
        .bind(broadcaster)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let stored_cycle: i64 = col(&row, "cycle")?;
        let cycle: u64 = count(&row, "cycle")?;
        let completed_at: Option<i64> = col(&row, "completed_at")?;
        let mut deliveries = Vec::new();
        if completed_at.is_none() {
            let rows = sqlx::query(
                "SELECT target, status, random_id, attempts, retry_at FROM deliveries
                 WHERE broadcaster = $1 AND cycle = $2",
            )
            .bind(broadcaster)
            .bind(stored_cycle)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
            deliveries = rows
                .iter()
                .map(|r| {
                    Ok(StoredDelivery {
                        target: col(r, "target")?,
                        status: word(r, "status")?,
                        random_id: col(r, "random_id")?,
                        attempts: count::<u32>(r, "attempts")?,
                        retry_at: col::<Option<i64>>(r, "retry_at")?.map(ts),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
        }
        Ok(Some(StoredCycle {
            cycle,
            message: col(&row, "message")?,
            started_at: ts(col(&row, "started_at")?),
            completed_at: completed_at.map(ts),
            deliveries,
        }))
    }

    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError> {
        let mut out: HashMap<String, StoredAccount> = HashMap::new();
        let rows = sqlx::query("SELECT account, paused_until, stopped_reason FROM accounts")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        for r in rows {
            let a = out.entry(col(&r, "account")?).or_default();
            a.paused_until = col::<Option<i64>>(&r, "paused_until")?.map(ts);
            a.stopped_reason = opt_word(&r, "stopped_reason")?;
        }
        let rows =
            sqlx::query("SELECT account, MAX(updated_at) AS last FROM deliveries GROUP BY account")
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        for r in rows {
            out.entry(col(&r, "account")?).or_default().last_send_at =
                col::<Option<i64>>(&r, "last")?.map(ts);
        }
        Ok(out)
    }

    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError> {
        let rows = sqlx::query("SELECT target, status, reason, since, recheck_at FROM targets")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let status = match word(r, "status")? {
                    TargetState::Disabled => TargetStatus::Disabled {
                        reason: col::<Option<String>>(r, "reason")?.unwrap_or_default(),
                        since: ts(col(r, "since")?),
                        recheck_at: col::<Option<i64>>(r, "recheck_at")?.map(ts),
                    },
                    TargetState::Active => TargetStatus::Active,
                };
                Ok((col(r, "target")?, status))
            })
            .collect()
    }

    async fn start_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::StartCycle {
            broadcaster: broadcaster.into(),
            cycle: sql_cycle(cycle),
            message: message.into(),
            at: ms(at),
        })
        .await
    }

    async fn write_pending(&self, delivery: &PendingDelivery) -> Result<(), StoreError> {
        self.submit(Op::Pending(delivery.clone())).await
    }

    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::Outcome {
            key: key.clone(),
            outcome: outcome.clone(),
            at: ms(at),
        })
        .await
    }

    async fn complete_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::CompleteCycle {
            broadcaster: broadcaster.into(),
            cycle: sql_cycle(cycle),
            at: ms(at),
        })
        .await
    }

    async fn set_target_status(
        &self,
        target: &str,
        status: &TargetStatus,
    ) -> Result<(), StoreError> {
        self.submit(Op::Target {
            target: target.into(),
            status: status.clone(),
        })
        .await
    }

    async fn record_pause(
        &self,
        account: &str,
        target: Option<&str>,
        kind: PauseKind,
        seconds: Duration,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::Pause {
            account: account.into(),
            target: target.map(str::to_owned),
            kind,
            // Telegram's waits are hours at most; an absurd one is kept as the longest.
            seconds: i64::try_from(seconds.as_secs()).unwrap_or(i64::MAX),
            until: ms(until),
            at: ms(at),
        })
        .await
    }

    async fn set_account_stopped(
        &self,
        account: &str,
        reason: Option<&AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::Stopped {
            account: account.into(),
            reason: reason.cloned(),
            at: ms(at),
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.submit(Op::Flush).await
    }

    async fn probe(&self) -> Result<(), StoreError> {
        self.submit(Op::Probe).await
    }

    async fn set_broadcaster_state(
        &self,
        broadcaster: &str,
        state: OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::BroadcasterState {
            broadcaster: broadcaster.into(),
            state,
            at: ms(at),
        })
        .await
    }

    async fn recent_deliveries(&self, since: Timestamp) -> Result<Vec<JournalPost>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, account, status, updated_at FROM deliveries
             WHERE (status = 'sent' AND updated_at >= $1) OR status IN ('pending', 'deferred')",
        )
        .bind(ms(since))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(JournalPost {
                    broadcaster: col(r, "broadcaster")?,
                    cycle: count(r, "cycle")?,
                    target: col(r, "target")?,
                    account: col(r, "account")?,
                    status: word(r, "status")?,
                    at: ts(col(r, "updated_at")?),
                })
            })
            .collect()
    }

    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::Hold {
            target: target.into(),
            reason: reason.into(),
            until: ms(until),
            at: ms(at),
        })
        .await
    }

    async fn chat_pauses(&self, after: Timestamp) -> Result<Vec<StoredChatPause>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, target, MAX(until) AS until FROM pauses
             WHERE target IS NOT NULL AND until > $1 GROUP BY account, target
             ORDER BY account COLLATE \"C\", target COLLATE \"C\"",
        )
        .bind(ms(after))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredChatPause {
                    account: col(r, "account")?,
                    target: col(r, "target")?,
                    until: ts(col(r, "until")?),
                })
            })
            .collect()
    }

    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        let rows = sqlx::query("SELECT broadcaster, state FROM broadcaster_states")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((col(r, "broadcaster")?, word(r, "state")?)))
            .collect()
    }

    async fn record_refusal(&self, refusal: &StoredRefusal) -> Result<(), StoreError> {
        self.submit(Op::Refusal(refusal.clone())).await
    }

    async fn clear_refusal(&self, account: &str, target: &str) -> Result<(), StoreError> {
        self.submit(Op::ClearRefusal {
            account: account.into(),
            target: target.into(),
        })
        .await
    }

    async fn refusals(&self, after: Timestamp) -> Result<Vec<StoredRefusal>, StoreError> {
        self.account_refusals(after).await
    }

    async fn last_sent_by_account(
        &self,
        target: &str,
    ) -> Result<HashMap<String, Timestamp>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, MAX(updated_at) AS at FROM deliveries
             WHERE target = $1 AND status = 'sent' GROUP BY account",
        )
        .bind(target)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((col(r, "account")?, ts(col(r, "at")?))))
            .collect()
    }

    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        // Reads first: this runs after every post into an upgraded group, and a known group
        // costs no write.
        let known: Option<String> =
            sqlx::query_scalar("SELECT new_target FROM chat_migrations WHERE old_target = $1")
                .bind(old)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
        if known.as_deref() == Some(new) {
            return Ok(false);
        }
        // Its own autocommitted statement: not part of the journal's batches, and the answer
        // (first time or not) comes from the database, so two callers at once agree.
        let done = sqlx::query(
            "INSERT INTO chat_migrations (old_target, new_target, account, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (old_target) DO UPDATE SET new_target = excluded.new_target,
                 account = excluded.account, at = excluded.at
             WHERE chat_migrations.new_target <> excluded.new_target",
        )
        .bind(old)
        .bind(new)
        .bind(account)
        .bind(ms(at))
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<OurPost>, StoreError> {
        self.read_previous_post(broadcaster, target, before_cycle)
            .await
    }

    async fn write_follow_ups(&self, rows: &[FollowUp], at: Timestamp) -> Result<(), StoreError> {
        self.submit(Op::FollowUps {
            rows: rows.to_vec(),
            at: ms(at),
        })
        .await
    }

    async fn record_post_check(
        &self,
        check: &smb_engine::PostCheck,
    ) -> Result<smb_engine::PostCheckResult, StoreError> {
        self.insert_post_check(check).await
    }

    async fn chat_survival(&self) -> Result<Vec<smb_engine::ChatSurvival>, StoreError> {
        self.read_chat_survival().await
    }

    async fn record_follow_up(
        &self,
        row: &FollowUp,
        result: &FollowUpResult,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.submit(Op::FollowUpDone {
            row: row.clone(),
            result: result.clone(),
            at: ms(at),
        })
        .await
    }

    async fn pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError> {
        self.read_pending_follow_ups().await
    }
}
