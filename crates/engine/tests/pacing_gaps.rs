//! No gap between two sends of one account is ever shorter than its `delay_between_chats`,
//! measured where Telegram sees them (the sandbox gateway's clock), on tokio's paused clock:
//! jitter only lengthens the gap, and the gap counts from the moment the gateway is called,
//! after the journal write, so a journal write of varying length never shortens the next
//! gap (issue 18: with ± jitter 362 of 1,485 gaps were short; with none, up to 8.7 ms short).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{
    AccountStop, Jitter, Message, MessageSet, OperatorState, Pacing, PauseKind, Rotation, Schedule,
    TargetRef, mix64,
};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::testing::MemoryStore;
use smb_engine::{
    DeliveryKey, Driver, DriverSettings, EngineEvent, EventSink, Outcome, PendingDelivery, Store,
    StoreError, StoredAccount, StoredCycle, TargetStatus, TokioClock,
};
use smb_telegram::{SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: &EngineEvent) {}
}

/// The in-memory journal, with pending writes that take 0–299 ms (chosen by the random_id),
/// like a disk under load.
#[derive(Default)]
struct SlowJournal(MemoryStore);

#[async_trait]
impl Store for SlowJournal {
    async fn last_cycle(&self, b: &str) -> Result<Option<StoredCycle>, StoreError> {
        self.0.last_cycle(b).await
    }
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError> {
        self.0.accounts().await
    }
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError> {
        self.0.target_statuses().await
    }
    async fn start_cycle(&self, b: &str, c: u64, m: &str, at: Timestamp) -> Result<(), StoreError> {
        self.0.start_cycle(b, c, m, at).await
    }
    async fn write_pending(&self, d: &PendingDelivery) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_millis(mix64(d.random_id as u64) % 300)).await;
        self.0.write_pending(d).await
    }
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.record_outcome(key, outcome, at).await
    }
    async fn complete_cycle(&self, b: &str, c: u64, at: Timestamp) -> Result<(), StoreError> {
        self.0.complete_cycle(b, c, at).await
    }
    async fn set_target_status(&self, t: &str, s: &TargetStatus) -> Result<(), StoreError> {
        self.0.set_target_status(t, s).await
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
        self.0.record_pause(a, t, k, s, u, at).await
    }
    async fn set_account_stopped(
        &self,
        a: &str,
        r: Option<&AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.set_account_stopped(a, r, at).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.0.flush().await
    }
    async fn probe(&self) -> Result<(), StoreError> {
        self.0.probe().await
    }
    async fn set_broadcaster_state(
        &self,
        b: &str,
        state: OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.set_broadcaster_state(b, state, at).await
    }
    async fn recent_deliveries(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<smb_engine::JournalPost>, StoreError> {
        self.0.recent_deliveries(since).await
    }
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: jiff::Timestamp,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.0.record_chat_hold(target, reason, until, at).await
    }
    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        self.0.broadcaster_states().await
    }
    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        self.0.record_migration(old, new, account, at).await
    }
    async fn last_sent_at(&self, target: &str) -> Result<Option<Timestamp>, StoreError> {
        self.0.last_sent_at(target).await
    }
}

const DELAY: Duration = Duration::from_secs(1);

fn broadcaster(name: &str, chats: usize, jitter: Jitter) -> BroadcasterSpec {
    BroadcasterSpec {
        name: name.into(),
        account: "acc1".into(),
        targets: (0..chats)
            .map(|i| TargetRef::parse(&format!("@{name}_{i:03}")).unwrap())
            .collect(),
        messages: MessageSet::new(name, vec![Message::new(format!("{name} price list"))]),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: DELAY,
            // Shorter than the gap: the account's gap binds across cycles too.
            cycle_delay: Duration::from_millis(500),
            jitter,
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
        },
        schedule: Schedule::always(),
        content: Content::default(),
    }
}

/// Gaps (seconds) between consecutive sends of acc1, as the gateway saw them, over
/// `cycles` cycles of two broadcasters with 100 chats each.
async fn gaps(jitter: Jitter, cycles: usize) -> Vec<f64> {
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let sim = Arc::new(
        SimGateway::with_clock(
            SimSettings {
                latency: Duration::from_millis(40),
                seed: 1,
                ledger: None,
                faults: Vec::new(),
                keep_in_memory: true,
            },
            clock.clone(),
        )
        .unwrap(),
    );
    let planner = Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: DELAY,
            jitter,
        }],
        vec![
            broadcaster("b2b", 100, jitter),
            broadcaster("b2c", 100, jitter),
        ],
        PlannerSettings {
            once: false,
            seed: 3,
            ..Default::default()
        },
        start,
    )
    .unwrap();
    let driver = Driver::restore(
        planner,
        Arc::new(SlowJournal::default()),
        sim.clone(),
        clock.clone(),
        Arc::new(NullSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let run = tokio::spawn(async move { driver.run(token).await.unwrap() });
    let want = cycles * 200;
    while (sim.accepted_count() as usize) < want {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    stop.cancel();
    run.await.unwrap();
    let mut at: Vec<Timestamp> = sim
        .accepted()
        .into_iter()
        .map(|(_, e)| e.at.parse().unwrap())
        .collect();
    at.sort();
    at.windows(2)
        .map(|w| (w[1] - w[0]).total(jiff::Unit::Second).unwrap())
        .collect()
}

fn short(gaps: &[f64]) -> Vec<f64> {
    gaps.iter().copied().filter(|g| *g < 1.0).collect()
}

#[tokio::test(start_paused = true)]
async fn with_the_readmes_jitter_no_gap_is_shorter_than_the_delay() {
    let gaps = gaps(Jitter(0.1), 3).await;
    assert!(gaps.len() >= 599, "{}", gaps.len());
    assert_eq!(short(&gaps), Vec::<f64>::new());
    // Jitter spreads the gaps over [1 s, 1.1 s], on top of the journal write and the send.
    assert!(gaps.iter().any(|g| *g > 1.05), "jitter spreads the gaps");
    assert!(
        gaps.iter().all(|g| *g <= 1.1 + 0.3 + 0.04 + 1e-9),
        "{gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_jitter_no_gap_is_shorter_than_the_delay_whatever_the_journal_write_takes() {
    let gaps = gaps(Jitter(0.0), 2).await;
    assert!(gaps.len() >= 399, "{}", gaps.len());
    assert_eq!(short(&gaps), Vec::<f64>::new());
}

#[tokio::test(start_paused = true)]
async fn with_the_largest_jitter_no_gap_is_shorter_than_the_delay() {
    let gaps = gaps(Jitter(0.5), 2).await;
    assert!(gaps.len() >= 399, "{}", gaps.len());
    assert_eq!(short(&gaps), Vec::<f64>::new());
    assert!(gaps.iter().any(|g| *g > 1.3), "jitter spreads the gaps");
}
