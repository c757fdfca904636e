//! The planner's private state: per-account and per-broadcaster slots, the active cycle, and
//! the small time helpers every transition uses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use smb_domain::{
    AccountStop, ChatRules, Jitter, MessageSet, Pacing, Rotation, Schedule, SendError,
};

use smb_domain::TargetRef;

use super::vocabulary::{AccountId, BroadcasterId, Content, Effect};

/// A broadcaster's run state: the domain's, where the operator's stop
/// ([`RunState::StoppedByOperator`]) and its account's ([`RunState::AccountStopped`]) differ.
pub(super) use smb_domain::RunState;

#[derive(Debug, Clone)]
pub(super) struct Retry {
    pub(super) index: usize,
    pub(super) not_before: Timestamp,
    pub(super) attempt: u32,
    pub(super) random_id: i64,
    pub(super) stale_retried: bool,
    /// The account that attempted it: a delivery tried once is only ever retried by that
    /// account (its `random_id` de-duplicates only there). `None`: never attempted (held by a
    /// chat's slow mode before sending), any account serving the broadcaster may take it.
    pub(super) account: Option<AccountId>,
    /// Restored `pending`: it may already be in the chat, so it is re-sent as it is (same
    /// account, same `random_id`), never held back by a chat's rules.
    pub(super) unknown: bool,
    /// `not_before` is the wait Telegram told the account that was refused (a flood wait),
    /// not a wait of the delivery or its chat: a backup taking it (untied: nothing was
    /// posted) need not wait for it (qa5 F1: the refused delivery waited the whole hour).
    /// The account whose flood wait that is: it binds that account still; only another
    /// account may take the delivery at once.
    pub(super) account_wait: Option<AccountId>,
}

#[derive(Debug, Clone)]
pub(super) struct ActiveCycle {
    pub(super) cycle: u64,
    pub(super) message: Arc<str>,
    /// The cycle's A/B slot: (label, text) of each active variant, empty for a plain message.
    /// Which chat gets which is [`smb_domain::assign_variant`] of the target's key.
    pub(super) variants: Arc<[(Arc<str>, Arc<str>)]>,
    /// Which use of its slot this cycle is ([`smb_domain::MessageSet::slot_round`]): what
    /// turns the chats' variants from one use to the next.
    pub(super) slot_round: u64,
    pub(super) cursor: usize,
    /// Targets already dealt with before the cursor could reach them (a resumed cycle).
    pub(super) handled: HashSet<usize>,
    pub(super) retries: Vec<Retry>,
    pub(super) in_flight: Option<usize>,
    /// The in-flight delivery was already re-resolved once after PEER_ID_INVALID.
    pub(super) in_flight_stale_retried: bool,
    pub(super) sent: u64,
    pub(super) failed: u64,
    /// How many targets a chat rule skipped in this cycle, and the earliest moment one of
    /// them reopens: a cycle that every rule skipped starts its successor no earlier than
    /// that (qa5 F5: an empty cycle every `cycle_delay` until a window opened the next day).
    pub(super) rule_skipped: usize,
    pub(super) reopens_at: Option<Timestamp>,
}

impl ActiveCycle {
    /// The text and A/B label target `index` gets in this cycle: the cycle's message, or the
    /// variant [`smb_domain::assign_variant`] gives the target's key (the same after a restart,
    /// so a retry re-sends what the chat was given).
    pub(super) fn text_for(
        &self,
        targets: &[TargetRef],
        index: usize,
        seed: u64,
    ) -> (Arc<str>, Option<Arc<str>>) {
        if self.variants.len() < 2 {
            return (self.message.clone(), None);
        }
        let keys: Vec<String> = targets.iter().map(TargetRef::key).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let v =
            smb_domain::assign_variant(&refs, index, self.slot_round, seed, self.variants.len());
        match self.variants.get(v) {
            Some((label, text)) => (text.clone(), Some(label.clone())),
            None => (self.message.clone(), None),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum CycleState {
    Idle {
        next_cycle: u64,
        starts_at: Timestamp,
    },
    Active(ActiveCycle),
}

#[derive(Debug, Clone)]
pub(super) struct AccountSlot {
    pub(super) name: Arc<str>,
    pub(super) gap: Duration,
    pub(super) jitter: Jitter,
    pub(super) next_send_at: Timestamp,
    /// The gap (jitter included) chosen at the last send, re-applied from the moment that
    /// send actually reached the gateway (see [`Planner::send_started`]).
    pub(super) last_gap: Duration,
    pub(super) paused_until: Option<Timestamp>,
    pub(super) stopped: Option<AccountStop>,
    pub(super) broadcasters: Vec<BroadcasterId>,
    /// Broadcasters this account is a backup of (their `backup_accounts`).
    pub(super) backup_for: Vec<BroadcasterId>,
    pub(super) rr: usize,
}

#[derive(Debug, Clone)]
pub(super) struct BroadcasterSlot {
    pub(super) name: Arc<str>,
    pub(super) account: AccountId,
    pub(super) targets: Vec<TargetRef>,
    pub(super) messages: MessageSet,
    pub(super) pending_messages: Option<MessageSet>,
    pub(super) rotation: Rotation,
    pub(super) pacing: Pacing,
    pub(super) schedule: Schedule,
    pub(super) content: Arc<Content>,
    pub(super) seed: u64,
    pub(super) run: RunState,
    pub(super) cycle: CycleState,
    pub(super) next_send_at: Timestamp,
    pub(super) last_gap: Duration,
    /// `backup_accounts`, in order of preference.
    pub(super) backups: Vec<AccountId>,
}

/// What the planner knows about one chat, whichever target (topic) of it is posted into.
#[derive(Debug, Clone, Default)]
pub(super) struct ChatSlot {
    pub(super) rules: ChatRules,
    /// Our posts here (sent, or sending now), oldest first, trimmed to what the rules can ask
    /// about (`chats::trim_posts`).
    pub(super) posts: Vec<Post>,
    /// Slow mode from the last pre-flight check.
    pub(super) slowmode: Option<Duration>,
    /// Membership per account from the pre-flight check.
    pub(super) members: HashMap<AccountId, bool>,
    /// Until when Telegram told each account to wait here (`SLOWMODE_WAIT_X`): slow mode binds
    /// the account in the chat, so every broadcaster of that account waits, not only the
    /// refused delivery.
    pub(super) told: HashMap<AccountId, Timestamp>,
    /// The last hold per (target key, broadcaster name), for views: (reason, next allowed
    /// moment, the account it held). Per broadcaster, so a view can say whose send is held
    /// when another broadcaster's send into the same target went ahead (qa e14).
    pub(super) holds: HashMap<(String, String), (smb_domain::HoldReason, Timestamp, String)>,
    /// Targets here that refused one account (CHAT_WRITE_FORBIDDEN, USER_BANNED_IN_CHANNEL,
    /// … from a send or a pre-flight check) while another account posting there can still
    /// write: (account, target key) → (until, Telegram's code, why in words). Only that
    /// account's broadcasters skip the target until its recheck; the others go on.
    pub(super) refused: HashMap<(AccountId, String), (Timestamp, String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Post {
    pub(super) at: Timestamp,
    pub(super) account: AccountId,
    /// Sending now: (broadcaster, target index); dropped again if the send fails.
    pub(super) in_flight: Option<(BroadcasterId, usize)>,
}

/// How far back posts matter: a week for `days`/`max_per_day`, plus a day of margin; a
/// `min_gap` longer than that is measured against what is kept.
pub(super) const POST_MEMORY: Duration = Duration::from_secs(8 * 24 * 3600);

/// How far back `max_per_day` counts: a local day is at most 25 h (DST), plus an hour.
pub(super) const DAY_MEMORY: Duration = Duration::from_secs(26 * 3600);

#[derive(Debug, Clone, Copy)]
pub(super) enum Pick {
    StartCycle,
    Retry(usize),
    Cursor,
    /// A target taken out of order by a backup account (not yet attempted).
    Index(usize),
}

/// Added to every wait Telegram tells an account, as to a chat's slow mode: Telegram rounds the
/// seconds it tells, and a wait journalled a few ms before its answer was read would otherwise
/// let a restarted daemon resume it early (the chaos soak saw 10–40 ms).
pub(super) const WAIT_MARGIN: Duration = Duration::from_secs(1);

/// Pauses an account for the wait Telegram asked for plus [`WAIT_MARGIN`]: never shorter
/// (jitter only adds), and never ending before a pause already running. Returns when it ends
/// and its effect.
pub(super) fn pause(
    acc: &mut AccountSlot,
    err: &SendError,
    key: u64,
    now: Timestamp,
) -> (Timestamp, Effect) {
    let wait = err.retry_after().unwrap_or(Duration::ZERO);
    let until = add(now, acc.jitter.extra(wait, key).max(wait) + WAIT_MARGIN);
    let until = acc.paused_until.map_or(until, |p| p.max(until));
    acc.paused_until = Some(until);
    let effect = Effect::PauseAccount {
        account: acc.name.clone(),
        until,
        seconds: wait.as_secs(),
        code: err.code().to_owned(),
    };
    (until, effect)
}

pub(super) fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

pub(super) fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
