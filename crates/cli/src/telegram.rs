//! Real Telegram for the CLI: API credentials, the session store, each account's proxy and the
//! grammers gateway, from the configuration and the seed's `.env` names.
//!
//! | name | meaning |
//! |---|---|
//! | `API_ID`, `API_HASH` | the application's credentials from https://my.telegram.org |
//! | `PHONE` | the phone of the only account, when `[accounts.NAME]` has no `phone` |
//! | `SESSION_NAME` | the session file name of the only account (`sessions/NAME.session`) |
//! | `SESSIONS_DIR` | where session files live (`sessions`) |
//! | `SESSION_PASSPHRASE` | encrypts session files (XChaCha20-Poly1305, Argon2id key) |
//! | `PROXY_ENABLED`, `PROXY_PROTOCOL`, `PROXY_ADDR`, `PROXY_PORT`, `PROXY_SECRET` | the proxy of accounts without their own `proxy = …`: SOCKS5, or an MTProto proxy with `PROXY_PROTOCOL=mtproto` (docs/mtproxy.md) |
//! | `SMB_MTPROXY_TIMEOUT_MS` | how long an MTProto proxy may take to connect and to answer (10000; tests shorten it) |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use smb_domain::AccountStop;
use smb_engine::Store;
use smb_telegram::grammers::{
    AccountConfig, ApiSettings, GrammersGateway, JsonPeerCacheStore, ProxyUrl, SecretString,
    SessionStore,
};
use smb_telegram::mtproxy::ProxyTimeouts;

use crate::config::{AccountInfo, Settings};

/// The default directory of session files (the seed's `sessions/`).
pub const DEFAULT_SESSIONS_DIR: &str = "sessions";

fn env<'a>(settings: &'a Settings, name: &str) -> Option<&'a str> {
    settings
        .env
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// API_ID and API_HASH, which every real-Telegram command needs.
pub fn api(settings: &Settings) -> anyhow::Result<ApiSettings> {
    let (Some(id), Some(hash)) = (env(settings, "API_ID"), env(settings, "API_HASH")) else {
        bail!(
            "API_ID and API_HASH are not set: create an application at https://my.telegram.org \
             (API development tools) and put both in .env"
        );
    };
    let api_id = parse_api_id(id).map_err(anyhow::Error::msg)?;
    let mut api = ApiSettings::new(api_id, SecretString::from(hash.to_owned()));
    if let Some(d) = settings.sections.mtproxy_timeout {
        api.proxy_timeouts = ProxyTimeouts {
            connect: d,
            first_reply: d,
        };
    }
    Ok(api)
}

/// API_ID as Telegram issues it: a positive number.
pub fn parse_api_id(id: &str) -> Result<i32, String> {
    id.parse().ok().filter(|v: &i32| *v > 0).ok_or_else(|| {
        format!("API_ID={id:?} is not valid: expected the number from https://my.telegram.org")
    })
}

/// SMB_MTPROXY_TIMEOUT_MS: positive milliseconds.
pub fn parse_mtproxy_timeout(ms: &str) -> Result<std::time::Duration, String> {
    ms.parse()
        .ok()
        .filter(|v: &u64| *v > 0)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("SMB_MTPROXY_TIMEOUT_MS={ms:?} is not valid: expected milliseconds"))
}

/// The session store: SESSIONS_DIR, SESSION_PASSPHRASE, and each account's file name
/// (`[accounts.NAME] session = …`, or SESSION_NAME when only one account is configured).
pub fn session_store(settings: &Settings) -> anyhow::Result<SessionStore> {
    let dir = PathBuf::from(env(settings, "SESSIONS_DIR").unwrap_or(DEFAULT_SESSIONS_DIR));
    let passphrase = env(settings, "SESSION_PASSPHRASE").map(|p| SecretString::from(p.to_owned()));
    let mut store = SessionStore::new(&dir, passphrase);
    let single = settings.account_info.len() == 1;
    for a in &settings.account_info {
        let file = match &a.session {
            Some(path) => Some(session_file_name(&a.name, path, &dir)?),
            None if single => env(settings, "SESSION_NAME").map(str::to_owned),
            None => None,
        };
        if let Some(file) = file {
            store = store.with_file_name(&a.name, &file).with_context(|| {
                format!(
                    "the session file name of account `{}` (`session` or SESSION_NAME)",
                    a.name
                )
            })?;
        }
    }
    Ok(store)
}

/// `session = "acc1"`, `"acc1.session"` or `"sessions/acc1"` (the seed's form) → `acc1`.
fn session_file_name(account: &str, path: &Path, dir: &Path) -> anyhow::Result<String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && parent != dir
    {
        bail!(
            "accounts.{account}.session = {:?}: session files live in {} (SESSIONS_DIR); write \
             `session = \"{}\"` or set SESSIONS_DIR={}",
            path.display().to_string(),
            dir.display(),
            path.file_stem().and_then(|s| s.to_str()).unwrap_or(account),
            parent.display()
        );
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(account);
    Ok(name.strip_suffix(".session").unwrap_or(name).to_owned())
}

/// The account's proxy: its own `proxy = "socks5://…"` or `"mtproxy://…"` (or a
/// `tg://proxy?…` / `https://t.me/proxy?…` link), else the seed's PROXY_* variables. A bad
/// MTProto secret or link is an error saying why.
pub fn proxy(settings: &Settings, account: &AccountInfo) -> anyhow::Result<Option<ProxyUrl>> {
    proxy_of(&settings.env, account)
}

/// [`proxy`] from the merged `.env` + environment (the settings parser checks every account's).
pub fn proxy_of(
    env: &std::collections::HashMap<String, String>,
    account: &AccountInfo,
) -> anyhow::Result<Option<ProxyUrl>> {
    if let Some(url) = account.proxy.as_deref().filter(|u| !u.trim().is_empty()) {
        return ProxyUrl::parse(url)
            .map(Some)
            .with_context(|| format!("accounts.{}.proxy", account.name));
    }
    let var = |name: &str| {
        env.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let enabled = var("PROXY_ENABLED")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
    if !enabled {
        return Ok(None);
    }
    if var("PROXY_ADDR").is_none() || var("PROXY_PORT").is_none() {
        bail!(
            "PROXY_ENABLED=true needs PROXY_ADDR and PROXY_PORT (and PROXY_SECRET with \
             PROXY_PROTOCOL=mtproto)"
        );
    }
    if let Some(port) = var("PROXY_PORT")
        && port.parse::<u16>().is_err()
    {
        bail!("PROXY_PORT={port:?} is not valid: expected a port number such as 1080");
    }
    let mtproto = var("PROXY_PROTOCOL")
        .is_some_and(|p| matches!(p.to_ascii_lowercase().as_str(), "mtproto" | "mtproxy"));
    if mtproto
        && let Some(secret) = var("PROXY_SECRET")
        && let Err(e) = smb_telegram::mtproxy::MtproxySecret::parse(&secret)
    {
        // The error describes the form, never the value (a secret).
        bail!("PROXY_SECRET is not valid: {e}");
    }
    ProxyUrl::from_seed_env(var).context("PROXY_ENABLED=true with PROXY_PROTOCOL")
}

/// Every proxy problem of the configuration, one line each (for `check`).
pub fn proxy_problems(settings: &Settings) -> Vec<String> {
    settings
        .account_info
        .iter()
        .filter_map(|a| proxy(settings, a).err().map(|e| format!("{e:#}")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

pub fn account<'a>(settings: &'a Settings, name: &str) -> anyhow::Result<&'a AccountInfo> {
    settings
        .account_info
        .iter()
        .find(|a| a.name == name)
        .with_context(|| {
            let known: Vec<&str> = settings
                .account_info
                .iter()
                .map(|a| a.name.as_str())
                .collect();
            format!(
                "account `{name}` is not in {} (known: {}); add an [accounts.{name}] table",
                settings.source,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// Opens the gateway for the accounts the broadcasters use, their backup accounts included
/// (e14: a backup-only account was never connected, so no backup ever posted through the
/// real binary). An account without a usable
/// session is recorded as stopped with the fix as its reason (the others start); an account
/// stopped that way before and usable now is started again. Fails only when no account can send.
/// What the accounts upload is kept in `uploads` (the store's uploads table, issue 15), so a
/// restart re-uses it.
pub async fn start_gateway(
    settings: &Settings,
    store: &dyn Store,
    uploads: Arc<dyn smb_engine::Uploads>,
) -> anyhow::Result<Arc<GrammersGateway>> {
    let api = api(settings)?;
    let sessions = session_store(settings)?;
    let mut configs = Vec::new();
    for a in &settings.account_info {
        if settings
            .broadcasters
            .iter()
            .any(|b| b.spec.account == a.name || b.backup_accounts.contains(&a.name))
        {
            configs.push(AccountConfig {
                name: a.name.clone(),
                proxy: proxy(settings, a)?,
            });
        }
    }
    let peers = Arc::new(JsonPeerCacheStore::new(sessions.dir()));
    let gateway = GrammersGateway::connect(&api, &sessions, &configs, peers).with_uploads(uploads);
    let now = Timestamp::now();
    let stored = store.accounts().await?;
    for c in &configs {
        let was = stored.get(&c.name).and_then(|s| s.stopped_reason.as_ref());
        match gateway.unavailable().iter().find(|(a, _)| *a == c.name) {
            Some((name, e)) => {
                eprintln!("warning: account {name} will not send: {e}");
                store
                    .set_account_stopped(name, Some(&e.stop(name)), now)
                    .await?;
            }
            None => {
                // A refused proxy secret is cleared too: the settings may have been fixed
                // since, and if not, the first send stops the account again.
                if let Some(reason) = was.filter(|r| {
                    r.is_session_problem()
                        || matches!(r, AccountStop::Telegram(c) if c == smb_domain::PROXY_SECRET_REFUSED)
                }) {
                    tracing::info!(account = %c.name, previous = %reason, "the account may send again");
                    store.set_account_stopped(&c.name, None, now).await?;
                }
            }
        }
    }
    store.flush().await?;
    if !configs.is_empty() && gateway.unavailable().len() == configs.len() {
        let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "no account can send: log them in first (`sendmessagebot accounts login NAME` for {})",
            names.join(", ")
        );
    }
    Ok(Arc::new(gateway))
}

/// Writes every account's session at shutdown; a failure is reported, never fatal.
pub fn save_sessions(gateway: &GrammersGateway) {
    if let Err(e) = gateway.save_sessions() {
        tracing::warn!(error = %e, "cannot save the sessions");
        eprintln!("warning: cannot save the sessions: {e}");
    }
}
