//! When sending is allowed: start hour and quiet hours in a time zone, DST-correct.

use jiff::civil::DateTime;
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ToSpan};

/// Quiet hours `[start, end)` in local hours; `start > end` crosses midnight (23 → 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// First quiet hour, 0–23, local.
    pub start: u8,
    /// First hour after the quiet ones, 0–23, local.
    pub end: u8,
}

impl QuietHours {
    fn contains(self, hour: u8) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Less => hour >= self.start && hour < self.end,
            std::cmp::Ordering::Greater => hour >= self.start || hour < self.end,
            std::cmp::Ordering::Equal => false,
        }
    }
}

/// The sending window of a broadcaster. Hours are local to `tz`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The zone the hours are read in (TIMEZONE); DST changes follow the zone's rules.
    pub tz: TimeZone,
    /// ENABLE_SCHEDULING + START_TIME_HOUR: nothing before this hour each day.
    pub start_hour: Option<u8>,
    /// ENABLE_QUIET_HOURS + QUIET_HOUR_START/END.
    pub quiet: Option<QuietHours>,
}

impl Schedule {
    /// A schedule that always allows sending (the night test, `--ignore-quiet-hours`).
    pub fn always() -> Self {
        Schedule {
            tz: TimeZone::UTC,
            start_hour: None,
            quiet: None,
        }
    }

    /// Whether sending is allowed during local `hour` (0–23): not before `start_hour`, not in quiet hours.
    pub fn allows_hour(&self, hour: u8) -> bool {
        if self.start_hour.is_some_and(|s| hour < s) {
            return false;
        }
        !self.quiet.is_some_and(|q| q.contains(hour))
    }

    /// Whether sending is allowed at `at`, read in the schedule's zone.
    pub fn allows(&self, at: Timestamp) -> bool {
        let hour = at.to_zoned(self.tz.clone()).hour();
        // jiff hours are 0–23, so `unsigned_abs` is the value itself.
        self.allows_hour(hour.unsigned_abs())
    }

    /// True when no hour of the day allows sending: a configuration error.
    pub fn never_allows(&self) -> bool {
        !(0..24).any(|h| self.allows_hour(h))
    }

    /// `at` itself when sending is allowed then, otherwise the first moment after it that is.
    /// `None` only when no hour is ever allowed.
    pub fn next_allowed(&self, at: Timestamp) -> Option<Timestamp> {
        if self.never_allows() {
            return None;
        }
        let mut t = at;
        // Two days of local hours always contain an allowed hour if any exists; DST days have
        // 23 or 25 hours, hence the margin.
        for _ in 0..60 {
            if self.allows(t) {
                return Some(t);
            }
            t = next_local_hour(&self.tz, t);
        }
        None
    }
}

/// The start of the next local hour after `t` in `tz`. A local hour skipped by a DST jump
/// resolves to the moment after the gap; a repeated one to its first occurrence.
pub(crate) fn next_local_hour(tz: &TimeZone, t: Timestamp) -> Timestamp {
    let z = t.to_zoned(tz.clone());
    let dt = z.datetime();
    let Ok(hour_start) = DateTime::new(dt.year(), dt.month(), dt.day(), dt.hour(), 0, 0, 0) else {
        return t + 1.hour();
    };
    let next_civil = hour_start.checked_add(1.hour()).unwrap_or(hour_start);
    let next = tz
        .to_ambiguous_zoned(next_civil)
        .disambiguate(Disambiguation::Compatible)
        .map_or(t, |z| z.timestamp());
    if next > t { next } else { t + 1.hour() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn moscow(start: Option<u8>, quiet: Option<(u8, u8)>) -> Schedule {
        Schedule {
            tz: TimeZone::get("Europe/Moscow").unwrap(),
            start_hour: start,
            quiet: quiet.map(|(start, end)| QuietHours { start, end }),
        }
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let s = moscow(None, Some((23, 7)));
        // 22:30 MSK (19:30 UTC) allowed; 23:30 MSK quiet; 06:59 quiet; 07:00 allowed.
        assert!(s.allows(ts("2026-03-10T19:30:00Z")));
        assert!(!s.allows(ts("2026-03-10T20:30:00Z")));
        assert!(!s.allows(ts("2026-03-11T03:59:00Z")));
        assert_eq!(
            s.next_allowed(ts("2026-03-10T20:30:00Z")),
            Some(ts("2026-03-11T04:00:00Z"))
        );
    }

    #[test]
    fn start_hour_holds_sends_until_morning() {
        let s = moscow(Some(6), None);
        assert!(!s.allows(ts("2026-03-10T02:00:00Z"))); // 05:00 MSK
        assert_eq!(
            s.next_allowed(ts("2026-03-10T02:10:00Z")),
            Some(ts("2026-03-10T03:00:00Z"))
        );
        let now = ts("2026-03-10T12:00:00Z");
        assert_eq!(s.next_allowed(now), Some(now));
    }

    #[test]
    fn seed_defaults_start_6_quiet_0_to_7_open_at_7() {
        let s = moscow(Some(6), Some((0, 7)));
        assert_eq!(
            s.next_allowed(ts("2026-03-09T21:00:00Z")),
            Some(ts("2026-03-10T04:00:00Z"))
        );
    }

    #[test]
    fn dst_spring_forward_in_berlin() {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST. Quiet 22–3: the first allowed moment is
        // 03:00 CEST = 01:00 UTC, which is only 1 h after 02:00 CET would have been.
        let s = Schedule {
            tz: TimeZone::get("Europe/Berlin").unwrap(),
            start_hour: None,
            quiet: Some(QuietHours { start: 22, end: 3 }),
        };
        let at = ts("2026-03-28T22:30:00Z"); // 23:30 CET
        assert_eq!(s.next_allowed(at), Some(ts("2026-03-29T01:00:00Z")));
    }

    #[test]
    fn dst_fall_back_in_berlin() {
        // 2026-10-25 03:00 CEST falls back to 02:00 CET; quiet 0–2 ends at 02:00 CEST
        // (00:00 UTC), the first time 02:00 is reached.
        let s = Schedule {
            tz: TimeZone::get("Europe/Berlin").unwrap(),
            start_hour: None,
            quiet: Some(QuietHours { start: 0, end: 2 }),
        };
        assert_eq!(
            s.next_allowed(ts("2026-10-24T22:30:00Z")),
            Some(ts("2026-10-25T00:00:00Z"))
        );
        // A start hour of 8 counts in local time on both sides of the change.
        let s8 = Schedule {
            quiet: None,
            start_hour: Some(8),
            ..s
        };
        // 01:30 UTC on the 25th is 02:30 CET (after the change): 08:00 CET is 07:00 UTC.
        assert_eq!(
            s8.next_allowed(ts("2026-10-25T01:30:00Z")),
            Some(ts("2026-10-25T07:00:00Z"))
        );
        // 01:30 UTC on the 24th is 03:30 CEST: 08:00 CEST is 06:00 UTC.
        assert_eq!(
            s8.next_allowed(ts("2026-10-24T01:30:00Z")),
            Some(ts("2026-10-24T06:00:00Z"))
        );
    }

    #[test]
    fn a_schedule_with_no_open_hour_is_detected() {
        let s = moscow(Some(12), Some((10, 2)));
        assert!(s.never_allows());
        assert_eq!(s.next_allowed(ts("2026-03-10T12:00:00Z")), None);
    }
}
