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
    let path: Option<&Path> = if !cli.config.exists() && allow_example {
        eprintln!(
            "note: {} not found; using the built-in example configuration (write it with `sendmessagebot init`)",
            cli.config.display()
        );
        None
    } else {
        Some(&cli.config)
    };
    Ok(config::load(path, &env, overrides)?)
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
    let url = if sandbox {
        &settings.sandbox_database_url
    } else {
        &settings.database_url
    };
    SqliteStore::open(url, SqliteSettings::default())
        .await
        .with_context(|| format!("opening the database {url}"))
}
