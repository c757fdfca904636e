//! Per-chat rules: what a chat's admins allow us (minimum gap between our posts, days, hours,
//! posts per day), and when the next post may go out given the posts we already made there.
//!
//! A rule holds for the chat, whichever broadcaster or account posts: the planner passes the
//! times of all our recent posts in that chat. Days, hours and "per day" are local to a time
//! zone (the schedule's) and DST-correct: a day is a local calendar day (23 or 25 hours on a
//! change day), an hour window `9-21` means 09:00 to 21:00 local wall time on every day.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::lang::{Lang, local_minute};
use crate::schedule::next_local_hour;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Allowed days of the week (bit 0 = Monday … bit 6 = Sunday); never empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Parses `mon-sat`, `mon,wed,fri`, `sat-sun`, `fri-mon` (a range may wrap past Sunday),
    /// `sat`; names are the first three letters of English day names (any case) or the full
    /// names. Errors say what to write.
    pub fn parse(s: &str) -> Result<Self, String> {
        let hint = || {
            format!(
                "`{s}` is not a list of days; write e.g. \"mon-sat\", \"mon,wed,fri\" or \"sat-sun\" (days: mon tue wed thu fri sat sun)"
            )
        };
        let day = |w: &str| -> Result<u8, String> {
            let w = w.trim().to_ascii_lowercase();
            DAY_NAMES
                .iter()
                .position(|d| w.len() >= 3 && (w == *d || full_name(d) == w))
                .map(|i| i as u8)
                .ok_or_else(hint)
        };
        let mut bits = 0u8;
        // A day named twice (`mon,mon`, `mon-fri,wed`) is a slip, not a wider rule: refused.
        let mut add = |d: u8| -> Result<(), String> {
            if bits & (1 << d) != 0 {
                return Err(format!(
                    "`{s}` names {} twice; name each day once, e.g. \"mon-sat\" or \"mon,wed,fri\"",
                    DAY_NAMES[d as usize]
                ));
            }
            bits |= 1 << d;
            Ok(())
        };
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        add(d)?;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => add(day(part)?)?,
            }
        }
        if bits == 0 {
            return Err(hint());
        }
        Ok(Weekdays(bits))
    }

    /// `monday_based`: 0 = Monday … 6 = Sunday.
    pub fn contains(self, monday_based: u8) -> bool {
        monday_based < 7 && self.0 & (1 << monday_based) != 0
    }
}

fn full_name(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<&str> = (0..7)
            .filter(|d| self.contains(*d))
            .map(|d| DAY_NAMES[d as usize])
            .collect();
        f.write_str(&days.join(","))
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weekdays({self})")
    }
}

/// Allowed local hours `[start, end)`: `9-21` is 09:00 up to 21:00; `22-6` crosses midnight;
/// `end` may be 24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HourWindow {
    /// First allowed local hour, 0–23.
    pub start: u8,
    /// The hour the window closes at (exclusive), 0–24; below `start`: across midnight.
    pub end: u8,
}

impl HourWindow {
    /// Parses `START-END` with whole hours 0–24 (`9-21`, `22-6`, `0-24`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let hint = || {
            format!(
                "`{s}` is not an hour window; write \"START-END\" in whole local hours, e.g. \"9-21\" (09:00 to 21:00) or \"22-6\" (across midnight)"
            )
        };
        let (a, b) = s.split_once('-').ok_or_else(hint)?;
        let start: u8 = a.trim().parse().map_err(|_| hint())?;
        let end: u8 = b.trim().parse().map_err(|_| hint())?;
        if start > 23 || end > 24 {
            return Err(hint());
        }
        if start == end {
            return Err(format!(
                "`{s}` is an empty window (it opens and closes at {start}:00): no post could ever go out; write e.g. \"9-21\", or \"0-24\" for the whole day, or remove `hours`"
            ));
        }
        Ok(HourWindow { start, end })
    }

    /// Whether local hour `hour` (0–23) lies in the window.
    pub fn contains(self, hour: u8) -> bool {
        if self.start < self.end {
            hour >= self.start && hour < self.end
        } else {
            hour >= self.start || hour < self.end
        }
    }
}

impl fmt::Display for HourWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The longest `min_gap` the planner can hold: it keeps the posts of the last 8 days (a week
/// for `days` and `max_per_day`, plus a day), so a longer gap would quietly end after 8 days.
/// A weekly post is `days = "mon"` (with `max_per_day = 1`).
pub const MIN_GAP_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// One chat's rules, as written in a `[targets]` entry. `Default` is "no rule".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatRules {
    /// `min_gap`: two of our posts in the chat are never closer than this.
    pub min_gap: Option<Duration>,
    /// `days`: local days of the week when we may post.
    pub days: Option<Weekdays>,
    /// `hours`: local hours when we may post.
    pub hours: Option<HourWindow>,
    /// `max_per_day`: at most this many of our posts per local calendar day (≥ 1).
    pub max_per_day: Option<u32>,
}

/// Which rule holds a post back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleHold {
    /// The last post is closer than `min_gap`.
    Gap(Duration),
    /// Today is not one of the allowed days.
    Day(Weekdays),
    /// The local hour is outside the window.
    Hours(HourWindow),
    /// `max_per_day` posts were already made today.
    DailyLimit(u32),
}

impl fmt::Display for RuleHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleHold::Gap(g) => write!(f, "min_gap {}", human(*g)),
            RuleHold::Day(d) => write!(f, "days {d}: not today"),
            RuleHold::Hours(h) => write!(f, "hours {h}: outside the window"),
            RuleHold::DailyLimit(n) => write!(f, "max_per_day {n}: reached today"),
        }
    }
}

impl RuleHold {
    /// The rule in `lang`, e.g. `min_gap 24h` / `min_gap 24h: пауза между постами`.
    pub fn words(&self, lang: Lang) -> String {
        match (lang, self) {
            (Lang::En, _) => self.to_string(),
            (Lang::Ru, RuleHold::Gap(g)) => {
                format!(
                    "min_gap {}: не прошёл минимальный промежуток между постами",
                    human(*g)
                )
            }
            (Lang::Ru, RuleHold::Day(d)) => format!("days {d}: сегодня не разрешённый день"),
            (Lang::Ru, RuleHold::Hours(h)) => format!("hours {h}: вне разрешённых часов"),
            (Lang::Ru, RuleHold::DailyLimit(n)) => {
                format!("max_per_day {n}: дневной лимит постов исчерпан")
            }
        }
    }
}

/// Why a target is held back now, typed so every edge (stats, dashboard, dry run) says it in
/// its reader's language and time zone. Stored in the journal as [`HoldReason::encode`]'s
/// text; a row written by an older version (plain words) reads back as [`HoldReason::Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// A chat rule holds it (skipped for this cycle).
    Rule(RuleHold),
    /// Slow mode: our last post from `account` was at `last`; Telegram counts per member.
    SlowMode {
        /// The chat's slow mode in seconds.
        seconds: u64,
        /// The account whose last post starts the wait.
        account: String,
        /// That post.
        last: Timestamp,
    },
    /// Telegram told `account` to wait here (`SLOWMODE_WAIT`).
    Told {
        /// The account told to wait.
        account: String,
    },
    /// The chat's rules allow no moment in the next 400 days.
    Never,
    /// The target refused `account` (a send or a pre-flight check) while another account
    /// posting there can still write: only `account` skips it (skipped for the cycle).
    Refused {
        /// The refused account.
        account: String,
        /// Why, in English words (Telegram's refusal as `SendError::refusal_reason` says it,
        /// or the check's reason).
        why: String,
    },
    /// Words stored by an older version.
    Text(String),
}

impl HoldReason {
    /// The journal's form: `rule:min_gap:SECONDS`, `rule:days:mon,tue`, `rule:hours:9-21`,
    /// `rule:max_per_day:N`, `slowmode:SECONDS:RFC3339:ACCOUNT`, `told:ACCOUNT`, `never`,
    /// `refused:ACCOUNT:WHY`; `Text` as it is.
    pub fn encode(&self) -> String {
        match self {
            HoldReason::Rule(RuleHold::Gap(g)) => format!("rule:min_gap:{}", g.as_secs()),
            HoldReason::Rule(RuleHold::Day(d)) => format!("rule:days:{d}"),
            HoldReason::Rule(RuleHold::Hours(h)) => format!("rule:hours:{h}"),
            HoldReason::Rule(RuleHold::DailyLimit(n)) => format!("rule:max_per_day:{n}"),
            HoldReason::SlowMode {
                seconds,
                account,
                last,
            } => format!("slowmode:{seconds}:{last}:{account}"),
            HoldReason::Told { account } => format!("told:{account}"),
            HoldReason::Never => "never".to_owned(),
            HoldReason::Refused { account, why } => format!("refused:{account}:{why}"),
            HoldReason::Text(t) => t.clone(),
        }
    }

    /// Reads [`HoldReason::encode`]'s form back; anything else is `Text` (never an error: the
    /// words of an older version are shown as they are).
    pub fn decode(s: &str) -> HoldReason {
        let typed = || -> Option<HoldReason> {
            if s == "never" {
                return Some(HoldReason::Never);
            }
            if let Some((account, why)) = s
                .strip_prefix("refused:")
                .and_then(|rest| rest.split_once(':'))
            {
                return Some(HoldReason::Refused {
                    account: account.to_owned(),
                    why: why.to_owned(),
                });
            }
            if let Some(account) = s.strip_prefix("told:") {
                return Some(HoldReason::Told {
                    account: account.to_owned(),
                });
            }
            if let Some(rest) = s.strip_prefix("slowmode:") {
                let (seconds, rest) = rest.split_once(':')?;
                // RFC 3339 has colons: the account follows the last one.
                let (last, account) = rest.rsplit_once(':')?;
                return Some(HoldReason::SlowMode {
                    seconds: seconds.parse().ok()?,
                    account: account.to_owned(),
                    last: last.parse().ok()?,
                });
            }
            let (rule, value) = s.strip_prefix("rule:")?.split_once(':')?;
            Some(HoldReason::Rule(match rule {
                "min_gap" => RuleHold::Gap(Duration::from_secs(value.parse().ok()?)),
                "days" => RuleHold::Day(Weekdays::parse(value).ok()?),
                "hours" => RuleHold::Hours(HourWindow::parse(value).ok()?),
                "max_per_day" => RuleHold::DailyLimit(value.parse().ok()?),
                _ => return None,
            }))
        };
        typed().unwrap_or_else(|| HoldReason::Text(s.to_owned()))
    }

    /// Rules skip the target for the cycle; slow mode only delays it.
    pub fn skips(&self) -> bool {
        matches!(
            self,
            HoldReason::Rule(_) | HoldReason::Never | HoldReason::Refused { .. }
        )
    }

    /// The reason in `lang`, times local to `tz` (to the minute, with the zone).
    pub fn words(&self, lang: Lang, tz: &TimeZone) -> String {
        match (lang, self) {
            (_, HoldReason::Rule(r)) => {
                format!(
                    "{} {}",
                    lang.pick("chat rule", "правило чата"),
                    r.words(lang)
                )
            }
            (
                Lang::En,
                HoldReason::SlowMode {
                    seconds,
                    account,
                    last,
                },
            ) => format!(
                "slow mode {seconds} s: last post from {account} at {}",
                local_minute(*last, tz)
            ),
            (
                Lang::Ru,
                HoldReason::SlowMode {
                    seconds,
                    account,
                    last,
                },
            ) => format!(
                "медленный режим {seconds} с: последний пост с {account} в {}",
                local_minute(*last, tz)
            ),
            (Lang::En, HoldReason::Told { account }) => {
                format!("slow mode: Telegram told {account} to wait")
            }
            (Lang::Ru, HoldReason::Told { account }) => {
                format!("медленный режим: Telegram велел {account} подождать")
            }
            (Lang::En, HoldReason::Never) => {
                "chat rules allow no moment in the next 400 days".to_owned()
            }
            (Lang::Ru, HoldReason::Never) => {
                "правила чата не разрешают ни одного момента в ближайшие 400 дней".to_owned()
            }
            (Lang::En, HoldReason::Refused { account, why }) => {
                format!("{why} (account {account}; other accounts go on posting here)")
            }
            (Lang::Ru, HoldReason::Refused { account, why }) => format!(
                "аккаунту {account} сюда писать нельзя ({why}); остальные аккаунты пишут сюда дальше"
            ),
            (_, HoldReason::Text(t)) => t.clone(),
        }
    }
}

/// English, times in UTC (logs and the journal's failure detail).
impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words(Lang::En, &TimeZone::UTC))
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl ChatRules {
    /// No rule set: the chat allows a post at any time.
    pub fn is_empty(&self) -> bool {
        *self == ChatRules::default()
    }

    /// The first moment at or after `at` when a post is allowed, and, when that is later than
    /// `at`, the rule that decides that moment (of those broken on the way, the one whose own
    /// wait ends latest). `posts` are the times of our earlier posts in
    /// the chat (any order; those older than a week and a day do not matter). `None` only when
    /// no moment within the next 400 days is allowed (cannot happen with parsed rules).
    pub fn next_allowed(
        &self,
        at: Timestamp,
        tz: &TimeZone,
        posts: &[Timestamp],
    ) -> Option<(Timestamp, Option<RuleHold>)> {
        let mut t = at;
        let mut met: Vec<RuleHold> = Vec::new();
        // Each step moves t forward by at least to the next local hour or day, or past a gap;
        // 400 days of hours bound the search.
        for _ in 0..(400 * 25) {
            match self.check(t, tz, posts) {
                None => return Some((t, self.deciding(at, tz, posts, met))),
                Some((hold, next)) => {
                    if !met.contains(&hold) {
                        met.push(hold);
                    }
                    if next <= t {
                        return None;
                    }
                    t = next;
                }
            }
        }
        None
    }

    /// Of the rules `met` on the way from `at`, the one that decides the time: the one whose
    /// own wait, alone, ends latest (QA F10: with `min_gap = "12h"` and `max_per_day = 1` the
    /// day's limit, not the gap met first, says why the post waits for tomorrow); on a tie the
    /// one met first.
    fn deciding(
        &self,
        at: Timestamp,
        tz: &TimeZone,
        posts: &[Timestamp],
        mut met: Vec<RuleHold>,
    ) -> Option<RuleHold> {
        if met.len() <= 1 {
            return met.pop();
        }
        let mut best: Option<(Timestamp, RuleHold)> = None;
        for rule in met {
            let alone = self.only(&rule);
            let until = alone
                .next_allowed(at, tz, posts)
                .map_or(Timestamp::MAX, |(t, _)| t);
            if best.as_ref().is_none_or(|(b, _)| until > *b) {
                best = Some((until, rule));
            }
        }
        best.map(|(_, rule)| rule)
    }

    /// These rules with only the one `rule` is about.
    fn only(&self, rule: &RuleHold) -> ChatRules {
        let mut alone = ChatRules::default();
        match rule {
            RuleHold::Gap(_) => alone.min_gap = self.min_gap,
            RuleHold::Day(_) => alone.days = self.days,
            RuleHold::Hours(_) => alone.hours = self.hours,
            RuleHold::DailyLimit(_) => alone.max_per_day = self.max_per_day,
        }
        alone
    }

    /// The first rule broken at `t`, with a moment after `t` worth checking next.
    fn check(
        &self,
        t: Timestamp,
        tz: &TimeZone,
        posts: &[Timestamp],
    ) -> Option<(RuleHold, Timestamp)> {
        if let Some(gap) = self.min_gap
            && let Some(last) = posts.iter().filter(|p| **p <= t).max()
        {
            let until = add(*last, gap);
            if until > t {
                return Some((RuleHold::Gap(gap), until));
            }
        }
        let z = t.to_zoned(tz.clone());
        let next_day = || {
            z.date()
                .tomorrow()
                .ok()
                .and_then(|d| d.to_zoned(tz.clone()).ok())
                .map_or(Timestamp::MAX, |z| z.timestamp())
        };
        if let Some(days) = self.days {
            let wd = z.weekday().to_monday_zero_offset() as u8;
            if !days.contains(wd) {
                return Some((RuleHold::Day(days), next_day()));
            }
        }
        if let Some(hours) = self.hours
            && !hours.contains(z.hour() as u8)
        {
            return Some((RuleHold::Hours(hours), next_local_hour(tz, t)));
        }
        if let Some(max) = self.max_per_day {
            let today = z.date();
            let n = posts
                .iter()
                .filter(|p| **p <= t && p.to_zoned(tz.clone()).date() == today)
                .count();
            if n as u64 >= u64::from(max) {
                return Some((RuleHold::DailyLimit(max), next_day()));
            }
        }
        None
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests;
