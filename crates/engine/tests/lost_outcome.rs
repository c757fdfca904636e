//! A lost outcome costs nothing: the SQLite store commits an outcome without its own fsync
//! (it becomes durable with the next pending write's commit), so a power loss can lose the
//! outcomes written since the last pending write. Their deliveries are then `pending` in the
//! journal; the next start re-sends them with the same random_id and Telegram (here the
//! sandbox, which de-duplicates random_ids like Telegram) drops the copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{
    AccountStop, Jitter, Message, MessageSet, OperatorState, Pacing, PauseKind, Rotation, Schedule,
    TargetRef,
};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::{
    DeliveryKey, Driver, DriverSettings, EngineEvent, EventSink, Outcome, PendingDelivery, Store,
    StoreError, StoredAccount, StoredCycle, TargetStatus, TokioClock,
};
use smb_store::{SqliteSettings, SqliteStore};
use smb_telegram::{SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: &EngineEvent) {}
}

/// The SQLite store until the power goes: after `pendings` pending writes have committed,
/// nothing more reaches the file (each later write "succeeds" and is gone, as the
/// not-yet-synced outcome commits are after a power loss).
struct PowerLoss {
    inner: SqliteStore,
    pendings: usize,
    written: AtomicUsize,
    lost: AtomicBool,
}

impl PowerLoss {
    fn gone(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for PowerLoss {
    async fn last_cycle(&self, b: &str) -> Result<Option<StoredCycle>, StoreError> {
        self.inner.last_cycle(b).await
    }
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError> {
        self.inner.accounts().await
    }
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError> {
        self.inner.target_statuses().await
    }
    async fn start_cycle(&self, b: &str, c: u64, m: &str, at: Timestamp) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.start_cycle(b, c, m, at).await,
        }
    }
    async fn write_pending(&self, d: &PendingDelivery) -> Result<(), StoreError> {
        if self.gone() {
            return Ok(());
        }
        self.inner.write_pending(d).await?;
        if self.written.fetch_add(1, Ordering::SeqCst) + 1 == self.pendings {
            self.lost.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.record_outcome(key, outcome, at).await,
        }
    }
    async fn complete_cycle(&self, b: &str, c: u64, at: Timestamp) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.complete_cycle(b, c, at).await,
        }
    }
    async fn set_target_status(&self, t: &str, s: &TargetStatus) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.set_target_status(t, s).await,
        }
    }
    async fn record_pause(
        &self,
        a: &str,
        t: Option<&str>,
        k: PauseKind,
        s: Duration,
        u: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.record_pause(a, t, k, s, u, at).await,
        }
    }
    async fn set_account_stopped(
        &self,
        a: &str,
        r: Option<&AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.set_account_stopped(a, r, at).await,
        }
    }
    async fn flush(&self) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.flush().await,
        }
    }
    async fn probe(&self) -> Result<(), StoreError> {
        self.inner.probe().await
    }
    async fn set_broadcaster_state(
        &self,
        b: &str,
        state: OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self.gone() {
            true => Ok(()),
            false => self.inner.set_broadcaster_state(b, state, at).await,
        }
    }
    async fn recent_deliveries(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<smb_engine::JournalPost>, StoreError> {
        self.inner.recent_deliveries(since).await
    }
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: jiff::Timestamp,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.record_chat_hold(target, reason, until, at).await
    }
    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        self.inner.broadcaster_states().await
    }
    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.record_migration(old, new, account, at).await
    }
    async fn last_sent_at(&self, target: &str) -> Result<Option<Timestamp>, StoreError> {
        self.inner.last_sent_at(target).await
    }
}

const CHATS: [&str; 3] = ["@shop_one", "@shop_two", "@shop_three"];

fn planner(start: Timestamp) -> Planner {
    Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: Duration::from_millis(20),
            jitter: Jitter(0.0),
        }],
        vec![BroadcasterSpec {
            name: "b2b".into(),
            account: "acc1".into(),
            targets: CHATS.iter().map(|c| TargetRef::parse(c).unwrap()).collect(),
            messages: MessageSet::new("b2b", vec![Message::new("b2b price list")]),
            rotation: Rotation::Sequential,
            pacing: Pacing {
                delay_between_chats: Duration::from_millis(20),
                cycle_delay: Duration::from_secs(600),
                jitter: Jitter(0.0),
                max_retries: 3,
                retry_delay: Duration::from_secs(60),
            },
            schedule: Schedule::always(),
            content: Content::default(),
        }],
        PlannerSettings {
            once: true,
            seed: 3,
            ..Default::default()
        },
        start,
    )
    .unwrap()
}

async fn run(store: Arc<dyn Store>, sim: Arc<SimGateway>, clock: Arc<TokioClock>) {
    let driver = Driver::restore(
        planner(clock_now(&clock)),
        store,
        sim,
        clock,
        Arc::new(NullSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    driver.run(CancellationToken::new()).await.unwrap();
}

fn clock_now(clock: &TokioClock) -> Timestamp {
    smb_engine::Clock::now(clock)
}

// Real time (SQLite works on threads; its pool would time out on a paused clock), short gaps.
#[tokio::test]
async fn outcomes_lost_with_the_power_are_recovered_by_resending_the_same_random_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    // One sandbox for both runs: Telegram remembers the random_ids it has seen.
    let sim = Arc::new(
        SimGateway::with_clock(
            SimSettings {
                latency: Duration::from_millis(5),
                seed: 1,
                ledger: None,
                faults: Vec::new(),
                keep_in_memory: true,
            },
            clock.clone(),
        )
        .unwrap(),
    );

    // Run 1: the power goes right after the last chat's pending write committed; its send
    // still reaches Telegram, its outcome and the cycle's completion are lost.
    let inner = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let losing = Arc::new(PowerLoss {
        inner: inner.clone(),
        pendings: CHATS.len(),
        written: AtomicUsize::new(0),
        lost: AtomicBool::new(false),
    });
    run(losing.clone(), sim.clone(), clock.clone()).await;
    assert!(losing.gone());
    assert_eq!(sim.accepted_count(), 3, "every chat got its message");
    drop(losing);
    drop(inner);

    // What the disk holds: the last delivery pending, the cycle open.
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let cycle = store.last_cycle("b2b").await.unwrap().expect("cycle 1");
    assert_eq!(cycle.completed_at, None);
    let lost = cycle
        .deliveries
        .iter()
        .find(|d| d.target == "@shop_three")
        .expect("the last delivery is journalled")
        .clone();
    assert_eq!(lost.status, smb_domain::DeliveryStatus::Pending);
    let sent_ids: Vec<i64> = sim.accepted().iter().map(|(_, e)| e.random_id).collect();
    assert!(sent_ids.contains(&lost.random_id));

    // Run 2 (the restart): the pending delivery is re-sent under its random_id and dropped as
    // a duplicate; no chat gets a second message and the cycle completes.
    run(Arc::new(store.clone()), sim.clone(), clock.clone()).await;
    assert_eq!(
        sim.duplicates(),
        1,
        "the re-send was a duplicate of the lost outcome's send"
    );
    assert_eq!(sim.accepted_count(), 3, "no chat got a second message");
    let mut per_chat: HashMap<String, usize> = HashMap::new();
    for (_, e) in sim.accepted() {
        *per_chat.entry(e.chat.clone()).or_default() += 1;
    }
    assert!(per_chat.values().all(|&n| n == 1), "{per_chat:?}");
    let cycle = store.last_cycle("b2b").await.unwrap().expect("cycle 1");
    assert_eq!(cycle.cycle, 1);
    assert!(
        cycle.completed_at.is_some(),
        "the restart completed the cycle"
    );
}
