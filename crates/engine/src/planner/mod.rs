//! The planner: a pure state machine, `handle(Event, now) -> Vec<Effect>`.
//!
//! It owns every decision of DESIGN.md's send path and error table: which (broadcaster,
//! target) an account sends next and when, when a cycle starts and ends, what an error does.
//! It never does IO and never reads a clock; the driver feeds it events with the time.

mod chats;
mod checked;
mod control;
mod outcome;
mod restore;
mod send;
mod state;
mod turns;
mod vocabulary;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{Chat, TargetRef, mix64};

pub use checked::CHECK_REASON;
use state::{AccountSlot, BroadcasterSlot, ChatSlot, CycleState, RunState, hash_str};
pub use vocabulary::{
    AccountId, AccountSpec, BroadcasterId, BroadcasterSpec, BroadcasterView, ChatFacts,
    ChatHoldView, ChatSetup, CheckPlan, Content, Control, DEFAULT_BACKUP_AFTER,
    DEFAULT_DISABLE_AFTER_FAILURES, DEFAULT_REMOVED_POSTS_FLAG, Delivery, Effect, Event, Hold,
    PlannerError, PlannerSettings, TargetCheck,
};

#[derive(Debug, Clone)]
pub struct Planner {
    settings: PlannerSettings,
    accounts: Vec<AccountSlot>,
    broadcasters: Vec<BroadcasterSlot>,
    by_account_name: HashMap<String, AccountId>,
    /// Disabled targets, with the moment they are re-checked (`None`: disabled by the operator).
    disabled: HashMap<TargetRef, Option<Timestamp>>,
    /// Unknown (`other`) errors in a row per target, since its last success.
    failures: HashMap<TargetRef, u32>,
    /// Targets that refused media, where a broadcaster with `send_text_without_media` sends
    /// the text alone (until restart: the first media send after it finds out again).
    text_only: HashSet<TargetRef>,
    /// Per chat (all its topics): rules, our recent posts, slow mode, membership.
    chats: HashMap<Chat, ChatSlot>,
    /// See [`ChatSetup::backup_after`].
    backup_after: Duration,
    /// Accounts whose part of the running pre-flight check is not done: what they may write
    /// to is not known yet ([`Event::CheckStarted`], then `waiting` of [`Event::Checked`]).
    checking: HashSet<AccountId>,
    rng: u64,
}

impl Planner {
    pub fn new(
        accounts: Vec<AccountSpec>,
        broadcasters: Vec<BroadcasterSpec>,
        settings: PlannerSettings,
        now: Timestamp,
    ) -> Result<Self, PlannerError> {
        let mut by_account_name = HashMap::new();
        let mut account_slots = Vec::with_capacity(accounts.len());
        for (i, a) in accounts.into_iter().enumerate() {
            by_account_name.insert(a.name.clone(), i);
            account_slots.push(AccountSlot {
                name: a.name.into(),
                gap: a.delay_between_chats,
                jitter: a.jitter,
                next_send_at: now,
                last_gap: Duration::ZERO,
                paused_until: None,
                stopped: None,
                broadcasters: Vec::new(),
                backup_for: Vec::new(),
                rr: 0,
            });
        }
        let mut slots = Vec::with_capacity(broadcasters.len());
        for (i, b) in broadcasters.into_iter().enumerate() {
            let Some(&account) = by_account_name.get(&b.account) else {
                return Err(PlannerError::UnknownAccount {
                    broadcaster: b.name,
                    account: b.account,
                });
            };
            account_slots[account].broadcasters.push(i);
            // From the name alone, not the run's seed: the jitter of every gap and cycle delay
            // and the random rotation's order are the same in every process, so `run --dry-run`
            // and `stats` show what the daemon does, and a restart mid-round keeps the round.
            let seed = mix64(hash_str(&b.name));
            slots.push(BroadcasterSlot {
                name: b.name.into(),
                account,
                targets: b.targets,
                messages: b.messages,
                pending_messages: None,
                rotation: b.rotation,
                pacing: b.pacing,
                schedule: b.schedule,
                content: Arc::new(b.content),
                seed,
                run: RunState::Running,
                cycle: CycleState::Idle {
                    next_cycle: 1,
                    starts_at: now,
                },
                next_send_at: now,
                last_gap: Duration::ZERO,
                backups: Vec::new(),
            });
        }
        Ok(Planner {
            rng: mix64(settings.seed ^ 0x5EED),
            settings,
            accounts: account_slots,
            broadcasters: slots,
            by_account_name,
            disabled: HashMap::new(),
            failures: HashMap::new(),
            text_only: HashSet::new(),
            chats: HashMap::new(),
            backup_after: DEFAULT_BACKUP_AFTER,
            checking: HashSet::new(),
        })
    }

    pub fn account_id(&self, name: &str) -> Option<AccountId> {
        self.by_account_name.get(name).copied()
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    pub fn account_name(&self, id: AccountId) -> &str {
        &self.accounts[id].name
    }

    /// With `--once`: true when no broadcaster has anything left to do (each completed its
    /// cycle, or is stopped or paused; one whose account is stopped is done only when it has
    /// no backup account left that could finish the cycle). A daemon without `--once` is
    /// never finished: it waits for operator commands even when every account is stopped.
    pub fn finished(&self) -> bool {
        self.settings.once
            && self.broadcasters.iter().all(|b| match b.run {
                RunState::Done | RunState::StoppedByOperator | RunState::Paused => true,
                RunState::AccountStopped(_) => b
                    .backups
                    .iter()
                    .all(|&a| self.accounts[a].stopped.is_some()),
                RunState::Running => false,
            })
    }

    pub fn views(&self) -> Vec<BroadcasterView> {
        self.broadcasters
            .iter()
            .map(|b| {
                let (cycle, done) = match &b.cycle {
                    CycleState::Idle { next_cycle, .. } => {
                        (next_cycle.saturating_sub(1), b.targets.len())
                    }
                    CycleState::Active(ac) => (ac.cycle, ac.cursor.max(ac.handled.len())),
                };
                BroadcasterView {
                    name: b.name.to_string(),
                    account: self.accounts[b.account].name.to_string(),
                    state: b.run.clone(),
                    cycle,
                    done,
                    total: b.targets.len(),
                }
            })
            .collect()
    }

    /// The planner's one transition: applies `event` at `now` (the engine's time, see the
    /// driver) and returns what the driver must do, in order. Pure: no IO, no clock, no
    /// randomness beyond the seeded one, so the same events at the same times give the same
    /// effects.
    ///
    /// - [`Event::Poll`] (`send.rs`): moves the account's broadcasters past what needs nothing,
    ///   completes and starts cycles, and answers with at most one [`Effect::Send`] — the
    ///   broadcaster due first, round-robin on ties — or an [`Effect::Wait`]. Gaps
    ///   (`delay_between_chats` of the broadcaster and of the account), Telegram pauses,
    ///   schedules and retries decide when.
    /// - [`Event::Outcome`] (`outcome.rs`): records the delivery and applies the error table
    ///   by [`ErrorClass`](smb_domain::ErrorClass) (README's "How sending works"): pause the
    ///   account or the chat, retry, refresh the peer, disable the chat, stop the account.
    /// - [`Event::Control`] (`control.rs`): operator commands; a new message version waits
    ///   for the next cycle.
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Poll { account } => self.poll(account, now, &mut fx),
            Event::Outcome { delivery, result } => self.outcome(delivery, result, now, &mut fx),
            Event::Control(c) => self.control(c, now, &mut fx),
            Event::ChatInfo(info) => self.chat_info(info),
            Event::CheckStarted { accounts } => {
                self.checking = accounts
                    .iter()
                    .filter_map(|a| self.by_account_name.get(&**a).copied())
                    .collect();
            }
            Event::Checked {
                rows,
                recheck_at,
                waiting,
            } => {
                self.checking = waiting
                    .iter()
                    .filter_map(|a| self.by_account_name.get(&**a).copied())
                    .collect();
                self.targets_checked(&rows, recheck_at, &waiting, &mut fx);
            }
        }
        fx
    }

    /// Our posts the planner remembers over all chats (what the chat rules and slow mode may
    /// still ask about): a handful per chat, not one per delivery — see `chats::trim_posts`.
    pub fn remembered_posts(&self) -> usize {
        self.chats.values().map(|c| c.posts.len()).sum()
    }

    /// Broadcaster names, in configuration order.
    pub fn broadcaster_names(&self) -> Vec<String> {
        self.broadcasters
            .iter()
            .map(|b| b.name.to_string())
            .collect()
    }
}
