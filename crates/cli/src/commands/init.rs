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
    outln!(
        "wrote {} and {}",
        cli.config.display(),
        args.env_example.display()
    )?;
    outln!(
        "next: `sendmessagebot check`, then `sendmessagebot run --sandbox` to rehearse without Telegram"
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::config::EXAMPLE_ENV;

    /// `init` writes `.env.example`: every `NAME=value` in it reads back as written.
    #[test]
    fn the_example_env_reads_as_written() {
        let vars =
            smb_sources::dotenv::read(EXAMPLE_ENV.as_bytes(), |_| None).expect("the example reads");
        let mut written = 0;
        for line in EXAMPLE_ENV.lines() {
            let Some((k, v)) = line.split_once('=').filter(|_| !line.starts_with('#')) else {
                continue;
            };
            written += 1;
            assert!(
                vars.iter().any(|(name, value, _)| name == k && value == v),
                "{line}"
            );
        }
        assert_eq!(vars.len(), written);
        assert!(written > 10);
    }
}
