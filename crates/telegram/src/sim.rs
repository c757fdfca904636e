//! The sandbox: a simulated Telegram behind the `Gateway` port.
//!
//! It accepts messages into any chat, with configurable latency and a fault plan per chat
//! and account, seeded for reproducibility. Like Telegram it drops a second message with a
//! random_id it has seen (answering as RANDOM_ID_DUPLICATE does), and it appends what it
//! accepted to a JSON-lines ledger that survives restarts, so a check outside the process
//! can count duplicates and gaps. Texts are formatted with `smb_domain::format_text`, like the
//! real gateway does, and refused as Telegram would (too long, empty, markup that cannot be sent).

use std::collections::HashSet;
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
use smb_engine::{ChatInfo, Clock, Gateway, SendRequest, SentMessage, SystemClock, TopicState};

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
        let mut seen = HashSet::new();
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
            for e in read_ledger(path).map_err(lerr)? {
                seen.insert(e.random_id);
            }
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
        Ok(SimGateway {
            latency: settings.latency,
            clock,
            state: Mutex::new(State {
                rules,
                rng: StdRng::seed_from_u64(settings.seed),
                seen,
                ledger,
                ledger_path: settings.ledger.clone(),
                accepted: Vec::new(),
                keep_in_memory: settings.keep_in_memory,
                accepted_count: 0,
                duplicates: 0,
                next_message_id: 1,
            }),
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
    /// Settings for tests: no ledger, no latency, accepted messages kept in memory.
    pub fn default_settings() -> SimSettings {
        SimSettings {
            keep_in_memory: true,
            ..SimSettings::default()
        }
    }
}

/// Reads a ledger file, skipping a torn last line.
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
        for rule in &mut st.rules {
            if !rule.reaches(req.account, req.target) {
                continue;
            }
            // Like Telegram, a chat that forbids media refuses only sends that carry some.
            if req.media.is_none() && SendError::from_telegram(&rule.spec.error).forbids_media() {
                continue;
            }
            rule.seen += 1;
            if rule.seen <= rule.spec.after || rule.spec.times.is_some_and(|t| rule.hits >= t) {
                continue;
            }
            let p = rule.spec.probability.unwrap_or(1.0);
            if p < 1.0 && st.rng.random::<f64>() >= p {
                continue;
            }
            rule.hits += 1;
            return Err(if rule.spec.error.eq_ignore_ascii_case("NETWORK") {
                SendError::Transient("sandbox: connection dropped".into())
            } else {
                SendError::from_telegram(&rule.spec.error)
            });
        }
        if !st.seen.insert(req.random_id) {
            st.duplicates += 1;
            return Ok(SentMessage { message_id: None });
        }
        let formatted = smb_domain::prepare(req.text, req.format, req.media.is_some())
            .map_err(|e| content_error(&e))?;
        let entry = LedgerEntry {
            chat,
            topic: req.target.topic,
            random_id: req.random_id,
            text: formatted.text,
            at: self.clock.now().to_string(),
            entities: formatted.entities,
        };
        // Deleted while the sandbox runs: start a new file at the same path (the duplicate
        // filter keeps the random_ids it has seen), rather than writing to the unlinked one.
        if let Some(path) = st.ledger_path.clone()
            && !path.exists()
        {
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => {
                    tracing::warn!(path = %path.display(), "the sandbox ledger was deleted; a new one is started");
                    st.ledger = Some(f);
                }
                Err(e) => {
                    st.seen.remove(&entry.random_id);
                    return Err(SendError::Transient(format!(
                        "sandbox ledger {} was deleted and cannot be created again: {e}",
                        path.display()
                    )));
                }
            }
        }
        if let Some(f) = &mut st.ledger {
            let mut line =
                serde_json::to_string(&entry).map_err(|e| SendError::Transient(e.to_string()))?;
            line.push('\n');
            // One write per line: a kill -9 leaves the line whole or absent (or torn at the
            // very end, which read_ledger skips).
            if let Err(e) = f.write_all(line.as_bytes()) {
                st.seen.remove(&entry.random_id);
                return Err(SendError::Transient(format!(
                    "sandbox ledger write failed: {e}"
                )));
            }
        }
        st.accepted_count += 1;
        if st.keep_in_memory {
            st.accepted.push((req.account.to_owned(), entry));
        }
        let id = st.next_message_id;
        st.next_message_id += 1;
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
        }
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
}
