//! `report preview|send`: the periodic channel report for the period so far (from the last
//! report slot until now), printed or posted to `REPORTS_CHANNEL_ID` now.

use std::process::ExitCode;

use anyhow::Context as _;
use jiff::Timestamp;
use smb_notify::report::{current_period, html_to_plain};
use smb_notify::{ReportSource as _, Reporter, render_report};

use crate::Cli;
use crate::config::Overrides;
use crate::context;
use crate::observe::StoreReportSource;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the report as it would be posted now (needs no bot token).
    Preview {
        /// Print Telegram's HTML instead of plain text.
        #[arg(long)]
        html: bool,
        /// Figures of the sandbox database.
        #[arg(long)]
        sandbox: bool,
    },
    /// Post the report to REPORTS_CHANNEL_ID now (ENABLE_REPORTS=true and REPORTS_BOT_TOKEN needed).
    Send {
        /// Figures of the sandbox database.
        #[arg(long)]
        sandbox: bool,
    },
    /// Show or change the report settings (on/off, interval, channel), kept in .env.
    Settings(crate::commands::report_settings::Args),
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    if let Command::Settings(a) = cmd {
        return crate::commands::report_settings::run(cli, a).await;
    }
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let notify = settings.sections.notify.clone();
    let now = Timestamp::now();
    match cmd {
        Command::Preview { html, sandbox } => {
            let store = context::open_store(&settings, *sandbox).await?;
            let (since, until) = current_period(now, &notify.reports);
            let data = StoreReportSource::new(store, &settings)
                .report_data(since, until)
                .await
                .map_err(|e| anyhow::anyhow!("collecting the report: {e}"))?;
            let text = render_report(&data, &notify.reports.timezone);
            outln!("{}", if *html { text } else { html_to_plain(&text) })?;
        }
        Command::Send { sandbox } => {
            let reporter = Reporter::from_settings(&notify)?;
            let store = context::open_store(&settings, *sandbox).await?;
            let (since, until) = reporter.period_until(now);
            let source = StoreReportSource::new(store, &settings);
            let message_id = reporter
                .send(&source, since, until)
                .await
                .context("posting the report")?;
            let channel = notify.reports.channel_id.as_deref().unwrap_or_default();
            outln!("report posted to {channel} (message {message_id})")?;
        }
        Command::Settings(_) => {}
    }
    Ok(ExitCode::SUCCESS)
}
