//! `run`: the daemon. Builds the planner from the configuration, restores it from the store
//! and drives it through the chosen gateway until a signal (or `--once`) ends it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use smb_engine::planner::{Effect, Event, Planner, PlannerSettings};
use smb_engine::{Driver, DriverSettings, SentMessage, SystemClock, restore_planner};
use smb_store::SqliteStore;
use smb_telegram::SimGateway;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Cli;
use crate::config::{Overrides, Settings};
use crate::context;
use crate::daemon::{Daemon, DaemonPaths};
use crate::observe::Observers;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use the simulated Telegram (no account needed; writes data/sandbox/ledger.jsonl).
    #[arg(long)]
    pub sandbox: bool,
    /// Print the plan of the next cycle (which message to which chat at what time) and exit,
    /// without sending or writing deliveries.
    #[arg(long)]
    pub dry_run: bool,
    /// Post to each broadcaster's test list (TEST_MODE=true).
    #[arg(long)]
    pub test_mode: bool,
    /// Ignore the start hour and quiet hours (the original's night test).
    #[arg(long)]
    pub ignore_quiet_hours: bool,
    /// Every broadcaster completes one cycle (starting at once), then exit 0.
    #[arg(long)]
    pub once: bool,
    /// Do not serve /metrics (METRICS_BIND, default 127.0.0.1:9898).
    #[arg(long)]
    pub no_metrics: bool,
    /// Do not serve the dashboard and REST API (WEB_BIND, default 127.0.0.1:8080).
    #[arg(long)]
    pub no_web: bool,
    /// Run in the background (own session, output to daemon.log under the data directory);
    /// prints the pid. `status`, `stop`, `restart` and `reload` talk to it.
    #[arg(long, conflicts_with = "dry_run")]
    pub detach: bool,
}

pub fn planner_for(settings: &Settings, once: bool, now: Timestamp) -> anyhow::Result<Planner> {
    Ok(Planner::new(
        settings.accounts.clone(),
        settings
            .broadcasters
            .iter()
            .map(|b| b.spec.clone())
            .collect(),
        PlannerSettings {
            once,
            seed: rand::random(),
            recheck_after: Duration::from_secs(24 * 3600),
        },
        now,
    )?)
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        test_mode: args.test_mode,
        ignore_quiet_hours: args.ignore_quiet_hours,
    };
    let mut settings = context::settings(cli, &overrides, args.sandbox)?;
    // A dashboard reachable from the network without WEB_TOKEN: refuse before anything starts.
    crate::web::web_settings(&settings, args.no_web || args.dry_run)?;
    if args.detach {
        let paths = DaemonPaths::for_settings(&settings, args.sandbox);
        let pid =
            crate::daemon::detach::spawn(&paths, &crate::daemon::detach::own_args(), None).await?;
        println!(
            "started in the background: pid {pid} (output: {})",
            paths.output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::daemon::detach::enter_own_session();
    let _log = context::init_logging(&settings, !crate::daemon::detached())?;
    let shutdown = CancellationToken::new();
    let daemon = match args.dry_run {
        true => None,
        false => {
            let (config, env_file, sandbox) =
                (cli.config.clone(), cli.env_file.clone(), args.sandbox);
            let loader = Box::new(move || {
                let cli = Cli {
                    config: config.clone(),
                    env_file: env_file.clone(),
                    command: None,
                };
                context::settings(&cli, &overrides, sandbox)
            });
            Some(Daemon::start(
                &settings,
                args.sandbox,
                loader,
                shutdown.clone(),
            )?)
        }
    };
    tokio::spawn(stop_on_signal(shutdown.clone()));
    context::check_integrity(&settings, args.sandbox).await?;
    let store = Arc::new(context::open_store(&settings, args.sandbox).await?);
    let mut reloaded = None;
    loop {
        let code = serve(
            cli,
            args,
            settings,
            &store,
            daemon.as_ref(),
            &shutdown,
            reloaded.take(),
        )
        .await?;
        // A reload ends the round with the new settings waiting; anything else ends the run.
        match daemon.as_ref().and_then(Daemon::take_reload) {
            Some(r) => {
                settings = r.settings;
                reloaded = Some(r.done);
            }
            None => return Ok(code),
        }
    }
}

/// One round of the daemon: the planner built from `settings` and restored from the journal,
/// driven until the daemon stops or a reload ends the round.
async fn serve(
    cli: &Cli,
    args: &Args,
    mut settings: Settings,
    store: &Arc<SqliteStore>,
    daemon: Option<&Daemon>,
    stop: &CancellationToken,
    reloaded: Option<oneshot::Sender<Result<String, String>>>,
) -> anyhow::Result<ExitCode> {
    let store = store.clone();
    if !args.dry_run {
        crate::commands::messages::fetch_missing(cli, &settings, store.as_ref(), args.once).await?;
    }
    let applied =
        crate::commands::messages::use_stored_versions(&mut settings, store.as_ref()).await?;
    crate::switch::apply_stored(&mut settings, store.as_ref(), args.test_mode).await?;
    crate::web::merge_added_targets(&mut settings, store.as_ref()).await?;
    let now = Timestamp::now();
    let mut planner = planner_for(&settings, args.once || args.dry_run, now)?;
    if args.dry_run {
        restore_planner(&mut planner, store.as_ref(), now).await?;
        print_plan(planner, now, &settings);
        return Ok(ExitCode::SUCCESS);
    }
    let telegram = match args.sandbox {
        true => None,
        false => Some(crate::telegram::start_gateway(&settings, store.as_ref()).await?),
    };
    let gateway: Arc<dyn smb_engine::Gateway> = match &telegram {
        Some(t) => t.clone(),
        None => {
            Arc::new(SimGateway::new(settings.sandbox.clone()).context("starting the sandbox")?)
        }
    };
    let observers = Observers::start(&settings, &store, !args.no_metrics).await?;
    let driver = Driver::restore(
        planner,
        observers.timed(store.clone()),
        gateway,
        Arc::new(SystemClock),
        observers.sink(),
        DriverSettings::default(),
    )
    .await?;
    let shutdown = match daemon {
        Some(d) => d.begin_round(driver.handle(), &settings),
        None => stop.child_token(),
    };
    if let Some(done) = reloaded {
        let _ = done.send(Ok(format!(
            "reloaded: {} broadcasters on {} accounts",
            settings.broadcasters.len(),
            settings.accounts.len()
        )));
    }
    if !args.once {
        let (store, handle) = (store.clone(), driver.handle());
        crate::commands::messages::spawn_refresh(
            cli,
            &settings,
            store,
            applied,
            handle,
            shutdown.clone(),
        )?;
    }
    eprintln!(
        "running {} broadcasters on {} accounts ({}{}); Ctrl-C stops",
        settings.broadcasters.len(),
        settings.accounts.len(),
        if args.sandbox { "sandbox" } else { "Telegram" },
        if settings.test_mode {
            ", test mode"
        } else {
            ""
        }
    );
    let web = match crate::web::web_settings(&settings, args.no_web)? {
        Some(web) => {
            let metrics = observers.metrics_router();
            let started = crate::web::WebServer::start(
                cli,
                &settings,
                &web,
                &store,
                driver.handle(),
                metrics,
                args.sandbox,
            );
            // The broadcasts matter more than the dashboard: a taken port is reported, not fatal.
            started
                .await
                .map_err(|e| eprintln!("warning: the dashboard is off: {e:#}"))
                .ok()
        }
        None => None,
    };
    let ran = driver.run(shutdown).await;
    if let Some(web) = web {
        web.stop().await;
    }
    observers.stop().await;
    if let Some(t) = &telegram {
        crate::telegram::save_sessions(t);
    }
    ran?;
    if !stop.is_cancelled() && !args.once {
        // A reload ended this round; the next one starts at once.
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "stopped; `sendmessagebot stats{}` shows what was sent",
        if args.sandbox { " --sandbox" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: finishing the send in flight");
    shutdown.cancel();
}

/// Runs a copy of the planner on a virtual clock where every send succeeds, and prints what
/// it would do for one cycle of each broadcaster.
fn print_plan(mut planner: Planner, start: Timestamp, settings: &Settings) {
    let tz = settings.timezone.clone();
    let n = planner.account_count();
    let mut wake: Vec<Option<Timestamp>> = vec![Some(start); n];
    let mut lines = 0usize;
    println!(
        "plan of the next cycle (times in {}):",
        tz.iana_name().unwrap_or("UTC")
    );
    for _ in 0..10_000_000u64 {
        if planner.finished() {
            break;
        }
        let Some((account, now)) = wake
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)
        else {
            break;
        };
        let fx = planner.handle(Event::Poll { account }, now);
        wake[account] = None;
        for e in fx {
            match e {
                Effect::Wait { until } => wake[account] = until,
                Effect::Send(d) => {
                    let text: String = d.text.chars().take(60).collect();
                    let more = if d.text.chars().count() > 60 {
                        "…"
                    } else {
                        ""
                    };
                    println!(
                        "{}  {:<10} {:<8} {:<28} {}{}",
                        now.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"),
                        d.broadcaster_name,
                        d.account_name,
                        d.target.to_string(),
                        text.replace('\n', " "),
                        more
                    );
                    lines += 1;
                    let _ = planner.handle(
                        Event::Outcome {
                            delivery: d,
                            result: Ok(SentMessage { message_id: None }),
                        },
                        now,
                    );
                    wake[account] = Some(now);
                }
                _ => {}
            }
        }
    }
    if lines == 0 {
        println!("(nothing to send: every broadcaster is paused, stopped or has no active target)");
    }
}
