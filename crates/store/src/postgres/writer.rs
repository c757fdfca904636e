//! The PostgreSQL store's writer task: one connection, one transaction per batch of queued
//! writes (group commit), each caller answered once its batch has committed.

use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::{AccountStop, DeliveryStatus, OperatorState, PauseKind, TargetState};
use smb_engine::{
    DeliveryKey, FollowUp, FollowUpResult, Outcome, PendingDelivery, StoreError, StoredRefusal,
    TargetStatus,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use tokio::sync::{mpsc, oneshot};

use super::{db_err, sql_cycle};
use crate::sqlite::ms;

pub(super) enum Op {
    StartCycle {
        broadcaster: String,
        cycle: i64,
        message: String,
        at: i64,
    },
    Pending(PendingDelivery),
    Outcome {
        key: DeliveryKey,
        outcome: Outcome,
        at: i64,
    },
    CompleteCycle {
        broadcaster: String,
        cycle: i64,
        at: i64,
    },
    Target {
        target: String,
        status: TargetStatus,
    },
    Pause {
        account: String,
        target: Option<String>,
        kind: PauseKind,
        seconds: i64,
        until: i64,
        at: i64,
    },
    Stopped {
        account: String,
        reason: Option<AccountStop>,
        at: i64,
    },
    BroadcasterState {
        broadcaster: String,
        state: OperatorState,
        at: i64,
    },
    Hold {
        target: String,
        reason: String,
        until: i64,
        at: i64,
    },
    Refusal(StoredRefusal),
    ClearRefusal {
        account: String,
        target: String,
    },
    /// Follow-ups written pending (issue 15).
    FollowUps {
        rows: Vec<FollowUp>,
        at: i64,
    },
    /// A follow-up's result.
    FollowUpDone {
        row: FollowUp,
        result: FollowUpResult,
        at: i64,
    },
    Flush,
    /// A real, durable write: a transaction that is given an id (`txid_current()`) writes a
    /// commit record to the WAL and waits for its flush, so a server that cannot write (disk
    /// full, read-only standby, lost connection) fails it like any journal write.
    Probe,
}

pub(super) type Job = (Op, oneshot::Sender<Result<(), StoreError>>);

/// The writer's side: one connection with no transaction open between batches, or none when
/// its state became unknown (a lost connection, a failed rollback) and it must be opened again.
pub(super) struct Writer {
    conn: Option<PgConnection>,
    opts: PgConnectOptions,
    place: Arc<str>,
    fence: super::leases::Fence,
}

/// PostgreSQL's SQLSTATE classes that belong to one statement's data, not to the server:
/// 22 (data exception: a value out of range, a bad encoding) and 23 (integrity constraint
/// violation). A batch failing with one of these is retried write by write so that one bad
/// write does not fail its neighbours; any other failure fails the whole batch.
fn batch_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && let Some(code) = d.code()
        && (code.starts_with("22") || code.starts_with("23"))
    {
        return StoreError::Rejected {
            source: Arc::new(e),
        };
    }
    db_err(e)
}

impl Writer {
    pub(super) fn new(
        conn: PgConnection,
        opts: PgConnectOptions,
        place: Arc<str>,
        fence: super::leases::Fence,
    ) -> Self {
        Writer {
            conn: Some(conn),
            opts,
            place,
            fence,
        }
    }

    async fn connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        if self.conn.is_none() {
            let conn = PgConnection::connect_with(&self.opts).await.map_err(|e| {
                StoreError::database_in(
                    format!("cannot connect to PostgreSQL at {} again", self.place),
                    e,
                )
            })?;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    /// Runs `batch` as one transaction that ends in a COMMIT or a ROLLBACK, never left open.
    async fn commit(&mut self, batch: &[Job]) -> Result<(), StoreError> {
        // Outcomes alone need not wait for the WAL flush (module docs of `postgres`).
        let relax = batch.iter().all(|(op, _)| matches!(op, Op::Outcome { .. }));
        let check = fence_check(&self.fence, batch);
        if let Some(check) = &check
            && !check.unheld.is_empty()
        {
            // Leases this server does not hold: refused without asking the database.
            return Err(super::leases::fenced(&check.unheld));
        }
        let conn = self.connection().await?;
        let res = match write_batch(conn, batch, relax, check.as_ref()).await {
            Ok(()) => sqlx::raw_sql("COMMIT")
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .map_err(db_err),
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.roll_back().await;
        }
        res
    }

    /// Ends whatever transaction a failed batch left; when even that fails, the connection's
    /// state is unknown: it is dropped and opened again before the next batch.
    async fn roll_back(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
            tracing::warn!(error = %e, "the journal's connection is reset after a failed rollback");
            if let Some(conn) = self.conn.take() {
                // Closing may fail as well; the connection is gone either way.
                let _ = conn.close().await;
            }
        }
    }
}

pub(super) async fn writer_loop(mut writer: Writer, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match writer.commit(&batch).await {
            Ok(()) => {
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e)
                if (e.is_rejected_write() || super::leases::is_fenced(&e)) && batch.len() > 1 =>
            {
                // One bad write (or one write under a lease this server lost) must not fail
                // its neighbours: retry each on its own.
                for (op, done) in batch.drain(..) {
                    let one = [(op, oneshot::channel().0)];
                    let _ = done.send(writer.commit(&one).await);
                }
            }
            Err(e) => {
                // Every waiter of a failed batch learns it failed: none of its writes committed.
                tracing::debug!(error = %e.report(), writes = batch.len(), "journal batch failed");
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
    if let Some(conn) = writer.conn.take() {
        let _ = conn.close().await;
    }
}

/// The fence check of `batch`: the accounts and broadcasters its writes are about.
fn fence_check(fence: &super::leases::Fence, batch: &[Job]) -> Option<super::leases::Check> {
    let mut accounts: Vec<&str> = Vec::new();
    let mut broadcasters: Vec<&str> = Vec::new();
    for (op, _) in batch {
        match op {
            Op::Pending(d) => {
                accounts.push(&d.account);
                broadcasters.push(&d.key.broadcaster);
            }
            Op::Outcome { key, .. } => broadcasters.push(&key.broadcaster),
            Op::StartCycle { broadcaster, .. }
            | Op::CompleteCycle { broadcaster, .. }
            | Op::BroadcasterState { broadcaster, .. } => broadcasters.push(broadcaster),
            Op::Pause { account, .. }
            | Op::Stopped { account, .. }
            | Op::ClearRefusal { account, .. } => accounts.push(account),
            Op::Refusal(r) => accounts.push(&r.account),
            Op::FollowUps { rows, .. } => {
                for r in rows {
                    accounts.push(&r.account);
                    broadcasters.push(&r.broadcaster);
                }
            }
            Op::FollowUpDone { row, .. } => {
                accounts.push(&row.account);
                broadcasters.push(&row.broadcaster);
            }
            // Chats (targets, holds) are shared by every server; a flush or a probe writes
            // nothing of an account.
            Op::Target { .. } | Op::Hold { .. } | Op::Flush | Op::Probe => {}
        }
    }
    fence.check(accounts.into_iter(), broadcasters.into_iter())
}

/// Rows per multi-row statement, largest first: a batch is cut into chunks of these sizes only,
/// so that few distinct statements exist and each stays prepared in the connection's cache
/// (the SQLite store does the same).
const CHUNKS: [usize; 6] = [128, 32, 8, 4, 2, 1];

fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|&n| n <= rows.len())?;
        let (head, rest) = rows.split_at(size);
        rows = rest;
        Some(head)
    })
}

/// The statements of one batch after `BEGIN` (the caller commits or rolls back). Pending
/// writes and outcomes go as multi-row statements; reordering them is safe because one
/// delivery never has two writes in one batch (its writer awaits each write before making the
/// next). Every other write keeps its order.
async fn write_batch(
    conn: &mut PgConnection,
    batch: &[Job],
    relax: bool,
    check: Option<&super::leases::Check>,
) -> Result<(), StoreError> {
    sqlx::raw_sql("BEGIN")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if let Some(check) = check {
        // Fencing: the leases checked and locked in this transaction, before any write.
        super::leases::verify(conn, check).await?;
    }
    if relax {
        sqlx::raw_sql("SET LOCAL synchronous_commit = off")
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    let pendings: Vec<&PendingDelivery> = batch
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Pending(d) => Some(d),
            _ => None,
        })
        .collect();
    for chunk in chunks(&pendings) {
        insert_pending(conn, chunk).await?;
    }
    let outcomes: Vec<(&DeliveryKey, &Outcome, i64)> = batch
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Outcome { key, outcome, at } => Some((key, outcome, *at)),
            _ => None,
        })
        .collect();
    for chunk in chunks(&outcomes) {
        update_outcomes(conn, chunk).await?;
    }
    for (op, _) in batch {
        if !matches!(op, Op::Pending(_) | Op::Outcome { .. }) {
            apply_op(conn, op).await?;
        }
    }
    Ok(())
}

async fn insert_pending(
    conn: &mut PgConnection,
    rows: &[&PendingDelivery],
) -> Result<(), StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "INSERT INTO deliveries (broadcaster, cycle, target, account, random_id, message, status, \
         attempts, created_at, updated_at, variant) ",
    );
    q.push_values(rows, |mut b, d| {
        b.push_bind(d.key.broadcaster.as_str())
            .push_bind(sql_cycle(d.key.cycle))
            .push_bind(d.key.target.key())
            .push_bind(d.account.as_str())
            .push_bind(d.random_id)
            .push_bind(&*d.message)
            .push_bind(DeliveryStatus::Pending.as_str())
            .push_bind(i64::from(d.attempt))
            .push_bind(ms(d.at))
            .push_bind(ms(d.at))
            .push_bind(d.variant.as_deref());
    });
    // On conflict the stored random_id is kept: a delivery has one id for its life. The
    // account is the one trying now (as in SQLite: a backup that takes a delivery refused on
    // the stopped account is the account that posts it, issue 14).
    q.push(
        " ON CONFLICT (broadcaster, cycle, target) DO UPDATE SET \
         status = 'pending', account = excluded.account, attempts = excluded.attempts, \
         retry_at = NULL, updated_at = excluded.updated_at",
    );
    q.build()
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(batch_err)
}

async fn update_outcomes(
    conn: &mut PgConnection,
    rows: &[(&DeliveryKey, &Outcome, i64)],
) -> Result<(), StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "UPDATE deliveries SET status = v.status, message_id = v.message_id, \
         error_class = v.error_class, error_code = v.error_code, error_text = v.error_text, \
         retry_at = v.retry_at, updated_at = v.updated_at, \
         attempts = deliveries.attempts + \
           (CASE WHEN v.status = 'deferred' AND v.error_class = 'transient' THEN 1 ELSE 0 END) \
         FROM (",
    );
    q.push_values(rows, |mut b, (key, outcome, at)| {
        let (message_id, class, code, text, retry_at) = outcome_columns(outcome);
        b.push_bind(key.broadcaster.as_str())
            .push_bind(sql_cycle(key.cycle))
            .push_bind(key.target.key())
            .push_bind(outcome.status().as_str())
            .push_bind(message_id)
            .push_bind(class)
            .push_bind(code.map(str::to_owned))
            .push_bind(text.map(str::to_owned))
            .push_bind(retry_at)
            .push_bind(*at);
    });
    q.push(
        ") AS v (broadcaster, cycle, target, status, message_id, error_class, error_code, \
         error_text, retry_at, updated_at) \
         WHERE deliveries.broadcaster = v.broadcaster AND deliveries.cycle = v.cycle \
         AND deliveries.target = v.target",
    );
    q.build()
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(batch_err)
}

type OutcomeColumns<'a> = (
    Option<i64>,
    Option<&'static str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
);

fn outcome_columns(outcome: &Outcome) -> OutcomeColumns<'_> {
    match outcome {
        Outcome::Sent { message_id } => (*message_id, None, None, None, None),
        Outcome::Failed {
            class,
            code,
            detail,
        } => (
            None,
            Some(class.as_str()),
            Some(code.as_str()),
            Some(detail.as_str()),
            None,
        ),
        Outcome::Deferred { until, class, code } => (
            None,
            Some(class.as_str()),
            Some(code.as_str()),
            None,
            Some(ms(*until)),
        ),
    }
}

async fn apply_op(conn: &mut PgConnection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::StartCycle { broadcaster, cycle, message, at } => {
            sqlx::query(
                "INSERT INTO cycles (broadcaster, cycle, message, started_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (broadcaster, cycle) DO NOTHING",
            )
            .bind(broadcaster)
            .bind(cycle)
            .bind(message)
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        // Written in bulk by write_batch.
        Op::Pending(_) | Op::Outcome { .. } | Op::Flush => return Ok(()),
        Op::CompleteCycle { broadcaster, cycle, at } => {
            sqlx::query("UPDATE cycles SET completed_at = $1 WHERE broadcaster = $2 AND cycle = $3")
                .bind(at)
                .bind(broadcaster)
                .bind(cycle)
                .execute(&mut *conn)
                .await
        }
        Op::Target { target, status } => {
            let (st, reason, since, recheck) = match status {
                TargetStatus::Active => (TargetState::Active, None, Timestamp::now(), None),
                TargetStatus::Disabled { reason, since, recheck_at } => {
                    (TargetState::Disabled, Some(reason.as_str()), *since, recheck_at.map(ms))
                }
            };
            sqlx::query(
                "INSERT INTO targets (target, status, reason, since, recheck_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (target) DO UPDATE SET status = excluded.status, reason = excluded.reason,
                     since = excluded.since, recheck_at = excluded.recheck_at",
            )
            .bind(target)
            .bind(st.as_str())
            .bind(reason)
            .bind(ms(since))
            .bind(recheck)
            .execute(&mut *conn)
            .await
        }
        Op::Pause { account, target, kind, seconds, until, at } => {
            sqlx::query(
                "INSERT INTO pauses (account, target, kind, seconds, until, at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(account)
            .bind(target)
            .bind(kind.as_str())
            .bind(seconds)
            .bind(until)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(batch_err)?;
            if target.is_some() {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO accounts (account, paused_until, pause_reason) VALUES ($1, $2, $3)
                 ON CONFLICT (account) DO UPDATE SET paused_until = excluded.paused_until,
                     pause_reason = excluded.pause_reason",
            )
            .bind(account)
            .bind(until)
            .bind(kind.as_str())
            .execute(&mut *conn)
            .await
        }
        Op::Stopped { account, reason, at } => {
            sqlx::query(
                "INSERT INTO accounts (account, stopped_reason, stopped_at) VALUES ($1, $2, $3)
                 ON CONFLICT (account) DO UPDATE SET stopped_reason = excluded.stopped_reason,
                     stopped_at = excluded.stopped_at",
            )
            .bind(account)
            .bind(reason.as_ref().map(ToString::to_string))
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        Op::BroadcasterState { broadcaster, state, at } => {
            sqlx::query(
                "INSERT INTO broadcaster_states (broadcaster, state, since) VALUES ($1, $2, $3)
                 ON CONFLICT (broadcaster) DO UPDATE SET state = excluded.state, since = excluded.since",
            )
            .bind(broadcaster)
            .bind(state.as_str())
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        Op::Hold { target, reason, until, at } => {
            sqlx::query(
                "INSERT INTO chat_holds (target, reason, until, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (target) DO UPDATE SET reason = excluded.reason,
                     until = excluded.until, at = excluded.at",
            )
            .bind(target)
            .bind(reason)
            .bind(until)
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        Op::Refusal(r) => {
            sqlx::query(
                "INSERT INTO account_refusals (account, target, code, reason, until, at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (account, target) DO UPDATE SET code = excluded.code,
                     reason = excluded.reason, until = excluded.until, at = excluded.at",
            )
            .bind(&r.account)
            .bind(&r.target)
            .bind(&r.code)
            .bind(&r.reason)
            .bind(ms(r.until))
            .bind(ms(r.at))
            .execute(&mut *conn)
            .await
        }
        Op::ClearRefusal { account, target } => {
            sqlx::query("DELETE FROM account_refusals WHERE account = $1 AND target = $2")
                .bind(account)
                .bind(target)
                .execute(&mut *conn)
                .await
        }
        Op::FollowUps { rows, at } => {
            return super::follow_ups::insert(conn, rows, *at)
                .await
                .map_err(batch_err);
        }
        Op::FollowUpDone { row, result, at } => {
            return super::follow_ups::record(conn, row, result, *at)
                .await
                .map_err(batch_err);
        }
        Op::Probe => sqlx::query("SELECT txid_current()").execute(&mut *conn).await,
    }
    .map(|_| ())
    .map_err(batch_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_the_fixed_statement_sizes() {
        let sizes = |n: usize| -> Vec<usize> {
            let rows: Vec<usize> = (0..n).collect();
            chunks(&rows).map(<[usize]>::len).collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(7), vec![4, 2, 1]);
        assert_eq!(sizes(300), vec![128, 128, 32, 8, 4]);
    }
}
