//! A lost outcome costs nothing: the SQLite store commits an outcome without its own fsync
//! (it becomes durable with the next pending write's commit), so a power loss can lose the
//! outcomes written since the last pending write. Their deliveries are then `pending` in the
//! journal; the next start re-sends them with the same random_id and Telegram (here the
//! sandbox, which de-duplicates random_ids like Telegram) drops the copy.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::Jitter;
use smb_engine::planner::Planner;
use smb_engine::testing::{Hook, Hooked, PlannerSetup, Verdict, Write, pacing};
use smb_engine::{Driver, DriverSettings, EngineEvent, EventSink, Store, TokioClock};
use smb_store::{SqliteSettings, SqliteStore};
use smb_telegram::{SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: &EngineEvent) {}
}

/// The SQLite store until the power goes: after `pendings` pending writes have committed,
/// nothing more reaches the file (each later write "succeeds" and is gone, as the
/// not-yet-synced outcome commits are after a power loss). Probes still reach it.
struct PowerLoss {
    pendings: usize,
    written: AtomicUsize,
    lost: AtomicBool,
}

impl PowerLoss {
    fn gone(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Hook for PowerLoss {
    fn before(&self, write: Write<'_>) -> Verdict {
        match write {
            Write::Probe => Verdict::Forward,
            _ if self.gone() => Verdict::Drop,
            Write::Pending(_) => {
                // This write still commits; the power goes right after it.
                if self.written.fetch_add(1, Ordering::SeqCst) + 1 == self.pendings {
                    self.lost.store(true, Ordering::SeqCst);
                }
                Verdict::Forward
            }
            _ => Verdict::Forward,
        }
    }
}

const CHATS: [&str; 3] = ["@shop_one", "@shop_two", "@shop_three"];

fn planner(start: Timestamp) -> Planner {
    let gap = Duration::from_millis(20);
    PlannerSetup::once()
        .account("acc1", gap, Jitter(0.0))
        .broadcaster("b2b", "acc1", CHATS, pacing(gap))
        .build(start)
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
    let losing = Arc::new(Hooked::new(
        inner.clone(),
        PowerLoss {
            pendings: CHATS.len(),
            written: AtomicUsize::new(0),
            lost: AtomicBool::new(false),
        },
    ));
    run(losing.clone(), sim.clone(), clock.clone()).await;
    assert!(losing.hook.gone());
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
