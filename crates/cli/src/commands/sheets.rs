//! `sheets test`: the original's "test Google Sheets" — reach every source, show its rows and
//! whether they would be accepted, without storing anything.

use std::process::ExitCode;

use smb_sources::check_rows;

use crate::Cli;
use crate::commands::messages::{fetcher, set_sources};
use crate::config::Overrides;
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Fetch every source (or one set) and show what it holds; nothing is stored.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Only this set.
    #[arg(long = "type", value_name = "SET")]
    pub set: Option<String>,
    /// Rows shown per set.
    #[arg(long, default_value_t = 5)]
    pub rows: usize,
}

pub async fn run(cli: &Cli, command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Test(a) = command;
    let settings = context::settings(cli, &Overrides::default(), false)?;
    let sets = set_sources(&settings, a.set.as_deref())?;
    if sets.is_empty() {
        outln!(
            "no message set has a source: set BUY_SELL_PRICE_B2B_SHEET_URL (B2C, AAA, GUS) in .env or add `source = \"…\"`"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let fetcher = fetcher(cli, &settings)?;
    match fetcher.client_email().await {
        Ok(Some(email)) => outln!("service account: {email} (share each sheet with it, Viewer)")?,
        Ok(None) => outln!(
            "no GOOGLE_CREDENTIALS_FILE: sheets are read through their CSV export (shared \"Anyone with the link\")"
        )?,
        Err(e) => outln!("error: {e}")?,
    }
    let mut failed = 0usize;
    for s in &sets {
        outln!("\n[{}] {}", s.set, s.source.describe())?;
        let fetched = match fetcher.fetch(&s.source).await {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                outln!("  error: {e}")?;
                continue;
            }
        };
        let active = fetched.rows.iter().filter(|r| r.message.active).count();
        outln!("  {} messages, {active} active", fetched.rows.len())?;
        for note in &fetched.notes {
            outln!("  note: {note}")?;
        }
        for r in fetched.rows.iter().take(a.rows) {
            let text: String = r
                .message
                .text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            outln!(
                "  {} {:>4}  {:<8} {:>2}  {}{}",
                fetched.unit,
                r.row,
                if r.message.active {
                    "active"
                } else {
                    "inactive"
                },
                r.message.priority,
                text,
                r.updated
                    .as_deref()
                    .map(|u| format!("  (updated {u})"))
                    .unwrap_or_default()
            )?;
        }
        match check_rows(&fetched.origin, fetched.unit, &fetched.rows, s.rules, false) {
            Ok(()) => outln!("  ok: `messages update` would accept it")?,
            Err(e) => {
                failed += 1;
                outln!("  would be refused: {e}")?;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
