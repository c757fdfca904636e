//! `targets check`: the pre-flight look at every (account, target) a broadcaster posts to —
//! member or not, may write, may send media, slow mode, forum and topic, title, when we last
//! posted there — asked of Telegram (`Gateway::inspect`) without posting anything.
//!
//! Exit 1 when a chat refuses text (or cannot be checked), so scripts can gate a start on it;
//! a chat that refuses only media, a forum target without a topic (posts go to General) and an
//! upgraded group are said in the table.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use serde::Serialize;
use smb_domain::TargetRef;
use smb_engine::Gateway;
use smb_engine::preflight::{self, CheckOptions, CheckRow};
use smb_telegram::SimGateway;
use smb_telegram::grammers::{AccountConfig, GrammersGateway, JsonPeerCacheStore};

use crate::Cli;
use crate::config::{Overrides, Settings};
use crate::{context, telegram};

/// More pairs than this show a progress bar (on a terminal).
const BAR_FROM: usize = 5;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only the targets of broadcasters that post from this account.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// One JSON array, one object per (account, target), fields always present.
    #[arg(long)]
    pub json: bool,
    /// Check against the sandbox (its fault plan) instead of Telegram.
    #[arg(long)]
    pub sandbox: bool,
    /// Pause between two chats of one account, in milliseconds (each check is two or three
    /// Telegram calls; Telegram answers fast lookups with FLOOD_WAIT). Accounts are checked at
    /// the same time, each at this pace.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub pause_ms: u64,
}

/// One row of the check; the `--json` shape (every field always present, in this order).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub account: String,
    /// The target's key (`@name`, `-100…`, `@name/TOPIC`).
    pub target: String,
    /// False when Telegram could not be asked (see `error`); the other facts are then unknown.
    pub checked: bool,
    pub member: bool,
    pub can_write: bool,
    pub can_send_media: bool,
    pub slow_mode_seconds: Option<u32>,
    pub forum: bool,
    /// `open`, `closed`, `missing`, `not_a_forum`; null for a target without a topic.
    pub topic: Option<&'static str>,
    /// A forum target without a topic: posts go to the General topic.
    pub posts_to_general: bool,
    pub title: Option<String>,
    /// A basic group upgraded to a supergroup: the new `-100…` id.
    pub migrated_to: Option<i64>,
    /// The Telegram error a send would get now.
    pub refusal: Option<String>,
    /// The refusal (or the reason it could not be checked) in words, with what to do.
    pub problem: Option<String>,
    /// Why Telegram could not be asked (flood wait, network, no session).
    pub error: Option<String>,
    /// Our last post into this chat (this target, any account), RFC 3339; from the journal.
    pub last_posted_at: Option<String>,
}

impl From<CheckRow> for Row {
    fn from(r: CheckRow) -> Self {
        Row {
            account: r.account,
            target: r.target.key(),
            checked: r.checked,
            member: r.member,
            can_write: r.can_write,
            can_send_media: r.can_send_media,
            slow_mode_seconds: r.slow_mode_seconds,
            forum: r.forum,
            topic: r.topic.map(|t| t.as_str()),
            posts_to_general: r.posts_to_general,
            title: r.title,
            migrated_to: r.migrated_to,
            refusal: r.refusal,
            problem: r.problem,
            error: r.error,
            last_posted_at: r.last_posted_at.map(|t| t.to_string()),
        }
    }
}

impl Row {
    /// A problem that stops posting text (exit 1).
    fn blocks(&self) -> bool {
        !self.checked || !self.can_write
    }

    /// The lines under the row: the problem, General, the not-a-forum topic.
    fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("✗ not checked: {e}"));
        }
        if let Some(p) = &self.problem {
            out.push(format!("{} {p}", if self.blocks() { "✗" } else { "!" }));
        }
        if self.posts_to_general {
            out.push(format!("! {}", preflight::GENERAL_NOTE));
        }
        if self.topic == Some("not_a_forum") {
            out.push(format!("! {}", preflight::NOT_A_FORUM_NOTE));
        }
        out
    }
}

/// The (account, target) pairs of every broadcaster, once each: by account, then in the
/// order of the broadcasters' target lists.
fn pairs(settings: &Settings, account: Option<&str>) -> Vec<(String, TargetRef)> {
    preflight::pairs(settings.broadcasters.iter().map(|b| &b.spec), account)
}

fn seconds(s: u32) -> String {
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn print_table(rows: &[Row], settings: &Settings) -> std::io::Result<()> {
    let tw = rows
        .iter()
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let aw = rows
        .iter()
        .map(|r| r.account.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    outln!(
        "{:<aw$}  {:<tw$}  {:<6}  {:<5}  {:<5}  {:<5}  {:<13}  {:<24}  LAST POST",
        "ACCOUNT",
        "TARGET",
        "MEMBER",
        "WRITE",
        "MEDIA",
        "SLOW",
        "FORUM/TOPIC",
        "TITLE"
    )?;
    for r in rows {
        let forum = match (r.forum, r.topic) {
            (_, Some(t)) => format!("topic {t}"),
            (true, None) => "General".to_owned(),
            (false, None) => "-".to_owned(),
        };
        let last = r
            .last_posted_at
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map_or_else(
                || "never".to_owned(),
                |t| {
                    t.to_zoned(settings.timezone.clone())
                        .strftime("%Y-%m-%d %H:%M")
                        .to_string()
                },
            );
        if r.checked {
            outln!(
                "{:<aw$}  {:<tw$}  {:<6}  {:<5}  {:<5}  {:<5}  {:<13}  {:<24}  {last}",
                r.account,
                r.target,
                yes(r.member),
                yes(r.can_write),
                yes(r.can_send_media),
                r.slow_mode_seconds.map_or_else(|| "off".into(), seconds),
                forum,
                short(r.title.as_deref().unwrap_or("-"), 24),
            )?;
        } else {
            outln!(
                "{:<aw$}  {:<tw$}  {:<6}  {:<5}  {:<5}  {:<5}  {:<13}  {:<24}  {last}",
                r.account,
                r.target,
                "?",
                "?",
                "?",
                "?",
                "?",
                "-"
            )?;
        }
        for n in r.notes() {
            outln!("    {n}")?;
        }
    }
    let blocked = rows.iter().filter(|r| r.blocks()).count();
    let general = rows.iter().filter(|r| r.posts_to_general).count();
    outln!(
        "{} checked: {} can be posted to, {} cannot{}",
        rows.len(),
        rows.len() - blocked,
        blocked,
        if general > 0 {
            format!(", {general} forum target(s) post to General")
        } else {
            String::new()
        }
    )?;
    Ok(())
}

/// The grammers gateway for the accounts being checked (sessions are read, never written).
fn real_gateway(
    settings: &Settings,
    accounts: &[&str],
) -> anyhow::Result<(Arc<GrammersGateway>, BTreeMap<String, String>)> {
    let api = telegram::api(settings)?;
    let sessions = telegram::session_store(settings)?;
    let mut configs = Vec::new();
    for name in accounts {
        let info = telegram::account(settings, name)?;
        configs.push(AccountConfig {
            name: info.name.clone(),
            proxy: telegram::proxy(settings, info)?,
        });
    }
    let peers = Arc::new(JsonPeerCacheStore::new(sessions.dir()));
    let gateway = GrammersGateway::connect(&api, &sessions, &configs, peers);
    let unusable = gateway
        .unavailable()
        .iter()
        .map(|(name, e)| (name.clone(), e.reason(name)))
        .collect();
    Ok((Arc::new(gateway), unusable))
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let mut settings = context::settings(cli, &Overrides::default(), true)?;
    let _log = context::init_logging(&settings, false)?;
    if let Some(a) = &args.account
        && !settings.broadcasters.iter().any(|b| &b.spec.account == a)
    {
        let mut known: Vec<&str> = settings
            .broadcasters
            .iter()
            .map(|b| b.spec.account.as_str())
            .collect();
        known.sort_unstable();
        known.dedup();
        bail!(
            "no broadcaster posts from account `{a}` (accounts in use: {})",
            known.join(", ")
        );
    }
    let store = context::open_store(&settings, args.sandbox).await?;
    crate::switch::apply_stored(&mut settings, &store, false).await?;
    crate::web::merge_added_targets(&mut settings, &store).await?;
    let pairs = pairs(&settings, args.account.as_deref());
    let mut accounts: Vec<&str> = pairs.iter().map(|(a, _)| a.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let (gateway, unusable): (Arc<dyn Gateway>, BTreeMap<String, String>) = if args.sandbox {
        let sim = SimGateway::new(settings.sandbox.clone()).context("starting the sandbox")?;
        (Arc::new(sim), BTreeMap::new())
    } else {
        let (g, unusable) = real_gateway(&settings, &accounts)?;
        (g, unusable)
    };

    let bar = if pairs.len() >= BAR_FROM && std::io::stderr().is_terminal() && !args.json {
        let bar = ProgressBar::new(pairs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} checking {msg} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let options = CheckOptions {
        pause: if args.sandbox {
            Duration::ZERO
        } else {
            Duration::from_millis(args.pause_ms)
        },
        unavailable: unusable,
    };
    let rows = preflight::check_targets(gateway.as_ref(), &store, &pairs, &options, |_, _, r| {
        bar.set_message(r.target.key());
        bar.inc(1);
    })
    .await?;
    let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
    bar.finish_and_clear();

    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else if rows.is_empty() {
        outln!("no broadcaster has targets to check")?;
    } else {
        print_table(&rows, &settings)?;
    }
    Ok(if rows.iter().any(Row::blocks) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
