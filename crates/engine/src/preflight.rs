//! The pre-flight check: for each (account, target) a broadcaster posts to, what Telegram says
//! about the chat ([`Gateway::inspect`]: member, may write, may send media, slow mode, forum
//! and topic, title, migration) and when we last posted there ([`Store::last_sent_at`]),
//! with a verdict. Nothing is posted and nothing is written.
//!
//! One function for every caller: `targets check`, the dashboard's check page and the
//! daemon's check at start and daily all call [`check_targets`], so they agree on what
//! "cannot post here" means.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{ErrorClass, TargetRef};

use crate::planner::BroadcasterSpec;
use crate::ports::{ChatInfo, Gateway, Store, StoreError, TopicState};

/// What the check concluded about one (account, target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Text and media would be accepted; nothing to say.
    Ok,
    /// Text would be accepted, with something to know: media refused, a forum target
    /// posting to General, a topic on a chat that is not a forum, an upgraded group.
    Warning,
    /// A text post would be refused (not a member, banned, read-only, topic closed, …).
    Blocked,
    /// Telegram could not be asked (flood wait, dead session, network): facts unknown.
    Unchecked,
}

impl Verdict {
    /// `ok`, `warning`, `blocked`, `unchecked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Blocked => "blocked",
            Verdict::Unchecked => "unchecked",
        }
    }

    /// Posting text is refused or unknown (`targets check` exits 1 on these).
    pub fn blocks(self) -> bool {
        matches!(self, Verdict::Blocked | Verdict::Unchecked)
    }
}

/// One row of the check. When `checked` is false the chat facts are defaults (unknown) and
/// `error` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// The account that would post.
    pub account: String,
    /// The target as configured.
    pub target: TargetRef,
    /// False when Telegram could not be asked (see `error`).
    pub checked: bool,
    /// The account is in the chat.
    pub member: bool,
    /// A text post would be accepted now.
    pub can_write: bool,
    /// Photos and documents would be accepted too.
    pub can_send_media: bool,
    /// Slow mode in seconds; `None`: off.
    pub slow_mode_seconds: Option<u32>,
    /// The chat is a forum.
    pub forum: bool,
    /// The state of the target's topic; `None` for a target without one.
    pub topic: Option<TopicState>,
    /// A forum target without a topic: posts go to the General topic.
    pub posts_to_general: bool,
    /// The chat's title, when the account can see it.
    pub title: Option<String>,
    /// A basic group upgraded to a supergroup: the new `-100…` id.
    pub migrated_to: Option<i64>,
    /// The Telegram error a send would get now.
    pub refusal: Option<String>,
    /// The refusal (or the upgrade) in words, with what to do.
    pub problem: Option<String>,
    /// Why Telegram could not be asked.
    pub error: Option<String>,
    /// Our last confirmed post into this target (any broadcaster, any account).
    pub last_posted_at: Option<Timestamp>,
}

/// How [`check_targets`] runs.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Pause between two Telegram look-ups (each is two or three calls; Telegram answers fast
    /// look-ups with FLOOD_WAIT). Zero for the sandbox.
    pub pause: Duration,
    /// Accounts known beforehand to be unusable (no session, refused at connect), with the
    /// reason: their pairs are `Unchecked` without asking.
    pub unavailable: BTreeMap<String, String>,
}

/// The forum-General note.
pub const GENERAL_NOTE: &str =
    "a forum: posts go to its General topic (name a topic as @name/TOPIC or t.me/name/TOPIC)";
/// The not-a-forum-topic note.
pub const NOT_A_FORUM_NOTE: &str =
    "not a forum: the topic number is sent as a reply to that message";

impl CheckRow {
    /// A row for `target` before anything is known.
    pub fn new(account: &str, target: &TargetRef) -> Self {
        CheckRow {
            account: account.to_owned(),
            target: target.clone(),
            checked: false,
            member: false,
            can_write: false,
            can_send_media: false,
            slow_mode_seconds: None,
            forum: false,
            topic: None,
            posts_to_general: false,
            title: None,
            migrated_to: None,
            refusal: None,
            problem: None,
            error: None,
            last_posted_at: None,
        }
    }

    /// Takes in what [`Gateway::inspect`] found.
    pub fn fill(&mut self, info: ChatInfo) {
        self.checked = true;
        self.member = info.member;
        self.can_write = info.can_write;
        self.can_send_media = info.can_send_media;
        self.slow_mode_seconds = info.slow_mode_seconds;
        self.forum = info.forum;
        self.topic = info.topic;
        self.posts_to_general = info.forum && self.target.topic.is_none();
        self.problem = match info.migrated_to {
            Some(to) => Some(format!(
                "this basic group was upgraded to a supergroup: posts follow it to {to}; replace {} with it in the configuration{}",
                self.target.key(),
                info.problem()
                    .map(|p| format!("; there: {p}"))
                    .unwrap_or_default()
            )),
            None => info.problem(),
        };
        self.title = info.title;
        self.migrated_to = info.migrated_to;
        self.refusal = info.refusal;
    }

    /// The verdict from the facts.
    pub fn verdict(&self) -> Verdict {
        if !self.checked {
            Verdict::Unchecked
        } else if !self.can_write {
            Verdict::Blocked
        } else if self.problem.is_some()
            || self.posts_to_general
            || self.topic == Some(TopicState::NotForum)
            || !self.can_send_media
        {
            Verdict::Warning
        } else {
            Verdict::Ok
        }
    }

    /// The reason for the verdict in words (`None` for `Ok`): why it was not checked, the
    /// problem, else the General or not-a-forum note, else "media refused".
    pub fn reason(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if let Some(p) = &self.problem {
            return Some(p.clone());
        }
        if !self.checked {
            return Some("not checked".to_owned());
        }
        if self.posts_to_general {
            return Some(GENERAL_NOTE.to_owned());
        }
        if self.topic == Some(TopicState::NotForum) {
            return Some(NOT_A_FORUM_NOTE.to_owned());
        }
        if !self.can_send_media {
            return Some("media (photos, documents) would be refused".to_owned());
        }
        None
    }
}

/// The (account, target) pairs of `broadcasters`, once each: by account (stable), then in
/// the order of the broadcasters' target lists. `account` keeps only that account's pairs.
pub fn pairs<'a>(
    broadcasters: impl IntoIterator<Item = &'a BroadcasterSpec>,
    account: Option<&str>,
) -> Vec<(String, TargetRef)> {
    pairs_of(
        broadcasters
            .into_iter()
            .map(|b| (b.account.as_str(), b.targets.as_slice())),
        account,
    )
}

/// [`pairs`] over (account, targets) lists, for callers that do not hold specs.
pub fn pairs_of<'a>(
    lists: impl IntoIterator<Item = (&'a str, &'a [TargetRef])>,
    account: Option<&str>,
) -> Vec<(String, TargetRef)> {
    let mut out: Vec<(String, TargetRef)> = Vec::new();
    for (acc, targets) in lists {
        if account.is_some_and(|a| a != acc) {
            continue;
        }
        for t in targets {
            if !out.iter().any(|(a, x)| a == acc && x == t) {
                out.push((acc.to_owned(), t.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Why an account could not be asked, in words with what to do.
fn not_asked(account: &str, e: &smb_domain::SendError) -> String {
    match (e.class(), e.retry_after()) {
        (ErrorClass::AccountPause, Some(d)) => format!(
            "Telegram asks account {account} to wait {} s; check again later",
            d.as_secs()
        ),
        (ErrorClass::AccountDead, _) => format!(
            "Telegram refuses the session of {account} ({}): run `sendmessagebot accounts login {account}`",
            e.code()
        ),
        _ => e.to_string(),
    }
}

/// Checks every pair: accounts at the same time (Telegram's limits are per account), each
/// account's pairs one after another in the given order with `options.pause` between two
/// look-ups. An account Telegram will not answer now (flood wait, dead session) is not asked
/// again in this run: its other pairs get the same reason. `progress` is called after each
/// row with (rows done, total, the row), rows of different accounts interleaved as they come;
/// the returned rows are in the order of `pairs`.
///
/// Errors: only the store's (reading "last posted"); Telegram's end up in the rows.
pub async fn check_targets(
    gateway: &dyn Gateway,
    store: &dyn Store,
    pairs: &[(String, TargetRef)],
    options: &CheckOptions,
    progress: impl FnMut(usize, usize, &CheckRow) + Send,
) -> Result<Vec<CheckRow>, StoreError> {
    // Each account's pairs, by their index in `pairs`.
    let mut by_account: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (account, _)) in pairs.iter().enumerate() {
        by_account.entry(account.as_str()).or_default().push(i);
    }
    let total = pairs.len();
    // Shared by the accounts' futures, which run in this one task; never held across an await.
    let done = std::sync::Mutex::new((0usize, progress));
    let slots: Vec<std::sync::Mutex<Option<CheckRow>>> =
        pairs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let per_account = by_account.into_values().map(|indices| {
        let done = &done;
        let slots = &slots;
        async move {
            let own: Vec<(String, TargetRef)> = indices.iter().map(|&i| pairs[i].clone()).collect();
            check_account(gateway, store, &own, options, |k, row| {
                let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                d.0 += 1;
                let n = d.0;
                (d.1)(n, total, &row);
                *slots[indices[k]].lock().unwrap_or_else(|p| p.into_inner()) = Some(row);
            })
            .await
        }
    });
    for r in futures_util::future::join_all(per_account).await {
        r?;
    }
    Ok(slots
        .into_iter()
        .filter_map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// One account's part of [`check_targets`]: `pairs` (all of one account, or of accounts that
/// may be asked one after another) in order, `options.pause` between two look-ups; `row` gets
/// each row with its index in `pairs` as soon as it is known. The daemon calls this per
/// account so that each account starts sending as soon as its own check is done.
///
/// Errors: only the store's.
pub async fn check_account(
    gateway: &dyn Gateway,
    store: &dyn Store,
    pairs: &[(String, TargetRef)],
    options: &CheckOptions,
    mut row_done: impl FnMut(usize, CheckRow) + Send,
) -> Result<(), StoreError> {
    let mut stopped: BTreeMap<String, String> = BTreeMap::new();
    let mut asked = false;
    for (i, (account, target)) in pairs.iter().enumerate() {
        let mut row = CheckRow::new(account, target);
        if let Some(why) = options
            .unavailable
            .get(account)
            .or_else(|| stopped.get(account))
        {
            row.error = Some(why.clone());
        } else {
            if asked && !options.pause.is_zero() {
                tokio::time::sleep(options.pause).await;
            }
            asked = true;
            match gateway.inspect(account, target).await {
                Ok(info) => row.fill(info),
                Err(e) => {
                    let why = not_asked(account, &e);
                    if matches!(
                        e.class(),
                        ErrorClass::AccountPause | ErrorClass::AccountDead
                    ) {
                        stopped.insert(account.clone(), why.clone());
                    }
                    row.error = Some(why);
                }
            }
        }
        row.last_posted_at = store.last_sent_at(&target.key()).await?;
        row_done(i, row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use smb_domain::SendError;

    use super::*;
    use crate::ports::{SendRequest, SentMessage};
    use crate::testing::MemoryStore;

    /// Answers `inspect` from a table; records what it was asked.
    struct Table {
        asked: Mutex<Vec<(String, String)>>,
    }

    #[async_trait]
    impl Gateway for Table {
        async fn send(&self, _: SendRequest<'_>) -> Result<SentMessage, SendError> {
            unreachable!("the check never sends")
        }
        async fn refresh_peer(&self, _: &str, _: &TargetRef) -> Result<(), SendError> {
            Ok(())
        }
        async fn inspect(&self, account: &str, target: &TargetRef) -> Result<ChatInfo, SendError> {
            self.asked
                .lock()
                .unwrap()
                .push((account.to_owned(), target.key()));
            let open = ChatInfo {
                title: Some("Chat".into()),
                member: true,
                can_write: true,
                can_send_media: true,
                ..ChatInfo::default()
            };
            match (account, target.key().as_str()) {
                ("flooded", _) => Err(SendError::from_telegram("FLOOD_WAIT_300")),
                (_, "@banned_chat") => Ok(ChatInfo::unreachable("USER_BANNED_IN_CHANNEL")),
                (_, "@forum_chat") => Ok(ChatInfo {
                    forum: true,
                    ..open
                }),
                (_, "@nomedia_chat") => Ok(ChatInfo {
                    can_send_media: false,
                    refusal: Some("CHAT_SEND_MEDIA_FORBIDDEN".into()),
                    ..open
                }),
                (_, "-4001") => Ok(ChatInfo {
                    migrated_to: Some(-1_001_000_000_200),
                    ..open
                }),
                _ => Ok(open),
            }
        }
    }

    fn t(s: &str) -> TargetRef {
        TargetRef::parse(s).unwrap()
    }

    #[tokio::test]
    async fn rows_carry_facts_verdicts_and_a_stopped_account_is_asked_once() {
        let gw = Table {
            asked: Mutex::default(),
        };
        let store = MemoryStore::default();
        let pairs = pairs_of(
            [
                ("zeta", &[t("@ok_chat"), t("@banned_chat")][..]),
                ("flooded", &[t("@ok_chat"), t("@forum_chat")][..]),
                (
                    "alpha",
                    &[
                        t("@forum_chat"),
                        t("@nomedia_chat"),
                        t("-4001"),
                        t("@ok_chat"),
                    ][..],
                ),
                ("zeta", &[t("@ok_chat")][..]),
            ],
            None,
        );
        let keys: Vec<(&str, String)> = pairs.iter().map(|(a, x)| (a.as_str(), x.key())).collect();
        assert_eq!(
            keys,
            [
                ("alpha", "@forum_chat".to_owned()),
                ("alpha", "@nomedia_chat".to_owned()),
                ("alpha", "-4001".to_owned()),
                ("alpha", "@ok_chat".to_owned()),
                ("flooded", "@ok_chat".to_owned()),
                ("flooded", "@forum_chat".to_owned()),
                ("zeta", "@ok_chat".to_owned()),
                ("zeta", "@banned_chat".to_owned()),
            ],
            "by account, list order, once each"
        );
        let options = CheckOptions {
            unavailable: BTreeMap::from([("zeta".to_owned(), "no session".to_owned())]),
            ..CheckOptions::default()
        };
        let mut seen = Vec::new();
        let rows = check_targets(&gw, &store, &pairs, &options, |done, total, r| {
            seen.push((done, total, r.target.key()));
        })
        .await
        .unwrap();
        assert_eq!(seen.len(), 8);
        assert_eq!(seen[7], (8, 8, "@banned_chat".to_owned()));
        let verdicts: Vec<Verdict> = rows.iter().map(CheckRow::verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Warning,
                Verdict::Warning,
                Verdict::Warning,
                Verdict::Ok,
                Verdict::Unchecked,
                Verdict::Unchecked,
                Verdict::Unchecked,
                Verdict::Unchecked,
            ]
        );
        assert_eq!(rows[0].reason().as_deref(), Some(GENERAL_NOTE));
        assert!(rows[0].posts_to_general);
        assert!(
            rows[1]
                .reason()
                .is_some_and(|r| r.starts_with("CHAT_SEND_MEDIA_FORBIDDEN")),
            "{:?}",
            rows[1].reason()
        );
        assert_eq!(rows[2].migrated_to, Some(-1_001_000_000_200));
        assert_eq!(
            rows[2].problem.as_deref(),
            Some(
                "this basic group was upgraded to a supergroup: posts follow it to -1001000000200; replace -4001 with it in the configuration"
            )
        );
        assert_eq!(rows[3].reason(), None);
        assert_eq!(
            rows[4].error.as_deref(),
            Some("Telegram asks account flooded to wait 300 s; check again later")
        );
        assert_eq!(rows[5].error, rows[4].error, "not asked again");
        assert_eq!(rows[6].error.as_deref(), Some("no session"));
        assert!(rows.iter().all(|r| r.last_posted_at.is_none()));
        // The flooded account was asked once; the unavailable one never.
        let asked = gw.asked.lock().unwrap().clone();
        assert_eq!(asked.iter().filter(|(a, _)| a == "flooded").count(), 1);
        assert!(asked.iter().all(|(a, _)| a != "zeta"));
    }

    /// Accounts are asked at the same time, each at its own pace: two accounts of three chats
    /// with 500 ms between look-ups take 1 s, not 2.5 s; progress counts 1..=6 of 6 and the
    /// rows keep the order of the pairs.
    #[tokio::test(start_paused = true)]
    async fn accounts_are_checked_concurrently_each_at_its_own_pace() {
        let gw = Table {
            asked: Mutex::default(),
        };
        let store = MemoryStore::default();
        let chats = [t("@a_chat"), t("@b_chat"), t("@c_chat")];
        let pairs = pairs_of([("one", &chats[..]), ("two", &chats[..])], None);
        let options = CheckOptions {
            pause: Duration::from_millis(500),
            ..CheckOptions::default()
        };
        let started = tokio::time::Instant::now();
        let mut seen = Vec::new();
        let rows = check_targets(&gw, &store, &pairs, &options, |done, total, r| {
            seen.push((done, total, r.account.clone(), started.elapsed()));
        })
        .await
        .unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        let counts: Vec<(usize, usize)> = seen.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(counts, (1..=6).map(|d| (d, 6)).collect::<Vec<_>>());
        // Interleaved: each account's first row at 0, its last at 1 s.
        let two_first = seen.iter().find(|s| s.2 == "two").unwrap().3;
        assert_eq!(two_first, Duration::ZERO);
        let order: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.account.clone(), r.target.key()))
            .collect();
        let expected: Vec<(String, String)> =
            pairs.iter().map(|(a, t)| (a.clone(), t.key())).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn a_refusing_chat_is_blocked_with_the_refusal_in_words() {
        let mut row = CheckRow::new("acc1", &t("@banned_chat"));
        row.fill(ChatInfo::unreachable("USER_BANNED_IN_CHANNEL"));
        assert_eq!(row.verdict(), Verdict::Blocked);
        assert!(row.verdict().blocks());
        assert!(
            row.reason()
                .is_some_and(|r| r.starts_with("USER_BANNED_IN_CHANNEL")),
            "{:?}",
            row.reason()
        );
    }
}
