//! The database file as a whole: its integrity check, a consistent online copy (backup) and
//! putting a copy back (restore). None of these goes through the writer task: they work on a
//! path, beside a running daemon (check, backup) or with none running (restore — the caller
//! makes sure of that).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use smb_engine::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, Row, SqliteConnection};

/// How thorough [`integrity_problems`] is: `Quick` is SQLite's `PRAGMA quick_check` (every
/// page and record well-formed; linear in the file size), `Full` its `PRAGMA integrity_check`
/// (also every index against its table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thoroughness {
    /// `PRAGMA quick_check`.
    Quick,
    /// `PRAGMA integrity_check`.
    Full,
}

/// The `PRAGMA application_id` a store stamps in its file's header: `[real, sandbox]`
/// ("SMBR", "SMBS" in ASCII). A file with another id (0: written before the stamp existed)
/// is of unknown mode.
pub const JOURNAL_IDS: [i32; 2] = [0x534D_4252, 0x534D_4253];

/// Whether the journal file at `path` is the sandbox's (`Some(true)`), the real one's
/// (`Some(false)`) or not known (`None`: no stamp, or the file cannot be read).
pub async fn journal_is_sandbox(path: &Path) -> Option<bool> {
    let mut conn = SqliteConnection::connect_with(&read_only(path))
        .await
        .ok()?;
    let id: Option<i32> = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    let id = id?;
    JOURNAL_IDS.iter().position(|&j| j == id).map(|i| i == 1)
}

/// The fix printed with every damage report.
pub const RESTORE_HINT: &str = "restore it from a backup with `sendmessagebot db restore FILE` \
    (backups are made with `sendmessagebot db backup`)";

fn read_only(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
}

/// The problems SQLite finds in the database at `path` (empty: none). A file that cannot be
/// opened or read as a database at all is one problem, not an `Err`; `Err` is kept for a
/// missing file.
pub async fn integrity_problems(path: &Path, how: Thoroughness) -> Result<Vec<String>, StoreError> {
    if !path.exists() {
        return Err(StoreError::Invalid(format!(
            "no database at {}",
            path.display()
        )));
    }
    let mut conn = match SqliteConnection::connect_with(&read_only(path)).await {
        Ok(c) => c,
        Err(e) => return Ok(vec![format!("cannot be opened: {e}")]),
    };
    let pragma = match how {
        Thoroughness::Quick => "PRAGMA quick_check(20)",
        Thoroughness::Full => "PRAGMA integrity_check(20)",
    };
    let rows = sqlx::query(pragma).fetch_all(&mut conn).await;
    let _ = conn.close().await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let lines: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter(|l| l != "ok")
        .collect();
    Ok(lines)
}

/// Writes a consistent copy of the database at `db` to `to` with SQLite's `VACUUM INTO` (an
/// online backup: it reads one snapshot while a daemon keeps writing). `to` must not exist.
/// Returns the copy's size in bytes.
pub async fn backup(db: &Path, to: &Path) -> Result<u64, StoreError> {
    if !db.exists() {
        return Err(StoreError::Invalid(format!(
            "no database at {} to back up",
            db.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already exists; choose another file or remove it first",
            to.display()
        )));
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut conn = SqliteConnection::connect_with(&read_only(db))
        .await
        .map_err(|e| {
            StoreError::database_in(format!("cannot open the database {}", db.display()), e)
        })?;
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not a UTF-8 path", to.display())))?;
    let done = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    if let Err(e) = done {
        // A half-written copy is no backup.
        let _ = std::fs::remove_file(to);
        return Err(StoreError::database_in(
            format!("the backup to {} failed", to.display()),
            e,
        ));
    }
    std::fs::metadata(to)
        .map(|m| m.len())
        .map_err(|e| StoreError::database_in(format!("the backup {}", to.display()), e))
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Where the database that was replaced went (`None`: there was none).
    pub kept_aside: Option<PathBuf>,
    /// Size of the restored database file, in bytes.
    pub bytes: u64,
}

/// Puts the backup `from` in place of the database at `db`, after checking the backup's
/// integrity (`PRAGMA integrity_check`). The current database, if any, is first moved aside to
/// `<db>.before-restore-YYYYMMDD-HHMMSS` (UTC, as `db backup` names its copies; with its `-wal`/`-shm` files), never deleted. The
/// copy is made next to `db` and renamed into place, so `db` is never half-written. No daemon
/// may use `db` meanwhile: the caller holds its lock.
pub async fn restore(from: &Path, db: &Path, now: Timestamp) -> Result<Restored, StoreError> {
    let Ok(problems) = integrity_problems(from, Thoroughness::Full).await else {
        return Err(StoreError::Invalid(format!(
            "no backup at {}",
            from.display()
        )));
    };
    if !problems.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the backup {} is damaged too ({}); nothing was changed, choose another backup",
            from.display(),
            problems.join("; ")
        )));
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    }
    let incoming = sibling(db, ".restoring");
    let _ = std::fs::remove_file(&incoming);
    // A copy through SQLite (not a byte copy) so that a backup still in WAL mode, or with a
    // -wal beside it, arrives whole.
    backup(from, &incoming).await?;
    let kept_aside = if db.exists() {
        let aside = sibling(
            db,
            &format!(".before-restore-{}", now.strftime("%Y%m%d-%H%M%S")),
        );
        std::fs::rename(db, &aside).map_err(|e| {
            let _ = std::fs::remove_file(&incoming);
            StoreError::database_in(
                format!(
                    "cannot move {} aside to {} (nothing was changed)",
                    db.display(),
                    aside.display()
                ),
                e,
            )
        })?;
        for ext in ["-wal", "-shm"] {
            let side = sibling(db, ext);
            if side.exists() {
                // The WAL belongs to the old file; it must not be applied to the restored one.
                let _ = std::fs::rename(&side, sibling(&aside, ext));
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&incoming, db).map_err(|e| {
        StoreError::database_in(
            format!(
                "cannot move the restored copy {} to {}",
                incoming.display(),
                db.display()
            ),
            e,
        )
    })?;
    let bytes = std::fs::metadata(db).map_or(0, |m| m.len());
    // The copy was made by VACUUM INTO (rollback journal mode); the store opens it in WAL.
    if let Ok(conn) = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(db)
            .journal_mode(SqliteJournalMode::Wal),
    )
    .await
    {
        let _ = conn.close().await;
    }
    Ok(Restored { kept_aside, bytes })
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
