//! `broadcasters list|test`; `test` lives in `test_broadcasters.rs`.

use std::process::ExitCode;

use crate::Cli;
use crate::config::Overrides;
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every configured broadcaster with its account, list, message set and pacing.
    List {
        #[arg(long)]
        json: bool,
        /// Show the target lists switched in the sandbox database (`targets switch --sandbox`).
        #[arg(long)]
        sandbox: bool,
    },
    /// Send one message of each broadcaster's set to its test list now; the result per chat.
    Test(crate::commands::test_broadcasters::Args),
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    let (json, sandbox) = match cmd {
        Command::List { json, sandbox } => (json, *sandbox),
        Command::Test(a) => return crate::commands::test_broadcasters::run(cli, a).await,
    };
    // As `run` does: the sandbox runs on the built-in example when there is no file.
    let mut s = context::settings(cli, &Overrides::default(), sandbox)?;
    // What `run` would run: switched lists, stored versions, targets added from the dashboard
    // (read only: no database is created for it).
    let db = crate::daemon::database_path(if sandbox {
        &s.sandbox_database_url
    } else {
        &s.database_url
    });
    if db.exists() {
        let store = context::open_store(&s, sandbox).await?;
        s = crate::running::load(s, &store, false).await?.settings;
    }
    if *json {
        let v: Vec<serde_json::Value> = s
            .broadcasters
            .iter()
            .map(|b| {
                serde_json::json!({
                    "name": b.spec.name,
                    "account": b.spec.account,
                    "targets": b.target_list,
                    "test_targets": b.test_list,
                    "prod_targets": b.prod_list,
                    "mode": crate::switch::mode_of(b),
                    "target_count": b.spec.targets.len(),
                    "messages": b.spec.messages.name,
                    "message_count": b.spec.messages.rotation_order().len(),
                    "rotation": b.spec.rotation,
                    "delay_between_chats_secs": b.spec.pacing.delay_between_chats.as_secs_f64(),
                    "cycle_delay_secs": b.spec.pacing.cycle_delay.as_secs_f64(),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!(
            "{:<12} {:<8} {:<14} {:>7} {:<10} {:>9} {:>8} {:>7}  MODE",
            "BROADCASTER",
            "ACCOUNT",
            "TARGETS",
            "CHATS",
            "MESSAGES",
            "ROTATION",
            "DELAY",
            "CYCLE"
        )?;
        for b in &s.broadcasters {
            outln!(
                "{:<12} {:<8} {:<14} {:>7} {:<10} {:>9} {:>7}s {:>6}s  {}",
                b.spec.name,
                b.spec.account,
                b.target_list,
                b.spec.targets.len(),
                b.spec.messages.name,
                format!("{:?}", b.spec.rotation).to_lowercase(),
                b.spec.pacing.delay_between_chats.as_secs_f64(),
                b.spec.pacing.cycle_delay.as_secs_f64(),
                crate::switch::mode_of(b).as_str()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
