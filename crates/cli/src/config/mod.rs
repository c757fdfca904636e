//! Configuration: `sendmessagebot.toml`, `.env` and the environment, merged and validated.
//!
//! Precedence: defaults < TOML file < `.env` < process environment < CLI flags; values in a
//! `[broadcasters.NAME]` table override the global ones for that broadcaster. Every error
//! names the file and line (or the variable) and says what to write instead.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;
use smb_domain::{Jitter, Message, MessageSet, Pacing, QuietHours, Rotation, Schedule, TargetRef};
use smb_engine::TextFormat;
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content};
use smb_telegram::{FaultRule, SimSettings};
use toml::Spanned;

pub const EXAMPLE_TOML: &str = include_str!("example.toml");
pub const EXAMPLE_ENV: &str = include_str!("env.example");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: cannot read: {source}\n  hint: run `sendmessagebot init` to write a starting configuration"
    )]
    Read {
        path: String,
        source: std::io::Error,
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

/// A duration in the file: seconds as a number, or text with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Secs(u64),
    Float(f64),
    Text(String),
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let hint = || {
        format!(
            "`{s}` is not a duration; write seconds (15) or \"15s\", \"20m\", \"1h\", \"500ms\""
        )
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| hint())?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(hint()),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(hint());
    }
    Ok(Duration::from_secs_f64(secs))
}

impl DurationValue {
    fn get(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Secs(n) => Ok(Duration::from_secs(*n)),
            DurationValue::Float(f) if *f >= 0.0 && f.is_finite() => {
                Ok(Duration::from_secs_f64(*f))
            }
            DurationValue::Float(f) => Err(format!("{f} is not a duration")),
            DurationValue::Text(s) => parse_duration(s),
        }
    }
}

/// The settings that may be given globally and overridden per broadcaster.
#[derive(Debug, Clone, Default)]
struct Tunables {
    delay_between_chats: Option<Spanned<DurationValue>>,
    cycle_delay: Option<Spanned<DurationValue>>,
    max_retries: Option<u32>,
    retry_delay: Option<Spanned<DurationValue>>,
    jitter: Option<Spanned<String>>,
    enable_scheduling: Option<bool>,
    start_time_hour: Option<Spanned<u8>>,
    enable_quiet_hours: Option<bool>,
    quiet_hour_start: Option<Spanned<u8>>,
    quiet_hour_end: Option<Spanned<u8>>,
    timezone: Option<Spanned<String>>,
    disable_after_failures: Option<u32>,
}

/// Declares a section struct that carries the tunables inline. serde's `flatten` would lose
/// both the line numbers (spans) and `deny_unknown_fields`, so the fields are spelled out.
macro_rules! with_tunables {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fm])* $field: $ty,)*
            #[serde(default)]
            delay_between_chats: Option<Spanned<DurationValue>>,
            #[serde(default)]
            cycle_delay: Option<Spanned<DurationValue>>,
            #[serde(default)]
            max_retries: Option<u32>,
            #[serde(default)]
            retry_delay: Option<Spanned<DurationValue>>,
            #[serde(default)]
            jitter: Option<Spanned<String>>,
            #[serde(default)]
            enable_scheduling: Option<bool>,
            #[serde(default)]
            start_time_hour: Option<Spanned<u8>>,
            #[serde(default)]
            enable_quiet_hours: Option<bool>,
            #[serde(default)]
            quiet_hour_start: Option<Spanned<u8>>,
            #[serde(default)]
            quiet_hour_end: Option<Spanned<u8>>,
            #[serde(default)]
            timezone: Option<Spanned<String>>,
            #[serde(default)]
            disable_after_failures: Option<u32>,
        }

        impl $name {
            fn tunables(&self) -> Tunables {
                Tunables {
                    delay_between_chats: self.delay_between_chats.clone(),
                    cycle_delay: self.cycle_delay.clone(),
                    max_retries: self.max_retries,
                    retry_delay: self.retry_delay.clone(),
                    jitter: self.jitter.clone(),
                    enable_scheduling: self.enable_scheduling,
                    start_time_hour: self.start_time_hour.clone(),
                    enable_quiet_hours: self.enable_quiet_hours,
                    quiet_hour_start: self.quiet_hour_start.clone(),
                    quiet_hour_end: self.quiet_hour_end.clone(),
                    timezone: self.timezone.clone(),
                    disable_after_failures: self.disable_after_failures,
                }
            }
        }
    };
}

with_tunables! {
    #[derive(Default)]
    struct GlobalSection {
        #[serde(default)]
        test_mode: Option<bool>,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSection {
    database_url: Option<String>,
    ledger: Option<PathBuf>,
    latency_ms: Option<u64>,
    seed: Option<u64>,
    #[serde(default)]
    faults: Vec<FaultRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSection {
    kind: Option<String>,
    phone: Option<String>,
    session: Option<PathBuf>,
    proxy: Option<String>,
    delay_between_chats: Option<Spanned<DurationValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageItem {
    text: Spanned<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default = "five")]
    priority: u8,
}

fn yes() -> bool {
    true
}
fn five() -> u8 {
    5
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageSection {
    #[serde(default)]
    texts: Vec<Spanned<String>>,
    #[serde(default)]
    items: Vec<MessageItem>,
    format: Option<String>,
    media: Option<PathBuf>,
    link_preview: Option<bool>,
    /// A file, Google Sheet or CSV URL the texts are fetched from (`messages update`).
    source: Option<Spanned<String>>,
}

with_tunables! {
    struct BroadcasterSection {
        account: Spanned<String>,
        targets: Spanned<String>,
        #[serde(default)]
        test_targets: Option<Spanned<String>>,
        messages: Spanned<String>,
        #[serde(default)]
        rotation: Option<Rotation>,
        #[serde(default = "yes")]
        enabled: bool,
        /// In a chat that forbids media, send the text alone (issue 11).
        #[serde(default)]
        send_text_without_media: Option<bool>,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    settings: GlobalSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    sandbox: SandboxSection,
    #[serde(default)]
    accounts: BTreeMap<String, AccountSection>,
    #[serde(default)]
    targets: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    messages: BTreeMap<String, MessageSection>,
    #[serde(default)]
    broadcasters: BTreeMap<String, BroadcasterSection>,
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
}

#[derive(Debug, Clone)]
pub struct AccountInfo {
    pub name: String,
    pub kind: String,
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
    pub test_mode: bool,
    pub timezone: TimeZone,
    /// The merged `.env` + environment, for settings other crates own (logging, reports…).
    pub env: HashMap<String, String>,
    /// Message sets with a `source` (or the seed's BUY_SELL_PRICE_…_SHEET_URL), by name.
    pub message_sources: BTreeMap<String, MessageSourceInfo>,
    /// The typed sections of the other crates (web, metrics, logging, notifications, …).
    pub sections: crate::sections::Sections,
}

/// Where a message set is fetched from, and how its texts will be sent (for validation).
#[derive(Debug, Clone)]
pub struct MessageSourceInfo {
    pub source: smb_sources::Source,
    pub format: TextFormat,
    pub media: bool,
}

/// Variables read from `.env` and the environment, remembering where each came from.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    vars: HashMap<String, (String, String)>,
}

impl EnvVars {
    /// `.env` (when present) then the process environment, which wins.
    pub fn load(env_file: &Path) -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        let name = env_file.display().to_string();
        if env_file.exists() {
            // python-dotenv's rules (the original's reader): `$NAME` is literal, `${NAME}` a
            // reference, a BOM is skipped; an unreadable line is named, its value never shown.
            let bytes = std::fs::read(env_file).map_err(|e| ConfigError::Toml {
                path: name.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let entries =
                smb_sources::dotenv::read(&bytes, |k| std::env::var(k).ok()).map_err(|e| {
                    ConfigError::Toml {
                        path: format!("{name}:{}", e.line),
                        message: format!("{}; see README, Configuration (.env)", e.message),
                    }
                })?;
            for (k, v, _line) in entries {
                vars.insert(k, (v, name.clone()));
            }
        }
        for (k, v) in std::env::vars() {
            vars.insert(k, (v, "environment".into()));
        }
        Ok(EnvVars { vars })
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        EnvVars {
            vars: pairs
                .iter()
                .map(|(k, v)| ((*k).into(), ((*v).into(), "environment".into())))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<(&str, &str)> {
        self.vars
            .get(name)
            .map(|(v, s)| (v.as_str(), s.as_str()))
            .filter(|(v, _)| !v.trim().is_empty())
    }

    fn err(&self, name: &str, message: impl Into<String>) -> ConfigError {
        let (value, source) = self.vars.get(name).cloned().unwrap_or_default();
        ConfigError::Env {
            source_name: source,
            var: name.into(),
            value,
            message: message.into(),
        }
    }

    fn duration(&self, name: &str) -> Result<Option<Duration>, ConfigError> {
        self.get(name)
            .map(|(v, _)| parse_duration(v).map_err(|m| self.err(name, m)))
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.get(name)
            .map(|(v, _)| {
                smb_domain::parse_flag(v).ok_or_else(|| self.err(name, "expected true or false"))
            })
            .transpose()
    }

    fn hour(&self, name: &str) -> Result<Option<u8>, ConfigError> {
        self.get(name)
            .map(|(v, _)| match v.trim().parse::<u8>() {
                Ok(h) if h < 24 => Ok(h),
                _ => Err(self.err(name, "expected an hour from 0 to 23")),
            })
            .transpose()
    }

    fn u32(&self, name: &str) -> Result<Option<u32>, ConfigError> {
        self.get(name)
            .map(|(v, _)| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| self.err(name, "expected a whole number"))
            })
            .transpose()
    }

    /// Only the variables `keep` accepts (the settings parser sees the listed names only).
    pub fn restricted(&self, keep: impl Fn(&str) -> bool) -> EnvVars {
        EnvVars {
            vars: self
                .vars
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// `names` and their values (those that are set).
    pub fn map_of(&self, names: &[&str]) -> HashMap<String, String> {
        names
            .iter()
            .filter_map(|n| self.vars.get(*n).map(|(v, _)| ((*n).to_owned(), v.clone())))
            .collect()
    }

    /// Where `name` was set: the `.env` file's name or "environment".
    pub fn origin(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|(_, s)| s.clone())
    }

    pub fn map(&self) -> HashMap<String, String> {
        self.vars
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

struct Ctx<'a> {
    path: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::At {
            path: self.path.into(),
            line: line_of(self.src, spanned.span().start),
            key: key.into(),
            message: message.into(),
        }
    }

    fn key(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The resolved global values (after file and environment).
struct Globals {
    pacing: Pacing,
    scheduling: bool,
    start_hour: u8,
    quiet_enabled: bool,
    quiet: (u8, u8),
    tz: TimeZone,
    disable_after_failures: u32,
}

fn duration_at(ctx: &Ctx, v: &Spanned<DurationValue>, key: &str) -> Result<Duration, ConfigError> {
    v.get_ref().get().map_err(|m| ctx.at(v, key, m))
}

fn hour_at(ctx: &Ctx, v: &Spanned<u8>, key: &str) -> Result<u8, ConfigError> {
    if *v.get_ref() < 24 {
        Ok(*v.get_ref())
    } else {
        Err(ctx.at(v, key, "expected an hour from 0 to 23"))
    }
}

fn tz_named(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name)
        .map_err(|_| format!("unknown time zone `{name}`; use an IANA name such as Europe/Moscow"))
}

fn apply_tunables(
    ctx: &Ctx,
    t: &Tunables,
    prefix: &str,
    g: &mut Globals,
) -> Result<(), ConfigError> {
    let k = |name: &str| format!("{prefix}{name}");
    if let Some(v) = &t.delay_between_chats {
        g.pacing.delay_between_chats = duration_at(ctx, v, &k("delay_between_chats"))?;
    }
    if let Some(v) = &t.cycle_delay {
        g.pacing.cycle_delay = duration_at(ctx, v, &k("cycle_delay"))?;
    }
    if let Some(v) = t.max_retries {
        g.pacing.max_retries = v;
    }
    if let Some(v) = &t.retry_delay {
        g.pacing.retry_delay = duration_at(ctx, v, &k("retry_delay"))?;
    }
    if let Some(v) = &t.jitter {
        g.pacing.jitter = Jitter::parse(v.get_ref()).map_err(|m| ctx.at(v, k("jitter"), m))?;
    }
    if let Some(v) = t.enable_scheduling {
        g.scheduling = v;
    }
    if let Some(v) = &t.start_time_hour {
        g.start_hour = hour_at(ctx, v, &k("start_time_hour"))?;
    }
    if let Some(v) = t.enable_quiet_hours {
        g.quiet_enabled = v;
    }
    if let Some(v) = &t.quiet_hour_start {
        g.quiet.0 = hour_at(ctx, v, &k("quiet_hour_start"))?;
    }
    if let Some(v) = &t.quiet_hour_end {
        g.quiet.1 = hour_at(ctx, v, &k("quiet_hour_end"))?;
    }
    if let Some(v) = &t.timezone {
        g.tz = tz_named(v.get_ref()).map_err(|m| ctx.at(v, k("timezone"), m))?;
    }
    if let Some(v) = t.disable_after_failures {
        g.disable_after_failures = v;
    }
    Ok(())
}

fn apply_env(env: &EnvVars, g: &mut Globals) -> Result<(), ConfigError> {
    if let Some(v) = env.duration("DELAY_BETWEEN_CHATS")? {
        g.pacing.delay_between_chats = v;
    }
    if let Some(v) = env.duration("CYCLE_DELAY")? {
        g.pacing.cycle_delay = v;
    }
    if let Some(v) = env.u32("MAX_RETRIES")? {
        g.pacing.max_retries = v;
    }
    if let Some(v) = env.u32("DISABLE_AFTER_FAILURES")? {
        g.disable_after_failures = v;
    }
    if let Some(v) = env.duration("RETRY_DELAY")? {
        g.pacing.retry_delay = v;
    }
    if let Some(v) = env.bool("ENABLE_SCHEDULING")? {
        g.scheduling = v;
    }
    if let Some(v) = env.hour("START_TIME_HOUR")? {
        g.start_hour = v;
    }
    if let Some(v) = env.bool("ENABLE_QUIET_HOURS")? {
        g.quiet_enabled = v;
    }
    if let Some(v) = env.hour("QUIET_HOUR_START")? {
        g.quiet.0 = v;
    }
    if let Some(v) = env.hour("QUIET_HOUR_END")? {
        g.quiet.1 = v;
    }
    if let Some((v, _)) = env.get("REPORTS_TIMEZONE") {
        g.tz = tz_named(v.trim()).map_err(|m| env.err("REPORTS_TIMEZONE", m))?;
    }
    Ok(())
}

/// Loads the file at `path` (or the built-in example when `path` is `None`).
pub fn load(path: Option<&Path>, env: &EnvVars, cli: &Overrides) -> Result<Settings, ConfigError> {
    let (name, src) = match path {
        Some(p) => {
            let src = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?;
            (p.display().to_string(), src)
        }
        None => ("(built-in example)".to_string(), EXAMPLE_TOML.to_string()),
    };
    parse(&name, &src, env, cli)
}

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
    let file: FileConfig = toml::from_str(src).map_err(|e| {
        let line = e.span().map(|s| line_of(src, s.start));
        ConfigError::Toml {
            path: match line {
                Some(l) => format!("{name}:{l}"),
                None => name.to_string(),
            },
            message: e.message().trim().to_string(),
        }
    })?;

    let mut g = Globals {
        pacing: Pacing::default(),
        scheduling: true,
        start_hour: 6,
        quiet_enabled: true,
        quiet: (0, 7),
        tz: tz_named("Europe/Moscow").unwrap_or(TimeZone::UTC),
        disable_after_failures: smb_engine::DEFAULT_DISABLE_AFTER_FAILURES,
    };
    apply_tunables(&ctx, &file.settings.tunables(), "settings.", &mut g)?;
    apply_env(env, &mut g)?;
    let mut test_mode = file.settings.test_mode.unwrap_or(false);
    if let Some(v) = env.bool("TEST_MODE")? {
        test_mode = v;
    }
    test_mode |= cli.test_mode;

    // Target lists.
    let mut target_lists = BTreeMap::new();
    for (list, entries) in &file.targets {
        let mut parsed: Vec<TargetRef> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let t = TargetRef::parse(e.get_ref())
                .map_err(|err| ctx.at(e, format!("targets.{list}[{}]", i + 1), err.to_string()))?;
            if parsed.contains(&t) {
                return Err(ctx.at(
                    e,
                    format!("targets.{list}[{}]", i + 1),
                    format!("{t} is listed twice; remove one"),
                ));
            }
            parsed.push(t);
        }
        target_lists.insert(list.clone(), parsed);
    }

    // Message sets.
    let mut sets: BTreeMap<String, (MessageSet, Content)> = BTreeMap::new();
    let mut message_sources = BTreeMap::new();
    for (set_name, m) in &file.messages {
        let key = format!("messages.{set_name}");
        let source = match (
            &m.source,
            smb_sources::seed_env_var(set_name).and_then(|v| env.get(v).map(|(s, _)| (v, s))),
        ) {
            (Some(s), _) => Some(
                smb_sources::Source::parse(s.get_ref())
                    .map_err(|e| ctx.at(s, format!("{key}.source"), e.to_string()))?,
            ),
            (None, Some((var, s))) => {
                Some(smb_sources::Source::parse(s).map_err(|e| env.err(var, e.to_string()))?)
            }
            (None, None) => None,
        };
        let mut messages: Vec<Message> = m
            .texts
            .iter()
            .map(|t| Message::new(t.get_ref().clone()))
            .collect();
        let mut spans: Vec<std::ops::Range<usize>> = m.texts.iter().map(|t| t.span()).collect();
        for item in &m.items {
            messages.push(Message {
                text: item.text.get_ref().clone(),
                active: item.active,
                priority: item.priority,
            });
            spans.push(item.text.span());
        }
        if messages.is_empty() && source.is_none() {
            return Err(ctx.key(
                &key,
                "no messages: add `texts = [\"…\"]`, [[messages.NAME.items]] tables or a `source`",
            ));
        }
        let format = match m.format.as_deref() {
            None => TextFormat::Plain,
            Some(f) => TextFormat::parse(f).ok_or_else(|| {
                ctx.key(
                    format!("{key}.format"),
                    format!("`{f}` is not a format; use \"plain\", \"markdown\" or \"html\""),
                )
            })?,
        };
        let set = MessageSet::new(set_name.clone(), messages);
        // A set that only has a source gets its texts from the store (`messages update`).
        // Inline texts are formatted and measured exactly as they will be sent.
        if !set.messages.is_empty()
            && let Err(e) = set.validate(format, m.media.is_some())
        {
            let idx = match &e {
                smb_domain::MessageError::TooLong { index, .. }
                | smb_domain::MessageError::Empty { index, .. }
                | smb_domain::MessageError::Format { index, .. }
                | smb_domain::MessageError::BadPriority { index, .. } => Some(*index),
                smb_domain::MessageError::NoActive { .. } => None,
            };
            return Err(match idx.and_then(|i| spans.get(i - 1)) {
                Some(span) => ConfigError::At {
                    path: name.into(),
                    line: line_of(src, span.start),
                    key: key.clone(),
                    message: e.to_string(),
                },
                None => ctx.key(&key, e.to_string()),
            });
        }
        let content = Content {
            format,
            media: m.media.clone(),
            link_preview: m.link_preview.unwrap_or(false),
            ..Content::default()
        };
        if let Some(source) = source {
            message_sources.insert(
                set_name.clone(),
                MessageSourceInfo {
                    source,
                    format,
                    media: m.media.is_some(),
                },
            );
        }
        sets.insert(set_name.clone(), (set, content));
    }

    // Accounts.
    let mut accounts = Vec::new();
    let mut account_info = Vec::new();
    for (acc, a) in &file.accounts {
        let delay = match &a.delay_between_chats {
            Some(v) => duration_at(&ctx, v, &format!("accounts.{acc}.delay_between_chats"))?,
            None => g.pacing.delay_between_chats,
        };
        let kind = a.kind.clone().unwrap_or_else(|| "user".into());
        if kind != "user" && kind != "bot" {
            return Err(ctx.key(
                format!("accounts.{acc}.kind"),
                format!("`{kind}` is not an account kind; use \"user\" or \"bot\""),
            ));
        }
        accounts.push(AccountSpec {
            name: acc.clone(),
            delay_between_chats: delay,
            jitter: g.pacing.jitter,
        });
        account_info.push(AccountInfo {
            name: acc.clone(),
            kind,
            phone: a.phone.clone(),
            session: a.session.clone(),
            proxy: a.proxy.clone(),
        });
    }

    // Broadcasters.
    let mut broadcasters = Vec::new();
    for (bname, b) in &file.broadcasters {
        let key = |k: &str| format!("broadcasters.{bname}.{k}");
        if !b.enabled {
            continue;
        }
        if !file.accounts.contains_key(b.account.get_ref()) {
            return Err(ctx.at(
                &b.account,
                key("account"),
                format!(
                    "unknown account `{}`; declare it as [accounts.{}]",
                    b.account.get_ref(),
                    b.account.get_ref()
                ),
            ));
        }
        let list_ref = if test_mode {
            b.test_targets.as_ref().ok_or_else(|| {
                ctx.at(
                    &b.targets,
                    key("test_targets"),
                    "TEST_MODE is on but this broadcaster has no `test_targets` list; add one",
                )
            })?
        } else {
            &b.targets
        };
        for l in std::iter::once(&b.targets).chain(b.test_targets.iter()) {
            if !target_lists.contains_key(l.get_ref()) {
                let known: Vec<&str> = target_lists.keys().map(String::as_str).collect();
                return Err(ctx.at(
                    l,
                    key("targets"),
                    format!(
                        "unknown target list `{}` (known: {}); declare it under [targets]",
                        l.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
        let Some((set, content)) = sets.get(b.messages.get_ref()) else {
            let known: Vec<&str> = sets.keys().map(String::as_str).collect();
            return Err(ctx.at(
                &b.messages,
                key("messages"),
                format!(
                    "unknown message set `{}` (known: {}); declare it as [messages.{}]",
                    b.messages.get_ref(),
                    known.join(", "),
                    b.messages.get_ref()
                ),
            ));
        };
        let mut local = Globals {
            pacing: g.pacing,
            tz: g.tz.clone(),
            ..g
        };
        apply_tunables(
            &ctx,
            &b.tunables(),
            &format!("broadcasters.{bname}."),
            &mut local,
        )?;
        let schedule = if cli.ignore_quiet_hours {
            Schedule {
                tz: local.tz.clone(),
                start_hour: None,
                quiet: None,
            }
        } else {
            Schedule {
                tz: local.tz.clone(),
                start_hour: local.scheduling.then_some(local.start_hour),
                quiet: (local.quiet_enabled && local.quiet.0 != local.quiet.1).then_some(
                    QuietHours {
                        start: local.quiet.0,
                        end: local.quiet.1,
                    },
                ),
            }
        };
        if schedule.never_allows() {
            return Err(ctx.key(
                format!("broadcasters.{bname}"),
                format!(
                    "start hour {} and quiet hours {}–{} leave no hour to send in; change START_TIME_HOUR or QUIET_HOUR_START/END",
                    local.start_hour, local.quiet.0, local.quiet.1
                ),
            ));
        }
        let targets = target_lists
            .get(list_ref.get_ref())
            .cloned()
            .unwrap_or_default();
        broadcasters.push(BroadcasterInfo {
            spec: BroadcasterSpec {
                name: bname.clone(),
                account: b.account.get_ref().clone(),
                targets,
                messages: set.clone(),
                rotation: b.rotation.unwrap_or_default(),
                pacing: local.pacing,
                schedule,
                content: Content {
                    text_without_media: b.send_text_without_media.unwrap_or(false),
                    disable_after_failures: local.disable_after_failures,
                    ..content.clone()
                },
            },
            target_list: list_ref.get_ref().clone(),
            test_list: b.test_targets.as_ref().map(|t| t.get_ref().clone()),
            prod_list: b.targets.get_ref().clone(),
        });
    }

    let from_env = env.get("DATABASE_URL").map(|(v, _)| v.to_string());
    let database_url = from_env
        .clone()
        .or(file.database.url)
        .unwrap_or_else(|| smb_store::DEFAULT_DATABASE_URL.to_string());
    // The journal is SQLite: another scheme would fail only when the store opens.
    let not_sqlite = "not a SQLite URL; write sqlite://data/sendmessagebot.db";
    if !database_url.trim_start().starts_with("sqlite:") {
        return Err(match from_env {
            Some(_) => env.err("DATABASE_URL", not_sqlite),
            None => ctx.key("database.url", not_sqlite),
        });
    }
    if let Some(url) = &file.sandbox.database_url
        && !url.trim_start().starts_with("sqlite:")
    {
        return Err(ctx.key("sandbox.database_url", not_sqlite));
    }
    let sandbox = SimSettings {
        latency: Duration::from_millis(file.sandbox.latency_ms.unwrap_or(50)),
        seed: file.sandbox.seed.unwrap_or(1),
        ledger: Some(
            file.sandbox
                .ledger
                .unwrap_or_else(|| PathBuf::from("data/sandbox/ledger.jsonl")),
        ),
        faults: file.sandbox.faults,
        keep_in_memory: false,
    };
    for (i, f) in sandbox.faults.iter().enumerate() {
        if let Some(c) = &f.chat {
            TargetRef::parse(c)
                .map_err(|e| ctx.key(format!("sandbox.faults[{}].chat", i + 1), e.to_string()))?;
        }
    }
    let sections = crate::sections::parse(name, env, &account_info)?;
    Ok(Settings {
        source: name.to_string(),
        database_url,
        sandbox_database_url: file
            .sandbox
            .database_url
            .unwrap_or_else(|| "sqlite://data/sandbox/sendmessagebot.db".to_string()),
        sandbox,
        accounts,
        account_info,
        broadcasters,
        target_lists,
        test_mode,
        timezone: g.tz,
        env: all_vars,
        message_sources,
        sections,
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
#[path = "config_agreement.rs"]
mod agreement;
