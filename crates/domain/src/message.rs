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
    /// A/B label (`variant = "A"`, issue 17): consecutive labelled messages share one slot of
    /// the rotation, and each chat gets one of them per cycle ([`assign_variant`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Message {
    /// An active message of default priority 5.
    pub fn new(text: impl Into<String>) -> Self {
        Message {
            text: text.into(),
            active: true,
            priority: 5,
            variant: None,
        }
    }
}

/// Longest variant label accepted: a short name for tables and charts (`A`, `B`, `short`).
pub const MAX_VARIANT_LABEL: usize = 16;

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
    /// A variant label on a message with no other variant next to it.
    #[error(
        "message {index} of set `{set}` has `variant = \"{label}\"` but no other variant next to it: put its other variants (e.g. `variant = \"B\"`) right after it, or remove the label"
    )]
    VariantAlone {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// The label as configured.
        label: String,
    },
    /// Variants of one slot with different priorities: the rotation would split them.
    #[error(
        "message {index} of set `{set}` (`variant = \"{label}\"`) has priority {priority}, but message {first} of its slot has {first_priority}: variants of one slot share one priority"
    )]
    VariantMixed {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// The label as configured.
        label: String,
        /// Its priority.
        priority: u8,
        /// 1-based position of the slot's first variant.
        first: usize,
        /// The first variant's priority.
        first_priority: u8,
    },
    /// A label that is empty, too long or not letters, digits, `-` and `_`.
    #[error(
        "message {index} of set `{set}` has variant label `{label}`: use 1–16 letters, digits, `-` or `_` (e.g. `A`)"
    )]
    VariantLabel {
        /// Name of the message set.
        set: String,
        /// 1-based position of the message in the set.
        index: usize,
        /// The label as configured.
        label: String,
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
            if let Some(label) = &m.variant
                && (label.is_empty()
                    || label.chars().count() > MAX_VARIANT_LABEL
                    || !label
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_'))
            {
                return Err(MessageError::VariantLabel {
                    set: set(),
                    index,
                    label: label.clone(),
                });
            }
        }
        for slot in self.slots() {
            let first = &self.messages[slot[0]];
            if let (1, Some(label)) = (slot.len(), &first.variant) {
                return Err(MessageError::VariantAlone {
                    set: self.name.clone(),
                    index: slot[0] + 1,
                    label: label.clone(),
                });
            }
            if let Some(&i) = slot
                .iter()
                .find(|&&i| self.messages[i].priority != first.priority)
            {
                return Err(MessageError::VariantMixed {
                    set: self.name.clone(),
                    index: i + 1,
                    label: self.messages[i].variant.clone().unwrap_or_default(),
                    priority: self.messages[i].priority,
                    first: slot[0] + 1,
                    first_priority: first.priority,
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

    /// The rotation's slots as message indices, in declared order, inactive messages included:
    /// an unlabelled message is a slot of its own; consecutive labelled messages form one slot,
    /// and a label seen again in the running slot starts the next one (`A, B, A, B` is two
    /// A/B slots).
    pub fn slots(&self) -> Vec<Vec<usize>> {
        let mut slots: Vec<Vec<usize>> = Vec::new();
        let mut open = false;
        for (i, m) in self.messages.iter().enumerate() {
            match &m.variant {
                None => {
                    slots.push(vec![i]);
                    open = false;
                }
                Some(label) => {
                    let repeats = open
                        && slots.last().is_some_and(|s| {
                            s.iter()
                                .any(|&j| self.messages[j].variant.as_ref() == Some(label))
                        });
                    match slots.last_mut() {
                        Some(last) if open && !repeats => last.push(i),
                        _ => slots.push(vec![i]),
                    }
                    open = true;
                }
            }
        }
        slots
    }

    /// Active slots in rotation order (priority high first, ties in declared order), each
    /// with its active messages in declared order; a slot whose messages are all inactive is
    /// skipped.
    pub fn rotation_slots(&self) -> Vec<Vec<&Message>> {
        let mut slots: Vec<Vec<&Message>> = self
            .slots()
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|i| &self.messages[i])
                    .filter(|m| m.active)
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect();
        slots.sort_by_key(|s| std::cmp::Reverse(s[0].priority)); // stable: ties keep order
        slots
    }

    /// Active messages in rotation order: priority high first, ties in declared order; a
    /// slot of variants is represented by its first active variant.
    pub fn rotation_order(&self) -> Vec<&Message> {
        self.rotation_slots().into_iter().map(|s| s[0]).collect()
    }

    /// The slot a broadcaster posts in `cycle`: one message, or the active variants of an
    /// A/B slot (see [`assign_variant`] for which chat gets which). Deterministic in (cycle,
    /// seed), so a restarted daemon picks the same slot for a cycle it resumes.
    pub fn pick_slot(&self, rotation: Rotation, cycle: u64, seed: u64) -> Option<Vec<&Message>> {
        let mut order = self.rotation_slots();
        if order.is_empty() {
            return None;
        }
        let n = order.len() as u64;
        let index = match rotation {
            Rotation::Sequential => cycle % n,
            Rotation::Random => random_index(n, cycle, seed),
        };
        let index = usize::try_from(index).ok()?;
        (index < order.len()).then(|| order.swap_remove(index))
    }

    /// How many times the slot [`MessageSet::pick_slot`] gives for `cycle` (0-based) came round
    /// before: both rotations use every active slot once per `n` cycles (`n` slots), so it is
    /// `cycle / n`. [`assign_variant`] turns chats by it, not by the cycle: with 2 slots the
    /// A/B slot came round every other cycle and each chat got the same variant every time.
    pub fn slot_round(&self, cycle: u64) -> u64 {
        cycle / (self.rotation_slots().len().max(1) as u64)
    }

    /// The message a broadcaster posts in `cycle` (for an A/B slot, its first active variant:
    /// the cycle's name for the slot). Deterministic in (cycle, seed).
    pub fn pick(&self, rotation: Rotation, cycle: u64, seed: u64) -> Option<&Message> {
        self.pick_slot(rotation, cycle, seed).map(|s| s[0])
    }

    /// The active variants of the slot `text` (the cycle's stored message) belongs to, for a
    /// cycle resumed after a restart; empty when `text` is not the first active message of an
    /// A/B slot of this set.
    pub fn variants_of(&self, text: &str) -> Vec<&Message> {
        self.rotation_slots()
            .into_iter()
            .find(|s| s.len() > 1 && s[0].text == text)
            .unwrap_or_default()
    }
}

/// Which of `variants` variants the chat `keys[index]` gets in the `round`-th use of an A/B
/// slot ([`MessageSet::slot_round`]): balanced and reproducible. The broadcaster's chats are
/// ranked in an order drawn from `seed` and each chat's key (not its position, so reordering
/// the list changes nothing), and chat of rank r gets variant `(r + round) % variants`: in
/// every cycle the counts of two variants differ by at most one, and over `variants`
/// consecutive uses of the slot every chat gets each variant once.
pub fn assign_variant(
    keys: &[&str],
    index: usize,
    round: u64,
    seed: u64,
    variants: usize,
) -> usize {
    if variants <= 1 {
        return 0;
    }
    let Some(own) = keys.get(index) else {
        return 0;
    };
    let rank_key = |k: &str| (mix64(seed ^ key_hash(k)), k.to_owned());
    let mine = rank_key(own);
    let rank = keys.iter().filter(|k| rank_key(k) < mine).count() as u64;
    ((rank + round) % variants as u64) as usize
}

/// FNV-1a over the key's bytes: stable across builds and platforms (unlike `DefaultHasher`).
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
                    variant: None,
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

    fn ab(items: &[(&str, Option<&str>, u8)]) -> MessageSet {
        MessageSet::new(
            "b2b",
            items
                .iter()
                .map(|(t, v, p)| Message {
                    text: (*t).into(),
                    active: true,
                    priority: *p,
                    variant: v.map(str::to_owned),
                })
                .collect(),
        )
    }

    #[test]
    fn consecutive_variants_share_one_rotation_slot() {
        let s = ab(&[
            ("x", None, 5),
            ("a1", Some("A"), 5),
            ("b1", Some("B"), 5),
            ("a2", Some("A"), 5),
            ("b2", Some("B"), 5),
            ("y", None, 5),
        ]);
        assert_eq!(s.slots(), vec![vec![0], vec![1, 2], vec![3, 4], vec![5]]);
        let picked: Vec<Vec<&str>> = (0..4)
            .map(|c| {
                s.pick_slot(Rotation::Sequential, c, 0)
                    .unwrap()
                    .iter()
                    .map(|m| m.text.as_str())
                    .collect()
            })
            .collect();
        assert_eq!(
            picked,
            [vec!["x"], vec!["a1", "b1"], vec!["a2", "b2"], vec!["y"]]
        );
        assert_eq!(s.pick(Rotation::Sequential, 1, 0).unwrap().text, "a1");
        let v: Vec<&str> = s
            .variants_of("a2")
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(v, ["a2", "b2"]);
        assert!(s.variants_of("x").is_empty());
        assert!(s.validate(TextFormat::Plain, false).is_ok());
    }

    #[test]
    fn a_retired_variant_leaves_its_slot_to_the_other() {
        let mut s = ab(&[("a", Some("A"), 5), ("b", Some("B"), 5)]);
        s.messages[1].active = false;
        assert!(s.validate(TextFormat::Plain, false).is_ok());
        let slot = s.pick_slot(Rotation::Sequential, 3, 0).unwrap();
        assert_eq!(slot.len(), 1);
        assert_eq!(slot[0].text, "a");
        assert!(s.variants_of("a").is_empty());
    }

    #[test]
    fn variant_labels_are_validated_with_the_message_index() {
        let plain = |s: MessageSet| s.validate(TextFormat::Plain, false).unwrap_err();
        let e = plain(ab(&[("x", None, 5), ("a", Some("A"), 5), ("y", None, 5)]));
        assert_eq!(
            e,
            MessageError::VariantAlone {
                set: "b2b".into(),
                index: 2,
                label: "A".into()
            }
        );
        assert!(e.to_string().contains("no other variant"), "{e}");
        let e = plain(ab(&[("a", Some("A"), 5), ("b", Some("B"), 7)]));
        assert!(
            matches!(
                e,
                MessageError::VariantMixed {
                    index: 2,
                    priority: 7,
                    first: 1,
                    first_priority: 5,
                    ..
                }
            ),
            "{e}"
        );
        // `A, B, A`: the second A starts a slot of its own, alone.
        let e = plain(ab(&[
            ("a", Some("A"), 5),
            ("b", Some("B"), 5),
            ("c", Some("A"), 5),
        ]));
        assert!(
            matches!(e, MessageError::VariantAlone { index: 3, .. }),
            "{e}"
        );
        for bad in ["", "A B", "seventeen-letters"] {
            let e = plain(ab(&[("a", Some(bad), 5), ("b", Some("B"), 5)]));
            assert!(
                matches!(e, MessageError::VariantLabel { index: 1, .. }),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn variants_are_balanced_over_chats_and_cycles_and_reproducible() {
        let keys: Vec<String> = (0..7).map(|i| format!("@chat{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut per_chat = vec![[0u32; 2]; keys.len()];
        for cycle in 1..=10 {
            let mut counts = [0u32; 2];
            for (i, chat) in per_chat.iter_mut().enumerate() {
                let v = assign_variant(&refs, i, cycle, 42, 2);
                assert_eq!(v, assign_variant(&refs, i, cycle, 42, 2));
                counts[v] += 1;
                chat[v] += 1;
            }
            // 7 chats, 2 variants: 4 and 3, whichever way round.
            assert_eq!(counts.iter().sum::<u32>(), 7);
            assert!(
                counts[0].abs_diff(counts[1]) <= 1,
                "cycle {cycle}: {counts:?}"
            );
        }
        // Over 10 cycles each chat got each variant 5 times.
        assert!(per_chat.iter().all(|c| *c == [5, 5]), "{per_chat:?}");
        // Three variants over 6 chats: two each per cycle.
        let six = &refs[..6];
        for cycle in 0..3 {
            let mut counts = [0u32; 3];
            for i in 0..6 {
                counts[assign_variant(six, i, cycle, 1, 3)] += 1;
            }
            assert_eq!(counts, [2, 2, 2]);
        }
        // The chat's key decides, not its place in the list.
        let mut reversed = refs.clone();
        reversed.reverse();
        for (i, k) in refs.iter().enumerate() {
            let j = reversed.iter().position(|r| r == k).unwrap();
            assert_eq!(
                assign_variant(&refs, i, 3, 42, 2),
                assign_variant(&reversed, j, 3, 42, 2)
            );
        }
    }

    /// qa8: a set of an A/B slot and a plain message, sequential: the A/B slot comes every
    /// other cycle. Turned by the cycle, every chat got the same variant at each use; turned by
    /// the slot's round, each chat alternates A, B, A, B over the slot's uses. Random rotation
    /// too: every slot once per round of n cycles.
    #[test]
    fn each_use_of_an_ab_slot_turns_the_chats_variants_whatever_the_other_slots() {
        let set = ab(&[
            ("price A", Some("A"), 5),
            ("price B", Some("B"), 5),
            ("news", None, 5),
        ]);
        let keys: Vec<String> = (0..5).map(|i| format!("@chat{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        for rotation in [Rotation::Sequential, Rotation::Random] {
            let mut seen: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
            for cycle in 0..12 {
                let slot = set.pick_slot(rotation, cycle, 9).expect("slot");
                if slot.len() < 2 {
                    continue;
                }
                for (i, chat) in seen.iter_mut().enumerate() {
                    chat.push(assign_variant(&refs, i, set.slot_round(cycle), 9, 2));
                }
            }
            for (i, uses) in seen.iter().enumerate() {
                assert_eq!(
                    uses.len(),
                    6,
                    "{rotation:?}: 6 uses of the A/B slot in 12 cycles"
                );
                assert!(
                    uses.windows(2).all(|w| w[0] != w[1]),
                    "{rotation:?}: {} got {uses:?}",
                    keys[i]
                );
            }
        }
    }
}
