//! `stats --watch`: a live terminal view read from the store once a second (so it works from a
//! second process beside the daemon, over SSH, in 80×24): per broadcaster the cycle's progress,
//! sent/failed counters and a sparkline of sends per minute; the accounts with pauses and stops.
//!
//! [`load`] reads, [`draw`] renders (pure, tested on ratatui's `TestBackend`), [`run`] loops.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Sparkline};
use smb_store::SqliteStore;

use crate::config::Settings;

/// Minutes of history kept for the sparklines (wider than any 80-column sparkline).
const SPARK_MINUTES: usize = 120;
/// Width of the label column left of the gauges and sparklines.
const LABEL_WIDTH: u16 = 24;

/// One broadcaster's line pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcasterRow {
    pub name: String,
    pub account: String,
    pub cycle: Option<u64>,
    pub done: u64,
    pub size: u64,
    pub completed: bool,
    pub sent: u64,
    pub failed: u64,
    /// Sends per minute, oldest first, the current minute last.
    pub per_minute: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountRow {
    pub name: String,
    pub paused_until: Option<Timestamp>,
    pub stopped_reason: Option<smb_domain::AccountStop>,
    pub last_error: Option<String>,
}

/// Everything one frame shows.
#[derive(Debug, Clone)]
pub struct WatchData {
    pub now: Timestamp,
    pub tz: TimeZone,
    pub since: Option<Timestamp>,
    pub broadcasters: Vec<BroadcasterRow>,
    pub accounts: Vec<AccountRow>,
}

/// Reads one frame's figures from the store.
pub async fn load(
    settings: &Settings,
    store: &SqliteStore,
    since: Option<SignedDuration>,
    now: Timestamp,
) -> anyhow::Result<WatchData> {
    let since = since.map(|d| now - d);
    let st = store.stats(since, now).await?;
    let mut series = store.sends_per_minute(now, SPARK_MINUTES).await?;
    let mut broadcasters: Vec<BroadcasterRow> = settings
        .broadcasters
        .iter()
        .map(|b| BroadcasterRow {
            name: b.spec.name.clone(),
            account: b.spec.account.clone(),
            size: b.spec.targets.len() as u64,
            ..Default::default()
        })
        .collect();
    for name in st.broadcasters.keys() {
        if !broadcasters.iter().any(|b| &b.name == name) {
            broadcasters.push(BroadcasterRow {
                name: name.clone(),
                ..Default::default()
            });
        }
    }
    for b in &mut broadcasters {
        if let Some(s) = st.broadcasters.get(&b.name) {
            b.cycle = s.current_cycle;
            b.done = s.cycle_done;
            b.completed = s.cycle_completed;
            b.sent = s.counts.sent;
            b.failed = s.counts.failed;
        }
        b.per_minute = series
            .remove(&b.name)
            .unwrap_or_else(|| vec![0; SPARK_MINUTES]);
    }
    let mut names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    for name in st.accounts.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let accounts = names
        .into_iter()
        .map(|name| {
            let s = st.accounts.get(&name).cloned().unwrap_or_default();
            AccountRow {
                paused_until: s.paused_until.as_deref().and_then(|p| p.parse().ok()),
                stopped_reason: s.stopped_reason,
                last_error: s.last_error,
                name,
            }
        })
        .collect();
    Ok(WatchData {
        now,
        tz: settings.timezone.clone(),
        since,
        broadcasters,
        accounts,
    })
}

fn left(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Renders one frame. Fits 80×24 with up to 8 broadcasters; more are summarised in a line.
pub fn draw(frame: &mut Frame, data: &WatchData) {
    let area = frame.area();
    let account_lines = data.accounts.len().max(1) as u16;
    let [header, body, accounts] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(account_lines + 2),
    ])
    .areas(area);

    let sent: u64 = data.broadcasters.iter().map(|b| b.sent).sum();
    let failed: u64 = data.broadcasters.iter().map(|b| b.failed).sum();
    let clock = data
        .now
        .to_zoned(data.tz.clone())
        .strftime("%H:%M:%S")
        .to_string();
    let period = match data.since {
        Some(s) => format!(
            "since {}",
            s.to_zoned(data.tz.clone()).strftime("%d.%m %H:%M")
        ),
        None => "all time".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "SendMessageBot",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " {clock}  sent {sent}  failed {failed} ({period})  q quits"
            )),
        ])),
        header,
    );

    let block = Block::default().borders(Borders::ALL).title(format!(
        " broadcasters: cycle · sends/min, last {} min ",
        body.width.saturating_sub(LABEL_WIDTH + 2)
    ));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let fits = usize::from(inner.height / 2);
    let shown = if data.broadcasters.len() > fits {
        fits.saturating_sub(1)
    } else {
        data.broadcasters.len()
    };
    for (i, b) in data.broadcasters.iter().take(shown).enumerate() {
        let y = inner.y + 2 * i as u16;
        let top = Rect::new(inner.x, y, inner.width, 1);
        let bottom = Rect::new(inner.x, y + 1, inner.width, 1);
        draw_broadcaster(frame, b, top, bottom);
    }
    if shown < data.broadcasters.len() {
        let y = inner.y + 2 * shown as u16;
        frame.render_widget(
            Paragraph::new(format!(
                "… and {} more (make the terminal taller)",
                data.broadcasters.len() - shown
            )),
            Rect::new(inner.x, y, inner.width, 1),
        );
    }

    let lines: Vec<Line> = if data.accounts.is_empty() {
        vec![Line::raw("no accounts")]
    } else {
        data.accounts
            .iter()
            .map(|a| account_line(a, data))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" accounts ")),
        accounts,
    );
}

fn draw_broadcaster(frame: &mut Frame, b: &BroadcasterRow, top: Rect, bottom: Rect) {
    let [label, gauge] =
        Layout::horizontal([Constraint::Length(LABEL_WIDTH), Constraint::Min(1)]).areas(top);
    let [counts, spark] =
        Layout::horizontal([Constraint::Length(LABEL_WIDTH), Constraint::Min(1)]).areas(bottom);
    let who = if b.account.is_empty() {
        b.name.clone()
    } else {
        format!("{} ({})", b.name, b.account)
    };
    frame.render_widget(
        Paragraph::new(Span::styled(
            who,
            Style::default().add_modifier(Modifier::BOLD),
        )),
        label,
    );
    let (ratio, text) = match b.cycle {
        None => (0.0, "no cycle yet".to_owned()),
        Some(c) if b.completed => (1.0, format!("cycle {c} complete")),
        Some(c) => {
            let ratio = if b.size == 0 {
                0.0
            } else {
                (b.done as f64 / b.size as f64).clamp(0.0, 1.0)
            };
            (ratio, format!("cycle {c}: {}/{}", b.done, b.size))
        }
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green).bg(Color::DarkGray))
            .ratio(ratio)
            .label(text),
        gauge,
    );
    frame.render_widget(
        Paragraph::new(format!("  sent {}  failed {}", b.sent, b.failed)),
        counts,
    );
    let width = usize::from(spark.width);
    let tail = &b.per_minute[b.per_minute.len().saturating_sub(width)..];
    frame.render_widget(
        Sparkline::default()
            .data(tail)
            .style(Style::default().fg(Color::Cyan)),
        spark,
    );
}

fn account_line<'a>(a: &'a AccountRow, data: &WatchData) -> Line<'a> {
    let name = Span::styled(
        format!("{:<12}", a.name),
        Style::default().add_modifier(Modifier::BOLD),
    );
    let state = if let Some(reason) = &a.stopped_reason {
        Span::styled(
            format!("STOPPED: {reason}"),
            Style::default().fg(Color::Red),
        )
    } else if let Some(until) = a.paused_until.filter(|u| *u > data.now) {
        let secs = data.now.duration_until(until).as_secs();
        let at = until.to_zoned(data.tz.clone()).strftime("%H:%M:%S");
        Span::styled(
            format!("paused, {} left (until {at})", left(secs)),
            Style::default().fg(Color::Yellow),
        )
    } else {
        Span::styled("ok", Style::default().fg(Color::Green))
    };
    let mut spans = vec![name, state];
    if let Some(e) = &a.last_error {
        spans.push(Span::raw(format!("  last error {e}")));
    }
    Line::from(spans)
}

/// Waits up to `timeout` for a key; true when it asks to quit (`q`, Esc, Ctrl-C).
fn wait_for_quit(timeout: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() || !event::poll(remaining)? {
            return Ok(false);
        }
        match event::read()? {
            Event::Key(k) if k.kind == KeyEventKind::Press => {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(k.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
                    return Ok(true);
                }
            }
            // Redraw at once at the new size.
            Event::Resize(..) => return Ok(false),
            _ => {}
        }
    }
}

/// Runs the live view until `q`.
pub async fn run(
    settings: &Settings,
    store: &SqliteStore,
    since: Option<SignedDuration>,
) -> anyhow::Result<ExitCode> {
    // Read once before touching the terminal, so a database error prints normally.
    let mut data = load(settings, store, since, Timestamp::now()).await?;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal for --watch")?;
    let result = async {
        loop {
            terminal.draw(|f| draw(f, &data))?;
            let quit = tokio::task::spawn_blocking(|| wait_for_quit(Duration::from_secs(1)))
                .await
                .context("waiting for a key")??;
            if quit {
                return anyhow::Ok(());
            }
            data = load(settings, store, since, Timestamp::now()).await?;
        }
    }
    .await;
    ratatui::try_restore().context("cannot restore the terminal")?;
    result?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use smb_domain::TargetRef;
    use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};
    use smb_store::SqliteSettings;

    use super::*;
    use crate::config::{EnvVars, Overrides};

    fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect()
    }

    async fn deliver(
        store: &SqliteStore,
        b: &str,
        account: &str,
        cycle: u64,
        target: &str,
        at: Timestamp,
        outcome: Outcome,
    ) {
        let key = DeliveryKey {
            broadcaster: b.into(),
            cycle,
            target: TargetRef::parse(target).unwrap(),
        };
        let random_id = at.as_millisecond() ^ target.len() as i64;
        let pending = PendingDelivery {
            key: key.clone(),
            account: account.into(),
            random_id,
            message: "m".into(),
            variant: None,
            attempt: 1,
            at,
        };
        store.write_pending(&pending).await.unwrap();
        store.record_outcome(&key, &outcome, at).await.unwrap();
    }

    #[tokio::test]
    async fn the_live_view_fits_80x24_and_shows_progress_counts_sparklines_and_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::open(&url, SqliteSettings::default())
            .await
            .unwrap();
        let settings = crate::config::parse(
            "example.toml",
            crate::config::EXAMPLE_TOML,
            &EnvVars::from_pairs(&[]),
            &Overrides::default(),
        )
        .unwrap();
        let now: Timestamp = "2026-11-24T10:30:30Z".parse().unwrap();
        let ago = |s: i64| now - SignedDuration::from_secs(s);
        let sent = Outcome::Sent {
            message_id: Some(7),
        };
        // b2b: cycle 2 at 3 of 5, one of them failed; sends spread over the last minutes.
        store.start_cycle("b2b", 1, "m", ago(3000)).await.unwrap();
        store.complete_cycle("b2b", 1, ago(2900)).await.unwrap();
        store.start_cycle("b2b", 2, "m", ago(300)).await.unwrap();
        deliver(
            &store,
            "b2b",
            "acc1",
            2,
            "@price_chat_one",
            ago(200),
            sent.clone(),
        )
        .await;
        deliver(
            &store,
            "b2b",
            "acc1",
            2,
            "@price_chat_two",
            ago(130),
            sent.clone(),
        )
        .await;
        let dead = Outcome::Failed {
            class: smb_domain::ErrorClass::TargetDead,
            code: "CHAT_WRITE_FORBIDDEN".into(),
            detail: "x".into(),
        };
        deliver(
            &store,
            "b2b",
            "acc1",
            2,
            "https://t.me/market_board",
            ago(10),
            dead,
        )
        .await;
        // gus: a finished cycle.
        store.start_cycle("gus", 1, "m", ago(600)).await.unwrap();
        deliver(
            &store,
            "gus",
            "acc2",
            1,
            "@price_chat_one",
            ago(500),
            sent.clone(),
        )
        .await;
        store.complete_cycle("gus", 1, ago(400)).await.unwrap();
        // acc2 is in a flood wait for 4 more minutes.
        store
            .record_pause(
                "acc2",
                None,
                smb_domain::PauseKind::FloodWait,
                Duration::from_secs(420),
                now + SignedDuration::from_secs(250),
                ago(170),
            )
            .await
            .unwrap();
        store.flush().await.unwrap();

        let data = load(&settings, &store, None, now).await.unwrap();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| draw(f, &data)).unwrap();
        let lines = screen(&terminal);
        let text = lines.join("\n");
        println!("{text}");

        assert!(
            lines[0].starts_with("SendMessageBot 13:30:30  sent 3  failed 1"),
            "{text}"
        );
        assert!(lines[0].contains("q quits"), "{text}");
        let b2b = lines
            .iter()
            .position(|l| l.contains("b2b (acc1)"))
            .expect("b2b row");
        assert!(lines[b2b].contains("cycle 2: 3/5"), "{text}");
        assert!(lines[b2b + 1].contains("sent 2  failed 1"), "{text}");
        // The sparkline: bars in b2b's row.
        let bars: String = lines[b2b + 1]
            .chars()
            .skip(usize::from(LABEL_WIDTH) + 1)
            .collect();
        assert!(bars.chars().any(|c| ('▁'..='█').contains(&c)), "{text}");
        let gus = lines
            .iter()
            .position(|l| l.contains("gus (acc2)"))
            .expect("gus row");
        assert!(lines[gus].contains("cycle 1 complete"), "{text}");
        let aaa = lines
            .iter()
            .position(|l| l.contains("aaa (acc1)"))
            .expect("aaa row");
        assert!(lines[aaa].contains("no cycle yet"), "{text}");
        assert!(text.contains("acc1        ok"), "{text}");
        assert!(
            text.contains("acc2        paused, 4m 10s left (until 13:34:40)"),
            "{text}"
        );
        assert!(
            lines[23].starts_with('└'),
            "the frame ends on the last line: {text}"
        );
        assert!(lines.iter().all(|l| l.chars().count() == 80));
    }

    #[test]
    fn too_many_broadcasters_are_summarised() {
        let data = WatchData {
            now: Timestamp::UNIX_EPOCH,
            tz: TimeZone::UTC,
            since: None,
            broadcasters: (0..20)
                .map(|i| BroadcasterRow {
                    name: format!("b{i}"),
                    per_minute: vec![1; 10],
                    ..Default::default()
                })
                .collect(),
            accounts: vec![],
        };
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| draw(f, &data)).unwrap();
        let text = screen(&terminal).join("\n");
        assert!(text.contains("… and 12 more"), "{text}");
        assert!(text.contains("no accounts"), "{text}");
    }
}
