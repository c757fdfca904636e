//! The language people read (English or Russian) and how times are shown to them: words are
//! chosen at the edge (dashboard, CLI) from typed values, never stored as text.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The language of what people read (dashboard labels, reasons, CLI tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// `ru`, `ru_RU.UTF-8`, `RU` → Russian; anything else → English.
    pub fn from_locale(value: &str) -> Lang {
        if value.trim().to_ascii_lowercase().starts_with("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }

    /// The language of the process's locale: the first non-empty of `LC_ALL`, `LC_MESSAGES`,
    /// `LANG` (POSIX order), else English.
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .map_or(Lang::En, |v| Lang::from_locale(&v))
    }

    /// `en`, `ru`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// `en` or `ru` of a pair.
    pub fn pick(self, en: &'static str, ru: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// A moment for people: local time in `tz` to the minute with the zone's abbreviation, e.g.
/// `2026-12-01 09:00 MSK` (`+03:00` style when the zone has no abbreviation, `UTC` for UTC).
pub fn local_minute(at: Timestamp, tz: &TimeZone) -> String {
    if at == Timestamp::MAX {
        return "-".to_owned();
    }
    let z = at.to_zoned(tz.clone());
    let abbr = tz.to_offset_info(at).abbreviation().to_string();
    // A zone without a letters abbreviation (`+03`, `-0330`, empty) shows its offset.
    let label = if !abbr.is_empty() && abbr.chars().all(|c| c.is_ascii_alphabetic()) {
        abbr
    } else {
        z.strftime("%:z").to_string()
    };
    format!("{} {label}", z.strftime("%Y-%m-%d %H:%M"))
}

/// A moment for JSON: RFC 3339 to the second (fractions cut), UTC: `2026-12-01T06:00:00Z`.
pub fn rfc3339_seconds(at: Timestamp) -> String {
    let cut = jiff::TimestampRound::new()
        .smallest(jiff::Unit::Second)
        .mode(jiff::RoundMode::Trunc);
    at.round(cut).unwrap_or(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people_are_local_to_the_minute_with_the_zone() {
        let at: Timestamp = "2026-12-01T06:00:07.123456789Z".parse().unwrap();
        let msk = TimeZone::get("Europe/Moscow").unwrap();
        assert_eq!(local_minute(at, &msk), "2026-12-01 09:00 MSK");
        assert_eq!(local_minute(at, &TimeZone::UTC), "2026-12-01 06:00 UTC");
        // Asia/Dubai has no letters abbreviation in the tz database ("+04").
        let dubai = TimeZone::get("Asia/Dubai").unwrap();
        assert_eq!(local_minute(at, &dubai), "2026-12-01 10:00 +04:00");
        let fixed = TimeZone::fixed(jiff::tz::offset(-3));
        assert_eq!(local_minute(at, &fixed), "2026-12-01 03:00 -03:00");
        assert_eq!(rfc3339_seconds(at), "2026-12-01T06:00:07Z");
        assert_eq!(local_minute(Timestamp::MAX, &msk), "-");
    }

    #[test]
    fn the_locale_picks_the_language() {
        assert_eq!(Lang::from_locale("ru_RU.UTF-8"), Lang::Ru);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
        assert_eq!(Lang::Ru.pick("a", "б"), "б");
    }
}
