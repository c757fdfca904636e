//! Pure types and rules of SendMessageBot: no tokio, no IO.
//!
//! The words are DESIGN.md's: account, target, target list, message set, broadcaster, cycle,
//! delivery. Everything here is deterministic so the planner built on it can be tested with
//! plain `#[test]`s.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod format;
pub mod lang;
pub mod message;
pub mod pacing;
pub mod post_mode;
pub mod redact;
pub mod rules;
pub mod schedule;
pub mod status;
pub mod target;

pub use error::{
    ErrorClass, FORMAT_INVALID, PROXY_SECRET_REFUSED, RefusalScope, SEND_PANICKED, SendError,
    account_refusal_words,
};
pub use format::{
    ContentError, Entity, EntityKind, FormatError, FormattedText, TextFormat, check_length,
    format_text, max_len, prepare, utf16_len,
};
pub use lang::{Lang, local_minute, rfc3339_seconds};
pub use message::{
    MAX_CAPTION_CHARS, MAX_TEXT_CHARS, MAX_VARIANT_LABEL, Message, MessageError, MessageSet,
    Rotation, assign_variant,
};
pub use pacing::{Jitter, Pacing, mix64, unit_fraction};
pub use post_mode::{OnUpdate, PostMode};
pub use rules::{ChatRules, HoldReason, HourWindow, MIN_GAP_MAX, RuleHold, Weekdays};
pub use schedule::{QuietHours, Schedule};
pub use status::{
    AccountStop, DeliveryStatus, OperatorState, PauseKind, RunState, SessionProblem, TargetState,
    UnknownWord,
};
pub use target::{Chat, TargetParseError, TargetRef};

/// Reads an on/off setting as the original's `.env` writes it: `true`/`false`, `yes`/`no`,
/// `on`/`off`, `1`/`0`, any case, surrounding spaces ignored. `None` for anything else, so
/// each caller reports the bad value in its own words.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod flag_tests {
    #[test]
    fn flags_read_like_the_original() {
        for v in ["true", "TRUE", " yes ", "On", "1"] {
            assert_eq!(super::parse_flag(v), Some(true), "{v}");
        }
        for v in ["false", "No", "off", "0"] {
            assert_eq!(super::parse_flag(v), Some(false), "{v}");
        }
        assert_eq!(super::parse_flag("maybe"), None);
        assert_eq!(super::parse_flag(""), None);
    }
}
