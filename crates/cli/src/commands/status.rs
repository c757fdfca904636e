//! `status`: asks the daemon of this data directory (over its control socket) what it is
//! doing. Exit 0 when one runs, 3 when none does (as `systemctl status`), 1 when a process
//! holds the lock but does not answer.

use std::process::ExitCode;

use crate::Cli;
use crate::daemon::control::{self, ClientError, Cmd};
use crate::daemon::{self, lock};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// The sandbox daemon (data/sandbox/) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// The daemon's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let paths = daemon::client_paths(cli, args.sandbox)?;
    match control::request(&paths.socket, Cmd::Status).await {
        Ok(v) => {
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&v)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            outln!(
                "running: pid {} ({}{}), since {}, config {}, {} reload(s)",
                v["pid"],
                if v["sandbox"] == true {
                    "sandbox"
                } else {
                    "Telegram"
                },
                if v["test_mode"] == true {
                    ", test mode"
                } else {
                    ""
                },
                s("started_at"),
                s("config"),
                v["reloads"]
            )?;
            if v["journal"]["up"] == false {
                outln!(
                    "SENDING STOPPED for every account since {}: the delivery journal does not take writes ({}); \
                     it resumes by itself once a write succeeds ({} probe(s) so far)",
                    v["journal"]["since"].as_str().unwrap_or("?"),
                    v["journal"]["reason"].as_str().unwrap_or("?"),
                    v["journal"]["probes"]
                )?;
            }
            if let Some(failure) = v["log_file_failure"].as_str() {
                outln!("LOG FILE NOT WRITTEN: {failure}")?;
            }
            outln!(
                "{:<12} {:<8} {:<10} {:<10} {:>6} {:>9}",
                "BROADCASTER",
                "ACCOUNT",
                "TARGETS",
                "STATE",
                "CYCLE",
                "DONE"
            )?;
            let mut waits = Vec::new();
            for b in v["broadcasters"].as_array().into_iter().flatten() {
                let t = |k: &str| b[k].as_str().unwrap_or("-").to_owned();
                let waiting = b["waiting"].as_str();
                let state = match waiting {
                    Some(_) if matches!(t("state").parse(), Ok(smb_domain::RunState::Running)) => {
                        "waiting".to_owned()
                    }
                    _ => t("state"),
                };
                // Cycle 0 is "no cycle yet": its counts say nothing about sends.
                let (cycle, done) = match b["cycle"].as_u64() {
                    Some(0) | None => ("-".to_owned(), "-".to_owned()),
                    Some(c) => (c.to_string(), format!("{}/{}", b["done"], b["total"])),
                };
                outln!(
                    "{:<12} {:<8} {:<10} {:<10} {:>6} {:>9}",
                    t("name"),
                    t("account"),
                    t("targets"),
                    state,
                    cycle,
                    done
                )?;
                if let Some(w) = waiting {
                    waits.push(format!("{}: {w}", t("name")));
                }
            }
            for w in waits {
                outln!("waiting — {w}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::NotRunning(_)) => match lock::holder(&paths.lock) {
            Some(pid) => {
                outln!(
                    "pid {pid} holds {} but does not answer on {} (starting, stopping or stuck)",
                    paths.lock.display(),
                    paths.socket.display()
                )?;
                Ok(ExitCode::from(1))
            }
            None => {
                outln!(
                    "not running (no daemon on {}); {} starts one",
                    paths.dir.display(),
                    crate::hint::command("run --detach")
                )?;
                Ok(ExitCode::from(3))
            }
        },
        Err(e) => Err(e.into()),
    }
}
