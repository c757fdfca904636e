//! `report settings`: the seed's manage_reports — switch the periodic channel report on or
//! off, set its interval and channel. Kept in the `.env` file under the original's names
//! (`ENABLE_REPORTS`, `REPORT_INTERVAL_HOURS`, `REPORTS_CHANNEL_ID`), so a script, the menu
//! and a hand edit all change the same place; a running daemon takes them on `reload`.

use std::process::ExitCode;

use anyhow::bail;
use smb_notify::NotifySettings;

use crate::Cli;
use crate::config::Overrides;
use crate::{context, envfile};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Post the report every REPORT_INTERVAL_HOURS (needs REPORTS_BOT_TOKEN and a channel).
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop posting the report.
    #[arg(long)]
    pub disable: bool,
    /// Hours between two reports (1–744).
    #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u32).range(1..=744))]
    pub interval: Option<u32>,
    /// The channel to post to: its id (-100…) or @username; the bot must be an admin there.
    #[arg(long, value_name = "CHAT", allow_hyphen_values = true)]
    pub channel: Option<String>,
}

impl Args {
    fn changes(&self) -> Vec<(&'static str, Option<String>)> {
        let mut c = Vec::new();
        if self.enable || self.disable {
            c.push(("ENABLE_REPORTS", Some(self.enable.to_string())));
        }
        if let Some(h) = self.interval {
            c.push(("REPORT_INTERVAL_HOURS", Some(h.to_string())));
        }
        if let Some(ch) = &self.channel {
            c.push(("REPORTS_CHANNEL_ID", Some(ch.trim().to_owned())));
        }
        c
    }
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let changes = args.changes();
    if !changes.is_empty() {
        // Validate the result before writing it: a report switched on without a token or a
        // channel would stop the next `run` at start.
        let mut env = context::settings(cli, &Overrides::default(), true)?.env;
        for (k, v) in &changes {
            if let Some(v) = v {
                env.insert((*k).to_owned(), v.clone());
            }
        }
        if let Err(e) = NotifySettings::from_env_map(&env) {
            bail!("{e}; nothing was changed in {}", cli.env_file.display());
        }
        envfile::update(&cli.env_file, &changes)?;
        outln!(
            "saved in {}; a running daemon uses it after `sendmessagebot reload`",
            cli.env_file.display()
        )?;
    }
    show(cli)
}

/// Prints the report settings in force.
pub fn show(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let n = settings.sections.notify.clone();
    outln!("reports:  {}", if n.reports.enabled { "on" } else { "off" })?;
    outln!("interval: every {} h", n.reports.interval_hours)?;
    outln!(
        "channel:  {}",
        n.reports
            .channel_id
            .as_deref()
            .unwrap_or("(not set: REPORTS_CHANNEL_ID)")
    )?;
    outln!(
        "bot:      {}",
        if n.bot.token.is_some() {
            "REPORTS_BOT_TOKEN is set"
        } else {
            "(not set: REPORTS_BOT_TOKEN)"
        }
    )?;
    outln!(
        "time zone: {}",
        n.reports.timezone.iana_name().unwrap_or("UTC")
    )?;
    Ok(ExitCode::SUCCESS)
}
