//! `db`: the journal database as a file — `db check` (SQLite's integrity check), `db backup`
//! (a consistent online copy, also while the daemon runs) and `db restore` (a backup put back,
//! only while no daemon uses the data directory; the replaced file is kept aside) and `db copy`
//! (every table into another database, SQLite or PostgreSQL, verified; issue 16).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use jiff::Timestamp;
use smb_store::maintenance::{self, RESTORE_HINT, Thoroughness};

use crate::Cli;
use crate::config::Overrides;
use crate::daemon::{DaemonPaths, database_path, lock::DaemonLock};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the database's integrity (SQLite's integrity_check); exit 1 when it is damaged.
    Check(Target),
    /// Copy the database, consistently, while the daemon may run (SQLite's VACUUM INTO).
    /// Without PATH: backups/sendmessagebot-YYYYMMDD-HHMMSS.db next to the database.
    Backup {
        /// Where the copy goes (must not exist).
        path: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Put a backup in place of the database (after checking the backup's integrity). The
    /// daemon must be stopped; the replaced database is kept as
    /// <db>.before-restore-YYYYMMDD-HHMMSS. A backup of the other mode's journal (a sandbox
    /// backup into the real journal, or the reverse) is refused unless --force.
    Restore {
        /// The backup to put back.
        path: PathBuf,
        /// Restore a backup taken from the other mode's journal anyway.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Copy every table of one database into another — SQLite or PostgreSQL on either side —
    /// and verify it: prints the rows and a checksum per table, the same on both sides.
    /// Writes only into an empty database (or one that already holds exactly the same rows:
    /// then nothing is written); the source is read as one snapshot, the destination written
    /// in one transaction.
    Copy {
        /// The source: sqlite://PATH (must exist) or postgres://USER:PASSWORD@HOST:PORT/DB.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The destination: sqlite://PATH (created when missing) or postgres://…/DB (the
        /// database must exist; its tables are created).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Default, clap::Args)]
pub struct Target {
    /// The sandbox's database (data/sandbox/) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
}

/// The database file the configuration names (the default one when it does not load: a broken
/// configuration must not keep anybody from saving or restoring the journal).
fn database(cli: &Cli, sandbox: bool) -> anyhow::Result<PathBuf> {
    let url = match crate::context::settings(cli, &Overrides::default(), true) {
        Ok(s) if sandbox => s.sandbox_database_url,
        Ok(s) => s.database_url,
        Err(e) => {
            let url = crate::context::fallback_database_url(sandbox);
            eprintln!(
                "note: the configuration does not load ({}); using {url}",
                smb_domain::redact::redact(&format!("{e:#}"))
            );
            url
        }
    };
    // A PostgreSQL journal has no file here: its server's own tools back it up and check it
    // (docs/postgres.md); the URL (and its password) is never taken for a path.
    if smb_store::is_postgres_url(&url) {
        anyhow::bail!("the journal's URL is {}", crate::config::NOT_YET_POSTGRES);
    }
    Ok(database_path(&url))
}

pub async fn run(cli: &Cli, command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(t) => check(&database(cli, t.sandbox)?).await,
        Command::Copy { from, to, json } => copy(from, to, *json).await,
        Command::Backup { path, target } => {
            let db = database(cli, target.sandbox)?;
            let to = match path {
                Some(p) => p.clone(),
                None => default_backup_path(&db, Timestamp::now()),
            };
            let bytes = maintenance::backup(&db, &to)
                .await
                .with_context(|| format!("backing up {}", db.display()))?;
            outln!(
                "backed up {} to {} ({} KiB)",
                db.display(),
                to.display(),
                bytes.div_ceil(1024)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            path,
            force,
            target,
        } => {
            let db = database(cli, target.sandbox)?;
            if !force {
                refuse_other_mode(path, &db, target.sandbox).await?;
            }
            // Held for the whole restore: no daemon can start on the file meanwhile.
            let dir = db
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let paths = DaemonPaths::in_dir(dir);
            let _lock = DaemonLock::acquire(&paths.lock).map_err(|e| {
                anyhow::anyhow!("{e}; stop the daemon first, then restore (nothing was changed)")
            })?;
            let done = maintenance::restore(path, &db, Timestamp::now())
                .await
                .with_context(|| format!("restoring {} from {}", db.display(), path.display()))?;
            outln!(
                "restored {} from {} ({} KiB; integrity checked)",
                db.display(),
                path.display(),
                done.bytes.div_ceil(1024)
            )?;
            if let Some(aside) = done.kept_aside {
                outln!(
                    "the replaced database is kept as {} (delete it once all is well)",
                    aside.display()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `db restore` of a backup from the other mode's journal, which would make rehearsal sends
/// real history (or the reverse): refused, saying which, unless `--force`. The mode comes from
/// the backup's header stamp; a backup without one (made before the stamp existed) is judged
/// by its path (a `sandbox` directory in it).
async fn refuse_other_mode(backup: &Path, db: &Path, sandbox: bool) -> anyhow::Result<()> {
    let from_sandbox = match maintenance::journal_is_sandbox(backup).await {
        Some(s) => s,
        None => backup
            .canonicalize()
            .unwrap_or_else(|_| backup.to_path_buf())
            .components()
            .any(|c| c.as_os_str() == "sandbox"),
    };
    if from_sandbox == sandbox {
        return Ok(());
    }
    let (from, into) = match from_sandbox {
        true => ("the sandbox's journal", "the real journal"),
        false => ("the real journal", "the sandbox's journal"),
    };
    // Said without a quoted command: the error's hints get this command's --sandbox added,
    // and the right command here is the other mode's.
    anyhow::bail!(
        "{} is a backup of {from}, and {} is {into}; nothing was changed. \
         Restore it into its own journal ({}), or add --force if this is really meant",
        backup.display(),
        db.display(),
        if from_sandbox {
            "db restore with --sandbox"
        } else {
            "db restore without --sandbox"
        }
    )
}

async fn copy(from: &str, to: &str, json: bool) -> anyhow::Result<ExitCode> {
    let report = smb_store::copy::copy(from, to).await.with_context(|| {
        format!(
            "copying {} into {}",
            smb_store::copy::database_name(from),
            smb_store::copy::database_name(to)
        )
    })?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!("{:<width$}  {:>10}  checksum", "table", "rows")?;
    for t in &report.tables {
        outln!("{:<width$}  {:>10}  {}", t.table, t.rows, t.checksum)?;
    }
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    let (from, to) = (
        smb_store::copy::database_name(from),
        smb_store::copy::database_name(to),
    );
    if report.copied {
        outln!(
            "copied {rows} rows in {} tables from {from} into {to}; read back: counts and checksums match",
            report.tables.len()
        )?;
    } else {
        outln!(
            "{to} already holds exactly the rows of {from} ({rows} rows in {} tables): nothing written",
            report.tables.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(db: &Path) -> anyhow::Result<ExitCode> {
    let problems = maintenance::integrity_problems(db, Thoroughness::Full).await?;
    if problems.is_empty() {
        outln!("✓ database {}: integrity check passed", db.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "✗ database {} is damaged ({}); {}",
        db.display(),
        problems.join("; "),
        crate::hint::in_mode(RESTORE_HINT)
    )?;
    Ok(ExitCode::from(1))
}

/// `backups/sendmessagebot-YYYYMMDD-HHMMSS.db` in the database's directory (UTC time).
pub fn default_backup_path(db: &Path, now: Timestamp) -> PathBuf {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = db
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("sendmessagebot");
    dir.join("backups")
        .join(format!("{stem}-{}.db", now.strftime("%Y%m%d-%H%M%S")))
}
