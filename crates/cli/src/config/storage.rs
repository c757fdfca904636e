//! `[database]` and `[sandbox]`: where the journal lives (SQLite only), and the simulated
//! Telegram of `--sandbox` (latency, seed, ledger, fault plan).

use std::path::PathBuf;
use std::time::Duration;

use smb_domain::TargetRef;
use smb_telegram::SimSettings;

use super::ConfigError;
use super::env::EnvVars;
use super::located::Ctx;
use super::schema::{DatabaseSection, SandboxSection};

/// Where the sandbox keeps its journal unless `[sandbox] database_url` says otherwise.
const SANDBOX_DATABASE_URL: &str = "sqlite://data/sandbox/sendmessagebot.db";

/// The journal's URLs (the real one: `DATABASE_URL` over `[database] url`; the sandbox's) and
/// the sandbox's settings.
pub(super) struct Storage {
    pub(super) database_url: String,
    pub(super) sandbox_database_url: String,
    pub(super) sandbox: SimSettings,
}

pub(super) fn section(
    ctx: &Ctx,
    database: DatabaseSection,
    sandbox: SandboxSection,
    env: &EnvVars,
) -> Result<Storage, ConfigError> {
    let from_env = env.get("DATABASE_URL").map(|(v, _)| v.to_string());
    let database_url = from_env
        .clone()
        .or(database.url)
        .unwrap_or_else(|| smb_store::DEFAULT_DATABASE_URL.to_string());
    // The journal is SQLite: another scheme would fail only when the store opens.
    let not_sqlite = "not a SQLite URL; write sqlite://data/sendmessagebot.db";
    if !database_url.trim_start().starts_with("sqlite:") {
        return Err(match from_env {
            Some(_) => env.err("DATABASE_URL", not_sqlite),
            None => ctx.key("database.url", not_sqlite),
        });
    }
    if let Some(url) = &sandbox.database_url
        && !url.trim_start().starts_with("sqlite:")
    {
        return Err(ctx.key("sandbox.database_url", not_sqlite));
    }
    for (i, f) in sandbox.faults.iter().enumerate() {
        if let Some(c) = &f.chat {
            TargetRef::parse(c)
                .map_err(|e| ctx.key(format!("sandbox.faults[{}].chat", i + 1), e.to_string()))?;
        }
    }
    Ok(Storage {
        database_url,
        sandbox_database_url: sandbox
            .database_url
            .unwrap_or_else(|| SANDBOX_DATABASE_URL.to_string()),
        sandbox: SimSettings {
            latency: Duration::from_millis(sandbox.latency_ms.unwrap_or(50)),
            seed: sandbox.seed.unwrap_or(1),
            ledger: Some(
                sandbox
                    .ledger
                    .unwrap_or_else(|| PathBuf::from("data/sandbox/ledger.jsonl")),
            ),
            faults: sandbox.faults,
            keep_in_memory: false,
        },
    })
}
