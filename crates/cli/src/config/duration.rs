//! Durations as the configuration writes them: seconds as a number (`15`, `0.5`) or text with a
//! unit (`"15s"`, `"20m"`, `"1h"`, `"500ms"`, `"1d"`), in the file and in variables alike.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What a duration may look like, for every message that refuses one.
const EXPECTED: &str = "a duration: seconds (15) or text such as \"15s\", \"20m\", \"1h\"";

/// Reads `15`, `1.5`, `"15s"`, `"20m"`, `"1h"`, `"500ms"`, `"1d"`. The error says what to write.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let hint = || {
        format!(
            "`{s}` is not a duration; write seconds (15) or \"15s\", \"20m\", \"1h\", \"500ms\""
        )
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| hint())?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(hint()),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(hint());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration in the file, as written; [`DurationValue::get`] checks it, so the error can name
/// the line (the value keeps its span). Any other TOML type (`true`, a table) is refused while
/// the file is read, with serde's "invalid type: boolean `true`, expected a duration: …".
#[derive(Debug, Clone)]
pub enum DurationValue {
    Secs(u64),
    Float(f64),
    Text(String),
}

impl DurationValue {
    pub fn get(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Secs(n) => Ok(Duration::from_secs(*n)),
            DurationValue::Float(f) if *f >= 0.0 && f.is_finite() => {
                Ok(Duration::from_secs_f64(*f))
            }
            DurationValue::Float(f) => Err(format!("{f} is not a duration")),
            DurationValue::Text(s) => parse_duration(s),
        }
    }
}

impl<'de> de::Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationValue, E> {
                Ok(DurationValue::Secs(v))
            }
            #[allow(clippy::cast_precision_loss)] // a negative count of seconds is refused anyway
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationValue, E> {
                Ok(match u64::try_from(v) {
                    Ok(n) => DurationValue::Secs(n),
                    Err(_) => DurationValue::Float(v as f64),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationValue, E> {
                Ok(DurationValue::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationValue, E> {
                Ok(DurationValue::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_seconds() {
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 1h "), Ok(Duration::from_secs(3600)));
        let err = parse_duration("15x").unwrap_err();
        assert!(err.contains("`15x` is not a duration"), "{err}");
    }

    #[test]
    fn another_type_is_refused_saying_what_a_duration_is() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            d: DurationValue,
        }
        let err = toml::from_str::<T>("d = true").unwrap_err();
        assert_eq!(
            err.message(),
            "invalid type: boolean `true`, expected a duration: seconds (15) or text such as \"15s\", \"20m\", \"1h\""
        );
        assert_eq!(
            toml::from_str::<T>("d = -3").map(|t| t.d.get()).ok(),
            Some(Err("-3 is not a duration".to_owned()))
        );
    }
}
