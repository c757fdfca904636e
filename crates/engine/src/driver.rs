//! The driver: carries out the planner's effects through the ports, one task per account.
//!
//! Invariant kept here: a delivery is written `pending` (durably) before the gateway is
//! called, and nothing is sent when that write fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use jiff::Timestamp;
use smb_domain::{ErrorClass, SendError, TargetRef};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::planner::{Content, Control, Delivery, Effect, Event, Planner};
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
}

impl Default for DriverSettings {
    fn default() -> Self {
        DriverSettings {
            shutdown_grace: Duration::from_secs(3),
            send_timeout: Duration::from_secs(60),
        }
    }
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
        restore_planner(&mut planner, store.as_ref(), clock.now()).await?;
        let wakers = (0..planner.account_count())
            .map(|_| Notify::new())
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
    planner.restore(&accounts, &targets, &cycles, now);
    planner.restore_states(&store.broadcaster_states().await?);
    Ok(())
}

impl DriverHandle {
    pub fn views(&self) -> Vec<crate::planner::BroadcasterView> {
        lock(&self.shared).views()
    }

    pub async fn control(&self, control: Control) {
        let now = self.shared.clock.now();
        let fx = lock(&self.shared).handle(Event::Control(control), now);
        for e in fx {
            apply(&self.shared, e, now).await;
        }
        for w in &self.shared.wakers {
            w.notify_one();
        }
    }
}

/// One message sent outside the planner's cycles: the seed's "test broadcasters" (one
/// message of a set to the test list), asked for from the API.
///
/// It goes through the journal like any send (pending first, then the outcome), under its own
/// name (`label`, e.g. `test:b2b`) so it never touches the broadcaster's own cycles. It is
/// refused while the account is paused or stopped, and a flood wait it meets pauses the
/// account for the planner too.
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
    /// The account may not send now (stopped, paused, unknown).
    #[error("{0}")]
    Blocked(String),
    /// The journal could not be written: nothing (more) was sent.
    #[error("the delivery journal could not be written, nothing was sent: {0}")]
    Store(#[from] StoreError),
}

impl DriverHandle {
    /// Sends [`TestSend`]'s text to each of its targets in turn (see there).
    pub async fn test_send(&self, t: TestSend) -> Result<Vec<TestSendResult>, TestSendError> {
        let shared = &self.shared;
        if let Some(why) = lock(shared).account_blocked(&t.account, shared.clock.now()) {
            return Err(TestSendError::Blocked(why));
        }
        let cycle = shared
            .store
            .last_cycle(&t.label)
            .await?
            .map_or(1, |c| c.cycle + 1);
        shared
            .store
            .start_cycle(&t.label, cycle, &t.text, shared.clock.now())
            .await?;
        let text: Arc<str> = t.text.as_str().into();
        let mut out = Vec::with_capacity(t.targets.len());
        for target in &t.targets {
            let random_id = loop {
                let v: i64 = rand::random();
                if v != 0 {
                    break v;
                }
            };
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
                at: shared.clock.now(),
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
            let started = tokio::time::Instant::now();
            let res = send_once(shared, request).await;
            let now = shared.clock.now();
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
                // Telegram's wait binds the account's broadcasters too.
                let pause = lock(shared).pause_account(&t.account, e, random_id as u64, now);
                if let Some(effect) = pause {
                    apply(shared, effect, now).await;
                }
                break;
            }
        }
        if let Err(e) = shared
            .store
            .complete_cycle(&t.label, cycle, shared.clock.now())
            .await
        {
            shared.sink.emit(&EngineEvent::StoreFailed {
                detail: e.to_string(),
            });
        }
        Ok(out)
    }
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
        Ok(Ok(result)) => result,
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

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Planner> {
    // A panic while holding the lock would be a planner bug; keep serving with its state.
    shared.planner.lock().unwrap_or_else(|p| p.into_inner())
}

async fn account_loop(shared: Arc<Shared>, account: usize, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let now = shared.clock.now();
        let fx = lock(&shared).handle(Event::Poll { account }, now);
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
                Some(t) => {
                    let now = shared.clock.now();
                    let d = t.duration_since(now);
                    let d = Duration::try_from(d).unwrap_or(Duration::ZERO);
                    tokio::time::sleep(d).await;
                }
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
    let now = shared.clock.now();
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
            let request = SendRequest {
                account: &d.account_name,
                target: &d.target,
                text: &d.text,
                format: d.content.format,
                media: d.content.media.as_deref(),
                link_preview: d.content.link_preview,
                random_id: d.random_id,
            };
            let started = tokio::time::Instant::now();
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
            let now = shared.clock.now();
            let fx = lock(shared).handle(
                Event::Outcome {
                    delivery: d,
                    result: res,
                },
                now,
            );
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
    let now = shared.clock.now();
    let fx = lock(shared).handle(
        Event::Outcome {
            delivery: d,
            result,
        },
        now,
    );
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
