//! `stop`: asks the daemon of this data directory to stop over its control socket and waits
//! until it has exited; the send in flight finishes first (the driver's shutdown path).

use std::process::ExitCode;

use crate::Cli;
use crate::daemon;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// The sandbox daemon (data/sandbox/) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let paths = daemon::client_paths(cli, args.sandbox)?;
    match daemon::stop(&paths).await? {
        Some(pid) => outln!("stopped (pid {pid})")?,
        None => outln!("not running (no daemon on {})", paths.dir.display())?,
    }
    Ok(ExitCode::SUCCESS)
}
