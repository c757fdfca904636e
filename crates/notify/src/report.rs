//! Periodic reports to a channel: the report's data, its HTML text, the schedule of slots aligned
//! in the report time zone, and the loop that posts at each slot.
//!
//! Slots are wall-clock times in `REPORTS_TIMEZONE`: with `REPORT_INTERVAL_HOURS=12` a report goes
//! out at 00:00 and 12:00 local time every day, even on the days the clocks change (those periods
//! are then 11 or 13 hours long). Intervals that do not divide 24 restart at midnight
//! (5 → 00, 05, 10, 15, 20); intervals of a day or more are whole days counted from 1970-01-01.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Serialize;
use smb_engine::ports::Clock;
use tokio_util::sync::CancellationToken;

use crate::botapi::{BotApi, BotApiError};
use crate::settings::{NotifySettings, ReportSettings, SettingsError};

/// What a report says about one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportData {
    pub since: Timestamp,
    pub until: Timestamp,
    pub broadcasters: Vec<BroadcasterReport>,
    pub accounts: Vec<AccountReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BroadcasterReport {
    pub name: String,
    pub sent: u64,
    /// Failed deliveries by error class (`target_dead`, `bad_content`, `transient`, …).
    pub failed: BTreeMap<String, u64>,
    pub flood_waits: u64,
    pub flood_wait_seconds: u64,
    pub cycles_completed: u64,
    pub disabled_targets: Vec<DisabledTarget>,
}

impl BroadcasterReport {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DisabledTarget {
    pub target: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub paused_until: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    pub last_error: Option<String>,
}

/// Telegram refuses texts over 4096 characters; keep a margin for the truncation note.
const MAX_REPORT_CHARS: usize = 4000;
/// Disabled targets listed per broadcaster before "… and N more".
const MAX_LISTED_TARGETS: usize = 10;

/// Escapes text for Telegram's HTML parse mode.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Turns a report's HTML into plain text for a terminal (`report preview`).
pub fn html_to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%d.%m.%Y %H:%M")
        .to_string()
}

fn duration_ru(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} с"),
        s if s < 3600 => format!("{} мин {} с", s / 60, s % 60),
        s => format!("{} ч {} мин", s / 3600, (s % 3600) / 60),
    }
}

/// Renders the report as Telegram HTML, in Russian, times in `tz`.
///
/// Every line is complete in itself (no tag spans two lines), so cutting a long report at a line
/// boundary keeps the HTML valid.
pub fn render_report(data: &ReportData, tz: &TimeZone) -> String {
    let zone = tz.iana_name().unwrap_or("UTC");
    let mut lines: Vec<String> = Vec::new();
    lines.push("📊 <b>Отчёт SendMessageBot</b>".to_owned());
    lines.push(format!(
        "Период: {} — {} ({})",
        local(data.since, tz),
        local(data.until, tz),
        escape_html(zone)
    ));
    lines.push(String::new());

    let sent: u64 = data.broadcasters.iter().map(|b| b.sent).sum();
    let failed: u64 = data
        .broadcasters
        .iter()
        .map(BroadcasterReport::failed_total)
        .sum();
    let waits: u64 = data.broadcasters.iter().map(|b| b.flood_waits).sum();
    let wait_seconds: u64 = data.broadcasters.iter().map(|b| b.flood_wait_seconds).sum();
    let cycles: u64 = data.broadcasters.iter().map(|b| b.cycles_completed).sum();
    lines.push(format!(
        "<b>Итого:</b> отправлено {sent}, ошибок {failed}, циклов завершено {cycles}"
    ));
    if waits > 0 {
        lines.push(format!(
            "Флуд-ожиданий: {waits} ({})",
            duration_ru(wait_seconds)
        ));
    }
    if data.broadcasters.is_empty() {
        lines.push("За период рассылок не было.".to_owned());
    }

    for b in &data.broadcasters {
        lines.push(String::new());
        lines.push(format!("📨 <b>{}</b>", escape_html(&b.name)));
        let mut line = format!(
            "отправлено {}, ошибок {}, циклов {}",
            b.sent,
            b.failed_total(),
            b.cycles_completed
        );
        if !b.failed.is_empty() {
            let classes: Vec<String> = b
                .failed
                .iter()
                .map(|(class, n)| format!("{}: {n}", escape_html(class)))
                .collect();
            let _ = write!(line, " ({})", classes.join(", "));
        }
        lines.push(line);
        if b.flood_waits > 0 {
            lines.push(format!(
                "флуд-ожидания: {} ({})",
                b.flood_waits,
                duration_ru(b.flood_wait_seconds)
            ));
        }
        if !b.disabled_targets.is_empty() {
            lines.push(format!("отключённые чаты: {}", b.disabled_targets.len()));
            for t in b.disabled_targets.iter().take(MAX_LISTED_TARGETS) {
                lines.push(format!(
                    "  • <code>{}</code> — {}",
                    escape_html(&t.target),
                    escape_html(&t.reason)
                ));
            }
            if b.disabled_targets.len() > MAX_LISTED_TARGETS {
                lines.push(format!(
                    "  … и ещё {}",
                    b.disabled_targets.len() - MAX_LISTED_TARGETS
                ));
            }
        }
    }

    if !data.accounts.is_empty() {
        lines.push(String::new());
        lines.push("👤 <b>Аккаунты</b>".to_owned());
        for a in &data.accounts {
            let name = escape_html(&a.name);
            let mut line = match (&a.stopped_reason, a.paused_until) {
                (Some(reason), _) => format!("⛔ {name} — остановлен: {}", escape_html(reason)),
                (None, Some(until)) if until > data.until => {
                    format!("⏸ {name} — на паузе до {}", local(until, tz))
                }
                _ => format!("✅ {name} — работает"),
            };
            if let Some(err) = &a.last_error {
                let _ = write!(line, "; последняя ошибка: {}", escape_html(err));
            }
            lines.push(line);
        }
    }

    let mut out = String::new();
    for line in &lines {
        if out.chars().count() + line.chars().count() + 1 > MAX_REPORT_CHARS {
            out.push_str("… (отчёт сокращён)");
            return out;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// Report slots on one local date, as instants (DST gaps resolved forward, folds to the earlier).
fn slots_on(date: Date, interval_hours: u32, tz: &TimeZone) -> Vec<Timestamp> {
    let at = |hour: u32| -> Option<Timestamp> {
        let hour = i8::try_from(hour).ok()?;
        date.at(hour, 0, 0, 0)
            .to_zoned(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    if interval_hours >= 24 {
        let days = i64::from(interval_hours / 24);
        let epoch = jiff::civil::date(1970, 1, 1);
        let since_epoch = epoch
            .until(date)
            .map_or(0, |span| i64::from(span.get_days()));
        if since_epoch.rem_euclid(days) == 0 {
            at(0).into_iter().collect()
        } else {
            Vec::new()
        }
    } else {
        (0..24)
            .step_by(interval_hours.max(1) as usize)
            .filter_map(at)
            .collect()
    }
}

fn local_date(ts: Timestamp, tz: &TimeZone) -> Date {
    Zoned::new(ts, tz.clone()).date()
}

/// The first report slot strictly after `now`.
pub fn next_report_at(now: Timestamp, interval_hours: u32, tz: &TimeZone) -> Timestamp {
    let mut date = local_date(now, tz);
    // Look a little past the longest gap between two slots (interval in days, + 1 day of margin).
    for _ in 0..=(interval_hours / 24 + 2) {
        if let Some(slot) = slots_on(date, interval_hours, tz)
            .into_iter()
            .find(|s| *s > now)
        {
            return slot;
        }
        match date.tomorrow() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    // Only at the end of jiff's range: fall back to a plain interval.
    now.checked_add(jiff::SignedDuration::from_hours(i64::from(interval_hours)))
        .unwrap_or(now)
}

/// The last report slot at or before `at`: where the period of a report due at `at` starts
/// (pass the slot itself minus a second to get the previous one).
pub fn last_report_at(at: Timestamp, interval_hours: u32, tz: &TimeZone) -> Timestamp {
    let mut date = local_date(at, tz);
    for _ in 0..=(interval_hours / 24 + 2) {
        if let Some(slot) = slots_on(date, interval_hours, tz)
            .into_iter()
            .rev()
            .find(|s| *s <= at)
        {
            return slot;
        }
        match date.yesterday() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    at.checked_sub(jiff::SignedDuration::from_hours(i64::from(interval_hours)))
        .unwrap_or(at)
}

/// The period a report due at `slot` covers: from the slot before it.
pub fn period_ending_at(
    slot: Timestamp,
    interval_hours: u32,
    tz: &TimeZone,
) -> (Timestamp, Timestamp) {
    let before = slot
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap_or(slot);
    (last_report_at(before, interval_hours, tz), slot)
}

/// The period of a report made now, outside the schedule (`report preview|send`): from the
/// last slot to `now`. Needs no token, so a preview works before the bot is set up.
pub fn current_period(now: Timestamp, settings: &ReportSettings) -> (Timestamp, Timestamp) {
    (
        last_report_at(now, settings.interval_hours, &settings.timezone),
        now,
    )
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a report's numbers come from (the store, in the daemon).
#[async_trait]
pub trait ReportSource: Send + Sync {
    async fn report_data(&self, since: Timestamp, until: Timestamp)
    -> Result<ReportData, BoxError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reports are switched off: set ENABLE_REPORTS=true")]
    Disabled,
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    BotApi(#[from] BotApiError),
    #[error("could not collect the report's data: {0}")]
    Source(String),
}

/// Renders and posts reports to the channel; also runs the periodic loop.
#[derive(Debug, Clone)]
pub struct Reporter {
    api: BotApi,
    channel_id: String,
    interval_hours: u32,
    tz: TimeZone,
}

impl Reporter {
    /// The reporter configured by `ENABLE_REPORTS` and friends; [`ReportError::Disabled`] when
    /// reports are off (`report send` says so; the daemon then starts no loop).
    pub fn from_settings(settings: &NotifySettings) -> Result<Reporter, ReportError> {
        if !settings.reports.enabled {
            return Err(ReportError::Disabled);
        }
        let channel_id = settings
            .reports
            .channel_id
            .clone()
            .ok_or(SettingsError::Missing {
                enabled_by: "ENABLE_REPORTS",
                name: "REPORTS_CHANNEL_ID",
                hint: "the channel's id (-100…) or @username",
            })?;
        Ok(Reporter::new(
            BotApi::new(&settings.bot)?,
            channel_id,
            settings.reports.interval_hours,
            settings.reports.timezone.clone(),
        ))
    }

    pub fn new(api: BotApi, channel_id: String, interval_hours: u32, tz: TimeZone) -> Reporter {
        Reporter {
            api,
            channel_id,
            interval_hours: interval_hours.max(1),
            tz,
        }
    }

    pub fn timezone(&self) -> &TimeZone {
        &self.tz
    }

    /// The period of a report made now, outside the schedule (`report preview|send`): from the
    /// last slot to `now`.
    pub fn period_until(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        (last_report_at(now, self.interval_hours, &self.tz), now)
    }

    pub fn render(&self, data: &ReportData) -> String {
        render_report(data, &self.tz)
    }

    /// Collects, renders and posts the report for `since..until`; returns the message id.
    pub async fn send(
        &self,
        source: &dyn ReportSource,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<i64, ReportError> {
        let data = source
            .report_data(since, until)
            .await
            .map_err(|e| ReportError::Source(e.to_string()))?;
        Ok(self
            .api
            .send_message(&self.channel_id, &self.render(&data))
            .await?)
    }

    /// Posts a report at every slot until `shutdown`. A slot whose report fails transiently is
    /// retried a few times, a minute apart; a permanent failure (bad token, bot not in the
    /// channel) is logged and the loop goes on to the next slot.
    pub async fn run(
        self,
        source: Arc<dyn ReportSource>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) {
        const ATTEMPTS: u32 = 3;
        let mut last_slot: Option<Timestamp> = None;
        loop {
            let now = clock.now();
            let slot = next_report_at(now, self.interval_hours, &self.tz);
            let wait = now.duration_until(slot).unsigned_abs();
            tracing::debug!(%slot, ?wait, "next report");
            // Slots are wall-clock times: look at the wall clock again at least once a
            // minute, so a clock set forward or back moves the report with it.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
            }
            // Not there yet (a partial sleep, a wall clock set back), or already posted.
            if clock.now() < slot || last_slot == Some(slot) {
                continue;
            }
            last_slot = Some(slot);
            let (since, until) = period_ending_at(slot, self.interval_hours, &self.tz);
            for attempt in 1..=ATTEMPTS {
                match self.send(source.as_ref(), since, until).await {
                    Ok(message_id) => {
                        tracing::info!(%since, %until, message_id, "report posted");
                        break;
                    }
                    Err(ReportError::BotApi(e)) if e.is_permanent() => {
                        tracing::error!(error = %e, "report not posted");
                        break;
                    }
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::warn!(error = %e, attempt, "report not posted; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(60)) => {}
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "report not posted"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn twelve_hour_slots_follow_local_midnight_and_noon_across_dst() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 2026-03-29: clocks go 02:00 CET -> 03:00 CEST.
        let a = next_report_at(ts("2026-03-28T20:00:00Z"), 12, &berlin);
        assert_eq!(a, ts("2026-03-28T23:00:00Z")); // 00:00 CET
        let b = next_report_at(a, 12, &berlin);
        assert_eq!(b, ts("2026-03-29T10:00:00Z")); // 12:00 CEST, 11 h later
        let c = next_report_at(b, 12, &berlin);
        assert_eq!(c, ts("2026-03-29T22:00:00Z")); // 00:00 CEST
        assert_eq!(period_ending_at(b, 12, &berlin), (a, b));
    }

    #[test]
    fn the_autumn_change_makes_one_period_thirteen_hours_long() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 2026-10-25: clocks go 03:00 CEST -> 02:00 CET.
        let midnight = next_report_at(ts("2026-10-24T20:00:00Z"), 12, &berlin);
        assert_eq!(midnight, ts("2026-10-24T22:00:00Z")); // 00:00 CEST
        let noon = next_report_at(midnight, 12, &berlin);
        assert_eq!(noon, ts("2026-10-25T11:00:00Z")); // 12:00 CET, 13 h later
        assert_eq!(period_ending_at(noon, 12, &berlin), (midnight, noon));
    }

    #[test]
    fn hourly_slots_skip_the_missing_hour_once() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08 02:00 EST does not exist: 01:00 EST, then 03:00 EDT, then 04:00 EDT.
        let one = ts("2026-03-08T06:00:00Z");
        let three = next_report_at(one, 1, &ny);
        assert_eq!(three, ts("2026-03-08T07:00:00Z"));
        assert_eq!(next_report_at(three, 1, &ny), ts("2026-03-08T08:00:00Z"));
    }

    #[test]
    fn uneven_and_multi_day_intervals() {
        let utc = TimeZone::UTC;
        assert_eq!(
            next_report_at(ts("2026-01-01T21:00:00Z"), 5, &utc),
            ts("2026-01-02T00:00:00Z")
        );
        let two_days = next_report_at(ts("2026-01-01T01:00:00Z"), 48, &utc);
        assert_eq!(two_days, ts("2026-01-03T00:00:00Z")); // day 20456 since epoch is even
        assert_eq!(last_report_at(two_days, 48, &utc), two_days);
        assert_eq!(
            period_ending_at(two_days, 48, &utc).0,
            ts("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn report_is_escaped_russian_html() {
        let moscow = TimeZone::get("Europe/Moscow").unwrap();
        let data = ReportData {
            since: ts("2026-11-24T09:00:00Z"),
            until: ts("2026-11-24T21:00:00Z"),
            broadcasters: vec![BroadcasterReport {
                name: "b2b <prod>".into(),
                sent: 40,
                failed: BTreeMap::from([("target_dead".into(), 2), ("transient".into(), 1)]),
                flood_waits: 1,
                flood_wait_seconds: 420,
                cycles_completed: 2,
                disabled_targets: vec![DisabledTarget {
                    target: "@chat_a".into(),
                    reason: "CHAT_WRITE_FORBIDDEN".into(),
                }],
            }],
            accounts: vec![
                AccountReport {
                    name: "acc1".into(),
                    paused_until: Some(ts("2026-11-24T22:00:00Z")),
                    ..Default::default()
                },
                AccountReport {
                    name: "acc2".into(),
                    stopped_reason: Some("SESSION_REVOKED".into()),
                    ..Default::default()
                },
            ],
        };
        let text = render_report(&data, &moscow);
        assert!(
            text.contains("Период: 24.11.2026 12:00 — 25.11.2026 00:00 (Europe/Moscow)"),
            "{text}"
        );
        assert!(text.contains("<b>b2b &lt;prod&gt;</b>"), "{text}");
        assert!(
            text.contains("отправлено 40, ошибок 3, циклов 2 (target_dead: 2, transient: 1)"),
            "{text}"
        );
        assert!(text.contains("флуд-ожидания: 1 (7 мин 0 с)"), "{text}");
        assert!(
            text.contains("<code>@chat_a</code> — CHAT_WRITE_FORBIDDEN"),
            "{text}"
        );
        assert!(
            text.contains("acc1 — на паузе до 25.11.2026 01:00"),
            "{text}"
        );
        assert!(
            text.contains("acc2 — остановлен: SESSION_REVOKED"),
            "{text}"
        );
        assert!(html_to_plain(&text).contains("b2b <prod>"));
    }

    #[test]
    fn a_huge_report_is_cut_at_a_line_under_telegrams_limit() {
        let data = ReportData {
            broadcasters: (0..500)
                .map(|i| BroadcasterReport {
                    name: format!("broadcaster {i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let text = render_report(&data, &TimeZone::UTC);
        assert!(text.chars().count() <= 4096);
        assert!(text.ends_with("… (отчёт сокращён)"));
    }
}
