//! Message sets and the rotation rule that picks one message per cycle.

use serde::{Deserialize, Serialize};

use crate::format::{ContentError, FormatError, TextFormat, prepare};
use crate::pacing::mix64;

/// Telegram's limit for a text message: 4096 UTF-16 code units of the formatted text (markup
/// removed), as [`crate::format::check_length`] counts them.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Telegram's limit for a media caption: 1024 UTF-16 code units of the formatted text.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// One message of a set, as configured or loaded from a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The text as written, in the set's [`TextFormat`]; formatted only when checked or sent.
    pub text: String,
    /// Inactive messages stay stored and are skipped by the rotation.
    pub active: bool,
    /// 1–10, higher goes first in the rotation; ties keep the declared order.
    pub priority: u8,
}

impl Message {
    /// An active message of default priority 5.
    pub fn new(text: impl Into<String>) -> Self {
        Message {
            text: text.into(),
            active: true,
            priority: 5,
        }
    }
}

/// Why a message set cannot be loaded; each names the set and the 1-based message index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(
        "message {index} of set `{set}` is {len} characters after formatting; Telegram allows {max}{}: shorten it or split it in two",
        if *.caption { " for a caption (the set has `media`)" } else { "" }
    )]
    /// Longer than Telegram allows after formatting.
    TooLong {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// Length after formatting, in UTF-16 code units.
        len: usize,
        /// The limit that applies: [`MAX_TEXT_CHARS`] or [`MAX_CAPTION_CHARS`].
        max: usize,
        /// Whether the text is a media caption (the set has `media`).
        caption: bool,
    },
    /// Nothing left after formatting.
    #[error("message {index} of set `{set}` is empty: remove it or give it text")]
    Empty {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
    },
    /// The markup cannot be parsed.
    #[error("message {index} of set `{set}`: {error}")]
    Format {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// What is wrong in the markup.
        error: FormatError,
    },
    /// Priority outside 1–10.
    #[error("message {index} of set `{set}` has priority {priority}; use 1–10")]
    BadPriority {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// The priority as configured.
        priority: u8,
    },
    /// Every message of the set is inactive, so the rotation has nothing to send.
    #[error("message set `{set}` has no active message: add one or mark one active")]
    NoActive {
        /// Name of the message set.
        set: String,
    },
}

/// Order in which a broadcaster walks its set's active messages (`rotation = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// By priority (high first), ties in declared order, one per cycle, wrapping around.
    #[default]
    Sequential,
    /// Shuffled rounds: every active message once per round, never the same twice in a row.
    Random,
}

/// A named list of messages (`[messages.NAME]`), the unit a broadcaster rotates through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSet {
    /// The `NAME` of `[messages.NAME]`.
    pub name: String,
    /// The messages in declared order, inactive ones included.
    pub messages: Vec<Message>,
}

impl MessageSet {
    /// A set from its name and messages, unchecked; call [`MessageSet::validate`] before use.
    pub fn new(name: impl Into<String>, messages: Vec<Message>) -> Self {
        MessageSet {
            name: name.into(),
            messages,
        }
    }

    /// Checks what Telegram would refuse, so a bad text fails at load, not at send time: every
    /// text is formatted as it will be sent (`format`; `caption` when the set has media) and
    /// measured after formatting ([`prepare`]).
    pub fn validate(&self, format: TextFormat, caption: bool) -> Result<(), MessageError> {
        for (i, m) in self.messages.iter().enumerate() {
            let index = i + 1;
            let set = || self.name.clone();
            match prepare(&m.text, format, caption) {
                Ok(_) => {}
                Err(ContentError::Empty) => return Err(MessageError::Empty { set: set(), index }),
                Err(ContentError::TooLong { len, max, caption }) => {
                    return Err(MessageError::TooLong {
                        set: set(),
                        index,
                        len,
                        max,
                        caption,
                    });
                }
                Err(ContentError::Format(error)) => {
                    return Err(MessageError::Format {
                        set: set(),
                        index,
                        error,
                    });
                }
            }
            if !(1..=10).contains(&m.priority) {
                return Err(MessageError::BadPriority {
                    set: self.name.clone(),
                    index,
                    priority: m.priority,
                });
            }
        }
        if !self.messages.iter().any(|m| m.active) {
            return Err(MessageError::NoActive {
                set: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Active messages in rotation order: priority high first, ties in declared order.
    pub fn rotation_order(&self) -> Vec<&Message> {
        let mut active: Vec<&Message> = self.messages.iter().filter(|m| m.active).collect();
        active.sort_by_key(|m| std::cmp::Reverse(m.priority)); // stable: ties keep order
        active
    }

    /// The message a broadcaster posts in `cycle`. Deterministic in (cycle, seed), so a
    /// restarted daemon picks the same message for a cycle it resumes.
    pub fn pick(&self, rotation: Rotation, cycle: u64, seed: u64) -> Option<&Message> {
        let order = self.rotation_order();
        if order.is_empty() {
            return None;
        }
        let n = order.len() as u64;
        let index = match rotation {
            Rotation::Sequential => cycle % n,
            Rotation::Random => random_index(n, cycle, seed),
        };
        order.get(index as usize).copied()
    }
}

/// Random rotation as shuffled rounds: every message once per round of `n` cycles, in an
/// order drawn from (seed, round), and never the same message twice in a row across rounds.
fn random_index(n: u64, cycle: u64, seed: u64) -> u64 {
    if n == 1 {
        return 0;
    }
    if n == 2 {
        return (cycle + (mix64(seed) & 1)) % 2;
    }
    let round = cycle / n;
    let pos = (cycle % n) as usize;
    let mut perm = shuffled(n, seed, round);
    // For n ≥ 3 the swap below never touches the last element, so comparing with the raw
    // previous round is exact.
    if round > 0 && perm[0] == shuffled(n, seed, round - 1)[n as usize - 1] {
        perm.swap(0, 1);
    }
    perm[pos]
}

fn shuffled(n: u64, seed: u64, round: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut state = mix64(seed ^ mix64(round));
    for i in (1..v.len()).rev() {
        state = mix64(state);
        let j = (state % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(texts: &[(&str, bool, u8)]) -> MessageSet {
        MessageSet::new(
            "b2b",
            texts
                .iter()
                .map(|(t, a, p)| Message {
                    text: (*t).into(),
                    active: *a,
                    priority: *p,
                })
                .collect(),
        )
    }

    #[test]
    fn sequential_rotation_follows_priority_then_order_and_skips_inactive() {
        let s = set(&[
            ("a", true, 5),
            ("b", false, 9),
            ("c", true, 8),
            ("d", true, 5),
        ]);
        let picked: Vec<&str> = (0..6)
            .map(|c| s.pick(Rotation::Sequential, c, 0).unwrap().text.as_str())
            .collect();
        assert_eq!(picked, ["c", "a", "d", "c", "a", "d"]);
    }

    #[test]
    fn random_rotation_is_deterministic_and_never_repeats_back_to_back() {
        let s = set(&[("a", true, 5), ("b", true, 5), ("c", true, 5)]);
        let run = |seed| -> Vec<String> {
            (0..50)
                .map(|c| s.pick(Rotation::Random, c, seed).unwrap().text.clone())
                .collect()
        };
        assert_eq!(run(7), run(7));
        let picks = run(7);
        assert!(picks.windows(2).all(|w| w[0] != w[1]), "{picks:?}");
        for t in ["a", "b", "c"] {
            assert!(picks.iter().any(|p| p == t), "{t} never picked");
        }
    }

    #[test]
    fn validation_refuses_what_telegram_would() {
        let plain = |s: MessageSet| s.validate(TextFormat::Plain, false);
        let long = "я".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(
            plain(set(&[(&long, true, 5)])),
            Err(MessageError::TooLong { index: 1, .. })
        ));
        // Characters outside the BMP count twice in UTF-16, as Telegram counts them.
        let emoji = "😀".repeat(MAX_TEXT_CHARS / 2 + 1);
        assert!(plain(set(&[(&emoji, true, 5)])).is_err());
        assert!(matches!(
            plain(set(&[("  ", true, 5)])),
            Err(MessageError::Empty { .. })
        ));
        assert!(matches!(
            plain(set(&[("x", false, 5)])),
            Err(MessageError::NoActive { .. })
        ));
        assert!(matches!(
            plain(set(&[("x", true, 11)])),
            Err(MessageError::BadPriority { .. })
        ));
        assert!(plain(set(&[("ok", true, 1)])).is_ok());
    }

    #[test]
    fn validation_measures_the_formatted_text_and_checks_its_markup() {
        // Over 1024 characters as written, under it as shown: a valid caption.
        let caption = "<b>iPhone 16</b> — 71 000 ₽\n".repeat(48);
        assert_eq!(caption.chars().count(), 1344);
        assert_eq!(
            crate::format_text(&caption, TextFormat::Html)
                .unwrap()
                .text
                .chars()
                .count(),
            1007
        );
        let s = set(&[(&caption, true, 5)]);
        assert!(s.validate(TextFormat::Html, true).is_ok());
        assert!(matches!(
            s.validate(TextFormat::Plain, true),
            Err(MessageError::TooLong {
                caption: true,
                max: MAX_CAPTION_CHARS,
                ..
            })
        ));
        let err = set(&[("ok", true, 5), ("<b>Прайс<br>iPhone</b>", true, 5)])
            .validate(TextFormat::Html, false)
            .unwrap_err();
        assert!(
            matches!(err, MessageError::Format { index: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("<br>"), "{err}");
    }
}
