//! `restart`: stops the daemon of this data directory (waiting for it to exit) and starts it
//! again in the background with the arguments and working directory it had. With no daemon
//! running it starts `run` (with `--sandbox` when asked).
//!
//! A new process (and a new binary, after an upgrade); `reload` keeps the process.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::Cli;
use crate::daemon::control::{self, ClientError, Cmd};
use crate::daemon::{self, detach};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// The sandbox daemon (data/sandbox/) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let paths = daemon::client_paths(cli, args.sandbox)?;
    let (argv, cwd) = match control::request(&paths.socket, Cmd::Status).await {
        Ok(v) => {
            let argv: Vec<OsString> = v["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .filter(|a| *a != "--detach")
                .map(OsString::from)
                .collect();
            let cwd = v["cwd"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(PathBuf::from);
            if let Some(pid) = daemon::stop(&paths).await? {
                outln!("stopped (pid {pid})")?;
            }
            (argv, cwd)
        }
        Err(ClientError::NotRunning(_)) => {
            let mut argv: Vec<OsString> = vec![
                "--config".into(),
                cli.config.clone().into(),
                "--env-file".into(),
                cli.env_file.clone().into(),
                "run".into(),
            ];
            if args.sandbox {
                argv.push("--sandbox".into());
            }
            outln!("not running; starting it")?;
            (argv, None)
        }
        Err(e) => return Err(e.into()),
    };
    let pid = detach::spawn(&paths, &argv, cwd.as_deref()).await?;
    outln!(
        "started in the background: pid {pid} (output: {})",
        paths.output.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
