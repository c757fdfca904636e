//! Shared start-up of commands: environment, configuration, logging, store.

use std::path::Path;

use anyhow::Context as _;
use smb_store::{SqliteSettings, SqliteStore};

use crate::Cli;
use crate::config::{self, EnvVars, Overrides, Settings};

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

pub fn init_logging(settings: &Settings, default_console: bool) {
    let level = settings.env.get("LOG_LEVEL").map(|s| s.to_ascii_lowercase()).unwrap_or_else(|| "info".into());
    let level = match level.as_str() {
        "critical" => "error".to_string(),
        "warning" => "warn".to_string(),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{level},sqlx=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = default_console;
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub async fn open_store(settings: &Settings, sandbox: bool) -> anyhow::Result<SqliteStore> {
    let url = if sandbox { &settings.sandbox_database_url } else { &settings.database_url };
    SqliteStore::open(url, SqliteSettings::default())
        .await
        .with_context(|| format!("opening the database {url}"))
}
