use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

#[test]
fn days_parse_ranges_lists_and_wrapping() {
    let d = Weekdays::parse("mon-sat").unwrap();
    assert!((0..6).all(|i| d.contains(i)));
    assert!(!d.contains(6));
    assert_eq!(d.to_string(), "mon,tue,wed,thu,fri,sat");
    let w = Weekdays::parse("Fri-Mon").unwrap();
    assert_eq!(w.to_string(), "mon,fri,sat,sun");
    let l = Weekdays::parse("mon, wednesday ,fri").unwrap();
    assert_eq!(l.to_string(), "mon,wed,fri");
    for bad in ["", "mo-sa", "mon-", "holiday", "mon;tue"] {
        let e = Weekdays::parse(bad).unwrap_err();
        assert!(e.contains("mon-sat"), "{bad}: {e}");
    }
}

#[test]
fn hours_parse_and_cross_midnight() {
    let h = HourWindow::parse("9-21").unwrap();
    assert!(h.contains(9) && h.contains(20));
    assert!(!h.contains(21) && !h.contains(8));
    let n = HourWindow::parse("22-6").unwrap();
    assert!(n.contains(23) && n.contains(0) && n.contains(5));
    assert!(!n.contains(6) && !n.contains(12));
    assert!(HourWindow::parse("0-24").unwrap().contains(23));
    for bad in ["9", "9-9", "25-3", "9-25", "a-b", "-3"] {
        let e = HourWindow::parse(bad).unwrap_err();
        assert!(e.contains("9-21"), "{bad}: {e}");
    }
}

#[test]
fn min_gap_counts_from_the_last_post() {
    let r = ChatRules {
        min_gap: Some(Duration::from_secs(24 * 3600)),
        ..ChatRules::default()
    };
    let utc = TimeZone::UTC;
    let posts = [ts("2026-03-10T08:00:00Z"), ts("2026-03-09T07:00:00Z")];
    let (at, why) = r
        .next_allowed(ts("2026-03-10T12:00:00Z"), &utc, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-11T08:00:00Z"));
    assert_eq!(why, Some(RuleHold::Gap(Duration::from_secs(86400))));
    // After the gap: allowed at once, no reason.
    let now = ts("2026-03-11T08:00:00Z");
    assert_eq!(r.next_allowed(now, &utc, &posts), Some((now, None)));
    // No post yet: allowed.
    assert_eq!(r.next_allowed(now, &utc, &[]), Some((now, None)));
}

#[test]
fn days_and_hours_in_the_time_zone() {
    let r = ChatRules {
        days: Some(Weekdays::parse("mon-sat").unwrap()),
        hours: Some(HourWindow::parse("9-21").unwrap()),
        ..ChatRules::default()
    };
    let msk = tz("Europe/Moscow");
    // Saturday 2026-03-14 21:30 MSK (18:30 UTC): past the window; Sunday is not allowed;
    // Monday 09:00 MSK = 06:00 UTC.
    let (at, why) = r
        .next_allowed(ts("2026-03-14T18:30:00Z"), &msk, &[])
        .unwrap();
    assert_eq!(at, ts("2026-03-16T06:00:00Z"));
    assert_eq!(why, Some(RuleHold::Hours(HourWindow { start: 9, end: 21 })));
    // Sunday noon MSK: the day is the reason.
    let (at, why) = r
        .next_allowed(ts("2026-03-15T09:00:00Z"), &msk, &[])
        .unwrap();
    assert_eq!(at, ts("2026-03-16T06:00:00Z"));
    assert!(matches!(why, Some(RuleHold::Day(_))));
    // 08:59 MSK Tuesday → 09:00.
    let (at, _) = r
        .next_allowed(ts("2026-03-17T05:59:00Z"), &msk, &[])
        .unwrap();
    assert_eq!(at, ts("2026-03-17T06:00:00Z"));
}

#[test]
fn max_per_day_counts_local_days() {
    let r = ChatRules {
        max_per_day: Some(1),
        ..ChatRules::default()
    };
    let msk = tz("Europe/Moscow");
    // A post at 23:30 MSK on the 10th (20:30 UTC) counts for the 10th only: at 00:10 MSK on
    // the 11th (21:10 UTC on the 10th) a post is allowed again.
    let posts = [ts("2026-03-10T20:30:00Z")];
    let (at, why) = r
        .next_allowed(ts("2026-03-10T20:40:00Z"), &msk, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-10T21:00:00Z"));
    assert_eq!(why, Some(RuleHold::DailyLimit(1)));
    let now = ts("2026-03-10T21:10:00Z");
    assert_eq!(r.next_allowed(now, &msk, &posts), Some((now, None)));
    let two = ChatRules {
        max_per_day: Some(2),
        ..ChatRules::default()
    };
    assert_eq!(
        two.next_allowed(ts("2026-03-10T20:40:00Z"), &msk, &posts),
        Some((ts("2026-03-10T20:40:00Z"), None))
    );
}

#[test]
fn dst_days_have_23_and_25_hours() {
    let berlin = tz("Europe/Berlin");
    let one = ChatRules {
        max_per_day: Some(1),
        ..ChatRules::default()
    };
    // Fall back, 2026-10-25 has 25 hours: a post at 00:30 CEST (22:30 UTC on the 24th)
    // allows the next at 00:00 CET on the 26th = 23:00 UTC on the 25th (25 h after midnight).
    let posts = [ts("2026-10-24T22:30:00Z")];
    let (at, _) = one
        .next_allowed(ts("2026-10-25T12:00:00Z"), &berlin, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-10-25T23:00:00Z"));
    // Spring forward, 2026-03-29 has 23 hours: the next day starts at 22:00 UTC.
    let posts = [ts("2026-03-28T23:30:00Z")]; // 00:30 CET on the 29th
    let (at, _) = one
        .next_allowed(ts("2026-03-29T12:00:00Z"), &berlin, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-29T22:00:00Z"));
    // Hours 3-21 on the spring-forward night: 02:00 CET jumps to 03:00 CEST = 01:00 UTC.
    let hours = ChatRules {
        hours: Some(HourWindow::parse("3-21").unwrap()),
        ..ChatRules::default()
    };
    let (at, _) = hours
        .next_allowed(ts("2026-03-28T23:30:00Z"), &berlin, &[])
        .unwrap();
    assert_eq!(at, ts("2026-03-29T01:00:00Z"));
    // And the window closes at 21:00 CEST = 19:00 UTC that day, 20:00 UTC the day before.
    let (at, _) = hours
        .next_allowed(ts("2026-03-29T19:00:00Z"), &berlin, &[])
        .unwrap();
    assert_eq!(at, ts("2026-03-30T01:00:00Z"));
    assert_eq!(
        hours.next_allowed(ts("2026-03-28T19:30:00Z"), &berlin, &[]),
        Some((ts("2026-03-28T19:30:00Z"), None))
    );
}

#[test]
fn all_rules_together_find_a_moment_that_satisfies_each() {
    let r = ChatRules {
        min_gap: Some(Duration::from_secs(20 * 3600)),
        days: Some(Weekdays::parse("mon-fri").unwrap()),
        hours: Some(HourWindow::parse("10-12").unwrap()),
        max_per_day: Some(1),
    };
    let utc = TimeZone::UTC;
    // Friday 2026-03-13 11:00 post: gap ends Sat 07:00, weekend not allowed, Monday 10:00.
    let posts = [ts("2026-03-13T11:00:00Z")];
    let (at, why) = r
        .next_allowed(ts("2026-03-13T11:30:00Z"), &utc, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-16T10:00:00Z"));
    assert!(matches!(why, Some(RuleHold::Gap(_))));
    assert!(r.check(at, &utc, &posts).is_none());
}

/// QA F10: with `min_gap = "12h"` and `max_per_day = 1`, a post at 08:00 holds the next one
/// until midnight: the gap (met first, over at 20:00) is not why; the day's limit is.
#[test]
fn the_rule_that_decides_the_time_is_the_reason() {
    let r = ChatRules {
        min_gap: Some(Duration::from_secs(12 * 3600)),
        max_per_day: Some(1),
        ..ChatRules::default()
    };
    let utc = TimeZone::UTC;
    let posts = [ts("2026-03-10T08:00:00Z")];
    let (at, why) = r
        .next_allowed(ts("2026-03-10T10:00:00Z"), &utc, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-11T00:00:00Z"));
    assert_eq!(why, Some(RuleHold::DailyLimit(1)));
    // A post at 20:00: the gap ends at 08:00 the next day, after midnight: the gap decides.
    let posts = [ts("2026-03-10T20:00:00Z")];
    let (at, why) = r
        .next_allowed(ts("2026-03-10T21:00:00Z"), &utc, &posts)
        .unwrap();
    assert_eq!(at, ts("2026-03-11T08:00:00Z"));
    assert_eq!(why, Some(RuleHold::Gap(Duration::from_secs(12 * 3600))));
}
