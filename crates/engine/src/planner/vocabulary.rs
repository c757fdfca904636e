//! The planner's vocabulary: what it is built from (specs, settings), what it is told
//! (events, operator controls) and what it answers (effects, holds, views).
//!
//! Only data lives here; the transitions are in the sibling modules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{
    AccountStop, Chat, ChatRules, HoldReason, Jitter, MessageSet, OnUpdate, OperatorState, Pacing,
    PostMode, Rotation, RunState, Schedule, SendError, TargetRef,
};

use crate::ports::{DeliveryKey, Outcome, SentMessage, TextFormat};

pub type AccountId = usize;
pub type BroadcasterId = usize;

/// How a broadcaster's messages are sent (format, attachment, link preview), and what it does
/// when a chat refuses them.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub format: TextFormat,
    /// One photo or document sent with the text (the text is its caption).
    pub media: Option<PathBuf>,
    /// An album (issue 15): 2–[`crate::ALBUM_MAX_ITEMS`] photos or documents sent as one
    /// grouped post, the text the first item's caption; empty when not an album. Set instead
    /// of `media`, never with it.
    pub album: Vec<PathBuf>,
    pub link_preview: bool,
    /// `send_text_without_media`: in a chat that forbids media (`CHAT_SEND_MEDIA_FORBIDDEN`,
    /// `…_PHOTOS_…`, …) send the text alone instead of disabling the chat. Off by default.
    pub text_without_media: bool,
    /// `disable_after_failures`: an error we do not know (class `other`) this many times in a
    /// row in one target disables it, with the raw error as the reason; a success in between
    /// starts the count again. 0 never disables. Default 3.
    pub disable_after_failures: u32,
    /// `post_mode`: what a new cycle does with our previous post in the chat (issue 15),
    /// carried out by the driver's follow-up journal (`driver/follow.rs`, docs/posts.md).
    pub post_mode: PostMode,
    /// `pin`: pin the new post silently and unpin ours that it replaces (issue 15).
    pub pin: bool,
    /// `on_update`: a new message-set version mid-cycle edits this cycle's posts (`edit`) or
    /// waits for the next cycle (`next`, today's behaviour; `edit` is not carried out yet).
    pub on_update: OnUpdate,
    /// `removed_posts_flag`: our posts removed by a chat's admins this many times in a row
    /// (found by the survival check before posting, issue 15) flag the chat "our posts are
    /// being removed" (stats, dashboard, a notification). 0 never flags. Default 2.
    pub removed_posts_flag: u32,
    /// `disable_when_removed`: a flagged chat is also disabled (until the operator enables
    /// it). Off by default.
    pub disable_when_removed: bool,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            format: TextFormat::default(),
            media: None,
            album: Vec::new(),
            link_preview: false,
            text_without_media: false,
            disable_after_failures: DEFAULT_DISABLE_AFTER_FAILURES,
            post_mode: PostMode::New,
            pin: false,
            on_update: OnUpdate::Next,
            removed_posts_flag: DEFAULT_REMOVED_POSTS_FLAG,
            disable_when_removed: false,
        }
    }
}

impl Content {
    /// The text goes out as a caption: a photo, a document or an album comes with it
    /// (Telegram's limit is then 1024, not 4096).
    pub fn has_media(&self) -> bool {
        self.media.is_some() || !self.album.is_empty()
    }
}

/// The default of [`Content::removed_posts_flag`].
pub const DEFAULT_REMOVED_POSTS_FLAG: u32 = 2;

/// The default of [`Content::disable_after_failures`].
pub const DEFAULT_DISABLE_AFTER_FAILURES: u32 = 3;

/// One account as the planner needs it.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    pub name: String,
    /// The account's pacing budget: two of its sends are never closer than this, whichever
    /// broadcasters they belong to.
    pub delay_between_chats: Duration,
    pub jitter: Jitter,
}

/// One broadcaster: account + target list + message set + pacing + schedule.
#[derive(Debug, Clone)]
pub struct BroadcasterSpec {
    pub name: String,
    pub account: String,
    pub targets: Vec<TargetRef>,
    pub messages: MessageSet,
    pub rotation: Rotation,
    pub pacing: Pacing,
    pub schedule: Schedule,
    pub content: Content,
}

#[derive(Debug, Clone)]
pub struct PlannerSettings {
    /// `run --once`: each broadcaster completes one cycle (starting at once), then is done.
    pub once: bool,
    /// Seeds the random ids of new deliveries (a random number per process, so a restart never
    /// reuses an id Telegram may still remember). Jitter and random rotation do not use it:
    /// they come from each broadcaster's name, so every process plans the same times and texts.
    pub seed: u64,
    /// When a target disabled by an error is tried again.
    pub recheck_after: Duration,
    /// With `once`: a broadcaster whose last cycle completed starts the next one after its
    /// `cycle_delay`, as the daemon would (`run --dry-run`'s plan), not at once (`run --once`).
    pub once_after_cycle_delay: bool,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        PlannerSettings {
            once: false,
            seed: 0,
            recheck_after: Duration::from_secs(24 * 3600),
            once_after_cycle_delay: false,
        }
    }
}

/// What holds for chats across broadcasters and accounts, given to [`Planner::set_chats`]
/// after [`Planner::new`].
#[derive(Debug, Clone)]
pub struct ChatSetup {
    /// Each chat's rules (`[targets]` entries with `min_gap`, `days`, `hours`, `max_per_day`);
    /// they hold for the chat as a whole, topics included, whoever posts.
    pub rules: HashMap<Chat, ChatRules>,
    /// Per broadcaster name: its `backup_accounts`, in order of preference.
    pub backups: HashMap<String, Vec<String>>,
    /// `backup_after`: a flood wait on a broadcaster's account with more than this left hands
    /// its not-yet-attempted deliveries to a backup account. Default 10 min.
    pub backup_after: Duration,
}

/// The default of [`ChatSetup::backup_after`].
pub const DEFAULT_BACKUP_AFTER: Duration = Duration::from_secs(600);

impl Default for ChatSetup {
    fn default() -> Self {
        ChatSetup {
            rules: HashMap::new(),
            backups: HashMap::new(),
            backup_after: DEFAULT_BACKUP_AFTER,
        }
    }
}

/// What a pre-flight check learned about one chat for one account (the gateway's chat
/// inspection; `None`: not known). Fed with [`Event::ChatInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFacts {
    /// The account that looked (as configured).
    pub account: String,
    /// The chat looked at (every topic of it shares these facts).
    pub chat: Chat,
    /// The account is a member of the chat (a backup posts only where this is `Some(true)`).
    pub member: Option<bool>,
    /// The chat's slow mode (`slowmode_seconds` of its full info); `Some(0)`: none.
    pub slowmode_seconds: Option<u32>,
}

/// One send the driver must carry out: write it pending, send it, report the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub broadcaster: BroadcasterId,
    pub broadcaster_name: Arc<str>,
    pub account: AccountId,
    pub account_name: Arc<str>,
    pub cycle: u64,
    pub target_index: usize,
    pub target: TargetRef,
    pub text: Arc<str>,
    /// The A/B variant label this chat got in this cycle ([`smb_domain::assign_variant`]).
    pub variant: Option<Arc<str>>,
    pub content: Arc<Content>,
    pub random_id: i64,
    /// 0 for the first try; retries after transient errors count up.
    pub attempt: u32,
}

impl Delivery {
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            broadcaster: self.broadcaster_name.to_string(),
            cycle: self.cycle,
            target: self.target.clone(),
        }
    }
}

/// Operator commands (CLI, API, dashboard).
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Hold a broadcaster where it is; `Resume` continues the same cycle.
    Pause(String),
    Resume(String),
    /// Stop a broadcaster: its cycle is left as it is; `Start` resumes it and, between
    /// cycles, starts the next one at once.
    Stop(String),
    Start(String),
    EnableTarget(TargetRef),
    DisableTarget(TargetRef, String),
    /// A new version of a message set: used from the next cycle on, never mid-cycle.
    ReplaceMessages(MessageSet),
    /// A target added to a broadcaster's list while it runs (the dashboard, the API): it joins
    /// the current cycle when the cursor has not passed the end yet, else the next one.
    AddTarget {
        broadcaster: String,
        target: TargetRef,
    },
}

/// What the planner is told. Time never travels inside an event: it comes as `now` with
/// [`Planner::handle`](super::Planner::handle).
#[derive(Debug, Clone)]
pub enum Event {
    /// An account's task asks what to do next: answered by at most one [`Effect::Send`], or by
    /// an [`Effect::Wait`] saying when to ask again.
    Poll { account: AccountId },
    /// What the gateway said about a delivery the planner handed out with [`Effect::Send`].
    /// An outcome for a delivery that is no longer in flight (another cycle, a restart) is
    /// ignored.
    Outcome {
        delivery: Delivery,
        result: Result<SentMessage, SendError>,
    },
    /// An operator command (CLI, control socket, dashboard, API).
    Control(Control),
    /// A pre-flight check's findings about a chat (slow mode, membership).
    ChatInfo(ChatFacts),
    /// A pre-flight check round begins for these accounts: until each finishes (see
    /// `waiting` of [`Event::Checked`]), what it may write to is unknown, so a stopped
    /// account's chats are not yet skipped for want of a backup that is a member.
    CheckStarted { accounts: Vec<Arc<str>> },
    /// A pre-flight check's findings so far: per (account, target) whether a post would be
    /// refused. Disables a target no posting account can write to (re-checked at
    /// `recheck_at`, the next check), enables one a check or a refused send disabled once it
    /// passes. The daemon checks accounts concurrently and sends this as each account
    /// finishes, with every row of the round so far: `waiting` names the accounts still
    /// checking, and a target one of them posts to stays as it is until they are done,
    /// unless a finished account already found it writable.
    Checked {
        rows: Vec<TargetCheck>,
        recheck_at: Timestamp,
        waiting: Vec<Arc<str>>,
    },
}

/// One (account, target) of a finished pre-flight check (see [`Event::Checked`]); only pairs
/// Telegram answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    /// The account that looked.
    pub account: Arc<str>,
    /// The target as configured.
    pub target: TargetRef,
    /// A text post would be refused: why, in words (not a member, banned, topic closed, …).
    pub text_refused: Option<String>,
    /// Photos and documents would be refused (text is fine): why.
    pub media_refused: Option<String>,
}

/// What a pre-flight check should look at (see [`Planner::check_plan`](super::Planner::check_plan)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckPlan {
    /// (account, target) pairs, once each, by account then list order.
    pub pairs: Vec<(String, TargetRef)>,
    /// Accounts not to ask now (stopped, paused), with why.
    pub unavailable: std::collections::BTreeMap<String, String>,
}

/// What the planner asks the driver to do, in the order given. All but `Send` and `Wait` are
/// bookkeeping: the driver writes them to the store and tells the event sink (log, metrics,
/// notifications), so a restart restores the same decisions.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A broadcaster begins pass number `cycle` (1, 2, … per broadcaster) with `message`, the
    /// text its rotation picked for the whole pass, over its `targets` chats (a count).
    /// Journalled so a restart resumes the same pass with the same text.
    StartCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        message: Arc<str>,
        targets: usize,
    },
    /// Send one message now: write it `pending` (durably), call the gateway, report the
    /// result as [`Event::Outcome`]. The account is busy until then; its gap to the next send
    /// counts from when the call starts ([`Planner::send_started`](super::Planner::send_started)).
    Send(Delivery),
    /// The journal entry of a delivery: sent (with Telegram's message id), failed for good, or
    /// deferred until a time (a retry with the same `random_id` follows).
    Record {
        delivery: Delivery,
        outcome: Outcome,
    },
    /// `PEER_ID_INVALID` the first time: resolve the chat again (its access hash changed)
    /// before the delivery is retried.
    RefreshPeer {
        account: Arc<str>,
        target: TargetRef,
    },
    /// A broadcaster's pass is over: `sent` and `failed` count its deliveries; the next pass
    /// starts after `cycle_delay` (+ jitter), or never with `--once`.
    CompleteCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        sent: u64,
        failed: u64,
    },
    /// Telegram's FLOOD_WAIT on an account: it sends nothing before `until` (`seconds`, as
    /// Telegram asked, plus jitter: never shorter). `code` is the error's name. Stored so a
    /// restart keeps the pause.
    PauseAccount {
        account: Arc<str>,
        until: Timestamp,
        seconds: u64,
        code: String,
    },
    /// Slow mode in one chat: only this chat waits until `until` (`seconds` as Telegram
    /// asked, + 1 s); the account goes on elsewhere. Not stored: the retry is.
    PauseChat {
        account: Arc<str>,
        target: TargetRef,
        until: Timestamp,
        seconds: u64,
    },
    /// The account cannot send any more (revoked or unregistered session, ban, PEER_FLOOD):
    /// every broadcaster on it stops until an operator logs it in again. `reason` says which
    /// Telegram error or session problem, and whether `accounts login` fixes it. Stored.
    StopAccount {
        account: Arc<str>,
        reason: AccountStop,
    },
    /// No more sends to this chat: refused by Telegram (`reason` says why and from which
    /// account), re-checked at `recheck_at`; or disabled by the operator (`recheck_at` is
    /// `None`: until enabled). Stored.
    DisableTarget {
        target: TargetRef,
        reason: String,
        recheck_at: Option<Timestamp>,
    },
    /// A disabled chat is active again: its re-check time came, or the operator enabled it.
    /// Stored.
    EnableTarget { target: TargetRef },
    /// Telegram refused the text itself (too long, bad markup, …; `code` is the error's
    /// name): that delivery failed, the pass goes on; the operator is told to fix the set.
    BadContent { broadcaster: Arc<str>, code: String },
    /// An operator command changed a broadcaster's state (running, paused, stopped).
    /// Stored, so a restart keeps it.
    BroadcasterState {
        broadcaster: Arc<str>,
        state: OperatorState,
    },
    /// A chat's rules or slow mode hold a delivery back: `skipped` (rules) means it is left
    /// out of this cycle; otherwise (slow mode) it waits in the cycle until `until`.
    ChatHeld {
        broadcaster: Arc<str>,
        account: Arc<str>,
        target: TargetRef,
        reason: HoldReason,
        until: Timestamp,
        skipped: bool,
    },
    /// `target` refused `account` while another account posting there can still write:
    /// only `account`'s broadcasters skip it until `until` (a send's refusal, or a pre-flight
    /// check's).
    RefusedHere {
        account: Arc<str>,
        target: TargetRef,
        reason: smb_domain::HoldReason,
        /// Telegram's error name, or `PRE_FLIGHT_CHECK`.
        code: String,
        until: Timestamp,
        /// A later check found the same again: only the re-check time moves (stored), the
        /// operator was told before.
        renewed: bool,
    },
    /// A pre-flight check found `account` may write into `target` again: its refusal there
    /// (see [`Effect::RefusedHere`]) is over. Stored (the refusal's row goes).
    AllowedHere {
        account: Arc<str>,
        target: TargetRef,
    },
    /// Answer to a poll: nothing is due before `until` (`None`: nothing until a control event).
    Wait { until: Option<Timestamp> },
}

/// Why an account may not send now (see [`Planner::send_hold`](super::Planner::send_hold)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Stopped (or unknown): the message says why and what to do.
    Stopped(String),
    /// Paused by Telegram (a flood wait) until then.
    Paused(Timestamp),
    /// Its last send was too recent: its next turn is then.
    Gap(Timestamp),
}

/// A broadcaster's view for stats and dry runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcasterView {
    pub name: String,
    pub account: String,
    /// Shown as `running`, `paused`, `stopped`, `stopped: REASON` (its account), `done`.
    pub state: RunState,
    pub cycle: u64,
    pub done: usize,
    pub total: usize,
}

/// Why a chat is held back, for `stats` and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatHoldView {
    /// The target as configured (`@name`, `@name/7`, `-100…`).
    pub target: String,
    /// The broadcaster whose send was held (another broadcaster may post there meanwhile).
    pub broadcaster: String,
    /// The account that send would have gone from.
    pub account: String,
    /// Which rule (or slow mode); words at the edge ([`HoldReason::words`]).
    pub reason: HoldReason,
    /// The next moment a post is allowed there.
    pub until: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    #[error("broadcaster `{broadcaster}` uses account `{account}`, which is not declared")]
    UnknownAccount {
        broadcaster: String,
        account: String,
    },
    #[error("broadcaster `{broadcaster}` lists backup account `{account}`, which is not declared")]
    UnknownBackup {
        broadcaster: String,
        account: String,
    },
    #[error("`backup_accounts` names broadcaster `{0}`, which is not declared")]
    UnknownBroadcaster(String),
}
