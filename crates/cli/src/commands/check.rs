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
        if !self.quiet {
            println!("{line}");
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
            if cli.env_file.exists() {
                r.ok(format!("{}: readable", cli.env_file.display()));
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
        Some(env) => configuration(&mut r, env, &cli.config, &overrides),
        None => None,
    };
    if let Some(s) = &settings {
        startup(&mut r, s, args);
    }
    let env_map = env.as_ref().map(EnvVars::map).unwrap_or_default();
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
    let db_ok = database(&mut r, &url) && integrity(&mut r, &url).await;
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
    if r.problems > 0 {
        println!("{} problem(s) found", r.problems);
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
    match config::load(Some(path), env, overrides) {
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
            None
        }
    }
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
    let api = crate::telegram::api(s);
    if online && let Err(e) = &api {
        r.bad(format!("Telegram API: {e:#}"));
    }
    for a in &s.account_info {
        let name = &a.name;
        let login = format!("`sendmessagebot accounts login {name}`");
        let login_force = format!("`sendmessagebot accounts login {name} --force`");
        match store.load(name) {
            Ok(None) => r.warn(format!("account {name}: no session yet; log in with {login} before `run` without --sandbox")),
            Ok(Some(st)) if st.identity.is_none() => {
                r.warn(format!("account {name}: the login was not completed; finish it with {login}"))
            }
            Ok(Some(_)) if !online => r.ok(format!("account {name}: session readable (`check --online` asks Telegram)")),
            Ok(Some(_)) => {
                let Ok(api) = &api else { continue };
                let proxy = crate::telegram::proxy(s, a).ok().flatten();
                match check_account(api, &store, name, proxy.as_ref()).await {
                    AccountHealth::Ok(info) => r.ok(format!("account {name}: authorized as {}", info.first_name)),
                    AccountHealth::Dead { code } => {
                        r.bad(format!("account {name}: Telegram refuses the session ({code}); log in again with {login_force}"))
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
    if url.contains(":memory:") || !url.starts_with("sqlite:") {
        r.bad(format!("database {url}: not a SQLite file URL; write DATABASE_URL=sqlite://data/sendmessagebot.db"));
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
            .map(|n| n == 0 || head.starts_with(b"SQLite format 3\0"))
            .unwrap_or(false);
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
                smb_store::maintenance::RESTORE_HINT
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
    match env.get("REPORTS_BOT_TOKEN").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        None => {
            if n.reports.enabled || n.telegram_enabled {
                r.bad("REPORTS_BOT_TOKEN is not set; put the token from @BotFather in .env");
            }
        }
        // Its form was checked with the other settings (`sections`).
        Some(_) if !online => r.ok("REPORTS_BOT_TOKEN: well-formed (`check --online` asks Telegram)"),
        Some(_) => match smb_notify::BotApi::new(&n.bot) {
            Ok(api) => match api.get_me().await {
                Ok(name) => r.ok(format!("REPORTS_BOT_TOKEN: valid, the bot is {name}")),
                Err(e) => r.bad(format!("REPORTS_BOT_TOKEN: Telegram refuses it ({e}); create a new token with @BotFather")),
            },
            Err(e) => r.bad(format!("REPORTS_BOT_TOKEN: {e}")),
        },
    }
    if n.webhook.enabled
        && let Some(url) = &n.webhook.url
    {
        if !online {
            r.ok(format!(
                "webhook {url}: configured (`check --online` reaches it)"
            ));
        } else {
            match smb_notify::botapi::http_client(Duration::from_secs(10)) {
                Ok(http) => match http.head(url).send().await {
                    Ok(resp) => r.ok(format!("webhook {url}: reachable (HTTP {})", resp.status().as_u16())),
                    Err(e) => r.bad(format!(
                        "webhook {url}: not reachable ({e}); check WEBHOOK_URL and that the receiver runs (`sendmessagebot notify test` sends a test)"
                    )),
                },
                Err(e) => r.bad(format!("webhook: {e}")),
            }
        }
    }
}
