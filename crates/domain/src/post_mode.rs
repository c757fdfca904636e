//! What a broadcaster does with its previous post in a chat (issue 15): the words of
//! `post_mode`, `pin` and `on_update` in `[broadcasters.NAME]`. Pure words; carrying them out
//! (the follow-up journal) is the engine's.

use serde::{Deserialize, Serialize};

/// `post_mode = "…"`: what a new cycle does with our previous post in the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostMode {
    /// A new post each cycle; earlier ones stay (the behaviour before issue 15).
    #[default]
    New,
    /// Post the new one, then delete our previous post in that chat (post first, so a crash
    /// never leaves the chat without a current post).
    Replace,
    /// Edit our previous post in place while Telegram allows (48 h for a non-admin), else
    /// post anew.
    Edit,
}

impl PostMode {
    /// The configuration word (`"new"`, `"replace"`, `"edit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PostMode::New => "new",
            PostMode::Replace => "replace",
            PostMode::Edit => "edit",
        }
    }
}

impl std::fmt::Display for PostMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `on_update = "…"`: what a new message-set version arriving mid-cycle does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUpdate {
    /// The new version is posted from the next cycle on (the behaviour before issue 15).
    #[default]
    Next,
    /// This cycle's posts are edited to the new version now, paced like sends.
    Edit,
}

impl OnUpdate {
    /// The configuration word (`"next"`, `"edit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnUpdate::Next => "next",
            OnUpdate::Edit => "edit",
        }
    }
}

impl std::fmt::Display for OnUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_configuration_words_and_the_defaults_are_todays_behaviour() {
        assert_eq!(PostMode::default(), PostMode::New);
        assert_eq!(OnUpdate::default(), OnUpdate::Next);
        for m in [PostMode::New, PostMode::Replace, PostMode::Edit] {
            let json = format!("\"{m}\"");
            assert_eq!(serde_json::from_str::<PostMode>(&json).ok(), Some(m));
        }
        for u in [OnUpdate::Next, OnUpdate::Edit] {
            let json = format!("\"{u}\"");
            assert_eq!(serde_json::from_str::<OnUpdate>(&json).ok(), Some(u));
        }
        assert!(serde_json::from_str::<PostMode>("\"Replace\"").is_err());
    }
}
