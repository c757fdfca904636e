//! The sandbox: a simulated Telegram behind the `Gateway` port.
//!
//! It accepts messages into any chat, with configurable latency and a fault plan per chat
//! and account, seeded for reproducibility. Like Telegram it drops a second message with a
//! random_id it has seen (answering as RANDOM_ID_DUPLICATE does), and it appends what it
//! accepted to a JSON-lines ledger that survives restarts, so a check outside the process
//! can count duplicates and gaps. Texts are formatted with `smb_domain::format_text`, like the
//! real gateway does, and refused as Telegram would (too long, empty, markup that cannot be sent).
//!
//! The follow-ups of issue 15 are shown the same way: an album is one ledger line per item
//! (with its `grouped_id` and file name), and edits, deletes, pins and unpins are lines of
//! their own ([`LedgerAction`], with an `action` field; [`read_ledger`] skips them, so counting
//! sends is unchanged). The posts' state (live, edited, deleted, pinned) is kept in memory and
//! read back from the ledger at start, so [`FollowUps::alive`] answers across restarts. Like
//! Telegram: an edit after [`smb_engine::EDIT_WINDOW`] (by the sandbox clock) is
//! MESSAGE_EDIT_TIME_EXPIRED, an edit, pin or unpin of a post that is gone MESSAGE_ID_INVALID,
//! one that changes nothing `Unchanged`; a delete skips posts already gone. The fault plan
//! hits sends and albums only. A test acts as a chat's admin deleting our posts with
//! [`SimGateway::delete_as_admin`].

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use smb_domain::{ContentError, Entity, ErrorClass, SendError, TargetRef};
use smb_engine::{
    ALBUM_MAX_ITEMS, ALBUM_MIN_ITEMS, AlbumRequest, ChatInfo, Clock, EDIT_WINDOW, EditRequest,
    Edited, FollowUps, Gateway, PinChange, PostState, SendRequest, SentAlbum, SentMessage,
    SystemClock, TopicState,
};

/// One rule of the fault plan: which sends it hits and what Telegram answers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Only sends from this account (any when absent).
    #[serde(default)]
    pub account: Option<String>,
    /// Only sends to this chat, in any target form (any when absent).
    #[serde(default)]
    pub chat: Option<String>,
    /// What Telegram answers: an error such as `FLOOD_WAIT_300`, `SLOWMODE_WAIT_30`,
    /// `CHAT_WRITE_FORBIDDEN`, `AUTH_KEY_UNREGISTERED`, or `NETWORK` for a dropped connection.
    /// A media refusal (`CHAT_SEND_MEDIA_FORBIDDEN`, `…_PHOTOS_…`) hits only sends with media.
    pub error: String,
    /// Let this many matching sends through before the rule starts hitting.
    #[serde(default)]
    pub after: u32,
    /// Hit at most this many times (every time when absent).
    #[serde(default)]
    pub times: Option<u32>,
    /// Chance that a matching send is hit (1.0 when absent).
    #[serde(default)]
    pub probability: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct SimSettings {
    pub latency: Duration,
    pub seed: u64,
    pub ledger: Option<PathBuf>,
    pub faults: Vec<FaultRule>,
    /// Keep every accepted message in memory for [`SimGateway::accepted`] (tests). Off for
    /// the daemon, which has the ledger file instead.
    pub keep_in_memory: bool,
}

/// One accepted message, as written to the ledger: the text as Telegram would show it and the
/// entities that would have been sent (`smb_domain::format_text`, as the real gateway does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The chat's key (`-100…` or `@name`), without the topic.
    pub chat: String,
    /// The forum topic it was posted into (`t.me/name/TOPIC`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<i32>,
    pub random_id: i64,
    pub text: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    /// The message id the sandbox gave it (what edits, deletes and pins name). Absent in
    /// ledgers written before issue 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The album it belongs to (all items of one `send_album` share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouped_id: Option<i64>,
    /// An album item's file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// The A/B variant label this chat got (issue 17); absent for a plain message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A follow-up to earlier posts, as the ledger shows it (one JSON line): what Telegram would
/// have received for an edit, a delete, a pin or an unpin, or what a chat's admin did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerAction {
    /// `edit`, `delete`, `pin`, `unpin` or `admin_delete` (a test acting as the chat's admin).
    pub action: String,
    /// The chat's key (`-100…` or `@name`), without the topic.
    pub chat: String,
    pub message_ids: Vec<i64>,
    /// An edit's new text, as Telegram would show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    /// A pin without notification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    pub at: String,
}

/// One post the sandbox accepted, and what happened to it since.
#[derive(Debug, Clone)]
struct SimPost {
    chat: String,
    text: String,
    entities: Vec<Entity>,
    at: jiff::Timestamp,
    edited: bool,
    deleted: bool,
    pinned: bool,
    media: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("sandbox fault rule {index}: chat `{chat}`: {reason}")]
    BadChat {
        index: usize,
        chat: String,
        reason: String,
    },
    /// The reason is in the message and is not a `source` too: `{:#}` would print it twice.
    #[error("sandbox ledger {path}: {error}")]
    Ledger {
        path: PathBuf,
        error: std::io::Error,
    },
}

struct Rule {
    spec: FaultRule,
    chat: Option<TargetRef>,
    seen: u32,
    hits: u32,
}

impl Rule {
    /// The rule's account and chat match this send. A rule for a chat hits each of its topics
    /// too; a rule for a topic only that topic.
    fn reaches(&self, account: &str, target: &TargetRef) -> bool {
        self.spec.account.as_deref().is_none_or(|a| a == account)
            && self.chat.as_ref().is_none_or(|c| {
                c.chat == target.chat && c.topic.is_none_or(|t| Some(t) == target.topic)
            })
    }

    /// The rule hits every matching send from the first on (no `after`, `times` or chance):
    /// what a check can report as the chat's state.
    fn always(&self) -> bool {
        self.spec.after == 0
            && self.spec.times.is_none()
            && self.spec.probability.is_none_or(|p| p >= 1.0)
            && !self.spec.error.eq_ignore_ascii_case("NETWORK")
    }
}

struct State {
    rules: Vec<Rule>,
    rng: StdRng,
    /// random_ids already accepted (64-bit random: unique across chats in practice).
    seen: HashSet<i64>,
    ledger: Option<File>,
    /// Where the ledger is: a file deleted under a running sandbox is started again there.
    ledger_path: Option<PathBuf>,
    accepted: Vec<(String, LedgerEntry)>,
    keep_in_memory: bool,
    accepted_count: u64,
    duplicates: u64,
    next_message_id: i64,
    next_group_id: i64,
    /// Every post by message id (ids are unique across chats in the sandbox).
    posts: HashMap<i64, SimPost>,
    /// Follow-ups of this process, with the account (only with `keep_in_memory`).
    actions: Vec<(String, LedgerAction)>,
    /// Reach a test set per message id (issue 17, [`SimGateway::set_reach`]).
    reach: HashMap<i64, smb_engine::PostReach>,
}

impl State {
    /// Appends one line to the ledger (none without one). A ledger deleted while the sandbox
    /// runs is started again at the same path rather than written to the unlinked file.
    fn append(&mut self, line: &str) -> Result<(), SendError> {
        if let Some(path) = self.ledger_path.clone()
            && !path.exists()
        {
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => {
                    tracing::warn!(path = %path.display(), "the sandbox ledger was deleted; a new one is started");
                    self.ledger = Some(f);
                }
                Err(e) => {
                    return Err(SendError::Transient(format!(
                        "sandbox ledger {} was deleted and cannot be created again: {e}",
                        path.display()
                    )));
                }
            }
        }
        if let Some(f) = &mut self.ledger {
            let mut line = line.to_owned();
            line.push('\n');
            // One write per line: a kill -9 leaves the line whole or absent (or torn at the
            // very end, which read_ledger skips).
            f.write_all(line.as_bytes())
                .map_err(|e| SendError::Transient(format!("sandbox ledger write failed: {e}")))?;
        }
        Ok(())
    }

    /// Records a follow-up in the ledger and in memory.
    fn act(&mut self, account: &str, action: LedgerAction) -> Result<(), SendError> {
        let line =
            serde_json::to_string(&action).map_err(|e| SendError::Transient(e.to_string()))?;
        self.append(&line)?;
        if self.keep_in_memory {
            self.actions.push((account.to_owned(), action));
        }
        Ok(())
    }

    /// The fault plan's answer to a send (`media`: it carries some), if a rule hits it.
    fn fault(&mut self, account: &str, target: &TargetRef, media: bool) -> Option<SendError> {
        for rule in &mut self.rules {
            if !rule.reaches(account, target) {
                continue;
            }
            // Like Telegram, a chat that forbids media refuses only sends that carry some.
            if !media && SendError::from_telegram(&rule.spec.error).forbids_media() {
                continue;
            }
            rule.seen += 1;
            if rule.seen <= rule.spec.after || rule.spec.times.is_some_and(|t| rule.hits >= t) {
                continue;
            }
            let p = rule.spec.probability.unwrap_or(1.0);
            if p < 1.0 && self.rng.random::<f64>() >= p {
                continue;
            }
            rule.hits += 1;
            return Some(if rule.spec.error.eq_ignore_ascii_case("NETWORK") {
                SendError::Transient("sandbox: connection dropped".into())
            } else {
                SendError::from_telegram(&rule.spec.error)
            });
        }
        None
    }

    /// The live post `id` of `chat`: MESSAGE_ID_INVALID when it is gone or elsewhere.
    fn live_post(&mut self, chat: &str, id: i64) -> Result<&mut SimPost, SendError> {
        self.posts
            .get_mut(&id)
            .filter(|p| p.chat == chat && !p.deleted)
            .ok_or_else(|| SendError::rpc("MESSAGE_ID_INVALID", None))
    }

    /// Applies a ledger line read back at start.
    fn replay(&mut self, line: &str) {
        if let Ok(a) = serde_json::from_str::<LedgerAction>(line) {
            for id in &a.message_ids {
                let Some(p) = self.posts.get_mut(id) else {
                    continue;
                };
                match a.action.as_str() {
                    "edit" => {
                        if let Some(t) = &a.text {
                            p.text.clone_from(t);
                        }
                        p.entities.clone_from(&a.entities);
                        p.edited = true;
                    }
                    "delete" | "admin_delete" => {
                        p.deleted = true;
                        p.pinned = false;
                    }
                    "pin" => p.pinned = true,
                    "unpin" => p.pinned = false,
                    _ => {}
                }
            }
        } else if let Ok(e) = serde_json::from_str::<LedgerEntry>(line) {
            self.seen.insert(e.random_id);
            if let Some(id) = e.message_id {
                self.next_message_id = self.next_message_id.max(id + 1);
                self.next_group_id = self.next_group_id.max(e.grouped_id.unwrap_or(0) + 1);
                self.posts.insert(
                    id,
                    SimPost {
                        chat: e.chat,
                        text: e.text,
                        entities: e.entities,
                        at: e.at.parse().unwrap_or_default(),
                        edited: false,
                        deleted: false,
                        pinned: false,
                        media: e.media.is_some(),
                    },
                );
            }
        }
    }
}

pub struct SimGateway {
    latency: Duration,
    clock: Arc<dyn Clock>,
    // std's Mutex: held only for in-memory bookkeeping and one small append, never across
    // an await.
    state: Mutex<State>,
}

impl SimGateway {
    pub fn new(settings: SimSettings) -> Result<Self, SimError> {
        Self::with_clock(settings, Arc::new(SystemClock))
    }

    pub fn with_clock(settings: SimSettings, clock: Arc<dyn Clock>) -> Result<Self, SimError> {
        let mut rules = Vec::new();
        for (index, spec) in settings.faults.into_iter().enumerate() {
            let chat = match &spec.chat {
                Some(c) => Some(TargetRef::parse(c).map_err(|e| SimError::BadChat {
                    index: index + 1,
                    chat: c.clone(),
                    reason: e.to_string(),
                })?),
                None => None,
            };
            rules.push(Rule {
                spec,
                chat,
                seen: 0,
                hits: 0,
            });
        }
        let mut lines = Vec::new();
        let mut ledger = None;
        if let Some(path) = &settings.ledger {
            let lerr = |source| SimError::Ledger {
                path: path.clone(),
                error: source,
            };
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(lerr)?;
            }
            lines = read_lines(path).map_err(lerr)?;
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(path)
                .map_err(lerr)?;
            // A crash mid-write can leave a partial last line; start ours on a fresh line.
            let len = f.metadata().map_err(lerr)?.len();
            if len > 0 {
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(len - 1)).map_err(lerr)?;
                f.read_exact(&mut last).map_err(lerr)?;
                if last[0] != b'\n' {
                    f.write_all(b"\n").map_err(lerr)?;
                }
            }
            ledger = Some(f);
        }
        let mut state = State {
            rules,
            rng: StdRng::seed_from_u64(settings.seed),
            seen: HashSet::new(),
            ledger,
            ledger_path: settings.ledger.clone(),
            accepted: Vec::new(),
            keep_in_memory: settings.keep_in_memory,
            accepted_count: 0,
            duplicates: 0,
            next_message_id: 1,
            next_group_id: 1,
            posts: HashMap::new(),
            reach: HashMap::new(),
            actions: Vec::new(),
        };
        for line in &lines {
            state.replay(line);
        }
        Ok(SimGateway {
            latency: settings.latency,
            clock,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages accepted by this process, with the account that sent each (only with
    /// `keep_in_memory`).
    pub fn accepted(&self) -> Vec<(String, LedgerEntry)> {
        self.lock().accepted.clone()
    }

    /// How many messages this process accepted.
    pub fn accepted_count(&self) -> u64 {
        self.lock().accepted_count
    }

    /// Sends dropped because their random_id was already seen.
    pub fn duplicates(&self) -> u64 {
        self.lock().duplicates
    }

    /// Follow-ups (edits, deletes, pins, unpins, admins' deletes) of this process, with the
    /// account (only with `keep_in_memory`).
    pub fn actions(&self) -> Vec<(String, LedgerAction)> {
        self.lock().actions.clone()
    }

    /// A chat's admin deletes our posts `ids` in `chat` (its key: `-100…` or `@name`), as a
    /// test of survival wants; recorded as `admin_delete`. Answers how many were live there.
    pub fn delete_as_admin(&self, chat: &str, ids: &[i64]) -> Result<u32, SendError> {
        let at = self.clock.now().to_string();
        let mut st = self.lock();
        let mut deleted = Vec::new();
        for id in ids {
            if let Some(p) = st
                .posts
                .get_mut(id)
                .filter(|p| p.chat == chat && !p.deleted)
            {
                p.deleted = true;
                p.pinned = false;
                deleted.push(*id);
            }
        }
        let n = deleted.len() as u32;
        if n > 0 {
            st.act(
                "admin",
                LedgerAction {
                    action: "admin_delete".into(),
                    chat: chat.to_owned(),
                    message_ids: deleted,
                    text: None,
                    entities: Vec::new(),
                    silent: false,
                    at,
                },
            )?;
        }
        Ok(n)
    }

    /// Adds a fault rule at run time (tests).
    pub fn add_fault(&self, spec: FaultRule) {
        let chat = spec.chat.as_deref().and_then(|c| TargetRef::parse(c).ok());
        self.lock().rules.push(Rule {
            spec,
            chat,
            seen: 0,
            hits: 0,
        });
    }
}

impl SimGateway {
    async fn set_pinned(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
        pin: bool,
        silent: bool,
    ) -> Result<PinChange, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let chat = target.chat_only().key();
        let at = self.clock.now().to_string();
        let mut st = self.lock();
        let post = st.live_post(&chat, message_id)?;
        if post.pinned == pin {
            return Ok(PinChange::Unchanged);
        }
        post.pinned = pin;
        st.act(
            account,
            LedgerAction {
                action: if pin { "pin" } else { "unpin" }.into(),
                chat,
                message_ids: vec![message_id],
                text: None,
                entities: Vec::new(),
                silent: pin && silent,
                at,
            },
        )?;
        Ok(PinChange::Changed)
    }

    /// Settings for tests: no ledger, no latency, accepted messages kept in memory.
    pub fn default_settings() -> SimSettings {
        SimSettings {
            keep_in_memory: true,
            ..SimSettings::default()
        }
    }
}

/// Reads a ledger file's lines (none when it does not exist).
fn read_lines(path: &Path) -> std::io::Result<Vec<String>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    BufReader::new(f).lines().collect()
}

/// Reads the follow-ups of a ledger file (edits, deletes, pins), skipping a torn last line.
pub fn read_actions(path: &Path) -> std::io::Result<Vec<LedgerAction>> {
    Ok(read_lines(path)?
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Reads a ledger file's sends (album items included, follow-ups not), skipping a torn last
/// line.
pub fn read_ledger(path: &Path) -> std::io::Result<Vec<LedgerEntry>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        if let Ok(e) = serde_json::from_str::<LedgerEntry>(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

/// What Telegram answers a text it refuses.
fn content_error(e: &ContentError) -> SendError {
    let code = match e {
        ContentError::TooLong { caption: true, .. } => "MEDIA_CAPTION_TOO_LONG",
        ContentError::TooLong { .. } => "MESSAGE_TOO_LONG",
        ContentError::Empty => "MESSAGE_EMPTY",
        ContentError::Format(_) => smb_domain::FORMAT_INVALID,
    };
    tracing::warn!(code, error = %e, "sandbox: the text cannot be sent");
    SendError::rpc(code, None)
}

#[async_trait]
impl Gateway for SimGateway {
    async fn send(&self, req: SendRequest<'_>) -> Result<SentMessage, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let chat = req.target.chat_only().key();
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(e) = st.fault(req.account, req.target, req.media.is_some()) {
            return Err(e);
        }
        if !st.seen.insert(req.random_id) {
            st.duplicates += 1;
            return Ok(SentMessage { message_id: None });
        }
        let formatted = smb_domain::prepare(req.text, req.format, req.media.is_some())
            .map_err(|e| content_error(&e))?;
        let id = st.next_message_id;
        let entry = LedgerEntry {
            chat,
            topic: req.target.topic,
            random_id: req.random_id,
            text: formatted.text,
            at: self.clock.now().to_string(),
            entities: formatted.entities,
            message_id: Some(id),
            grouped_id: None,
            media: None,
            variant: req.variant.map(str::to_owned),
        };
        let line =
            serde_json::to_string(&entry).map_err(|e| SendError::Transient(e.to_string()))?;
        if let Err(e) = st.append(&line) {
            st.seen.remove(&entry.random_id);
            return Err(e);
        }
        st.next_message_id += 1;
        st.posts.insert(
            id,
            SimPost {
                chat: entry.chat.clone(),
                text: entry.text.clone(),
                entities: entry.entities.clone(),
                at: self.clock.now(),
                edited: false,
                deleted: false,
                pinned: false,
                media: req.media.is_some(),
            },
        );
        st.accepted_count += 1;
        if st.keep_in_memory {
            st.accepted.push((req.account.to_owned(), entry));
        }
        Ok(SentMessage {
            message_id: Some(id),
        })
    }

    async fn refresh_peer(&self, _account: &str, _target: &TargetRef) -> Result<(), SendError> {
        Ok(())
    }

    /// The sandbox's chats are open to every account, unless the fault plan refuses a chat on
    /// every send: then the check reports that refusal (a media refusal forbids media only,
    /// `SLOWMODE_WAIT_X` is a slow mode of X s, a `TOPIC_*` error closes the topic). A target
    /// with a topic is taken as a forum's; the sandbox knows no titles.
    async fn inspect(&self, account: &str, target: &TargetRef) -> Result<ChatInfo, SendError> {
        let st = self.lock();
        let mut info = ChatInfo {
            member: true,
            can_write: true,
            can_send_media: true,
            forum: target.topic.is_some(),
            topic: target.topic.map(|_| TopicState::Open),
            ..ChatInfo::default()
        };
        for rule in st
            .rules
            .iter()
            .filter(|r| r.always() && r.reaches(account, target))
        {
            let e = SendError::from_telegram(&rule.spec.error);
            match e.class() {
                ErrorClass::ChatPause => {
                    info.slow_mode_seconds = e.retry_after().map(|d| d.as_secs() as u32);
                }
                ErrorClass::TargetDead | ErrorClass::StalePeer if e.forbids_media() => {
                    info.can_send_media = false;
                    info.refusal.get_or_insert_with(|| rule.spec.error.clone());
                }
                ErrorClass::TargetDead | ErrorClass::StalePeer => {
                    info.can_write = false;
                    info.can_send_media = false;
                    let code = e.code();
                    if matches!(
                        code,
                        "USER_NOT_PARTICIPANT"
                            | "CHANNEL_PRIVATE"
                            | "CHAT_ID_INVALID"
                            | "PEER_ID_INVALID"
                            | "CHANNEL_INVALID"
                    ) {
                        info.member = false;
                    }
                    if code.starts_with("TOPIC_") && target.topic.is_some() {
                        info.topic = Some(if code == "TOPIC_CLOSED" {
                            TopicState::Closed
                        } else {
                            TopicState::Missing
                        });
                    }
                    // A refusal of text outranks a media refusal found before it.
                    if info
                        .refusal
                        .as_deref()
                        .is_none_or(|r| SendError::from_telegram(r).forbids_media())
                    {
                        info.refusal = Some(rule.spec.error.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

/// The follow-ups, kept in the ledger as `action` lines.
#[async_trait]
impl FollowUps for SimGateway {
    async fn edit(&self, req: EditRequest<'_>) -> Result<Edited, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let chat = req.target.chat_only().key();
        let now = self.clock.now();
        let formatted = smb_domain::prepare(req.text, req.format, req.caption)
            .map_err(|e| content_error(&e))?;
        let mut st = self.lock();
        let post = st.live_post(&chat, req.message_id)?;
        if post.media && !req.caption {
            // Telegram holds a post with media to the caption limit, whatever we said.
            smb_domain::check_length(&formatted, true).map_err(|e| content_error(&e))?;
        }
        let window = jiff::SignedDuration::try_from(EDIT_WINDOW).unwrap_or_default();
        if now.duration_since(post.at) >= window {
            return Err(SendError::rpc("MESSAGE_EDIT_TIME_EXPIRED", None));
        }
        if post.text == formatted.text && post.entities == formatted.entities {
            return Ok(Edited::Unchanged);
        }
        post.text.clone_from(&formatted.text);
        post.entities.clone_from(&formatted.entities);
        post.edited = true;
        st.act(
            req.account,
            LedgerAction {
                action: "edit".into(),
                chat,
                message_ids: vec![req.message_id],
                text: Some(formatted.text),
                entities: formatted.entities,
                silent: false,
                at: now.to_string(),
            },
        )?;
        Ok(Edited::Changed)
    }

    async fn delete(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<u32, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let chat = target.chat_only().key();
        let at = self.clock.now().to_string();
        let mut st = self.lock();
        let mut deleted = Vec::new();
        for id in message_ids {
            if let Ok(p) = st.live_post(&chat, *id) {
                p.deleted = true;
                p.pinned = false;
                deleted.push(*id);
            }
        }
        let n = deleted.len() as u32;
        if n > 0 {
            st.act(
                account,
                LedgerAction {
                    action: "delete".into(),
                    chat,
                    message_ids: deleted,
                    text: None,
                    entities: Vec::new(),
                    silent: false,
                    at,
                },
            )?;
        }
        Ok(n)
    }

    async fn pin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
        silent: bool,
    ) -> Result<PinChange, SendError> {
        self.set_pinned(account, target, message_id, true, silent)
            .await
    }

    async fn unpin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
    ) -> Result<PinChange, SendError> {
        self.set_pinned(account, target, message_id, false, false)
            .await
    }

    async fn send_album(&self, req: AlbumRequest<'_>) -> Result<SentAlbum, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if req.items.len() > ALBUM_MAX_ITEMS {
            return Err(SendError::rpc("MULTI_MEDIA_TOO_LONG", None));
        }
        let photos = req
            .items
            .iter()
            .filter(|i| smb_engine::is_photo(i.media))
            .count();
        if req.items.len() < ALBUM_MIN_ITEMS || (photos != 0 && photos != req.items.len()) {
            return Err(SendError::rpc("MEDIA_INVALID", None));
        }
        let chat = req.target.chat_only().key();
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(e) = st.fault(req.account, req.target, true) {
            return Err(e);
        }
        if req.items.iter().any(|i| st.seen.contains(&i.random_id)) {
            st.duplicates += 1;
            return Ok(SentAlbum {
                message_ids: None,
                grouped_id: None,
            });
        }
        // An album may go without a caption; one it has is held to the caption limit.
        let formatted = smb_domain::format_text(req.caption, req.format)
            .map_err(|e| content_error(&ContentError::Format(e)))?;
        if !formatted.text.trim().is_empty() {
            smb_domain::check_length(&formatted, true).map_err(|e| content_error(&e))?;
        }
        let group = st.next_group_id;
        st.next_group_id += 1;
        let now = self.clock.now();
        let mut ids = Vec::new();
        for (i, item) in req.items.iter().enumerate() {
            let id = st.next_message_id;
            let (text, entities) = if i == 0 {
                (formatted.text.clone(), formatted.entities.clone())
            } else {
                (String::new(), Vec::new())
            };
            let entry = LedgerEntry {
                chat: chat.clone(),
                topic: req.target.topic,
                random_id: item.random_id,
                text,
                at: now.to_string(),
                entities,
                message_id: Some(id),
                grouped_id: Some(group),
                media: Some(
                    item.media
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                ),
                variant: None,
            };
            let line =
                serde_json::to_string(&entry).map_err(|e| SendError::Transient(e.to_string()))?;
            // Items already written stay (as a torn album would on Telegram's side); their
            // random_ids make the re-send a duplicate.
            st.append(&line)?;
            st.seen.insert(item.random_id);
            st.next_message_id += 1;
            st.posts.insert(
                id,
                SimPost {
                    chat: chat.clone(),
                    text: entry.text.clone(),
                    entities: entry.entities.clone(),
                    at: now,
                    edited: false,
                    deleted: false,
                    pinned: false,
                    media: true,
                },
            );
            st.accepted_count += 1;
            if st.keep_in_memory {
                st.accepted.push((req.account.to_owned(), entry));
            }
            ids.push(id);
        }
        Ok(SentAlbum {
            message_ids: Some(ids),
            grouped_id: Some(group),
        })
    }

    async fn alive(
        &self,
        _account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<(i64, PostState)>, SendError> {
        let chat = target.chat_only().key();
        let st = self.lock();
        Ok(message_ids
            .iter()
            .map(|id| {
                let state = st
                    .posts
                    .get(id)
                    .filter(|p| p.chat == chat && !p.deleted)
                    .map_or(PostState::Gone, |p| PostState::Live {
                        edited: p.edited,
                        pinned: p.pinned,
                    });
                (*id, state)
            })
            .collect())
    }

    /// The sandbox keeps one account's view: our newest live post there reading `text`.
    async fn find_own_post(
        &self,
        _account: &str,
        target: &TargetRef,
        text: &str,
        format: smb_domain::TextFormat,
        after: Option<i64>,
    ) -> Result<Option<i64>, SendError> {
        let chat = target.chat_only().key();
        let want = smb_domain::prepare(text, format, false)
            .map_err(|e| content_error(&e))?
            .text;
        let st = self.lock();
        Ok(st
            .posts
            .iter()
            .filter(|(id, p)| {
                p.chat == chat && !p.deleted && p.text == want && after.is_none_or(|a| **id > a)
            })
            .map(|(id, _)| *id)
            .max())
    }
}

/// Reach in the sandbox (issue 17): what a test set with [`SimGateway::set_reach`], else
/// figures drawn from the message id that grow with the post's age up to 72 hours (views
/// 5–24 an hour, a forward, reaction and reply per 40, 25 and 60 views), so `stats
/// --variants` has something to show. A post that is gone answers `gone`.
#[async_trait]
impl smb_engine::Reach for SimGateway {
    async fn reach(
        &self,
        _account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<smb_engine::PostReach>, SendError> {
        let chat = target.chat_only().key();
        let now = self.clock.now();
        let st = self.lock();
        Ok(message_ids
            .iter()
            .map(|&id| {
                let gone = smb_engine::PostReach {
                    message_id: id,
                    gone: true,
                    ..Default::default()
                };
                let Some(p) = st.posts.get(&id).filter(|p| p.chat == chat && !p.deleted) else {
                    return gone;
                };
                if let Some(set) = st.reach.get(&id) {
                    return *set;
                }
                let hours = u64::try_from(now.duration_since(p.at).as_secs().max(0) / 3600)
                    .unwrap_or(0)
                    .min(72);
                let views = hours * (5 + smb_domain::mix64(id as u64) % 20);
                smb_engine::PostReach {
                    message_id: id,
                    views: Some(views),
                    forwards: Some(views / 40),
                    reactions: views / 25,
                    replies: views / 60,
                    gone: false,
                }
            })
            .collect())
    }
}

impl SimGateway {
    /// Sets what [`smb_engine::Reach::reach`] answers for post `id` from now on (tests).
    pub fn set_reach(&self, figures: smb_engine::PostReach) {
        self.lock().reach.insert(figures.message_id, figures);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_engine::TextFormat;

    fn req<'a>(account: &'a str, target: &'a TargetRef, random_id: i64) -> SendRequest<'a> {
        SendRequest {
            account,
            target,
            text: "hello",
            format: TextFormat::Plain,
            media: None,
            link_preview: false,
            random_id,
            variant: None,
        }
    }

    #[tokio::test]
    async fn the_ledger_shows_which_variant_went_where_and_reach_answers_per_post() {
        use smb_engine::Reach;
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.jsonl");
        let sim = SimGateway::new(SimSettings {
            ledger: Some(ledger.clone()),
            ..SimGateway::default_settings()
        })
        .unwrap();
        let one = TargetRef::parse("@market_one").unwrap();
        let two = TargetRef::parse("@market_two").unwrap();
        let a = SendRequest {
            variant: Some("A"),
            ..req("acc1", &one, 1)
        };
        let b = SendRequest {
            variant: Some("B"),
            ..req("acc1", &two, 2)
        };
        let id_a = sim.send(a).await.unwrap().message_id.unwrap();
        sim.send(b).await.unwrap();
        sim.send(req("acc1", &one, 3)).await.unwrap();
        let lines: Vec<LedgerEntry> = std::fs::read_to_string(&ledger)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let seen: Vec<(&str, Option<&str>)> = lines
            .iter()
            .map(|e| (e.chat.as_str(), e.variant.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("@market_one", Some("A")),
                ("@market_two", Some("B")),
                ("@market_one", None)
            ]
        );
        let set = smb_engine::PostReach {
            message_id: id_a,
            views: Some(77),
            forwards: Some(1),
            reactions: 5,
            replies: 2,
            gone: false,
        };
        sim.set_reach(set);
        let got = sim.reach("acc1", &one, &[id_a, 999]).await.unwrap();
        assert_eq!(got[0], set);
        assert!(got[1].gone);
        // Asked in the wrong chat, a post is not there.
        assert!(sim.reach("acc1", &two, &[id_a]).await.unwrap()[0].gone);
    }

    #[tokio::test]
    async fn duplicate_random_id_is_dropped_even_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.jsonl");
        let t = TargetRef::parse("@market_one").unwrap();
        let settings = SimSettings {
            ledger: Some(ledger.clone()),
            ..SimGateway::default_settings()
        };
        let sim = SimGateway::new(settings.clone()).unwrap();
        assert_eq!(
            sim.send(req("acc1", &t, 42)).await.unwrap().message_id,
            Some(1)
        );
        assert_eq!(
            sim.send(req("acc1", &t, 42)).await.unwrap().message_id,
            None
        );
        drop(sim);
        // A torn line from a crash must not break the next start.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&ledger)
            .unwrap()
            .write_all(b"{\"chat\":")
            .unwrap();
        let sim = SimGateway::new(settings).unwrap();
        assert_eq!(
            sim.send(req("acc1", &t, 42)).await.unwrap().message_id,
            None
        );
        assert!(
            sim.send(req("acc1", &t, 43))
                .await
                .unwrap()
                .message_id
                .is_some()
        );
        let entries = read_ledger(&ledger).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.random_id).collect::<Vec<_>>(),
            [42, 43]
        );
    }

    /// QA finding 16: a ledger deleted while the sandbox runs is started again.
    #[tokio::test]
    async fn f16_a_deleted_ledger_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.jsonl");
        let t = TargetRef::parse("@market_one").unwrap();
        let sim = SimGateway::new(SimSettings {
            ledger: Some(ledger.clone()),
            ..SimGateway::default_settings()
        })
        .unwrap();
        sim.send(req("acc1", &t, 1)).await.unwrap();
        std::fs::remove_file(&ledger).unwrap();
        sim.send(req("acc1", &t, 2)).await.unwrap();
        let entries = read_ledger(&ledger).unwrap();
        assert_eq!(entries.iter().map(|e| e.random_id).collect::<Vec<_>>(), [2]);
        // The duplicate filter still knows the first one.
        assert_eq!(sim.send(req("acc1", &t, 1)).await.unwrap().message_id, None);
    }

    #[tokio::test]
    async fn the_ledger_holds_the_formatted_text_and_its_entities() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.jsonl");
        let t = TargetRef::parse("@market_one").unwrap();
        let sim = SimGateway::new(SimSettings {
            ledger: Some(ledger.clone()),
            ..SimGateway::default_settings()
        })
        .unwrap();
        let mut r = req("acc1", &t, 7);
        r.text = "**Прайс**\niPhone 16 — 71 000 ₽";
        r.format = TextFormat::Markdown;
        sim.send(r).await.unwrap();
        let line = std::fs::read_to_string(&ledger).unwrap();
        assert!(
            line.contains(r#""text":"Прайс\niPhone 16 — 71 000 ₽""#)
                && line.contains(r#""entities":[{"type":"bold","offset":0,"length":5}]"#),
            "{line}"
        );
        let mut r = req("acc1", &t, 8);
        r.text = "[менеджеру](tg://user?id=@price_manager)";
        r.format = TextFormat::Markdown;
        let err = sim.send(r).await.unwrap_err();
        assert_eq!(err.class(), smb_domain::ErrorClass::BadContent);
        assert_eq!(err.code(), smb_domain::FORMAT_INVALID);
        let long = "я".repeat(1025);
        let mut r = req("acc1", &t, 9);
        r.text = &long;
        r.media = Some(Path::new("price.png"));
        assert_eq!(
            sim.send(r).await.unwrap_err().code(),
            "MEDIA_CAPTION_TOO_LONG"
        );
        assert_eq!(read_ledger(&ledger).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn fault_plan_hits_the_chosen_chat_and_account_only() {
        let a = TargetRef::parse("@chat_aaaa").unwrap();
        let b = TargetRef::parse("@chat_bbbb").unwrap();
        let sim = SimGateway::new(SimSettings {
            faults: vec![FaultRule {
                account: Some("acc1".into()),
                chat: Some("t.me/chat_aaaa".into()),
                error: "SLOWMODE_WAIT_30".into(),
                after: 1,
                times: Some(1),
                probability: None,
            }],
            ..SimGateway::default_settings()
        })
        .unwrap();
        assert!(sim.send(req("acc1", &a, 1)).await.is_ok()); // `after: 1`
        let err = sim.send(req("acc1", &a, 2)).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert!(sim.send(req("acc1", &a, 3)).await.is_ok()); // `times: 1`
        assert!(sim.send(req("acc2", &a, 4)).await.is_ok());
        assert!(sim.send(req("acc1", &b, 5)).await.is_ok());
    }

    #[tokio::test]
    async fn topics_are_recorded_and_chat_rules_reach_them() {
        let shop = TargetRef::parse("@shop_chat").unwrap();
        let topic = TargetRef::parse("https://telegram.me/shop_chat/123/").unwrap();
        let other = TargetRef::parse("@shop_chat/7").unwrap();
        let rule = |chat: &str, error: &str| FaultRule {
            account: None,
            chat: Some(chat.into()),
            error: error.into(),
            after: 0,
            times: Some(1),
            probability: None,
        };
        let sim = SimGateway::new(SimSettings {
            faults: vec![
                rule("t.me/shop_chat/123", "TOPIC_CLOSED"),
                rule("@shop_chat", "SOMETHING_NEW"),
            ],
            ..SimGateway::default_settings()
        })
        .unwrap();
        // The topic rule hits only topic 123; the chat rule hits the chat's first send.
        assert_eq!(
            sim.send(req("acc1", &topic, 1)).await.unwrap_err().code(),
            "TOPIC_CLOSED"
        );
        assert_eq!(
            sim.send(req("acc1", &other, 2)).await.unwrap_err().code(),
            "SOMETHING_NEW"
        );
        sim.send(req("acc1", &topic, 3)).await.unwrap();
        sim.send(req("acc1", &shop, 4)).await.unwrap();
        let got: Vec<(String, Option<i32>)> = sim
            .accepted()
            .into_iter()
            .map(|(_, e)| (e.chat, e.topic))
            .collect();
        assert_eq!(
            got,
            [
                ("@shop_chat".to_string(), Some(123)),
                ("@shop_chat".to_string(), None)
            ]
        );
    }

    #[tokio::test]
    async fn a_media_refusal_hits_only_sends_with_media() {
        let t = TargetRef::parse("@shop_chat").unwrap();
        let sim = SimGateway::new(SimSettings {
            faults: vec![FaultRule {
                account: None,
                chat: None,
                error: "CHAT_SEND_MEDIA_FORBIDDEN".into(),
                after: 0,
                times: None,
                probability: None,
            }],
            ..SimGateway::default_settings()
        })
        .unwrap();
        let photo = std::path::Path::new("price.jpg");
        let with_media = SendRequest {
            media: Some(photo),
            ..req("acc1", &t, 1)
        };
        assert!(sim.send(with_media).await.unwrap_err().forbids_media());
        assert!(sim.send(req("acc1", &t, 2)).await.is_ok());
    }

    #[tokio::test]
    async fn inspect_reports_what_the_fault_plan_always_refuses() {
        let rule = |chat: &str, error: &str| FaultRule {
            account: Some("acc1".into()),
            chat: Some(chat.into()),
            error: error.into(),
            after: 0,
            times: None,
            probability: None,
        };
        let sim = SimGateway::new(SimSettings {
            faults: vec![
                rule("@closed_club", "CHANNEL_PRIVATE"),
                rule("@no_media", "CHAT_SEND_MEDIA_FORBIDDEN"),
                rule("@slow_chat", "SLOWMODE_WAIT_600"),
                rule("@forum_chat/9", "TOPIC_CLOSED"),
                FaultRule {
                    times: Some(1),
                    ..rule("@flaky_chat", "CHAT_WRITE_FORBIDDEN")
                },
            ],
            ..SimGateway::default_settings()
        })
        .unwrap();
        let look = |t: &str, account: &str| {
            let t = TargetRef::parse(t).unwrap();
            let account = account.to_owned();
            let sim = &sim;
            async move { sim.inspect(&account, &t).await.unwrap() }
        };
        let private = look("@closed_club", "acc1").await;
        assert!(!private.member && !private.can_write);
        assert_eq!(private.refusal.as_deref(), Some("CHANNEL_PRIVATE"));
        // Another account is not hit by acc1's rules.
        assert!(look("@closed_club", "acc2").await.can_write);
        let media = look("@no_media", "acc1").await;
        assert!(media.can_write && !media.can_send_media);
        assert_eq!(
            look("@slow_chat", "acc1").await.slow_mode_seconds,
            Some(600)
        );
        let closed = look("@forum_chat/9", "acc1").await;
        assert_eq!(closed.topic, Some(TopicState::Closed));
        assert!(closed.forum && !closed.can_write);
        let open = look("@forum_chat/7", "acc1").await;
        assert_eq!((open.topic, open.can_write), (Some(TopicState::Open), true));
        // A rule that hits once is a fault, not the chat's state.
        assert_eq!(look("@flaky_chat", "acc1").await.refusal, None);
    }

    mod follow_ups {
        use super::*;
        use smb_engine::AlbumItem;

        /// A clock a test moves by hand.
        struct Manual(Mutex<jiff::Timestamp>);

        impl Clock for Manual {
            fn now(&self) -> jiff::Timestamp {
                *self.0.lock().unwrap()
            }
        }

        async fn album(
            sim: &SimGateway,
            target: &TargetRef,
            items: &[AlbumItem<'_>],
            caption: &str,
        ) -> Result<SentAlbum, SendError> {
            sim.send_album(AlbumRequest {
                account: "acc1",
                target,
                caption,
                format: TextFormat::Plain,
                items,
            })
            .await
        }

        fn edit_req<'a>(target: &'a TargetRef, id: i64, text: &'a str) -> EditRequest<'a> {
            EditRequest {
                account: "acc1",
                target,
                message_id: id,
                text,
                format: TextFormat::Markdown,
                caption: false,
                link_preview: false,
            }
        }

        #[tokio::test]
        async fn edits_deletes_and_pins_are_shown_in_the_ledger_and_survive_a_restart() {
            let dir = tempfile::tempdir().unwrap();
            let ledger = dir.path().join("ledger.jsonl");
            let settings = SimSettings {
                ledger: Some(ledger.clone()),
                ..SimGateway::default_settings()
            };
            let t = TargetRef::parse("@market_one").unwrap();
            let sim = SimGateway::new(settings.clone()).unwrap();
            let old = sim
                .send(req("acc1", &t, 1))
                .await
                .unwrap()
                .message_id
                .unwrap();
            let new = sim
                .send(req("acc1", &t, 2))
                .await
                .unwrap()
                .message_id
                .unwrap();

            assert_eq!(
                sim.edit(edit_req(&t, new, "**new** price")).await.unwrap(),
                Edited::Changed
            );
            assert_eq!(
                sim.edit(edit_req(&t, new, "**new** price")).await.unwrap(),
                Edited::Unchanged
            );
            assert_eq!(
                sim.pin("acc1", &t, new, true).await.unwrap(),
                PinChange::Changed
            );
            assert_eq!(
                sim.pin("acc1", &t, new, true).await.unwrap(),
                PinChange::Unchanged
            );
            assert_eq!(sim.delete("acc1", &t, &[old]).await.unwrap(), 1);
            assert_eq!(sim.delete("acc1", &t, &[old]).await.unwrap(), 0);
            let e = sim.edit(edit_req(&t, old, "x")).await.unwrap_err();
            assert_eq!(e.code(), "MESSAGE_ID_INVALID");
            // Another chat's id is not this chat's post.
            let other = TargetRef::parse("@market_two").unwrap();
            assert_eq!(
                sim.alive("acc1", &other, &[new]).await.unwrap(),
                vec![(new, PostState::Gone)]
            );

            // What Telegram would have received, in the ledger: the two sends (with their
            // message ids), then one line per follow-up that changed something.
            let actions = read_actions(&ledger).unwrap();
            let shown: Vec<(&str, Vec<i64>)> = actions
                .iter()
                .map(|a| (a.action.as_str(), a.message_ids.clone()))
                .collect();
            assert_eq!(
                shown,
                vec![
                    ("edit", vec![new]),
                    ("pin", vec![new]),
                    ("delete", vec![old])
                ]
            );
            assert_eq!(actions[0].text.as_deref(), Some("new price"));
            assert_eq!(actions[0].entities.len(), 1);
            assert!(actions[1].silent);
            assert!(actions.iter().all(|a| a.chat == "@market_one"));
            let sends = read_ledger(&ledger).unwrap();
            assert_eq!(sends.len(), 2, "follow-ups are not counted as sends");
            assert_eq!(sends[1].message_id, Some(new));
            assert_eq!(sim.actions().len(), 3);

            // A restart reads the state back: what is gone stays gone, ids go on.
            drop(sim);
            let sim = SimGateway::new(settings).unwrap();
            assert_eq!(
                sim.alive("acc1", &t, &[old, new]).await.unwrap(),
                vec![
                    (old, PostState::Gone),
                    (
                        new,
                        PostState::Live {
                            edited: true,
                            pinned: true
                        }
                    )
                ]
            );
            assert_eq!(sim.send(req("acc1", &t, 2)).await.unwrap().message_id, None);
            let third = sim
                .send(req("acc1", &t, 3))
                .await
                .unwrap()
                .message_id
                .unwrap();
            assert!(third > new);
            assert_eq!(
                sim.unpin("acc1", &t, new).await.unwrap(),
                PinChange::Changed
            );
            // An admin of the chat removes our post.
            assert_eq!(sim.delete_as_admin("@market_one", &[new]).unwrap(), 1);
            assert_eq!(
                sim.alive("acc1", &t, &[new, third]).await.unwrap(),
                vec![
                    (new, PostState::Gone),
                    (
                        third,
                        PostState::Live {
                            edited: false,
                            pinned: false
                        }
                    )
                ]
            );
            let last = read_actions(&ledger).unwrap();
            assert_eq!(last.last().unwrap().action, "admin_delete");
        }

        #[tokio::test]
        async fn an_edit_after_48_hours_is_refused_like_telegram() {
            let start: jiff::Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
            let clock = Arc::new(Manual(Mutex::new(start)));
            let sim =
                SimGateway::with_clock(SimGateway::default_settings(), clock.clone()).unwrap();
            let advance = |by: Duration| {
                let mut now = clock.0.lock().unwrap();
                *now += jiff::SignedDuration::try_from(by).unwrap();
            };
            let t = TargetRef::parse("@market_one").unwrap();
            let id = sim
                .send(req("acc1", &t, 1))
                .await
                .unwrap()
                .message_id
                .unwrap();
            advance(EDIT_WINDOW - Duration::from_secs(1));
            assert_eq!(
                sim.edit(edit_req(&t, id, "in time")).await.unwrap(),
                Edited::Changed
            );
            advance(Duration::from_secs(1));
            let e = sim.edit(edit_req(&t, id, "too late")).await.unwrap_err();
            assert_eq!(e.code(), "MESSAGE_EDIT_TIME_EXPIRED");
        }

        #[tokio::test]
        async fn an_album_is_one_grouped_post_per_item_and_a_resend_is_dropped() {
            let sim = SimGateway::new(SimGateway::default_settings()).unwrap();
            let t = TargetRef::parse("@market_one").unwrap();
            let paths: Vec<PathBuf> = ["a.jpg", "b.jpg", "c.jpg"]
                .iter()
                .map(PathBuf::from)
                .collect();
            let items: Vec<AlbumItem<'_>> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| AlbumItem {
                    media: p,
                    random_id: 10 + i as i64,
                })
                .collect();
            let sent = album(&sim, &t, &items, "Catalogue").await.unwrap();
            let ids = sent.message_ids.unwrap();
            assert_eq!(ids.len(), 3);
            let accepted = sim.accepted();
            assert_eq!(accepted.len(), 3);
            for (n, (_, e)) in accepted.iter().enumerate() {
                assert_eq!(e.grouped_id, sent.grouped_id);
                assert_eq!(e.message_id, Some(ids[n]));
                assert_eq!(e.random_id, 10 + n as i64);
                assert_eq!(e.media.as_deref(), Some(["a.jpg", "b.jpg", "c.jpg"][n]));
            }
            assert_eq!(accepted[0].1.text, "Catalogue");
            assert!(accepted[1].1.text.is_empty());

            let again = album(&sim, &t, &items, "Catalogue").await.unwrap();
            assert_eq!(again.message_ids, None);
            assert_eq!(sim.duplicates(), 1);
            assert_eq!(sim.accepted_count(), 3);

            let e = album(&sim, &t, &items[..1], "one").await.unwrap_err();
            assert_eq!(e.code(), "MEDIA_INVALID");
            let doc = PathBuf::from("list.pdf");
            let mixed = [
                items[0],
                AlbumItem {
                    media: &doc,
                    random_id: 99,
                },
            ];
            assert_eq!(
                album(&sim, &t, &mixed, "").await.unwrap_err().code(),
                "MEDIA_INVALID"
            );
            let many: Vec<AlbumItem<'_>> = (0..11)
                .map(|i| AlbumItem {
                    media: &paths[0],
                    random_id: 100 + i,
                })
                .collect();
            assert_eq!(
                album(&sim, &t, &many, "").await.unwrap_err().code(),
                "MULTI_MEDIA_TOO_LONG"
            );
            let long = "z".repeat(1025);
            let fresh: Vec<AlbumItem<'_>> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| AlbumItem {
                    media: p,
                    random_id: 200 + i as i64,
                })
                .collect();
            assert_eq!(
                album(&sim, &t, &fresh, &long).await.unwrap_err().code(),
                "MEDIA_CAPTION_TOO_LONG"
            );
            // Without a caption it goes.
            assert!(
                album(&sim, &t, &fresh, "")
                    .await
                    .unwrap()
                    .message_ids
                    .is_some()
            );
        }
    }
}
