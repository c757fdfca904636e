//! `messages update|list|history|restore`: message sets fetched from their sources (Google
//! Sheets, CSV, files) and kept as versions in the store.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use smb_sources::{ContentRules, Fetcher, SetSource, SourcesSettings, UpdateOutcome, update_set};

use crate::Cli;
use crate::config::{Overrides, Settings};
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Fetch every set that has a source (or one set) and store a new version when it changed.
    Update(UpdateArgs),
    /// The current texts of a set: status, priority, version.
    List(NameArgs),
    /// The versions of a set, newest first, with what changed.
    History(NameArgs),
    /// Make an old version current again (stored as a new version).
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Only this set (the original's --type b2b|b2c|aaa|gus).
    #[arg(long = "type", value_name = "SET")]
    pub set: Option<String>,
    /// Accept a fetch with no active message (the set then sends nothing).
    #[arg(long)]
    pub allow_empty: bool,
    /// Use the sandbox database.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The message set (b2b, b2c, aaa, gus, …).
    pub name: String,
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    pub name: String,
    /// The version to bring back (see `messages history NAME`).
    #[arg(value_name = "VERSION")]
    pub number: i64,
    #[arg(long)]
    pub sandbox: bool,
}

pub async fn run(cli: &Cli, command: &Command) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), false)?;
    match command {
        Command::Update(a) => update(cli, &settings, a).await,
        Command::List(a) => list(&settings, a).await,
        Command::History(a) => history(&settings, a).await,
        Command::Restore(a) => restore(&settings, a).await,
    }
}

/// The sets with a source, as `smb-sources` wants them (all, or the one asked for).
pub fn set_sources(settings: &Settings, only: Option<&str>) -> anyhow::Result<Vec<SetSource>> {
    let all: Vec<SetSource> = settings
        .message_sources
        .iter()
        .map(|(name, info)| SetSource {
            set: name.clone(),
            source: info.source.clone(),
            rules: ContentRules {
                format: info.format,
                media: info.media,
            },
        })
        .collect();
    let Some(name) = only else { return Ok(all) };
    if let Some(s) = all.iter().find(|s| s.set == name) {
        return Ok(vec![s.clone()]);
    }
    let with_source: Vec<&str> = all.iter().map(|s| s.set.as_str()).collect();
    let hint = match smb_sources::seed_env_var(name) {
        Some(var) => format!("set {var} in .env or add `source = \"…\"` to [messages.{name}]"),
        None => {
            format!("add `source = \"…\"` (a file, Google Sheet or CSV URL) to [messages.{name}]")
        }
    };
    bail!(
        "message set `{name}` has no source ({hint}); sets with a source: {}",
        if with_source.is_empty() {
            "none".to_string()
        } else {
            with_source.join(", ")
        }
    )
}

/// The fetcher for this configuration: GOOGLE_CREDENTIALS_FILE etc., files relative to the
/// configuration's directory.
pub fn fetcher(cli: &Cli, settings: &Settings) -> anyhow::Result<Fetcher> {
    let base = cli
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let sources = SourcesSettings::from_env(&settings.env, base).map_err(anyhow::Error::msg)?;
    Fetcher::new(sources).context("preparing the HTTP client for sources")
}

async fn update(cli: &Cli, settings: &Settings, a: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let sets = set_sources(settings, a.set.as_deref())?;
    if sets.is_empty() {
        outln!(
            "no message set has a source: add `source = \"…\"` to a [messages.NAME] table, or set \
             BUY_SELL_PRICE_B2B_SHEET_URL (B2C, AAA, GUS) in .env"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Arc::new(context::open_store(settings, a.sandbox).await?);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(sets.len() as u64);
        let style =
            indicatif::ProgressStyle::with_template("{spinner} [{bar:24}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    // A source answering 429 with a long Retry-After (or failing and backing off) is a wait of
    // up to minutes: say so before it starts instead of going silent (issue 19). The spinner
    // keeps turning meanwhile; without a terminal the line alone is printed.
    let told = bar.clone();
    let fetcher = fetcher(cli, settings)?.on_wait(move |w| {
        let line = waiting_line(w);
        match &told {
            Some(b) => {
                b.println(&line);
                b.set_message(format!("waiting {}s before retrying", w.wait.as_secs()));
            }
            None => eprintln!("{line}"),
        }
    });
    let mut failed = 0usize;
    for s in &sets {
        if let Some(b) = &bar {
            b.set_message(format!("{}: {}", s.set, s.source.describe()));
        }
        let line =
            match update_set(&fetcher, store.as_ref(), s, a.allow_empty, Timestamp::now()).await {
                Ok(r) => {
                    let mut line = match &r.outcome {
                        UpdateOutcome::Updated { version, summary } => {
                            format!(
                                "{}: version {version} stored ({summary}) from {}",
                                r.set, r.origin
                            )
                        }
                        UpdateOutcome::Unchanged { version } => format!(
                            "{}: unchanged{} ({} messages, {} active) at {}",
                            r.set,
                            version
                                .map(|v| format!(", version {v}"))
                                .unwrap_or_default(),
                            r.rows,
                            r.active,
                            r.origin
                        ),
                    };
                    for note in &r.notes {
                        line.push_str(&format!("\n  note: {note}"));
                    }
                    line
                }
                Err(e) => {
                    failed += 1;
                    format!("error: {e}")
                }
            };
        match &bar {
            Some(b) => {
                b.println(&line);
                b.inc(1);
            }
            None => outln!("{line}")?,
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} sets were not updated; their current versions stay in use",
            sets.len()
        );
        return Ok(ExitCode::from(1));
    }
    outln!("a running daemon uses new versions from each broadcaster's next cycle")?;
    Ok(ExitCode::SUCCESS)
}

/// "waiting 120s (the server's Retry-After) before attempt 2 of 5: CSV https://host/p.csv:
/// rate limited (HTTP 429)".
fn waiting_line(w: &smb_sources::RetryWait) -> String {
    format!(
        "waiting {}s{} before attempt {} of {}: {} (Ctrl-C stops; the current version stays in use)",
        w.wait.as_secs_f64().ceil(),
        if w.asked_by_server {
            " (the server's Retry-After)"
        } else {
            ""
        },
        w.attempt + 1,
        w.max_attempts,
        w.reason
    )
}

fn first_line(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut s: String = line.chars().take(width).collect();
    if line.chars().count() > width || text.lines().count() > 1 {
        s.push('…');
    }
    s
}

async fn list(settings: &Settings, a: &NameArgs) -> anyhow::Result<ExitCode> {
    let store = context::open_store(settings, a.sandbox).await?;
    let (messages, header) = match store.current_message_set(&a.name).await? {
        Some(v) => (
            v.messages,
            format!(
                "`{}` version {} ({}), from {}",
                a.name,
                v.version,
                v.created_at
                    .to_zoned(settings.timezone.clone())
                    .strftime("%Y-%m-%d %H:%M:%S"),
                v.source
            ),
        ),
        None => {
            let configured = settings
                .broadcasters
                .iter()
                .map(|b| &b.spec.messages)
                .find(|m| m.name == a.name);
            let Some(set) = configured else {
                bail!(
                    "message set `{}` is neither stored nor used by a broadcaster: see `sendmessagebot broadcasters list`",
                    a.name
                );
            };
            (
                set.messages.clone(),
                format!(
                    "`{}`: the configured texts (no stored version; `messages update` fetches one)",
                    a.name
                ),
            )
        }
    };
    outln!("{header}")?;
    outln!("{:>3}  {:<8} {:>4}  text", "#", "status", "prio")?;
    for (i, m) in messages.iter().enumerate() {
        outln!(
            "{:>3}  {:<8} {:>4}  {}",
            i + 1,
            if m.active { "active" } else { "inactive" },
            m.priority,
            first_line(&m.text, 70)
        )?;
    }
    let active = messages.iter().filter(|m| m.active).count();
    outln!(
        "{} messages, {active} active (rotation: priority high first, then sheet order)",
        messages.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn history(settings: &Settings, a: &NameArgs) -> anyhow::Result<ExitCode> {
    let store = context::open_store(settings, a.sandbox).await?;
    let versions = store.message_set_history(&a.name).await?;
    if versions.is_empty() {
        outln!(
            "message set `{}` has no stored versions yet: `sendmessagebot messages update --type {}`",
            a.name,
            a.name
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let tz = settings.timezone.clone();
    for v in &versions {
        outln!(
            "{:>4}  {}  {}  ({})",
            format!("v{}", v.version),
            v.created_at
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S"),
            v.summary,
            v.source
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(settings: &Settings, a: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let store = context::open_store(settings, a.sandbox).await?;
    match store
        .restore_message_set(&a.name, a.number, Timestamp::now())
        .await?
    {
        Some(v) => outln!(
            "`{}`: version {} restored as version {v}; a running daemon uses it from the next cycle after its next refresh.\n\
             note: if the set has a source that still differs, the next `messages update` replaces it again",
            a.name,
            a.number
        )?,
        None => outln!(
            "`{}`: version {} is already the current content",
            a.name,
            a.number
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// For `run`: puts the newest stored version of each set in place of its configured texts.
/// Returns the versions applied, for [`spawn_refresh`].
pub async fn use_stored_versions(
    settings: &mut Settings,
    store: &dyn smb_store::Journal,
) -> anyhow::Result<Vec<(String, i64)>> {
    let mut specs: Vec<_> = settings
        .broadcasters
        .iter()
        .map(|b| b.spec.clone())
        .collect();
    let applied = smb_sources::apply_stored_versions(&Versions(store), &mut specs).await?;
    for (b, spec) in settings.broadcasters.iter_mut().zip(specs) {
        b.spec = spec;
    }
    for (set, version) in &applied {
        tracing::info!(set = %set, version, "using the stored version of the message set");
    }
    for b in &settings.broadcasters {
        if b.spec.messages.messages.is_empty() {
            tracing::warn!(
                broadcaster = %b.spec.name,
                set = %b.spec.messages.name,
                "the message set has no texts yet; the broadcaster waits for its first update ({})",
                crate::hint::command("messages update")
            );
        }
    }
    Ok(applied)
}

/// The stored versions of either journal for `smb_sources`: read on both; a new version is
/// stored in SQLite only yet (message sources need a SQLite journal, docs/postgres.md).
struct Versions<'a>(&'a dyn smb_store::Journal);

#[async_trait::async_trait]
impl smb_sources::VersionStore for Versions<'_> {
    async fn current(
        &self,
        set: &str,
    ) -> Result<Option<(i64, Vec<smb_domain::Message>)>, smb_engine::StoreError> {
        Ok(self
            .0
            .current_message_set(set)
            .await?
            .map(|v| (v.version, v.messages)))
    }

    async fn save(
        &self,
        set: &str,
        messages: &[smb_domain::Message],
        summary: &str,
        source: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, smb_engine::StoreError> {
        match self.0.sqlite() {
            Some(s) => smb_sources::VersionStore::save(s, set, messages, summary, source, at).await,
            None => Err(smb_engine::StoreError::Invalid(format!(
                "message set `{set}`: versions from a source are stored in a SQLite journal \
                 only in this version (docs/postgres.md)"
            ))),
        }
    }
}

/// For `run`, before the first cycle: a set with a source but no texts yet (no stored version,
/// none configured — what `migrate` writes for a sheet-only set) is fetched now, as
/// `messages update` would, so its broadcasters start with it instead of waiting a whole
/// cycle_delay (and `run --once` has something to send). Call before
/// [`use_stored_versions`], which then applies what was stored.
///
/// A fetch that fails is said on stderr and in the log; with `required` (`run --once`, which
/// must end) it is the error, naming the set and what to do.
pub async fn fetch_missing(
    cli: &Cli,
    settings: &Settings,
    store: &dyn smb_store::Journal,
    required: bool,
) -> anyhow::Result<()> {
    let mut waiting: Vec<SetSource> = Vec::new();
    for s in set_sources(settings, None)? {
        let unconfigured = settings
            .broadcasters
            .iter()
            .any(|b| b.spec.messages.name == s.set && b.spec.messages.messages.is_empty());
        if unconfigured && store.current_message_set(&s.set).await?.is_none() {
            waiting.push(s);
        }
    }
    if waiting.is_empty() {
        return Ok(());
    }
    let fetcher = fetcher(cli, settings)?;
    for s in &waiting {
        match update_set(&fetcher, &Versions(store), s, false, Timestamp::now()).await {
            Ok(r) => {
                tracing::info!(set = %s.set, origin = %r.origin, active = r.active, "first version of the message set fetched before the first cycle");
                eprintln!(
                    "message set {}: {} messages ({} active) fetched from {}",
                    s.set, r.rows, r.active, r.origin
                );
            }
            Err(e) if required => bail!(
                "{e}\n  message set `{}` has no stored version yet, so its broadcasters have nothing to send: \
                 fix its source, or run `sendmessagebot messages update --type {}` first",
                s.set,
                s.set
            ),
            Err(e) => {
                tracing::warn!(set = %s.set, error = %e, "no version of the message set yet; its broadcasters wait for the next refresh");
                eprintln!(
                    "warning: {e}\n  its broadcasters wait until a version is accepted (the refresh retries every GOOGLE_UPDATE_INTERVAL; `sendmessagebot messages update --type {}` now)",
                    s.set
                );
            }
        }
    }
    Ok(())
}

/// For `run`: refreshes every set with a source every GOOGLE_UPDATE_INTERVAL in the
/// background; new versions reach the broadcasters at their next cycle.
pub fn spawn_refresh(
    cli: &Cli,
    settings: &Settings,
    store: Arc<smb_store::SqliteStore>,
    applied: Vec<(String, i64)>,
    handle: smb_engine::DriverHandle,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let sets = set_sources(settings, None)?;
    if sets.is_empty() {
        return Ok(());
    }
    let interval = settings.sections.update_interval;
    let fetcher = Arc::new(fetcher(cli, settings)?);
    tracing::info!(
        sets = sets.len(),
        interval_s = interval.as_secs(),
        "message sets refresh from their sources"
    );
    tokio::spawn(smb_sources::refresh_loop(
        fetcher,
        store,
        sets,
        applied,
        interval,
        Arc::new(smb_engine::SystemClock),
        handle,
        shutdown,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        crate::Cli::command().debug_assert();
        let cli = <crate::Cli as clap::Parser>::try_parse_from([
            "sendmessagebot",
            "messages",
            "restore",
            "b2b",
            "7",
        ])
        .unwrap();
        let Some(crate::Command::Messages(super::Command::Restore(a))) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!((a.name.as_str(), a.number), ("b2b", 7));
    }
}
