//! Configuration: `sendmessagebot.toml`, `.env` and the environment, merged and validated into
//! one [`Settings`] — the value `run` (and its reload) and `check` both start from, so one
//! refuses exactly what the other does.
//!
//! Precedence: defaults < TOML file < `.env` < process environment < CLI flags; values in a
//! `[broadcasters.NAME]` table override the global ones for that broadcaster. Every error
//! names the file and line (or the variable) and says what to write instead.
//!
//! Where things are: `schema` (the file's serde structs), `env` (`.env` + environment),
//! `duration`, `located` (lines and keys of errors), and one module per table: `globals`
//! (`[settings]` and the schedule variables), `targets`, `messages`, `accounts`,
//! `broadcasters`, `storage` (`[database]`, `[sandbox]`); the other crates' variables are
//! parsed by [`crate::sections`].

mod accounts;
mod broadcasters;
mod duration;
mod env;
mod globals;
mod located;
mod messages;
mod names;
mod reach;
mod schema;
mod storage;
mod targets;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use smb_domain::TargetRef;
use smb_engine::TextFormat;
use smb_engine::planner::{AccountSpec, BroadcasterSpec};
use smb_telegram::SimSettings;

pub use broadcasters::on_update_pending;
pub use duration::parse_duration;
pub use env::{EnvVars, unknown_names as unknown_env_names};
pub use reach::{ReachSettings, parse_after as parse_reach_after};
pub use schema::AccountKind;
pub use storage::NOT_YET_POSTGRES;

use located::Ctx;
use schema::FileConfig;

pub const EXAMPLE_TOML: &str = include_str!("../example.toml");
pub const EXAMPLE_ENV: &str = include_str!("../env.example");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: cannot read: {error}\n  hint: run `sendmessagebot init` to write a starting configuration"
    )]
    Read {
        path: String,
        /// Shown in the message; not a `source()`, so a report does not print it twice.
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}:{line}: {key}: {message}")]
    At {
        path: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{path}: {key}: {message}")]
    Key {
        path: String,
        key: String,
        message: String,
    },
    #[error("{source_name}: {var}={value}: {message}")]
    Env {
        source_name: String,
        var: String,
        value: String,
        message: String,
    },
    /// A setting of another crate's section (see `sections`); the message names the variable.
    #[error("{origin}: {message}")]
    Setting { origin: String, message: String },
}

/// What the command line adds on top.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub test_mode: bool,
    pub ignore_quiet_hours: bool,
}

/// A broadcaster with the names it was configured with (for listings).
#[derive(Debug, Clone)]
pub struct BroadcasterInfo {
    pub spec: BroadcasterSpec,
    pub target_list: String,
    pub test_list: Option<String>,
    /// The production list (`targets = …`), whichever list is in use.
    pub prod_list: String,
    /// `backup_accounts`: accounts that post for it while its own cannot, only where they
    /// are members.
    pub backup_accounts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AccountInfo {
    pub name: String,
    pub kind: AccountKind,
    pub phone: Option<String>,
    pub session: Option<PathBuf>,
    pub proxy: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: String,
    pub database_url: String,
    pub sandbox_database_url: String,
    pub sandbox: SimSettings,
    pub accounts: Vec<AccountSpec>,
    pub account_info: Vec<AccountInfo>,
    pub broadcasters: Vec<BroadcasterInfo>,
    pub target_lists: BTreeMap<String, Vec<TargetRef>>,
    /// Per-chat rules from `[targets]` table entries (all topics of a chat share them).
    pub chat_rules: HashMap<smb_domain::Chat, smb_domain::ChatRules>,
    /// `[settings] backup_after` (default 10 min).
    pub backup_after: std::time::Duration,
    /// `[settings] preflight_every`: `None` when not set (24 h with Telegram, off in the
    /// sandbox); `Some(0)`: never.
    pub preflight_every: Option<std::time::Duration>,
    /// `[settings] reach_after`, `auto_winner`, `min_sample` (issue 17, docs/variants.md).
    pub reach: ReachSettings,
    pub test_mode: bool,
    pub timezone: TimeZone,
    /// The merged `.env` + environment, for settings other crates own (logging, reports…).
    pub env: HashMap<String, String>,
    /// Message sets with a `source` (or the seed's BUY_SELL_PRICE_…_SHEET_URL), by name.
    pub message_sources: BTreeMap<String, MessageSourceInfo>,
    /// The typed sections of the other crates (web, metrics, logging, notifications, …).
    pub sections: crate::sections::Sections,
    /// Every `media` file of the file (an album's each), where it is written (checked by
    /// [`load`]).
    pub media_files: Vec<MediaFile>,
}

/// A message set's `media` file as written in the configuration.
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// The message set (`messages.NAME`).
    pub set: String,
    /// The setting errors name: `messages.NAME.media`, or `messages.NAME.media[3]` for an
    /// album's third file (counted from 1, as `check` counts a list's items).
    pub key: String,
    /// As written: relative paths start at the working directory, as when it is sent.
    pub path: PathBuf,
    /// The 1-based line of `media = …` in the file.
    pub line: usize,
}

/// Where a message set is fetched from, and how its texts will be sent (for validation).
#[derive(Debug, Clone)]
pub struct MessageSourceInfo {
    pub source: smb_sources::Source,
    pub format: TextFormat,
    pub media: bool,
}

/// Loads the file at `path` (or the built-in example when `path` is `None`).
/// A file's settings also need its `media` files to be readable ([`check_media`]): `check`
/// and `run` (the sandbox too) refuse a missing one before anything is sent.
pub fn load(path: Option<&Path>, env: &EnvVars, cli: &Overrides) -> Result<Settings, ConfigError> {
    let Some(p) = path else {
        return parse("(built-in example)", EXAMPLE_TOML, env, cli);
    };
    let name = p.display().to_string();
    let bytes = std::fs::read(p).map_err(|error| ConfigError::Read {
        path: name.clone(),
        error,
    })?;
    let src = utf8(&name, bytes)?;
    let settings = parse(&name, &src, env, cli)?;
    check_media(&name, &settings.media_files)?;
    Ok(settings)
}

/// The file's text, or where its first byte that is not UTF-8 is (line and column, counted in
/// characters) — TOML files are UTF-8 (TOML 1.0, "a TOML file must be a valid UTF-8 document").
fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError::Toml {
            path: format!("{name}:{line}:{column}"),
            message: format!(
                "byte 0x{:02X} is not UTF-8 text: save the file as UTF-8 (an editor's \"Save with encoding\", or `iconv -f CP1251 -t UTF-8`)",
                bytes.get(valid).copied().unwrap_or(0)
            ),
        }
    })
}

/// Every `media` file (each of an album's too) is a readable file: a missing one would fail
/// each send at run time.
/// Relative paths start at the working directory (where they are opened when sent).
pub fn check_media(name: &str, media: &[MediaFile]) -> Result<(), ConfigError> {
    for m in media {
        let problem = match std::fs::metadata(&m.path) {
            Ok(meta) if meta.is_dir() => Some("it is a directory".to_owned()),
            Ok(_) => std::fs::File::open(&m.path)
                .err()
                .map(|e| format!("cannot open it: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".to_owned()),
            Err(e) => Some(format!("cannot read it: {e}")),
        };
        if let Some(problem) = problem {
            let base = if m.path.is_relative() {
                std::env::current_dir()
                    .map(|d| format!(" (relative to {})", d.display()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            return Err(ConfigError::At {
                path: name.to_owned(),
                line: m.line,
                key: m.key.clone(),
                message: format!(
                    "`{}`{base}: {problem}; put the file there or correct the path",
                    m.path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Parses the configuration `src` (named `name` in errors) with `env` and the command line's
/// `cli` on top: the file, then each table in turn (see the module doc), then the other
/// crates' sections. The first problem is the error.
pub fn parse(
    name: &str,
    src: &str,
    env: &EnvVars,
    cli: &Overrides,
) -> Result<Settings, ConfigError> {
    let ctx = Ctx { path: name, src };
    // `Settings::env` keeps every variable: commands read names the user chose
    // (`accounts login --password-env NAME`).
    let all_vars = env.map();
    // Every variable the settings read is listed in `sections::ENV_SECTIONS`; the parser sees
    // nothing else, so a setting cannot be parsed without being listed (and tested).
    let env = &env.restricted(crate::sections::is_known);
    let file: FileConfig = toml::from_str(src).map_err(|e| ctx.toml_error(&e))?;
    names::check(&ctx, &file)?;
    let (g, test_mode) = globals::section(&ctx, &file.settings, env, cli.test_mode)?;
    let (target_lists, chat_rules) = targets::section(&ctx, &file.targets)?;
    let backup_after = match &file.settings.backup_after {
        Some(v) => globals::duration_at(&ctx, v, "settings.backup_after")?,
        None => smb_engine::DEFAULT_BACKUP_AFTER,
    };
    let preflight_every = file
        .settings
        .preflight_every
        .as_ref()
        .map(|v| globals::duration_at(&ctx, v, "settings.preflight_every"))
        .transpose()?;
    let reach = reach::section(
        &ctx,
        file.settings.reach_after.as_ref(),
        file.settings.auto_winner,
        file.settings.min_sample.as_ref(),
    )?;
    let (sets, message_sources) = messages::section(&ctx, &file.messages, env)?;
    let (accounts, account_info) = accounts::section(&ctx, &file.accounts, &g)?;
    let declared = broadcasters::Declared {
        accounts: &file.accounts,
        target_lists: &target_lists,
        sets: &sets,
    };
    let broadcasters =
        broadcasters::section(&ctx, &file.broadcasters, &declared, &g, test_mode, cli)?;
    let storage = storage::section(&ctx, file.database, file.sandbox, env)?;
    let sections = crate::sections::parse(name, env, &account_info)?;
    let media_files = file
        .messages
        .iter()
        .flat_map(|(set, m)| {
            let file = |key: String, p: &toml::Spanned<std::path::PathBuf>| MediaFile {
                set: set.clone(),
                key,
                path: p.get_ref().clone(),
                line: located::line_of(src, p.span().start),
            };
            match &m.media {
                None => Vec::new(),
                Some(schema::MediaSetting::One(p)) => {
                    vec![file(format!("messages.{set}.media"), p)]
                }
                Some(schema::MediaSetting::Many(_, items)) if items.len() == 1 => {
                    vec![file(format!("messages.{set}.media"), &items[0])]
                }
                Some(schema::MediaSetting::Many(_, items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| file(format!("messages.{set}.media[{}]", i + 1), p))
                    .collect(),
            }
        })
        .collect();
    Ok(Settings {
        source: name.to_string(),
        database_url: storage.database_url,
        sandbox_database_url: storage.sandbox_database_url,
        sandbox: storage.sandbox,
        accounts,
        account_info,
        broadcasters,
        target_lists,
        chat_rules,
        backup_after,
        preflight_every,
        reach,
        test_mode,
        timezone: g.tz,
        env: all_vars,
        message_sources,
        sections,
        media_files,
    })
}

#[cfg(test)]
mod refusal_settings_tests {
    use super::*;

    const TOML: &str = r#"
[settings]
disable_after_failures = 5
[accounts.acc1]
[targets]
t = ["t.me/c/1234567890/45", "https://telegram.me/shop_chat/123/"]
[messages.m]
texts = ["hi"]
[broadcasters.a]
account = "acc1"
targets = "t"
messages = "m"
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
send_text_without_media = true
disable_after_failures = 0
"#;

    fn content(env: &[(&str, &str)]) -> Vec<(String, bool, u32)> {
        let s = parse(
            "sendmessagebot.toml",
            TOML,
            &EnvVars::from_pairs(env),
            &Overrides::default(),
        )
        .expect("valid");
        s.broadcasters
            .iter()
            .map(|b| {
                (
                    b.spec.name.clone(),
                    b.spec.content.text_without_media,
                    b.spec.content.disable_after_failures,
                )
            })
            .collect()
    }

    #[test]
    fn disable_after_failures_and_text_without_media_reach_the_broadcasters() {
        assert_eq!(
            content(&[]),
            [("a".to_string(), false, 5), ("b".to_string(), true, 0)]
        );
        // The variable overrides [settings]; a broadcaster's own value overrides both.
        assert_eq!(
            content(&[("DISABLE_AFTER_FAILURES", "7")]),
            [("a".to_string(), false, 7), ("b".to_string(), true, 0)]
        );
        let err = parse(
            "sendmessagebot.toml",
            TOML,
            &EnvVars::from_pairs(&[("DISABLE_AFTER_FAILURES", "three")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("DISABLE_AFTER_FAILURES"), "{err}");
    }

    #[test]
    fn link_targets_keep_their_chat_and_topic() {
        let s = parse(
            "sendmessagebot.toml",
            TOML,
            &EnvVars::from_pairs(&[]),
            &Overrides::default(),
        )
        .expect("valid");
        let keys: Vec<String> = s.target_lists["t"].iter().map(TargetRef::key).collect();
        assert_eq!(keys, ["-1001234567890", "@shop_chat/123"]);
    }
}

#[cfg(test)]
mod agreement;
