//! The planner: a pure state machine, `handle(Event, now) -> Vec<Effect>`.
//!
//! It owns every decision of DESIGN.md's send path and error table: which (broadcaster,
//! target) an account sends next and when, when a cycle starts and ends, what an error does.
//! It never does IO and never reads a clock; the driver feeds it events with the time.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use smb_domain::{
    ErrorClass, Jitter, MessageSet, Pacing, Rotation, Schedule, SendError, TargetRef, mix64,
};

use crate::ports::{
    DeliveryKey, Outcome, SentMessage, StoredAccount, StoredCycle, TargetStatus, TextFormat,
};

pub type AccountId = usize;
pub type BroadcasterId = usize;

/// How a broadcaster's messages are sent (format, attachment, link preview), and what it does
/// when a chat refuses them.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub format: TextFormat,
    pub media: Option<PathBuf>,
    pub link_preview: bool,
    /// `send_text_without_media`: in a chat that forbids media (`CHAT_SEND_MEDIA_FORBIDDEN`,
    /// `…_PHOTOS_…`, …) send the text alone instead of disabling the chat. Off by default.
    pub text_without_media: bool,
    /// `disable_after_failures`: an error we do not know (class `other`) this many times in a
    /// row in one target disables it, with the raw error as the reason; a success in between
    /// starts the count again. 0 never disables. Default 3.
    pub disable_after_failures: u32,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            format: TextFormat::default(),
            media: None,
            link_preview: false,
            text_without_media: false,
            disable_after_failures: DEFAULT_DISABLE_AFTER_FAILURES,
        }
    }
}

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
    /// Seeds random ids, random rotation and jitter.
    pub seed: u64,
    /// When a target disabled by an error is tried again.
    pub recheck_after: Duration,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        PlannerSettings {
            once: false,
            seed: 0,
            recheck_after: Duration::from_secs(24 * 3600),
        }
    }
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

#[derive(Debug, Clone)]
pub enum Event {
    /// An account's task asks what to do next.
    Poll {
        account: AccountId,
    },
    /// What the gateway said about a delivery.
    Outcome {
        delivery: Delivery,
        result: Result<SentMessage, SendError>,
    },
    Control(Control),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        message: Arc<str>,
        targets: usize,
    },
    Send(Delivery),
    Record {
        delivery: Delivery,
        outcome: Outcome,
    },
    RefreshPeer {
        account: Arc<str>,
        target: TargetRef,
    },
    CompleteCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        sent: u64,
        failed: u64,
    },
    PauseAccount {
        account: Arc<str>,
        until: Timestamp,
        seconds: u64,
        code: String,
    },
    PauseChat {
        account: Arc<str>,
        target: TargetRef,
        until: Timestamp,
        seconds: u64,
    },
    StopAccount {
        account: Arc<str>,
        reason: String,
    },
    DisableTarget {
        target: TargetRef,
        reason: String,
        recheck_at: Option<Timestamp>,
    },
    EnableTarget {
        target: TargetRef,
    },
    BadContent {
        broadcaster: Arc<str>,
        code: String,
    },
    /// An operator command changed a broadcaster's state (`running`, `paused`, `stopped`).
    BroadcasterState {
        broadcaster: Arc<str>,
        state: &'static str,
    },
    /// Answer to a poll: nothing is due before `until` (`None`: nothing until a control event).
    Wait {
        until: Option<Timestamp>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum RunState {
    Running,
    Paused,
    /// Stopped by the operator.
    Halted,
    /// Its account was stopped (revoked, banned, PEER_FLOOD).
    Stopped(String),
    /// `--once` and its cycle is complete.
    Done,
}

#[derive(Debug, Clone)]
struct Retry {
    index: usize,
    not_before: Timestamp,
    attempt: u32,
    random_id: i64,
    stale_retried: bool,
}

#[derive(Debug, Clone)]
struct ActiveCycle {
    cycle: u64,
    message: Arc<str>,
    cursor: usize,
    /// Targets already dealt with before the cursor could reach them (a resumed cycle).
    handled: HashSet<usize>,
    retries: Vec<Retry>,
    in_flight: Option<usize>,
    /// The in-flight delivery was already re-resolved once after PEER_ID_INVALID.
    in_flight_stale_retried: bool,
    sent: u64,
    failed: u64,
}

#[derive(Debug, Clone)]
enum CycleState {
    Idle {
        next_cycle: u64,
        starts_at: Timestamp,
    },
    Active(ActiveCycle),
}

#[derive(Debug, Clone)]
struct AccountSlot {
    name: Arc<str>,
    gap: Duration,
    jitter: Jitter,
    next_send_at: Timestamp,
    /// The gap (jitter included) chosen at the last send, re-applied from the moment that
    /// send actually reached the gateway (see [`Planner::send_started`]).
    last_gap: Duration,
    paused_until: Option<Timestamp>,
    stopped: Option<String>,
    broadcasters: Vec<BroadcasterId>,
    rr: usize,
}

#[derive(Debug, Clone)]
struct BroadcasterSlot {
    name: Arc<str>,
    account: AccountId,
    targets: Vec<TargetRef>,
    messages: MessageSet,
    pending_messages: Option<MessageSet>,
    rotation: Rotation,
    pacing: Pacing,
    schedule: Schedule,
    content: Arc<Content>,
    seed: u64,
    run: RunState,
    cycle: CycleState,
    next_send_at: Timestamp,
    last_gap: Duration,
}

/// Why an account may not send now (see [`Planner::send_hold`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Stopped (or unknown): the message says why and what to do.
    Stopped(String),
    /// Paused by Telegram (a flood wait) until then.
    Paused(Timestamp),
    /// Its last send was too recent: its next turn is then.
    Gap(Timestamp),
}

enum Pick {
    StartCycle,
    Retry(usize),
    Cursor,
}

/// A broadcaster's view for stats and dry runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcasterView {
    pub name: String,
    pub account: String,
    pub state: String,
    pub cycle: u64,
    pub done: usize,
    pub total: usize,
}

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
    rng: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    #[error("broadcaster `{broadcaster}` uses account `{account}`, which is not declared")]
    UnknownAccount {
        broadcaster: String,
        account: String,
    },
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
            let seed = mix64(settings.seed ^ hash_str(&b.name));
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
        })
    }

    /// Applies what the store remembers: account pauses and stops, disabled targets, and each
    /// broadcaster's last cycle, so a restart resumes at the next target of the same cycle.
    ///
    /// A send or a cycle end the journal dates after `now` happened before a wall clock was set
    /// back: it counts as having happened `now` (the gap and the cycle delay run from there,
    /// not from a moment an hour away). Returns how far the journal is ahead of `now`, if it
    /// is, for the caller to warn about.
    pub fn restore(
        &mut self,
        accounts: &HashMap<String, StoredAccount>,
        targets: &HashMap<String, TargetStatus>,
        cycles: &HashMap<String, StoredCycle>,
        now: Timestamp,
    ) -> Option<SignedDuration> {
        let mut ahead = SignedDuration::ZERO;
        let mut seen = |t: Timestamp| {
            ahead = ahead.max(t.duration_since(now));
            t.min(now)
        };
        for a in &mut self.accounts {
            if let Some(s) = accounts.get(&*a.name) {
                a.paused_until = s.paused_until.filter(|t| *t > now);
                a.stopped = s.stopped_reason.clone();
                if let Some(last) = s.last_send_at {
                    a.next_send_at = a.next_send_at.max(add(seen(last), a.gap));
                }
            }
        }
        for (key, status) in targets {
            if let (TargetStatus::Disabled { recheck_at, .. }, Ok(t)) =
                (status, TargetRef::parse(key))
            {
                self.disabled.insert(t, *recheck_at);
            }
        }
        for b in &mut self.broadcasters {
            if let Some(reason) = &self.accounts[b.account].stopped {
                b.run = RunState::Stopped(reason.clone());
            }
            let Some(c) = cycles.get(&*b.name) else {
                continue;
            };
            match c.completed_at {
                Some(done) => {
                    let done = seen(done);
                    let starts_at = if self.settings.once {
                        now
                    } else {
                        add(
                            done,
                            b.pacing
                                .jitter
                                .apply(b.pacing.cycle_delay, b.seed ^ c.cycle),
                        )
                    };
                    b.cycle = CycleState::Idle {
                        next_cycle: c.cycle + 1,
                        starts_at,
                    };
                }
                None => {
                    let index: HashMap<String, usize> = b
                        .targets
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.key(), i))
                        .collect();
                    let mut ac = ActiveCycle {
                        cycle: c.cycle,
                        message: c.message.as_str().into(),
                        cursor: 0,
                        handled: HashSet::new(),
                        retries: Vec::new(),
                        in_flight: None,
                        in_flight_stale_retried: false,
                        sent: 0,
                        failed: 0,
                    };
                    for d in &c.deliveries {
                        let Some(&i) = index.get(&d.target) else {
                            continue;
                        };
                        ac.handled.insert(i);
                        match d.status.as_str() {
                            "sent" => ac.sent += 1,
                            "failed" => ac.failed += 1,
                            // A pending delivery may have reached Telegram: re-send it first,
                            // with the same random_id, so Telegram drops a duplicate.
                            _ => ac.retries.push(Retry {
                                index: i,
                                not_before: if d.status == "pending" {
                                    now
                                } else {
                                    d.retry_at.unwrap_or(now)
                                },
                                attempt: d.attempts,
                                random_id: d.random_id,
                                stale_retried: false,
                            }),
                        }
                    }
                    b.cycle = CycleState::Active(ac);
                }
            }
        }
        (ahead > SignedDuration::ZERO).then_some(ahead)
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
    /// cycle, or is stopped or paused). A daemon without `--once` is never finished: it
    /// waits for operator commands even when every account is stopped.
    pub fn finished(&self) -> bool {
        self.settings.once
            && self.broadcasters.iter().all(|b| {
                matches!(
                    b.run,
                    RunState::Done | RunState::Stopped(_) | RunState::Halted | RunState::Paused
                )
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
                    state: match &b.run {
                        RunState::Running => "running".into(),
                        RunState::Paused => "paused".into(),
                        RunState::Halted => "stopped".into(),
                        RunState::Stopped(r) => format!("stopped: {r}"),
                        RunState::Done => "done".into(),
                    },
                    cycle,
                    done,
                    total: b.targets.len(),
                }
            })
            .collect()
    }

    pub fn handle(&mut self, event: Event, now: Timestamp) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Poll { account } => self.poll(account, now, &mut fx),
            Event::Outcome { delivery, result } => self.outcome(delivery, result, now, &mut fx),
            Event::Control(c) => self.control(c, now, &mut fx),
        }
        fx
    }

    fn next_random_id(&mut self) -> i64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let v = mix64(self.rng) as i64;
        if v == 0 { 1 } else { v }
    }

    fn is_disabled(&self, t: &TargetRef, now: Timestamp) -> bool {
        match self.disabled.get(t) {
            None => false,
            Some(None) => true,
            Some(Some(recheck)) => *recheck > now,
        }
    }

    /// Moves a broadcaster's cursor past targets that need nothing, and completes its cycle
    /// when nothing is left.
    fn settle(&mut self, b: BroadcasterId, now: Timestamp, fx: &mut Vec<Effect>) {
        let once = self.settings.once;
        let slot = &self.broadcasters[b];
        let CycleState::Active(ac) = &slot.cycle else {
            return;
        };
        let mut cursor = ac.cursor;
        while cursor < slot.targets.len()
            && (ac.handled.contains(&cursor) || self.is_disabled(&slot.targets[cursor], now))
        {
            cursor += 1;
        }
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        ac.cursor = cursor;
        if cursor >= slot.targets.len() && ac.retries.is_empty() && ac.in_flight.is_none() {
            fx.push(Effect::CompleteCycle {
                broadcaster: slot.name.clone(),
                cycle: ac.cycle,
                sent: ac.sent,
                failed: ac.failed,
            });
            let next_cycle = ac.cycle + 1;
            let wait = slot
                .pacing
                .jitter
                .apply(slot.pacing.cycle_delay, slot.seed ^ ac.cycle);
            slot.cycle = CycleState::Idle {
                next_cycle,
                starts_at: add(now, wait),
            };
            if once && slot.run == RunState::Running {
                slot.run = RunState::Done;
            }
        }
    }

    /// When broadcaster `b` could next send, and what.
    fn candidate(&self, b: BroadcasterId, now: Timestamp) -> Option<(Timestamp, Pick)> {
        let slot = &self.broadcasters[b];
        if slot.run != RunState::Running {
            return None;
        }
        let (due, pick) = match &slot.cycle {
            CycleState::Idle { starts_at, .. } => (*starts_at, Pick::StartCycle),
            CycleState::Active(ac) => {
                if ac.in_flight.is_some() {
                    return None;
                }
                let retry = ac
                    .retries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, r)| r.not_before)
                    .map(|(i, r)| (r.not_before.max(slot.next_send_at), i));
                let cursor = (ac.cursor < slot.targets.len()).then_some(slot.next_send_at);
                match (retry, cursor) {
                    (Some((rt, i)), Some(ct)) if rt <= ct => (rt, Pick::Retry(i)),
                    (_, Some(ct)) => (ct, Pick::Cursor),
                    (Some((rt, i)), None) => (rt, Pick::Retry(i)),
                    (None, None) => return None,
                }
            }
        };
        let due = slot.schedule.next_allowed(due.max(now))?;
        Some((due, pick))
    }

    fn poll(&mut self, account: AccountId, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(acc) = self.accounts.get(account) else {
            fx.push(Effect::Wait { until: None });
            return;
        };
        if acc.stopped.is_some() {
            fx.push(Effect::Wait { until: None });
            return;
        }
        if let Some(p) = acc.paused_until
            && p > now
        {
            fx.push(Effect::Wait { until: Some(p) });
            return;
        }
        // Indexing instead of iterating `acc.broadcasters`: settle() needs `&mut self`, and
        // a copy of the list on every poll would be an allocation on the send path.
        let n = acc.broadcasters.len();
        for k in 0..n {
            let b = self.accounts[account].broadcasters[k];
            self.settle(b, now, fx);
        }
        let acc = &self.accounts[account];
        let mut best: Option<(Timestamp, usize, BroadcasterId, Pick)> = None;
        for k in 0..n {
            let pos = (acc.rr + k) % n;
            let b = acc.broadcasters[pos];
            if let Some((due, pick)) = self.candidate(b, now)
                && best.as_ref().is_none_or(|(t, ..)| due < *t)
            {
                best = Some((due, pos, b, pick));
            }
        }
        let Some((due, pos, b, pick)) = best else {
            fx.push(Effect::Wait { until: None });
            return;
        };
        let due = due.max(acc.next_send_at);
        if due > now {
            fx.push(Effect::Wait { until: Some(due) });
            return;
        }
        self.accounts[account].rr = (pos + 1) % n;
        match pick {
            Pick::StartCycle => {
                self.start_cycle(b, now, fx);
                // The first send of the new cycle goes out in the same poll when it can.
                self.settle(b, now, fx);
                if let Some((due, pick)) = self.candidate(b, now)
                    && due <= now
                    && !matches!(pick, Pick::StartCycle)
                {
                    self.emit_send(b, pick, now, fx);
                } else {
                    fx.push(Effect::Wait { until: Some(now) });
                }
            }
            pick => self.emit_send(b, pick, now, fx),
        }
    }

    fn start_cycle(&mut self, b: BroadcasterId, now: Timestamp, fx: &mut Vec<Effect>) {
        let once = self.settings.once;
        let slot = &mut self.broadcasters[b];
        let CycleState::Idle { next_cycle, .. } = slot.cycle else {
            return;
        };
        if let Some(newer) = slot.pending_messages.take() {
            slot.messages = newer;
        }
        let Some(message) = slot.messages.pick(slot.rotation, next_cycle - 1, slot.seed) else {
            // Validated at load; an empty set just waits for a new version — except in a
            // single-cycle run, which must end: there it has nothing to do.
            slot.cycle = CycleState::Idle {
                next_cycle,
                starts_at: add(now, slot.pacing.cycle_delay),
            };
            if once && slot.run == RunState::Running {
                slot.run = RunState::Done;
            }
            return;
        };
        let message: Arc<str> = message.text.as_str().into();
        fx.push(Effect::StartCycle {
            broadcaster: slot.name.clone(),
            cycle: next_cycle,
            message: message.clone(),
            targets: slot.targets.len(),
        });
        slot.cycle = CycleState::Active(ActiveCycle {
            cycle: next_cycle,
            message,
            cursor: 0,
            handled: HashSet::new(),
            retries: Vec::new(),
            in_flight: None,
            in_flight_stale_retried: false,
            sent: 0,
            failed: 0,
        });
    }

    fn emit_send(&mut self, b: BroadcasterId, pick: Pick, now: Timestamp, fx: &mut Vec<Effect>) {
        let fresh_id = self.next_random_id();
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        let (index, random_id, attempt) = match pick {
            Pick::Retry(i) => {
                let r = ac.retries.swap_remove(i);
                ac.in_flight_stale_retried = r.stale_retried;
                (r.index, r.random_id, r.attempt)
            }
            Pick::Cursor => {
                let i = ac.cursor;
                ac.cursor += 1;
                ac.in_flight_stale_retried = false;
                (i, fresh_id, 0)
            }
            Pick::StartCycle => return,
        };
        ac.in_flight = Some(index);
        let target = slot.targets[index].clone();
        let content = if slot.content.media.is_some() && self.text_only.contains(&target) {
            Arc::new(Content {
                media: None,
                ..(*slot.content).clone()
            })
        } else {
            slot.content.clone()
        };
        // A target whose re-check time came is tried again; it is active until told otherwise.
        if self.disabled.remove(&target).is_some() {
            fx.push(Effect::EnableTarget {
                target: target.clone(),
            });
        }
        let key = slot.seed ^ ac.cycle.rotate_left(20) ^ index as u64;
        // Jitter only lengthens a gap between chats: the configured delay is the minimum.
        slot.last_gap = slot
            .pacing
            .jitter
            .extra(slot.pacing.delay_between_chats, key);
        slot.next_send_at = add(now, slot.last_gap);
        let acc = &mut self.accounts[slot.account];
        acc.last_gap = acc.jitter.extra(acc.gap, key ^ 0xACC);
        acc.next_send_at = add(now, acc.last_gap);
        fx.push(Effect::Send(Delivery {
            broadcaster: b,
            broadcaster_name: slot.name.clone(),
            account: slot.account,
            account_name: acc.name.clone(),
            cycle: ac.cycle,
            target_index: index,
            target,
            text: ac.message.clone(),
            content,
            random_id,
            attempt,
        }));
    }

    fn outcome(
        &mut self,
        d: Delivery,
        result: Result<SentMessage, SendError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let recheck_after = self.settings.recheck_after;
        let Some(slot) = self.broadcasters.get_mut(d.broadcaster) else {
            return;
        };
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        if ac.cycle != d.cycle || ac.in_flight != Some(d.target_index) {
            return;
        }
        ac.in_flight = None;
        let stale_retried = ac.in_flight_stale_retried;
        let account = slot.account;
        let err = match result {
            Ok(sent) => {
                ac.sent += 1;
                let b = d.broadcaster;
                self.failures.remove(&d.target);
                fx.push(Effect::Record {
                    delivery: d,
                    outcome: Outcome::Sent {
                        message_id: sent.message_id,
                    },
                });
                self.settle(b, now, fx);
                return;
            }
            Err(e) => e,
        };
        let class = err.class();
        let code = err.code().to_owned();
        let retry = |not_before: Timestamp, attempt: u32, stale_retried: bool| Retry {
            index: d.target_index,
            not_before,
            attempt,
            random_id: d.random_id,
            stale_retried,
        };
        let failed = |detail: String| Outcome::Failed {
            class: class.as_str(),
            code: code.clone(),
            detail,
        };
        match class {
            ErrorClass::AccountPause => {
                let (until, paused) =
                    pause(&mut self.accounts[account], &err, d.random_id as u64, now);
                ac.retries.push(retry(until, d.attempt, stale_retried));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: Outcome::Deferred {
                        until,
                        class: class.as_str(),
                        code,
                    },
                });
                fx.push(paused);
            }
            ErrorClass::ChatPause => {
                let wait = err.retry_after().unwrap_or(Duration::ZERO);
                let until = add(now, wait + Duration::from_secs(1));
                ac.retries.push(retry(until, d.attempt, stale_retried));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: Outcome::Deferred {
                        until,
                        class: class.as_str(),
                        code,
                    },
                });
                fx.push(Effect::PauseChat {
                    account: d.account_name.clone(),
                    target: d.target.clone(),
                    until,
                    seconds: wait.as_secs(),
                });
            }
            ErrorClass::StalePeer if !stale_retried => {
                ac.retries.push(retry(now, d.attempt, true));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: Outcome::Deferred {
                        until: now,
                        class: class.as_str(),
                        code,
                    },
                });
                fx.push(Effect::RefreshPeer {
                    account: d.account_name.clone(),
                    target: d.target.clone(),
                });
            }
            ErrorClass::TargetDead
                if err.forbids_media()
                    && d.content.text_without_media
                    && d.content.media.is_some() =>
            {
                // The chat allows text: send this delivery (same random_id: nothing was
                // posted) and the next ones there without the attachment.
                self.text_only.insert(d.target.clone());
                ac.retries.push(retry(now, d.attempt, stale_retried));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: Outcome::Deferred {
                        until: now,
                        class: class.as_str(),
                        code,
                    },
                });
            }
            ErrorClass::TargetDead | ErrorClass::StalePeer => {
                ac.failed += 1;
                let recheck_at = add(now, recheck_after);
                let why = err.refusal_reason().unwrap_or_else(|| code.clone());
                let reason = format!("{why} (account {})", d.account_name);
                self.disabled.insert(d.target.clone(), Some(recheck_at));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                fx.push(Effect::DisableTarget {
                    target: d.target.clone(),
                    reason,
                    recheck_at: Some(recheck_at),
                });
            }
            ErrorClass::BadContent => {
                ac.failed += 1;
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                fx.push(Effect::BadContent {
                    broadcaster: d.broadcaster_name.clone(),
                    code,
                });
            }
            ErrorClass::Other => {
                ac.failed += 1;
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                let limit = d.content.disable_after_failures;
                let count = self.failures.entry(d.target.clone()).or_insert(0);
                *count += 1;
                if limit > 0 && *count >= limit {
                    let n = *count;
                    self.failures.remove(&d.target);
                    let recheck_at = add(now, recheck_after);
                    self.disabled.insert(d.target.clone(), Some(recheck_at));
                    let raw = match &err {
                        SendError::Rpc { value: Some(v), .. } => format!("{code}_{v}"),
                        _ => code,
                    };
                    fx.push(Effect::DisableTarget {
                        target: d.target.clone(),
                        reason: format!(
                            "{raw}: failed {n} times in a row with this error, which SendMessageBot does not know (account {})",
                            d.account_name
                        ),
                        recheck_at: Some(recheck_at),
                    });
                }
            }
            ErrorClass::AccountDead => {
                // The message was not sent; keep it deferred so a re-activated account
                // resumes the cycle where it stopped.
                ac.retries.push(retry(now, d.attempt, stale_retried));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: Outcome::Deferred {
                        until: now,
                        class: class.as_str(),
                        code: code.clone(),
                    },
                });
                let reason = code;
                self.accounts[account].stopped = Some(reason.clone());
                for &b in &self.accounts[account].broadcasters {
                    self.broadcasters[b].run = RunState::Stopped(reason.clone());
                }
                fx.push(Effect::StopAccount {
                    account: d.account_name.clone(),
                    reason,
                });
            }
            ErrorClass::Transient => {
                let attempt = d.attempt + 1;
                let slot = &mut self.broadcasters[d.broadcaster];
                let CycleState::Active(ac) = &mut slot.cycle else {
                    return;
                };
                if attempt > slot.pacing.max_retries {
                    ac.failed += 1;
                    fx.push(Effect::Record {
                        delivery: d.clone(),
                        outcome: failed(format!(
                            "{err}; gave up after {} retries",
                            slot.pacing.max_retries
                        )),
                    });
                } else {
                    let until = add(now, slot.pacing.retry_backoff(attempt, d.random_id as u64));
                    ac.retries.push(retry(until, attempt, stale_retried));
                    fx.push(Effect::Record {
                        delivery: d.clone(),
                        outcome: Outcome::Deferred {
                            until,
                            class: class.as_str(),
                            code,
                        },
                    });
                }
            }
        }
        self.settle(d.broadcaster, now, fx);
    }

    fn control(&mut self, c: Control, now: Timestamp, fx: &mut Vec<Effect>) {
        match c {
            Control::Pause(name) => {
                self.set_run(&name, &[RunState::Running], RunState::Paused, "paused", fx)
            }
            Control::Resume(name) => {
                self.set_run(&name, &[RunState::Paused], RunState::Running, "running", fx)
            }
            Control::Stop(name) => self.set_run(
                &name,
                &[RunState::Running, RunState::Paused],
                RunState::Halted,
                "stopped",
                fx,
            ),
            Control::Start(name) => {
                self.set_run(
                    &name,
                    &[RunState::Halted, RunState::Paused],
                    RunState::Running,
                    "running",
                    fx,
                );
                for b in self.broadcasters.iter_mut().filter(|b| *b.name == *name) {
                    if let CycleState::Idle { starts_at, .. } = &mut b.cycle {
                        *starts_at = (*starts_at).min(now);
                    }
                }
            }
            Control::EnableTarget(t) => {
                if self.disabled.remove(&t).is_some() {
                    fx.push(Effect::EnableTarget { target: t });
                }
            }
            Control::DisableTarget(t, reason) => {
                self.disabled.insert(t.clone(), None);
                fx.push(Effect::DisableTarget {
                    target: t,
                    reason,
                    recheck_at: None,
                });
            }
            Control::ReplaceMessages(set) => {
                for b in self
                    .broadcasters
                    .iter_mut()
                    .filter(|b| b.messages.name == set.name)
                {
                    // A broadcaster still waiting for its first version (nothing to send yet)
                    // starts its cycle now, not a whole cycle_delay later; one with texts
                    // switches at its next cycle, as always.
                    let waiting = b.messages.rotation_order().is_empty();
                    b.pending_messages = Some(set.clone());
                    if waiting && let CycleState::Idle { starts_at, .. } = &mut b.cycle {
                        *starts_at = (*starts_at).min(now);
                    }
                }
            }
            Control::AddTarget {
                broadcaster,
                target,
            } => {
                for b in self
                    .broadcasters
                    .iter_mut()
                    .filter(|b| *b.name == *broadcaster)
                {
                    if !b.targets.contains(&target) {
                        b.targets.push(target.clone());
                    }
                }
            }
        }
    }

    /// Why `account` may not send right now (unknown, stopped, paused by Telegram), if so.
    pub fn account_blocked(&self, account: &str, now: Timestamp) -> Option<String> {
        let Some(a) = self.account_id(account).map(|i| &self.accounts[i]) else {
            return Some(format!("account `{account}` is not configured"));
        };
        if let Some(reason) = &a.stopped {
            return Some(format!("account `{account}` is stopped: {reason}"));
        }
        match a.paused_until {
            Some(p) if p > now => Some(format!(
                "account `{account}` is paused by Telegram until {p}"
            )),
            _ => None,
        }
    }

    /// Applies a FLOOD_WAIT that `account` met outside the planner's own sends (a test send):
    /// its broadcasters send nothing before it ends. Returns the effect that records it.
    pub fn pause_account(
        &mut self,
        account: &str,
        err: &SendError,
        key: u64,
        now: Timestamp,
    ) -> Option<Effect> {
        let i = self.account_id(account)?;
        Some(pause(&mut self.accounts[i], err, key, now).1)
    }

    /// Why `account` may not send at `now`, if so: the pacing rule for sends outside the
    /// planner's cycles (test sends), the same as for its own sends.
    pub fn send_hold(&self, account: AccountId, now: Timestamp) -> Option<Hold> {
        let Some(a) = self.accounts.get(account) else {
            return Some(Hold::Stopped(format!(
                "account #{account} is not configured"
            )));
        };
        if let Some(reason) = &a.stopped {
            return Some(Hold::Stopped(format!(
                "account `{}` is stopped: {reason}",
                a.name
            )));
        }
        if let Some(p) = a.paused_until
            && p > now
        {
            return Some(Hold::Paused(p));
        }
        (a.next_send_at > now).then_some(Hold::Gap(a.next_send_at))
    }

    /// Takes the account's next send turn for a send outside the cycles (a test send) when it
    /// may send at `now`: its next send, whichever broadcaster it serves, is then at least
    /// `delay_between_chats` (+ jitter) away. `key` chooses the jitter.
    pub fn claim_send(&mut self, account: AccountId, now: Timestamp, key: u64) -> Result<(), Hold> {
        if let Some(hold) = self.send_hold(account, now) {
            return Err(hold);
        }
        let a = &mut self.accounts[account];
        a.last_gap = a.jitter.extra(a.gap, key);
        a.next_send_at = add(now, a.last_gap);
        Ok(())
    }

    /// A send of `account` (for `broadcaster`, when it is one of the planner's) reached the
    /// gateway at `at`, after its journal write: the gap to the next send counts from here,
    /// so a slow journal write never brings two gateway calls closer than the gap.
    pub fn send_started(
        &mut self,
        account: AccountId,
        broadcaster: Option<BroadcasterId>,
        at: Timestamp,
    ) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.next_send_at = a.next_send_at.max(add(at, a.last_gap));
        }
        if let Some(b) = broadcaster.and_then(|b| self.broadcasters.get_mut(b)) {
            b.next_send_at = b.next_send_at.max(add(at, b.last_gap));
        }
    }

    /// Moves every pacing deadline (gaps, Telegram pauses, retries, cycle delays, re-checks)
    /// by `by`: the driver calls it when the wall clock stepped by `by`, so each wait keeps
    /// the time it had left — no stall after a step back, no burst after a step forward.
    /// Schedules (start hour, quiet hours) are not deadlines: they are read from the wall
    /// clock at each poll.
    pub fn shift_timers(&mut self, by: SignedDuration) {
        let shift = |t: &mut Timestamp| *t = t.checked_add(by).unwrap_or(*t);
        for a in &mut self.accounts {
            shift(&mut a.next_send_at);
            if let Some(p) = &mut a.paused_until {
                shift(p);
            }
        }
        for b in &mut self.broadcasters {
            shift(&mut b.next_send_at);
            match &mut b.cycle {
                CycleState::Idle { starts_at, .. } => shift(starts_at),
                CycleState::Active(ac) => {
                    for r in &mut ac.retries {
                        shift(&mut r.not_before);
                    }
                }
            }
        }
        for recheck in self.disabled.values_mut().flatten() {
            shift(recheck);
        }
    }

    fn set_run(
        &mut self,
        name: &str,
        from: &[RunState],
        to: RunState,
        state: &'static str,
        fx: &mut Vec<Effect>,
    ) {
        for b in self.broadcasters.iter_mut().filter(|b| *b.name == *name) {
            if from.contains(&b.run) {
                b.run = to.clone();
                fx.push(Effect::BroadcasterState {
                    broadcaster: b.name.clone(),
                    state,
                });
            }
        }
    }

    /// Broadcaster names, in configuration order.
    pub fn broadcaster_names(&self) -> Vec<String> {
        self.broadcasters
            .iter()
            .map(|b| b.name.to_string())
            .collect()
    }

    /// Applies states an operator set before a restart (`paused`, `stopped`).
    pub fn restore_states(&mut self, states: &HashMap<String, String>) {
        for b in &mut self.broadcasters {
            if b.run != RunState::Running {
                continue;
            }
            match states.get(&*b.name).map(String::as_str) {
                Some("paused") => b.run = RunState::Paused,
                Some("stopped") => b.run = RunState::Halted,
                _ => {}
            }
        }
    }
}

/// Pauses an account for the wait Telegram asked for: never shorter (jitter only adds), and
/// never ending before a pause already running. Returns when it ends and its effect.
fn pause(acc: &mut AccountSlot, err: &SendError, key: u64, now: Timestamp) -> (Timestamp, Effect) {
    let wait = err.retry_after().unwrap_or(Duration::ZERO);
    let until = add(now, acc.jitter.extra(wait, key).max(wait));
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

fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
