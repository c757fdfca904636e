//! `stats`: figures from the store; works beside a running daemon.

use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};

use crate::Cli;
use crate::config::{Overrides, parse_duration};
use crate::context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only what happened in this last period ("24h", "90m", "7d").
    #[arg(long)]
    since: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Figures of the sandbox database instead of the real one.
    #[arg(long)]
    sandbox: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let now = Timestamp::now();
    let since = match &args.since {
        Some(s) => {
            let d = parse_duration(s).map_err(|m| anyhow::anyhow!("--since: {m}"))?;
            Some(now - SignedDuration::try_from(d)?)
        }
        None => None,
    };
    let store = context::open_store(&settings, args.sandbox).await?;
    let st = store.stats(since, now).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "total: {} sent, {} failed, {} deferred, {} pending{}",
        st.totals.sent,
        st.totals.failed,
        st.totals.deferred,
        st.totals.pending,
        st.since.as_ref().map(|s| format!(" (since {s})")).unwrap_or_default()
    );
    println!();
    println!("{:<12} {:>6} {:>6} {:>6} {:>9} {:>8}  {}", "BROADCASTER", "SENT", "FAILED", "DEFER", "CYCLE", "DONE", "FAILURES");
    for b in &settings.broadcasters {
        let s = st.broadcasters.get(&b.spec.name).cloned().unwrap_or_default();
        let cycle = s.current_cycle.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let done = if s.cycle_completed {
            "complete".to_string()
        } else {
            format!("{}/{}", s.cycle_done, b.spec.targets.len())
        };
        let failures: Vec<String> = s.failed_by_code.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        println!(
            "{:<12} {:>6} {:>6} {:>6} {:>9} {:>8}  {}",
            b.spec.name, s.counts.sent, s.counts.failed, s.counts.deferred, cycle, done, failures.join(", ")
        );
    }
    println!();
    println!("{:<10} {:>6} {:>6} {:>12} {:>9}  {}", "ACCOUNT", "SENT", "FAILED", "FLOOD WAITS", "SLOWMODE", "STATE");
    for a in &settings.accounts {
        let s = st.accounts.get(&a.name).cloned().unwrap_or_default();
        let state = if let Some(r) = &s.stopped_reason {
            format!("STOPPED: {r}")
        } else if let Some(p) = &s.paused_until {
            format!("paused until {p}")
        } else {
            "ok".to_string()
        };
        let last = s.last_error.map(|e| format!("; last error {e}")).unwrap_or_default();
        println!(
            "{:<10} {:>6} {:>6} {:>5} ({:>4}s) {:>9}  {state}{last}",
            a.name, s.counts.sent, s.counts.failed, s.flood_waits, s.flood_wait_seconds, s.slowmode_waits
        );
    }
    if !st.disabled_targets.is_empty() {
        println!();
        println!("disabled targets:");
        for t in &st.disabled_targets {
            println!("  {:<28} since {}  {}", t.target, t.since, t.reason.clone().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}
