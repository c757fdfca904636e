//! The settings other crates own (web, metrics, logging, notifications, sources, Telegram),
//! parsed from `.env` + the environment into typed sections by [`parse`], which
//! [`crate::config::parse`] calls: `run` (and its reload) and `check` therefore refuse exactly
//! the same values, with the same message naming the variable.
//!
//! Every variable is listed in [`ENV_SECTIONS`]. The list is not documentation only: the
//! settings parser (`config` and each section here) sees the listed names and nothing else,
//! so a setting parsed but missing from the list does not work at all, and the agreement tests
//! (`config/agreement.rs`) enumerate this same list. ([`crate::config::Settings::env`] keeps
//! every variable, for names the user chooses such as `accounts login --password-env NAME`.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use smb_notify::NotifySettings;
use smb_web::WebSettings;

use crate::config::{AccountInfo, ConfigError, EnvVars};
use crate::logging::LogSettings;

/// The schedule and store settings `config` reads itself (the seed's names).
pub const SCHEDULE_VARS: &[&str] = &[
    "DELAY_BETWEEN_CHATS",
    "CYCLE_DELAY",
    "MAX_RETRIES",
    "RETRY_DELAY",
    "ENABLE_SCHEDULING",
    "START_TIME_HOUR",
    "ENABLE_QUIET_HOURS",
    "QUIET_HOUR_START",
    "QUIET_HOUR_END",
    "REPORTS_TIMEZONE",
    "TEST_MODE",
    "DATABASE_URL",
    "DISABLE_AFTER_FAILURES",
];

/// `smb-web`: the dashboard and REST API.
pub const WEB_VARS: &[&str] = &[
    "WEB_BIND",
    "WEB_TOKEN",
    "LANG",
    "WEB_HEADER_TIMEOUT",
    "WEB_BODY_TIMEOUT",
    "WEB_IDLE_TIMEOUT",
    "WEB_MAX_CONNECTIONS",
];

/// The `/metrics` server.
pub const METRICS_VARS: &[&str] = &["METRICS_BIND"];

/// The log (see `logging`).
pub const LOG_VARS: &[&str] = &[
    "RUST_LOG",
    "LOG_LEVEL",
    "LOG_FILE",
    "LOG_MAX_SIZE",
    "LOG_BACKUP_COUNT",
    "LOG_CONSOLE",
    "LOG_FORMAT",
];

/// `smb-notify`: reports, admin notifications, webhooks.
pub const NOTIFY_VARS: &[&str] = &[
    "TELEGRAM_BOT_API_URL",
    "REPORTS_BOT_TOKEN",
    "NOTIFY_HTTP_TIMEOUT",
    "REPORTS_TIMEZONE",
    "ENABLE_REPORTS",
    "REPORTS_CHANNEL_ID",
    "REPORT_INTERVAL_HOURS",
    "ENABLE_WEBHOOK_NOTIFICATIONS",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "NOTIFICATION_LEVEL",
    "NOTIFY_FLOOD_WAIT_THRESHOLD",
    "NOTIFY_COLLAPSE_HOURS",
    "NOTIFY_QUEUE_SIZE",
    "NOTIFY_MAX_ATTEMPTS",
    "NOTIFY_RETRY_DELAY",
    "ENABLE_TELEGRAM_NOTIFICATIONS",
    "ADMIN_TELEGRAM_ID",
];

/// `smb-sources`: Google Sheets, CSV and files, and the seed's per-set sheet URLs.
pub const SOURCES_VARS: &[&str] = &[
    "GOOGLE_UPDATE_INTERVAL",
    "GOOGLE_CREDENTIALS_FILE",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_SHEETS_API_URL",
    "GOOGLE_EXPORT_URL",
    "BUY_SELL_PRICE_B2B_SHEET_URL",
    "BUY_SELL_PRICE_B2C_SHEET_URL",
    "BUY_SELL_PRICE_AAA_SHEET_URL",
    "BUY_SELL_PRICE_GUS_SHEET_URL",
    "SOURCE_MAX_BYTES",
    "SOURCE_MAX_ROWS",
];

/// `smb-telegram`: credentials, sessions and the proxy (see `telegram`).
pub const TELEGRAM_VARS: &[&str] = &[
    "API_ID",
    "API_HASH",
    "PHONE",
    "SESSION_NAME",
    "SESSIONS_DIR",
    "SESSION_PASSPHRASE",
    "PROXY_ENABLED",
    "PROXY_PROTOCOL",
    "PROXY_ADDR",
    "PROXY_PORT",
    "PROXY_SECRET",
    "SMB_MTPROXY_TIMEOUT_MS",
];

/// Several servers on one PostgreSQL database (issue 16; docs/postgres.md).
pub const CLUSTER_VARS: &[&str] = &["LEASE_TTL", "SERVER_ID"];

/// Read by `check` only (not by `run`).
pub const CHECK_VARS: &[&str] = &["SMB_CHECK_MIN_FREE_MB"];

/// Every variable, by section: what [`parse`] and `config` read, and all they may read.
pub const ENV_SECTIONS: &[(&str, &[&str])] = &[
    ("schedule", SCHEDULE_VARS),
    ("web", WEB_VARS),
    ("metrics", METRICS_VARS),
    ("logging", LOG_VARS),
    ("notifications", NOTIFY_VARS),
    ("sources", SOURCES_VARS),
    ("telegram", TELEGRAM_VARS),
    ("cluster", CLUSTER_VARS),
    ("check", CHECK_VARS),
];

/// Names the command line reads from the process environment (clap's `env`, and `NO_COLOR`),
/// not settings: known, so a `.env` line naming one is not taken for a misspelling.
pub const CLI_VARS: &[&str] = &[
    "SMB_CONFIG",
    "SMB_SANDBOX",
    "SMB_SYSTEMD_UNIT_DIR",
    "NO_COLOR",
];

/// Every name SendMessageBot reads: [`ENV_SECTIONS`] and [`CLI_VARS`]. README's environment
/// table lists each one (`tests::readme_lists_every_known_name`).
pub fn known_names() -> impl Iterator<Item = &'static str> {
    ENV_SECTIONS
        .iter()
        .flat_map(|(_, vars)| vars.iter().copied())
        .chain(CLI_VARS.iter().copied())
}

/// Names only SendMessageBot uses: an unknown `.env` name with one of these prefixes is ours,
/// misspelt or made up, even when no known name is close.
const OWN_PREFIXES: &[&str] = &["SMB_", "BUY_SELL_PRICE_"];

/// The known name an unknown `name` was probably meant to be: the same letters in another
/// case, or (Damerau–Levenshtein, on upper case) at most 2 edits from a known name of 8 or
/// more characters, 1 edit from one of 5–7. Names of 4 or fewer characters (`LANG`) only
/// match by case, and short names get fewer edits, because other programs' short names
/// (`HOME`, `PATH`, `USER`) sit a couple of edits from ours (`HOME` → `PHONE` is 2).
/// Failing that, a name with a word dropped or the underscores changed ([`word_miss_of`]:
/// `START_HOUR` → `START_TIME_HOUR`, `CYCLE` → `CYCLE_DELAY`).
pub fn misspelling_of(name: &str) -> Option<&'static str> {
    if known_names().any(|k| k == name) {
        return None;
    }
    let upper = name.to_ascii_uppercase();
    known_names()
        .filter_map(|k| {
            let d = strsim::damerau_levenshtein(&upper, k);
            let allowed = match k.len() {
                8.. => 2,
                5..=7 => 1,
                _ => 0,
            };
            (d <= allowed).then_some((d, k))
        })
        .min()
        .map(|(_, k)| k)
        .or_else(|| word_miss_of(&upper))
}

/// The known name `upper` (an unknown name in upper case) is made of, with words dropped or
/// the underscores changed — what edit distance misses, since a dropped word is many edits
/// (QA: `START_HOUR=8` was not flagged). Tried in this order, the first rank with exactly one
/// known name wins (two or more: `None`, not a guess):
/// 1. the same letters without regard to `_` and `-` (`APIID`, `START-TIME-HOUR`);
/// 2. its words in order inside a known name with one or two more words, a one-word name
///    only as the known name's first word (`START_HOUR` → `START_TIME_HOUR`,
///    `QUIET_START` → `QUIET_HOUR_START`, `DELAY` → `DELAY_BETWEEN_CHATS`,
///    `CYCLE` → `CYCLE_DELAY`; never `PORT` → `PROXY_PORT`, another program's variable);
/// 3. two or more words, all in a known name with one more word, in another order
///    (`END_HOUR` → `QUIET_HOUR_END`).
fn word_miss_of(upper: &str) -> Option<&'static str> {
    let compact = |s: &str| -> String { s.chars().filter(|c| !matches!(c, '_' | '-')).collect() };
    let words: Vec<&str> = upper.split(['_', '-']).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return None;
    }
    let in_order = |known: &[&str]| -> bool {
        let mut rest = known.iter();
        words.iter().all(|w| rest.any(|k| k == w))
    };
    let rank = |k: &str| -> Option<usize> {
        if compact(upper) == compact(k) {
            return Some(0);
        }
        let known: Vec<&str> = k.split('_').collect();
        let extra = known.len().checked_sub(words.len())?;
        if (1..=2).contains(&extra)
            && in_order(&known)
            && (words.len() > 1 || known.first() == words.first())
        {
            return Some(1);
        }
        if extra == 1 && words.len() > 1 && words.iter().all(|w| known.contains(w)) {
            return Some(2);
        }
        None
    };
    let mut found: Vec<(usize, &'static str)> = known_names()
        .filter_map(|k| rank(k).map(|r| (r, k)))
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [] => None,
        [(_, k)] => Some(k),
        [(r0, k), (r1, _), ..] => (r0 < r1).then_some(*k),
    }
}

/// What to tell about a `.env` name SendMessageBot does not read, or `None` when it is not
/// ours to judge (another program's variable): the name meant ([`misspelling_of`]), or for an
/// unknown name with our own prefix ([`OWN_PREFIXES`]) where the settings are listed.
pub fn unknown_name_hint(name: &str) -> Option<String> {
    if let Some(known) = misspelling_of(name) {
        return Some(format!("did you mean {known}?"));
    }
    (!known_names().any(|k| k == name) && OWN_PREFIXES.iter().any(|p| name.starts_with(p)))
        .then(|| "the settings are listed in README, Environment".to_owned())
}

/// True when `name` is in [`ENV_SECTIONS`].
pub fn is_known(name: &str) -> bool {
    ENV_SECTIONS.iter().any(|(_, vars)| vars.contains(&name))
}

/// Where `/metrics` is served unless `METRICS_BIND` says otherwise.
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1:9898";

/// The typed sections of the settings (everything but the schedule, which `config` owns).
#[derive(Debug, Clone)]
pub struct Sections {
    /// `WEB_BIND`, `WEB_TOKEN`, `LANG`, parsed. Whether a bind off loopback has its token is
    /// decided when the server is to start ([`crate::web::web_settings`]), so `run --no-web`
    /// does not need one.
    pub web: WebSettings,
    /// `METRICS_BIND`.
    pub metrics_bind: SocketAddr,
    pub log: LogSettings,
    pub notify: NotifySettings,
    /// `GOOGLE_UPDATE_INTERVAL`: how often the daemon refreshes sets from their sources.
    pub update_interval: Duration,
    /// `SMB_MTPROXY_TIMEOUT_MS`, when set.
    pub mtproxy_timeout: Option<Duration>,
    /// `LEASE_TTL`, `SERVER_ID`: leases of several servers on PostgreSQL.
    pub cluster: ClusterSettings,
}

/// How a server takes part in a cluster on one PostgreSQL database (issue 16,
/// docs/postgres.md "Leases and fencing"). Ignored on SQLite (one server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `LEASE_TTL` (default 30 s, between 1 s and 1 h): how long a lease lasts unrenewed.
    /// Renewed every TTL/3; a dead server's accounts are taken over within about one TTL.
    pub lease_ttl: Duration,
    /// `SERVER_ID` (default `HOSTNAME-PID`): this server's name in the `leases` table; at
    /// most 64 characters, letters, digits and `.`, `_`, `-`, `:`, `@`.
    pub server_id: String,
}

/// The shortest and longest `LEASE_TTL`: below 1 s a renewal every TTL/3 would race the
/// database's own latency; above an hour a dead server's accounts would wait that long.
const LEASE_TTL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

/// `LEASE_TTL` and `SERVER_ID` from `env`, defaults for what is unset.
pub fn cluster_settings(env: &HashMap<String, String>) -> Result<ClusterSettings, String> {
    let lease_ttl = match get(env, "LEASE_TTL") {
        None => Duration::from_secs(30),
        Some(v) => {
            let d = crate::config::parse_duration(v)
                .map_err(|e| format!("LEASE_TTL={v} is not valid: {e}"))?;
            if d < LEASE_TTL_RANGE.0 || d > LEASE_TTL_RANGE.1 {
                return Err(format!(
                    "LEASE_TTL={v} is out of range: write a duration from 1s to 1h (default 30s)"
                ));
            }
            d
        }
    };
    let server_id = match get(env, "SERVER_ID") {
        None => default_server_id(),
        Some(v) => {
            let ok = v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@'));
            if !ok {
                return Err(format!(
                    "SERVER_ID={v} is not valid: write at most 64 letters, digits and . _ - : @ \
                     (each server of a cluster needs its own; unset, it is HOSTNAME-PID)"
                ));
            }
            v.to_owned()
        }
    };
    Ok(ClusterSettings {
        lease_ttl,
        server_id,
    })
}

/// `HOSTNAME-PID`: the kernel's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`,
/// else `host`) and this process's id, unique among live servers.
fn default_server_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Parses every section from `env` (already limited to [`ENV_SECTIONS`]). The first bad
/// value is the error, named by its variable and where it was set (`.env` or environment).
pub fn parse(file: &str, env: &EnvVars, accounts: &[AccountInfo]) -> Result<Sections, ConfigError> {
    let map = |names: &[&str]| env.map_of(names);
    let bad = |message: String| fail(file, env, message);
    let web = WebSettings::parse_env_map(&map(WEB_VARS)).map_err(|e| bad(e.to_string()))?;
    smb_web::server::ServerLimits::from_env_map(&map(WEB_VARS)).map_err(|e| bad(e.to_string()))?;
    let metrics_bind = metrics_bind(&map(METRICS_VARS)).map_err(|e| bad(e.clone()))?;
    let log = LogSettings::from_env_map(&map(LOG_VARS)).map_err(|e| bad(format!("{e:#}")))?;
    let notify_env = map(NOTIFY_VARS);
    let notify = NotifySettings::from_env_map(&notify_env).map_err(|e| bad(e.to_string()))?;
    if get(&notify_env, "REPORTS_BOT_TOKEN").is_some_and(|t| !looks_like_token(t)) {
        // The value is a secret: the message never shows it.
        return Err(bad(
            "REPORTS_BOT_TOKEN does not look like a bot token (123456789:AA…); copy it again from @BotFather".to_owned(),
        ));
    }
    let update_interval =
        smb_sources::update_interval(&map(SOURCES_VARS)).map_err(|e| bad(e.clone()))?;
    smb_sources::SourcesSettings::from_env(&map(SOURCES_VARS), std::path::Path::new("."))
        .map_err(bad)?;
    let telegram = map(TELEGRAM_VARS);
    let mtproxy_timeout = telegram_settings(&telegram, accounts).map_err(|e| bad(e.clone()))?;
    let cluster = cluster_settings(&map(CLUSTER_VARS)).map_err(bad)?;
    Ok(Sections {
        cluster,
        web,
        metrics_bind,
        log,
        notify,
        update_interval,
        mtproxy_timeout,
    })
}

/// A section's message, prefixed with where its variable was set (the configuration `file`
/// for a value of its own, such as an account's `proxy`).
fn fail(file: &str, env: &EnvVars, message: String) -> ConfigError {
    let origin = ENV_SECTIONS
        .iter()
        .flat_map(|(_, vars)| vars.iter())
        .find(|v| {
            message.starts_with(&format!("{v}="))
                || message.starts_with(&format!("{v} "))
                || message.contains(&format!(" {v}="))
        })
        .and_then(|v| env.origin(v));
    ConfigError::Setting {
        origin: origin.unwrap_or_else(|| file.to_owned()),
        message,
    }
}

fn get<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The form of a Bot API token: the bot's numeric id, `:`, and URL-safe characters
/// (@BotFather's are 35 long; test doubles use shorter ones).
fn looks_like_token(t: &str) -> bool {
    t.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn metrics_bind(env: &HashMap<String, String>) -> Result<SocketAddr, String> {
    let raw = get(env, "METRICS_BIND").unwrap_or(DEFAULT_METRICS_BIND);
    raw.parse().map_err(|_| {
        format!(
            "METRICS_BIND={raw:?} is not valid: expected an address and port such as 127.0.0.1:9898"
        )
    })
}

/// The Telegram values that can be wrong before anything connects: API_ID's form, the MTProto
/// timeout, PROXY_ENABLED, and the proxy of every account (its own or the PROXY_* one).
/// Whether API_ID is needed at all depends on the command (the sandbox needs none).
fn telegram_settings(
    env: &HashMap<String, String>,
    accounts: &[AccountInfo],
) -> Result<Option<Duration>, String> {
    if let Some(id) = get(env, "API_ID") {
        crate::telegram::parse_api_id(id)?;
    }
    let timeout = get(env, "SMB_MTPROXY_TIMEOUT_MS")
        .map(crate::telegram::parse_mtproxy_timeout)
        .transpose()?;
    if let Some(v) = get(env, "PROXY_ENABLED")
        && smb_domain::parse_flag(v).is_none()
    {
        return Err(format!(
            "PROXY_ENABLED={v:?} is not valid: expected true or false"
        ));
    }
    for a in accounts {
        crate::telegram::proxy_of(env, a).map_err(|e| format!("{e:#}"))?;
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_is_matched_to_ours_and_other_programs_names_are_not() {
        for (typo, meant) in [
            ("DELAY_BETWEN_CHATS", "DELAY_BETWEEN_CHATS"),
            ("DELAY_BEWTEEN_CHATS", "DELAY_BETWEEN_CHATS"),
            ("delay_between_chats", "DELAY_BETWEEN_CHATS"),
            ("LOG_LEVL", "LOG_LEVEL"),
            ("WEBTOKEN", "WEB_TOKEN"),
            ("PROXY_SECRT", "PROXY_SECRET"),
            ("PHONES", "PHONE"),
            ("lang", "LANG"),
            // A word dropped, or the underscores changed (QA: START_HOUR was not flagged).
            ("START_HOUR", "START_TIME_HOUR"),
            ("start_hour", "START_TIME_HOUR"),
            ("END_HOUR", "QUIET_HOUR_END"),
            ("QUIET_START", "QUIET_HOUR_START"),
            ("QUIET_END", "QUIET_HOUR_END"),
            ("DELAY", "DELAY_BETWEEN_CHATS"),
            ("CHATS_DELAY", "DELAY_BETWEEN_CHATS"),
            ("CYCLE", "CYCLE_DELAY"),
            ("APIID", "API_ID"),
            ("APIHASH", "API_HASH"),
            ("API-ID", "API_ID"),
            ("STARTTIMEHOUR", "START_TIME_HOUR"),
            ("BOT_TOKEN", "REPORTS_BOT_TOKEN"),
            ("ADMIN_ID", "ADMIN_TELEGRAM_ID"),
            ("CHANNEL_ID", "REPORTS_CHANNEL_ID"),
            ("CREDENTIALS_FILE", "GOOGLE_CREDENTIALS_FILE"),
            ("UPDATE_INTERVAL", "GOOGLE_UPDATE_INTERVAL"),
        ] {
            assert_eq!(misspelling_of(typo), Some(meant), "{typo}");
            assert_eq!(
                unknown_name_hint(typo),
                Some(format!("did you mean {meant}?")),
                "{typo}"
            );
        }
        for other in [
            "PATH",
            "HOME",
            "USER",
            "TERM",
            "SHELL",
            "PWD",
            "LANGUAGE",
            "LC_ALL",
            "TZ",
            "EDITOR",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "DEBUG",
            "NODE_ENV",
            "HOSTNAME",
            "API_KEY",
            // Generic words: another program's, or more than one of ours (no guess).
            "PORT",
            "TOKEN",
            "SECRET",
            "PROXY",
            "TIMEOUT",
            "HOUR",
            "SHEET_URL",
            "DB_URL",
            "HTTP_PROXY",
            "NO_PROXY",
            "XDG_RUNTIME_DIR",
            "SSH_AUTH_SOCK",
        ] {
            assert_eq!(unknown_name_hint(other), None, "{other}");
        }
        // Our own names are never "unknown", and our prefix is ours even far from any name.
        assert!(known_names().all(|k| unknown_name_hint(k).is_none()));
        assert_eq!(
            unknown_name_hint("SMB_FROBNICATE").as_deref(),
            Some("the settings are listed in README, Environment")
        );
    }

    /// README's environment table is the documentation of [`known_names`]: each name is written
    /// there whole, or as a pattern (`BUY_SELL_PRICE_{B2B,B2C,AAA,GUS}_SHEET_URL`, `NOTIFY_*`).
    #[test]
    fn readme_lists_every_known_name() {
        let readme = include_str!("../../../README.md");
        let mut written: Vec<String> = Vec::new();
        for piece in readme.split('`') {
            if let Some((head, rest)) = piece.split_once('{')
                && let Some((alts, tail)) = rest.split_once('}')
            {
                written.extend(alts.split(',').map(|a| format!("{head}{a}{tail}")));
            } else {
                written.push(piece.to_owned());
            }
        }
        let missing: Vec<&str> = known_names()
            .filter(|k| {
                !written.iter().any(|w| {
                    w == k
                        || w.strip_suffix('*')
                            .is_some_and(|p| !p.is_empty() && k.starts_with(p))
                })
            })
            .collect();
        assert!(missing.is_empty(), "not in README: {missing:?}");
    }
}
