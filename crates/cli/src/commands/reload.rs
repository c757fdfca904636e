//! `reload`: the running daemon re-reads its configuration, `.env` and message sets and
//! restarts its driver in-process. State is not lost: the new planner is restored from the
//! journal, so cycles resume where they were. A reload applies fully or not at all: a
//! configuration with errors, or a new web or metrics address that cannot be bound, is refused
//! (exit 1) and the daemon goes on exactly as before (see `crate::daemon`).

use std::process::ExitCode;

use crate::Cli;
use crate::daemon;
use crate::daemon::control::{self, ClientError, Cmd};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// The sandbox daemon (data/sandbox/) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let paths = daemon::client_paths(cli, args.sandbox)?;
    match control::request(&paths.socket, Cmd::Reload).await {
        Ok(v) => {
            outln!("{}", v["message"].as_str().unwrap_or("reloaded"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::NotRunning(_)) => {
            outln!(
                "not running (no daemon on {}); nothing to reload",
                paths.dir.display()
            )?;
            Ok(ExitCode::from(3))
        }
        Err(ClientError::Refused(reason)) => {
            outln!("reload refused: {reason}")?;
            outln!("the daemon goes on with its old configuration")?;
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            outln!(
                "reload failed: {e}; `sendmessagebot status{}` shows whether the daemon runs",
                if args.sandbox { " --sandbox" } else { "" }
            )?;
            Ok(ExitCode::from(1))
        }
    }
}
