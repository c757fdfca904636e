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
use smb_domain::{Lang, TargetRef};
use smb_engine::Gateway;
use smb_engine::preflight::{self, CheckOptions, CheckedTarget, Reason};
use smb_store::HeldTarget;
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
    /// One JSON array, one object per (account, target), fields always present: the shape of
    /// the API's `GET /api/v1/targets/check` rows (`verdict`, `reason`), plus `held`: the
    /// chat rule or slow mode holding the target now (`{reason, until}`, the API's `held`
    /// list), or null.
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

/// The lines under a row: the reason in `lang`, marked ✗ (text refused or not checked) or !
/// (something to know).
fn notes(r: &CheckedTarget, lang: Lang) -> Vec<String> {
    let Some(reason) = r.reason_in(lang) else {
        return Vec::new();
    };
    let mark = if r.blocks() { "✗" } else { "!" };
    if !r.checked {
        let not_checked = lang.pick("not checked", "не проверено");
        return vec![format!("{mark} {not_checked}: {reason}")];
    }
    let mut out = vec![format!("{mark} {reason}")];
    // A refusal comes first; where to a forum target posts is worth its own line.
    for (on, note) in [
        (r.posts_to_general, Reason::General),
        (r.topic == Some("not_a_forum"), Reason::NotAForum),
    ] {
        if on && r.why.as_ref() != Some(&note) {
            out.push(format!("! {}", note.words(lang)));
        }
    }
    out
}

/// The (account, target) pairs of every broadcaster and of its `backup_accounts` (a backup
/// posts only where the check finds it a member, as the daemon's check asks), once each: by
/// account, then in the order of the broadcasters' target lists (qa5: the backups' rows were
/// missing).
fn pairs(settings: &Settings, account: Option<&str>) -> Vec<(String, TargetRef)> {
    let lists = settings.broadcasters.iter().flat_map(|b| {
        preflight::posting_lists(
            &b.spec.account,
            b.backup_accounts.iter().map(String::as_str),
            &b.spec.targets,
        )
    });
    preflight::pairs_of(lists, account)
}

fn seconds(s: u32) -> String {
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn yes(b: bool, lang: Lang) -> &'static str {
    if b {
        lang.pick("yes", "да")
    } else {
        lang.pick("no", "нет")
    }
}

/// A topic's state in `lang` (`open`, `closed`, `missing`, `not_a_forum`).
fn topic_words(state: &str, lang: Lang) -> String {
    let ru = match state {
        "open" => "открыта",
        "closed" => "закрыта",
        "missing" => "нет такой",
        "not_a_forum" => "не форум",
        other => other,
    };
    match lang {
        Lang::En => format!("topic {state}"),
        Lang::Ru => format!("тема {ru}"),
    }
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

fn print_table(rows: &[CheckedTarget], settings: &Settings, lang: Lang) -> std::io::Result<()> {
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
    // QA F1b: headers and words follow the locale, as the reasons under the rows do.
    outln!(
        "{:<aw$}  {:<tw$}  {:<6}  {:<5}  {:<5}  {:<5}  {:<13}  {:<24}  {}",
        lang.pick("ACCOUNT", "АККАУНТ"),
        lang.pick("TARGET", "ЧАТ"),
        lang.pick("MEMBER", "В ЧАТЕ"),
        lang.pick("WRITE", "ПИСАТЬ"),
        lang.pick("MEDIA", "МЕДИА"),
        lang.pick("SLOW", "МЕДЛ"),
        lang.pick("FORUM/TOPIC", "ФОРУМ/ТЕМА"),
        lang.pick("TITLE", "НАЗВАНИЕ"),
        lang.pick("LAST POST", "ПОСЛЕДНИЙ ПОСТ")
    )?;
    for r in rows {
        let forum = match (r.forum, r.topic) {
            (_, Some(t)) => topic_words(t, lang),
            (true, None) => "General".to_owned(),
            (false, None) => "-".to_owned(),
        };
        let last = r.last_posted.map_or_else(
            || lang.pick("never", "никогда").to_owned(),
            |t| smb_domain::local_minute(t, &settings.timezone),
        );
        if r.checked {
            outln!(
                "{:<aw$}  {:<tw$}  {:<6}  {:<5}  {:<5}  {:<5}  {:<13}  {:<24}  {last}",
                r.account,
                r.target,
                yes(r.member, lang),
                yes(r.can_write, lang),
                yes(r.can_send_media, lang),
                r.slow_mode_seconds
                    .map_or_else(|| lang.pick("off", "выкл").into(), seconds),
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
        for n in notes(r, lang) {
            outln!("    {n}")?;
        }
    }
    let blocked = rows.iter().filter(|r| r.blocks()).count();
    let general = rows.iter().filter(|r| r.posts_to_general).count();
    let general = match (general, lang) {
        (0, _) => String::new(),
        (n, Lang::En) => format!(", {n} forum target(s) post to General"),
        (n, Lang::Ru) => format!(", форумов с постами в General: {n}"),
    };
    match lang {
        Lang::En => outln!(
            "{} checked: {} can be posted to, {} cannot{general}",
            rows.len(),
            rows.len() - blocked,
            blocked,
        )?,
        Lang::Ru => outln!(
            "проверено {}: писать можно в {}, нельзя в {}{general}",
            rows.len(),
            rows.len() - blocked,
            blocked,
        )?,
    }
    Ok(())
}

/// The rows as JSON, each with `held`: `{reason, until}` of the chat rule or slow mode that
/// holds its target now (the API's `held` list, per row), or null.
fn json_rows(rows: &[CheckedTarget], held: &[HeldTarget]) -> anyhow::Result<serde_json::Value> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut v = serde_json::to_value(r)?;
        let h = held
            .iter()
            .find(|h| h.target == r.target)
            .map(|h| serde_json::json!({ "reason": h.reason, "until": h.until }));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("held".into(), h.unwrap_or(serde_json::Value::Null));
        }
        out.push(v);
    }
    Ok(serde_json::Value::Array(out))
}

/// Under the table: the targets held back now, as `stats` lists them.
fn print_held(held: &[HeldTarget], settings: &Settings, lang: Lang) -> std::io::Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    outln!(
        "{}",
        lang.pick(
            "held by their chat's rules or slow mode:",
            "придержаны правилами чата или медленным режимом:"
        )
    )?;
    for h in held {
        outln!(
            "{}",
            super::stats::held_line(
                &h.target,
                None,
                h.until_at,
                &h.why,
                lang,
                &settings.timezone
            )
        )?;
    }
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
    // A backup account posts too (only where it is a member): checkable like an own one.
    fn in_use(b: &crate::config::BroadcasterInfo) -> Vec<&str> {
        std::iter::once(b.spec.account.as_str())
            .chain(b.backup_accounts.iter().map(String::as_str))
            .collect()
    }
    if let Some(a) = &args.account
        && !settings
            .broadcasters
            .iter()
            .any(|b| in_use(b).contains(&a.as_str()))
    {
        let mut known: Vec<&str> = settings.broadcasters.iter().flat_map(in_use).collect();
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
    let mut rows: Vec<CheckedTarget> = rows.iter().map(CheckedTarget::from).collect();
    bar.finish_and_clear();

    // Targets the daemon holds back now by their chat's rules or slow mode (the journal's
    // record, as `stats` and the dashboard's check page show them): not part of what Telegram
    // says, but why a chat that may be written to gets no post now.
    let held: Vec<HeldTarget> = store
        .held_targets(jiff::Timestamp::now())
        .await
        .context("reading the held targets from the journal")?
        .into_iter()
        .filter(|h| rows.iter().any(|r| r.target == h.target))
        .collect();

    let lang = Lang::from_env();
    if args.json {
        // The reasons follow the locale, as README says and the table does (QA F9); the
        // API's stay English.
        for r in &mut rows {
            r.reason = r.reason_in(lang);
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&json_rows(&rows, &held)?)?
        )?;
    } else if rows.is_empty() {
        outln!("no broadcaster has targets to check")?;
    } else {
        print_table(&rows, &settings, lang)?;
        print_held(&held, &settings, lang)?;
    }
    Ok(if rows.iter().any(CheckedTarget::blocks) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
