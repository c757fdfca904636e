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

/// Exit code 0: a daemon was stopped; 3: none was running (as `status` answers then), so a
/// script or a user does not take "nothing to stop" for "stopped".
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let paths = daemon::client_paths(cli, args.sandbox)?;
    match daemon::stop(&paths).await? {
        Some(pid) => {
            outln!("stopped (pid {pid})")?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            outln!("not running (no daemon on {})", paths.dir.display())?;
            // The other mode's daemon may be the one meant.
            if let Ok(other) = daemon::client_paths(cli, !args.sandbox)
                && let Some(pid) = daemon::lock::holder(&other.lock)
            {
                outln!(
                    "the {} daemon (pid {pid}) runs on {}: `sendmessagebot stop{}` stops it",
                    if args.sandbox { "real" } else { "sandbox" },
                    other.dir.display(),
                    if args.sandbox { "" } else { " --sandbox" }
                )?;
            }
            Ok(ExitCode::from(3))
        }
    }
}
