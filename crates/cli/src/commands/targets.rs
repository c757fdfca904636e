//! `targets list|enable|disable`: target status kept in the store.

use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use smb_domain::TargetRef;
use smb_engine::{Store, TargetStatus};

use crate::Cli;
use crate::config::Overrides;
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every configured target with its status (active, or disabled with the reason).
    List {
        /// Only this target list (e.g. prod, test).
        #[arg(long)]
        list: Option<String>,
        #[arg(long)]
        json: bool,
        /// Statuses of the sandbox database.
        #[arg(long)]
        sandbox: bool,
    },
    /// Make a disabled target active again.
    Enable {
        target: String,
        #[arg(long)]
        sandbox: bool,
    },
    /// Stop posting to a target until it is enabled again.
    Disable {
        target: String,
        #[arg(long, default_value = "disabled by the operator")]
        reason: String,
        #[arg(long)]
        sandbox: bool,
    },
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    match cmd {
        Command::List { list, json, sandbox } => {
            if let Some(l) = list
                && !settings.target_lists.contains_key(l)
            {
                let known: Vec<&str> = settings.target_lists.keys().map(String::as_str).collect();
                bail!("no target list `{l}` (known: {})", known.join(", "));
            }
            let store = context::open_store(&settings, *sandbox).await?;
            let statuses = store.target_statuses().await?;
            let mut rows = Vec::new();
            for (name, targets) in &settings.target_lists {
                if list.as_ref().is_some_and(|l| l != name) {
                    continue;
                }
                for t in targets {
                    let (status, reason, since) = match statuses.get(&t.key()) {
                        Some(TargetStatus::Disabled { reason, since, .. }) => {
                            ("disabled", Some(reason.clone()), Some(since.to_string()))
                        }
                        _ => ("active", None, None),
                    };
                    rows.push(serde_json::json!({
                        "list": name, "target": t.key(), "status": status, "reason": reason, "since": since,
                    }));
                }
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<8} {:<28} {:<9} REASON", "LIST", "TARGET", "STATUS");
                for r in &rows {
                    println!(
                        "{:<8} {:<28} {:<9} {}",
                        r["list"].as_str().unwrap_or_default(),
                        r["target"].as_str().unwrap_or_default(),
                        r["status"].as_str().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        Command::Enable { target, sandbox } | Command::Disable { target, sandbox, .. } => {
            let t = TargetRef::parse(target).with_context(|| format!("target `{target}`"))?;
            if !settings.target_lists.values().any(|l| l.contains(&t)) {
                bail!("{t} is in no target list of {}; add it under [targets] first", settings.source);
            }
            let store = context::open_store(&settings, *sandbox).await?;
            let status = match cmd {
                Command::Disable { reason, .. } => {
                    TargetStatus::Disabled { reason: reason.clone(), since: Timestamp::now(), recheck_at: None }
                }
                _ => TargetStatus::Active,
            };
            store.set_target_status(&t.key(), &status).await?;
            store.flush().await?;
            println!(
                "{t}: {}",
                if matches!(status, TargetStatus::Active) { "enabled" } else { "disabled" }
            );
            println!("a running daemon picks this up at its next start");
        }
    }
    Ok(ExitCode::SUCCESS)
}
