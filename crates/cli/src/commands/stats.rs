//! `stats`: figures from the store; works beside a running daemon. Text, `--json`, `--csv`
//! (formats documented in docs/observability.md), or `--watch` (the live view in `watch.rs`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use smb_engine::restore_planner;
use smb_store::stats::Counts;
use smb_store::{Journal, Stats, TargetCounts};

use crate::Cli;
use crate::config::{BroadcasterInfo, Overrides, Settings, parse_duration};
use crate::context;
use crate::running::Running;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only what happened in this last period ("24h", "90m", "7d").
    #[arg(long)]
    since: Option<String>,
    /// Machine-readable output (schema 1, see docs/observability.md).
    #[arg(long, conflicts_with_all = ["csv", "watch"])]
    json: bool,
    /// One CSV row per broadcaster and per account (columns in docs/observability.md).
    #[arg(long, conflicts_with = "watch")]
    csv: bool,
    /// A live view in the terminal, refreshed every second; `q` quits.
    #[arg(long)]
    watch: bool,
    /// Figures of the sandbox database instead of the real one.
    #[arg(long)]
    sandbox: bool,
    /// The A/B report (issue 17): per variant of each message set, posts, mean and median
    /// views / reactions / replies with a 95 % interval, and whether the difference is
    /// significant (docs/variants.md). With --json, `/api/v1/variants`'s document.
    #[arg(long, conflicts_with_all = ["csv", "watch", "since"])]
    variants: bool,
    /// With --variants: only this message set.
    #[arg(long, requires = "variants", value_name = "NAME")]
    set: Option<String>,
}

/// The version of the `--json` layout; bumped only when a field changes meaning or goes away.
pub const JSON_SCHEMA: u64 = 1;

/// The `--csv` header: the stable column order.
pub const CSV_COLUMNS: [&str; 22] = [
    "kind",
    "name",
    "account",
    "sent",
    "failed",
    "deferred",
    "pending",
    "sent_last_hour",
    "failures",
    "cycle",
    "cycle_done",
    "cycle_size",
    "cycle_completed",
    "cycles_completed",
    "last_sent_at",
    "flood_waits",
    "flood_wait_seconds",
    "slowmode_waits",
    "paused_until",
    "stopped_reason",
    "last_error",
    "next_send_at",
];

/// Figures the store's `Stats` does not carry: the last hour's sends and the next planned send.
#[derive(Debug, Default)]
struct Extras {
    broadcaster_last_hour: BTreeMap<String, u64>,
    account_last_hour: BTreeMap<String, u64>,
    /// Per account: when its next send is due (to the second) and for which broadcaster.
    next_send: BTreeMap<String, (Timestamp, String)>,
    /// Deliveries per target in the window.
    targets: BTreeMap<String, TargetCounts>,
    /// Active targets that refused one account while the others post there (QA F2).
    refused: Vec<smb_engine::StoredRefusal>,
    /// Issue 15's follow-ups (edits, pins, unpins, deletes of our posts) by result.
    follow_ups: Vec<smb_store::FollowUpCount>,
    /// Issue 15's survival check: chats where the admins removed our posts.
    removed: Vec<smb_engine::ChatSurvival>,
}

impl Extras {
    /// Broadcaster `name`'s sends in the last hour.
    fn broadcaster_hour(&self, name: &str) -> u64 {
        self.broadcaster_last_hour.get(name).copied().unwrap_or(0)
    }

    /// Account `name`'s sends in the last hour.
    fn account_hour(&self, name: &str) -> u64 {
        self.account_last_hour.get(name).copied().unwrap_or(0)
    }
}

/// The configured broadcaster `name` (the stats may name one no longer configured).
fn configured<'a>(settings: &'a Settings, name: &str) -> Option<&'a BroadcasterInfo> {
    settings.broadcasters.iter().find(|b| b.spec.name == name)
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let now = Timestamp::now();
    let since = match &args.since {
        Some(s) => {
            let d = parse_duration(s).map_err(|m| anyhow::anyhow!("--since: {m}"))?;
            Some(SignedDuration::try_from(d)?)
        }
        None => None,
    };
    let url = match args.sandbox {
        true => &settings.sandbox_database_url,
        false => &settings.database_url,
    };
    // The live view and the A/B report read the SQLite store's own tables yet: said before
    // anything connects.
    let sqlite_only = match (args.watch, args.variants) {
        (true, _) => Some("watch"),
        (_, true) => Some("variants"),
        _ => None,
    };
    if let Some(option) = sqlite_only
        && smb_store::is_postgres_url(url)
    {
        anyhow::bail!("stats --{option}: {}", crate::config::NOT_YET_POSTGRES);
    }
    let journal = context::open_existing_journal(&settings, args.sandbox).await?;
    let store = journal.as_ref();
    // What `run` would run: stored versions, switched lists, targets added from the dashboard.
    let running = crate::running::load(settings, store, false).await?;
    if sqlite_only.is_some() {
        let Some(lite) = store.sqlite() else {
            anyhow::bail!("stats: {}", crate::config::NOT_YET_POSTGRES);
        };
        if args.watch {
            return crate::watch::run(&running.settings, lite, since).await;
        }
        return crate::reach::print_variants(
            &running.settings,
            lite,
            args.set.as_deref(),
            args.json,
        )
        .await;
    }
    let since = since.map(|d| now - d);
    let mut st = store.stats(since, now).await?;
    let extras = extras(&running, store, since, now).await?;
    // Held targets as `run --dry-run` plans them now, from the journal and the current
    // configuration (QA F10: the list the daemon last recorded went stale after a
    // configuration or zone change).
    st.held_targets = held_now(&running, store, now).await?;
    let settings = running.settings;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&to_json(&settings, &st, &extras)?)?
        )?;
    } else if args.csv {
        out!("{}", to_csv(&settings, &st, &extras))?;
    } else {
        print_text(&settings, &st, &extras)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn extras(
    running: &Running,
    store: &dyn Journal,
    since: Option<Timestamp>,
    now: Timestamp,
) -> anyhow::Result<Extras> {
    let hour = store
        .period_summary(
            now - SignedDuration::from_hours(1),
            now + SignedDuration::from_millis(1),
        )
        .await?;
    let mut x = Extras {
        broadcaster_last_hour: hour
            .broadcasters
            .iter()
            .map(|(k, v)| (k.clone(), v.sent))
            .collect(),
        account_last_hour: hour
            .accounts
            .iter()
            .map(|(k, v)| (k.clone(), v.sent))
            .collect(),
        next_send: BTreeMap::new(),
        targets: store.target_counts(since).await?,
        refused: crate::refusals::of_active_targets(
            store.refusals(now).await?,
            &store.target_statuses().await?,
        ),
        follow_ups: store.follow_up_counts().await?,
        removed: smb_engine::Store::chat_survival(store)
            .await?
            .into_iter()
            .filter(|c| c.removed_total > 0)
            .collect(),
    };
    // A throwaway planner restored from the store answers "what would the daemon do next"
    // without sending anything: the engine's virtual-clock simulation, up to each account's
    // first send.
    let mut planner = running.planner(false, now)?;
    restore_planner(&mut planner, store.as_store(), now).await?;
    for (account, next) in running
        .settings
        .accounts
        .iter()
        .zip(smb_engine::next_sends(&mut planner, now))
    {
        if let Some((at, broadcaster)) = next {
            x.next_send
                .insert(account.name.clone(), (second(at), broadcaster.to_string()));
        }
    }
    Ok(x)
}

/// Targets the chats' rules hold out of the next cycle, with the rule that decides and the
/// next allowed moment: the planner of `run --dry-run`, restored from the store, through the
/// same simulation and [`smb_engine::rule_holds`] as the dry run's list.
async fn held_now(
    running: &Running,
    store: &dyn Journal,
    now: Timestamp,
) -> anyhow::Result<Vec<smb_store::HeldTarget>> {
    let mut planner = running.plan_planner(now)?;
    restore_planner(&mut planner, store.as_store(), now).await?;
    smb_engine::planned_sends(&mut planner, now, |_, _| {});
    Ok(smb_engine::rule_holds(&planner, now)
        .into_iter()
        .map(|h| {
            smb_store::HeldTarget::new(h.target, h.reason, h.until)
                .held_for(h.broadcaster, h.account)
        })
        .collect())
}

/// A planned time to the second: the jitter makes anything finer noise.
fn second(t: Timestamp) -> Timestamp {
    t.round(jiff::Unit::Second).unwrap_or(t)
}

/// Configured names first, in configuration order, then any the store knows besides.
fn ordered<'a>(
    configured: impl Iterator<Item = &'a str>,
    stored: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let mut names: Vec<String> = configured.map(str::to_owned).collect();
    for s in stored {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    names
}

fn broadcaster_names(settings: &Settings, st: &Stats) -> Vec<String> {
    ordered(
        settings.broadcasters.iter().map(|b| b.spec.name.as_str()),
        st.broadcasters.keys(),
    )
}

fn account_names(settings: &Settings, st: &Stats) -> Vec<String> {
    ordered(
        settings.accounts.iter().map(|a| a.name.as_str()),
        st.accounts.keys(),
    )
}

/// `Stats` as JSON, with every configured broadcaster and account present and the extras added.
fn to_json(settings: &Settings, st: &Stats, x: &Extras) -> anyhow::Result<Value> {
    let mut broadcasters = serde_json::Map::new();
    for name in broadcaster_names(settings, st) {
        let s = st.broadcasters.get(&name).cloned().unwrap_or_default();
        let info = configured(settings, &name);
        let spec = info.map(|b| &b.spec);
        let mut v = serde_json::to_value(&s)?;
        v["account"] = json!(spec.map(|s| s.account.clone()));
        v["cycle_size"] = json!(spec.map(|s| s.targets.len()));
        v["target_list"] = json!(info.map(|b| b.target_list.clone()));
        v["target_mode"] = json!(info.map(crate::switch::mode_of));
        v["sent_last_hour"] = json!(x.broadcaster_hour(&name));
        broadcasters.insert(name, v);
    }
    let mut accounts = serde_json::Map::new();
    for name in account_names(settings, st) {
        let s = st.accounts.get(&name).cloned().unwrap_or_default();
        let mut v = serde_json::to_value(&s)?;
        v["sent_last_hour"] = json!(x.account_hour(&name));
        let next = x.next_send.get(&name);
        v["next_send_at"] = json!(next.map(|(t, _)| t.to_string()));
        v["next_broadcaster"] = json!(next.map(|(_, b)| b.clone()));
        accounts.insert(name, v);
    }
    let mut out = json!({
        "schema": JSON_SCHEMA,
        "since": st.since,
        "generated_at": st.generated_at,
        "totals": st.totals,
        "broadcasters": broadcasters,
        "accounts": accounts,
        "message_sets": message_sets_json(settings, st, x),
        "targets": targets_json(settings, st, x),
        "disabled_targets": st.disabled_targets,
        "held_targets": st.held_targets,
    });
    // Only when a target refused one account, so the usual document keeps its shape.
    if !x.refused.is_empty() {
        out["refused_accounts"] = x
            .refused
            .iter()
            .map(|r| {
                json!({
                    "target": r.target,
                    "account": r.account,
                    "code": r.code,
                    "reason": r.reason,
                    "recheck_at": smb_domain::rfc3339_seconds(r.until),
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    // Only when a survival check found a post of ours removed, so the usual document keeps
    // its shape.
    if !x.removed.is_empty() {
        out["removed_posts"] = x
            .removed
            .iter()
            .map(|c| {
                json!({
                    "target": c.target,
                    "removed_in_row": c.removed_in_row,
                    "removed_total": c.removed_total,
                    "flagged": c.flagged,
                    "last_removed_at": c.last_removed_at.map(smb_domain::rfc3339_seconds),
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    // Only when a broadcaster uses post_mode or pin, so the usual document keeps its shape.
    if !x.follow_ups.is_empty() {
        out["follow_ups"] = x
            .follow_ups
            .iter()
            .map(|f| {
                json!({
                    "broadcaster": f.broadcaster,
                    "action": f.action,
                    "result": f.result,
                    "code": f.code,
                    "count": f.count,
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    // Only when a group was upgraded, so the usual document keeps its shape.
    if !st.migrated_targets.is_empty() {
        out["migrated_targets"] = json!(st.migrated_targets);
    }
    Ok(out)
}

fn add_counts(sum: &mut Counts, c: &Counts) {
    sum.sent += c.sent;
    sum.failed += c.failed;
    sum.deferred += c.deferred;
    sum.pending += c.pending;
}

/// The broadcasters' figures summed per message set.
fn message_sets_json(settings: &Settings, st: &Stats, x: &Extras) -> Value {
    let mut sets: BTreeMap<String, (Vec<String>, Counts, u64)> = BTreeMap::new();
    for b in &settings.broadcasters {
        let entry = sets.entry(b.spec.messages.name.clone()).or_default();
        entry.0.push(b.spec.name.clone());
        if let Some(s) = st.broadcasters.get(&b.spec.name) {
            add_counts(&mut entry.1, &s.counts);
        }
        entry.2 += x.broadcaster_hour(&b.spec.name);
    }
    sets.into_iter()
        .map(|(name, (broadcasters, counts, last_hour))| {
            let v = json!({
                "broadcasters": broadcasters,
                "counts": counts,
                "sent_last_hour": last_hour,
            });
            (name, v)
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// Every configured target (and any other the store has deliveries for), by its canonical key.
fn targets_json(settings: &Settings, st: &Stats, x: &Extras) -> Value {
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (list, targets) in &settings.target_lists {
        for t in targets {
            let entry = lists.entry(t.key()).or_default();
            if !entry.contains(list) {
                entry.push(list.clone());
            }
        }
    }
    for t in x.targets.keys() {
        lists.entry(t.clone()).or_default();
    }
    // An upgraded group is shown under its new id, the old one as its alias, with the
    // deliveries into both counted together.
    for m in &st.migrated_targets {
        let old = lists.remove(&m.alias).unwrap_or_default();
        let entry = lists.entry(m.target.clone()).or_default();
        for l in old {
            if !entry.contains(&l) {
                entry.push(l);
            }
        }
    }
    lists
        .into_iter()
        .map(|(target, lists)| {
            let migrated = st.migrated_targets.iter().find(|m| m.target == target);
            let mut c = x.targets.get(&target).cloned().unwrap_or_default();
            if let Some(old) = migrated.and_then(|m| x.targets.get(&m.alias)) {
                c.sent += old.sent;
                c.failed += old.failed;
                c.deferred += old.deferred;
                c.pending += old.pending;
                if c.last_error.is_none() {
                    c.last_error = old.last_error.clone();
                }
            }
            let disabled = st.disabled_targets.iter().find(|d| d.target == target);
            let v = json!({
                "lists": lists,
                "status": if disabled.is_some() { "disabled" } else { "active" },
                "reason": disabled.and_then(|d| d.reason.clone()),
                "counts": {"sent": c.sent, "failed": c.failed, "deferred": c.deferred, "pending": c.pending},
                "last_error": c.last_error,
            });
            let mut v = v;
            if let Some(m) = migrated {
                v["alias"] = json!(m.alias);
            }
            // Only when it refused an account, as `alias` only for an upgraded group.
            if x.refused.iter().any(|r| r.target == target) {
                v["refused_accounts"] = crate::refusals::json(&x.refused, &target);
            }
            (target, v)
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn to_csv(settings: &Settings, st: &Stats, x: &Extras) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    let opt = |v: Option<String>| v.unwrap_or_default();
    for name in broadcaster_names(settings, st) {
        let s = st.broadcasters.get(&name).cloned().unwrap_or_default();
        let spec = configured(settings, &name).map(|b| &b.spec);
        let failures: Vec<String> = s
            .failed_by_code
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let row: [String; 22] = [
            "broadcaster".into(),
            name.clone(),
            opt(spec.map(|s| s.account.clone())),
            s.counts.sent.to_string(),
            s.counts.failed.to_string(),
            s.counts.deferred.to_string(),
            s.counts.pending.to_string(),
            x.broadcaster_hour(&name).to_string(),
            failures.join(";"),
            opt(s.current_cycle.map(|c| c.to_string())),
            s.cycle_done.to_string(),
            opt(spec.map(|s| s.targets.len().to_string())),
            s.cycle_completed.to_string(),
            s.cycles_completed.to_string(),
            opt(s.last_sent_at),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ];
        push_row(&mut out, &row);
    }
    for name in account_names(settings, st) {
        let s = st.accounts.get(&name).cloned().unwrap_or_default();
        let row: [String; 22] = [
            "account".into(),
            name.clone(),
            String::new(),
            s.counts.sent.to_string(),
            s.counts.failed.to_string(),
            s.counts.deferred.to_string(),
            s.counts.pending.to_string(),
            x.account_hour(&name).to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s.flood_waits.to_string(),
            s.flood_wait_seconds.to_string(),
            s.slowmode_waits.to_string(),
            opt(s.paused_until),
            opt(s.stopped_reason.map(|r| r.to_string())),
            opt(s.last_error),
            opt(x.next_send.get(&name).map(|(t, _)| t.to_string())),
        ];
        push_row(&mut out, &row);
    }
    out
}

fn push_row(out: &mut String, row: &[String]) {
    let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

/// A stored time (RFC 3339, UTC) in the schedule's zone, as every time of the text output is
/// shown; text that is not a time is kept as it is.
fn local(settings: &Settings, stored: &str) -> String {
    match stored.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned(settings.timezone.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => stored.to_owned(),
    }
}

/// `last_error` as stored ("CODE at TIME") with its time in the schedule's zone.
fn local_error(settings: &Settings, stored: &str) -> String {
    match stored.rsplit_once(" at ") {
        Some((code, at)) => format!("{code} at {}", local(settings, at)),
        None => stored.to_owned(),
    }
}

/// A disabled target's reason in words: a bare Telegram error name (journals written before
/// the reason was spelt out, or a name without a fixed reason) gets the error table's words.
fn reason_in_words(reason: &str) -> String {
    let bare = !reason.is_empty()
        && reason
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if bare {
        smb_domain::SendError::from_telegram(reason)
            .refusal_reason()
            .unwrap_or_else(|| reason.to_owned())
    } else {
        reason.to_owned()
    }
}

fn print_text(settings: &Settings, st: &Stats, x: &Extras) -> std::io::Result<()> {
    // QA F1b: the headers and table words follow the locale, as the reasons do.
    let lang = smb_domain::Lang::from_env();
    let since = st
        .since
        .as_ref()
        .map(|s| format!(" ({} {})", lang.pick("since", "с"), local(settings, s)))
        .unwrap_or_default();
    match lang {
        smb_domain::Lang::En => outln!(
            "total: {} sent, {} failed, {} deferred, {} pending{since}",
            st.totals.sent,
            st.totals.failed,
            st.totals.deferred,
            st.totals.pending,
        )?,
        smb_domain::Lang::Ru => outln!(
            "всего: отправлено {}, ошибок {}, отложено {}, в процессе {}{since}",
            st.totals.sent,
            st.totals.failed,
            st.totals.deferred,
            st.totals.pending,
        )?,
    }
    outln!(
        "{} {}",
        lang.pick("times in", "время в зоне"),
        settings.timezone.iana_name().unwrap_or("UTC")
    )?;
    outln!()?;
    outln!(
        "{:<12} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8}  {}",
        lang.pick("BROADCASTER", "РАССЫЛКА"),
        lang.pick("SENT", "ОТПР"),
        lang.pick("FAILED", "ОШИБ"),
        lang.pick("DEFER", "ОТЛОЖ"),
        lang.pick("/HOUR", "/ЧАС"),
        lang.pick("CYCLE", "ЦИКЛ"),
        lang.pick("DONE", "ГОТОВО"),
        lang.pick("FAILURES", "ОШИБКИ")
    )?;
    for name in broadcaster_names(settings, st) {
        let s = st.broadcasters.get(&name).cloned().unwrap_or_default();
        let size = configured(settings, &name).map(|b| b.spec.targets.len());
        let cycle = s
            .current_cycle
            .map_or_else(|| "-".into(), |c| c.to_string());
        let done = if s.cycle_completed {
            lang.pick("complete", "завершён").to_string()
        } else {
            format!(
                "{}/{}",
                s.cycle_done,
                size.map_or_else(|| "?".into(), |n| n.to_string())
            )
        };
        let failures: Vec<String> = s
            .failed_by_code
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        outln!(
            "{:<12} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8}  {}",
            name,
            s.counts.sent,
            s.counts.failed,
            s.counts.deferred,
            x.broadcaster_hour(&name),
            cycle,
            done,
            failures.join(", ")
        )?;
    }
    let lists: Vec<String> = settings
        .broadcasters
        .iter()
        .map(|b| {
            format!(
                "{} {} ({})",
                b.spec.name,
                crate::switch::mode_of(b).as_str(),
                b.target_list
            )
        })
        .collect();
    if !lists.is_empty() {
        outln!(
            "{} {}",
            lang.pick("target lists:", "списки чатов:"),
            lists.join(", ")
        )?;
    }
    let now = Timestamp::now();
    for b in &settings.broadcasters {
        if let Some(w) = crate::quiet::waiting(&b.spec.schedule, now) {
            outln!("{} — {}: {w}", lang.pick("waiting", "ждёт"), b.spec.name)?;
        }
    }
    outln!()?;
    outln!(
        "{:<10} {:>6} {:>6} {:>12} {:>9} {:<20}  {}",
        lang.pick("ACCOUNT", "АККАУНТ"),
        lang.pick("SENT", "ОТПР"),
        lang.pick("FAILED", "ОШИБ"),
        lang.pick("FLOOD WAITS", "FLOOD WAIT"),
        lang.pick("SLOWMODE", "МЕДЛ.РЕЖ"),
        lang.pick("NEXT SEND", "СЛЕДУЮЩАЯ"),
        lang.pick("STATE", "СОСТОЯНИЕ")
    )?;
    for name in account_names(settings, st) {
        let s = st.accounts.get(&name).cloned().unwrap_or_default();
        let state = if let Some(r) = &s.stopped_reason {
            format!("{}: {r}", lang.pick("STOPPED", "ОСТАНОВЛЕН"))
        } else if let Some(p) = &s.paused_until {
            format!(
                "{} {}",
                lang.pick("paused until", "пауза до"),
                local(settings, p)
            )
        } else {
            "ok".to_string()
        };
        let next = match x.next_send.get(&name) {
            Some((t, _)) => t
                .to_zoned(settings.timezone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string(),
            None => "-".into(),
        };
        let last = s
            .last_error
            .map(|e| {
                format!(
                    "; {} {}",
                    lang.pick("last error", "последняя ошибка"),
                    local_error(settings, &e)
                )
            })
            .unwrap_or_default();
        outln!(
            "{:<10} {:>6} {:>6} {:>5} ({:>4}s) {:>9} {:<20}  {state}{last}",
            name,
            s.counts.sent,
            s.counts.failed,
            s.flood_waits,
            s.flood_wait_seconds,
            s.slowmode_waits,
            next
        )?;
    }
    if !st.migrated_targets.is_empty() {
        outln!()?;
        outln!(
            "upgraded groups (posts follow the new id; replace the old one in the configuration):"
        )?;
        for m in &st.migrated_targets {
            outln!(
                "  {:<16} was {:<14} since {}  sent {}, failed {}",
                m.target,
                m.alias,
                local(settings, &m.since),
                m.counts.sent,
                m.counts.failed
            )?;
        }
    }
    if !st.disabled_targets.is_empty() {
        outln!()?;
        outln!("{}", lang.pick("disabled targets:", "отключённые чаты:"))?;
        for t in &st.disabled_targets {
            outln!(
                "  {:<28} since {}  {}",
                t.target,
                local(settings, &t.since),
                reason_in_words(t.reason.as_deref().unwrap_or_default())
            )?;
        }
    }
    if !x.refused.is_empty() {
        // One account refused while the others post there: the same section whether a send
        // or the pre-flight check found it (QA F2, F2b).
        outln!()?;
        outln!(
            "{}",
            lang.pick(
                "refused for one account (the other accounts go on posting there):",
                "отказ одному аккаунту (остальные аккаунты пишут туда дальше):"
            )
        )?;
        for r in &x.refused {
            outln!(
                "  {:<28} {:<10} {} {}  {}",
                r.target,
                r.account,
                lang.pick("re-check", "перепроверка"),
                smb_domain::local_minute(r.until, &settings.timezone),
                crate::refusals::words(r, lang)
            )?;
        }
    }
    if !x.removed.is_empty() {
        // The survival check (docs/posts.md): chats whose admins removed our posts; a flagged
        // one is for the operator to decide about.
        outln!()?;
        outln!(
            "{}",
            lang.pick(
                "our posts removed by the chat's admins (in a row / in all):",
                "наши посты, удалённые админами чата (подряд / всего):"
            )
        )?;
        for c in &x.removed {
            let flag = if c.flagged {
                lang.pick(
                    "FLAGGED: our posts are being removed",
                    "ВНИМАНИЕ: наши посты удаляют",
                )
            } else {
                ""
            };
            outln!(
                "  {:<28} {:>3} / {:<4} {}",
                c.target,
                c.removed_in_row,
                c.removed_total,
                flag
            )?;
        }
    }
    if !x.follow_ups.is_empty() {
        // post_mode / pin (docs/posts.md): what became of the follow-ups to our posts; a
        // refusal names Telegram's error (the old post or pin was left as it was).
        outln!()?;
        outln!(
            "{}",
            lang.pick(
                "follow-ups to our posts (post_mode, pin):",
                "действия с нашими постами (post_mode, pin):"
            )
        )?;
        for f in &x.follow_ups {
            outln!(
                "  {:<16} {:<7} {:<8} {:>6}  {}",
                f.broadcaster,
                f.action,
                f.result,
                f.count,
                f.code.as_deref().unwrap_or("")
            )?;
        }
    }
    if !st.held_targets.is_empty() {
        outln!()?;
        outln!(
            "{}",
            lang.pick(
                "held by their chat's rules (as `run --dry-run` plans the next cycle):",
                "придержаны правилами чата (как в плане `run --dry-run`):"
            )
        )?;
        for t in &st.held_targets {
            outln!(
                "{}",
                held_line(
                    &t.target,
                    t.broadcaster.as_deref().zip(t.account.as_deref()),
                    t.until_at,
                    &t.why,
                    lang,
                    &settings.timezone
                )
            )?;
        }
    }
    Ok(())
}

/// One line of a held list (`stats`, `run --dry-run`, `targets check`): the target, whose
/// send is held when known (`broadcaster`, `account`: another broadcaster may post into the
/// same target meanwhile), the next allowed local minute and the rule in words.
pub(crate) fn held_line(
    target: &str,
    who: Option<(&str, &str)>,
    until: jiff::Timestamp,
    why: &smb_domain::HoldReason,
    lang: smb_domain::Lang,
    tz: &jiff::tz::TimeZone,
) -> String {
    let who = who.map_or_else(String::new, |(b, a)| {
        format!(" {} {b} ({a})", lang.pick("for", "для"))
    });
    format!(
        "  {:<28}{who} {} {}  {}",
        target,
        lang.pick("next allowed", "можно с"),
        smb_domain::local_minute(until, tz),
        why.words(lang, tz)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
