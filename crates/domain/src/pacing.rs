//! Pacing: the gaps between sends and between cycles, and deterministic jitter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fraction of a delay added at random (`"10%"` → up to +10 %). Gaps between chats and
/// Telegram's waits only ever get longer ([`Jitter::extra`]); only the delay between cycles
/// and the retry backoff spread both ways ([`Jitter::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Jitter(pub f64);

impl Jitter {
    /// Reads `"10%"` or a fraction (`"0.1"`); 0–50 %. The error names the value and the accepted range.
    pub fn parse(s: &str) -> Result<Jitter, String> {
        let t = s.trim();
        let (num, pct) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t, false),
        };
        let v: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a jitter; write a percentage such as \"10%\""))?;
        let frac = if pct { v / 100.0 } else { v };
        if !(0.0..=0.5).contains(&frac) {
            return Err(format!("jitter `{s}` is out of range; use 0% to 50%"));
        }
        Ok(Jitter(frac))
    }

    /// Spreads `base` over ±fraction, with `key` choosing where it lands (never negative).
    /// For cycle delays and retry backoff only: never for a gap between chats or a Telegram
    /// wait, which must not get shorter (use [`Jitter::extra`]).
    pub fn apply(self, base: Duration, key: u64) -> Duration {
        if self.0 == 0.0 || base.is_zero() {
            return base;
        }
        let f = unit_fraction(key) * 2.0 - 1.0; // -1..1
        let secs = base.as_secs_f64() * (1.0 + self.0 * f);
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// `base` plus up to fraction × `base`, with `key` choosing how much: the gap between
    /// chats and the waits Telegram imposes, which must never be shortened.
    pub fn extra(self, base: Duration, key: u64) -> Duration {
        if self.0 == 0.0 {
            return base;
        }
        base + Duration::from_secs_f64(base.as_secs_f64() * self.0 * unit_fraction(key))
    }
}

/// The pacing of one broadcaster (and, for `delay_between_chats`, of its account).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pacing {
    /// Gap between two sends of one account (DELAY_BETWEEN_CHATS).
    pub delay_between_chats: Duration,
    /// Gap between the end of one cycle over the targets and the start of the next (CYCLE_DELAY).
    pub cycle_delay: Duration,
    /// Random share: only added to `delay_between_chats` (and Telegram waits), added to or
    /// removed from `cycle_delay` and retry waits.
    pub jitter: Jitter,
    /// Retries of a failed send that may succeed later, before it is recorded as failed (MAX_RETRIES).
    pub max_retries: u32,
    /// Wait before such a retry (RETRY_DELAY).
    pub retry_delay: Duration,
}

impl Default for Pacing {
    /// The seed's defaults: 15 s between chats, 20 min between cycles, 3 retries 60 s apart.
    fn default() -> Self {
        Pacing {
            delay_between_chats: Duration::from_secs(15),
            cycle_delay: Duration::from_secs(1200),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        }
    }
}

impl Pacing {
    /// Backoff for transient errors: RETRY_DELAY, then doubled each attempt (capped at 16×).
    pub fn retry_backoff(&self, attempt: u32, key: u64) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(4);
        self.jitter.apply(self.retry_delay * factor, key)
    }
}

/// SplitMix64 finaliser: a cheap, well-mixed hash used for deterministic choices.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A number in [0, 1) derived from `key`.
pub fn unit_fraction(key: u64) -> f64 {
    (mix64(key) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_parses_and_stays_in_range() {
        assert_eq!(Jitter::parse("10%").unwrap(), Jitter(0.1));
        assert_eq!(Jitter::parse("0.2").unwrap(), Jitter(0.2));
        assert!(Jitter::parse("80%").is_err());
        assert!(Jitter::parse("lots").is_err());
        let j = Jitter(0.1);
        let base = Duration::from_secs(100);
        let mut saw_low = false;
        let mut saw_high = false;
        for k in 0..1000 {
            let d = j.apply(base, k).as_secs_f64();
            assert!((90.0..=110.0).contains(&d), "{d}");
            saw_low |= d < 95.0;
            saw_high |= d > 105.0;
            let e = j.extra(base, k).as_secs_f64();
            assert!((100.0..=110.0).contains(&e));
        }
        assert!(saw_low && saw_high);
    }

    #[test]
    fn retry_backoff_doubles() {
        let p = Pacing {
            retry_delay: Duration::from_secs(60),
            ..Pacing::default()
        };
        assert_eq!(p.retry_backoff(1, 0), Duration::from_secs(60));
        assert_eq!(p.retry_backoff(2, 0), Duration::from_secs(120));
        assert_eq!(p.retry_backoff(3, 0), Duration::from_secs(240));
    }
}
