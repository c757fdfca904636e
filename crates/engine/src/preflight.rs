//! The pre-flight check: for each (account, target) a broadcaster posts to, what Telegram says
//! about the chat ([`Gateway::inspect`]: member, may write, may send media, slow mode, forum
//! and topic, title, migration) and when we last posted there ([`Store::last_sent_by_account`]),
//! with a verdict. Nothing is posted and nothing is written.
//!
//! One function for every caller: `targets check`, the dashboard's check page and the
//! daemon's check at start and daily all call [`check_targets`], so they agree on what
//! "cannot post here" means.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{ErrorClass, Lang, TargetRef};

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

/// Why a row has the verdict it has, typed: the words are chosen where it is shown
/// ([`Reason::words`], English or Russian), never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Telegram asked `account` to wait `seconds` before more look-ups.
    #[allow(missing_docs)]
    FloodWait { account: String, seconds: u64 },
    /// Telegram refuses the session of `account` with `code`.
    #[allow(missing_docs)]
    SessionRefused { account: String, code: String },
    /// The account could not be used (no session, refused at connect): the caller's words.
    Unavailable(String),
    /// Asking failed otherwise (network): the error.
    AskFailed(String),
    /// A send would be refused with Telegram's error `code` (`USER_BANNED_IN_CHANNEL`, …).
    Refused(String),
    /// A basic group upgraded to a supergroup (`to`); `refused`: the new chat's refusal.
    Migrated {
        /// The target as configured (the old id).
        from: String,
        /// The supergroup's `-100…` id.
        to: i64,
        /// The Telegram error a send would get there.
        refused: Option<String>,
    },
    /// A forum target without a topic: posts go to General.
    General,
    /// A topic number on a chat that is not a forum.
    NotAForum,
    /// Media would be refused (text is fine).
    MediaRefused,
    /// Not asked, with nothing more known.
    NotChecked,
}

impl Reason {
    /// The reason in `lang`, with what to do.
    pub fn words(&self, lang: Lang) -> String {
        let refusal = |code: &str| {
            smb_domain::SendError::from_telegram(code)
                .refusal_words(lang)
                .unwrap_or_else(|| code.to_owned())
        };
        match (lang, self) {
            (Lang::En, Reason::FloodWait { account, seconds }) => {
                format!("Telegram asks account {account} to wait {seconds} s; check again later")
            }
            (Lang::Ru, Reason::FloodWait { account, seconds }) => format!(
                "Telegram просит аккаунт {account} подождать {seconds} с; проверьте позже"
            ),
            (Lang::En, Reason::SessionRefused { account, code }) => format!(
                "Telegram refuses the session of {account} ({code}): run `sendmessagebot accounts login {account}`"
            ),
            (Lang::Ru, Reason::SessionRefused { account, code }) => format!(
                "Telegram не принимает сессию {account} ({code}): выполните `sendmessagebot accounts login {account}`"
            ),
            (_, Reason::Unavailable(why) | Reason::AskFailed(why)) => why.clone(),
            (_, Reason::Refused(code)) => refusal(code),
            (Lang::En, Reason::Migrated { from, to, refused }) => format!(
                "this basic group was upgraded to a supergroup: posts follow it to {to}; replace {from} with it in the configuration{}",
                refused
                    .as_deref()
                    .map(|c| format!("; there: {}", refusal(c)))
                    .unwrap_or_default()
            ),
            (Lang::Ru, Reason::Migrated { from, to, refused }) => format!(
                "эта группа преобразована в супергруппу: посты идут в {to}; замените {from} на него в конфигурации{}",
                refused
                    .as_deref()
                    .map(|c| format!("; там: {}", refusal(c)))
                    .unwrap_or_default()
            ),
            (Lang::En, Reason::General) => GENERAL_NOTE.to_owned(),
            (Lang::Ru, Reason::General) => {
                "форум: посты идут в общую тему General (укажите тему как @name/ТЕМА или t.me/name/ТЕМА)".to_owned()
            }
            (Lang::En, Reason::NotAForum) => NOT_A_FORUM_NOTE.to_owned(),
            (Lang::Ru, Reason::NotAForum) => {
                "не форум: номер темы отправляется как ответ на это сообщение".to_owned()
            }
            (Lang::En, Reason::MediaRefused) => {
                "media (photos, documents) would be refused".to_owned()
            }
            (Lang::Ru, Reason::MediaRefused) => {
                "медиа (фото, документы) будут отклонены".to_owned()
            }
            (Lang::En, Reason::NotChecked) => "not checked".to_owned(),
            (Lang::Ru, Reason::NotChecked) => "не проверено".to_owned(),
        }
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
    /// Why Telegram could not be asked.
    pub error: Option<Reason>,
    /// This account's last confirmed post into this target (any broadcaster).
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
        self.title = info.title;
        self.migrated_to = info.migrated_to;
        self.refusal = info.refusal;
    }

    /// The refusal or the upgrade, typed (`None` when neither).
    pub fn problem(&self) -> Option<Reason> {
        match self.migrated_to {
            Some(to) => Some(Reason::Migrated {
                from: self.target.key(),
                to,
                refused: self.refusal.clone(),
            }),
            None => self.refusal.clone().map(Reason::Refused),
        }
    }

    /// The verdict from the facts.
    pub fn verdict(&self) -> Verdict {
        if !self.checked {
            Verdict::Unchecked
        } else if !self.can_write {
            Verdict::Blocked
        } else if self.problem().is_some()
            || self.posts_to_general
            || self.topic == Some(TopicState::NotForum)
            || !self.can_send_media
        {
            Verdict::Warning
        } else {
            Verdict::Ok
        }
    }

    /// The reason for the verdict, typed (`None` for `Ok`): why it was not checked, the
    /// problem, else the General or not-a-forum note, else "media refused".
    pub fn why(&self) -> Option<Reason> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if let Some(p) = self.problem() {
            return Some(p);
        }
        if !self.checked {
            return Some(Reason::NotChecked);
        }
        if self.posts_to_general {
            return Some(Reason::General);
        }
        if self.topic == Some(TopicState::NotForum) {
            return Some(Reason::NotAForum);
        }
        if !self.can_send_media {
            return Some(Reason::MediaRefused);
        }
        None
    }

    /// [`CheckRow::why`] in English (the daemon's disabled reason, the API).
    pub fn reason(&self) -> Option<String> {
        self.why().map(|w| w.words(Lang::En))
    }
}

/// One (account, target) of the check as the API (`GET /api/v1/targets/check`) and
/// `targets check --json` give it: every field always present, in this order. `reason` is in
/// English; `why` keeps it typed for pages that show it in another language.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckedTarget {
    /// The account that would post.
    pub account: String,
    /// The target's key (`@name`, `-100…`, `@name/TOPIC`).
    pub target: String,
    /// False when Telegram could not be asked (the reason says why); the facts are unknown.
    pub checked: bool,
    /// The account is in the chat.
    pub member: bool,
    /// A text post would be accepted now.
    pub can_write: bool,
    /// Photos and documents would be accepted too.
    pub can_send_media: bool,
    /// Seconds; null: slow mode off.
    pub slow_mode_seconds: Option<u32>,
    /// The chat is a forum.
    pub forum: bool,
    /// `open`, `closed`, `missing`, `not_a_forum`; null for a target without a topic.
    pub topic: Option<&'static str>,
    /// A forum target without a topic: posts go to the General topic.
    pub posts_to_general: bool,
    /// The chat's title, when the account can see it.
    pub title: Option<String>,
    /// A basic group upgraded to a supergroup: its new `-100…` id.
    pub migrated_to: Option<i64>,
    /// The Telegram error a send would get now.
    pub refusal: Option<String>,
    /// `ok`, `warning` (text accepted, something to know), `blocked` (text refused),
    /// `unchecked`.
    pub verdict: &'static str,
    /// The verdict's reason in words (English), with what to do; null for `ok`.
    pub reason: Option<String>,
    /// Our last confirmed post into this target (RFC 3339 to the second, UTC), from the
    /// journal.
    pub last_posted_at: Option<String>,
    /// The reason, typed (not serialised).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub why: Option<Reason>,
    /// The last post as a moment (not serialised; pages show it in their time zone).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub last_posted: Option<Timestamp>,
}

impl From<&CheckRow> for CheckedTarget {
    fn from(r: &CheckRow) -> Self {
        let why = r.why();
        CheckedTarget {
            account: r.account.clone(),
            target: r.target.key(),
            checked: r.checked,
            member: r.member,
            can_write: r.can_write,
            can_send_media: r.can_send_media,
            slow_mode_seconds: r.slow_mode_seconds,
            forum: r.forum,
            topic: r.topic.map(|t| t.as_str()),
            posts_to_general: r.posts_to_general,
            title: r.title.clone(),
            migrated_to: r.migrated_to,
            refusal: r.refusal.clone(),
            verdict: r.verdict().as_str(),
            reason: why.as_ref().map(|w| w.words(Lang::En)),
            last_posted_at: r.last_posted_at.map(smb_domain::rfc3339_seconds),
            why,
            last_posted: r.last_posted_at,
        }
    }
}

impl CheckedTarget {
    /// Posting text is refused or unknown (`blocked`, `unchecked`).
    pub fn blocks(&self) -> bool {
        matches!(self.verdict, "blocked" | "unchecked")
    }

    /// The reason in `lang` (`None` for `ok`).
    pub fn reason_in(&self, lang: Lang) -> Option<String> {
        self.why.as_ref().map(|w| w.words(lang))
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

/// The lists [`pairs_of`] takes for one broadcaster: its own account, then each of its
/// `backup_accounts` (a backup posts only where a check finds it a member, so every check
/// asks it too), each with the broadcaster's targets. The daemon, `targets check` and the
/// dashboard build their lists with it (qa5, qa8: callers that built them by hand forgot the
/// backups).
pub fn posting_lists<'a>(
    account: &'a str,
    backups: impl IntoIterator<Item = &'a str> + 'a,
    targets: &'a [TargetRef],
) -> impl Iterator<Item = (&'a str, &'a [TargetRef])> + 'a {
    std::iter::once(account)
        .chain(backups)
        .map(move |a| (a, targets))
}

/// [`pairs`] over (account, targets) lists, for callers that do not hold specs.
pub fn pairs_of<'a>(
    lists: impl IntoIterator<Item = (&'a str, &'a [TargetRef])>,
    account: Option<&str>,
) -> Vec<(String, TargetRef)> {
    let mut out: Vec<(String, TargetRef)> = Vec::new();
    // A set, not a scan of `out`: the daemon's start-up check plans 100 accounts × 100
    // targets, and a scan per pair was 10^8 comparisons.
    let mut seen: std::collections::HashSet<(&str, &TargetRef)> = std::collections::HashSet::new();
    for (acc, targets) in lists {
        if account.is_some_and(|a| a != acc) {
            continue;
        }
        for t in targets {
            if seen.insert((acc, t)) {
                out.push((acc.to_owned(), t.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Why an account could not be asked.
fn not_asked(account: &str, e: &smb_domain::SendError) -> Reason {
    match (e.class(), e.retry_after()) {
        (ErrorClass::AccountPause, Some(d)) => Reason::FloodWait {
            account: account.to_owned(),
            seconds: d.as_secs(),
        },
        (ErrorClass::AccountDead, _) => Reason::SessionRefused {
            account: account.to_owned(),
            code: e.code().to_owned(),
        },
        _ => Reason::AskFailed(e.to_string()),
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
    // "Last posted" read once per target (per account in it), not once per pair.
    let mut last_posted: HashMap<String, HashMap<String, Timestamp>> = HashMap::new();
    for (_, target) in pairs {
        if let std::collections::hash_map::Entry::Vacant(slot) = last_posted.entry(target.key()) {
            let at = store.last_sent_by_account(slot.key()).await?;
            slot.insert(at);
        }
    }
    let last_posted = &last_posted;
    // Shared by the accounts' futures, which run in this one task; never held across an await.
    let done = std::sync::Mutex::new((0usize, progress));
    let slots: Vec<std::sync::Mutex<Option<CheckRow>>> =
        pairs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let per_account = by_account.into_values().map(|indices| {
        let done = &done;
        let slots = &slots;
        async move {
            let own: Vec<(String, TargetRef)> = indices.iter().map(|&i| pairs[i].clone()).collect();
            check_account(gateway, &own, options, |k, mut row| {
                // This account's last post there, not any account's (QA F9).
                row.last_posted_at = last_posted
                    .get(&row.target.key())
                    .and_then(|by| by.get(&row.account))
                    .copied();
                let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                d.0 += 1;
                let n = d.0;
                (d.1)(n, total, &row);
                *slots[indices[k]].lock().unwrap_or_else(|p| p.into_inner()) = Some(row);
            })
            .await;
        }
    });
    futures_util::future::join_all(per_account).await;
    Ok(slots
        .into_iter()
        .filter_map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// One account's part of [`check_targets`]: `pairs` (all of one account, or of accounts that
/// may be asked one after another) in order, `options.pause` between two look-ups; `row` gets
/// each row with its index in `pairs` as soon as it is known. The daemon calls this per
/// account so that each account starts sending as soon as its own check is done. Rows carry
/// no `last_posted_at` (the daemon does not use it; [`check_targets`] reads it once per
/// target). Telegram's errors end up in the rows.
pub async fn check_account(
    gateway: &dyn Gateway,
    pairs: &[(String, TargetRef)],
    options: &CheckOptions,
    mut row_done: impl FnMut(usize, CheckRow) + Send,
) {
    let mut stopped: BTreeMap<String, Reason> = options
        .unavailable
        .iter()
        .map(|(a, why)| (a.clone(), Reason::Unavailable(why.clone())))
        .collect();
    let mut asked = false;
    for (i, (account, target)) in pairs.iter().enumerate() {
        let mut row = CheckRow::new(account, target);
        if let Some(why) = stopped.get(account) {
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
        row_done(i, row);
    }
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
            rows[2].reason().as_deref(),
            Some(
                "this basic group was upgraded to a supergroup: posts follow it to -1001000000200; replace -4001 with it in the configuration"
            )
        );
        assert_eq!(rows[3].reason(), None);
        assert_eq!(
            rows[4].reason().as_deref(),
            Some("Telegram asks account flooded to wait 300 s; check again later")
        );
        assert_eq!(rows[5].error, rows[4].error, "not asked again");
        assert_eq!(rows[6].reason().as_deref(), Some("no session"));
        assert!(rows.iter().all(|r| r.last_posted_at.is_none()));
        // The flooded account was asked once; the unavailable one never.
        let asked = gw.asked.lock().unwrap().clone();
        assert_eq!(asked.iter().filter(|(a, _)| a == "flooded").count(), 1);
        assert!(asked.iter().all(|(a, _)| a != "zeta"));
    }

    /// QA finding (issue 14): the Russian dashboard showed the check's reasons in English.
    #[test]
    fn reasons_are_typed_and_said_in_russian_and_english() {
        let mut banned = CheckRow::new("acc1", &t("@banned_chat"));
        banned.fill(ChatInfo::unreachable("USER_BANNED_IN_CHANNEL"));
        let row = CheckedTarget::from(&banned);
        assert_eq!(
            row.why,
            Some(Reason::Refused("USER_BANNED_IN_CHANNEL".into()))
        );
        assert_eq!(row.verdict, "blocked");
        assert!(row.blocks());
        assert_eq!(
            row.reason_in(Lang::Ru).as_deref(),
            Some(
                "USER_BANNED_IN_CHANNEL: аккаунту нельзя писать здесь (ограничен, забанен, не участник или нет прав)"
            )
        );
        assert_eq!(
            row.reason,
            banned.reason(),
            "the API's reason is the English one"
        );
        let flood = Reason::FloodWait {
            account: "acc2".into(),
            seconds: 300,
        };
        assert_eq!(
            flood.words(Lang::Ru),
            "Telegram просит аккаунт acc2 подождать 300 с; проверьте позже"
        );
        assert_eq!(
            flood.words(Lang::En),
            "Telegram asks account acc2 to wait 300 s; check again later"
        );
        let mut forum = CheckRow::new("acc1", &t("@forum_chat"));
        forum.fill(ChatInfo {
            member: true,
            can_write: true,
            can_send_media: true,
            forum: true,
            ..ChatInfo::default()
        });
        forum.last_posted_at = Some("2026-11-30T09:15:00.123456789Z".parse().unwrap());
        let row = CheckedTarget::from(&forum);
        assert_eq!(row.why, Some(Reason::General));
        assert!(
            row.reason_in(Lang::Ru)
                .unwrap()
                .starts_with("форум: посты идут в общую тему")
        );
        assert_eq!(row.reason.as_deref(), Some(GENERAL_NOTE));
        // JSON: RFC 3339 to the second; the typed fields are not serialised.
        assert_eq!(row.last_posted_at.as_deref(), Some("2026-11-30T09:15:00Z"));
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 16);
        assert!(json.get("why").is_none() && json.get("last_posted").is_none());
        let migrated = Reason::Migrated {
            from: "-4001".into(),
            to: -1_001_000_000_200,
            refused: None,
        };
        assert_eq!(
            migrated.words(Lang::Ru),
            "эта группа преобразована в супергруппу: посты идут в -1001000000200; замените -4001 на него в конфигурации"
        );
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
