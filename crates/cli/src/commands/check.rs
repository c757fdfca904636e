//! `check`: the environment doctor (the seed's check_environment). Validates the
//! configuration without sending, then `.env`, every account's session, every message
//! source, the database, disk space, the clock, the time zone, the report bot and the
//! webhook: a ✓ line per item, a ✗ line with the fix per problem (a ! line for what only
//! matters later, such as a missing login), exit 1 on any ✗.
//!
//! Offline by default; `--online` also asks Telegram about each session and the bot token,
//! fetches every message source, and reaches the webhook.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use jiff::Timestamp;
use smb_sources::Source;
use smb_telegram::grammers::{AccountHealth, check_account};

use crate::Cli;
use crate::config::{self, EnvVars, Overrides, Settings};
use crate::daemon::{Bound, METRICS_FIX, WEB_FIX};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Check as if TEST_MODE were on (every broadcaster needs a test list).
    #[arg(long)]
    pub test_mode: bool,
    /// Also use the network: sessions authorized, sources reachable, bot token valid, webhook reachable.
    #[arg(long)]
    pub online: bool,
    /// Check for the sandbox (its database; accounts and sessions are not needed).
    #[arg(long)]
    pub sandbox: bool,
    /// Check for `run --no-metrics`: the METRICS_BIND address is not probed.
    #[arg(long)]
    pub no_metrics: bool,
}

/// Free space below this (MiB) on the database's file system is a problem
/// (`SMB_CHECK_MIN_FREE_MB` changes it).
const MIN_FREE_MB: u64 = 100;

/// `check`'s lines: `✓` fine, `✗` a problem (exit 1), `!` what only matters later. Printed as
/// they come (`check` itself), or only kept (tests of [`configuration`]).
#[derive(Debug, Default)]
pub struct Report {
    pub problems: usize,
    pub lines: Vec<String>,
    quiet: bool,
    /// The first failed write to stdout (a reader that went away): printing stops there and
    /// `run` returns it once the checks are done.
    write_error: Option<std::io::Error>,
}

impl Report {
    /// A report that keeps its lines without printing them.
    pub fn quiet() -> Report {
        Report {
            quiet: true,
            ..Report::default()
        }
    }
    fn line(&mut self, mark: &str, line: &str) {
        let line = format!("{mark} {line}");
        if !self.quiet && self.write_error.is_none() {
            self.write_error = outln!("{line}").err();
        }
        self.lines.push(line);
    }
    fn ok(&mut self, line: impl AsRef<str>) {
        self.line("✓", line.as_ref());
    }
    fn bad(&mut self, line: impl AsRef<str>) {
        self.problems += 1;
        self.line("✗", line.as_ref());
    }
    fn warn(&mut self, line: impl AsRef<str>) {
        self.line("!", line.as_ref());
    }
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let mut r = Report::default();
    let env = match EnvVars::load(&cli.env_file) {
        Ok(e) => {
            if let Some(loose) = crate::perms::env_file(&cli.env_file) {
                r.bad(loose.message);
            } else if cli.env_file.exists() {
                r.ok(format!("{}: readable", cli.env_file.display()));
            }
            // Misspelt names are said whatever else the file has (qa4 F5: a loose mode hid
            // them, and the user ran with the value silently ignored).
            if cli.env_file.exists() {
                for w in crate::config::unknown_env_names(&cli.env_file) {
                    r.warn(w);
                }
            } else {
                r.warn(format!(
                    "{} not found: only the environment and the configuration are used (`cp .env.example .env` to start one)",
                    cli.env_file.display()
                ));
            }
            Some(e)
        }
        Err(e) => {
            r.bad(e.to_string());
            None
        }
    };
    let overrides = Overrides {
        test_mode: args.test_mode,
        ..Overrides::default()
    };
    let settings = match &env {
        // As `run` does: the sandbox runs on the built-in example when there is no file.
        Some(env) if args.sandbox && !cli.config.exists() => {
            r.warn(format!(
                "{} not found: checking the built-in example configuration, which `run --sandbox` uses (write it with `sendmessagebot init`)",
                cli.config.display()
            ));
            example_configuration(&mut r, env, &overrides)
        }
        Some(env) => configuration(&mut r, env, &cli.config, &overrides),
        None => None,
    };
    if let Some(s) = &settings {
        risky_choices(&mut r, s, args.sandbox);
        variants(&mut r, s);
        windows_never_open(&mut r, s);
        startup(&mut r, s, args);
    }
    let env_map = env.as_ref().map(EnvVars::map).unwrap_or_default();
    if !args.sandbox {
        placeholders(&mut r, &env_map);
    }
    if let Some(s) = &settings {
        if !args.sandbox {
            sessions(&mut r, s, args.online).await;
        }
        sources(&mut r, cli, s, args.online).await;
    } else {
        r.warn(
            "sessions and message sources not checked: the configuration does not load (see above)",
        );
    }
    let url = match &settings {
        Some(s) if args.sandbox => s.sandbox_database_url.clone(),
        Some(s) => s.database_url.clone(),
        None => env_map
            .get("DATABASE_URL")
            .cloned()
            .unwrap_or_else(|| smb_store::DEFAULT_DATABASE_URL.to_owned()),
    };
    let elsewhere = settings
        .as_ref()
        .and_then(|s| crate::context::journal_elsewhere(s, args.sandbox));
    let db_ok = match elsewhere {
        // As `run` refuses it (a new journal would forget the one beside the configuration).
        Some(problem) => {
            r.bad(format!("database: {problem}"));
            false
        }
        None => database(&mut r, &url) && integrity(&mut r, &url).await,
    };
    disk_space(&mut r, &url, &env_map);
    clock(
        &mut r,
        settings.as_ref(),
        args.sandbox,
        db_ok,
        args.online,
        &env_map,
    )
    .await;
    time_zone(&mut r, settings.as_ref());
    match &settings {
        Some(s) => notifications(&mut r, s, args.online).await,
        None => r.warn("reports and notifications: not checked (the configuration does not load)"),
    }
    if let Some(e) = r.write_error.take() {
        return Err(e.into());
    }
    if r.problems > 0 {
        outln!("{} problem(s) found", r.problems)?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration as `check` reports it: the file and variables (`config::load`), a line
/// per broadcaster, and the dashboard's settings — the first two steps of `run`
/// (`context::run_settings_from`), refused with the same messages. The settings, when they load.
pub fn configuration(
    r: &mut Report,
    env: &EnvVars,
    path: &Path,
    overrides: &Overrides,
) -> Option<Settings> {
    loaded(r, env, Some(path), overrides)
}

/// [`configuration`] of the built-in example (no file), as `run --sandbox` loads it then.
fn example_configuration(r: &mut Report, env: &EnvVars, overrides: &Overrides) -> Option<Settings> {
    loaded(r, env, None, overrides)
}

fn loaded(
    r: &mut Report,
    env: &EnvVars,
    path: Option<&Path>,
    overrides: &Overrides,
) -> Option<Settings> {
    match config::load(path, env, overrides) {
        Ok(s) => {
            r.ok(format!(
                "{}: {} accounts, {} target lists, {} broadcasters",
                s.source,
                s.accounts.len(),
                s.target_lists.len(),
                s.broadcasters.len()
            ));
            for b in &s.broadcasters {
                let p = &b.spec.pacing;
                r.ok(format!(
                    "broadcaster {}: account {}, {} targets ({}), {} messages, every {}s between chats, {}s between cycles",
                    b.spec.name,
                    b.spec.account,
                    b.spec.targets.len(),
                    b.target_list,
                    b.spec.messages.rotation_order().len(),
                    p.delay_between_chats.as_secs_f64(),
                    p.cycle_delay.as_secs_f64()
                ));
            }
            // What `run` refuses once the settings are read (the dashboard off loopback
            // without WEB_TOKEN), with run's own message (`context::run_settings_from`);
            // `run --no-web` skips it.
            if let Err(e) = crate::web::web_settings(&s, false) {
                r.bad(format!("{e:#}"));
            }
            Some(s)
        }
        Err(e) => {
            r.bad(e.to_string());
            further_errors(r, env, path, overrides, &e);
            None
        }
    }
}

/// Every other setting error of the same load, each on its own ✗ line: the variable an error
/// names is set aside (its default stands in) and the configuration is read again, until it
/// loads or an error names no variable. The first error is what `run` says; these are the ones
/// it would say after it is fixed.
fn further_errors(
    r: &mut Report,
    env: &EnvVars,
    path: Option<&Path>,
    overrides: &Overrides,
    first: &config::ConfigError,
) {
    let mut env = env.clone();
    let mut error = first.to_string();
    let mut var = variable_of(first, &env);
    // A bound: each round removes one variable, and there are only so many.
    for _ in 0..40 {
        let Some(name) = var.take() else { return };
        env = env.restricted(|k| k != name);
        match config::load(path, &env, overrides) {
            Ok(_) => return,
            Err(e) => {
                let text = e.to_string();
                if text == error {
                    return;
                }
                r.bad(&text);
                var = variable_of(&e, &env);
                error = text;
            }
        }
    }
}

/// The `.env` variable a configuration error is about, when it names one that is set.
fn variable_of(e: &config::ConfigError, env: &EnvVars) -> Option<String> {
    let name = match e {
        config::ConfigError::Env { var, .. } => var.clone(),
        config::ConfigError::Setting { message, .. } => message
            .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .next()
            .unwrap_or_default()
            .to_owned(),
        _ => return None,
    };
    env.map().contains_key(&name).then_some(name)
}

/// Values that cannot be real Telegram credentials (placeholders copied from an example):
/// API_HASH is 32 hexadecimal characters, PHONE is `+` and digits. Checked offline; the
/// values are never shown.
fn placeholders(r: &mut Report, env: &std::collections::HashMap<String, String>) {
    let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(hash) = get("API_HASH")
        && !(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        r.bad(
            "API_HASH is not 32 hexadecimal characters (still the example's placeholder?): \
             copy it from https://my.telegram.org → API development tools",
        );
    }
    if let Some(phone) = get("PHONE") {
        let digits = phone.strip_prefix('+').unwrap_or("");
        let plain: String = digits.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !(7..=15).contains(&plain.len()) || !plain.bytes().all(|b| b.is_ascii_digit()) {
            r.bad(
                "PHONE is not an international number such as +79991234567 (still the \
                 example's placeholder?): write it with + and the country code",
            );
        }
    }
}

/// Below this gap between two chats, real accounts risk Telegram's flood limits.
const SAFE_GAP: std::time::Duration = std::time::Duration::from_secs(5);

/// Choices `run` accepts but the operator should know about: a gap between chats that risks
/// the account (real mode only; the sandbox has no bans), and several forum topics of one
/// chat in one list (each is its own target: that chat gets one post per topic per cycle).
/// Issue 17: what the A/B sets will do with their reach (and a warning when nothing will).
fn variants(r: &mut Report, s: &Settings) {
    let mut sets: Vec<&str> = s
        .broadcasters
        .iter()
        .map(|b| &b.spec.messages)
        .filter(|m| m.messages.iter().any(|m| m.variant.is_some()))
        .map(|m| m.name.as_str())
        .collect();
    sets.sort_unstable();
    sets.dedup();
    if sets.is_empty() {
        return;
    }
    let reach = &s.reach;
    if reach.after.is_empty() {
        r.warn(format!(
            "A/B variants in {}: reach_after is off, so no reach is read and `stats --variants` has no figures; set reach_after (default \"24h,72h\")",
            sets.join(", ")
        ));
        return;
    }
    r.ok(format!(
        "A/B variants in {}: reach read {} after each post; auto_winner {}",
        sets.join(", "),
        reach.after_words(),
        if reach.auto_winner {
            format!("on (after {} measured posts per variant)", reach.min_sample)
        } else {
            "off".to_owned()
        }
    ));
}

fn risky_choices(r: &mut Report, s: &Settings, sandbox: bool) {
    if !sandbox {
        for b in &s.broadcasters {
            let gap = b.spec.pacing.delay_between_chats;
            if gap < SAFE_GAP {
                r.warn(format!(
                    "broadcaster {}: {}s between chats (DELAY_BETWEEN_CHATS / delay_between_chats) risks Telegram's flood limits \
                     (FLOOD_WAIT, PEER_FLOOD) and a ban of account {}; 15s or more is safer",
                    b.spec.name,
                    gap.as_secs_f64(),
                    b.spec.account
                ));
            }
        }
    }
    for b in &s.broadcasters {
        if let Some(w) = crate::config::on_update_pending(&b.spec) {
            r.warn(w);
        }
    }
    for (list, targets) in &s.target_lists {
        let mut chats: Vec<(smb_domain::TargetRef, Vec<String>)> = Vec::new();
        for t in targets {
            let chat = t.chat_only();
            match chats.iter_mut().find(|(c, _)| *c == chat) {
                Some((_, all)) => all.push(t.to_string()),
                None => chats.push((chat, vec![t.to_string()])),
            }
        }
        for (chat, all) in chats.into_iter().filter(|(_, all)| all.len() > 1) {
            // With rules the chat's limits bind its topics together: "N posts per cycle"
            // would be false (max_per_day = 1 lets one topic a day through).
            let per_cycle = if s.chat_rules.get(&chat.chat).is_some_and(|r| !r.is_empty()) {
                "the chat's rules (min_gap, days, hours, max_per_day) hold for them together, \
                 so they share that chat's posts"
                    .to_owned()
            } else {
                format!(
                    "so that chat gets {} posts per cycle, one per topic",
                    all.len()
                )
            };
            r.warn(format!(
                "target list {list}: {} are {} targets in one chat ({chat}: its forum topics); each is a separate target, \
                 {per_cycle}",
                all.join(", "),
                all.len(),
            ));
        }
    }
}

/// A chat whose `hours` window lies wholly in the hours a broadcaster posting there may not
/// send (quiet hours, before START_TIME_HOUR) is never posted to by it: a `!` naming the
/// entry's line, the window and the sending hours (qa3 F34). Both are read in the
/// broadcaster's time zone, as the planner reads them.
fn windows_never_open(r: &mut Report, s: &Settings) {
    let lines = rule_lines(s);
    let mut chats: Vec<(&smb_domain::Chat, &smb_domain::HourWindow)> = s
        .chat_rules
        .iter()
        .filter_map(|(c, rules)| rules.hours.as_ref().map(|h| (c, h)))
        .collect();
    chats.sort_by_key(|(c, _)| lines.get(*c).copied().unwrap_or(usize::MAX));
    for (chat, window) in chats {
        let posting: Vec<&config::BroadcasterInfo> = s
            .broadcasters
            .iter()
            .filter(|b| {
                s.target_lists
                    .get(&b.target_list)
                    .is_some_and(|l| l.iter().any(|t| t.chat == *chat))
            })
            .collect();
        let closed: Vec<&config::BroadcasterInfo> = posting
            .iter()
            .copied()
            .filter(|b| !(0..24).any(|h| window.contains(h) && b.spec.schedule.allows_hour(h)))
            .collect();
        let Some(first) = closed.first() else {
            continue;
        };
        let sched = &first.spec.schedule;
        let mut hours = Vec::new();
        if let Some(q) = sched.quiet {
            hours.push(format!("quiet hours {}-{}", q.start, q.end));
        }
        if let Some(h) = sched.start_hour {
            hours.push(format!("sending starts at {h}:00 (START_TIME_HOUR)"));
        }
        let names: Vec<&str> = closed.iter().map(|b| b.spec.name.as_str()).collect();
        let whom = if closed.len() == posting.len() {
            "the chat is never posted to".to_owned()
        } else {
            format!("broadcaster(s) {} never post there", names.join(", "))
        };
        let at = match lines.get(chat) {
            Some(line) => format!("{}:{line}: ", s.source),
            None => String::new(),
        };
        let target = smb_domain::TargetRef {
            chat: chat.clone(),
            topic: None,
        };
        r.warn(format!(
            "{at}{target}: its window hours = \"{window}\" lies wholly inside the hours {} may not send ({}): {whom}; \
             widen the window or change the quiet hours (QUIET_HOUR_START/QUIET_HOUR_END, START_TIME_HOUR)",
            names.join(", "),
            hours.join(", ")
        ));
    }
}

/// The line of each chat's ruled `[targets]` entry (`{ chat = …, hours = … }`) in the
/// configuration file, read again for its positions; empty for the built-in example or a
/// file that does not read (it loaded a moment ago, so that is a race, not an error).
fn rule_lines(s: &Settings) -> std::collections::HashMap<smb_domain::Chat, usize> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        targets: std::collections::BTreeMap<String, Vec<toml::Spanned<toml::Value>>>,
    }
    let mut out = std::collections::HashMap::new();
    let Ok(src) = std::fs::read_to_string(&s.source) else {
        return out;
    };
    let Ok(file) = toml::from_str::<File>(&src) else {
        return out;
    };
    for entry in file.targets.values().flatten() {
        let Some(chat) = entry.get_ref().get("chat").and_then(|c| c.as_str()) else {
            continue;
        };
        if let Ok(t) = smb_domain::TargetRef::parse(chat) {
            let line = src[..entry.span().start.min(src.len())]
                .matches('\n')
                .count()
                + 1;
            out.entry(t.chat).or_insert(line);
        }
    }
    out
}

/// What `run` refuses (or warns about) once its settings load, in run's own words: a log file
/// it cannot write, notifier settings its reporter refuses, a `/metrics` address another
/// program holds (run stops) and a taken dashboard address (run serves no dashboard). The
/// addresses are bound for a moment and let go; those of a daemon running on this data
/// directory are its own, and not probed.
fn startup(r: &mut Report, s: &Settings, args: &Args) {
    if let Err(e) = crate::logging::check_file(&s.sections.log) {
        r.bad(format!("{e:#}"));
    }
    if let Err(e) = crate::observe::Observers::check(s) {
        r.bad(format!("{e:#}"));
    }
    let paths = crate::daemon::DaemonPaths::for_settings(s, args.sandbox);
    if let Some(pid) = crate::daemon::lock::holder(&paths.lock) {
        r.ok(format!(
            "/metrics and the dashboard: the daemon (pid {pid}) serves them; addresses not probed"
        ));
        return;
    }
    let metrics = s.sections.metrics_bind;
    if metrics.port() != 0 && !args.no_metrics {
        match Bound::bind(metrics, "/metrics", METRICS_FIX) {
            Ok(_) => r.ok(format!("/metrics: {metrics} is free")),
            // `run --sandbox` goes on without /metrics, as it does without the dashboard.
            Err(e) if args.sandbox => r.warn(format!("warning: /metrics is off (sandbox): {e:#}")),
            Err(e) => r.bad(format!("{e:#}")),
        }
    }
    if let Ok(Some(web)) = crate::web::web_settings(s, false)
        && web.bind.port() != 0
        && let Err(e) = Bound::bind(web.bind, "the dashboard", WEB_FIX)
    {
        r.warn(format!("warning: the dashboard is off: {e:#}"));
    }
}

async fn sessions(r: &mut Report, s: &Settings, online: bool) {
    let store = match crate::telegram::session_store(s) {
        Ok(st) => st,
        Err(e) => {
            r.bad(format!("sessions: {e:#}"));
            return;
        }
    };
    for loose in crate::perms::sessions_dir(store.dir()) {
        if loose.severe {
            r.bad(loose.message);
        } else {
            r.warn(loose.message);
        }
    }
    let api = crate::telegram::api(s);
    if online && let Err(e) = &api {
        r.bad(format!("Telegram API: {e:#}"));
    }
    for a in &s.account_info {
        let name = &a.name;
        let login = format!("`sendmessagebot accounts login {name}`");
        let login_force = format!("`sendmessagebot accounts login {name} --force`");
        if let Some(w) = crate::commands::accounts::unsealed_warning(&store, name) {
            r.warn(w);
        }
        match store.load(name) {
            Ok(None) => r.warn(format!("account {name}: no session yet; log in with {login} before `run` without --sandbox")),
            Ok(Some(st)) if st.identity.is_none() => {
                r.warn(format!("account {name}: the login was not completed; finish it with {login}"));
            }
            Ok(Some(_)) if !online => r.ok(format!("account {name}: session readable (`check --online` asks Telegram)")),
            Ok(Some(_)) => {
                let Ok(api) = &api else { continue };
                let proxy = crate::telegram::proxy(s, a).ok().flatten();
                match check_account(api, &store, name, proxy.as_ref()).await {
                    AccountHealth::Ok(info) => r.ok(format!("account {name}: authorized as {}", info.first_name)),
                    AccountHealth::Dead { code } => {
                        r.bad(format!("account {name}: Telegram refuses the session ({code}); log in again with {login_force}"));
                    }
                    other => r.bad(format!("account {name}: {}", other.advice(name))),
                }
            }
            Err(e) => r.bad(format!(
                "account {name}: the session file cannot be read: {e}; check SESSION_PASSPHRASE, or start a new session with {login_force}"
            )),
        }
    }
}

async fn sources(r: &mut Report, cli: &Cli, s: &Settings, online: bool) {
    if s.message_sources.is_empty() {
        return;
    }
    let fetcher = match crate::commands::messages::fetcher(cli, s) {
        Ok(f) => f,
        Err(e) => {
            r.bad(format!("message sources: {e:#}"));
            return;
        }
    };
    let sets = match crate::commands::messages::set_sources(s, None) {
        Ok(sets) => sets,
        Err(e) => {
            r.bad(format!("message sources: {e:#}"));
            return;
        }
    };
    // The key file is read offline (no token is asked for): a missing, unreadable or non-JSON
    // key would fail every sheet at run time (QA finding F7).
    if fetcher.uses_service_account()
        && sets
            .iter()
            .any(|s| matches!(s.source, Source::GoogleSheet(_)))
    {
        match fetcher.client_email().await {
            Ok(email) => r.ok(format!(
                "GOOGLE_CREDENTIALS_FILE: a service account key ({}); share the sheets with it",
                email.unwrap_or_default()
            )),
            Err(e) => r.bad(e.to_string()),
        }
    }
    for source in &sets {
        let set = &source.set;
        let local = matches!(source.source, Source::File(_));
        if !local && !online {
            r.ok(format!(
                "message set {set}: source {} (`check --online` fetches it)",
                source.source.describe()
            ));
            continue;
        }
        // The checks of `messages update`, so ✓ here means an update accepts the content.
        match smb_sources::fetch_checked(&fetcher, source, false).await {
            Ok(f) => r.ok(format!(
                "message set {set}: {} reachable, {} messages, {} active",
                source.source.describe(),
                f.rows.len(),
                f.rows.iter().filter(|row| row.message.active).count()
            )),
            Err(e) => r.bad(format!(
                "message set {set}: {e}; fix the `source` of [messages.{set}] (or its *_SHEET_URL), then `sendmessagebot sheets test`"
            )),
        }
    }
}

/// The nearest ancestor of `p` that exists.
fn existing_ancestor(p: &Path) -> PathBuf {
    let mut cur = p.to_path_buf();
    loop {
        if cur.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
        if cur.exists() {
            return cur;
        }
        if !cur.pop() {
            return PathBuf::from(".");
        }
    }
}

fn writable(p: &Path) -> bool {
    rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok()
}

/// The journal database can be created or written (nothing is written here).
fn database(r: &mut Report, url: &str) -> bool {
    if smb_store::is_postgres_url(url) {
        // `run` and `stats` open it (and say when it cannot be reached); nothing connects here.
        r.warn(format!(
            "database {}: PostgreSQL, used by `run`, `stats` and `status`; not connected to here, and the other commands keep a SQLite journal (docs/postgres.md)",
            smb_domain::redact::redact(url)
        ));
        return false;
    }
    if url.contains(":memory:") || !url.starts_with("sqlite:") {
        r.bad(format!(
            "database {}: not a SQLite file URL; write DATABASE_URL=sqlite://data/sendmessagebot.db",
            smb_domain::redact::redact(url)
        ));
        return false;
    }
    let file = crate::daemon::database_path(url);
    if file.exists() {
        if !file.is_file() {
            r.bad(format!(
                "database {}: not a file; point DATABASE_URL at a file path",
                file.display()
            ));
            return false;
        }
        let mut head = [0u8; 16];
        let is_sqlite = std::fs::File::open(&file)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .is_ok_and(|n| n == 0 || head.starts_with(b"SQLite format 3\0"));
        if !is_sqlite {
            r.bad(format!(
                "database {}: not a SQLite database; move it away (a new one is created) or fix DATABASE_URL",
                file.display()
            ));
            return false;
        }
        if !writable(&file)
            || !writable(&existing_ancestor(file.parent().unwrap_or(Path::new("."))))
        {
            r.bad(format!(
                "database {}: not writable; `chmod u+w` it and its directory",
                file.display()
            ));
            return false;
        }
        r.ok(format!("database {}: writable", file.display()));
        return true;
    }
    if let Some(problem) = smb_store::orphaned_wal(&file) {
        r.bad(problem);
        return false;
    }
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = existing_ancestor(parent);
    if !base.is_dir() {
        r.bad(format!(
            "database {}: {} is a file, so the directory cannot be created; fix DATABASE_URL",
            file.display(),
            base.display()
        ));
        return false;
    }
    if !writable(&base) {
        r.bad(format!("database {}: cannot be created ({} is not writable); `chmod u+w` it or change DATABASE_URL", file.display(), base.display()));
        return false;
    }
    r.ok(format!(
        "database {}: will be created at the first run",
        file.display()
    ));
    false
}

/// SQLite's `integrity_check` of an existing database (a damaged file fails it, with the fix).
async fn integrity(r: &mut Report, url: &str) -> bool {
    let file = crate::daemon::database_path(url);
    let how = smb_store::maintenance::Thoroughness::Full;
    match smb_store::maintenance::integrity_problems(&file, how).await {
        Ok(p) if p.is_empty() => {
            r.ok(format!(
                "database {}: integrity check passed",
                file.display()
            ));
            true
        }
        Ok(p) => {
            r.bad(format!(
                "database {}: damaged ({}); {}",
                file.display(),
                p.join("; "),
                crate::hint::in_mode(smb_store::maintenance::RESTORE_HINT)
            ));
            false
        }
        Err(e) => {
            r.bad(format!("database {}: {e}", file.display()));
            false
        }
    }
}

fn disk_space(r: &mut Report, url: &str, env: &std::collections::HashMap<String, String>) {
    let min_mb = env
        .get("SMB_CHECK_MIN_FREE_MB")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(MIN_FREE_MB);
    let dir = existing_ancestor(&crate::daemon::database_dir(url));
    match rustix::fs::statvfs(&dir) {
        Ok(st) => {
            let free_mb = st.f_bavail.saturating_mul(st.f_frsize) / (1024 * 1024);
            if free_mb < min_mb {
                r.bad(format!(
                    "disk space: {free_mb} MiB free for {} (less than {min_mb} MiB); free some space (old logs: LOG_BACKUP_COUNT) or move DATABASE_URL",
                    dir.display()
                ));
            } else {
                r.ok(format!(
                    "disk space: {free_mb} MiB free for {}",
                    dir.display()
                ));
            }
        }
        Err(e) => r.warn(format!(
            "disk space of {}: cannot be read ({e})",
            dir.display()
        )),
    }
}

async fn clock(
    r: &mut Report,
    settings: Option<&Settings>,
    sandbox: bool,
    db_exists: bool,
    online: bool,
    env: &std::collections::HashMap<String, String>,
) {
    let now = Timestamp::now();
    // Nothing this program writes predates its own release; a clock before that is unset.
    let floor: Timestamp = "2025-01-01T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    if now < floor {
        r.bad(format!("clock: the system time is {now}; set the clock (enable NTP: `timedatectl set-ntp true`)"));
        return;
    }
    let mut latest: Option<Timestamp> = None;
    if let (Some(s), true) = (settings, db_exists)
        && let Ok(store) = crate::context::open_store(s, sandbox).await
        && let Ok(st) = store.stats(None, now).await
    {
        latest = st
            .broadcasters
            .values()
            .filter_map(|b| b.last_sent_at.as_deref())
            .filter_map(|t| t.parse::<Timestamp>().ok())
            .max();
    }
    if let Some(last) = latest
        && last > now + jiff::SignedDuration::from_mins(5)
    {
        r.bad(format!(
            "clock: the journal has a send at {last}, after the system time {now}; the clock went back — \
             set it right (enable NTP: `timedatectl set-ntp true`) or pacing and quiet hours are wrong"
        ));
        return;
    }
    if online && sandbox {
        // The sandbox promises nothing leaves the machine for Telegram (qa3 F32).
        r.ok(format!(
            "clock: {now} (not compared with Telegram's time: --sandbox contacts no Telegram server)"
        ));
        return;
    }
    if online {
        let url = env
            .get("TELEGRAM_BOT_API_URL")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| smb_notify::settings::DEFAULT_BOT_API_URL.to_owned());
        match smb_notify::botapi::http_client(Duration::from_secs(10)) {
            Ok(http) => match http.head(&url).send().await {
                Ok(resp) => {
                    let date = resp
                        .headers()
                        .get("date")
                        .and_then(|d| d.to_str().ok())
                        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
                        .map(|z| z.timestamp());
                    match date {
                        Some(t) if t.duration_since(now).abs() > jiff::SignedDuration::from_secs(60) => r.bad(format!(
                            "clock: {}s off the time of {url}; enable NTP (`timedatectl set-ntp true`)",
                            t.duration_since(now).as_secs()
                        )),
                        Some(_) => r.ok(format!("clock: {now}, within a minute of {url}")),
                        None => r.ok(format!("clock: {now} ({url} sent no date to compare)")),
                    }
                    return;
                }
                Err(e) => r.warn(format!("clock: cannot compare with {url}: {e}")),
            },
            Err(e) => r.warn(format!("clock: {e}")),
        }
    }
    r.ok(format!("clock: {now}"));
}

fn time_zone(r: &mut Report, settings: Option<&Settings>) {
    let system = jiff::tz::TimeZone::try_system()
        .ok()
        .and_then(|z| z.iana_name().map(str::to_owned))
        .unwrap_or_else(|| "unknown (schedules do not depend on it)".to_owned());
    match settings {
        Some(s) => r.ok(format!(
            "time zone: {} for the schedule and reports (REPORTS_TIMEZONE); system: {system}",
            s.timezone.iana_name().unwrap_or("UTC")
        )),
        None => r.warn(format!(
            "time zone: not checked (the configuration does not load); system: {system}"
        )),
    }
}

async fn notifications(r: &mut Report, s: &Settings, online: bool) {
    let n = &s.sections.notify;
    let env = &s.env;
    match env
        .get("REPORTS_BOT_TOKEN")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        None => {
            if n.reports.enabled || n.telegram_enabled {
                r.bad("REPORTS_BOT_TOKEN is not set; put the token from @BotFather in .env");
            }
        }
        // Its form was checked with the other settings (`sections`).
        Some(_) if !online => {
            r.ok("REPORTS_BOT_TOKEN: well-formed (`check --online` asks Telegram)");
        }
        Some(_) => match smb_notify::BotApi::new(&n.bot) {
            Ok(api) => match api.get_me().await {
                Ok(name) => r.ok(format!("REPORTS_BOT_TOKEN: valid, the bot is {name}")),
                Err(e) => r.bad(format!("REPORTS_BOT_TOKEN: {}", bot_token_failure(&e))),
            },
            Err(e) => r.bad(format!("REPORTS_BOT_TOKEN: {e}")),
        },
    }
    if n.webhook.enabled
        && let Some(full_url) = &n.webhook.url
    {
        // Its path and query may carry the receiver's key: only scheme and host are shown.
        let url = smb_notify::webhook::redacted_url(full_url);
        if !online {
            r.ok(format!(
                "webhook {url}: configured (`check --online` reaches it)"
            ));
        } else {
            match smb_notify::botapi::http_client(Duration::from_secs(10)) {
                Ok(http) => match http.head(full_url).send().await {
                    Ok(resp) => r.ok(format!("webhook {url}: reachable (HTTP {})", resp.status().as_u16())),
                    Err(e) => r.bad(format!(
                        "webhook {url}: not reachable ({}); check WEBHOOK_URL and that the receiver runs (`sendmessagebot notify test` sends a test)",
                        e.without_url()
                    )),
                },
                Err(e) => r.bad(format!("webhook: {e}")),
            }
        }
    }
}

/// What `check --online` says when getMe fails: only a refusal of the token (401, 404) asks
/// for a new one; a server failure, a rate limit or no connection says the token was not
/// checked and to retry.
fn bot_token_failure(e: &smb_notify::botapi::BotApiError) -> String {
    use smb_notify::botapi::BotApiError;
    match e {
        BotApiError::Unauthorized | BotApiError::Api { code: 404, .. } => {
            format!("Telegram refuses it ({e}); create a new token with @BotFather")
        }
        BotApiError::Api { code, .. } if *code >= 500 => format!(
            "not checked: the Telegram Bot API server failed ({e}); retry `check --online` later"
        ),
        e if !e.is_permanent() => {
            format!("not checked ({e}); retry `check --online` later")
        }
        e => format!("Telegram refuses it ({e}); check the token from @BotFather"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_notify::botapi::BotApiError;

    #[test]
    fn bot_api_500_is_a_server_failure_not_a_bad_token() {
        let e = BotApiError::Api {
            method: "getMe",
            code: 500,
            description: "Internal Server Error".into(),
        };
        let said = bot_token_failure(&e);
        assert!(
            said.contains("server failed") && said.contains("retry"),
            "{said}"
        );
        assert!(!said.contains("new token"), "{said}");
        let said = bot_token_failure(&BotApiError::Unauthorized);
        assert!(said.contains("create a new token"), "{said}");
        let said = bot_token_failure(&BotApiError::Http {
            detail: "connection refused".into(),
        });
        assert!(
            said.contains("not checked") && !said.contains("new token"),
            "{said}"
        );
    }
}
