//! Leases and fencing of several servers on one PostgreSQL database (issue 16, part 2;
//! docs/postgres.md, "Leases and fencing").
//!
//! A lease is a row of `leases` (migration 0017): the lease's account, its `holder` (a
//! `SERVER_ID`, `NULL` when free), an `epoch` that goes up by one at every take, and
//! `expires_at` (Unix milliseconds by the **database's** clock, so the servers' clocks never
//! have to agree). A server takes free or expired leases with `FOR UPDATE SKIP LOCKED` (two
//! servers taking at once never wait for each other and never take the same row), renews the
//! ones it holds, and gives them up by name and epoch.
//!
//! Fencing: a [`Fence`] armed on the store makes every journal write about an account or a
//! broadcaster of the configuration check, inside the write's own transaction, that the
//! lease driving it is still this server's at the epoch it took (`SELECT … FOR SHARE`, so no
//! taker can change the row before the commit). A write whose lease was taken by another
//! server (a higher epoch) or that this server no longer holds fails as a journal write
//! (`StoreError::Database`, context "fenced"): the driver's gate then sends nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use smb_engine::StoreError;
use sqlx::PgConnection;

use super::row::col;
use super::{PgStore, db_err};
use crate::sqlite::ts;

// Every "now" below is the database's clock in Unix milliseconds:
// (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT

/// A lease this server holds: its account and the epoch it took it at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lease {
    /// The lease's account (the first account, by name, of a group driven together).
    pub account: String,
    /// The epoch of this server's take; every fenced write checks it.
    pub epoch: i64,
}

/// One row of `leases`, as `cluster status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRow {
    /// The lease's account.
    pub account: String,
    /// The `SERVER_ID` holding it; `None` when free.
    pub holder: Option<String>,
    /// Takes so far (0: never taken).
    pub epoch: i64,
    /// When it expires unless renewed (the database's clock).
    pub expires_at: Timestamp,
}

/// One row of `servers`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerRow {
    /// Its `SERVER_ID`.
    pub server_id: String,
    /// When it joined (the database's clock).
    pub started_at: Timestamp,
    /// Its last heartbeat (the database's clock).
    pub heartbeat_at: Timestamp,
}

/// The cluster as the database sees it, read in one statement's snapshot each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterView {
    /// The database's clock when read.
    pub now: Timestamp,
    /// Every server that wrote a heartbeat, by id.
    pub servers: Vec<ServerRow>,
    /// Every lease, by account.
    pub leases: Vec<LeaseRow>,
}

/// The `(account, epoch)` rows a take or renew returned, sorted by account.
fn leases_of(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<Lease>, StoreError> {
    let mut leases = rows
        .iter()
        .map(|r| {
            Ok(Lease {
                account: col(r, "account")?,
                epoch: col(r, "epoch")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    leases.sort();
    Ok(leases)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Writes `server`'s heartbeat (joining the cluster on the first one), forgets servers
    /// silent for 10 × `ttl`, and answers how many servers are alive (a heartbeat younger
    /// than `ttl`, this one included).
    ///
    /// Errors: the database cannot be written.
    pub async fn heartbeat(&self, server: &str, ttl: Duration) -> Result<usize, StoreError> {
        let ttl = millis(ttl);
        sqlx::query("INSERT INTO servers (server_id, started_at, heartbeat_at) VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)
             ON CONFLICT (server_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at")
        .bind(server)
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM servers WHERE heartbeat_at < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - $1")
        .bind(ttl.saturating_mul(10))
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE heartbeat_at > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - $1")
        .bind(ttl)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?;
        Ok(usize::try_from(alive).unwrap_or(1).max(1))
    }

    /// Takes at most `max` of `accounts`' leases that are free or expired for `server`, for
    /// `ttl`: each taken row gets `holder = server`, `epoch + 1` and a new expiry. Rows are
    /// created (free, epoch 0) for accounts that have none. Rows another server is taking or
    /// writing under right now are skipped (`FOR UPDATE SKIP LOCKED`), never waited for.
    ///
    /// Errors: the database cannot be written (nothing is taken then).
    pub async fn take_leases(
        &self,
        server: &str,
        accounts: &[String],
        max: usize,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        if accounts.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.read.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO leases (account, holder, epoch, expires_at)
             SELECT a, NULL, 0, 0 FROM UNNEST($1::TEXT[]) AS a ON CONFLICT (account) DO NOTHING",
        )
        .bind(accounts)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let rows = sqlx::query("UPDATE leases SET holder = $2, epoch = leases.epoch + 1, expires_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $3
             WHERE account IN (
                 SELECT account FROM leases
                 WHERE account = ANY($1) AND (holder IS NULL OR expires_at <= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)
                 ORDER BY account COLLATE \"C\" LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             RETURNING account, epoch")
        .bind(accounts)
        .bind(server)
        .bind(millis(ttl))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        leases_of(&rows)
    }

    /// Renews `held` for `ttl` where `server` still holds them at their epoch, and answers
    /// those: a lease missing from the answer was taken by another server (it expired first)
    /// and must not be driven any more.
    ///
    /// Errors: the database cannot be written (nothing is known renewed then).
    pub async fn renew_leases(
        &self,
        server: &str,
        held: &[Lease],
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let accounts: Vec<&str> = held.iter().map(|l| l.account.as_str()).collect();
        let epochs: Vec<i64> = held.iter().map(|l| l.epoch).collect();
        // The rows are locked in account order, as the writer's fence check reads them, so a
        // renewal and a batch's check never wait for each other in a cycle.
        let rows = sqlx::query(
            "WITH mine AS (
                 SELECT leases.account FROM leases
                 JOIN UNNEST($3::TEXT[], $4::BIGINT[]) AS h (account, epoch)
                     ON leases.account = h.account AND leases.epoch = h.epoch
                 WHERE leases.holder = $1
                 ORDER BY leases.account COLLATE \"C\"
                 FOR UPDATE OF leases)
             UPDATE leases SET expires_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $2
             FROM mine WHERE leases.account = mine.account
             RETURNING leases.account, leases.epoch",
        )
        .bind(server)
        .bind(millis(ttl))
        .bind(&accounts)
        .bind(&epochs)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        leases_of(&rows)
    }

    /// Gives `lease` up (free at once for any server) if `server` still holds it at its
    /// epoch; `false` when it did not any more. The caller stops driving it first.
    pub async fn release_lease(&self, server: &str, lease: &Lease) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE leases SET holder = NULL, expires_at = 0
             WHERE account = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&lease.account)
        .bind(server)
        .bind(lease.epoch)
        .execute(&self.read)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    /// A clean stop: every lease of `server` freed and its `servers` row removed, so the
    /// others take its accounts at their next renewal instead of after `LEASE_TTL`.
    pub async fn leave_cluster(&self, server: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET holder = NULL, expires_at = 0 WHERE holder = $1")
            .bind(server)
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM servers WHERE server_id = $1")
            .bind(server)
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Servers and leases as stored, with the database's clock (`cluster status`).
    pub async fn cluster(&self) -> Result<ClusterView, StoreError> {
        let now: i64 =
            sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
                .fetch_one(&self.read)
                .await
                .map_err(db_err)?;
        let servers = sqlx::query(
            "SELECT server_id, started_at, heartbeat_at FROM servers ORDER BY server_id COLLATE \"C\"",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(ServerRow {
                server_id: col(r, "server_id")?,
                started_at: ts(col(r, "started_at")?),
                heartbeat_at: ts(col(r, "heartbeat_at")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let leases = sqlx::query(
            "SELECT account, holder, epoch, expires_at FROM leases ORDER BY account COLLATE \"C\"",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(LeaseRow {
                account: col(r, "account")?,
                holder: col(r, "holder")?,
                epoch: col(r, "epoch")?,
                expires_at: ts(col(r, "expires_at")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ClusterView {
            now: ts(now),
            servers,
            leases,
        })
    }

    /// The fence this store's writer checks (unarmed until [`Fence::arm`]).
    pub fn fence(&self) -> &Fence {
        &self.fence
    }
}

/// What the writer checks before a batch commits: which lease each account and broadcaster
/// of the configuration is driven under, and the epochs this server holds. Unarmed (the
/// default, and always on SQLite) nothing is checked. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Fence {
    inner: Arc<RwLock<Option<Armed>>>,
}

#[derive(Debug)]
struct Armed {
    server: String,
    /// account → its lease's account.
    accounts: HashMap<String, String>,
    /// broadcaster → its lease's account.
    broadcasters: HashMap<String, String>,
    /// lease account → the epoch held.
    held: BTreeMap<String, i64>,
}

/// A batch's fence check: the leases it writes under with the epoch each must have, and the
/// ones it writes under without holding them (refused before anything is asked).
#[derive(Debug, Default)]
pub(super) struct Check {
    pub(super) server: String,
    pub(super) expect: BTreeMap<String, i64>,
    pub(super) unheld: Vec<String>,
}

impl Fence {
    /// Arms the fence for `server`: every write about an account of `accounts` or a
    /// broadcaster of `broadcasters` (each mapped to its lease's account) is checked from now
    /// on; names in neither (targets, test sends of an unknown label) are not.
    pub fn arm(
        &self,
        server: &str,
        accounts: HashMap<String, String>,
        broadcasters: HashMap<String, String>,
    ) {
        let mut g = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = g.take().map(|a| a.held).unwrap_or_default();
        *g = Some(Armed {
            server: server.to_owned(),
            accounts,
            broadcasters,
            held,
        });
    }

    /// Writes under `lease` are allowed from now on (at its epoch).
    pub fn hold(&self, lease: &Lease) {
        let mut g = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(a) = g.as_mut() {
            a.held.insert(lease.account.clone(), lease.epoch);
        }
    }

    /// Writes under the lease of `account` are refused from now on.
    pub fn drop_lease(&self, account: &str) {
        let mut g = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(a) = g.as_mut() {
            a.held.remove(account);
        }
    }

    /// The leases the fence lets writes through under, with their epochs.
    pub fn held(&self) -> Vec<Lease> {
        let g = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref()
            .map(|a| {
                a.held
                    .iter()
                    .map(|(account, &epoch)| Lease {
                        account: account.clone(),
                        epoch,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The check for writes naming `accounts` and `broadcasters`; `None` when unarmed or
    /// when none of them is fenced.
    pub(super) fn check<'a>(
        &self,
        accounts: impl Iterator<Item = &'a str>,
        broadcasters: impl Iterator<Item = &'a str>,
    ) -> Option<Check> {
        let g = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let armed = g.as_ref()?;
        let mut leases: HashSet<&str> = HashSet::new();
        leases.extend(accounts.filter_map(|a| armed.accounts.get(a).map(String::as_str)));
        leases.extend(broadcasters.filter_map(|b| armed.broadcasters.get(b).map(String::as_str)));
        if leases.is_empty() {
            return None;
        }
        let mut check = Check {
            server: armed.server.clone(),
            ..Check::default()
        };
        for lease in leases {
            match armed.held.get(lease) {
                Some(&epoch) => {
                    check.expect.insert(lease.to_owned(), epoch);
                }
                None => check.unheld.push(lease.to_owned()),
            }
        }
        check.unheld.sort();
        Some(check)
    }
}

/// The fence's answer inside a batch's transaction: `Ok` when every lease the batch writes
/// under is still `check.server`'s at the expected epoch, the rows then locked `FOR SHARE`
/// until the commit (a taker skips them meanwhile); otherwise the fenced error, naming the
/// leases.
pub(super) async fn verify(conn: &mut PgConnection, check: &Check) -> Result<(), StoreError> {
    let mut lost = check.unheld.clone();
    if !check.expect.is_empty() {
        let accounts: Vec<&str> = check.expect.keys().map(String::as_str).collect();
        let rows = sqlx::query(
            "SELECT account, holder, epoch FROM leases WHERE account = ANY($1)
             ORDER BY account COLLATE \"C\" FOR SHARE",
        )
        .bind(&accounts)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let mut current: HashMap<String, (Option<String>, i64)> = HashMap::new();
        for r in &rows {
            current.insert(col(r, "account")?, (col(r, "holder")?, col(r, "epoch")?));
        }
        for (account, epoch) in &check.expect {
            let ours = matches!(current.get(account),
                Some((Some(holder), e)) if *holder == check.server && e == epoch);
            if !ours {
                lost.push(account.clone());
            }
        }
    }
    if lost.is_empty() {
        return Ok(());
    }
    lost.sort();
    Err(fenced(&lost))
}

/// The error of a write refused by the fence.
pub(super) fn fenced(leases: &[String]) -> StoreError {
    StoreError::Database {
        context: Some(format!(
            "{FENCED}: the lease of {} is no longer this server's (another server took it, or it \
             was given up); nothing is sent for it here",
            leases.join(", ")
        )),
        source: None,
    }
}

/// How a fenced write's error begins.
pub const FENCED: &str = "fenced";

/// `true` for an error of a write the fence refused.
pub fn is_fenced(e: &StoreError) -> bool {
    matches!(e, StoreError::Database { context: Some(c), .. } if c.starts_with(FENCED))
}
