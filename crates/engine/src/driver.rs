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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use smb_domain::{ErrorClass, SendError, TargetRef};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::planner::{Content, Control, Delivery, Effect, Event, Hold, Planner};
use crate::ports::{
    Clock, DeliveryKey, EngineEvent, EventSink, Gateway, Outcome, PendingDelivery, SendRequest,
    SentMessage, Store, StoreError, TargetStatus,
};

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
}

impl Default for DriverSettings {
    fn default() -> Self {
        DriverSettings {
            shutdown_grace: Duration::from_secs(3),
            send_timeout: Duration::from_secs(60),
            test_send_max_pause: Duration::from_secs(60),
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
    anchor: Mutex<Anchor>,
    tests: Vec<TestQueue>,
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
        Ok(Driver {
            shared: Arc::new(Shared {
                planner: Mutex::new(planner),
                store,
                gateway,
                clock,
                sink,
                settings,
                wakers,
                anchor: Mutex::new(Anchor {
                    wall,
                    mono: Instant::now(),
                }),
                tests,
            }),
        })
    }

    pub fn handle(&self) -> DriverHandle {
        DriverHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs until `shutdown` is cancelled, or (with `--once`) until every broadcaster is done.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let accounts = lock(&self.shared).account_count();
        let broadcasters = lock(&self.shared).views().len();
        self.shared.sink.emit(&EngineEvent::Started {
            broadcasters,
            accounts,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for account in 0..accounts {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { account_loop(shared, account, shutdown).await });
        }
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                tracing::error!(error = %e, "an account task ended abnormally");
            }
        }
        let flushed = self.shared.store.flush().await;
        self.shared.sink.emit(&EngineEvent::Stopped);
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
    Ok(())
}

impl DriverHandle {
    pub fn views(&self) -> Vec<crate::planner::BroadcasterView> {
        lock(&self.shared).views()
    }

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
    pub label: String,
    pub account: String,
    pub targets: Vec<TargetRef>,
    pub text: String,
    pub content: Content,
}

/// What became of a test send to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSendResult {
    pub target: TargetRef,
    pub random_id: i64,
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    /// The account may not send now (stopped, paused for longer than a test send waits,
    /// unknown); the message says until when or what to do.
    #[error("{0}")]
    Blocked(String),
    /// The journal could not be written: nothing (more) was sent.
    #[error("the delivery journal could not be written, nothing was sent: {0}")]
    Store(#[from] StoreError),
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
    pub async fn test_send(&self, t: TestSend) -> Result<Vec<TestSendResult>, TestSendError> {
        let shared = &*self.shared;
        let Some(account) = lock(shared).account_id(&t.account) else {
            return Err(TestSendError::Blocked(format!(
                "account `{}` is not configured",
                t.account
            )));
        };
        let _queued = Queued::join(shared, account);
        let _turn = shared.tests[account].turn.lock().await;
        let new_id = || loop {
            let v: i64 = rand::random();
            if v != 0 {
                break v;
            }
        };
        // The first turn is taken before anything is journalled: a refusal leaves no trace.
        let mut random_id = new_id();
        take_turn(shared, account, random_id as u64)
            .await
            .map_err(TestSendError::Blocked)?;
        let cycle = shared
            .store
            .last_cycle(&t.label)
            .await?
            .map_or(1, |c| c.cycle + 1);
        shared
            .store
            .start_cycle(&t.label, cycle, &t.text, shared.now())
            .await?;
        let text: Arc<str> = t.text.as_str().into();
        let mut out = Vec::with_capacity(t.targets.len());
        for (i, target) in t.targets.iter().enumerate() {
            if i > 0 {
                random_id = new_id();
                if let Err(why) = take_turn(shared, account, random_id as u64).await {
                    tracing::warn!(label = %t.label, sent = i, of = t.targets.len(), "test send cut short: {why}");
                    break;
                }
            }
            let key = DeliveryKey {
                broadcaster: t.label.clone(),
                cycle,
                target: target.clone(),
            };
            let pending = PendingDelivery {
                key: key.clone(),
                account: t.account.clone(),
                random_id,
                message: text.clone(),
                attempt: 0,
                at: shared.now(),
            };
            shared.store.write_pending(&pending).await?;
            let request = SendRequest {
                account: &t.account,
                target,
                text: &t.text,
                format: t.content.format,
                media: t.content.media.as_deref(),
                link_preview: t.content.link_preview,
                random_id,
            };
            {
                let (mut planner, now) = shared.lock_now();
                planner.send_started(account, None, now);
            }
            let started = Instant::now();
            let res = send_once(shared, request).await;
            let now = shared.now();
            let outcome = match &res {
                Ok(sent) => Outcome::Sent {
                    message_id: sent.message_id,
                },
                Err(e) => Outcome::Failed {
                    class: e.class().as_str(),
                    code: e.code().to_owned(),
                    detail: e.to_string(),
                },
            };
            if let Err(e) = shared.store.record_outcome(&key, &outcome, now).await {
                shared.sink.emit(&EngineEvent::StoreFailed {
                    detail: e.to_string(),
                });
            }
            shared.sink.emit(&EngineEvent::Delivered {
                broadcaster: t.label.clone(),
                account: t.account.clone(),
                target: target.to_string(),
                random_id,
                outcome: outcome.clone(),
                latency: started.elapsed(),
            });
            out.push(TestSendResult {
                target: target.clone(),
                random_id,
                outcome,
            });
            if let Err(e) = &res
                && e.class() == ErrorClass::AccountPause
            {
                // Telegram's wait binds the account's broadcasters too, and the next target
                // of this test send (which waits it out, or stops here when it is long).
                let pause = lock(shared).pause_account(&t.account, e, random_id as u64, now);
                if let Some(effect) = pause {
                    apply(shared, effect, now).await;
                }
            }
        }
        if let Err(e) = shared
            .store
            .complete_cycle(&t.label, cycle, shared.now())
            .await
        {
            shared.sink.emit(&EngineEvent::StoreFailed {
                detail: e.to_string(),
            });
        }
        Ok(out)
    }
}

/// One gateway call, bounded by the send timeout (a timeout is a transient error).
async fn send_once(shared: &Shared, request: SendRequest<'_>) -> Result<SentMessage, SendError> {
    tokio::time::timeout(shared.settings.send_timeout, shared.gateway.send(request))
        .await
        .unwrap_or_else(|_| Err(SendError::Transient("send timed out".into())))
}

fn lock(shared: &Shared) -> MutexGuard<'_, Planner> {
    // A panic while holding the lock would be a planner bug; keep serving with its state.
    shared.planner.lock().unwrap_or_else(|p| p.into_inner())
}

async fn account_loop(shared: Arc<Shared>, account: usize, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
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
        let (fx, now) = {
            let (mut planner, now) = shared.lock_now();
            (planner.handle(Event::Poll { account }, now), now)
        };
        let mut wait = None;
        for e in fx {
            match e {
                Effect::Wait { until } => wait = Some(until),
                Effect::Send(d) => deliver(&shared, d, &shutdown).await,
                other => apply(&shared, other, now).await,
            }
        }
        if lock(&shared).finished() {
            // `--once` is over (or every account stopped): let the idle tasks end too.
            for w in &shared.wakers {
                w.notify_one();
            }
            return;
        }
        let Some(until) = wait else { continue };
        let sleep = async {
            match until {
                Some(t) => tokio::time::sleep(until_wait(t, shared.now())).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = shared.wakers[account].notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn deliver(shared: &Shared, d: Delivery, shutdown: &CancellationToken) {
    let now = shared.now();
    let pending = PendingDelivery {
        key: d.key(),
        account: d.account_name.to_string(),
        random_id: d.random_id,
        message: d.text.clone(),
        attempt: d.attempt,
        at: now,
    };
    let result = match shared.store.write_pending(&pending).await {
        Err(e) => {
            // Nothing is sent without its journal entry; the planner retries it later.
            shared.sink.emit(&EngineEvent::StoreFailed {
                detail: e.to_string(),
            });
            Err(SendError::Transient(format!("journal write failed: {e}")))
        }
        Ok(()) => {
            {
                let (mut planner, now) = shared.lock_now();
                planner.send_started(d.account, Some(d.broadcaster), now);
            }
            let request = SendRequest {
                account: &d.account_name,
                target: &d.target,
                text: &d.text,
                format: d.content.format,
                media: d.content.media.as_deref(),
                link_preview: d.content.link_preview,
                random_id: d.random_id,
            };
            let started = Instant::now();
            let res = {
                let send = send_once(shared, request);
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
            let (fx, now) = {
                let (mut planner, now) = shared.lock_now();
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
            return;
        }
    };
    let (fx, now) = {
        let (mut planner, now) = shared.lock_now();
        let event = Event::Outcome {
            delivery: d,
            result,
        };
        (planner.handle(event, now), now)
    };
    for e in fx {
        apply(shared, e, now).await;
    }
}

async fn apply(shared: &Shared, effect: Effect, now: Timestamp) {
    let store = &shared.store;
    let sink = &shared.sink;
    let res = match effect {
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
            store.start_cycle(&broadcaster, cycle, &message, now).await
        }
        Effect::Record { delivery, outcome } => {
            store.record_outcome(&delivery.key(), &outcome, now).await
        }
        Effect::RefreshPeer { account, target } => {
            if let Err(e) = shared.gateway.refresh_peer(&account, &target).await {
                tracing::warn!(account = %account, target = %target, error = %e, "peer refresh failed");
            }
            Ok(())
        }
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
            store.complete_cycle(&broadcaster, cycle, now).await
        }
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
            store
                .record_pause(
                    &account,
                    None,
                    "flood_wait",
                    Duration::from_secs(seconds),
                    until,
                    now,
                )
                .await
        }
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
            store
                .record_pause(
                    &account,
                    Some(&target.key()),
                    "slowmode",
                    Duration::from_secs(seconds),
                    until,
                    now,
                )
                .await
        }
        Effect::StopAccount { account, reason } => {
            sink.emit(&EngineEvent::AccountStopped {
                account: account.to_string(),
                reason: reason.clone(),
            });
            store
                .set_account_stopped(&account, Some(&reason), now)
                .await
        }
        Effect::DisableTarget {
            target,
            reason,
            recheck_at,
        } => {
            sink.emit(&EngineEvent::TargetDisabled {
                target: target.to_string(),
                reason: reason.clone(),
            });
            store
                .set_target_status(
                    &target.key(),
                    &TargetStatus::Disabled {
                        reason,
                        since: now,
                        recheck_at,
                    },
                )
                .await
        }
        Effect::EnableTarget { target } => {
            store
                .set_target_status(&target.key(), &TargetStatus::Active)
                .await
        }
        Effect::BadContent { broadcaster, code } => {
            sink.emit(&EngineEvent::BadContent {
                broadcaster: broadcaster.to_string(),
                code,
            });
            Ok(())
        }
        Effect::BroadcasterState { broadcaster, state } => {
            store.set_broadcaster_state(&broadcaster, state, now).await
        }
        Effect::Send(_) | Effect::Wait { .. } => Ok(()),
    };
    if let Err(e) = res {
        sink.emit(&EngineEvent::StoreFailed {
            detail: e.to_string(),
        });
    }
}

/// `t` + `d`, saturating at the end of time.
fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}
