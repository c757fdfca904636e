//! The daemon's side of issue 17: the reach collector ([`smb_engine::ReachCollector`]) wired to
//! the journal, the gateway and the planner's send pauses, and `auto_winner` — after a round
//! that stored figures, each message set with A/B variants is judged
//! ([`smb_store::variants::winner`]); a significant result with `min_sample` measured posts
//! per variant makes the losing variant inactive as a new message-set version, hands it to
//! the broadcasters (from their next cycle) and notifies the operator. docs/variants.md.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::MessageSet;
use smb_engine::{
    Clock, Control, DriverHandle, EngineEvent, EventSink, Reach, ReachCollector, ReachLoopSettings,
    SendPaused,
};
use smb_store::SqliteStore;
use tokio_util::sync::CancellationToken;

use crate::config::{ReachSettings, Settings};

/// The `source` a version stored by `auto_winner` names (`messages history` shows it).
pub const AUTO_WINNER_SOURCE: &str = "auto_winner";

/// The message sets with A/B variants that broadcasters post, with those broadcasters.
fn judged_sets(settings: &Settings) -> BTreeMap<String, (MessageSet, Vec<String>)> {
    let mut sets: BTreeMap<String, (MessageSet, Vec<String>)> = BTreeMap::new();
    for b in &settings.broadcasters {
        let set = &b.spec.messages;
        if !set.messages.iter().any(|m| m.variant.is_some()) {
            continue;
        }
        sets.entry(set.name.clone())
            .or_insert_with(|| (set.clone(), Vec::new()))
            .1
            .push(b.spec.name.clone());
    }
    sets
}

/// `auto_winner` over every judged set: the versions stored (set, loser, version).
/// A store failure is logged and leaves the set as it is (judged again next round).
pub async fn judge(
    store: &SqliteStore,
    sets: &mut BTreeMap<String, (MessageSet, Vec<String>)>,
    reach: &ReachSettings,
    handle: Option<&DriverHandle>,
    sink: &dyn EventSink,
    now: Timestamp,
) -> Vec<(String, String, i64)> {
    let mut retired = Vec::new();
    for (name, (set, broadcasters)) in sets.iter_mut() {
        let posts = match store.variant_posts(Some(broadcasters)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(set = %name, error = %e, "auto_winner: the posts cannot be read");
                continue;
            }
        };
        let Some(v) = smb_store::variants::winner(&posts, reach.min_sample as usize) else {
            continue;
        };
        // Already retired (this process or an earlier one): nothing to do.
        if !set
            .messages
            .iter()
            .any(|m| m.active && m.variant.as_deref() == Some(v.worse.as_str()))
        {
            continue;
        }
        let next = smb_store::variants::retire(set, &v.worse);
        let summary = format!(
            "auto_winner: variant {} beats {} (p = {:.4}); {} made inactive",
            v.better, v.worse, v.p_value, v.worse
        );
        let version = match store
            .save_message_set_version(name, &next.messages, &summary, AUTO_WINNER_SOURCE, now)
            .await
        {
            Ok(Some(version)) => version,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(set = %name, error = %e, "auto_winner: the new version cannot be stored; the set stays as it is");
                continue;
            }
        };
        tracing::info!(set = %name, winner = %v.better, loser = %v.worse, p_value = v.p_value, version, "auto_winner retired the losing variant");
        if let Some(h) = handle {
            h.control(Control::ReplaceMessages(next.clone())).await;
        }
        sink.emit(&EngineEvent::VariantRetired {
            set: name.clone(),
            winner: v.better.clone(),
            loser: v.worse.clone(),
            p_value: v.p_value,
            version,
        });
        retired.push((name.clone(), v.worse.clone(), version));
        *set = next;
    }
    retired
}

/// Starts the reach collector of a daemon round (nothing when `reach_after` is off): it reads
/// through `gateway` as each post's account, never while that account's sends are paused,
/// until `shutdown`.
pub fn spawn(
    settings: &Settings,
    store: Arc<SqliteStore>,
    gateway: Arc<dyn Reach>,
    clock: Arc<dyn Clock>,
    handle: DriverHandle,
    sink: Arc<dyn EventSink>,
    shutdown: CancellationToken,
) {
    let reach = settings.reach.clone();
    if reach.after.is_empty() {
        tracing::info!("reach_after is off: no reach is read");
        return;
    }
    let paused_handle = handle.clone();
    let send_paused: SendPaused = Arc::new(move |a: &str| paused_handle.send_paused(a));
    let collector = ReachCollector::new(
        store.clone(),
        gateway,
        clock.clone(),
        send_paused,
        ReachLoopSettings::daemon(reach.after.clone()),
    );
    let sets = Arc::new(tokio::sync::Mutex::new(judged_sets(settings)));
    tracing::info!(
        after = %reach.after_words(),
        auto_winner = reach.auto_winner,
        "reach of our posts is read"
    );
    tokio::spawn(collector.run(shutdown, move |round| {
        let (sets, store, handle, sink, reach) = (
            sets.clone(),
            store.clone(),
            handle.clone(),
            sink.clone(),
            reach.clone(),
        );
        let now = clock.now();
        async move {
            if reach.auto_winner && round.recorded > 0 {
                let mut sets = sets.lock().await;
                judge(&store, &mut sets, &reach, Some(&handle), sink.as_ref(), now).await;
            }
        }
    }));
}

/// `stats --variants [--set NAME] [--json]`: the A/B report of each set with variants (the
/// JSON is `/api/v1/variants`'s). An unknown `--set` is an error naming the sets there are.
pub async fn print_variants(
    settings: &Settings,
    store: &SqliteStore,
    only: Option<&str>,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let mut sets: BTreeMap<String, Vec<String>> = judged_sets(settings)
        .into_iter()
        .map(|(k, (_, b))| (k, b))
        .collect();
    if let Some(name) = only {
        let Some(b) = sets.remove(name) else {
            let known: Vec<&str> = sets.keys().map(String::as_str).collect();
            anyhow::bail!(
                "--set {name}: no message set `{name}` with A/B variants (texts with `variant = \"A\"`); {}",
                if known.is_empty() {
                    "no set has variants".to_owned()
                } else {
                    format!("sets with variants: {}", known.join(", "))
                }
            );
        };
        sets = BTreeMap::from([(name.to_owned(), b)]);
    }
    let reports =
        smb_store::variants::reports(store, &sets, settings.reach.min_sample as usize).await?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&smb_web::api::variants::document(&reports))?
        )?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if reports.is_empty() {
        outln!(
            "no message set has A/B variants (texts with `variant = \"A\"`); see docs/variants.md"
        )?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            outln!()?;
        }
        for line in variant_lines(r, &settings.reach) {
            outln!("{line}")?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn fig(f: &Option<smb_store::variants::Figure>) -> String {
    match f {
        None => "—".to_owned(),
        Some(f) if f.low == f.high => format!("{:.1} (median {:.1})", f.mean, f.median),
        Some(f) => format!(
            "{:.1} [{:.1}–{:.1}] (median {:.1})",
            f.mean, f.low, f.high, f.median
        ),
    }
}

/// The text of one set's report: a header, a row per variant, the verdict.
pub fn variant_lines(r: &smb_store::variants::SetReport, reach: &ReachSettings) -> Vec<String> {
    let mut out = vec![format!(
        "message set {} (broadcasters: {}): reach read {} after each post; compared on {}",
        r.set,
        r.broadcasters.join(", "),
        reach.after_words(),
        r.compared_on
    )];
    let header = [
        "variant".to_owned(),
        "posts".to_owned(),
        "measured".to_owned(),
        "views: mean [95 %] (median)".to_owned(),
        "reactions".to_owned(),
        "replies".to_owned(),
    ];
    let rows: Vec<[String; 6]> = r
        .variants
        .iter()
        .map(|v| {
            [
                v.variant.clone(),
                v.posts.to_string(),
                v.measured.to_string(),
                fig(&v.views),
                fig(&v.reactions),
                fig(&v.replies),
            ]
        })
        .collect();
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([header[c].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..6).map(width).collect();
    let line = |cells: &[String; 6]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    out.push(format!("  {}", line(&header)));
    for row in &rows {
        out.push(format!("  {}", line(row)));
    }
    let auto = match (&r.verdict, r.decided, reach.auto_winner) {
        (Some(v), true, true) => format!("; auto_winner retires {}", v.worse),
        (Some(v), true, false) => format!(
            "; auto_winner is off (`auto_winner = true` would retire {})",
            v.worse
        ),
        _ => String::new(),
    };
    out.push(format!(
        "  verdict: {} (Welch's t-test, 5 % level){auto}",
        r.conclusion
    ));
    out
}
