//! The server's state: users, chats, authorization keys, logins in progress, uploads, the
//! fault plan, the ledger of accepted messages and each message's state since (edited,
//! deleted, pinned, its album: [`MessageState`]).
//!
//! Everything here is synchronous; the connection tasks lock it for one request at a time and
//! never across an await.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use grammers_tl_types as tl;
use serde::{Deserialize, Serialize};

use crate::chaos::ChaosState;
use crate::crypto::AuthKey;
use crate::fixture::{ChatKind, ChatSpec, FaultRule, Fixture, FixtureError, UserSpec};

/// The DC the server pretends to be; clients must have it as their home DC.
pub const DC_ID: i32 = 2;
const CHANNEL_ID_BASE: i64 = 1_000_000_000_000;

/// One formatting entity of an accepted message, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// `bold`, `italic`, `text_url`, `code`, `pre`, … (Telegram's constructor, snake-cased).
    pub kind: String,
    pub offset: i32,
    pub length: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The mentioned user of a `mention_name` (sent as inputMessageEntityMentionName).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The language of a `pre` block, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The custom emoji of a `custom_emoji`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<i64>,
}

/// The media of an accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    /// `photo` or `document`.
    pub kind: String,
    pub file_id: i64,
    /// True when the client sent a reference to media it had already uploaded.
    pub reused: bool,
}

/// One accepted message. The first four fields are the sandbox ledger's JSON-lines form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The chat's bot-API id (`-100…` or `-N`).
    pub chat: String,
    pub random_id: i64,
    pub text: String,
    /// RFC 3339.
    pub at: String,
    /// The sending user's id.
    pub account: i64,
    pub message_id: i32,
    /// The forum topic it was sent into (`reply_to.top_msg_id`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<i32>,
    /// The message it replied to (`reply_to.reply_to_msg_id`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaRecord>,
    /// The album it belongs to (messages.sendMultiMedia), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouped_id: Option<i64>,
}

/// One message as the chat shows it now (its ledger entry is what was sent): what tests
/// assert "exactly one live post of ours per chat" on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    /// The chat's bot-API id.
    pub chat: i64,
    pub id: i32,
    /// The sending user.
    pub account: i64,
    /// The text (caption) now, after edits.
    pub text: String,
    pub entities: Vec<EntityRecord>,
    /// Unix seconds it was sent.
    pub date: i32,
    /// Unix seconds of the last edit.
    pub edit_date: Option<i32>,
    /// Who deleted it (its sender, or an admin of the chat); `None` while it is live.
    pub deleted_by: Option<i64>,
    pub pinned: bool,
    /// The last pin was silent (no notification).
    pub pinned_silently: bool,
    /// The album it belongs to.
    pub grouped_id: Option<i64>,
    /// The stored photo or document it carries.
    pub media: Option<i64>,
}

impl MessageState {
    pub fn is_live(&self) -> bool {
        self.deleted_by.is_none()
    }
}

/// Telegram's `edit_time_limit` (help.getConfig): 48 h for non-admins in groups.
pub const DEFAULT_EDIT_WINDOW_SECS: u32 = 172_800;

pub(crate) struct UserRec {
    pub spec: UserSpec,
    pub access_hash: i64,
}

pub(crate) struct ChatRec {
    pub spec: ChatSpec,
    pub access_hash: i64,
    pub next_message_id: i32,
    pub created: i32,
}

impl ChatRec {
    pub fn is_member(&self, user: i64) -> bool {
        self.spec.members.contains(&user) || self.spec.admins.contains(&user)
    }

    /// The id inside Telegram's own constructors (positive, without the -100 prefix).
    pub fn bare_id(&self) -> i64 {
        match self.spec.kind {
            ChatKind::Group => -self.spec.id,
            _ => -self.spec.id - CHANNEL_ID_BASE,
        }
    }
}

pub(crate) struct KeyRec {
    pub key: AuthKey,
    pub user: Option<i64>,
}

pub(crate) struct PendingLogin {
    pub phone: String,
}

pub(crate) struct PendingPassword {
    pub user: i64,
    pub srp_id: i64,
    pub secure_random: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct StoredMedia {
    pub access_hash: i64,
    pub file_reference: Vec<u8>,
    pub document: bool,
    pub mime_type: String,
    pub name: String,
    pub size: i64,
}

struct FaultState {
    rule: FaultRule,
    seen: u32,
    hits: u32,
}

/// What the fault plan does to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultHit {
    pub error: Option<String>,
    pub delay: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

pub(crate) struct World {
    pub users: BTreeMap<i64, UserRec>,
    pub chats: BTreeMap<i64, ChatRec>,
    pub keys: HashMap<[u8; 8], KeyRec>,
    pub logins: HashMap<String, PendingLogin>,
    pub passwords: HashMap<[u8; 8], PendingPassword>,
    pub uploads: HashMap<i64, u64>,
    pub media: HashMap<i64, StoredMedia>,
    pub ledger: Vec<LedgerEntry>,
    /// Every accepted message's state now, by (chat, message id).
    pub posts: BTreeMap<(i64, i32), MessageState>,
    /// Reach a test set per (chat, message id) (issue 17, `crate::reach`).
    pub reach: HashMap<(i64, i32), crate::reach::PostFigures>,
    /// Seconds a non-admin may edit a post in a group (MESSAGE_EDIT_TIME_EXPIRED after).
    pub edit_window: u32,
    /// Basic groups share one message-id sequence (Telegram numbers a user's non-channel
    /// messages in one box: messages.deleteMessages and messages.getMessages take bare ids).
    next_basic_id: i32,
    next_group_id: i64,
    ledger_file: Option<(PathBuf, File)>,
    seen: HashSet<(i64, i64)>,
    pub duplicates: u64,
    last_post: HashMap<(i64, i64), tokio::time::Instant>,
    pub pts: i32,
    faults: Vec<FaultState>,
    pub latency: Duration,
    pub calls: HashMap<String, u64>,
    /// SLOWMODE_WAIT refusals per chat (bot-API id).
    pub slowmode_waits: HashMap<i64, u64>,
    pub login_code: String,
    next_media_id: i64,
    /// The chaos plan and the waits told to clients (crate::chaos).
    pub chaos: ChaosState,
}

/// Telegram's banned-rights flags for what the fixture forbids (`None`: nothing).
fn banned_rights(send_messages: bool, send_media: bool) -> Option<tl::enums::ChatBannedRights> {
    (send_messages || send_media).then(|| {
        tl::types::ChatBannedRights {
            view_messages: false,
            send_messages,
            send_media: send_media || send_messages,
            send_stickers: send_media || send_messages,
            send_gifs: send_media || send_messages,
            send_games: send_messages,
            send_inline: send_messages,
            embed_links: send_messages,
            send_polls: send_media || send_messages,
            change_info: true,
            invite_users: false,
            pin_messages: true,
            manage_topics: true,
            send_photos: send_media || send_messages,
            send_videos: send_media || send_messages,
            send_roundvideos: send_media || send_messages,
            send_audios: send_media || send_messages,
            send_voices: send_media || send_messages,
            send_docs: send_media || send_messages,
            send_plain: send_messages,
            edit_rank: false,
            send_reactions: false,
            manage_linked_peers: false,
            until_date: 0,
        }
        .into()
    })
}

/// The rights of a fixture admin: posting and managing topics.
fn admin_rights() -> tl::enums::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: false,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: false,
        invite_users: true,
        pin_messages: true,
        add_admins: false,
        anonymous: false,
        manage_call: false,
        other: true,
        manage_topics: true,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    }
    .into()
}

/// A stable pseudo-random access hash, so a fixture gives the same hashes every run.
pub(crate) fn access_hash_for(id: i64) -> i64 {
    (id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17) as i64
        ^ 0x5bd1_e995
}

pub(crate) fn now_unix() -> i32 {
    jiff::Timestamp::now().as_second() as i32
}

fn parse_hex_key(hex: &str) -> Option<[u8; 256]> {
    let mut out = [0u8; 256];
    if hex.len() != 512 {
        return None;
    }
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    /// The bot-API id of the channel or supergroup Telegram calls `channel_id`, if it exists
    /// and `access_hash` is its hash; `None` otherwise (a basic group included), which Telegram
    /// answers with CHANNEL_INVALID.
    pub(crate) fn channel(&self, channel_id: i64, access_hash: i64) -> Option<i64> {
        let id = -(CHANNEL_ID_BASE + channel_id);
        self.chats
            .get(&id)
            .filter(|rec| rec.spec.kind != ChatKind::Group && rec.access_hash == access_hash)
            .map(|_| id)
    }

    pub fn new(fixture: Fixture) -> Result<Self, FixtureError> {
        fixture.validate()?;
        let now = now_unix();
        let mut keys = HashMap::new();
        let mut users = BTreeMap::new();
        for spec in fixture.users {
            let key = match spec.auth_key.as_deref().map(parse_hex_key) {
                Some(Some(k)) => AuthKey::from_bytes(k),
                Some(None) => {
                    return Err(FixtureError::Invalid(format!(
                        "user {}: bad auth_key",
                        spec.id
                    )));
                }
                None => AuthKey::random(),
            };
            keys.insert(
                key.id(),
                KeyRec {
                    key,
                    user: Some(spec.id),
                },
            );
            users.insert(
                spec.id,
                UserRec {
                    access_hash: access_hash_for(spec.id),
                    spec,
                },
            );
        }
        let chats = fixture
            .chats
            .into_iter()
            .map(|spec| {
                let rec = ChatRec {
                    access_hash: access_hash_for(spec.id),
                    next_message_id: 2,
                    created: now,
                    spec,
                };
                (rec.spec.id, rec)
            })
            .collect();
        let mut world = World {
            users,
            chats,
            keys,
            logins: HashMap::new(),
            passwords: HashMap::new(),
            uploads: HashMap::new(),
            media: HashMap::new(),
            ledger: Vec::new(),
            posts: BTreeMap::new(),
            reach: HashMap::new(),
            edit_window: fixture.edit_window_secs.unwrap_or(DEFAULT_EDIT_WINDOW_SECS),
            next_basic_id: 2,
            next_group_id: 7_000_000_000_000,
            ledger_file: None,
            seen: HashSet::new(),
            duplicates: 0,
            last_post: HashMap::new(),
            pts: 1,
            faults: Vec::new(),
            latency: Duration::from_millis(fixture.latency_ms),
            calls: HashMap::new(),
            slowmode_waits: HashMap::new(),
            login_code: fixture.login_code,
            next_media_id: 5_000_000_000,
            chaos: ChaosState::new(fixture.chaos),
        };
        for rule in fixture.faults {
            world.add_fault(rule);
        }
        if let Some(path) = fixture.ledger {
            world
                .set_ledger_file(&path)
                .map_err(|e| FixtureError::Invalid(e.to_string()))?;
        }
        Ok(world)
    }

    pub fn add_fault(&mut self, rule: FaultRule) {
        self.faults.push(FaultState {
            rule,
            seen: 0,
            hits: 0,
        });
    }

    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Appends every accepted message to `path` from now on (after what was accepted so far).
    pub fn set_ledger_file(&mut self, path: &Path) -> Result<(), LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_owned(),
            error: source,
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        for e in &self.ledger {
            writeln!(f, "{}", serde_json::to_string(e).unwrap_or_default()).map_err(io)?;
        }
        self.ledger_file = Some((path.to_owned(), f));
        Ok(())
    }

    pub fn user_of_key(&self, key_id: &[u8; 8]) -> Option<i64> {
        self.keys.get(key_id).and_then(|k| k.user)
    }

    pub fn key_for_user(&self, user: i64) -> Option<[u8; 256]> {
        self.keys
            .values()
            .find(|k| k.user == Some(user))
            .map(|k| k.key.bytes())
    }

    pub fn new_key(&mut self) -> [u8; 256] {
        let key = AuthKey::random();
        let bytes = key.bytes();
        self.keys.insert(key.id(), KeyRec { key, user: None });
        bytes
    }

    /// Unbinds every key of `user`: its next request gets AUTH_KEY_UNREGISTERED.
    pub fn revoke(&mut self, user: i64) {
        for k in self.keys.values_mut() {
            if k.user == Some(user) {
                k.user = None;
            }
        }
    }

    pub fn bind(&mut self, key_id: &[u8; 8], user: i64) {
        if let Some(k) = self.keys.get_mut(key_id) {
            k.user = Some(user);
        }
    }

    pub fn count_call(&mut self, method: &str) {
        *self.calls.entry(method.to_owned()).or_default() += 1;
    }

    fn account_matches(&self, want: &str, user: Option<i64>) -> bool {
        let Some(user) = user else { return false };
        if let Ok(id) = want.parse::<i64>()
            && !want.starts_with('+')
        {
            return id == user;
        }
        let Some(rec) = self.users.get(&user) else {
            return false;
        };
        let name = want.trim_start_matches('@');
        rec.spec
            .username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(name))
            || rec.spec.phone.as_deref() == Some(want)
    }

    fn chat_matches(&self, want: &str, chat: Option<i64>) -> bool {
        let Some(chat) = chat else { return false };
        if let Ok(id) = want.parse::<i64>() {
            return id == chat;
        }
        let name = want.trim_start_matches('@');
        self.chats
            .get(&chat)
            .and_then(|c| c.spec.username.as_deref())
            .is_some_and(|u| u.eq_ignore_ascii_case(name))
    }

    /// Runs the fault plan for one request; the first rule that hits decides the error, and
    /// delays of every matching rule add up.
    pub fn faults_for(
        &mut self,
        method: &str,
        user: Option<i64>,
        chat: Option<i64>,
        topic: Option<i32>,
    ) -> FaultHit {
        let mut hit = FaultHit {
            error: None,
            delay: self.latency,
        };
        let matches: Vec<bool> = self
            .faults
            .iter()
            .map(|f| {
                let r = &f.rule;
                let method_ok = match r.method.as_deref() {
                    None => matches!(
                        method,
                        "messages.sendMessage" | "messages.sendMedia" | "messages.sendMultiMedia"
                    ),
                    Some("*") => true,
                    Some(m) => m == method,
                };
                method_ok
                    && r.account
                        .as_deref()
                        .is_none_or(|a| self.account_matches(a, user))
                    && r.chat.as_deref().is_none_or(|c| self.chat_matches(c, chat))
                    && r.topic.is_none_or(|t| Some(t) == topic)
            })
            .collect();
        for (f, matched) in self.faults.iter_mut().zip(matches) {
            if !matched {
                continue;
            }
            f.seen += 1;
            if f.seen <= f.rule.after || f.rule.times.is_some_and(|t| f.hits >= t) {
                continue;
            }
            if f.rule.error.is_some() && hit.error.is_some() {
                continue;
            }
            f.hits += 1;
            hit.delay += Duration::from_millis(f.rule.delay_ms);
            if hit.error.is_none() {
                hit.error.clone_from(&f.rule.error);
            }
        }
        hit
    }

    /// Checks slow mode and duplicates, then records the message. `Err` is a Telegram error.
    /// `reply_to` is (reply_to_msg_id, top_msg_id).
    // One parameter per field a send carries into the ledger; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        user: i64,
        chat: i64,
        random_id: i64,
        text: &str,
        entities: Vec<EntityRecord>,
        media: Option<MediaRecord>,
        reply_to: Option<(i32, Option<i32>)>,
    ) -> Result<i32, String> {
        self.admit(user, chat, random_id)?;
        self.record(user, chat, random_id, text, entities, media, reply_to, None)
    }

    /// A send's duplicate and slow-mode checks (an album's are made once, for its first item).
    pub fn admit(&mut self, user: i64, chat: i64, random_id: i64) -> Result<(), String> {
        if self.seen.contains(&(user, random_id)) {
            self.duplicates += 1;
            return Err("RANDOM_ID_DUPLICATE".to_owned());
        }
        let slow = self.chats.get(&chat).and_then(|c| c.spec.slow_mode);
        let now = tokio::time::Instant::now();
        if let Some(slow) = slow
            && let Some(last) = self.last_post.get(&(user, chat))
        {
            let elapsed = now.duration_since(*last);
            let period = Duration::from_secs(u64::from(slow));
            if elapsed < period {
                let left = (period - elapsed).as_secs_f64().ceil().max(1.0) as u64;
                *self.slowmode_waits.entry(chat).or_default() += 1;
                return Err(format!("SLOWMODE_WAIT_{left}"));
            }
        }
        Ok(())
    }

    /// True when `user` already sent `random_id` (the send is then RANDOM_ID_DUPLICATE).
    pub fn seen(&self, user: i64, random_id: i64) -> bool {
        self.seen.contains(&(user, random_id))
    }

    /// Counts a send refused as RANDOM_ID_DUPLICATE outside [`World::admit`].
    pub fn count_duplicate(&mut self) {
        self.duplicates += 1;
    }

    /// A new album id (messages.sendMultiMedia's `grouped_id`).
    pub fn new_group_id(&mut self) -> i64 {
        self.next_group_id += 1;
        self.next_group_id
    }

    /// Records an admitted message: a new id, the ledger, its state.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        user: i64,
        chat: i64,
        random_id: i64,
        text: &str,
        entities: Vec<EntityRecord>,
        media: Option<MediaRecord>,
        reply_to: Option<(i32, Option<i32>)>,
        grouped_id: Option<i64>,
    ) -> Result<i32, String> {
        let now = tokio::time::Instant::now();
        let Some(rec) = self.chats.get_mut(&chat) else {
            return Err("PEER_ID_INVALID".to_owned());
        };
        let message_id = if rec.spec.kind == ChatKind::Group {
            let id = self.next_basic_id;
            self.next_basic_id += 1;
            rec.next_message_id = id + 1;
            id
        } else {
            let id = rec.next_message_id;
            rec.next_message_id += 1;
            id
        };
        self.pts += 1;
        self.seen.insert((user, random_id));
        self.last_post.insert((user, chat), now);
        self.posts.insert(
            (chat, message_id),
            MessageState {
                chat,
                id: message_id,
                account: user,
                text: text.to_owned(),
                entities: entities.clone(),
                date: now_unix(),
                edit_date: None,
                deleted_by: None,
                pinned: false,
                pinned_silently: false,
                grouped_id,
                media: media.as_ref().map(|m| m.file_id),
            },
        );
        let entry = LedgerEntry {
            chat: chat.to_string(),
            random_id,
            text: text.to_owned(),
            at: jiff::Timestamp::now().to_string(),
            account: user,
            message_id,
            topic: reply_to.and_then(|(_, top)| top),
            reply_to: reply_to.map(|(r, _)| r),
            entities,
            media,
            grouped_id,
        };
        if let Some((path, f)) = &mut self.ledger_file {
            let line = serde_json::to_string(&entry).unwrap_or_default();
            if let Err(e) = writeln!(f, "{line}") {
                tracing::error!(path = %path.display(), error = %e, "cannot append to the ledger");
            }
        }
        self.ledger.push(entry);
        Ok(message_id)
    }

    /// Deletes messages `ids` of `chat` as `user` (an admin of the chat, or their sender):
    /// how many were live. MESSAGE_DELETE_FORBIDDEN, and nothing deleted, when one of them
    /// is someone else's and `user` is not an admin; unknown or deleted ids are skipped, as
    /// Telegram does.
    pub fn delete_messages(&mut self, user: i64, chat: i64, ids: &[i32]) -> Result<i32, String> {
        let admin = self
            .chats
            .get(&chat)
            .is_some_and(|c| c.spec.admins.contains(&user));
        let live: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|id| {
                self.posts
                    .get(&(chat, *id))
                    .is_some_and(MessageState::is_live)
            })
            .collect();
        if !admin
            && live.iter().any(|id| {
                self.posts
                    .get(&(chat, *id))
                    .is_some_and(|p| p.account != user)
            })
        {
            return Err("MESSAGE_DELETE_FORBIDDEN".to_owned());
        }
        for id in &live {
            if let Some(p) = self.posts.get_mut(&(chat, *id)) {
                p.deleted_by = Some(user);
                p.pinned = false;
            }
        }
        if !live.is_empty() {
            self.pts += 1;
        }
        Ok(live.len() as i32)
    }

    /// The live message `id` of `chat` as Telegram shows it to `viewer` (edit date, pinned,
    /// album, media; entities are not repeated).
    pub fn post_tl(&self, chat: i64, id: i32, viewer: i64) -> Option<tl::enums::Message> {
        let p = self.posts.get(&(chat, id)).filter(|p| p.is_live())?;
        let media = p.media.and_then(|m| self.media_tl(m));
        let mut m = self.message_tl(
            id,
            chat,
            Some(p.account),
            p.account == viewer,
            p.date,
            &p.text,
            media,
            None,
        )?;
        if let tl::enums::Message::Message(x) = &mut m {
            x.edit_date = p.edit_date;
            x.pinned = p.pinned;
            x.grouped_id = p.grouped_id;
        }
        Some(m)
    }

    /// Opens or closes a forum topic.
    pub fn set_topic_closed(&mut self, chat: i64, topic: i32, closed: bool) -> bool {
        let Some(t) = self
            .chats
            .get_mut(&chat)
            .and_then(|c| c.spec.topics.iter_mut().find(|t| t.id == topic))
        else {
            return false;
        };
        t.closed = closed;
        true
    }

    /// Upgrades basic group `group` to a new supergroup `to` (its members come along, as
    /// Telegram's messages.migrateChat does); the group is deactivated.
    pub fn migrate(&mut self, group: i64, mut to: ChatSpec) -> Result<(), FixtureError> {
        let Some(old) = self.chats.get(&group) else {
            return Err(FixtureError::Invalid(format!("no chat {group}")));
        };
        if old.spec.kind != ChatKind::Group || old.spec.migrated_to.is_some() {
            return Err(FixtureError::Invalid(format!(
                "chat {group} is not a basic group that can migrate"
            )));
        }
        if to.kind != ChatKind::Supergroup || self.chats.contains_key(&to.id) {
            return Err(FixtureError::Invalid(format!(
                "chat {}: the new chat must be a supergroup with a new id",
                to.id
            )));
        }
        if to.members.is_empty() {
            to.members.clone_from(&old.spec.members);
            to.admins.clone_from(&old.spec.admins);
        }
        let id = to.id;
        let rec = ChatRec {
            access_hash: access_hash_for(id),
            next_message_id: 2,
            created: now_unix(),
            spec: to,
        };
        self.chats.insert(id, rec);
        if let Some(old) = self.chats.get_mut(&group) {
            old.spec.migrated_to = Some(id);
        }
        Ok(())
    }

    pub fn store_media(&mut self, media: StoredMedia) -> i64 {
        self.next_media_id += 1;
        self.media.insert(self.next_media_id, media);
        self.next_media_id
    }

    // ---- TL builders -------------------------------------------------------------------

    pub fn user_tl(&self, id: i64, viewer: i64) -> Option<tl::enums::User> {
        let rec = self.users.get(&id)?;
        let s = &rec.spec;
        Some(tl::enums::User::User(tl::types::User {
            is_self: id == viewer,
            contact: false,
            mutual_contact: false,
            deleted: false,
            bot: s.bot_token.is_some(),
            bot_chat_history: false,
            bot_nochats: false,
            verified: false,
            restricted: false,
            min: false,
            bot_inline_geo: false,
            support: false,
            scam: false,
            apply_min_photo: false,
            fake: false,
            bot_attach_menu: false,
            premium: false,
            attach_menu_enabled: false,
            bot_can_edit: false,
            close_friend: false,
            stories_hidden: false,
            stories_unavailable: true,
            contact_require_premium: false,
            bot_business: false,
            bot_has_main_app: false,
            bot_forum_view: false,
            bot_forum_can_manage_topics: false,
            bot_can_manage_bots: false,
            bot_guestchat: false,
            bot_guard: false,
            id,
            access_hash: Some(rec.access_hash),
            first_name: Some(s.first_name.clone()),
            last_name: None,
            username: s.username.clone(),
            phone: if id == viewer {
                s.phone
                    .as_ref()
                    .map(|p| p.trim_start_matches('+').to_owned())
            } else {
                None
            },
            photo: None,
            status: Some(tl::enums::UserStatus::Empty),
            bot_info_version: s.bot_token.as_ref().map(|_| 1),
            restriction_reason: None,
            bot_inline_placeholder: None,
            lang_code: None,
            emoji_status: None,
            usernames: None,
            stories_max_id: None,
            color: None,
            profile_color: None,
            bot_active_users: None,
            bot_verification_icon: None,
            send_paid_messages_stars: None,
            linked_community_id: None,
        }))
    }

    pub fn chat_tl(&self, id: i64, viewer: i64) -> Option<tl::enums::Chat> {
        let rec = self.chats.get(&id)?;
        let s = &rec.spec;
        let member = rec.is_member(viewer);
        Some(match s.kind {
            ChatKind::Group => tl::enums::Chat::Chat(tl::types::Chat {
                creator: false,
                left: !member,
                deactivated: s.migrated_to.is_some(),
                call_active: false,
                call_not_empty: false,
                noforwards: false,
                id: rec.bare_id(),
                title: s.title.clone(),
                photo: tl::enums::ChatPhoto::Empty,
                participants_count: s.members.len() as i32,
                date: rec.created,
                version: 1,
                migrated_to: s.migrated_to.and_then(|to| self.chats.get(&to)).map(|new| {
                    tl::types::InputChannel {
                        channel_id: new.bare_id(),
                        access_hash: new.access_hash,
                    }
                    .into()
                }),
                admin_rights: s.admins.contains(&viewer).then(admin_rights),
                default_banned_rights: banned_rights(s.read_only, s.media_banned),
            }),
            kind => tl::enums::Chat::Channel(tl::types::Channel {
                creator: false,
                left: !member,
                broadcast: kind == ChatKind::Channel,
                verified: false,
                megagroup: kind == ChatKind::Supergroup,
                restricted: false,
                signatures: false,
                min: false,
                scam: false,
                has_link: false,
                has_geo: false,
                slowmode_enabled: s.slow_mode.is_some(),
                call_active: false,
                call_not_empty: false,
                fake: false,
                gigagroup: false,
                noforwards: false,
                join_to_send: false,
                join_request: false,
                forum: s.forum,
                stories_hidden: false,
                stories_hidden_min: false,
                stories_unavailable: true,
                signature_profiles: false,
                autotranslation: false,
                broadcast_messages_allowed: false,
                monoforum: false,
                forum_tabs: false,
                id: rec.bare_id(),
                access_hash: Some(rec.access_hash),
                title: s.title.clone(),
                username: s.username.clone(),
                photo: tl::enums::ChatPhoto::Empty,
                date: rec.created,
                restriction_reason: None,
                admin_rights: s.admins.contains(&viewer).then(admin_rights),
                banned_rights: if s.banned.contains(&viewer) {
                    banned_rights(true, true)
                } else {
                    None
                },
                default_banned_rights: banned_rights(s.read_only, s.media_banned),
                participants_count: Some(s.members.len() as i32),
                usernames: None,
                stories_max_id: None,
                color: None,
                profile_color: None,
                emoji_status: None,
                level: None,
                subscription_until_date: None,
                bot_verification_icon: None,
                send_paid_messages_stars: None,
                linked_monoforum_id: None,
                linked_community_id: None,
            }),
        })
    }

    /// What a viewer who is not in a basic group gets for it (Telegram's "no access").
    pub fn chat_forbidden_tl(&self, id: i64) -> Option<tl::enums::Chat> {
        let rec = self.chats.get(&id)?;
        Some(tl::enums::Chat::Forbidden(tl::types::ChatForbidden {
            id: rec.bare_id(),
            title: rec.spec.title.clone(),
        }))
    }

    pub fn peer_tl(&self, chat: i64) -> Option<tl::enums::Peer> {
        let rec = self.chats.get(&chat)?;
        Some(match rec.spec.kind {
            ChatKind::Group => tl::types::PeerChat {
                chat_id: rec.bare_id(),
            }
            .into(),
            _ => tl::types::PeerChannel {
                channel_id: rec.bare_id(),
            }
            .into(),
        })
    }

    pub fn media_tl(&self, id: i64) -> Option<tl::enums::MessageMedia> {
        let m = self.media.get(&id)?;
        Some(if m.document {
            tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: false,
                round: false,
                voice: false,
                document: Some(tl::enums::Document::Document(tl::types::Document {
                    id,
                    access_hash: m.access_hash,
                    file_reference: m.file_reference.clone(),
                    date: now_unix(),
                    mime_type: m.mime_type.clone(),
                    size: m.size,
                    thumbs: None,
                    video_thumbs: None,
                    dc_id: DC_ID,
                    attributes: vec![tl::enums::DocumentAttribute::Filename(
                        tl::types::DocumentAttributeFilename {
                            file_name: m.name.clone(),
                        },
                    )],
                })),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            })
        } else {
            tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(tl::enums::Photo::Photo(tl::types::Photo {
                    has_stickers: false,
                    id,
                    access_hash: m.access_hash,
                    file_reference: m.file_reference.clone(),
                    date: now_unix(),
                    sizes: Vec::new(),
                    video_sizes: None,
                    dc_id: DC_ID,
                })),
                ttl_seconds: None,
                video: None,
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn message_tl(
        &self,
        id: i32,
        chat: i64,
        from: Option<i64>,
        out: bool,
        date: i32,
        text: &str,
        media: Option<tl::enums::MessageMedia>,
        entities: Option<Vec<tl::enums::MessageEntity>>,
    ) -> Option<tl::enums::Message> {
        let post = self
            .chats
            .get(&chat)
            .is_some_and(|c| c.spec.kind == ChatKind::Channel);
        Some(tl::enums::Message::Message(tl::types::Message {
            out,
            mentioned: false,
            media_unread: false,
            silent: false,
            post,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id,
            from_id: if post {
                None
            } else {
                from.map(|u| tl::types::PeerUser { user_id: u }.into())
            },
            from_boosts_applied: None,
            from_rank: None,
            peer_id: self.peer_tl(chat)?,
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: None,
            date,
            message: text.to_owned(),
            media,
            reply_markup: None,
            entities,
            views: None,
            forwards: None,
            replies: None,
            edit_date: None,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        }))
    }
}
