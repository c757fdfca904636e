//! Driver tests on tokio's paused clock, with the sandbox gateway and the engine's in-memory
//! store (a test double of our own Store trait; the SQLite store has its own tests).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{Jitter, TargetRef};
use smb_engine::planner::PlannerSettings;
use smb_engine::testing::{MemoryStore, PlannerSetup, pacing};
use smb_engine::{Clock, Driver, DriverSettings, EngineEvent, EventSink, TokioClock};
use smb_telegram::{FaultRule, SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorder(Mutex<Vec<(Timestamp, EngineEvent)>>);

struct RecordingSink {
    clock: Arc<TokioClock>,
    events: Arc<Recorder>,
}

impl EventSink for RecordingSink {
    fn emit(&self, event: &EngineEvent) {
        self.events
            .0
            .lock()
            .unwrap()
            .push((self.clock.now(), event.clone()));
    }
}

const TEN_S: Duration = Duration::from_secs(10);

/// `--once` with accounts 10 s apart, no jitter.
fn once(accounts: &[&str]) -> PlannerSetup {
    accounts.iter().fold(PlannerSetup::once(), |setup, name| {
        setup.account(name, TEN_S, Jitter(0.0))
    })
}

struct Run {
    sim: Arc<SimGateway>,
    events: Arc<Recorder>,
    store: Arc<MemoryStore>,
    start: Timestamp,
}

async fn run_once(setup: PlannerSetup, faults: Vec<FaultRule>, latency: Duration) -> Run {
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let sim = Arc::new(
        SimGateway::with_clock(
            SimSettings {
                latency,
                seed: 1,
                ledger: None,
                faults,
                keep_in_memory: true,
            },
            clock.clone(),
        )
        .unwrap(),
    );
    let events = Arc::new(Recorder::default());
    let store = Arc::new(MemoryStore::default());
    let planner = setup.build(start).unwrap();
    let driver = Driver::restore(
        planner,
        store.clone(),
        sim.clone(),
        clock.clone(),
        Arc::new(RecordingSink {
            clock: clock.clone(),
            events: events.clone(),
        }),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    driver.run(CancellationToken::new()).await.unwrap();
    Run {
        sim,
        events,
        store,
        start,
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b - a).total(jiff::Unit::Second).unwrap()
}

#[tokio::test(start_paused = true)]
async fn flood_wait_on_acc1_silences_acc1_for_300_s_while_acc2_keeps_its_pace() {
    let acc1_chats: Vec<String> = (0..5).map(|i| format!("@wholesale_{i}")).collect();
    let acc2_chats: Vec<String> = (0..40).map(|i| format!("@retail_{i:02}")).collect();
    let r = run_once(
        once(&["acc1", "acc2"])
            .broadcaster("b2b", "acc1", &acc1_chats, pacing(TEN_S))
            .broadcaster("b2c", "acc2", &acc2_chats, pacing(TEN_S)),
        vec![FaultRule {
            account: Some("acc1".into()),
            chat: None,
            error: "FLOOD_WAIT_300".into(),
            after: 2,
            times: Some(1),
            probability: None,
        }],
        Duration::ZERO,
    )
    .await;
    let events = r.events.0.lock().unwrap().clone();
    let (flood_at, until) = events
        .iter()
        .find_map(|(t, e)| match e {
            EngineEvent::AccountPaused {
                account,
                until,
                seconds: 300,
                ..
            } if account == "acc1" => Some((*t, *until)),
            _ => None,
        })
        .expect("acc1 was paused");
    assert!(secs(flood_at, until) >= 300.0);
    let sends: Vec<(String, Timestamp)> = r
        .sim
        .accepted()
        .into_iter()
        .map(|(acc, e)| (acc, at(&e.at)))
        .collect();
    let in_pause = |acc: &str| {
        sends
            .iter()
            .filter(|(a, t)| a == acc && *t >= flood_at && *t < until)
            .count()
    };
    assert_eq!(in_pause("acc1"), 0, "no acc1 send during its flood wait");
    assert!(
        in_pause("acc2") >= 29,
        "acc2 kept one send per 10 s: {}",
        in_pause("acc2")
    );
    // acc1 still completed its cycle after the wait, every chat exactly once.
    let acc1: Vec<&(String, Timestamp)> = sends.iter().filter(|(a, _)| a == "acc1").collect();
    assert_eq!(acc1.len(), 5);
    assert!(acc1.iter().filter(|(_, t)| *t >= until).count() >= 1);
    assert_eq!(r.sim.duplicates(), 0);
    let _ = r.start;
}

#[tokio::test(start_paused = true)]
async fn slow_mode_on_one_chat_delays_only_that_chat() {
    let chats = ["@chat_one", "@slow_chat", "@chat_three", "@chat_four"];
    let r = run_once(
        once(&["acc1"]).broadcaster("b2b", "acc1", chats, pacing(TEN_S)),
        vec![FaultRule {
            account: None,
            chat: Some("@slow_chat".into()),
            error: "SLOWMODE_WAIT_90".into(),
            after: 0,
            times: Some(1),
            probability: None,
        }],
        Duration::from_millis(200),
    )
    .await;
    let sends: Vec<(String, f64)> = r
        .sim
        .accepted()
        .into_iter()
        .map(|(_, e)| (e.chat.clone(), secs(r.start, at(&e.at))))
        .collect();
    let order: Vec<&str> = sends.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        order,
        ["@chat_one", "@chat_three", "@chat_four", "@slow_chat"]
    );
    // The others keep the 10 s pace (send start to send start; the sandbox answers in 0.2 s).
    assert!(
        (sends[1].1 - 20.0).abs() < 1.0 && (sends[2].1 - 30.0).abs() < 1.0,
        "{sends:?}"
    );
    assert!(
        sends[3].1 >= 10.0 + 90.0,
        "the slow chat waited its slow mode: {sends:?}"
    );
    let rows = r.store.deliveries.lock().unwrap();
    assert!(rows.values().all(|(status, _)| status == "sent"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_abandons_a_hung_send_within_the_grace_and_leaves_it_pending() {
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    // A send that takes an hour: shutdown must not wait for it.
    let sim = Arc::new(
        SimGateway::with_clock(
            SimSettings {
                latency: Duration::from_secs(3600),
                seed: 1,
                ledger: None,
                faults: vec![],
                keep_in_memory: true,
            },
            clock.clone(),
        )
        .unwrap(),
    );
    let store = Arc::new(MemoryStore::default());
    let planner = PlannerSetup::with(PlannerSettings::default())
        .account("acc1", TEN_S, Jitter(0.0))
        .broadcaster("b2b", "acc1", ["@chat_one", "@chat_two"], pacing(TEN_S))
        .build(start)
        .unwrap();
    let driver = Driver::restore(
        planner,
        store.clone(),
        sim.clone(),
        clock.clone(),
        Arc::new(smb_engine::LogSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(driver.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked = tokio::time::Instant::now();
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert!(
        asked.elapsed() <= Duration::from_secs(3),
        "stopped within the grace: {:?}",
        asked.elapsed()
    );
    let rows = store.deliveries.lock().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows.values().all(|(s, _)| s == "pending"),
        "the abandoned send stays pending: {rows:?}"
    );
    assert!(sim.accepted().is_empty());
}

/// The sandbox, except that a send to `@chat_panic` panics (a bug in formatting or in a
/// gateway).
struct PanickingGateway(Arc<SimGateway>);

#[async_trait::async_trait]
impl smb_engine::Gateway for PanickingGateway {
    async fn send(
        &self,
        request: smb_engine::SendRequest<'_>,
    ) -> Result<smb_engine::SentMessage, smb_domain::SendError> {
        if request.target.key() == "@chat_panic" {
            panic!("called `Option::unwrap()` on a `None` value");
        }
        self.0.send(request).await
    }

    async fn refresh_peer(
        &self,
        account: &str,
        target: &TargetRef,
    ) -> Result<(), smb_domain::SendError> {
        self.0.refresh_peer(account, target).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_send_fails_as_bad_content_and_the_account_goes_on() {
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let sim =
        Arc::new(SimGateway::with_clock(SimGateway::default_settings(), clock.clone()).unwrap());
    let events = Arc::new(Recorder::default());
    let store = Arc::new(MemoryStore::default());
    let chats = ["@chat_one", "@chat_panic", "@chat_two"];
    let planner = once(&["acc1"])
        .broadcaster("b2b", "acc1", chats, pacing(TEN_S))
        .broadcaster("b2c", "acc1", ["@chat_three"], pacing(TEN_S))
        .build(start)
        .unwrap();
    let driver = Driver::restore(
        planner,
        store.clone(),
        Arc::new(PanickingGateway(sim.clone())),
        clock.clone(),
        Arc::new(RecordingSink {
            clock: clock.clone(),
            events: events.clone(),
        }),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    driver.run(CancellationToken::new()).await.unwrap();

    let mut sent: Vec<String> = sim.accepted().into_iter().map(|(_, e)| e.chat).collect();
    sent.sort();
    assert_eq!(sent, ["@chat_one", "@chat_three", "@chat_two"]);
    let rows = store.deliveries.lock().unwrap();
    let panicked = rows
        .iter()
        .find(|(k, _)| k.2 == "@chat_panic")
        .map(|(_, v)| v.0.as_str());
    assert_eq!(panicked, Some("failed"), "not left pending: {rows:?}");
    let events = events.0.lock().unwrap();
    assert!(
        events.iter().any(|(_, e)| matches!(e,
            EngineEvent::BadContent { broadcaster, code }
                if broadcaster == "b2b" && code == smb_domain::SEND_PANICKED)),
        "the operator is told: {events:?}"
    );
    assert!(
        events.iter().any(|(_, e)| matches!(e,
            EngineEvent::Delivered { target, outcome: smb_engine::Outcome::Failed { class: smb_domain::ErrorClass::BadContent, code, .. }, .. }
                if target == "@chat_panic" && code == smb_domain::SEND_PANICKED)),
        "{events:?}"
    );
}
