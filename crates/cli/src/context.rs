//! Shared start-up of commands: environment, configuration, logging, store.

use std::path::Path;

use anyhow::Context as _;
use smb_store::{SqliteSettings, SqliteStore};

use crate::Cli;
use crate::config::{self, EnvVars, Overrides, Settings};
use crate::logging::{self, LogGuard};

/// Loads `.env` + environment and the configuration file. With `allow_example`, a missing
/// file falls back to the built-in example (the sandbox needs no setup).
pub fn settings(cli: &Cli, overrides: &Overrides, allow_example: bool) -> anyhow::Result<Settings> {
    let env = EnvVars::load(&cli.env_file)?;
    Ok(config::load(
        config_path(cli, allow_example),
        &env,
        overrides,
    )?)
}

/// `run`'s settings: [`settings`], and what `run` refuses in them before anything starts
/// ([`run_settings_from`]).
pub fn run_settings(
    cli: &Cli,
    overrides: &Overrides,
    allow_example: bool,
    no_web: bool,
) -> anyhow::Result<Settings> {
    let env = EnvVars::load(&cli.env_file)?;
    run_settings_from(&env, config_path(cli, allow_example), overrides, no_web)
}

/// The file at `path` (the built-in example for `None`) with `env`, and then what `run`
/// refuses once the settings are read: the dashboard's settings (a bind off loopback without
/// `WEB_TOKEN`) unless `no_web`. `check` reports these errors with the same message
/// (`commands::check::configuration`; `tests/check_agrees.rs` compares the two).
pub fn run_settings_from(
    env: &EnvVars,
    path: Option<&Path>,
    overrides: &Overrides,
    no_web: bool,
) -> anyhow::Result<Settings> {
    let settings = config::load(path, env, overrides)?;
    crate::web::web_settings(&settings, no_web)?;
    Ok(settings)
}

fn config_path(cli: &Cli, allow_example: bool) -> Option<&Path> {
    if !cli.config.exists() && allow_example {
        eprintln!(
            "note: {} not found; using the built-in example configuration (write it with `sendmessagebot init`)",
            cli.config.display()
        );
        None
    } else {
        Some(&cli.config)
    }
}

/// Installs the logger from the LOG_* settings (see `logging`); `default_console` stands in for
/// LOG_CONSOLE when it is not set. Keep the guard until the command ends: dropping it flushes
/// the file.
pub fn init_logging(settings: &Settings, default_console: bool) -> anyhow::Result<LogGuard> {
    let mut log = settings.sections.log.clone();
    if settings
        .env
        .get("LOG_CONSOLE")
        .is_none_or(|v| v.trim().is_empty())
    {
        log.console = default_console;
    }
    logging::init(&log)
}

pub async fn open_store(settings: &Settings, sandbox: bool) -> anyhow::Result<SqliteStore> {
    if let Some(problem) = journal_elsewhere(settings, sandbox) {
        anyhow::bail!("{problem}");
    }
    let url = database_url(settings, sandbox);
    refuse_postgres(url)?;
    SqliteStore::open(
        url,
        SqliteSettings {
            sandbox,
            ..SqliteSettings::default()
        },
    )
    .await
    .map_err(damage_hint)
    .with_context(|| format!("opening the database {url}"))
}

/// [`open_store`] for commands that only read (`stats`, …): opened read-only (a database in a
/// read-only directory can be read), and a missing database is said to be missing, never
/// replaced by a new empty one.
pub async fn open_existing_store(
    settings: &Settings,
    sandbox: bool,
) -> anyhow::Result<SqliteStore> {
    if let Some(problem) = journal_elsewhere(settings, sandbox) {
        anyhow::bail!("{problem}");
    }
    let url = database_url(settings, sandbox);
    refuse_postgres(url)?;
    // Read-only first: it works in a read-only directory and never writes (issue 19); a
    // database of an older version is migrated by the ordinary open.
    match SqliteStore::open_read_only(url).await {
        Ok(Some(store)) => Ok(store),
        Ok(None) => SqliteStore::open_existing(
            url,
            SqliteSettings {
                sandbox,
                ..SqliteSettings::default()
            },
        )
        .await
        .map_err(damage_hint)
        .with_context(|| format!("opening the database {url}")),
        Err(e) => Err(damage_hint(e)).with_context(|| format!("opening the database {url}")),
    }
}

/// The commands that keep their journal in SQLite only refuse a PostgreSQL URL, saying which
/// commands use one (the URL itself, with its password, is never repeated).
fn refuse_postgres(url: &str) -> anyhow::Result<()> {
    if smb_store::is_postgres_url(url) {
        anyhow::bail!("the journal's URL is {}", crate::config::NOT_YET_POSTGRES);
    }
    Ok(())
}

/// The journal of `run` and `stats` (issue 16): the PostgreSQL store for a `postgres://`
/// URL, else the SQLite store as [`open_store`] opens it. A server that cannot be reached is
/// named `host:port/database`, never with its password.
pub async fn open_journal(
    settings: &Settings,
    sandbox: bool,
) -> anyhow::Result<std::sync::Arc<dyn smb_store::Journal>> {
    let url = database_url(settings, sandbox);
    if smb_store::is_postgres_url(url) {
        // A server frozen mid-transaction must not hold lease rows past a takeover
        // (docs/postgres.md, "Leases and fencing"): LEASE_TTL/4, at least 500 ms.
        let idle =
            (settings.sections.cluster.lease_ttl / 4).max(std::time::Duration::from_millis(500));
        let pg = smb_store::PgSettings {
            idle_in_transaction: Some(idle),
            ..smb_store::PgSettings::default()
        };
        let store = smb_store::PgStore::open(url, pg).await?;
        return Ok(std::sync::Arc::new(store));
    }
    Ok(std::sync::Arc::new(open_store(settings, sandbox).await?))
}

/// [`open_journal`] for commands that only read (`stats`): a SQLite journal as
/// [`open_existing_store`] opens it.
pub async fn open_existing_journal(
    settings: &Settings,
    sandbox: bool,
) -> anyhow::Result<std::sync::Arc<dyn smb_store::Journal>> {
    let url = database_url(settings, sandbox);
    if smb_store::is_postgres_url(url) {
        let store = smb_store::PgStore::open(url, smb_store::PgSettings::default()).await?;
        return Ok(std::sync::Arc::new(store));
    }
    Ok(std::sync::Arc::new(
        open_existing_store(settings, sandbox).await?,
    ))
}

/// A relative database path is read from the working directory (docs/console.md, "Paths"; the
/// original's `.env` meant it so). When that file does not exist but one does at the same
/// relative path beside the configuration file (`--config other/dir/sendmessagebot.toml` run
/// from elsewhere), a new journal here would forget that one's deliveries — posts a chat
/// already had today, chat rules' history — so every command that opens the journal refuses,
/// and `check` marks it ✗. The refusal, with both paths and the fix; `None` when the path is
/// absolute, exists here, the configuration is in the working directory, or nothing is beside it.
pub fn journal_elsewhere(settings: &Settings, sandbox: bool) -> Option<String> {
    let url = database_url(settings, sandbox);
    if !url.starts_with("sqlite:") || url.contains(":memory:") {
        return None;
    }
    let path = crate::daemon::database_path(url);
    if path.as_os_str().is_empty() || path.is_absolute() || path.exists() {
        return None;
    }
    let config = Path::new(&settings.source);
    if !config.is_file() {
        return None; // the built-in example: no directory of its own
    }
    let dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let cwd = std::env::current_dir().ok()?;
    let dir = dir.canonicalize().ok()?;
    if dir == cwd.canonicalize().ok()? {
        return None;
    }
    let beside = dir.join(&path);
    if !beside.is_file() {
        return None;
    }
    let fix = if sandbox {
        format!(
            "run in the directory of the configuration (`cd {}`)",
            dir.display()
        )
    } else {
        format!(
            "run in the directory of the configuration (`cd {}`), or give DATABASE_URL an absolute path",
            dir.display()
        )
    };
    Some(format!(
        "no journal at {} (relative paths are read from the working directory {}), but the configuration's directory holds {}: \
         a new journal here would forget its deliveries and post again what chats already had; {fix}",
        cwd.join(&path).display(),
        cwd.display(),
        beside.display()
    ))
}

fn database_url(settings: &Settings, sandbox: bool) -> &str {
    if sandbox {
        &settings.sandbox_database_url
    } else {
        &settings.database_url
    }
}

/// SQLite's words for a damaged file, with the fix.
fn damage_hint(e: smb_engine::StoreError) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("malformed") || text.contains("not a database") || text.contains("corrupt") {
        anyhow::anyhow!(
            "{text}: the database is damaged; {}",
            crate::hint::in_mode(smb_store::maintenance::RESTORE_HINT)
        )
    } else {
        anyhow::Error::new(e)
    }
}

/// `run`'s check at start: a damaged journal stops the start, with the fix, before anything is
/// sent (SQLite's `quick_check`: every page and record readable; linear in the file size).
pub async fn check_integrity(settings: &Settings, sandbox: bool) -> anyhow::Result<()> {
    let path = crate::daemon::database_path(database_url(settings, sandbox));
    if !path.exists() {
        return Ok(());
    }
    let problems = smb_store::maintenance::integrity_problems(
        &path,
        smb_store::maintenance::Thoroughness::Quick,
    )
    .await?;
    if !problems.is_empty() {
        anyhow::bail!(
            "the database {} is damaged ({}); nothing is sent from a journal that may have lost \
             deliveries: {}",
            path.display(),
            problems.join("; "),
            crate::hint::in_mode(smb_store::maintenance::RESTORE_HINT)
        );
    }
    Ok(())
}

/// The journal's URL when the configuration does not load (commands that must work anyway:
/// `db`, `status`, `stop`): the sandbox's, or `DATABASE_URL` when it is a SQLite URL, else the
/// default. A URL of another scheme (`postgres://user:password@…`) is never used as a path, so
/// its password is never printed as a directory.
pub fn fallback_database_url(sandbox: bool) -> String {
    if sandbox {
        return "sqlite://data/sandbox/sendmessagebot.db".to_owned();
    }
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.trim_start().starts_with("sqlite:"))
        .unwrap_or_else(|| smb_store::DEFAULT_DATABASE_URL.to_owned())
}
