//! `check`: validate the configuration without sending.

use std::process::ExitCode;

use crate::Cli;
use crate::config::{self, EnvVars, Overrides};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check as if TEST_MODE were on (every broadcaster needs a test list).
    #[arg(long)]
    test_mode: bool,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let env = match EnvVars::load(&cli.env_file) {
        Ok(e) => e,
        Err(e) => {
            println!("✗ {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let overrides = Overrides { test_mode: args.test_mode, ..Overrides::default() };
    match config::load(Some(&cli.config), &env, &overrides) {
        Ok(s) => {
            println!("✓ {}: {} accounts, {} target lists, {} broadcasters", s.source, s.accounts.len(), s.target_lists.len(), s.broadcasters.len());
            for b in &s.broadcasters {
                let p = &b.spec.pacing;
                println!(
                    "✓ broadcaster {}: account {}, {} targets ({}), {} messages, every {}s between chats, {}s between cycles",
                    b.spec.name,
                    b.spec.account,
                    b.spec.targets.len(),
                    b.target_list,
                    b.spec.messages.rotation_order().len(),
                    p.delay_between_chats.as_secs_f64(),
                    p.cycle_delay.as_secs_f64()
                );
            }
            let proxy_problems = crate::telegram::proxy_problems(&s);
            for p in &proxy_problems {
                println!("✗ {p}");
            }
            if !proxy_problems.is_empty() {
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("✗ {e}");
            Ok(ExitCode::from(1))
        }
    }
}
