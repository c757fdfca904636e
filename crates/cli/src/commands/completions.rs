//! `completions SHELL`: a completion script generated from the clap definitions.
//!
//! bash: `sendmessagebot completions bash > ~/.local/share/bash-completion/completions/sendmessagebot`;
//! zsh: into a directory of `$fpath` as `_sendmessagebot`; fish: `~/.config/fish/completions/sendmessagebot.fish`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    // `generate` panics when its writer fails; a buffer cannot, and the one write to stdout
    // gives its error (a closed pipe) back instead.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sendmessagebot", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
