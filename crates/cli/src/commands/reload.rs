//! `reload`: the running daemon re-reads its configuration, `.env` and message sets and
//! restarts its driver in-process. State is not lost: the new planner is restored from the
//! journal, so cycles resume where they were. A configuration with errors is refused and the
//! daemon goes on with the old one.

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
            println!("{}", v["message"].as_str().unwrap_or("reloaded"));
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::NotRunning(_)) => {
            println!(
                "not running (no daemon on {}); nothing to reload",
                paths.dir.display()
            );
            Ok(ExitCode::from(3))
        }
        Err(e) => {
            println!("reload refused, the daemon goes on with its old configuration: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
