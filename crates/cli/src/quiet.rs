//! Why a broadcaster is waiting for its sending window, in words: the start hour or quiet
//! hours, and until when (QA finding: `run --once` at night waited in silence and `status`
//! looked finished). Derived from the broadcaster's `Schedule`, the same rule the planner
//! follows, so what is said is when the planner sends next.

use jiff::Timestamp;
use smb_domain::Schedule;

/// `Some("quiet hours until 16:00 Europe/Moscow")` (or `"before the start hour, until …"`)
/// when `schedule` does not allow sending at `now`; `None` when it does. The time is the next
/// allowed moment in the schedule's zone, with the date when it is not today.
pub fn waiting(schedule: &Schedule, now: Timestamp) -> Option<String> {
    if schedule.allows(now) {
        return None;
    }
    let here = now.to_zoned(schedule.tz.clone());
    let hour = here.hour().unsigned_abs();
    let why = match schedule.start_hour {
        Some(s) if hour < s => "before the start hour",
        _ => "quiet hours",
    };
    let zone = schedule.tz.iana_name().unwrap_or("UTC");
    let Some(next) = schedule.next_allowed(now) else {
        return Some(format!("{why}: no hour of the day allows sending ({zone})"));
    };
    let at = next.to_zoned(schedule.tz.clone());
    let when = if at.date() == here.date() {
        at.strftime("%H:%M").to_string()
    } else {
        at.strftime("%Y-%m-%d %H:%M").to_string()
    };
    Some(format!("{why} until {when} {zone}"))
}

#[cfg(test)]
mod tests {
    use super::waiting;
    use jiff::tz::TimeZone;
    use smb_domain::{QuietHours, Schedule};

    fn msk() -> Schedule {
        Schedule {
            tz: TimeZone::get("Europe/Moscow").unwrap(),
            start_hour: Some(8),
            quiet: Some(QuietHours { start: 14, end: 16 }),
        }
    }

    #[test]
    fn f2_waiting_names_the_reason_and_the_next_allowed_time() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // 14:54 MSK is 11:54 UTC.
        assert_eq!(
            waiting(&msk(), at("2026-11-30T11:54:00Z")).as_deref(),
            Some("quiet hours until 16:00 Europe/Moscow")
        );
        // 03:00 MSK: before the start hour, today at 08:00.
        assert_eq!(
            waiting(&msk(), at("2026-11-30T00:00:00Z")).as_deref(),
            Some("before the start hour until 08:00 Europe/Moscow")
        );
        assert_eq!(waiting(&msk(), at("2026-11-30T10:00:00Z")), None);
        assert_eq!(
            waiting(&Schedule::always(), at("2026-11-30T11:54:00Z")),
            None
        );
    }
}
