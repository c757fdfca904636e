//! The configuration file's shape: one serde struct per table, every one with
//! `deny_unknown_fields` (a misspelt key is an error naming it), values kept `Spanned` where a
//! later check must name their line. Words with a fixed set of values (`format`, `kind`) are
//! enums whose refusal lists the allowed words.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use smb_domain::{Rotation, TextFormat};
use smb_telegram::FaultRule;
use toml::Spanned;

use super::duration::DurationValue;

/// "`rtf` is not a format; use "plain", "markdown" or "html"": the refusal of a word that is
/// not one of `allowed`.
fn not_one_of(word: &str, what: &str, allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    };
    format!("`{word}` is not {what}; use {list}")
}

/// An account's `kind`: a user account (logged in with a phone) or a bot (a Bot API token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountKind {
    #[default]
    User,
    Bot,
}

impl AccountKind {
    const ALL: [(&'static str, AccountKind); 2] =
        [("user", AccountKind::User), ("bot", AccountKind::Bot)];

    /// The configuration's word: `user` or `bot`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Bot => "bot",
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AccountKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        AccountKind::ALL
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let allowed = AccountKind::ALL.map(|(w, _)| w);
                serde::de::Error::custom(not_one_of(&word, "an account kind", &allowed))
            })
    }
}

/// A message set's `format`: [`TextFormat`] with the configuration's refusal.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatWord(pub TextFormat);

impl<'de> Deserialize<'de> for FormatWord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        TextFormat::parse(&word).map(FormatWord).ok_or_else(|| {
            serde::de::Error::custom(not_one_of(
                &word,
                "a format",
                &["plain", "markdown", "html"],
            ))
        })
    }
}

/// The settings that may be given globally and overridden per broadcaster.
#[derive(Debug, Clone, Default)]
pub(super) struct Tunables {
    pub(super) delay_between_chats: Option<Spanned<DurationValue>>,
    pub(super) cycle_delay: Option<Spanned<DurationValue>>,
    pub(super) max_retries: Option<u32>,
    pub(super) retry_delay: Option<Spanned<DurationValue>>,
    pub(super) jitter: Option<Spanned<String>>,
    pub(super) enable_scheduling: Option<bool>,
    pub(super) start_time_hour: Option<Spanned<u8>>,
    pub(super) enable_quiet_hours: Option<bool>,
    pub(super) quiet_hour_start: Option<Spanned<u8>>,
    pub(super) quiet_hour_end: Option<Spanned<u8>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) disable_after_failures: Option<u32>,
}

/// Declares a section struct that carries the tunables inline. serde's `flatten` would lose
/// both the line numbers (spans) and `deny_unknown_fields`, so the fields are spelled out.
macro_rules! with_tunables {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $name {
            $($(#[$fm])* pub(super) $field: $ty,)*
            #[serde(default)]
            pub(super) delay_between_chats: Option<Spanned<DurationValue>>,
            #[serde(default)]
            pub(super) cycle_delay: Option<Spanned<DurationValue>>,
            #[serde(default)]
            pub(super) max_retries: Option<u32>,
            #[serde(default)]
            pub(super) retry_delay: Option<Spanned<DurationValue>>,
            #[serde(default)]
            pub(super) jitter: Option<Spanned<String>>,
            #[serde(default)]
            pub(super) enable_scheduling: Option<bool>,
            #[serde(default)]
            pub(super) start_time_hour: Option<Spanned<u8>>,
            #[serde(default)]
            pub(super) enable_quiet_hours: Option<bool>,
            #[serde(default)]
            pub(super) quiet_hour_start: Option<Spanned<u8>>,
            #[serde(default)]
            pub(super) quiet_hour_end: Option<Spanned<u8>>,
            #[serde(default)]
            pub(super) timezone: Option<Spanned<String>>,
            #[serde(default)]
            pub(super) disable_after_failures: Option<u32>,
        }

        impl $name {
            pub(super) fn tunables(&self) -> Tunables {
                Tunables {
                    delay_between_chats: self.delay_between_chats.clone(),
                    cycle_delay: self.cycle_delay.clone(),
                    max_retries: self.max_retries,
                    retry_delay: self.retry_delay.clone(),
                    jitter: self.jitter.clone(),
                    enable_scheduling: self.enable_scheduling,
                    start_time_hour: self.start_time_hour.clone(),
                    enable_quiet_hours: self.enable_quiet_hours,
                    quiet_hour_start: self.quiet_hour_start.clone(),
                    quiet_hour_end: self.quiet_hour_end.clone(),
                    timezone: self.timezone.clone(),
                    disable_after_failures: self.disable_after_failures,
                }
            }
        }
    };
}

with_tunables! {
    #[derive(Default)]
    struct GlobalSection {
        #[serde(default)]
        test_mode: Option<bool>,
        /// A flood wait longer than this hands not-yet-attempted deliveries to a backup
        /// account (issue 14). Default 10 min.
        #[serde(default)]
        backup_after: Option<Spanned<DurationValue>>,
        /// The daemon's pre-flight check runs at start and then every this long (issue 14).
        /// Default 24 h with Telegram; with `--sandbox` only when set. `"0s"`: never.
        #[serde(default)]
        preflight_every: Option<Spanned<DurationValue>>,
        /// When reach is read after each post, e.g. "24h,72h" (issue 17); "off": never.
        #[serde(default)]
        reach_after: Option<Spanned<String>>,
        /// Retire the losing A/B variant of a significant result (issue 17).
        #[serde(default)]
        auto_winner: Option<bool>,
        /// Measured posts per variant before `auto_winner` decides.
        #[serde(default)]
        min_sample: Option<Spanned<i64>>,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabaseSection {
    pub(super) url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxSection {
    pub(super) database_url: Option<String>,
    pub(super) ledger: Option<PathBuf>,
    pub(super) latency_ms: Option<u64>,
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) faults: Vec<FaultRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountSection {
    pub(super) kind: Option<AccountKind>,
    pub(super) phone: Option<String>,
    pub(super) session: Option<PathBuf>,
    pub(super) proxy: Option<String>,
    pub(super) delay_between_chats: Option<Spanned<DurationValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageItem {
    pub(super) text: Spanned<String>,
    #[serde(default = "yes")]
    pub(super) active: bool,
    #[serde(default = "five")]
    pub(super) priority: u8,
    /// A/B label (issue 17): consecutive labelled items share one rotation slot.
    #[serde(default)]
    pub(super) variant: Option<String>,
}

fn yes() -> bool {
    true
}
fn five() -> u8 {
    5
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageSection {
    #[serde(default)]
    pub(super) texts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) items: Vec<MessageItem>,
    pub(super) format: Option<FormatWord>,
    pub(super) media: Option<MediaSetting>,
    pub(super) link_preview: Option<bool>,
    /// A file, Google Sheet or CSV URL the texts are fetched from (`messages update`).
    pub(super) source: Option<Spanned<String>>,
}

with_tunables! {
    struct BroadcasterSection {
        account: Spanned<String>,
        targets: Spanned<String>,
        #[serde(default)]
        test_targets: Option<Spanned<String>>,
        messages: Spanned<String>,
        #[serde(default)]
        rotation: Option<Rotation>,
        #[serde(default = "yes")]
        enabled: bool,
        /// In a chat that forbids media, send the text alone (issue 11).
        #[serde(default)]
        send_text_without_media: Option<bool>,
        /// Accounts that post for this broadcaster while its own is stopped or in a long
        /// flood wait, only into chats they are already members of (issue 14).
        #[serde(default)]
        backup_accounts: Option<Spanned<Vec<String>>>,
        /// `"new"` (default), `"replace"` or `"edit"`: what a cycle does with our previous
        /// post in the chat (issue 15).
        #[serde(default)]
        post_mode: Option<smb_domain::PostMode>,
        /// Pin the new post silently, unpin ours that it replaces (issue 15).
        #[serde(default)]
        pin: Option<bool>,
        /// `"next"` (default) or `"edit"`: a new message-set version mid-cycle (issue 15).
        #[serde(default)]
        on_update: Option<smb_domain::OnUpdate>,
        /// Our posts removed by a chat's admins this many times in a row flag the chat
        /// (default 2, 0: never; issue 15's survival check).
        #[serde(default)]
        removed_posts_flag: Option<u32>,
        /// A flagged chat is also disabled (issue 15).
        #[serde(default)]
        disable_when_removed: Option<bool>,
    }
}

/// `media` of a message set: one file (`media = "price.png"`) or an album's files
/// (`media = ["a.jpg", "b.jpg"]`, issue 15), each with where it is written.
#[derive(Debug)]
pub(super) enum MediaSetting {
    One(Spanned<PathBuf>),
    /// The list's own position (its `[`) and its items.
    Many(usize, Vec<Spanned<PathBuf>>),
}

/// By hand rather than `#[serde(untagged)]`: untagged buffers the value and loses each file's
/// line (toml's `Spanned`), which the errors name.
impl<'de> Deserialize<'de> for MediaSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<MediaValue>::deserialize(d)?;
        let start = spanned.span().start;
        Ok(match spanned.into_inner() {
            MediaValue::One(p) => MediaSetting::One(Spanned::new(start..start, p)),
            MediaValue::Many(items) => MediaSetting::Many(start, items),
        })
    }
}

enum MediaValue {
    One(PathBuf),
    Many(Vec<Spanned<PathBuf>>),
}

impl<'de> Deserialize<'de> for MediaValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> serde::de::Visitor<'de> for Value {
            type Value = MediaValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a file such as \"price.png\" or an album's files such as [\"a.jpg\", \"b.jpg\"]",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MediaValue, E> {
                Ok(MediaValue::One(PathBuf::from(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<MediaValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<PathBuf>>()? {
                    items.push(item);
                }
                Ok(MediaValue::Many(items))
            }
        }
        d.deserialize_any(Value)
    }
}

/// One entry of a `[targets]` list: a chat as text, or a table with the chat's rules.
#[derive(Debug)]
pub(super) enum TargetEntry {
    Plain(String),
    Ruled(RuledTarget),
}

/// By hand rather than `#[serde(untagged)]`: a table's own error (an unknown key such as
/// `mingap`, a wrong type) reaches the user at its key, instead of "data did not match any
/// variant of untagged enum" at the list's first line.
impl<'de> Deserialize<'de> for TargetEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = TargetEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a chat such as \"@shop_chat\" or a table such as { chat = \"@shop_chat\", min_gap = \"24h\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TargetEntry, E> {
                Ok(TargetEntry::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TargetEntry, A::Error> {
                RuledTarget::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TargetEntry::Ruled)
            }
        }
        d.deserialize_any(Entry)
    }
}

/// `{ chat = "@wholesale_spb", topic = 7, min_gap = "24h", days = "mon-sat", hours = "9-21",
/// max_per_day = 1 }`: the rules hold for the chat, whichever topic or broadcaster posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuledTarget {
    pub(super) chat: String,
    /// Any TOML value: a wrong type (`"7"`, `7.5`) is refused by [`super::targets`] with the
    /// entry's key path, not by serde at the line alone.
    #[serde(default)]
    pub(super) topic: Option<toml::Value>,
    #[serde(default)]
    pub(super) min_gap: Option<DurationValue>,
    #[serde(default)]
    pub(super) days: Option<String>,
    #[serde(default)]
    pub(super) hours: Option<String>,
    /// Any TOML value, checked with the key path (see `topic`).
    #[serde(default)]
    pub(super) max_per_day: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) settings: GlobalSection,
    #[serde(default)]
    pub(super) database: DatabaseSection,
    #[serde(default)]
    pub(super) sandbox: SandboxSection,
    #[serde(default)]
    pub(super) accounts: BTreeMap<String, AccountSection>,
    #[serde(default)]
    pub(super) targets: BTreeMap<String, Vec<Spanned<TargetEntry>>>,
    #[serde(default)]
    pub(super) messages: BTreeMap<String, MessageSection>,
    #[serde(default)]
    pub(super) broadcasters: BTreeMap<String, BroadcasterSection>,
}
