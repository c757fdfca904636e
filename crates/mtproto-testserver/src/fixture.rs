//! What the test server starts with: users, chats, membership, usernames and a fault plan,
//! from code or a JSON file (`mtproto-testserver --fixture FILE`).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole starting world.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub chats: Vec<ChatSpec>,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Added before every answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// The code `auth.sendCode` "sends" (the same for every phone).
    #[serde(default = "default_login_code")]
    pub login_code: String,
    /// Where accepted messages are appended as JSON lines (also settable at runtime).
    #[serde(default)]
    pub ledger: Option<std::path::PathBuf>,
    /// Seeded random trouble for soak runs (also settable at runtime).
    #[serde(default)]
    pub chaos: Option<crate::chaos::Chaos>,
    /// Seconds a non-admin may edit a post in a group or supergroup (messages.editMessage
    /// answers MESSAGE_EDIT_TIME_EXPIRED after; 0: never). Absent: Telegram's 172800 (48 h).
    /// Admins, and posts in channels, have no limit. Also settable at runtime.
    #[serde(default)]
    pub edit_window_secs: Option<u32>,
}

fn default_login_code() -> String {
    "12345".to_owned()
}

/// One Telegram user: an account the tests log in as, or just a chat member.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub id: i64,
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Needed to log in by code.
    #[serde(default)]
    pub phone: Option<String>,
    /// A 2FA password: sign-in by code then needs `auth.checkPassword`.
    #[serde(default)]
    pub password: Option<String>,
    /// Makes this a bot that logs in with `auth.importBotAuthorization`.
    #[serde(default)]
    pub bot_token: Option<String>,
    /// A pre-registered authorization key bound to this user (hex, 512 digits). When absent the
    /// server makes one at start; read it from the handle.
    #[serde(default)]
    pub auth_key: Option<String>,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("id", &self.id)
            .field("first_name", &self.first_name)
            .field("username", &self.username)
            .field("phone", &self.phone)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .field("auth_key", &self.auth_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl UserSpec {
    pub fn new(id: i64, first_name: &str) -> Self {
        UserSpec {
            id,
            first_name: first_name.to_owned(),
            ..Default::default()
        }
    }

    pub fn username(mut self, name: &str) -> Self {
        self.username = Some(name.to_owned());
        self
    }

    pub fn phone(mut self, phone: &str) -> Self {
        self.phone = Some(phone.to_owned());
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    pub fn bot_token(mut self, token: &str) -> Self {
        self.bot_token = Some(token.to_owned());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A basic group: id `-N`, no access hash.
    Group,
    /// A megagroup: id `-100…`.
    #[default]
    Supergroup,
    /// A broadcast channel: id `-100…`; only admins post.
    Channel,
}

/// One chat, with its members and what stops them from posting.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSpec {
    /// Bot-API form: `-N` for groups, `-100…` for supergroups and channels.
    pub id: i64,
    pub title: String,
    #[serde(default)]
    pub kind: ChatKind,
    #[serde(default)]
    pub username: Option<String>,
    /// Slow mode: a member may post once per this many seconds (SLOWMODE_WAIT_X otherwise).
    #[serde(default)]
    pub slow_mode: Option<u32>,
    /// Users in the chat (they see it in their dialogs and may post).
    #[serde(default)]
    pub members: Vec<i64>,
    /// Channel admins (only they may post in a channel).
    #[serde(default)]
    pub admins: Vec<i64>,
    /// Members banned from writing (USER_BANNED_IN_CHANNEL).
    #[serde(default)]
    pub banned: Vec<i64>,
    /// Nobody may write (CHAT_WRITE_FORBIDDEN).
    #[serde(default)]
    pub read_only: bool,
    /// Members may not send media (the default banned rights' `send_media`):
    /// CHAT_SEND_MEDIA_FORBIDDEN for a photo or document, text still goes through.
    #[serde(default)]
    pub media_banned: bool,
    /// A forum supergroup: a send with `reply_to.top_msg_id` goes into that topic; without,
    /// into General.
    #[serde(default)]
    pub forum: bool,
    /// The forum's topics besides General (id 1).
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
    /// A basic group upgraded to this supergroup (its bot-API `-100…` id, a chat of the
    /// fixture): the group is deactivated, its chat object carries `migrated_to`, and a send
    /// to it answers PEER_ID_INVALID.
    #[serde(default)]
    pub migrated_to: Option<i64>,
    /// Members may pin messages (the default rights' `pin_messages`); without, only admins
    /// pin and messages.updatePinnedMessage answers the others CHAT_ADMIN_REQUIRED.
    #[serde(default)]
    pub members_may_pin: bool,
}

/// One forum topic: its id is the id of its first message (what `t.me/name/ID` links carry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub id: i32,
    pub title: String,
    /// A closed topic: only admins may post (TOPIC_CLOSED for the others).
    #[serde(default)]
    pub closed: bool,
}

impl ChatSpec {
    pub fn new(id: i64, title: &str, kind: ChatKind) -> Self {
        ChatSpec {
            id,
            title: title.to_owned(),
            kind,
            ..Default::default()
        }
    }

    pub fn username(mut self, name: &str) -> Self {
        self.username = Some(name.to_owned());
        self
    }

    pub fn slow_mode(mut self, seconds: u32) -> Self {
        self.slow_mode = Some(seconds);
        self
    }

    pub fn members(mut self, members: &[i64]) -> Self {
        self.members.extend_from_slice(members);
        self
    }

    pub fn admins(mut self, admins: &[i64]) -> Self {
        self.admins.extend_from_slice(admins);
        self
    }

    pub fn banned(mut self, banned: &[i64]) -> Self {
        self.banned.extend_from_slice(banned);
        self
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn media_banned(mut self) -> Self {
        self.media_banned = true;
        self
    }

    /// Makes it a forum (a supergroup) with an open topic `id`.
    pub fn topic(mut self, id: i32, title: &str) -> Self {
        self.forum = true;
        self.topics.push(TopicSpec {
            id,
            title: title.to_owned(),
            closed: false,
        });
        self
    }

    /// Makes it a forum (a supergroup) with a closed topic `id`.
    pub fn closed_topic(mut self, id: i32, title: &str) -> Self {
        self.forum = true;
        self.topics.push(TopicSpec {
            id,
            title: title.to_owned(),
            closed: true,
        });
        self
    }

    /// Makes it a forum without topics besides General.
    pub fn forum(mut self) -> Self {
        self.forum = true;
        self
    }

    /// Members may pin messages, not only admins.
    pub fn members_may_pin(mut self) -> Self {
        self.members_may_pin = true;
        self
    }

    /// A basic group upgraded to supergroup `to` (`-100…`, also in the fixture).
    pub fn migrated_to(mut self, to: i64) -> Self {
        self.migrated_to = Some(to);
        self
    }
}

/// One rule of the fault plan: which requests it hits and what happens to them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Only requests from this user (id, `@username` or phone); any when absent.
    #[serde(default)]
    pub account: Option<String>,
    /// Only sends to this chat (bot-API id or `@username`); any when absent.
    #[serde(default)]
    pub chat: Option<String>,
    /// Only sends into this forum topic (their `reply_to.top_msg_id`); any when absent.
    #[serde(default)]
    pub topic: Option<i32>,
    /// Only this TL method (`messages.sendMessage`, `messages.editMessage`, …, or `*` for
    /// every request). When absent: the send methods, `messages.sendMessage`,
    /// `messages.sendMedia` and `messages.sendMultiMedia`. `chat` and `topic` match sends
    /// only (the other methods are matched without their chat).
    #[serde(default)]
    pub method: Option<String>,
    /// What the request gets:
    /// a Telegram error (`FLOOD_WAIT_30`, `SLOWMODE_WAIT_10`, `CHAT_WRITE_FORBIDDEN`,
    /// `AUTH_KEY_UNREGISTERED`, …), `DROP` (the connection is closed and the request is not
    /// carried out) or `DROP_AFTER` (the request is carried out, then the connection is closed
    /// before the answer). Absent: only `delay_ms` applies.
    #[serde(default)]
    pub error: Option<String>,
    /// Extra delay before answering a matching request.
    #[serde(default)]
    pub delay_ms: u64,
    /// Let this many matching requests through before the rule starts hitting.
    #[serde(default)]
    pub after: u32,
    /// Hit at most this many times (every time when absent).
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule answering every matching send with `error`.
    pub fn error(error: &str) -> Self {
        FaultRule {
            error: Some(error.to_owned()),
            ..Default::default()
        }
    }

    pub fn account(mut self, account: &str) -> Self {
        self.account = Some(account.to_owned());
        self
    }

    pub fn chat(mut self, chat: &str) -> Self {
        self.chat = Some(chat.to_owned());
        self
    }

    pub fn topic(mut self, topic: i32) -> Self {
        self.topic = Some(topic);
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn after(mut self, after: u32) -> Self {
        self.after = after;
        self
    }

    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixture {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("fixture {path} is not valid JSON for a test-server fixture: {error}")]
    Parse {
        path: String,
        error: serde_json::Error,
    },
    #[error("fixture: {0}")]
    Invalid(String),
}

impl Fixture {
    pub fn from_file(path: &Path) -> Result<Self, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: path.display().to_string(),
            error: source,
        })?;
        serde_json::from_str(&text).map_err(|source| FixtureError::Parse {
            path: path.display().to_string(),
            error: source,
        })
    }

    pub fn user(mut self, user: UserSpec) -> Self {
        self.users.push(user);
        self
    }

    pub fn chat(mut self, chat: ChatSpec) -> Self {
        self.chats.push(chat);
        self
    }

    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    /// Checks ids and references so a bad fixture fails at start, not mid-test.
    pub fn validate(&self) -> Result<(), FixtureError> {
        let mut ids = std::collections::HashSet::new();
        for u in &self.users {
            if !(1..=0xff_ffff_ffff).contains(&u.id) {
                return Err(FixtureError::Invalid(format!(
                    "user id {} out of range",
                    u.id
                )));
            }
            if !ids.insert(u.id) {
                return Err(FixtureError::Invalid(format!(
                    "user id {} appears twice",
                    u.id
                )));
            }
            if let Some(k) = &u.auth_key
                && (k.len() != 512 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(FixtureError::Invalid(format!(
                    "user {}: auth_key must be 512 hex digits",
                    u.id
                )));
            }
        }
        let mut chat_ids = std::collections::HashSet::new();
        for c in &self.chats {
            let ok = match c.kind {
                ChatKind::Group => (-999_999_999_999..=-1).contains(&c.id),
                _ => (-1_997_852_516_352..=-1_000_000_000_001).contains(&c.id),
            };
            if !ok {
                return Err(FixtureError::Invalid(format!(
                    "chat {}: id does not fit kind {:?} (groups are -N, supergroups and channels -100…)",
                    c.id, c.kind
                )));
            }
            if !chat_ids.insert(c.id) {
                return Err(FixtureError::Invalid(format!(
                    "chat id {} appears twice",
                    c.id
                )));
            }
            if c.forum && c.kind != ChatKind::Supergroup {
                return Err(FixtureError::Invalid(format!(
                    "chat {}: only supergroups can be forums",
                    c.id
                )));
            }
            if !c.topics.is_empty() && !c.forum {
                return Err(FixtureError::Invalid(format!(
                    "chat {}: topics need `forum: true`",
                    c.id
                )));
            }
            let mut topic_ids = std::collections::HashSet::new();
            for t in &c.topics {
                if t.id <= 1 || !topic_ids.insert(t.id) {
                    return Err(FixtureError::Invalid(format!(
                        "chat {}: topic {} is General (1), not positive or given twice",
                        c.id, t.id
                    )));
                }
            }
            if let Some(to) = c.migrated_to {
                let target = self.chats.iter().find(|x| x.id == to);
                if c.kind != ChatKind::Group
                    || target.is_none_or(|t| t.kind != ChatKind::Supergroup)
                {
                    return Err(FixtureError::Invalid(format!(
                        "chat {}: only a basic group migrates, to a supergroup of the fixture ({to} is not one)",
                        c.id
                    )));
                }
            }
            for m in c.members.iter().chain(&c.admins).chain(&c.banned) {
                if !ids.contains(m) {
                    return Err(FixtureError::Invalid(format!(
                        "chat {}: unknown user {m}",
                        c.id
                    )));
                }
            }
        }
        Ok(())
    }
}
