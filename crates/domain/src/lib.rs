//! Pure types and rules of SendMessageBot: no tokio, no IO.
//!
//! The words are DESIGN.md's: account, target, target list, message set, broadcaster, cycle,
//! delivery. Everything here is deterministic so the planner built on it can be tested with
//! plain `#[test]`s.
#![forbid(unsafe_code)]

pub mod error;
pub mod message;
pub mod pacing;
pub mod schedule;
pub mod target;

pub use error::{ErrorClass, SendError};
pub use message::{MAX_CAPTION_CHARS, MAX_TEXT_CHARS, Message, MessageError, MessageSet, Rotation};
pub use pacing::{Jitter, Pacing, mix64, unit_fraction};
pub use schedule::{QuietHours, Schedule};
pub use target::{TargetParseError, TargetRef};
