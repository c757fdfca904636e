//! `broadcasters test`: the seed's test_broadcasters — one message of each broadcaster's set
//! to its test list, now, with the result per chat. Through the configured gateway (real
//! Telegram, or the simulator with `--sandbox`) and `DriverHandle::test_send`: journalled like
//! any send, under `test:NAME`, apart from the broadcaster's cycles, and paced like one (one
//! chat per `delay_between_chats` of the account, counted from its last send in the journal).
//!
//! It takes the data directory's daemon lock while it sends, so it never posts from an account
//! a running daemon is using; the dashboard's test send (`POST /api/v1/test-send`) is the way
//! while one runs.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use smb_engine::{
    Driver, DriverSettings, LogSink, Outcome, Store as _, SystemClock, TestRefusal, TestSubject,
    plan_test_send,
};
use smb_telegram::SimGateway;

use crate::Cli;
use crate::config::Overrides;
use crate::context;
use crate::daemon::DaemonPaths;
use crate::daemon::lock::{DaemonLock, LockError};

#[derive(Debug, Default, Clone, clap::Args)]
pub struct Args {
    /// Only these broadcasters (default: every one with a test list).
    pub names: Vec<String>,
    /// Which text of the set, counting from 1 (default: the first active one).
    #[arg(long, value_name = "N")]
    pub message: Option<usize>,
    /// Send through the simulated Telegram (the sandbox database and ledger).
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), args.sandbox)?;
    for n in &args.names {
        if !settings.broadcasters.iter().any(|b| &b.spec.name == n) {
            let known: Vec<&str> = settings
                .broadcasters
                .iter()
                .map(|b| b.spec.name.as_str())
                .collect();
            bail!("no broadcaster `{n}` (known: {})", known.join(", "));
        }
    }
    let paths = DaemonPaths::for_settings(&settings, args.sandbox);
    let _lock = match DaemonLock::acquire(&paths.lock) {
        Ok(l) => l,
        Err(LockError::Held { pid, .. }) => bail!(
            "a daemon (pid {pid}) is running on this data directory and uses these accounts; \
             stop it first (`sendmessagebot stop{}`) or use the dashboard's test send",
            if args.sandbox { " --sandbox" } else { "" }
        ),
        Err(e) => return Err(e.into()),
    };
    let store = Arc::new(context::open_store(&settings, args.sandbox).await?);
    // What `run` would send: stored versions, switched lists, targets added from the dashboard.
    let running = crate::running::load(settings, store.as_ref(), false).await?;
    let settings = &running.settings;
    let chosen: Vec<_> = settings
        .broadcasters
        .iter()
        .filter(|b| args.names.is_empty() || args.names.contains(&b.spec.name))
        .cloned()
        .collect();
    let telegram = match args.sandbox {
        true => None,
        false => {
            Some(crate::telegram::start_gateway(settings, store.as_ref(), store.clone()).await?)
        }
    };
    // Albums (issue 15) go out through the follow-ups port of the same gateway.
    let (gateway, follow_ups): (Arc<dyn smb_engine::Gateway>, Arc<dyn smb_engine::FollowUps>) =
        match &telegram {
            Some(t) => (t.clone(), t.clone()),
            None => {
                let sim = Arc::new(
                    SimGateway::new(settings.sandbox.clone()).context("starting the sandbox")?,
                );
                (sim.clone(), sim)
            }
        };
    let planner = running.planner(true, Timestamp::now())?;
    let driver = Driver::restore(
        planner,
        store.clone(),
        gateway,
        Arc::new(SystemClock),
        Arc::new(LogSink),
        DriverSettings::default(),
    )
    .await?;
    driver.set_follow_ups(follow_ups);
    let handle = driver.handle();

    let total: usize = chosen
        .iter()
        .filter_map(|b| {
            b.test_list
                .as_ref()
                .and_then(|l| settings.target_lists.get(l))
        })
        .map(Vec::len)
        .sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut failed = 0usize;
    let mut sent = 0usize;
    for b in &chosen {
        let name = &b.spec.name;
        let subject = TestSubject {
            broadcaster: name,
            account: &b.spec.account,
            test_list: b.test_list.as_deref().map(|l| {
                let targets = settings.target_lists.get(l).map_or(&[][..], Vec::as_slice);
                (l, targets)
            }),
            messages: &b.spec.messages,
            content: &b.spec.content,
        };
        let plan = match plan_test_send(&subject, args.message) {
            Ok(plan) => plan,
            // Checked as it will be sent (the one formatter): a text that cannot go is
            // reported with why, not sent to fail chat by chat.
            Err(e @ TestRefusal::CannotSend { .. }) => {
                failed += subject.test_list.map_or(0, |(_, t)| t.len());
                outln!("{name}: not sent: {e}")?;
                continue;
            }
            Err(e) => {
                outln!("{name}: skipped: {e}")?;
                continue;
            }
        };
        let (list, targets) = (&plan.test_list, plan.send.targets.len());
        match &bar {
            Some(bar) => bar.set_message(format!("{name} → {list}")),
            None => outln!(
                "{name}: sending to test list `{list}` ({targets} chats) as {}",
                b.spec.account
            )?,
        }
        let result = handle.test_send(plan.send).await;
        match result {
            Ok(results) => {
                for r in &results {
                    let line = match &r.outcome {
                        Outcome::Sent { message_id } => {
                            sent += 1;
                            format!(
                                "sent{}",
                                message_id
                                    .map(|m| format!(" (message {m})"))
                                    .unwrap_or_default()
                            )
                        }
                        Outcome::Failed { code, detail, .. } => {
                            failed += 1;
                            format!("FAILED {code}: {detail}")
                        }
                        Outcome::Deferred { code, until, .. } => {
                            failed += 1;
                            format!("DEFERRED {code} until {until}")
                        }
                    };
                    let line = format!("{name} → {}: {line}", r.target);
                    match &bar {
                        Some(bar) => {
                            bar.println(&line);
                            bar.inc(1);
                        }
                        None => outln!("{line}")?,
                    }
                }
                if results.len() < targets {
                    let line = format!(
                        "{name}: stopped after {} of {targets} chats (the account must wait)",
                        results.len(),
                    );
                    failed += targets - results.len();
                    match &bar {
                        Some(bar) => bar.println(&line),
                        None => outln!("{line}")?,
                    }
                }
            }
            Err(e) => {
                failed += targets;
                outln!("{name}: not sent: {e}")?;
            }
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    store.flush().await?;
    if let Some(t) = &telegram {
        crate::telegram::save_sessions(t);
    }
    outln!("test send: {sent} sent, {failed} not sent")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
