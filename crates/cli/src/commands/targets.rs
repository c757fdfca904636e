//! `targets list|enable|disable|switch`: target status kept in the store; `switch` (the
//! seed's switch_targets) is in `switch_targets`, below.

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
        /// The target as written in the configuration: `@name`, `-100…` (no `--` needed), a
        /// t.me link.
        #[arg(allow_negative_numbers = true)]
        target: String,
        #[arg(long)]
        sandbox: bool,
    },
    /// Stop posting to a target until it is enabled again.
    Disable {
        /// The target as written in the configuration: `@name`, `-100…` (no `--` needed), a
        /// t.me link.
        #[arg(allow_negative_numbers = true)]
        target: String,
        #[arg(long, default_value = "disabled by the operator")]
        reason: String,
        #[arg(long)]
        sandbox: bool,
    },
    /// Ask Telegram, for each (account, target) a broadcaster posts to: member, may write, may
    /// send media, slow mode, forum/topic, title, last post (exit 1 if a chat refuses text).
    Check(crate::commands::targets_check::Args),
    /// Post to the test lists or the production lists, for every broadcaster or one (kept in
    /// the store; a running daemon is reloaded to apply it).
    Switch(SwitchArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct SwitchArgs {
    /// `test` (each broadcaster's test_targets) or `prod` (its targets).
    #[arg(value_parser = ["test", "prod"])]
    pub mode: String,
    /// Only this broadcaster (default: all of them).
    #[arg(long)]
    pub broadcaster: Option<String>,
    /// Switch in the sandbox database (and reload the sandbox daemon).
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    if let Command::Check(a) = cmd {
        return crate::commands::targets_check::run(cli, a).await;
    }
    let settings = context::settings(cli, &Overrides::default(), true)?;
    match cmd {
        Command::Switch(a) => return switch_targets(&settings, a).await,
        Command::Check(_) => {}
        Command::List {
            list,
            json,
            sandbox,
        } => {
            if let Some(l) = list
                && !settings.target_lists.contains_key(l)
            {
                let known: Vec<&str> = settings.target_lists.keys().map(String::as_str).collect();
                bail!("no target list `{l}` (known: {})", known.join(", "));
            }
            let store = context::open_store(&settings, *sandbox).await?;
            // The lists as `run` sends to them: the configuration plus the targets added on
            // the dashboard or through the API (QA finding F16: those were invisible here).
            let running = crate::running::load(settings.clone(), &store, false)
                .await?
                .settings;
            let statuses = store.target_statuses().await?;
            // Refused for one account while the others post there (QA F2: listed "active"
            // with no reason).
            let refused = crate::refusals::of_active_targets(
                store.refusals(Timestamp::now()).await?,
                &statuses,
            );
            let lang = smb_domain::Lang::from_env();
            // An upgraded group is listed under its new id, the configured one as its alias.
            let migrated: std::collections::BTreeMap<String, String> = store
                .chat_migrations()
                .await?
                .into_iter()
                .map(|m| (m.old, m.new))
                .collect();
            let mut rows = Vec::new();
            for (name, targets) in &running.target_lists {
                if list.as_ref().is_some_and(|l| l != name) {
                    continue;
                }
                let configured = settings.target_lists.get(name);
                for t in targets {
                    let added = !configured.is_some_and(|c| c.contains(t));
                    let (status, mut reason, since) = match statuses.get(&t.key()) {
                        Some(TargetStatus::Disabled { reason, since, .. }) => {
                            ("disabled", Some(reason.clone()), Some(since.to_string()))
                        }
                        _ => ("active", None, None),
                    };
                    let mine: Vec<String> = refused
                        .iter()
                        .filter(|r| r.target == t.key())
                        .map(|r| crate::refusals::short(r, lang, &settings.timezone))
                        .collect();
                    if !mine.is_empty() {
                        reason = Some(mine.join("; "));
                    }
                    let (target, alias) = match migrated.get(&t.key()) {
                        Some(new) => (new.clone(), Some(t.key())),
                        None => (t.key(), None),
                    };
                    let mut row = serde_json::json!({
                        "list": name, "target": target, "status": status, "reason": reason, "since": since,
                        "alias": alias, "added": added,
                    });
                    // Only when the target refused an account: the usual rows keep their shape.
                    if !mine.is_empty() {
                        row["refused_accounts"] = crate::refusals::json(&refused, &t.key());
                    }
                    rows.push(row);
                }
            }
            if *json {
                outln!("{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                // Each column as wide as its longest cell (as `targets check` does): a long
                // target with "(added on the dashboard)" broke a fixed width of 28.
                let cells: Vec<[String; 4]> = rows
                    .iter()
                    .map(|r| {
                        let mut target = match r["alias"].as_str() {
                            Some(old) => {
                                format!("{} (was {old})", r["target"].as_str().unwrap_or_default())
                            }
                            None => r["target"].as_str().unwrap_or_default().to_owned(),
                        };
                        if r["added"].as_bool() == Some(true) {
                            target.push_str(" (added on the dashboard)");
                        }
                        let status = match r["status"].as_str().map(str::parse) {
                            Some(Ok(smb_domain::TargetState::Disabled)) => {
                                lang.pick("disabled", "отключён")
                            }
                            _ => lang.pick("active", "активен"),
                        };
                        let reason = r["reason"].as_str().unwrap_or_default();
                        // "active (acc1 refused: CODE, re-check 19:36 MSK)"
                        let refused = r["refused_accounts"]
                            .as_array()
                            .is_some_and(|a| !a.is_empty());
                        let (status, reason) = match refused {
                            true => (format!("{status} ({reason})"), String::new()),
                            false => (status.to_owned(), reason.to_owned()),
                        };
                        [
                            r["list"].as_str().unwrap_or_default().to_owned(),
                            target,
                            status,
                            reason,
                        ]
                    })
                    .collect();
                let heads = [
                    lang.pick("LIST", "СПИСОК"),
                    lang.pick("TARGET", "ЧАТ"),
                    lang.pick("STATUS", "СТАТУС"),
                    lang.pick("REASON", "ПРИЧИНА"),
                ];
                let width = |i: usize| {
                    cells
                        .iter()
                        .map(|c| c[i].chars().count())
                        .chain([heads[i].chars().count()])
                        .max()
                        .unwrap_or_default()
                };
                let (lw, tw, sw) = (width(0), width(1), width(2));
                outln!(
                    "{:<lw$}  {:<tw$}  {:<sw$}  {}",
                    heads[0],
                    heads[1],
                    heads[2],
                    heads[3]
                )?;
                for [list, target, status, reason] in &cells {
                    let line = format!("{list:<lw$}  {target:<tw$}  {status:<sw$}  {reason}");
                    outln!("{}", line.trim_end())?;
                }
            }
        }
        Command::Enable { target, sandbox }
        | Command::Disable {
            target, sandbox, ..
        } => {
            let t = TargetRef::parse(target).with_context(|| format!("target `{target}`"))?;
            let store = context::open_store(&settings, *sandbox).await?;
            // The targets `run` sends to: the configured ones and those added on the dashboard
            // or through the API.
            let running = crate::running::load(settings.clone(), &store, false)
                .await?
                .settings;
            if !running.target_lists.values().any(|l| l.contains(&t)) {
                bail!(
                    "{t} is in no target list of {} and was not added on the dashboard; add it under [targets] first",
                    settings.source
                );
            }
            let reason = match cmd {
                Command::Disable { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            // A running daemon is told directly, as the dashboard's buttons tell it: it stops
            // (or starts again) posting there at once and stores the status itself (QA finding
            // F11: the stored switch alone left the daemon posting until a reload). Only when
            // no daemon runs is the stored status written here.
            let paths = crate::daemon::DaemonPaths::for_settings(&settings, *sandbox);
            let req = crate::daemon::control::Request {
                cmd: if reason.is_some() {
                    crate::daemon::control::Cmd::DisableTarget
                } else {
                    crate::daemon::control::Cmd::EnableTarget
                },
                target: Some(t.key()),
                reason: reason.clone(),
            };
            let done = if reason.is_some() {
                "disabled"
            } else {
                "enabled"
            };
            match crate::daemon::control::send(&paths.socket, &req).await {
                Ok(_) => {
                    if reason.is_none() {
                        // The daemon writes "active" only for a target it had disabled; one
                        // disabled in the store behind its back is made active here too.
                        store
                            .set_target_status(&t.key(), &TargetStatus::Active)
                            .await?;
                        store.flush().await?;
                    }
                    outln!("{t}: {done}")?;
                    outln!("the running daemon applied it at once")?;
                }
                Err(crate::daemon::control::ClientError::Refused(why)) => {
                    bail!("the running daemon refused: {why}; nothing was changed");
                }
                Err(e) => {
                    let status = match &reason {
                        Some(reason) => TargetStatus::Disabled {
                            reason: reason.clone(),
                            since: Timestamp::now(),
                            recheck_at: None,
                        },
                        None => TargetStatus::Active,
                    };
                    store.set_target_status(&t.key(), &status).await?;
                    store.flush().await?;
                    outln!("{t}: {done}")?;
                    match crate::daemon::lock::holder(&paths.lock) {
                        // A daemon holds the lock but did not answer: said as it is.
                        Some(pid) => outln!(
                            "saved, but the running daemon (pid {pid}) did not take it ({e}); it applies it after {} or at its next start",
                            crate::hint::command("reload")
                        )?,
                        None => outln!("no daemon runs now; `run` applies it at start")?,
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `targets switch`: stores the choice, shows every broadcaster's list, reloads a running daemon.
pub async fn switch_targets(
    settings: &crate::config::Settings,
    a: &SwitchArgs,
) -> anyhow::Result<ExitCode> {
    let mode = smb_store::TargetMode::parse(&a.mode).context("mode is test or prod")?;
    if let Some(name) = &a.broadcaster {
        let Some(b) = settings.broadcasters.iter().find(|b| &b.spec.name == name) else {
            let known: Vec<&str> = settings
                .broadcasters
                .iter()
                .map(|b| b.spec.name.as_str())
                .collect();
            bail!("no broadcaster `{name}` (known: {})", known.join(", "));
        };
        if mode == smb_store::TargetMode::Test && b.test_list.is_none() {
            bail!(
                "broadcaster {name} has no test list; add test_targets = \"test\" to [broadcasters.{name}] in {}",
                settings.source
            );
        }
    }
    let store = context::open_store(settings, a.sandbox).await?;
    store
        .set_target_switch(a.broadcaster.as_deref(), mode, Timestamp::now())
        .await?;
    let now = crate::running::load(settings.clone(), &store, false)
        .await?
        .settings;
    for b in &now.broadcasters {
        outln!(
            "{:<12} {:<5} ({}, {} chats)",
            b.spec.name,
            crate::switch::mode_of(b).as_str(),
            b.target_list,
            b.spec.targets.len()
        )?;
    }
    let paths = crate::daemon::DaemonPaths::for_settings(settings, a.sandbox);
    match crate::daemon::control::request(&paths.socket, crate::daemon::control::Cmd::Reload).await
    {
        Ok(v) => outln!(
            "the running daemon applied it ({})",
            v["message"].as_str().unwrap_or("reloaded")
        )?,
        Err(crate::daemon::control::ClientError::NotRunning(_)) => {
            outln!("saved; `run` applies it at start")?;
        }
        Err(e) => outln!(
            "saved, but the running daemon did not reload: {e}; run {}",
            crate::hint::command("reload")
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
