//! `run`: the daemon. Builds the planner from the configuration, restores it from the store
//! and drives it through the chosen gateway until a signal (or `--once`) ends it.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use jiff::Timestamp;
use smb_engine::planner::Planner;
use smb_engine::{Driver, DriverSettings, SystemClock, restore_planner};
use smb_store::{Journal, SqliteStore};
use smb_telegram::SimGateway;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Cli;
use crate::config::{Overrides, Settings};
use crate::context;
use crate::daemon::{Asked, Bound, Daemon, DaemonPaths, Prepared, Preparer, ReloadRequest};
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

/// The driver's settings: the pre-flight check every `preflight_every` (24 h by default with
/// Telegram; in the sandbox only when set, so fault rules still meet their sends; 0: never).
fn driver_settings(settings: &Settings, sandbox: bool) -> DriverSettings {
    let every = match settings.preflight_every {
        Some(d) => Some(d),
        None if sandbox => None,
        None => Some(std::time::Duration::from_secs(24 * 3600)),
    };
    DriverSettings {
        preflight_every: every.filter(|d| !d.is_zero()),
        ..DriverSettings::default()
    }
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        test_mode: args.test_mode,
        ignore_quiet_hours: args.ignore_quiet_hours,
    };
    // A dashboard reachable from the network without WEB_TOKEN: refused before anything starts.
    let mut settings =
        context::run_settings(cli, &overrides, args.sandbox, args.no_web || args.dry_run)?;
    // A journal beside the configuration but none here: refused before anything is created.
    if let Some(problem) = context::journal_elsewhere(&settings, args.sandbox) {
        anyhow::bail!("{problem}");
    }
    if args.detach {
        let paths = DaemonPaths::for_settings(&settings, args.sandbox);
        let pid =
            crate::daemon::detach::spawn(&paths, &crate::daemon::detach::own_args(), None).await?;
        outln!(
            "started in the background: pid {pid} (output: {})",
            paths.output.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::daemon::detach::enter_own_session();
    let _log = context::init_logging(&settings, !crate::daemon::detached())?;
    // A misspelt `.env` name is otherwise ignored without a word (its default is used).
    for w in crate::config::unknown_env_names(&cli.env_file) {
        tracing::warn!("{w}");
        eprintln!("warning: {w}");
    }
    for w in settings
        .broadcasters
        .iter()
        .filter_map(|b| crate::config::on_update_pending(&b.spec))
    {
        tracing::warn!("{w}");
    }
    if !args.sandbox {
        // Session keys others can read: said at every start, with the fix (SECURITY.md).
        let env_file = crate::perms::env_file(&cli.env_file);
        for loose in crate::perms::of_settings(&settings)
            .into_iter()
            .chain(env_file)
        {
            tracing::warn!("{}", loose.message);
            eprintln!("warning: {}", loose.message);
        }
    }
    if !args.dry_run {
        crate::daemon::raise_open_files(crate::web::server_limits(&settings)?.max_connections);
    }
    let shutdown = CancellationToken::new();
    let daemon = match args.dry_run {
        true => None,
        false => {
            let (config, env_file) = (cli.config.clone(), cli.env_file.clone());
            let (sandbox, no_web, no_metrics) = (args.sandbox, args.no_web, args.no_metrics);
            let prepare: Preparer = Box::new(move |running| {
                let cli = Cli {
                    config: config.clone(),
                    env_file: env_file.clone(),
                    command: None,
                };
                let settings = context::settings(&cli, &overrides, sandbox)?;
                prepare_reload(&cli, settings, running, no_web, no_metrics)
            });
            Some(Daemon::start(
                &settings,
                args.sandbox,
                prepare,
                shutdown.clone(),
            )?)
        }
    };
    tokio::spawn(stop_on_signal(shutdown.clone()));
    context::check_integrity(&settings, args.sandbox).await?;
    if args.dry_run {
        return dry_run(args, settings).await;
    }
    let store = context::open_journal(&settings, args.sandbox).await?;
    // Several servers on one PostgreSQL database (issue 16): each drives only the accounts it
    // holds a lease on (`run --once` drives all, as a one-off command).
    let keeper = match (store.postgres(), args.once) {
        (Some(pg), false) => Some(crate::cluster::Keeper::start(
            pg.clone(),
            &settings,
            shutdown.clone(),
        )),
        _ => None,
    };
    let keeper = keeper.as_ref();
    let mut sockets = Sockets::default();
    let mut reload: Option<ReloadRequest> = None;
    let daemon = daemon.as_ref();
    let mut leased: Option<BTreeSet<String>> = None;
    loop {
        if let Some(k) = keeper {
            // The leases this round drives; after a round that ended by itself with the same
            // leases, wait for a change first (never a busy loop).
            if reload.is_none()
                && let Some(before) = &leased
            {
                k.changed_from(before, &shutdown).await;
            }
            if shutdown.is_cancelled() {
                k.leave().await;
                let _ = store.close().await;
                return Ok(ExitCode::SUCCESS);
            }
        }
        let lease_start = std::time::Instant::now();
        let round = match reload.take() {
            None => start(
                cli,
                args,
                &settings,
                &store,
                daemon,
                &shutdown,
                &mut sockets,
                None,
                keeper,
            )
            .await
            .map_err(RoundError::into_error)?,
            Some(ReloadRequest { prepared, done }) => {
                // The new round serves on the sockets bound for changed addresses, and on the
                // running ones otherwise; the old ones stay ours until it has started.
                let (new_web, new_metrics) = (prepared.web.is_some(), prepared.metrics.is_some());
                let mut next = Sockets {
                    web: prepared.web.or_else(|| sockets.web.take()),
                    metrics: prepared.metrics.or_else(|| sockets.metrics.take()),
                    check: sockets.check.clone(),
                };
                let started = start(
                    cli,
                    args,
                    &prepared.settings,
                    &store,
                    daemon,
                    &shutdown,
                    &mut next,
                    Some(done),
                    keeper,
                )
                .await;
                match started {
                    Ok(round) => {
                        // Fully: the new configuration and its sockets; replaced ones close here.
                        settings = prepared.settings;
                        sockets = next;
                        round
                    }
                    Err(RoundError { error, reply }) => {
                        // Not at all: the old configuration again, on the old sockets (and
                        // its groups of accounts under the leases).
                        if let Some(k) = keeper {
                            k.reconfigure(&settings);
                        }
                        let reason = format!("{error:#}");
                        tracing::warn!(error = %reason, "reload refused: the daemon goes on with its old configuration");
                        if let Some(done) = reply {
                            let _ = done.send(Err(reason));
                        }
                        if !new_web {
                            sockets.web = next.web.take();
                        }
                        if !new_metrics {
                            sockets.metrics = next.metrics.take();
                        }
                        drop(next);
                        start(
                            cli,
                            args,
                            &settings,
                            &store,
                            daemon,
                            &shutdown,
                            &mut sockets,
                            None,
                            keeper,
                        )
                        .await
                        .map_err(RoundError::into_error)?
                    }
                }
            }
        };
        let (round, held) = round;
        if keeper.is_some() {
            let started_in_ms =
                u64::try_from(lease_start.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(leases = ?held, started_in_ms, "cluster: round started");
        }
        let code = round.run(args, &shutdown, &mut sockets).await;
        if let Some(k) = keeper {
            // Nothing of the old round sends any more: its surplus leases may be given back.
            k.driving(BTreeSet::new());
        }
        let code = match code {
            // A round of a cluster ended by a lease change while its journal refused writes
            // (fenced: the lease went to another server): nothing was sent without its
            // journal entry; the next round drives what this server holds now.
            Err(e) if keeper.is_some() && !shutdown.is_cancelled() => {
                tracing::warn!(error = %format!("{e:#}"), "cluster: the round ended with its journal refusing writes; a new round starts with the leases held now");
                ExitCode::SUCCESS
            }
            other => other?,
        };
        leased = held;
        // A reload ends the round with the new settings waiting; so does a change of the
        // leases held (a new round with the same settings); anything else ends the run.
        match daemon.and_then(Daemon::take_reload) {
            Some(r) => {
                if let Some(k) = keeper {
                    k.reconfigure(&r.prepared.settings);
                }
                reload = Some(r);
            }
            None if keeper.is_some() && !shutdown.is_cancelled() => {}
            None => {
                if let Some(k) = keeper {
                    k.leave().await;
                }
                // A clean exit leaves an empty WAL beside the journal (docs/performance.md).
                if let Err(e) = store.close().await {
                    tracing::warn!(error = %e.report(), "the journal's WAL was not checkpointed at exit; the next start replays it");
                }
                return Ok(code);
            }
        }
    }
}

/// The first phase of a reload (see `crate::daemon`): what the next round would refuse is
/// refused now, and changed web and metrics addresses are bound, while the running round goes
/// on untouched.
fn prepare_reload(
    cli: &Cli,
    settings: Settings,
    running: Asked,
    no_web: bool,
    no_metrics: bool,
) -> anyhow::Result<Prepared> {
    let web = crate::web::web_settings(&settings, no_web)?;
    Observers::check(&settings)?;
    check_sources(cli, &settings)?;
    crate::running::planner_for(&settings, false, Timestamp::now())?;
    let asked = asked(&settings, no_web, no_metrics)?;
    let web = match web {
        Some(w) if running.web != Some(w.bind) => {
            Some(Bound::bind(w.bind, "the dashboard", WEB_FIX)?)
        }
        _ => None,
    };
    let metrics = match asked.metrics {
        Some(m) if running.metrics != Some(m) => Some(Bound::bind(m, "/metrics", METRICS_FIX)?),
        _ => None,
    };
    Ok(Prepared {
        settings,
        web,
        metrics,
    })
}

use crate::daemon::{METRICS_FIX, WEB_FIX};

/// The addresses `settings` asks the dashboard and `/metrics` to serve on.
fn asked(settings: &Settings, no_web: bool, no_metrics: bool) -> anyhow::Result<Asked> {
    Ok(Asked {
        web: crate::web::web_settings(settings, no_web)?.map(|w| w.bind),
        metrics: match no_metrics {
            true => None,
            false => Some(settings.sections.metrics_bind),
        },
    })
}

/// What the refresh loop and the dashboard's source updates need, checked before a round starts.
fn check_sources(cli: &Cli, settings: &Settings) -> anyhow::Result<()> {
    if !crate::commands::messages::set_sources(settings, None)?.is_empty() {
        smb_sources::update_interval(&settings.env).map_err(anyhow::Error::msg)?;
        crate::commands::messages::fetcher(cli, settings)?;
    }
    Ok(())
}

/// The sockets the daemon serves on, kept across reloads.
#[derive(Default)]
struct Sockets {
    web: Option<Bound>,
    metrics: Option<Bound>,
    /// The dashboard's last pre-flight check: a reload keeps it (the new app shows it).
    check: smb_web::CheckMemory,
}

impl Sockets {
    /// Binds what is on and has no socket yet (the first round; a dashboard address that was
    /// taken before). A taken dashboard address is a warning — the broadcasts matter more than
    /// the dashboard — a taken metrics address an error.
    fn fill(&mut self, settings: &Settings, args: &Args) -> anyhow::Result<()> {
        let asked = asked(settings, args.no_web, args.no_metrics)?;
        if let (None, Some(m)) = (&self.metrics, asked.metrics) {
            match Bound::bind(m, "/metrics", METRICS_FIX) {
                Ok(b) => self.metrics = Some(b),
                // A sandbox rehearsal beside a running daemon (QA finding F12): the port is
                // the daemon's, and a rehearsal's metrics are not scraped.
                Err(e) if args.sandbox => eprintln!("warning: /metrics is off (sandbox): {e:#}"),
                Err(e) => return Err(e),
            }
        }
        if let (None, Some(w)) = (&self.web, asked.web) {
            match Bound::bind(w, "the dashboard", WEB_FIX) {
                Ok(b) => self.web = Some(b),
                Err(e) => eprintln!("warning: the dashboard is off: {e:#}"),
            }
        }
        Ok(())
    }
}

/// A round that did not start: the sockets it was given are as they were, and the reload's
/// answer (if it was one) is still to be sent.
struct RoundError {
    error: anyhow::Error,
    reply: Option<oneshot::Sender<Result<String, String>>>,
}

impl RoundError {
    fn into_error(self) -> anyhow::Error {
        if let Some(done) = self.reply {
            let _ = done.send(Err(format!("{:#}", self.error)));
        }
        self.error
    }
}

/// Says which broadcasters wait for their sending window at the start, and until when; a
/// silent wait of hours looks like a hang.
fn say_waiting(settings: &Settings, args: &Args, now: Timestamp) {
    let mut waits: Vec<(String, Vec<&str>)> = Vec::new();
    for b in &settings.broadcasters {
        if let Some(w) = crate::quiet::waiting(&b.spec.schedule, now) {
            match waits.iter_mut().find(|(x, _)| *x == w) {
                Some((_, names)) => names.push(b.spec.name.as_str()),
                None => waits.push((w, vec![b.spec.name.as_str()])),
            }
        }
    }
    let all = waits.len() == 1 && waits[0].1.len() == settings.broadcasters.len();
    for (w, names) in waits {
        let who = if all {
            String::new()
        } else {
            format!(" (broadcasters {})", names.join(", "))
        };
        let how = if args.ignore_quiet_hours {
            String::new()
        } else {
            " (use --ignore-quiet-hours to test now)".to_owned()
        };
        eprintln!("{w}; waiting{who}{how}");
        tracing::info!("{w}; waiting{who}");
    }
}

/// `run --dry-run`: the plan of the next cycle, nothing sent and nothing written (README). An
/// existing journal is read (read-only when its schema is current); without one the plan starts
/// from an empty journal in a scratch directory, removed afterwards — no database is created
/// where `run` would keep it.
async fn dry_run(args: &Args, settings: Settings) -> anyhow::Result<ExitCode> {
    let url = if args.sandbox {
        &settings.sandbox_database_url
    } else {
        &settings.database_url
    };
    if smb_store::is_postgres_url(url) {
        // The server's journal, read as it is (its migrations run at open, as at a start).
        let journal = context::open_existing_journal(&settings, args.sandbox).await?;
        return plan_from(args, settings, journal.as_ref()).await;
    }
    let (store, _scratch) = if crate::daemon::database_path(url).exists() {
        (
            context::open_existing_store(&settings, args.sandbox).await?,
            None,
        )
    } else {
        let scratch = Scratch::new()?;
        let url = format!("sqlite://{}", scratch.0.join("journal.db").display());
        let store = SqliteStore::open(
            &url,
            smb_store::SqliteSettings {
                sandbox: args.sandbox,
                ..smb_store::SqliteSettings::default()
            },
        )
        .await?;
        (store, Some(scratch))
    };
    plan_from(args, settings, &store).await
}

/// The dry run's plan from `store`'s journal.
async fn plan_from(
    args: &Args,
    settings: Settings,
    store: &dyn Journal,
) -> anyhow::Result<ExitCode> {
    let running = crate::running::load(settings, store, args.test_mode).await?;
    let now = Timestamp::now();
    let mut planner = running.plan_planner(now)?;
    restore_planner(&mut planner, store.as_store(), now).await?;
    print_plan(planner, now, &running.settings)?;
    Ok(ExitCode::SUCCESS)
}

/// A private directory under the system's temporary directory, removed on drop: the dry run's
/// empty journal when none exists yet.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sendmessagebot-dry-run-{}-{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create a scratch directory {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a round of the daemon: the planner built from `settings` and restored from the
/// journal, the dashboard and `/metrics` on `sockets`. `reloaded` is answered once it runs.
#[allow(clippy::too_many_arguments)]
async fn start(
    cli: &Cli,
    args: &Args,
    settings: &Settings,
    store: &Arc<dyn Journal>,
    daemon: Option<&Daemon>,
    stop: &CancellationToken,
    sockets: &mut Sockets,
    reloaded: Option<oneshot::Sender<Result<String, String>>>,
    keeper: Option<&crate::cluster::Keeper>,
) -> Result<(Round, Option<BTreeSet<String>>), RoundError> {
    let mut settings = settings.clone();
    let mut held = None;
    if let Some(k) = keeper {
        // Only the broadcasters and accounts of the leases held (issue 16).
        let Some(wanted) = k.wanted(stop).await else {
            return Err(RoundError {
                error: anyhow::anyhow!("stopped before the first lease pass"),
                reply: reloaded,
            });
        };
        settings = crate::cluster::only_held(&settings, &k.groups(), &wanted);
        // Driven from now on: the keeper gives none of these back while the round starts.
        k.driving(wanted.clone());
        held = Some(wanted);
    }
    let started = start_round(cli, args, &mut settings, store, sockets).await;
    let (applied, telegram, observers, driver, web, reach) = match started {
        Ok(s) => s,
        Err(error) => {
            if let Some(k) = keeper {
                k.driving(BTreeSet::new());
            }
            return Err(RoundError {
                error,
                reply: reloaded,
            });
        }
    };
    // What the configuration asks for (checked by start_round), bound or not: a reload
    // compares its addresses with these.
    let asked = asked(&settings, args.no_web, args.no_metrics).unwrap_or_default();
    let shutdown = match daemon {
        Some(d) => d.begin_round(driver.handle(), &settings, asked),
        None => stop.child_token(),
    };
    if let (Some(k), Some(held)) = (keeper, &held) {
        // A change of the leases held ends this round; the next drives the new set.
        let (k, held, token) = (k.clone(), held.clone(), shutdown.clone());
        tokio::spawn(async move {
            k.changed_from(&held, &token).await;
            token.cancel();
        });
    }
    if let Some(done) = reloaded {
        if let Some(d) = daemon {
            d.applied_reload();
        }
        let _ = done.send(Ok(format!(
            "reloaded: {} broadcasters on {} accounts",
            settings.broadcasters.len(),
            settings.accounts.len()
        )));
    }
    if let (Some(k), Some(held)) = (keeper, &held) {
        observers.set_leases(k.groups().leases.keys(), held);
    }
    let round = Round {
        telegram,
        observers,
        driver,
        web,
        shutdown,
        progress: None,
    };
    if !args.once
        && let Some(lite) = store.sqlite()
    {
        let lite = Arc::new(lite.clone());
        // Checked by start_round (check_sources), so this does not fail on settings.
        crate::commands::messages::spawn_refresh(
            cli,
            &settings,
            lite.clone(),
            applied,
            round.driver.handle(),
            round.shutdown.clone(),
        )
        .map_err(|error| RoundError { error, reply: None })?;
        crate::reach::spawn(
            &settings,
            lite,
            reach,
            Arc::new(SystemClock),
            round.driver.handle(),
            round.observers.sink(),
            round.shutdown.clone(),
        );
    } else if !args.once {
        // A PostgreSQL journal (issue 16): message sources were refused by start_round; the
        // reach collector reads the SQLite store's tables yet.
        if !settings.reach.after.is_empty() {
            tracing::warn!(
                "reach_after is set, but reach is read into a SQLite journal only in this version (docs/postgres.md): no reach is read"
            );
        }
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
    say_waiting(&settings, args, Timestamp::now());
    let mut round = round;
    if args.once {
        round.progress = once_progress(&settings, store, &round.driver).await;
    }
    Ok((round, held))
}

/// `run --once` says what it is about to do (QA finding F15: with LOG_CONSOLE=false the quick
/// start was silent for minutes): on a terminal a progress bar of deliveries done / planned;
/// otherwise one line with the planned deliveries, the expected duration from the plan and
/// where the log goes. A failure to plan only drops the line.
async fn once_progress(
    settings: &Settings,
    store: &Arc<dyn Journal>,
    driver: &Driver,
) -> Option<Progress> {
    let now = Timestamp::now();
    let mut planned = (0u64, now);
    if let Ok(mut planner) = crate::running::planner_for(settings, true, now)
        && restore_planner(&mut planner, store.as_store(), now)
            .await
            .is_ok()
    {
        smb_engine::planned_sends(&mut planner, now, |at, _| {
            planned = (planned.0 + 1, planned.1.max(at));
        });
    }
    let (count, last) = planned;
    let secs = last.duration_since(now).as_secs().max(0).unsigned_abs();
    let log = &settings.sections.log;
    // As `context::init_logging` decides: an unset LOG_CONSOLE logs to the terminal too.
    let console = log.console
        || settings
            .env
            .get("LOG_CONSOLE")
            .is_none_or(|v| v.trim().is_empty());
    let log_note = match &log.file {
        Some(path) if !console => format!("; log: {}", path.display()),
        _ => String::new(),
    };
    let line = format!(
        "planned: {count} deliveries, about {}{log_note}",
        duration_words(secs)
    );
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        eprintln!("{line}");
        return None;
    }
    let bar = indicatif::ProgressBar::new(count);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:24}] {pos}/{len} deliveries, {elapsed} (about {msg})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(duration_words(secs));
    if !log_note.is_empty() {
        bar.println(log_note.trim_start_matches("; "));
    }
    let handle = driver.handle();
    let done = CancellationToken::new();
    let stop = done.clone();
    let task = tokio::spawn(async move {
        loop {
            // A broadcaster that completed its cycle counts as its whole round.
            let sent: usize = handle
                .views()
                .iter()
                .map(|v| {
                    if v.state == smb_domain::RunState::Done {
                        v.total
                    } else {
                        v.done
                    }
                })
                .sum();
            let sent = sent as u64;
            if sent > bar.length().unwrap_or(0) {
                bar.set_length(sent);
            }
            bar.set_position(sent);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        }
        bar.finish_and_clear();
    });
    Some(Progress { done, task })
}

/// `143` → `2m 23s`; `3700` → `1h 1m`; `5` → `5s`.
fn duration_words(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// The progress bar of `run --once` on a terminal: cancel `done` to clear it.
struct Progress {
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// A started round: its driver and what serves beside it.
struct Round {
    telegram: Option<Arc<smb_telegram::grammers::GrammersGateway>>,
    observers: Observers,
    driver: Driver,
    web: Option<crate::web::HttpServer>,
    shutdown: CancellationToken,
    progress: Option<Progress>,
}

impl Round {
    /// Drives the round until the daemon stops or a reload ends it; the sockets go back into
    /// `sockets` for the next round.
    async fn run(
        self,
        args: &Args,
        stop: &CancellationToken,
        sockets: &mut Sockets,
    ) -> anyhow::Result<ExitCode> {
        let ran = self.driver.run(self.shutdown).await;
        if let Some(p) = self.progress {
            p.done.cancel();
            let _ = p.task.await;
        }
        if let Some(web) = self.web {
            sockets.web = web.stop().await;
        }
        sockets.metrics = self.observers.stop().await;
        if let Some(t) = &self.telegram {
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
}

type Started = (
    Vec<(String, i64)>,
    Option<Arc<smb_telegram::grammers::GrammersGateway>>,
    Observers,
    Driver,
    Option<crate::web::HttpServer>,
    Arc<dyn smb_engine::Reach>,
);

/// Builds a round up to the point where it runs. On an error `sockets` holds what it held.
async fn start_round(
    cli: &Cli,
    args: &Args,
    settings: &mut Settings,
    store: &Arc<dyn Journal>,
    sockets: &mut Sockets,
) -> anyhow::Result<Started> {
    // A PostgreSQL journal (issue 16) drives the broadcasters; what reads or writes the SQLite
    // store's own tables (message sources, the dashboard) is refused or left off, said here.
    let lite = store.sqlite();
    if lite.is_none() && !crate::commands::messages::set_sources(settings, None)?.is_empty() {
        anyhow::bail!(
            "message sets with a source (Google Sheets, CSV, file): {}",
            crate::config::NOT_YET_POSTGRES
        );
    }
    crate::commands::messages::fetch_missing(cli, settings, store.as_ref(), args.once).await?;
    let running = crate::running::load(settings.clone(), store.as_ref(), args.test_mode).await?;
    let planner = running.planner(args.once, Timestamp::now())?;
    let applied = running.versions;
    *settings = running.settings;
    let web_settings = crate::web::web_settings(settings, args.no_web)?;
    let limits = crate::web::server_limits(settings)?;
    check_sources(cli, settings)?;
    sockets.fill(settings, args)?;
    let telegram = match args.sandbox {
        true => None,
        false => {
            Some(crate::telegram::start_gateway(settings, store.as_store(), store.clone()).await?)
        }
    };
    // The same gateway carries out issue 15's follow-ups (edit, delete, pin) and reads reach
    // (issue 17): grammers or the sandbox.
    #[allow(clippy::type_complexity)]
    let (gateway, follow_ups, reach): (
        Arc<dyn smb_engine::Gateway>,
        Arc<dyn smb_engine::FollowUps>,
        Arc<dyn smb_engine::Reach>,
    ) = match &telegram {
        Some(t) => (t.clone(), t.clone(), t.clone()),
        None => {
            let sim = Arc::new(
                SimGateway::new(settings.sandbox.clone()).context("starting the sandbox")?,
            );
            (sim.clone(), sim.clone(), sim)
        }
    };
    // A failure from here on drops the gateway: its sessions are saved as at a stop.
    let save = |t: &Option<Arc<smb_telegram::grammers::GrammersGateway>>| {
        if let Some(t) = t {
            crate::telegram::save_sessions(t);
        }
    };
    let observers = match Observers::start(settings, lite, &mut sockets.metrics).await {
        Ok(o) => o,
        Err(e) => {
            save(&telegram);
            return Err(e);
        }
    };
    let restored = Driver::restore(
        planner,
        observers.timed(store.clone()),
        gateway.clone(),
        Arc::new(SystemClock),
        observers.sink(),
        driver_settings(settings, args.sandbox),
    )
    .await;
    let driver = match restored {
        Ok(d) => {
            d.set_follow_ups(follow_ups);
            d
        }
        Err(e) => {
            sockets.metrics = observers.stop().await;
            save(&telegram);
            return Err(e.into());
        }
    };
    let web = match (web_settings, sockets.web.take(), lite) {
        (Some(_), Some(socket), None) => {
            eprintln!(
                "warning: no dashboard: it reads a SQLite journal only in this version (docs/postgres.md); --no-web silences this"
            );
            tracing::warn!("no dashboard: it reads a SQLite journal only in this version");
            sockets.web = Some(socket);
            None
        }
        (Some(web), Some(socket), Some(store)) => {
            let app = crate::web::app(
                cli,
                settings,
                &web,
                store,
                driver.handle(),
                observers.metrics_router(),
                args.sandbox,
                gateway,
                sockets.check.clone(),
            );
            match app {
                Ok(app) => {
                    if let Ok(addr) = socket.listener.local_addr() {
                        // Tests and scripts read the port from this line when WEB_BIND ends in :0.
                        eprintln!("web on http://{addr}/");
                    }
                    if web.token.is_none() {
                        tracing::info!("WEB_TOKEN is not set: the dashboard is read-only");
                    }
                    Some(crate::web::HttpServer::start(socket, app, limits, "web"))
                }
                Err(e) => {
                    sockets.web = Some(socket);
                    sockets.metrics = observers.stop().await;
                    save(&telegram);
                    return Err(e);
                }
            }
        }
        (_, socket, _) => {
            sockets.web = socket;
            None
        }
    };
    Ok((applied, telegram, observers, driver, web, reach))
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

/// Prints what the planner would send for one cycle of each broadcaster, every send
/// succeeding (the engine's virtual-clock simulation, [`smb_engine::planned_sends`]).
fn print_plan(mut planner: Planner, start: Timestamp, settings: &Settings) -> std::io::Result<()> {
    let tz = settings.timezone.clone();
    let lang = smb_domain::Lang::from_env();
    let mut lines = 0usize;
    // QA F1b: the header follows the locale as the held list does.
    outln!(
        "{} {}):",
        lang.pick(
            "plan of the next cycle (times in",
            "план следующего цикла (время в зоне"
        ),
        tz.iana_name().unwrap_or("UTC")
    )?;
    // The simulation cannot stop early: after a failed write, only keep the error.
    let mut written = Ok(());
    smb_engine::planned_sends(&mut planner, start, |at, d| {
        if written.is_err() {
            return;
        }
        let text: String = d.text.chars().take(60).collect();
        let more = if d.text.chars().count() > 60 {
            "…"
        } else {
            ""
        };
        written = outln!(
            "{}  {:<10} {:<8} {:<28} {}{}",
            at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"),
            d.broadcaster_name,
            d.account_name,
            d.target.to_string(),
            text.replace('\n', " "),
            more
        );
        lines += 1;
    });
    written?;
    // Targets the chats' rules leave out of this cycle are missing above: say which, why and
    // when they may be posted to next (slow mode only delays a send, which the plan shows).
    let held = smb_engine::rule_holds(&planner, start);
    if !held.is_empty() {
        outln!(
            "{}",
            lang.pick(
                "not in this plan, held by their chat's rules:",
                "не в этом плане, придержаны правилами чата:"
            )
        )?;
        for h in &held {
            outln!(
                "{}",
                super::stats::held_line(
                    &h.target,
                    Some((&h.broadcaster, &h.account)),
                    h.until,
                    &h.reason,
                    lang,
                    &tz
                )
            )?;
        }
    }
    // A set with a source but no stored version yet has no texts here; `run` fetches it at
    // start, so the plan would otherwise promise less than `run` does.
    let mut unfetched: Vec<&str> = settings
        .broadcasters
        .iter()
        .filter(|b| b.spec.messages.messages.is_empty())
        .map(|b| b.spec.messages.name.as_str())
        .collect();
    unfetched.sort_unstable();
    unfetched.dedup();
    if !unfetched.is_empty() {
        outln!(
            "(not in this plan: message set(s) {} not fetched yet; `run` fetches them at start, {} now)",
            unfetched.join(", "),
            crate::hint::command("messages update")
        )?;
    } else if lines == 0 && held.is_empty() {
        outln!("(nothing to send: every broadcaster is paused, stopped or has no active target)")?;
    }
    Ok(())
}
