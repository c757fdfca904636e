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
use smb_engine::{Driver, DriverSettings, LogSink, Outcome, Store as _, SystemClock, TestSend};
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
    let mut settings = context::settings(cli, &Overrides::default(), args.sandbox)?;
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
    crate::commands::messages::use_stored_versions(&mut settings, store.as_ref()).await?;
    let chosen: Vec<_> = settings
        .broadcasters
        .iter()
        .filter(|b| args.names.is_empty() || args.names.contains(&b.spec.name))
        .cloned()
        .collect();
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
    let planner = crate::commands::run::planner_for(&settings, true, Timestamp::now())?;
    let driver = Driver::restore(
        planner,
        store.clone(),
        gateway,
        Arc::new(SystemClock),
        Arc::new(LogSink),
        DriverSettings::default(),
    )
    .await?;
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
        let Some(list) = &b.test_list else {
            println!(
                "{name}: skipped: no test list (add test_targets = \"test\" to [broadcasters.{name}])"
            );
            continue;
        };
        let targets = settings.target_lists.get(list).cloned().unwrap_or_default();
        if targets.is_empty() {
            println!("{name}: skipped: test list `{list}` is empty");
            continue;
        }
        let messages = &b.spec.messages.messages;
        let text = match args.message {
            None => messages.iter().find(|m| m.active),
            Some(n) => n.checked_sub(1).and_then(|i| messages.get(i)),
        };
        let Some(text) = text.map(|m| m.text.clone()) else {
            println!(
                "{name}: skipped: message set `{}` has no such text ({} texts)",
                b.spec.messages.name,
                messages.len()
            );
            continue;
        };
        // Checked as it will be sent (the one formatter): a text that cannot go is reported
        // with why, not sent to fail chat by chat.
        let content = &b.spec.content;
        if let Err(e) = smb_domain::prepare(&text, content.format, content.media.is_some()) {
            failed += targets.len();
            println!("{name}: not sent: the text cannot be sent: {e}");
            continue;
        }
        match &bar {
            Some(bar) => bar.set_message(format!("{name} → {list}")),
            None => println!(
                "{name}: sending to test list `{list}` ({} chats) as {}",
                targets.len(),
                b.spec.account
            ),
        }
        let result = handle
            .test_send(TestSend {
                label: format!("test:{name}"),
                account: b.spec.account.clone(),
                targets: targets.clone(),
                text,
                content: b.spec.content.clone(),
            })
            .await;
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
                        None => println!("{line}"),
                    }
                }
                if results.len() < targets.len() {
                    let line = format!(
                        "{name}: stopped after {} of {} chats (the account must wait)",
                        results.len(),
                        targets.len()
                    );
                    failed += targets.len() - results.len();
                    match &bar {
                        Some(bar) => bar.println(&line),
                        None => println!("{line}"),
                    }
                }
            }
            Err(e) => {
                failed += targets.len();
                println!("{name}: not sent: {e}");
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
    println!("test send: {sent} sent, {failed} not sent");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
