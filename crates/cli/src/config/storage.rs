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

/// The byte offset of `key = …` inside the `index`-th (0-based) `[[sandbox.faults]]` table.
fn fault_value_offset(src: &str, index: usize, key: &str) -> Option<usize> {
    let mut offset = 0;
    // Fault tables seen so far, and whether the current table is the one asked for.
    let mut seen = 0usize;
    let mut inside = false;
    for line in src.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            inside = false;
            if t.starts_with("[[sandbox.faults]]") {
                inside = seen == index;
                seen += 1;
            }
        } else if inside
            && let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - t.len()));
        }
        offset += line.len();
    }
    None
}

/// The answer of the commands that keep their journal in SQLite only when `DATABASE_URL` is a
/// PostgreSQL URL: `run`, `stats` and `status` use the PostgreSQL store, the others not yet
/// (docs/postgres.md, "Status"); `db copy` takes its URLs as arguments.
pub const NOT_YET_POSTGRES: &str = "a PostgreSQL URL: `run`, `stats` and `status` use a \
     PostgreSQL journal, but this command keeps its journal in SQLite only in this version \
     (docs/postgres.md); run it with DATABASE_URL=sqlite://data/sendmessagebot.db, or copy the \
     journal over with `db copy`";

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
    // A SQLite file, or a PostgreSQL server (issue 16: `run`, `stats` and `status` use it;
    // the other commands say so when they open the journal, see `NOT_YET_POSTGRES`). Another
    // scheme would fail only when the store opens: refused here.
    let not_sqlite = "not a SQLite or PostgreSQL URL; write sqlite://data/sendmessagebot.db \
                      or postgres://USER@HOST/DATABASE";
    let known =
        |url: &str| url.trim_start().starts_with("sqlite:") || smb_store::is_postgres_url(url);
    if !known(&database_url) {
        return Err(match from_env {
            Some(_) => env.err("DATABASE_URL", not_sqlite),
            None => ctx.key("database.url", not_sqlite),
        });
    }
    if let Some(url) = &sandbox.database_url
        && !known(url)
    {
        return Err(ctx.key("sandbox.database_url", not_sqlite));
    }
    for (i, f) in sandbox.faults.iter().enumerate() {
        let key = |k: &str| format!("sandbox.faults[{}].{k}", i + 1);
        // At the value's line when it can be found (`[[sandbox.faults]]` number i, then `k =`).
        let err = |k: &str, message: String| match fault_value_offset(ctx.src, i, k) {
            Some(at) => ctx.at_offset(at, key(k), message),
            None => ctx.key(key(k), message),
        };
        if let Some(p) = f.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(err(
                "probability",
                format!("{p} is not a probability; write a number from 0.0 to 1.0"),
            ));
        }
        // Only errors the sandbox knows how Telegram means them (issue 19: an unknown name used
        // to pass and then behaved as nothing in particular).
        let name = f.error.trim();
        let known = name.eq_ignore_ascii_case("NETWORK")
            || smb_domain::SendError::from_telegram(name).class() != smb_domain::ErrorClass::Other;
        if !known {
            return Err(err(
                "error",
                format!(
                    "`{name}` is not a Telegram error the sandbox knows; write one in capitals such as FLOOD_WAIT_300, SLOWMODE_WAIT_30, CHAT_WRITE_FORBIDDEN, AUTH_KEY_UNREGISTERED or NETWORK"
                ),
            ));
        }
        if let Some(c) = &f.chat {
            TargetRef::parse(c).map_err(|e| err("chat", e.to_string()))?;
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
