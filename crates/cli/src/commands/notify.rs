//! `notify test`: one test notification through every channel switched on (the admin in
//! Telegram, the webhook), directly rather than through the daemon's queue; exit 1 if any failed.

use std::process::ExitCode;

use smb_notify::test_channels;

use crate::Cli;
use crate::config::Overrides;
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send a test notification to every enabled channel and show the result of each.
    Test,
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let notify = settings.sections.notify.clone();
    match cmd {
        Command::Test => {
            let results = test_channels(&notify).await?;
            if results.is_empty() {
                eprintln!(
                    "no notification channel is switched on: set ENABLE_TELEGRAM_NOTIFICATIONS=true \
                     (with REPORTS_BOT_TOKEN and ADMIN_TELEGRAM_ID) or ENABLE_WEBHOOK_NOTIFICATIONS=true \
                     (with WEBHOOK_URL) in .env"
                );
                return Ok(ExitCode::from(1));
            }
            let mut failed = false;
            for (channel, result) in results {
                match result {
                    Ok(()) => outln!("{channel}: ok")?,
                    Err(e) => {
                        failed = true;
                        outln!("{channel}: FAILED: {e}")?;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
