//! The SQLite store (WAL, synchronous=FULL) with a group-committing writer task.
//!
//! One durable write per delivery: a batch that holds only outcomes is committed with
//! `synchronous = NORMAL` (written to the WAL, visible to readers, safe from a process crash,
//! but not fsynced); the next batch with any other write (a pending delivery, a cycle, a
//! flush) is committed with `FULL`, and its fsync of the WAL makes every frame before it
//! durable too. A power loss in between can lose only outcomes; their deliveries are then
//! pending in the journal and are re-sent with the same random_id, which Telegram drops as a
//! duplicate (`RANDOM_ID_DUPLICATE`) — so no message is lost or doubled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{AccountStop, DeliveryStatus, OperatorState, PauseKind, TargetState};
use smb_engine::{
    DeliveryKey, FollowUp, FollowUpResult, JournalPost, OurPost, Outcome, PendingDelivery, Store,
    StoreError, StoredAccount, StoredChatPause, StoredCycle, StoredDelivery, StoredRefusal,
    TargetStatus,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::row::{col, count, opt_word, word};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A reading connection unused this long is closed.
const READER_IDLE: Duration = Duration::from_secs(60);

/// `PRAGMA wal_autocheckpoint` (pages of 4 KB): SQLite's default is 1000.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4096;

/// Tuning of [`SqliteStore`]; `Default` is durable (FULL sync).
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// `synchronous = FULL` (default) makes every commit survive power loss, not just a
    /// process crash.
    pub synchronous_full: bool,
    /// Upper bound on writes committed together.
    pub max_batch: usize,
    /// The sandbox's journal: stamped in the file's header (see [`crate::maintenance::JOURNAL_IDS`])
    /// so that `db restore` can tell a sandbox backup from a real one, and named in the
    /// commands that hints print (`--sandbox`).
    pub sandbox: bool,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            synchronous_full: true,
            max_batch: 2048,
            sandbox: false,
        }
    }
}

enum Op {
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
    /// A small real write (the database header's `user_version`, set to what it is), so that
    /// a full disk or a read-only file fails it like any journal write.
    Probe,
}

type Job = (Op, oneshot::Sender<Result<(), StoreError>>);

/// The embedded default store.
#[derive(Clone)]
pub struct SqliteStore {
    tx: mpsc::Sender<Job>,
    pub(crate) read: SqlitePool,
    watch: Arc<FileWatch>,
    /// How to open a writing connection (never creating the file), for [`SqliteStore::close`].
    opts: SqliteConnectOptions,
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A journal database that is gone while its write-ahead log is still beside it: the file was
/// deleted or moved (SQLite removes the `-wal` file when the last connection closes cleanly).
/// Creating an empty journal there would forget every cycle and post every chat again (qa8:
/// 19 copies within 20 s), so the caller refuses with this text, which names the fix. `None`
/// when the database exists or no log is left.
pub fn orphaned_wal(db: &std::path::Path) -> Option<String> {
    if db.exists() {
        return None;
    }
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    if !wal.exists() {
        return None;
    }
    Some(format!(
        "the journal database {db} is missing but its write-ahead log {wal} is still beside it: the database was deleted or moved, and an empty journal would post every chat again. Put the file back, or restore a backup (`sendmessagebot db restore BACKUP`), or delete {wal} and {db}-shm to start an empty journal",
        db = db.display(),
        wal = wal.display(),
    ))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and applies pending migrations.
    pub async fn open(url: &str, settings: SqliteSettings) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
            StoreError::Invalid(format!("DATABASE_URL `{url}` is not a SQLite URL: {e}"))
        })?;
        let path = opts.get_filename().to_owned();
        if url.contains(":memory:") || path.as_os_str().is_empty() {
            // The writer and the readers are separate connections; they must share a file.
            return Err(StoreError::Invalid(format!(
                "DATABASE_URL `{url}` is an in-memory database; use a file such as sqlite://data/sendmessagebot.db"
            )));
        }
        if let Some(problem) = orphaned_wal(&path) {
            return Err(StoreError::Invalid(problem));
        }
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Invalid(format!(
                    "cannot create the data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let opts = opts
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if settings.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Statement journals and the outcome update's join stay in memory: with the
            // default (a file) each multi-row write opened and removed a temp file (issue 18).
            .pragma("temp_store", "MEMORY")
            // Fold the WAL back into the file every ~16 MB (4096 pages) instead of every 4 MB:
            // fewer checkpoints under a send burst, and `close` truncates it at exit anyway.
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
        let mut writer = SqliteConnection::connect_with(&opts.clone().create_if_missing(true))
            .await
            .map_err(|e| {
                StoreError::database_in(format!("cannot open the database {}", path.display()), e)
            })?;
        MIGRATOR
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Migration(Arc::new(e)))?;
        let id = crate::maintenance::JOURNAL_IDS[usize::from(settings.sandbox)];
        // PRAGMA takes no bind parameters; `id` is one of two constants.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA application_id = {id}")))
            .execute(&mut writer)
            .await
            .map_err(|e| {
                StoreError::database_in(format!("cannot write the database {}", path.display()), e)
            })?;
        let db = file_id(&path).map_err(|e| {
            StoreError::database_in(format!("cannot read the database {}", path.display()), e)
        })?;
        let watch = Arc::new(FileWatch {
            flag: if settings.sandbox { " --sandbox" } else { "" },
            path: path.clone(),
            db,
            wal: Mutex::new(None),
        });
        watch.learn_wal();
        // Readers are busy at start (restore, pre-flight) and when the dashboard or `stats`
        // asks; an idle daemon keeps none open (each holds a thread and its page cache).
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .idle_timeout(READER_IDLE)
            .connect_with(opts.clone().read_only(true))
            .await
            .map_err(db_err)?;
        let (tx, rx) = mpsc::channel::<Job>(settings.max_batch * 2);
        let opts = opts.create_if_missing(false);
        let writer = Writer {
            conn: Some(writer),
            full: settings.synchronous_full,
            relaxed: false,
            opts: opts.clone(),
            watch: watch.clone(),
        };
        tokio::spawn(writer_loop(writer, rx, settings.max_batch));
        Ok(SqliteStore {
            tx,
            read,
            watch,
            opts,
        })
    }

    /// Like [`SqliteStore::open`], for commands that only read or that must not start a new
    /// journal by accident: a missing database file is an error that says so (it was never
    /// created here, or it was deleted) instead of a new empty database.
    pub async fn open_existing(url: &str, settings: SqliteSettings) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
            StoreError::Invalid(format!("DATABASE_URL `{url}` is not a SQLite URL: {e}"))
        })?;
        let path = opts.get_filename();
        if !url.contains(":memory:") && !path.as_os_str().is_empty() && !path.exists() {
            // A relative path is read from the working directory, not the configuration's:
            // the absolute path shows where it was looked for (a cron job in another directory).
            let relative = match (path.is_relative(), std::env::current_dir()) {
                (true, Ok(cwd)) => format!(
                    " ({} from the working directory {}: run in the directory of the configuration, or give DATABASE_URL an absolute path)",
                    cwd.join(path).display(),
                    cwd.display()
                ),
                _ => String::new(),
            };
            return Err(StoreError::Invalid(format!(
                "no database at {}{relative}: nothing was recorded there yet (the first `sendmessagebot run` \
                 creates it), or it was deleted — then put a backup back with \
                 `sendmessagebot db restore FILE{}`",
                path.display(),
                if settings.sandbox { " --sandbox" } else { "" }
            )));
        }
        Self::open(url, settings).await
    }

    /// For commands that only read (`stats`): the existing database, opened read-only — no
    /// data directory created, no migration, no write — so a database in a read-only
    /// directory or a read-only file can still be read (issue 19). `Ok(None)` when the file's
    /// schema is older than this version's (it needs [`SqliteStore::open_existing`], which
    /// migrates). Writes through the returned store fail with [`StoreError::Closed`].
    pub async fn open_read_only(url: &str) -> Result<Option<Self>, StoreError> {
        let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
            StoreError::Invalid(format!("DATABASE_URL `{url}` is not a SQLite URL: {e}"))
        })?;
        let path = opts.get_filename().to_owned();
        if url.contains(":memory:") || path.as_os_str().is_empty() || !path.exists() {
            return Self::open_existing(url, SqliteSettings::default())
                .await
                .map(Some);
        }
        let opts = opts
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(10));
        let read = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts.clone())
            .await
            .map_err(|e| {
                StoreError::database_in(
                    format!("cannot open the database {} to read it", path.display()),
                    e,
                )
            })?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&read)
                .await
                .ok()
                .flatten();
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        if applied < latest {
            read.close().await;
            return Ok(None);
        }
        let db = file_id(&path).map_err(|e| {
            StoreError::database_in(format!("cannot read the database {}", path.display()), e)
        })?;
        let watch = Arc::new(FileWatch {
            // Never writes, so its errors name no command to repair a journal.
            flag: "",
            path,
            db,
            wal: Mutex::new(None),
        });
        // No writer task: the receiver is dropped, so every write answers `Closed` (and so
        // does `close`, before it would open a connection).
        let (tx, _) = mpsc::channel::<Job>(1);
        Ok(Some(SqliteStore {
            tx,
            read,
            watch,
            opts,
        }))
    }

    /// Cheap (two `stat`s): `Err` when the database file this store opened was deleted or
    /// replaced since, so that writes would be lost.
    pub fn check_file(&self) -> Result<(), StoreError> {
        self.watch.check()
    }

    /// Ends a clean exit: waits for the queued writes, closes the read pool and folds the WAL
    /// back into the database file (`PRAGMA wal_checkpoint(TRUNCATE)`), so that the `-wal`
    /// file left beside it is empty. The store must not be used afterwards (reads fail).
    ///
    /// Errors: the flush or the checkpoint failed; nothing is lost then (the WAL is
    /// replayed at the next open), it only stays large.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.submit(Op::Flush).await?;
        self.read.close().await;
        let mut conn = SqliteConnection::connect_with(&self.opts)
            .await
            .map_err(|e| {
                StoreError::database_in(
                    format!("cannot open the database {}", self.watch.path.display()),
                    e,
                )
            })?;
        let res = sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .map_err(db_err);
        // Closing may fail too; the checkpoint's answer is the one that matters.
        let _ = conn.close().await;
        res.map(|_| ())
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.watch.path
    }

    async fn submit(&self, op: Op) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((op, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Targets with a recorded status (the rest are active).
    pub async fn target_rows(&self) -> Result<Vec<crate::TargetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, status, reason, since, recheck_at FROM targets ORDER BY target",
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
                    recheck_at: col::<Option<i64>, _>(r, "recheck_at")?.map(|v| ts(v).to_string()),
                })
            })
            .collect()
    }

    /// Clears an account's stop (after the operator fixed its session).
    pub async fn clear_account_stop(&self, account: &str, at: Timestamp) -> Result<(), StoreError> {
        self.submit(Op::Stopped {
            account: account.into(),
            reason: None,
            at: ms(at),
        })
        .await
    }
}

/// The identity of a file: (device, inode). A file deleted and created again, or replaced by a
/// rename, has another one.
pub(crate) type FileId = (u64, u64);

#[cfg(unix)]
pub(crate) fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(crate) fn file_id(path: &Path) -> std::io::Result<FileId> {
    std::fs::metadata(path).map(|_| (0, 0))
}

/// The `-wal` file next to a database.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// What the writer knows of the database file it writes to, shared with the store's handles so
/// that a cheap [`SqliteStore::watch`] needs no round trip through the writer.
#[derive(Debug)]
struct FileWatch {
    /// ` --sandbox` for the sandbox's journal: added to the commands its errors name.
    flag: &'static str,
    path: PathBuf,
    /// The database file's identity when it was opened.
    db: FileId,
    /// The `-wal` file's identity, learnt after the first commit of a connection (SQLite may
    /// remove and create it again when the last connection closes, so it is re-learnt after a
    /// reconnect).
    wal: Mutex<Option<FileId>>,
}

impl FileWatch {
    /// `Err` when the database (or its WAL) is no longer the file this store opened: a commit
    /// would then go to a deleted file and be lost at the next start.
    fn check(&self) -> Result<(), StoreError> {
        let gone = |what: &str, e: Option<std::io::Error>| StoreError::Database {
            context: Some(format!(
                "the database file {} was {what} while the daemon ran; writes would be lost, so \
                 nothing is sent. Stop the daemon (`sendmessagebot stop{flag}`), put the database back \
                 (`sendmessagebot db restore BACKUP{flag}`) and start it again",
                self.path.display(),
                flag = self.flag,
            )),
            source: e.map(|e| Arc::new(e) as smb_engine::StoreCause),
        };
        match file_id(&self.path) {
            Ok(id) if id == self.db => {}
            Ok(_) => return Err(gone("replaced by another file", None)),
            Err(e) => return Err(gone("deleted or cannot be read", Some(e))),
        }
        let wal = *self.wal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = wal {
            match file_id(&wal_path(&self.path)) {
                Ok(id) if id == known => {}
                Ok(_) => return Err(gone("changed (its -wal file was replaced)", None)),
                Err(e) => return Err(gone("changed (its -wal file was deleted)", Some(e))),
            }
        }
        Ok(())
    }

    fn learn_wal(&self) {
        let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
        if wal.is_none() {
            *wal = file_id(&wal_path(&self.path)).ok();
        }
    }

    fn forget_wal(&self) {
        *self.wal.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The writer task's side: one connection, in a known state between batches (no transaction
/// open), or none when its state became unknown and it must be opened again.
struct Writer {
    conn: Option<SqliteConnection>,
    /// `synchronous = FULL` asked for (see [`SqliteSettings`]).
    full: bool,
    /// The open connection was switched to `synchronous = NORMAL` for an outcome-only batch.
    relaxed: bool,
    /// How to open the connection again (never creating the file: a missing database is an
    /// error here, not a fresh start).
    opts: SqliteConnectOptions,
    watch: Arc<FileWatch>,
}

/// SQLite's primary result codes that belong to one statement's data, not to the database:
/// CONSTRAINT (19), MISMATCH (20), RANGE (25), TOOBIG (18). A batch failing with one of these
/// is retried write by write so that one bad write does not fail its neighbours; any other
/// failure (FULL, IOERR, CORRUPT, READONLY, CANTOPEN, a vanished file…) fails the whole batch.
fn is_data_error(e: &StoreError) -> bool {
    e.is_rejected_write()
}

fn batch_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && let Some(code) = d.code().and_then(|c| c.parse::<i64>().ok())
        && matches!(code & 0xff, 18 | 19 | 20 | 25)
    {
        return StoreError::Rejected {
            source: Arc::new(e),
        };
    }
    db_err(e)
}

impl Writer {
    async fn connection(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        if self.conn.is_none() {
            let conn = SqliteConnection::connect_with(&self.opts)
                .await
                .map_err(|e| {
                    StoreError::database_in(
                        format!(
                            "cannot open the database {} again",
                            self.watch.path.display()
                        ),
                        e,
                    )
                })?;
            self.watch.forget_wal();
            self.conn = Some(conn);
            self.relaxed = false;
        }
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    /// Runs `batch` as one transaction that ends in a COMMIT or a ROLLBACK, never left open: a
    /// failed commit is reported as a failure, and when the connection's state is not known
    /// afterwards it is closed and opened again before the next batch.
    async fn commit(&mut self, batch: &[Job]) -> Result<(), StoreError> {
        self.watch.check()?;
        // Outcomes alone need not be durable: they ride on the next durable commit's fsync
        // (module docs).
        let relax = self.full && batch.iter().all(|(op, _)| matches!(op, Op::Outcome { .. }));
        self.connection().await?;
        if relax != self.relaxed {
            let conn = self.connection().await?;
            let pragma = match relax {
                true => "PRAGMA synchronous = NORMAL",
                false => "PRAGMA synchronous = FULL",
            };
            sqlx::raw_sql(pragma)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            self.relaxed = relax;
        }
        let conn = self.connection().await?;
        let res = write_batch(conn, batch).await;
        let res = match res {
            Ok(()) => match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
                Ok(_) => Ok(()),
                Err(e) => Err(db_err(e)),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            self.roll_back().await;
            return Err(e);
        }
        // The commit went to the file found at the path a moment ago; if the file is gone now
        // it may have gone to a deleted one: not known to be durable, so reported as failed.
        self.watch.learn_wal();
        self.watch.check()
    }

    /// Ends whatever transaction a failed batch left. SQLite rolls some failures back by itself
    /// (FULL, IOERR, NOMEM); then ROLLBACK says "no transaction is active", which is fine. Any
    /// other answer leaves the connection in an unknown state: it is dropped and reopened.
    async fn roll_back(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("no transaction is active") => {}
            Err(e) => {
                tracing::warn!(error = %e, "the journal's connection is reset after a failed rollback");
                if let Some(conn) = self.conn.take() {
                    // Closing may fail as well; the connection is gone either way.
                    let _ = conn.close().await;
                }
            }
        }
    }
}

async fn writer_loop(mut writer: Writer, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
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
            Err(e) if is_data_error(&e) && batch.len() > 1 => {
                // One bad write must not fail its neighbours: retry each on its own.
                for (op, done) in batch.drain(..) {
                    let one = [(op, oneshot::channel().0)];
                    let _ = done.send(writer.commit(&one).await);
                }
            }
            Err(e) => {
                // Every waiter of a failed batch learns it failed: none of its writes is durable.
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

/// Rows per multi-row statement (9–10 binds a row, far under SQLite's bind limit), largest
/// first. A batch is cut into chunks of these sizes only, so that at most this many distinct
/// statements exist per kind of write and each stays prepared in the connection's statement
/// cache (with any size from 1 to 128 the cache of 100 kept evicting and re-preparing them).
const CHUNKS: [usize; 6] = [128, 32, 8, 4, 2, 1];

/// `rows` cut into chunks whose lengths are all in [`CHUNKS`], in order.
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|&n| n <= rows.len())?;
        let (head, rest) = rows.split_at(size);
        rows = rest;
        Some(head)
    })
}

/// The statements of one batch inside `BEGIN IMMEDIATE` (the caller commits or rolls back).
/// Pending writes and outcomes, the bulk of the journal, go as multi-row statements;
/// reordering them is safe because one delivery never has two writes in one batch (its writer
/// awaits each write before making the next). Every other write keeps its order.
async fn write_batch(conn: &mut SqliteConnection, batch: &[Job]) -> Result<(), StoreError> {
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
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
    conn: &mut SqliteConnection,
    rows: &[&PendingDelivery],
) -> Result<(), StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(
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
    // account is the one trying now: a backup that takes a delivery refused on the stopped
    // account is the account that posts it (issue 14: shown per delivery).
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
    conn: &mut SqliteConnection,
    rows: &[(&DeliveryKey, &Outcome, i64)],
) -> Result<(), StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "WITH v (broadcaster, cycle, target, status, message_id, error_class, error_code, \
         error_text, retry_at, updated_at) AS (",
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
        ") UPDATE deliveries SET status = v.status, message_id = v.message_id, \
         error_class = v.error_class, error_code = v.error_code, error_text = v.error_text, \
         retry_at = v.retry_at, updated_at = v.updated_at, \
         attempts = deliveries.attempts + \
           (CASE WHEN v.status = 'deferred' AND v.error_class = 'transient' THEN 1 ELSE 0 END) \
         FROM v WHERE deliveries.broadcaster = v.broadcaster AND deliveries.cycle = v.cycle \
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

async fn apply_op(conn: &mut SqliteConnection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::StartCycle { broadcaster, cycle, message, at } => {
            sqlx::query(
                "INSERT INTO cycles (broadcaster, cycle, message, started_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (broadcaster, cycle) DO NOTHING",
            )
            .bind(broadcaster)
            .bind(cycle)
            .bind(message)
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        // Written in bulk by run_batch.
        Op::Pending(_) | Op::Outcome { .. } => return Ok(()),
        Op::CompleteCycle { broadcaster, cycle, at } => {
            sqlx::query("UPDATE cycles SET completed_at = ? WHERE broadcaster = ? AND cycle = ?")
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
                "INSERT INTO targets (target, status, reason, since, recheck_at) VALUES (?, ?, ?, ?, ?)
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
            sqlx::query("INSERT INTO pauses (account, target, kind, seconds, until, at) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(account)
                .bind(target)
                .bind(kind.as_str())
                .bind(seconds)
                .bind(until)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(batch_err)?;
            if target.is_none() {
                sqlx::query(
                    "INSERT INTO accounts (account, paused_until, pause_reason) VALUES (?, ?, ?)
                     ON CONFLICT (account) DO UPDATE SET paused_until = excluded.paused_until,
                         pause_reason = excluded.pause_reason",
                )
                .bind(account)
                .bind(until)
                .bind(kind.as_str())
                .execute(&mut *conn)
                .await
            } else {
                return Ok(());
            }
        }
        Op::Stopped { account, reason, at } => {
            sqlx::query(
                "INSERT INTO accounts (account, stopped_reason, stopped_at) VALUES (?, ?, ?)
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
                "INSERT INTO broadcaster_states (broadcaster, state, since) VALUES (?, ?, ?)
                 ON CONFLICT (broadcaster) DO UPDATE SET state = excluded.state, since = excluded.since",
            )
            .bind(broadcaster)
            .bind(state.as_str())
            .bind(at)
            .execute(&mut *conn)
            .await
        }
        Op::Hold {
            target,
            reason,
            until,
            at,
        } => {
            sqlx::query(
                "INSERT INTO chat_holds (target, reason, until, at) VALUES (?, ?, ?, ?)
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
                 VALUES (?, ?, ?, ?, ?, ?)
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
            sqlx::query("DELETE FROM account_refusals WHERE account = ? AND target = ?")
                .bind(account)
                .bind(target)
                .execute(&mut *conn)
                .await
        }
        Op::FollowUps { rows, at } => {
            return crate::follow_ups::insert(conn, rows, *at)
                .await
                .map_err(batch_err);
        }
        Op::FollowUpDone { row, result, at } => {
            return crate::follow_ups::record(conn, row, result, *at)
                .await
                .map_err(batch_err);
        }
        Op::Flush => return Ok(()),
        Op::Probe => {
            let row = sqlx::query("PRAGMA user_version")
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
            let v: i64 = col(&row, 0)?;
            // PRAGMA takes no bind parameters; `v` is an integer read just above.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {v}")))
                .execute(&mut *conn)
                .await
        }
    }
    .map(|_| ())
    .map_err(batch_err)
}

#[async_trait]
impl Store for SqliteStore {
    async fn last_cycle(&self, broadcaster: &str) -> Result<Option<StoredCycle>, StoreError> {
        let row = sqlx::query(
            "SELECT cycle, message, started_at, completed_at FROM cycles
             WHERE broadcaster = ? ORDER BY cycle DESC LIMIT 1",
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
                 WHERE broadcaster = ? AND cycle = ?",
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
                        attempts: count::<u32, _>(r, "attempts")?,
                        retry_at: col::<Option<i64>, _>(r, "retry_at")?.map(ts),
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
            a.paused_until = col::<Option<i64>, _>(&r, "paused_until")?.map(ts);
            a.stopped_reason = opt_word(&r, "stopped_reason")?;
        }
        let rows =
            sqlx::query("SELECT account, MAX(updated_at) AS last FROM deliveries GROUP BY account")
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        for r in rows {
            out.entry(col(&r, "account")?).or_default().last_send_at =
                col::<Option<i64>, _>(&r, "last")?.map(ts);
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
                        reason: col::<Option<String>, _>(r, "reason")?.unwrap_or_default(),
                        since: ts(col(r, "since")?),
                        recheck_at: col::<Option<i64>, _>(r, "recheck_at")?.map(ts),
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

    async fn recent_deliveries(&self, since: Timestamp) -> Result<Vec<JournalPost>, StoreError> {
        let rows = sqlx::query(
            "SELECT broadcaster, cycle, target, account, status, updated_at FROM deliveries
             WHERE (status = 'sent' AND updated_at >= ?) OR status IN ('pending', 'deferred')",
        )
        .bind(ms(since))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(JournalPost {
                    broadcaster: col(r, "broadcaster")?,
                    cycle: u64::try_from(col::<i64, _>(r, "cycle")?).unwrap_or(0),
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

    async fn watch(&self) -> Result<(), StoreError> {
        self.check_file()
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

    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        let rows = sqlx::query("SELECT broadcaster, state FROM broadcaster_states")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((col(r, "broadcaster")?, word(r, "state")?)))
            .collect()
    }
    async fn chat_pauses(&self, after: Timestamp) -> Result<Vec<StoredChatPause>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, target, MAX(until) AS until FROM pauses
             WHERE target IS NOT NULL AND until > ? GROUP BY account, target
             ORDER BY account, target",
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
             WHERE target = ? AND status = ? GROUP BY account",
        )
        .bind(target)
        .bind(DeliveryStatus::Sent.as_str())
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
        self.insert_migration(old, new, account, at).await
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

    async fn record_post_check(
        &self,
        check: &smb_engine::PostCheck,
    ) -> Result<smb_engine::PostCheckResult, StoreError> {
        self.insert_post_check(check).await
    }

    async fn chat_survival(&self) -> Result<Vec<smb_engine::ChatSurvival>, StoreError> {
        self.read_chat_survival().await
    }
}

impl SqliteStore {
    /// [`Store::refusals`] as an inherent method (the dashboard's handlers await it).
    pub async fn account_refusals(
        &self,
        after: Timestamp,
    ) -> Result<Vec<StoredRefusal>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, target, code, reason, until, at FROM account_refusals
             WHERE until > ? ORDER BY account, target",
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
}

/// A cycle number as SQLite keeps it (`INTEGER`, an `i64`).
#[expect(
    clippy::cast_possible_wrap,
    reason = "cycles count up by one from 1: 2^63 of them is out of reach"
)]
fn sql_cycle(cycle: u64) -> i64 {
    cycle as i64
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
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(7), vec![4, 2, 1]);
        assert_eq!(sizes(45), vec![32, 8, 4, 1]);
        assert_eq!(sizes(300), vec![128, 128, 32, 8, 4]);
        // Every row once, in order.
        let rows: Vec<usize> = (0..300).collect();
        let back: Vec<usize> = chunks(&rows).flatten().copied().collect();
        assert_eq!(back, rows);
    }
}
