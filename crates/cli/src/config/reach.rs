//! The reach settings of `[settings]` (issue 17): when the daemon reads our posts' reach
//! (`reach_after`), and whether the A/B verdict retires a losing variant on its own
//! (`auto_winner` after `min_sample` measured posts per variant). docs/variants.md.

use std::time::Duration;

use toml::Spanned;

use super::ConfigError;
use super::duration::parse_duration;
use super::located::Ctx;

/// Default `reach_after`: a read a day after the post and again three days after (issue 17).
pub const DEFAULT_REACH_AFTER: &str = "24h,72h";
/// Default `min_sample`: measured posts each variant needs before `auto_winner` decides.
pub const DEFAULT_MIN_SAMPLE: u32 = 10;
/// At most this many reads per post (each read is a Telegram call per batch of 100 posts).
pub const MAX_REACH_READS: usize = 5;

/// The resolved reach settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachSettings {
    /// Read number k is made `after[k]` after the post; strictly ascending, each > 0, at most
    /// [`MAX_REACH_READS`]. Empty (`reach_after = ""`): reach is never read.
    pub after: Vec<Duration>,
    /// Retire the losing variant of a significant A/B result (a new message-set version).
    pub auto_winner: bool,
    /// Measured posts per variant before `auto_winner` decides (≥ 2: the t-test needs a
    /// variance on each side).
    pub min_sample: u32,
}

impl Default for ReachSettings {
    fn default() -> Self {
        ReachSettings {
            after: parse_after(DEFAULT_REACH_AFTER).unwrap_or_default(),
            auto_winner: false,
            min_sample: DEFAULT_MIN_SAMPLE,
        }
    }
}

impl ReachSettings {
    /// `reach_after` as written back: `24h,72h`, `2s,5s`, `off`.
    pub fn after_words(&self) -> String {
        if self.after.is_empty() {
            return "off".to_owned();
        }
        self.after
            .iter()
            .map(|d| words(*d))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn words(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `"24h,72h"` → [24 h, 72 h]; `""` / `"off"` → none. Each a duration of
/// [`parse_duration`], above zero, later than the one before, at most [`MAX_REACH_READS`].
pub fn parse_after(s: &str) -> Result<Vec<Duration>, String> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") {
        return Ok(Vec::new());
    }
    let mut out: Vec<Duration> = Vec::new();
    for part in t.split(',') {
        let d = parse_duration(part)?;
        if d.is_zero() {
            return Err(format!(
                "`{}` is zero: a reach read needs time after the post; write e.g. \"24h,72h\", or \"off\" to read no reach",
                part.trim()
            ));
        }
        if let Some(last) = out.last()
            && d <= *last
        {
            return Err(format!(
                "`{}` is not later than the read before it; list the times in ascending order, e.g. \"24h,72h\"",
                part.trim()
            ));
        }
        out.push(d);
    }
    if out.len() > MAX_REACH_READS {
        return Err(format!(
            "{} reads per post; at most {MAX_REACH_READS} (each is a Telegram call)",
            out.len()
        ));
    }
    Ok(out)
}

/// Reads `reach_after`, `auto_winner` and `min_sample` of `[settings]`; errors name the line.
pub(super) fn section(
    ctx: &Ctx,
    after: Option<&Spanned<String>>,
    auto_winner: Option<bool>,
    min_sample: Option<&Spanned<i64>>,
) -> Result<ReachSettings, ConfigError> {
    let mut r = ReachSettings::default();
    if let Some(v) = after {
        r.after = parse_after(v.get_ref()).map_err(|m| ctx.at(v, "settings.reach_after", m))?;
    }
    if let Some(v) = auto_winner {
        r.auto_winner = v;
    }
    if let Some(v) = min_sample {
        r.min_sample = u32::try_from(*v.get_ref())
            .ok()
            .filter(|n| (2..=100_000).contains(n))
            .ok_or_else(|| {
                ctx.at(
                    v,
                    "settings.min_sample",
                    format!(
                        "{} is not a sample size; write the posts each variant needs before auto_winner decides, from 2 to 100000 (default {DEFAULT_MIN_SAMPLE})",
                        v.get_ref()
                    ),
                )
            })?;
    }
    if r.auto_winner && r.after.is_empty() {
        let v = after.map_or(0, |v| v.span().start);
        return Err(ctx.at_offset(
            v,
            "settings.auto_winner",
            "auto_winner = true needs reach reads, but reach_after is off; set reach_after (e.g. \"24h,72h\") or auto_winner = false",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_after_reads_ascending_durations() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_after("24h,72h"), Ok(vec![h(24), h(72)]));
        assert_eq!(
            parse_after(" 2s , 5s "),
            Ok(vec![Duration::from_secs(2), Duration::from_secs(5)])
        );
        assert_eq!(parse_after("off"), Ok(vec![]));
        assert_eq!(parse_after(""), Ok(vec![]));
        assert!(parse_after("72h,24h").unwrap_err().contains("ascending"));
        assert!(parse_after("0s").unwrap_err().contains("zero"));
        assert!(
            parse_after("1d,soon")
                .unwrap_err()
                .contains("`soon` is not a duration")
        );
        assert!(
            parse_after("1s,2s,3s,4s,5s,6s")
                .unwrap_err()
                .contains("at most 5")
        );
        assert_eq!(ReachSettings::default().after_words(), "24h,72h");
    }

    fn load(settings: &str) -> Result<ReachSettings, String> {
        let toml = format!(
            "[settings]\n{settings}\n[accounts.acc1]\n[targets]\nt = [\"@chat_one\"]\n\
             [messages.m]\ntexts = [\"hi\"]\n[broadcasters.b]\naccount = \"acc1\"\n\
             targets = \"t\"\nmessages = \"m\"\n"
        );
        super::super::parse(
            "sendmessagebot.toml",
            &toml,
            &super::super::EnvVars::from_pairs(&[]),
            &super::super::Overrides::default(),
        )
        .map(|s| s.reach)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_have_defaults_and_errors_name_the_line() {
        assert_eq!(load("").unwrap(), ReachSettings::default());
        assert_eq!(ReachSettings::default().min_sample, 10);
        assert!(!ReachSettings::default().auto_winner);
        let r = load("reach_after = \"2s,5s\"\nauto_winner = true\nmin_sample = 3").unwrap();
        assert_eq!(
            r,
            ReachSettings {
                after: vec![Duration::from_secs(2), Duration::from_secs(5)],
                auto_winner: true,
                min_sample: 3,
            }
        );
        let e = load("test_mode = false\nreach_after = \"72h,24h\"").unwrap_err();
        assert!(
            e.starts_with("sendmessagebot.toml:3: settings.reach_after: `24h` is not later"),
            "{e}"
        );
        let e = load("min_sample = 1").unwrap_err();
        assert!(
            e.starts_with("sendmessagebot.toml:2: settings.min_sample: 1 is not a sample size"),
            "{e}"
        );
        let e = load("min_sample = -4").unwrap_err();
        assert!(e.contains("settings.min_sample: -4 is not"), "{e}");
        let e = load("reach_after = \"off\"\nauto_winner = true").unwrap_err();
        assert!(
            e.starts_with(
                "sendmessagebot.toml:2: settings.auto_winner: auto_winner = true needs reach reads"
            ),
            "{e}"
        );
        let e = load("auto_winner = \"yes\"").unwrap_err();
        assert!(e.contains("sendmessagebot.toml:2"), "{e}");
    }
}
