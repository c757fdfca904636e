//! The driver: carries out the planner's effects through the ports, one task per account.
//!
//! Invariants kept here: a delivery is written `pending` (durably) before the gateway is
//! called, and nothing is sent when that write fails. Every send of an account — its
//! broadcasters' and the test sends — takes a turn from the planner, so two are never closer
//! than its `delay_between_chats`.
//!
//! Time: the planner's `now` is the engine's time (see [`Anchor`]): it advances with the
//! monotonic clock, so pacing never stalls or bursts when the wall clock is set; a wall-clock
//! step is detected, logged, and the planner's deadlines are moved by it.
//!
//! "Never send blind" holds for every account at once: the first journal write that fails (or
//! [`Store::watch`] finding the database file deleted or replaced) closes one gate that every
//! account loop waits on before it asks the planner for a send. The writes that failed, and
//! those made while the gate is closed, queue in order; a watcher task probes the journal with
//! backoff (1 s doubling to 30 s) and, once a real write succeeds, replays the queue and opens
//! the gate again. [`DriverHandle::journal`] tells the daemon's status, `/readyz` and the
//! dashboard; [`EngineEvent::JournalDown`] / [`EngineEvent::JournalUp`] the log and notifications.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt as _;
use jiff::{SignedDuration, Timestamp};
use smb_domain::{AccountStop, ErrorClass, OperatorState, PauseKind, SendError, TargetRef};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod follow;

use crate::planner::{Content, Control, Delivery, Effect, Event, Hold, Planner};
use crate::ports::{
    Clock, DeliveryKey, EngineEvent, EventSink, Gateway, Outcome, PendingDelivery, SendRequest,
    SentMessage, Store, StoreError, TargetStatus,
};

/// Timeouts of the driver; `Default` gives the daemon's values.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// How long an in-flight send may finish after shutdown was asked for; past it the
    /// send is abandoned and stays `pending`, to be re-sent with the same random_id.
    pub shutdown_grace: Duration,
    /// Upper bound on one gateway call.
    pub send_timeout: Duration,
    /// A test send waits for a Telegram pause of its account up to this long; a longer one
    /// refuses it, with the time the pause ends.
    pub test_send_max_pause: Duration,
    /// Run the pre-flight check (see [`crate::preflight`]) before the first send and then
    /// every this long; `None` (the default): never. The daemon's `preflight_every` setting.
    pub preflight_every: Option<Duration>,
    /// Pause between two Telegram look-ups of that check (Telegram answers a burst of
    /// look-ups with FLOOD_WAIT).
    pub preflight_pause: Duration,
}

impl Default for DriverSettings {
    fn default() -> Self {
        DriverSettings {
            shutdown_grace: Duration::from_secs(3),
            send_timeout: Duration::from_secs(60),
            test_send_max_pause: Duration::from_secs(60),
            preflight_every: None,
            preflight_pause: Duration::from_millis(500),
        }
    }
}

/// A wall clock further than this from the engine's monotonic time has been stepped (NTP,
/// an operator, a resume from suspend); smaller differences are left alone.
const CLOCK_STEP: SignedDuration = SignedDuration::from_secs(2);

/// The longest an account task sleeps without reading the wall clock again: a step is noticed
/// and a schedule boundary (start hour, quiet hours) met within this, whatever the wall clock
/// did during the sleep.
const WALL_RECHECK: Duration = Duration::from_secs(60);

/// The engine's time: the wall clock as read at the anchor, plus the monotonic time since.
/// The planner gets it as `now`, so every gap, pause, retry and cycle delay runs on the
/// monotonic clock; the anchor moves (and the planner's deadlines with it) only when the wall
/// clock is found stepped.
struct Anchor {
    wall: Timestamp,
    mono: Instant,
}

/// Test sends waiting for (or taking) an account's turn.
#[derive(Default)]
struct TestQueue {
    /// In arrival order (tokio's mutex is fair).
    turn: tokio::sync::Mutex<()>,
    /// How many wait; while any does, the account's task sends nothing of its own, so a test
    /// send gets the next turn instead of racing the broadcasters for it.
    waiting: AtomicUsize,
}

struct Shared {
    // std's Mutex: the planner is pure and fast, and the lock is never held across an await.
    planner: Mutex<Planner>,
    store: Arc<dyn Store>,
    gateway: Arc<dyn Gateway>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    settings: DriverSettings,
    wakers: Vec<Notify>,
    journal: Journal,
    anchor: Mutex<Anchor>,
    tests: Vec<TestQueue>,
    /// Per account: its part of the first pre-flight check is done (always true without a
    /// check). An account sends nothing before; the others do not wait for it.
    ready: Vec<std::sync::atomic::AtomicBool>,
    /// The follow-ups port (issue 15), when the gateway offers it ([`Driver::set_follow_ups`]);
    /// without it every broadcaster posts as `post_mode = "new"`.
    follow_ups: std::sync::OnceLock<Arc<dyn crate::ports::FollowUps>>,
    /// Per account: follow-ups waiting for its next turn (see [`follow`]).
    queues: Vec<Mutex<VecDeque<follow::Queued>>>,
    /// How long recent pending writes took: a send's pending write starts this much ahead of
    /// its due moment (see [`PendingLead`]).
    lead: Mutex<PendingLead>,
}

/// How far ahead of a send's due moment its pending write starts (issue 18: pacing error
/// p99 ≤ 5 ms). The pending write is durable (an fsync: 2–55 ms on a loaded disk), and it
/// sat between the timer and the send, so every gap came out longer by that write. Now an
/// account task wakes [`PendingLead::lead`] before the due moment, asks the planner for that
/// moment's send (the planner gets the due moment as `now`, so it decides exactly what it
/// would decide then), writes the pending row, and calls the gateway on the due moment.
///
/// The lead is the slowest of the last [`PendingLead::WINDOW`] pending writes plus 1 ms,
/// within 1–200 ms: a write slower than every recent one only makes that send late, never
/// early. Deciding up to 200 ms early means a pause or disable that arrives in those
/// milliseconds applies from the next send, as one arriving during the pending write
/// always did.
#[derive(Debug, Default)]
struct PendingLead {
    /// The last writes' durations, oldest first, at most [`PendingLead::WINDOW`].
    recent: VecDeque<Duration>,
}

impl PendingLead {
    const WINDOW: usize = 32;
    const MIN: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_millis(200);

    fn note(&mut self, took: Duration) {
        if self.recent.len() == Self::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    fn lead(&self) -> Duration {
        let slowest = self.recent.iter().max().copied().unwrap_or_default();
        (slowest + Duration::from_millis(1)).clamp(Self::MIN, Self::MAX)
    }
}

/// Whether the journal takes writes (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum JournalState {
    /// Writes succeed; accounts send.
    Up,
    /// Nothing is sent, from any account, until a probe write succeeds.
    Down {
        /// The failure, as the store reported it (the last one, while probes keep failing).
        reason: String,
        /// When the first failure was seen.
        since: Timestamp,
        /// Probe writes tried since.
        probes: u32,
    },
}

impl JournalState {
    /// Whether writes succeed ([`JournalState::Up`]).
    pub fn is_up(&self) -> bool {
        matches!(self, JournalState::Up)
    }
}

/// First wait between probes of a journal that is down; doubles up to [`PROBE_MAX`].
const PROBE_FIRST: Duration = Duration::from_secs(1);
const PROBE_MAX: Duration = Duration::from_secs(30);
/// How often the database file's identity is looked at while the journal is up.
const WATCH_EVERY: Duration = Duration::from_secs(1);

struct Journal {
    state: watch::Sender<JournalState>,
    /// Writes that failed, and every write made while the journal is down, in order; replayed
    /// before the gate opens again. Only ever non-empty while the state is `Down`.
    backlog: Mutex<VecDeque<Write>>,
}

/// A journal write other than `pending` (which is never queued: its delivery is not sent).
#[derive(Debug, Clone)]
enum Write {
    StartCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        message: Arc<str>,
        at: Timestamp,
    },
    Outcome {
        key: DeliveryKey,
        outcome: Outcome,
        at: Timestamp,
    },
    CompleteCycle {
        broadcaster: Arc<str>,
        cycle: u64,
        at: Timestamp,
    },
    Target {
        target: String,
        status: TargetStatus,
    },
    Pause {
        account: Arc<str>,
        target: Option<String>,
        kind: PauseKind,
        seconds: u64,
        until: Timestamp,
        at: Timestamp,
    },
    Stopped {
        account: Arc<str>,
        reason: AccountStop,
        at: Timestamp,
    },
    State {
        broadcaster: Arc<str>,
        state: OperatorState,
        at: Timestamp,
    },
    Hold {
        target: String,
        reason: String,
        until: Timestamp,
        at: Timestamp,
    },
    Refusal(crate::ports::StoredRefusal),
    ClearRefusal {
        account: Arc<str>,
        target: String,
    },
    /// Follow-ups to our posts written pending (issue 15; see [`follow`]).
    FollowUps {
        rows: Vec<crate::ports::FollowUp>,
        at: Timestamp,
    },
    FollowUpDone {
        row: crate::ports::FollowUp,
        result: crate::ports::FollowUpResult,
        at: Timestamp,
    },
}

impl Write {
    async fn perform(&self, store: &dyn Store) -> Result<(), StoreError> {
        match self {
            Write::StartCycle {
                broadcaster,
                cycle,
                message,
                at,
            } => store.start_cycle(broadcaster, *cycle, message, *at).await,
            Write::Outcome { key, outcome, at } => store.record_outcome(key, outcome, *at).await,
            Write::CompleteCycle {
                broadcaster,
                cycle,
                at,
            } => store.complete_cycle(broadcaster, *cycle, *at).await,
            Write::Target { target, status } => store.set_target_status(target, status).await,
            Write::Pause {
                account,
                target,
                kind,
                seconds,
                until,
                at,
            } => {
                store
                    .record_pause(
                        account,
                        target.as_deref(),
                        *kind,
                        Duration::from_secs(*seconds),
                        *until,
                        *at,
                    )
                    .await
            }
            Write::Stopped {
                account,
                reason,
                at,
            } => store.set_account_stopped(account, Some(reason), *at).await,
            Write::State {
                broadcaster,
                state,
                at,
            } => store.set_broadcaster_state(broadcaster, *state, *at).await,
            Write::Hold {
                target,
                reason,
                until,
                at,
            } => store.record_chat_hold(target, reason, *until, *at).await,
            Write::Refusal(r) => store.record_refusal(r).await,
            Write::ClearRefusal { account, target } => store.clear_refusal(account, target).await,
            Write::FollowUps { rows, at } => store.write_follow_ups(rows, *at).await,
            Write::FollowUpDone { row, result, at } => {
                store.record_follow_up(row, result, *at).await
            }
        }
    }
}

impl Shared {
    /// The planner, locked, and the engine's time read under that lock, so a detected clock
    /// step and the shift of the planner's deadlines happen together, before anyone uses the
    /// new time.
    fn lock_now(&self) -> (MutexGuard<'_, Planner>, Timestamp) {
        let mut planner = lock(self);
        let wall = self.clock.now();
        let mono = Instant::now();
        let mut anchor = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let engine = add(anchor.wall, mono.duration_since(anchor.mono));
        let step = wall.duration_since(engine);
        if step.abs() <= CLOCK_STEP {
            if step > SignedDuration::ZERO {
                // Drift, not a step: the monotonic clock fell behind the wall clock that
                // Telegram's waits are measured by. Catch up (no timer shift, no event), so a
                // wait stored as a wall time is never short when a restarted process reads it
                // (found by the chaos soak: pauses 10–600 ms early after a restart).
                *anchor = Anchor { wall, mono };
                return (planner, wall);
            }
            return (planner, engine);
        }
        planner.shift_timers(step);
        *anchor = Anchor { wall, mono };
        drop(anchor);
        // The log line comes from the sink (`LogSink`), like every engine event's.
        self.sink.emit(&EngineEvent::ClockStepped {
            seconds: step.as_secs(),
        });
        (planner, wall)
    }

    /// The engine's time (see [`Shared::lock_now`]).
    fn now(&self) -> Timestamp {
        self.lock_now().1
    }

    /// How far ahead of a due moment the next pending write starts ([`PendingLead`]).
    fn lead(&self) -> Duration {
        self.lead.lock().unwrap_or_else(|p| p.into_inner()).lead()
    }

    fn note_pending_write(&self, took: Duration) {
        self.lead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(took);
    }
}

/// Runs the planner against real ports.
pub struct Driver {
    shared: Arc<Shared>,
}

/// Talks to a running driver: operator commands and live views.
#[derive(Clone)]
pub struct DriverHandle {
    shared: Arc<Shared>,
}

impl Driver {
    /// Builds a driver and restores the planner from what the store remembers.
    pub async fn restore(
        mut planner: Planner,
        store: Arc<dyn Store>,
        gateway: Arc<dyn Gateway>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
        settings: DriverSettings,
    ) -> Result<Self, StoreError> {
        let wall = clock.now();
        restore_planner(&mut planner, store.as_ref(), wall).await?;
        let wakers = (0..planner.account_count())
            .map(|_| Notify::new())
            .collect();
        let tests = (0..planner.account_count())
            .map(|_| TestQueue::default())
            .collect();
        let queues = follow::restore(&planner, store.as_ref()).await?;
        let checking = settings.preflight_every.is_some();
        let ready = (0..planner.account_count())
            .map(|_| std::sync::atomic::AtomicBool::new(!checking))
            .collect();
        Ok(Driver {
            shared: Arc::new(Shared {
                planner: Mutex::new(planner),
                store,
                gateway,
                clock,
                sink,
                settings,
                wakers,
                journal: Journal {
                    state: watch::Sender::new(JournalState::Up),
                    backlog: Mutex::new(VecDeque::new()),
                },
                anchor: Mutex::new(Anchor {
                    wall,
                    mono: Instant::now(),
                }),
                tests,
                ready,
                follow_ups: std::sync::OnceLock::new(),
                queues,
                lead: Mutex::new(PendingLead::default()),
            }),
        })
    }

    /// Gives the driver the follow-ups port (issue 15: `post_mode`, `pin`), before
    /// [`Driver::run`]. Without it every broadcaster posts as `post_mode = "new"`. A second
    /// call is ignored.
    pub fn set_follow_ups(&self, port: Arc<dyn crate::ports::FollowUps>) {
        let _ = self.shared.follow_ups.set(port);
    }

    /// A cheap, clonable handle for the CLI, the web API and the control socket.
    pub fn handle(&self) -> DriverHandle {
        DriverHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs until `shutdown` is cancelled, or (with `--once`) until every broadcaster is done.
    ///
    /// While the journal is down nothing is sent and `--once` waits for it to come back (the
    /// probes are logged); stopped then, this returns the journal's failure as `Err`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let accounts = lock(&self.shared).account_count();
        let broadcasters = lock(&self.shared).views().len();
        self.shared.sink.emit(&EngineEvent::Started {
            broadcasters,
            accounts,
        });
        // The first check runs while accounts send: each account's own part of it ends before
        // that account's first send (a chat it cannot write to is disabled before its cycle
        // reaches it); the other accounts do not wait for it.
        let first = self.shared.settings.preflight_every.map(|every| {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = preflight_round(&shared, every) => {}
                }
                // Stopped early, or an account the check did not reach: nobody waits on.
                release_all(&shared);
            })
        });
        let mut tasks = tokio::task::JoinSet::new();
        for account in 0..accounts {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { account_loop(shared, account, shutdown).await });
        }
        let watching = CancellationToken::new();
        let watcher = tokio::spawn(watch_journal(self.shared.clone(), watching.clone()));
        let checker = self.shared.settings.preflight_every.map(|every| {
            tokio::spawn(preflight_daily(
                self.shared.clone(),
                every,
                watching.clone(),
                first,
            ))
        });
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                tracing::error!(error = %e, "an account task ended abnormally");
            }
        }
        watching.cancel();
        let _ = watcher.await;
        if let Some(checker) = checker {
            let _ = checker.await;
        }
        let flushed = self.shared.store.flush().await;
        self.shared.sink.emit(&EngineEvent::Stopped);
        let state = self.shared.journal.state.borrow().clone();
        if let JournalState::Down { reason, .. } = state {
            let queued = lock_backlog(&self.shared).len();
            return Err(StoreError::Invalid(format!(
                "stopped while the journal did not take writes ({reason}); nothing was sent \
                 without its journal entry. {queued} outcome(s) could not be written: those \
                 deliveries stay pending and are re-sent with their own random_id (Telegram \
                 drops the copy) at the next start"
            )));
        }
        flushed
    }
}

/// Applies what the store remembers to a fresh planner (see [`Planner::restore`]).
pub async fn restore_planner(
    planner: &mut Planner,
    store: &dyn Store,
    now: Timestamp,
) -> Result<(), StoreError> {
    let accounts = store.accounts().await?;
    let targets = store.target_statuses().await?;
    let mut cycles = std::collections::HashMap::new();
    for view in planner.views() {
        if let Some(c) = store.last_cycle(&view.name).await? {
            cycles.insert(view.name, c);
        }
    }
    if let Some(ahead) = planner.restore(&accounts, &targets, &cycles, now) {
        tracing::warn!(
            seconds = ahead.as_secs(),
            "the journal holds sends up to {} s in the future: the wall clock was set back; \
             pacing counts them as just made",
            ahead.as_secs()
        );
    }
    planner.restore_states(&store.broadcaster_states().await?);
    // Our posts of the last days (per-chat rules, slow mode) and who attempted what.
    let since = now
        .checked_sub(SignedDuration::from_hours(8 * 24))
        .unwrap_or(Timestamp::MIN);
    planner.restore_journal(&store.recent_deliveries(since).await?, now);
    // Slow-mode waits Telegram told before the restart hold as they did (issue 19).
    planner.restore_chat_pauses(&store.chat_pauses(now).await?, now);
    // Targets that refused one account keep it out until their re-check (QA F2).
    planner.restore_refusals(&store.refusals(now).await?, now);
    Ok(())
}

impl DriverHandle {
    /// A snapshot of every broadcaster's state, for `stats`, the dashboard and the control socket.
    pub fn views(&self) -> Vec<crate::planner::BroadcasterView> {
        lock(&self.shared).views()
    }

    /// Whether the journal takes writes; while `Down`, no account sends.
    pub fn journal(&self) -> JournalState {
        self.shared.journal.state.borrow().clone()
    }

    /// Until when `account` may not send because Telegram paused it (a flood wait), or
    /// `Timestamp::MAX` while it is stopped; `None` when it may send (its gap aside). Reach
    /// reads ask it: none is made while the account's sends are paused (issue 17).
    pub fn send_paused(&self, account: &str) -> Option<Timestamp> {
        let (planner, now) = self.shared.lock_now();
        let id = planner.account_id(account)?;
        match planner.send_hold(id, now) {
            Some(Hold::Paused(until)) => Some(until),
            Some(Hold::Stopped(_)) => Some(Timestamp::MAX),
            Some(Hold::Gap(_)) | None => None,
        }
    }

    /// Targets held back by their chat's rules or slow mode now, with why and until when.
    pub fn chat_holds(&self) -> Vec<crate::planner::ChatHoldView> {
        let (planner, now) = self.shared.lock_now();
        planner.chat_holds(now)
    }

    /// Feeds a pre-flight check's findings (slow mode, membership) to the planner; every
    /// account looks again (a backup may now post somewhere).
    pub fn chat_info(&self, info: crate::planner::ChatFacts) {
        {
            let (mut planner, now) = self.shared.lock_now();
            planner.handle(Event::ChatInfo(info), now);
        }
        for w in &self.shared.wakers {
            w.notify_one();
        }
    }

    /// Applies an operator command (pause, resume, stop …) to the planner and carries out its effects now.
    pub async fn control(&self, control: Control) {
        let (fx, now) = {
            let (mut planner, now) = self.shared.lock_now();
            (planner.handle(Event::Control(control), now), now)
        };
        for e in fx {
            apply(&self.shared, e, now).await;
        }
        for w in &self.shared.wakers {
            w.notify_one();
        }
    }
}

/// One message sent outside the planner's cycles: the seed's "test broadcasters" (one
/// message of a set to the test list), asked for from the CLI, the API or the dashboard.
///
/// It goes through the journal like any send (pending first, then the outcome), under its own
/// name (`label`, e.g. `test:b2b`) so it never touches the broadcaster's own cycles. It is
/// paced like any send of its account: each target waits for the account's turn (the
/// `delay_between_chats` gap shared with its broadcasters, which hold back while a test send
/// waits), concurrent test sends queue in arrival order, and a Telegram pause of the account
/// is waited out when it ends within `DriverSettings::test_send_max_pause`. The request is
/// refused when the account is stopped or paused for longer (before anything is sent; once
/// some targets were sent, the rest are left out and the results say so by their number). A
/// flood wait it meets pauses the account for the planner too. Schedules (quiet hours, start
/// hour) do not apply: the operator asked for it now.
#[derive(Debug, Clone)]
pub struct TestSend {
    /// Name the deliveries are journaled under (`test:BROADCASTER`), kept apart from the broadcaster's cycles.
    pub label: String,
    /// Account that sends.
    pub account: String,
    /// Where to send, in order.
    pub targets: Vec<TargetRef>,
    /// The message text, in the set's format.
    pub text: String,
    /// Format and media of the broadcaster whose message it is.
    pub content: Content,
}

/// What became of a test send to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSendResult {
    /// The target.
    pub target: TargetRef,
    /// The `random_id` given to Telegram (journal key of the send).
    pub random_id: i64,
    /// What happened: sent with its message id, or the error.
    pub outcome: Outcome,
}

/// Why a test send was refused or cut short.
#[derive(Debug)]
pub enum TestSendError {
    /// The account may not send now (stopped, paused for longer than a test send waits,
    /// unknown); the message says until when or what to do.
    Blocked(String),
    /// The journal could not be written: nothing (more) was sent. The message includes the
    /// store's; `source()` is the store's own cause, so `{:#}` prints each reason once.
    Store(StoreError),
}

impl std::fmt::Display for TestSendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestSendError::Blocked(why) => f.write_str(why),
            TestSendError::Store(e) => write!(
                f,
                "the delivery journal could not be written, nothing was sent: {e}"
            ),
        }
    }
}

impl std::error::Error for TestSendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestSendError::Blocked(_) => None,
            TestSendError::Store(e) => std::error::Error::source(e),
        }
    }
}

impl From<StoreError> for TestSendError {
    fn from(e: StoreError) -> Self {
        TestSendError::Store(e)
    }
}

/// A test send's place in its account's queue; leaving it (done, failed, or the request
/// dropped) lets the account's own sends go on.
struct Queued<'a> {
    shared: &'a Shared,
    account: usize,
}

impl<'a> Queued<'a> {
    fn join(shared: &'a Shared, account: usize) -> Self {
        shared.tests[account].waiting.fetch_add(1, Ordering::SeqCst);
        Queued { shared, account }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.shared.tests[self.account]
            .waiting
            .fetch_sub(1, Ordering::SeqCst);
        self.shared.wakers[self.account].notify_one();
    }
}

/// Waits for `account`'s next send turn and takes it (see [`Planner::claim_send`]); `Err`
/// says why the account cannot send within the test send's bound.
async fn take_turn(shared: &Shared, account: usize, key: u64) -> Result<(), String> {
    loop {
        let (until, now) = {
            let (mut planner, now) = shared.lock_now();
            match planner.claim_send(account, now, key) {
                Ok(()) => return Ok(()),
                Err(Hold::Stopped(why)) => return Err(why),
                Err(Hold::Paused(until)) => {
                    let left = until.duration_since(now);
                    if left
                        > SignedDuration::try_from(shared.settings.test_send_max_pause)
                            .unwrap_or(SignedDuration::MAX)
                    {
                        return Err(format!(
                            "account `{}` is paused by Telegram until {until} ({} s from now); \
                             send the test after that",
                            planner.account_name(account),
                            left.as_secs()
                        ));
                    }
                    (until, now)
                }
                Err(Hold::Gap(until)) => (until, now),
            }
        };
        tokio::time::sleep(until_wait(until, now)).await;
    }
}

/// How long to sleep towards `until` from the engine time `now`: never longer than
/// [`WALL_RECHECK`], so the wall clock is looked at again in time.
fn until_wait(until: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(until.duration_since(now))
        .unwrap_or(Duration::ZERO)
        .min(WALL_RECHECK)
}

impl DriverHandle {
    /// Sends [`TestSend`]'s text to each of its targets in turn, paced (see there).
    ///
    /// The rules: nothing is sent while the journal does not take writes, or for an account
    /// that is not configured; the test queues behind the account's other tests and takes the
    /// account's turns like its broadcasters (a refusal of the first turn leaves no trace;
    /// of a later one, it cuts the test short); the sends are journalled as one cycle of
    /// `t.label` (the next after its last), completed however far the test got.
    pub async fn test_send(&self, t: TestSend) -> Result<Vec<TestSendResult>, TestSendError> {
        if let JournalState::Down { reason, .. } = self.journal() {
            return Err(TestSendError::Blocked(format!(
                "the delivery journal does not take writes ({reason}); nothing is sent until it does"
            )));
        }
        let shared = &*self.shared;
        let Some(account) = lock(shared).account_id(&t.account) else {
            return Err(TestSendError::Blocked(format!(
                "account `{}` is not configured",
                t.account
            )));
        };
        let _queued = Queued::join(shared, account);
        let _turn = shared.tests[account].turn.lock().await;
        // The first turn is taken before anything is journalled: a refusal leaves no trace.
        let mut random_id = nonzero_random_id();
        take_turn(shared, account, random_id as u64)
            .await
            .map_err(TestSendError::Blocked)?;
        let cycle = start_test_cycle(shared, &t).await?;
        let text: Arc<str> = t.text.as_str().into();
        let mut out = Vec::with_capacity(t.targets.len());
        for (i, target) in t.targets.iter().enumerate() {
            if i > 0 {
                random_id = nonzero_random_id();
                if let Err(why) = take_turn(shared, account, random_id as u64).await {
                    tracing::warn!(label = %t.label, sent = i, of = t.targets.len(), "test send cut short: {why}");
                    break;
                }
            }
            if !shared.journal.state.borrow().is_up() {
                break;
            }
            let key = DeliveryKey {
                broadcaster: t.label.clone(),
                cycle,
                target: target.clone(),
            };
            out.push(test_one(shared, &t, account, key, random_id, &text).await?);
        }
        record(
            shared,
            Write::CompleteCycle {
                broadcaster: t.label.as_str().into(),
                cycle,
                at: shared.now(),
            },
        )
        .await;
        Ok(out)
    }
}

/// A `random_id` for Telegram: random, never 0.
fn nonzero_random_id() -> i64 {
    loop {
        let v: i64 = rand::random();
        if v != 0 {
            break v;
        }
    }
}

/// Journals the cycle a test send runs as: the one after `t.label`'s last (1 for the first).
/// A failed write takes the journal down.
async fn start_test_cycle(shared: &Shared, t: &TestSend) -> Result<u64, TestSendError> {
    let cycle = shared
        .store
        .last_cycle(&t.label)
        .await?
        .map_or(1, |c| c.cycle + 1);
    if let Err(e) = shared
        .store
        .start_cycle(&t.label, cycle, &t.text, shared.now())
        .await
    {
        journal_down(shared, &e);
        return Err(e.into());
    }
    Ok(cycle)
}

/// One target of a test send, like a broadcaster's delivery: journalled pending before the
/// call, its outcome recorded and told to the sink. A wait Telegram tells binds the account's
/// broadcasters too, and the next target of this test send (which waits it out, or stops
/// there when it is long). A pending write that fails takes the journal down.
async fn test_one(
    shared: &Shared,
    t: &TestSend,
    account: usize,
    key: DeliveryKey,
    random_id: i64,
    text: &Arc<str>,
) -> Result<TestSendResult, TestSendError> {
    let pending = PendingDelivery {
        key: key.clone(),
        account: t.account.clone(),
        random_id,
        message: text.clone(),
        variant: None,
        attempt: 0,
        at: shared.now(),
    };
    if let Err(e) = shared.store.write_pending(&pending).await {
        journal_down(shared, &e);
        return Err(e.into());
    }
    let (res, now, latency) = send_test(shared, t, account, &key.target, random_id).await;
    let outcome = match &res {
        Ok(sent) => Outcome::Sent {
            message_id: sent.message_id,
        },
        Err(e) => Outcome::Failed {
            class: e.class(),
            code: e.code().to_owned(),
            detail: e.to_string(),
        },
    };
    record(
        shared,
        Write::Outcome {
            key: key.clone(),
            outcome: outcome.clone(),
            at: now,
        },
    )
    .await;
    shared.sink.emit(&EngineEvent::Delivered {
        broadcaster: t.label.clone(),
        account: t.account.clone(),
        target: key.target.to_string(),
        random_id,
        outcome: outcome.clone(),
        latency,
    });
    if let Err(e) = &res
        && e.class() == ErrorClass::AccountPause
    {
        let pause = lock(shared).pause_account(&t.account, e, random_id as u64, now);
        if let Some(effect) = pause {
            apply(shared, effect, now).await;
        }
    }
    Ok(TestSendResult {
        target: key.target,
        random_id,
        outcome,
    })
}

/// The gateway call of one test send, counted as the account's send when it starts and
/// again when it is answered (see `deliver`); gives the answer, the engine time then and
/// how long the call took.
async fn send_test(
    shared: &Shared,
    t: &TestSend,
    account: usize,
    target: &TargetRef,
    random_id: i64,
) -> (Result<SentMessage, SendError>, Timestamp, Duration) {
    let request = SendRequest {
        account: &t.account,
        target,
        text: &t.text,
        format: t.content.format,
        media: t.content.media.as_deref(),
        link_preview: t.content.link_preview,
        random_id,
        variant: None,
    };
    {
        let (mut planner, now) = shared.lock_now();
        planner.send_started(account, None, now);
    }
    let started = Instant::now();
    let res = send_content(shared, request, &t.content.album, &mut Vec::new()).await;
    let latency = started.elapsed();
    // Counted from the answer too: see `deliver`.
    let (mut planner, now) = shared.lock_now();
    planner.send_started(account, None, now);
    (res, now, latency)
}

/// One gateway call, bounded by the send timeout (a timeout is a transient error). A panic in
/// the gateway (formatting included) fails this delivery as bad content (SEND_PANICKED): the
/// account's loop goes on, the operator is told like for any bad content, and the delivery
/// is no longer pending, so a restart does not send it into the same panic again.
async fn send_once(shared: &Shared, request: SendRequest<'_>) -> Result<SentMessage, SendError> {
    let (account, target) = (request.account, request.target);
    let send = std::panic::AssertUnwindSafe(shared.gateway.send(request)).catch_unwind();
    match tokio::time::timeout(shared.settings.send_timeout, send).await {
        Err(_) => Err(SendError::Transient("send timed out".into())),
        Ok(Ok(result)) => {
            if result.is_ok() && target.is_basic_group() {
                note_migration(shared, account, target).await;
            }
            result
        }
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(account, target = %target, panic = %what, "the send panicked; this delivery fails as bad content");
            Err(SendError::rpc(smb_domain::SEND_PANICKED, None))
        }
    }
}

/// Sends one delivery's content: an album (`content.album`, issue 15) as one
/// messages.sendMultiMedia through the follow-ups port — item `i`'s random_id is
/// [`crate::ports::album_item_random_id`] of the journalled `random_id`, the text the first
/// item's caption — answered with the first item's id (the post follow-ups act on; the other
/// items' ids go to `other_items`); anything else through [`send_once`]. Bounded and panic-safe like [`send_once`]. A gateway without
/// the follow-ups port cannot send albums: ALBUM_NOT_SUPPORTED.
async fn send_content(
    shared: &Shared,
    request: SendRequest<'_>,
    album: &[std::path::PathBuf],
    other_items: &mut Vec<i64>,
) -> Result<SentMessage, SendError> {
    if album.is_empty() {
        return send_once(shared, request).await;
    }
    let Some(port) = shared.follow_ups.get() else {
        tracing::error!(account = request.account, target = %request.target, "this gateway cannot send albums");
        return Err(SendError::rpc("ALBUM_NOT_SUPPORTED", None));
    };
    let items: Vec<crate::ports::AlbumItem<'_>> = album
        .iter()
        .enumerate()
        .map(|(i, media)| crate::ports::AlbumItem {
            media,
            random_id: crate::ports::album_item_random_id(request.random_id, i),
        })
        .collect();
    let (account, target) = (request.account, request.target);
    let album_request = crate::ports::AlbumRequest {
        account,
        target,
        caption: request.text,
        format: request.format,
        items: &items,
    };
    let send = std::panic::AssertUnwindSafe(port.send_album(album_request)).catch_unwind();
    match tokio::time::timeout(shared.settings.send_timeout, send).await {
        Err(_) => Err(SendError::Transient("send timed out".into())),
        Ok(Ok(Ok(sent))) => {
            if target.is_basic_group() {
                note_migration(shared, account, target).await;
            }
            let ids = sent.message_ids.unwrap_or_default();
            if let Some(rest) = ids.get(1..) {
                other_items.extend_from_slice(rest);
            }
            Ok(SentMessage {
                message_id: ids.first().copied(),
            })
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => {
            tracing::error!(account, target = %target, "the album send panicked; this delivery fails as bad content");
            Err(SendError::rpc(smb_domain::SEND_PANICKED, None))
        }
    }
}

/// After a send into a basic group: when the gateway followed the group's upgrade to a
/// supergroup, the store keeps old → new and the operator is told, once per group. A store
/// error only costs the record (the post went out; the next send tries again).
async fn note_migration(shared: &Shared, account: &str, target: &TargetRef) {
    let Some(new_id) = shared.gateway.migrated_to(account, target).await else {
        return;
    };
    let old = target.key();
    match shared
        .store
        .record_migration(&old, &new_id.to_string(), account, shared.now())
        .await
    {
        Ok(true) => shared.sink.emit(&EngineEvent::ChatMigrated {
            account: account.to_owned(),
            target: old,
            new_id,
        }),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(account, target = %target, new_id, error = %e, "the group's upgrade could not be recorded");
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Planner> {
    // A panic while holding the lock would be a planner bug; keep serving with its state.
    shared.planner.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_backlog(shared: &Shared) -> std::sync::MutexGuard<'_, VecDeque<Write>> {
    shared
        .journal
        .backlog
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Closes the gate: no account sends until the journal takes writes again.
fn journal_down(shared: &Shared, e: &StoreError) {
    let reason = e.report();
    let since = shared.clock.now();
    let closed = shared.journal.state.send_if_modified(|s| {
        if s.is_up() {
            *s = JournalState::Down {
                reason: reason.clone(),
                since,
                probes: 0,
            };
            true
        } else {
            false
        }
    });
    if closed {
        shared
            .sink
            .emit(&EngineEvent::JournalDown { detail: reason });
    }
}

/// Writes `w` to the journal, or queues it behind the writes that failed: while the journal is
/// down nothing is written out of order. A failure closes the gate.
async fn record(shared: &Shared, w: Write) {
    {
        let mut backlog = lock_backlog(shared);
        if !backlog.is_empty() || !shared.journal.state.borrow().is_up() {
            backlog.push_back(w);
            return;
        }
    }
    if let Err(e) = w.perform(shared.store.as_ref()).await {
        lock_backlog(shared).push_back(w);
        journal_down(shared, &e);
    }
}

/// Waits until the journal takes writes; false when `shutdown` came first.
async fn journal_open(shared: &Shared, shutdown: &CancellationToken) -> bool {
    let mut rx = shared.journal.state.subscribe();
    tokio::select! {
        r = rx.wait_for(JournalState::is_up) => r.is_ok(),
        _ = shutdown.cancelled() => false,
    }
}

/// Watches the database file while the journal is up; while it is down, probes it with
/// backoff, replays the queued writes and opens the gate again.
/// The pre-flight check every `every` after the first (see [`preflight_round`]), which runs
/// as `first`.
async fn preflight_daily(
    shared: Arc<Shared>,
    every: Duration,
    stop: CancellationToken,
    first: Option<tokio::task::JoinHandle<()>>,
) {
    if let Some(mut first) = first {
        tokio::select! {
            () = stop.cancelled() => {
                first.abort();
                return;
            }
            _ = &mut first => {}
        }
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = preflight_round(&shared, every) => {}
        }
    }
}

/// Lets every account send (the first check is over, or was stopped).
fn release_all(shared: &Shared) {
    for (ready, waker) in shared.ready.iter().zip(&shared.wakers) {
        if !ready.swap(true, Ordering::SeqCst) {
            waker.notify_one();
        }
    }
}

/// Waits until `account`'s part of the first pre-flight check is done; `false` when shut
/// down first.
async fn own_check_done(shared: &Shared, account: usize, shutdown: &CancellationToken) -> bool {
    while !shared.ready[account].load(Ordering::SeqCst) {
        tokio::select! {
            _ = shared.wakers[account].notified() => {}
            _ = shutdown.cancelled() => return false,
        }
    }
    true
}

/// One pre-flight check over the planner's (account, target) pairs, all accounts at the same
/// time (Telegram's limits are per account; each account keeps its own pause between
/// look-ups). As each account finishes, its slow mode and membership facts go to the planner
/// ([`Event::ChatInfo`]), then the verdicts of the round so far ([`Event::Checked`]): a
/// target no posting account can write to is disabled with the reason until the next check
/// (decided once every account posting there is done), one that passes again is enabled.
/// That account may send from then on (the first check gates each account on its own part
/// only) and every account looks again.
async fn preflight_round(shared: &Arc<Shared>, every: Duration) {
    let plan = {
        let (planner, now) = shared.lock_now();
        planner.check_plan(now)
    };
    let options = crate::preflight::CheckOptions {
        pause: shared.settings.preflight_pause,
        unavailable: plan.unavailable,
    };
    let mut by_account: std::collections::BTreeMap<String, Vec<(String, TargetRef)>> =
        std::collections::BTreeMap::new();
    for pair in plan.pairs {
        by_account.entry(pair.0.clone()).or_default().push(pair);
    }
    {
        let (mut planner, now) = shared.lock_now();
        // No effects: it only marks what is not known yet.
        let _ = planner.handle(
            Event::CheckStarted {
                accounts: by_account.keys().map(|a| Arc::from(a.as_str())).collect(),
            },
            now,
        );
    }
    // Accounts with nothing to check send right away.
    {
        let planner = lock(shared);
        for (i, ready) in shared.ready.iter().enumerate() {
            let name = planner.account_name(i);
            if !by_account.contains_key(name) && !ready.swap(true, Ordering::SeqCst) {
                shared.wakers[i].notify_one();
            }
        }
    }
    let round = Mutex::new(Round {
        waiting: by_account.keys().map(|a| Arc::from(a.as_str())).collect(),
        rows: Vec::new(),
        pairs: 0,
        checked: 0,
        blocked: 0,
    });
    let accounts = by_account.iter().map(|(account, pairs)| {
        let round = &round;
        let options = &options;
        async move {
            let mut rows = Vec::with_capacity(pairs.len());
            crate::preflight::check_account(shared.gateway.as_ref(), pairs, options, |_, r| {
                rows.push(r);
            })
            .await;
            account_checked(shared, account, &rows, round, every).await;
        }
    });
    futures_util::future::join_all(accounts).await;
    let round = round.into_inner().unwrap_or_else(|p| p.into_inner());
    tracing::info!(
        pairs = round.pairs,
        checked = round.checked,
        blocked = round.blocked,
        "pre-flight check done"
    );
}

/// A pre-flight round's findings so far (see [`preflight_round`]).
struct Round {
    /// Accounts still checking.
    waiting: Vec<Arc<str>>,
    /// Every answered row of the finished accounts.
    rows: Vec<crate::planner::TargetCheck>,
    pairs: usize,
    checked: usize,
    blocked: usize,
}

/// `account`'s part of a round is done: its facts and the round's verdicts so far go to the
/// planner, their effects are carried out, and the account may send.
async fn account_checked(
    shared: &Shared,
    account: &str,
    rows: &[crate::preflight::CheckRow],
    round: &Mutex<Round>,
    every: Duration,
) {
    let (fx, now) = {
        let mut round = round.lock().unwrap_or_else(|p| p.into_inner());
        round.waiting.retain(|w| &**w != account);
        round.pairs += rows.len();
        let checked: Vec<_> = rows.iter().filter(|r| r.checked).collect();
        round.checked += checked.len();
        round.blocked += checked.iter().filter(|r| !r.can_write).count();
        round.rows.extend(
            checked.iter().map(|r| crate::planner::TargetCheck {
                account: r.account.as_str().into(),
                target: r.target.clone(),
                text_refused: (!r.can_write).then(|| {
                    r.reason()
                        .unwrap_or_else(|| "a text post would be refused".to_owned())
                }),
                media_refused: (!r.can_send_media)
                    .then(|| "media (photos, documents) would be refused".to_owned()),
            }),
        );
        let (mut planner, now) = shared.lock_now();
        for r in &checked {
            planner.handle(
                Event::ChatInfo(crate::planner::ChatFacts {
                    account: r.account.clone(),
                    chat: r.target.chat.clone(),
                    member: Some(r.member),
                    slowmode_seconds: Some(r.slow_mode_seconds.unwrap_or(0)),
                }),
                now,
            );
        }
        let recheck_at = add(now, every);
        (
            planner.handle(
                Event::Checked {
                    rows: round.rows.clone(),
                    recheck_at,
                    waiting: round.waiting.clone(),
                },
                now,
            ),
            now,
        )
    };
    for e in fx {
        apply(shared, e, now).await;
    }
    if let Some(i) = lock(shared).account_id(account) {
        shared.ready[i].store(true, Ordering::SeqCst);
    }
    for w in &shared.wakers {
        w.notify_one();
    }
}

async fn watch_journal(shared: Arc<Shared>, stop: CancellationToken) {
    let mut rx = shared.journal.state.subscribe();
    let mut backoff = PROBE_FIRST;
    loop {
        let up = rx.borrow_and_update().is_up();
        if up {
            backoff = PROBE_FIRST;
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = rx.changed() => continue,
                _ = stop.cancelled() => return,
            }
            if let Err(e) = shared.store.watch().await {
                journal_down(&shared, &e);
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        match recover(&shared).await {
            Ok(()) => {}
            Err(e) => {
                let mut probes = 0;
                shared.journal.state.send_if_modified(|s| {
                    if let JournalState::Down {
                        reason, probes: n, ..
                    } = s
                    {
                        *reason = e.report();
                        *n += 1;
                        probes = *n;
                    }
                    false
                });
                backoff = (backoff * 2).min(PROBE_MAX);
                tracing::warn!(
                    error = %e.report(), probes, next_probe_in_s = backoff.as_secs(),
                    "the journal still does not take writes; nothing is sent meanwhile"
                );
            }
        }
    }
}

/// One attempt to bring the journal back: the file check, a probe write, the queued writes in
/// order; then the gate opens.
async fn recover(shared: &Shared) -> Result<(), StoreError> {
    let store = shared.store.as_ref();
    store.watch().await?;
    store.probe().await?;
    loop {
        let next = lock_backlog(shared).front().cloned();
        let Some(w) = next else {
            let backlog = lock_backlog(shared);
            if !backlog.is_empty() {
                continue;
            }
            let was = shared.journal.state.send_replace(JournalState::Up);
            drop(backlog);
            let since = match was {
                JournalState::Down { since, .. } => since,
                JournalState::Up => shared.clock.now(),
            };
            let down_for = shared.clock.now().duration_since(since);
            shared.sink.emit(&EngineEvent::JournalUp {
                down_for: Duration::try_from(down_for).unwrap_or(Duration::ZERO),
            });
            for w in &shared.wakers {
                w.notify_one();
            }
            return Ok(());
        };
        match w.perform(store).await {
            Ok(()) => {}
            // Only a write the database refuses for its data can never succeed: dropped, loudly.
            Err(e) if e.is_rejected_write() => {
                tracing::error!(write = ?w, error = %e.report(), "a queued journal write is rejected for its data; it is dropped");
            }
            // Anything else (a disk that is still full although the probe fitted, an I/O
            // error) keeps the write queued and the journal down: no outcome is ever lost.
            Err(e) => return Err(e),
        }
        lock_backlog(shared).pop_front();
    }
}

async fn account_loop(shared: Arc<Shared>, account: usize, shutdown: CancellationToken) {
    // The due moment this task woke [`PendingLead`] ahead of, for the next poll.
    let mut ahead_of: Option<Timestamp> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        // The account's own part of the first pre-flight check comes before its first send.
        if !own_check_done(&shared, account, &shutdown).await {
            return;
        }
        // Never send blind: no account asks for a send while the journal is down.
        if !journal_open(&shared, &shutdown).await {
            return;
        }
        if shared.tests[account].waiting.load(Ordering::SeqCst) > 0 {
            // A test send waits for this account's turn: it goes first; its `Queued` wakes
            // this task when it is done.
            tokio::select! {
                _ = shared.wakers[account].notified() => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        // Follow-ups to our posts (delete, pin, unpin) take the account's next turns before
        // its next send: paced like sends, held by its Telegram pauses.
        match follow::next(&shared, account).await {
            follow::Turn::Ran => continue,
            follow::Turn::Wait(until) => {
                tokio::select! {
                    _ = tokio::time::sleep(until_wait(until, shared.now())) => {}
                    _ = shared.wakers[account].notified() => {}
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            follow::Turn::Idle => {}
        }
        // Woken `lead` ahead of a due moment: the planner is asked as of that moment, and
        // a send it gives is written pending now and sent on the moment (see `PendingLead`).
        let (fx, now, due) = {
            let (mut planner, now) = shared.lock_now();
            // A clock step since the wake moves the planner's deadlines, not `ahead_of`: a
            // due moment further ahead than any lead is stale and not used.
            let due = ahead_of.take().filter(|due| {
                *due > now
                    && Duration::try_from(due.duration_since(now))
                        .is_ok_and(|d| d <= PendingLead::MAX)
            });
            let at = due.unwrap_or(now);
            (planner.handle(Event::Poll { account }, at), at, due)
        };
        let mut wait = None;
        for e in fx {
            match e {
                Effect::Wait { until } => wait = Some(until),
                Effect::Send(d) => deliver(&shared, d, due, &shutdown).await,
                other => apply(&shared, other, now).await,
            }
        }
        if lock(&shared).finished() && follow::none_queued(&shared, account) {
            // `--once` is over (or every account stopped): let the idle tasks end too.
            for w in &shared.wakers {
                w.notify_one();
            }
            return;
        }
        // Follow-ups queued by this poll's send take the next turn (their own wait).
        if !follow::none_queued(&shared, account) {
            continue;
        }
        let Some(until) = wait else { continue };
        let early = until.map(|t| (t, ahead(t, shared.lead())));
        let sleep = async {
            match early {
                Some((_, wake)) => tokio::time::sleep(until_wait(wake, shared.now())).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {
                // Within the lead of the due moment (not a wall-clock re-check on the way).
                if let Some((t, wake)) = early && shared.now() >= wake {
                    ahead_of = Some(t);
                }
            }
            _ = shared.wakers[account].notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// `t` less `lead`, the moment an account task wakes to prepare a send due at `t`.
fn ahead(t: Timestamp, lead: Duration) -> Timestamp {
    let lead = SignedDuration::try_from(lead).unwrap_or(SignedDuration::ZERO);
    t.checked_sub(lead).unwrap_or(t)
}

/// Journals `d` pending, then sends it — not before `due` when the planner gave it ahead of
/// its moment (see [`PendingLead`]) — and hands the answer to the planner.
async fn deliver(
    shared: &Shared,
    d: Delivery,
    due: Option<Timestamp>,
    shutdown: &CancellationToken,
) {
    let now = shared.now();
    let pending = PendingDelivery {
        key: d.key(),
        account: d.account_name.to_string(),
        random_id: d.random_id,
        message: d.text.clone(),
        variant: d.variant.clone(),
        attempt: d.attempt,
        at: now,
    };
    // Nothing is sent without its journal entry. A pending write that fails (or a gate that
    // closed since this send was planned) is not an attempt: the delivery waits for the
    // journal and is written again, so it uses no retry and its target is never skipped.
    loop {
        let state = shared.journal.state.borrow().clone();
        let written = match state {
            JournalState::Up => {
                let began = Instant::now();
                let written = shared.store.write_pending(&pending).await;
                if written.is_ok() {
                    shared.note_pending_write(began.elapsed());
                }
                written
            }
            JournalState::Down { reason, .. } => Err(StoreError::Invalid(reason)),
        };
        match written {
            Ok(()) => break,
            Err(e) => {
                journal_down(shared, &e);
                if !journal_open(shared, shutdown).await {
                    // Shut down first: never written, so the next start plans it again.
                    return;
                }
            }
        }
    }
    // Our previous post in this chat, when the broadcaster edits, replaces or pins (issue 15).
    let plan = follow::Plan::for_delivery(shared, &d).await;
    if let Some(due) = due {
        // Written ahead: the call goes out on the due moment, never before it.
        tokio::select! {
            _ = tokio::time::sleep(until_wait(due, shared.now())) => {}
            // Journalled and not sent: the next start sends it with the same random_id.
            _ = shutdown.cancelled() => return,
        }
    }
    {
        let (mut planner, now) = shared.lock_now();
        planner.send_started(d.account, Some(d.broadcaster), now);
    }
    let started = Instant::now();
    let mut edited = follow::Edit::NotTried;
    let mut album = Vec::new();
    let res = {
        let send = follow::edit_or_send(shared, &d, &plan, &mut edited, &mut album);
        tokio::pin!(send);
        tokio::select! {
            r = &mut send => r,
            _ = shutdown.cancelled() => {
                match tokio::time::timeout(shared.settings.shutdown_grace, &mut send).await {
                    Ok(r) => r,
                    // Abandoned: the delivery stays pending and is re-sent with the
                    // same random_id on the next start.
                    Err(_) => return,
                }
            }
        }
    };
    let latency = started.elapsed();
    let res = follow::learn_id(shared, &d, &plan, res).await;
    // Before the outcome: the post's follow-ups and its record, so a restart that loses the
    // outcome still knows the post (see `follow`).
    if let Ok(SentMessage {
        message_id: Some(new_id),
    }) = &res
    {
        follow::after_post(shared, &plan, *new_id, album, edited, shared.now()).await;
    }
    let (fx, now) = {
        let (mut planner, now) = shared.lock_now();
        // The gap also counts from the answer: Telegram took the message somewhere between
        // the call and the answer, so only then is the next send surely a full gap after it
        // as Telegram sees it, however long each send spent on the way (the seed's loop
        // slept after each answer too).
        planner.send_started(d.account, Some(d.broadcaster), now);
        let event = Event::Outcome {
            delivery: d,
            result: res,
        };
        (planner.handle(event, now), now)
    };
    for e in fx {
        if let Effect::Record { delivery, outcome } = &e {
            shared.sink.emit(&EngineEvent::Delivered {
                broadcaster: delivery.broadcaster_name.to_string(),
                account: delivery.account_name.to_string(),
                target: delivery.target.to_string(),
                random_id: delivery.random_id,
                outcome: outcome.clone(),
                latency,
            });
        }
        apply(shared, e, now).await;
    }
}

/// Carries out one planner effect besides sends and waits: each is told to the event sink
/// and written to the store through [`record`], except a peer refresh (a gateway call whose
/// failure is only logged) and bad content (told, nothing stored). An account's pause or stop
/// first wakes every account loop: its broadcasters' backup accounts may take over now.
async fn apply(shared: &Shared, effect: Effect, now: Timestamp) {
    let sink = &*shared.sink;
    let write = match effect {
        Effect::StartCycle { .. }
        | Effect::Record { .. }
        | Effect::CompleteCycle { .. }
        | Effect::BroadcasterState { .. } => cycle_write(sink, effect, now),
        Effect::PauseAccount { .. } | Effect::StopAccount { .. } => {
            for w in &shared.wakers {
                w.notify_one();
            }
            account_write(sink, effect, now)
        }
        Effect::PauseChat { .. }
        | Effect::ChatHeld { .. }
        | Effect::RefusedHere { .. }
        | Effect::AllowedHere { .. } => chat_write(sink, effect, now),
        Effect::DisableTarget { .. } | Effect::EnableTarget { .. } => {
            target_write(sink, effect, now)
        }
        Effect::RefreshPeer { account, target } => {
            if let Err(e) = shared.gateway.refresh_peer(&account, &target).await {
                tracing::warn!(account = %account, target = %target, error = %e, "peer refresh failed");
            }
            return;
        }
        Effect::BadContent { broadcaster, code } => {
            sink.emit(&EngineEvent::BadContent {
                broadcaster: broadcaster.to_string(),
                code,
            });
            return;
        }
        Effect::Send(_) | Effect::Wait { .. } => return,
    };
    if let Some(write) = write {
        record(shared, write).await;
    }
}

/// A cycle's start and completion (told and written), a delivery's outcome and a
/// broadcaster's state (written); `None` for any other effect.
fn cycle_write(sink: &dyn EventSink, effect: Effect, now: Timestamp) -> Option<Write> {
    Some(match effect {
        Effect::StartCycle {
            broadcaster,
            cycle,
            message,
            targets,
        } => {
            sink.emit(&EngineEvent::CycleStarted {
                broadcaster: broadcaster.to_string(),
                cycle,
                targets,
            });
            Write::StartCycle {
                broadcaster,
                cycle,
                message,
                at: now,
            }
        }
        Effect::Record { delivery, outcome } => Write::Outcome {
            key: delivery.key(),
            outcome,
            at: now,
        },
        Effect::CompleteCycle {
            broadcaster,
            cycle,
            sent,
            failed,
        } => {
            sink.emit(&EngineEvent::CycleCompleted {
                broadcaster: broadcaster.to_string(),
                cycle,
                sent,
                failed,
            });
            Write::CompleteCycle {
                broadcaster,
                cycle,
                at: now,
            }
        }
        Effect::BroadcasterState { broadcaster, state } => Write::State {
            broadcaster,
            state,
            at: now,
        },
        _ => return None,
    })
}

/// An account's flood wait (a pause of kind `FloodWait`) or its stop by Telegram, told and
/// written; `None` for any other effect.
fn account_write(sink: &dyn EventSink, effect: Effect, now: Timestamp) -> Option<Write> {
    Some(match effect {
        Effect::PauseAccount {
            account,
            until,
            seconds,
            code,
        } => {
            sink.emit(&EngineEvent::AccountPaused {
                account: account.to_string(),
                until,
                seconds,
                code,
            });
            Write::Pause {
                account,
                target: None,
                kind: PauseKind::FloodWait,
                seconds,
                until,
                at: now,
            }
        }
        Effect::StopAccount { account, reason } => {
            sink.emit(&EngineEvent::AccountStopped {
                account: account.to_string(),
                reason: reason.clone(),
            });
            Write::Stopped {
                account,
                reason,
                at: now,
            }
        }
        _ => return None,
    })
}

/// A chat's slow mode for one account (a pause of kind `SlowMode`) or a chat held before
/// sending, told and written; `None` for any other effect.
fn chat_write(sink: &dyn EventSink, effect: Effect, now: Timestamp) -> Option<Write> {
    Some(match effect {
        Effect::PauseChat {
            account,
            target,
            until,
            seconds,
        } => {
            sink.emit(&EngineEvent::ChatPaused {
                account: account.to_string(),
                target: target.to_string(),
                until,
                seconds,
            });
            Write::Pause {
                account,
                target: Some(target.key()),
                kind: PauseKind::SlowMode,
                seconds,
                until,
                at: now,
            }
        }
        Effect::ChatHeld {
            broadcaster,
            account,
            target,
            reason,
            until,
            skipped,
        } => {
            sink.emit(&EngineEvent::ChatHeld {
                broadcaster: broadcaster.to_string(),
                account: account.to_string(),
                target: target.to_string(),
                reason: reason.clone(),
                until,
                skipped,
            });
            // One account's refusal has its own row (written when it was found), not a
            // chat hold's.
            if matches!(reason, smb_domain::HoldReason::Refused { .. }) {
                return None;
            }
            Write::Hold {
                target: target.key(),
                reason: reason.encode(),
                until,
                at: now,
            }
        }
        Effect::RefusedHere {
            account,
            target,
            reason,
            code,
            until,
            renewed,
        } => {
            let why = match reason {
                smb_domain::HoldReason::Refused { why, .. } => why,
                other => other.to_string(),
            };
            if !renewed {
                sink.emit(&EngineEvent::AccountRefusedHere {
                    account: account.to_string(),
                    target: target.to_string(),
                    reason: why.clone(),
                    code: code.clone(),
                    until,
                });
            }
            Write::Refusal(crate::ports::StoredRefusal {
                account: account.to_string(),
                target: target.key(),
                code,
                reason: why,
                until,
                at: now,
            })
        }
        Effect::AllowedHere { account, target } => Write::ClearRefusal {
            account,
            target: target.key(),
        },
        _ => return None,
    })
}

/// A target disabled (told and written, since `now`, with its recheck time) or enabled again
/// (written); `None` for any other effect.
fn target_write(sink: &dyn EventSink, effect: Effect, now: Timestamp) -> Option<Write> {
    Some(match effect {
        Effect::DisableTarget {
            target,
            reason,
            recheck_at,
        } => {
            sink.emit(&EngineEvent::TargetDisabled {
                target: target.to_string(),
                reason: reason.clone(),
            });
            Write::Target {
                target: target.key(),
                status: TargetStatus::Disabled {
                    reason,
                    since: now,
                    recheck_at,
                },
            }
        }
        Effect::EnableTarget { target } => {
            sink.emit(&EngineEvent::TargetEnabled {
                target: target.to_string(),
            });
            Write::Target {
                target: target.key(),
                status: TargetStatus::Active,
            }
        }
        _ => return None,
    })
}

/// `t` + `d`, saturating at the end of time.
fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_send_store_error_printed_its_reason_twice() {
        let chain = |err: &TestSendError| {
            let mut full = err.to_string();
            let mut next = std::error::Error::source(err);
            while let Some(s) = next {
                full.push_str(&format!(": {s}"));
                next = s.source();
            }
            full
        };
        let full = chain(&TestSendError::from(StoreError::Invalid(
            "the disk is full".into(),
        )));
        assert_eq!(
            full,
            "the delivery journal could not be written, nothing was sent: the disk is full"
        );
        // A database error with a context and a cause: each said once, the cause kept.
        let full = chain(&TestSendError::from(StoreError::Database {
            context: Some("writing a delivery".into()),
            source: Some(std::sync::Arc::new(std::io::Error::other("disk I/O error"))),
        }));
        assert_eq!(
            full,
            "the delivery journal could not be written, nothing was sent: database error: writing a delivery: disk I/O error"
        );
    }
}
