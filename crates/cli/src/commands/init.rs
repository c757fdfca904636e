//! `init`: write a configuration that runs as it is.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Cli;
use crate::config::{EXAMPLE_ENV, EXAMPLE_TOML};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
    /// Where to write .env.example.
    #[arg(long, default_value = ".env.example")]
    env_example: PathBuf,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    for path in [&cli.config, &args.env_example] {
        if path.exists() && !args.force {
            bail!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            );
        }
    }
    std::fs::write(&cli.config, EXAMPLE_TOML)
        .with_context(|| format!("writing {}", cli.config.display()))?;
    std::fs::write(&args.env_example, EXAMPLE_ENV)
        .with_context(|| format!("writing {}", args.env_example.display()))?;
    println!(
        "wrote {} and {}",
        cli.config.display(),
        args.env_example.display()
    );
    println!(
        "next: `sendmessagebot check`, then `sendmessagebot run --sandbox` to rehearse without Telegram"
    );
    Ok(ExitCode::SUCCESS)
}
