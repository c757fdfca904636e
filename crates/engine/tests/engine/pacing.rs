//! Pacing under pressure, on tokio's paused clock: concurrent test sends take the account's
//! turns (never a burst), Telegram pauses bind them, and a wall clock stepped back or forward
//! neither stalls nor bursts the sends while schedules follow the new wall time.
//!
//! The sandbox gateway gets a clock of its own that is never stepped, so the times it records
//! are the monotonic (virtual) time of each send; the driver gets the stepped one.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use smb_domain::{Jitter, Message, MessageSet, Pacing, QuietHours, Rotation, Schedule, TargetRef};
use smb_engine::planner::{
    AccountSpec, BroadcasterSpec, Content, Effect, Event, Planner, PlannerSettings,
};
use smb_engine::testing::MemoryStore;
use smb_engine::{
    Driver, DriverHandle, DriverSettings, EngineEvent, EventSink, JournalPost, Outcome,
    SentMessage, StoredAccount, StoredCycle, StoredDelivery, TestSend, TestSendError, TokioClock,
};
use smb_telegram::{FaultRule, SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

const START: &str = "2026-05-01T10:00:00Z";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b - a).total(jiff::Unit::Second).unwrap()
}

fn chats(prefix: &str, n: usize) -> Vec<TargetRef> {
    (0..n)
        .map(|i| TargetRef::parse(&format!("@{prefix}_{i:02}")).unwrap())
        .collect()
}

fn spec(name: &str, account: &str, targets: Vec<TargetRef>, delay: u64) -> BroadcasterSpec {
    BroadcasterSpec {
        name: name.into(),
        account: account.into(),
        targets,
        messages: MessageSet::new(name, vec![Message::new(format!("{name} price list"))]),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(delay),
            cycle_delay: Duration::from_secs(600),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: Schedule::always(),
        content: Content::default(),
    }
}

fn account(name: &str, delay: u64) -> AccountSpec {
    AccountSpec {
        name: name.into(),
        delay_between_chats: Duration::from_secs(delay),
        jitter: Jitter(0.0),
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<EngineEvent>>);

impl EventSink for Events {
    fn emit(&self, event: &EngineEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

struct Rig {
    /// The driver's wall clock (the one a test steps).
    wall: Arc<TokioClock>,
    /// The gateway: records each send at monotonic time, from `start`.
    sim: Arc<SimGateway>,
    events: Arc<Events>,
    handle: DriverHandle,
    run: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Rig {
    async fn start(
        start: Timestamp,
        accounts: Vec<AccountSpec>,
        broadcasters: Vec<BroadcasterSpec>,
        faults: Vec<FaultRule>,
        once: bool,
    ) -> Rig {
        let wall = Arc::new(TokioClock::starting_at(start));
        let sim = Arc::new(
            SimGateway::with_clock(
                SimSettings {
                    latency: Duration::ZERO,
                    seed: 1,
                    ledger: None,
                    faults,
                    keep_in_memory: true,
                },
                Arc::new(TokioClock::starting_at(start)),
            )
            .unwrap(),
        );
        let events = Arc::new(Events::default());
        let planner = Planner::new(
            accounts,
            broadcasters,
            PlannerSettings {
                once,
                seed: 3,
                ..Default::default()
            },
            start,
        )
        .unwrap();
        let driver = Driver::restore(
            planner,
            Arc::new(MemoryStore::default()),
            sim.clone(),
            wall.clone(),
            events.clone(),
            DriverSettings::default(),
        )
        .await
        .unwrap();
        let handle = driver.handle();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let run = tokio::spawn(async move { driver.run(token).await.unwrap() });
        Rig {
            wall,
            sim,
            events,
            handle,
            run,
            shutdown,
        }
    }

    /// Each send of `account`: (monotonic time, chat).
    fn sends(&self, account: &str) -> Vec<(Timestamp, String)> {
        let mut v: Vec<(Timestamp, String)> = self
            .sim
            .accepted()
            .into_iter()
            .filter(|(a, _)| a == account)
            .map(|(_, e)| (at(&e.at), e.chat))
            .collect();
        v.sort();
        v
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.run.await.unwrap();
    }
}

fn test_send(account: &str, chat: &str) -> TestSend {
    TestSend {
        label: "test:b2b".into(),
        account: account.into(),
        targets: vec![TargetRef::parse(chat).unwrap()],
        text: "b2b price list".into(),
        content: Content::default(),
    }
}

fn gaps(sends: &[(Timestamp, String)]) -> Vec<f64> {
    sends.windows(2).map(|w| secs(w[0].0, w[1].0)).collect()
}

#[tokio::test(start_paused = true)]
async fn ten_concurrent_test_sends_take_the_accounts_turns_one_gap_apart() {
    let rig = Rig::start(
        at(START),
        vec![account("acc1", 10), account("acc2", 10)],
        vec![
            spec("b2b", "acc1", chats("wholesale", 12), 10),
            spec("b2c", "acc2", chats("retail", 12), 10),
        ],
        vec![],
        false,
    )
    .await;
    // acc1's broadcaster has sent at 0, 10 and 20 s when ten test sends arrive at once.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let mut asked = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let h = rig.handle.clone();
        asked.spawn(async move { h.test_send(test_send("acc1", "@my_test_group")).await });
    }
    let mut answered = 0;
    while let Some(r) = asked.join_next().await {
        let results = r.unwrap().expect("a test send is answered, not refused");
        assert_eq!(results.len(), 1);
        assert!(
            matches!(results[0].outcome, Outcome::Sent { .. }),
            "{results:?}"
        );
        answered += 1;
    }
    assert_eq!(answered, 10);
    tokio::time::sleep(Duration::from_secs(300)).await;

    let acc1 = rig.sends("acc1");
    assert_eq!(acc1.len(), 22, "12 chats + 10 test sends: {acc1:?}");
    let g = gaps(&acc1);
    assert!(
        g.iter().all(|&s| s >= 10.0),
        "every two sends of acc1 are at least 10 s apart: {g:?}"
    );
    // The test sends were queued first: they took ten turns in a row (30 s … 120 s), and the
    // broadcaster went on after them.
    let test_at: Vec<f64> = acc1
        .iter()
        .filter(|(_, c)| c == "@my_test_group")
        .map(|(t, _)| secs(at(START), *t))
        .collect();
    assert_eq!(
        test_at,
        (3..13).map(|k| f64::from(k) * 10.0).collect::<Vec<_>>()
    );
    // acc2 kept its own pace throughout.
    let acc2 = rig.sends("acc2");
    assert_eq!(acc2.len(), 12);
    assert!(gaps(&acc2).iter().all(|&s| s == 10.0), "{:?}", gaps(&acc2));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_test_send_waits_out_a_short_flood_wait_and_is_refused_during_a_long_one() {
    // acc1's first send meets FLOOD_WAIT_30, acc2's FLOOD_WAIT_300.
    let flood = |acc: &str, secs: u32| FaultRule {
        account: Some(acc.into()),
        chat: None,
        error: format!("FLOOD_WAIT_{secs}"),
        after: 0,
        times: Some(1),
        probability: None,
    };
    let rig = Rig::start(
        at(START),
        vec![account("acc1", 10), account("acc2", 10)],
        vec![
            spec("b2b", "acc1", chats("wholesale", 3), 10),
            spec("b2c", "acc2", chats("retail", 3), 10),
        ],
        vec![flood("acc1", 30), flood("acc2", 300)],
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let short = rig
        .handle
        .test_send(test_send("acc1", "@my_test_group"))
        .await
        .expect("a 30 s pause is waited out");
    assert!(matches!(short[0].outcome, Outcome::Sent { .. }));
    let sent_at = rig
        .sends("acc1")
        .into_iter()
        .find(|(_, c)| c == "@my_test_group")
        .unwrap()
        .0;
    assert!(
        secs(at(START), sent_at) >= 30.0,
        "sent at {sent_at}, inside the pause"
    );
    let long = rig
        .handle
        .test_send(test_send("acc2", "@my_test_group"))
        .await;
    match long {
        Err(TestSendError::Blocked(why)) => assert!(
            why.contains("acc2") && why.contains("paused by Telegram until"),
            "{why}"
        ),
        other => panic!("a 300 s pause refuses the test send: {other:?}"),
    }
    assert!(
        rig.sends("acc2")
            .iter()
            .all(|(t, _)| secs(at(START), *t) >= 300.0),
        "nothing of acc2 inside its pause"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_wait_is_counted_on_the_wall_clock_when_the_monotonic_clock_lags_behind() {
    // The second send meets FLOOD_WAIT_10; before it, the wall clock has run 500 ms ahead of
    // the monotonic one (drift, below a step). Found by the chaos soak: a pause stored from
    // the lagging time was short by the drift for the process started after a kill.
    let flood = FaultRule {
        account: Some("acc1".into()),
        chat: None,
        error: "FLOOD_WAIT_10".into(),
        after: 1,
        times: Some(1),
        probability: None,
    };
    let rig = Rig::start(
        at(START),
        vec![account("acc1", 10)],
        vec![spec("b2b", "acc1", chats("wholesale", 3), 10)],
        vec![flood],
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.wall.step(SignedDuration::from_millis(500));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let until = rig
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            EngineEvent::AccountPaused { until, .. } => Some(*until),
            _ => None,
        })
        .expect("acc1 paused by FLOOD_WAIT_10");
    // Told at 10 s of monotonic time, when the wall clock read 10.5 s.
    assert!(
        secs(at(START), until) >= 20.5,
        "paused until {until}: short of the wall clock's 10.5 s + 10 s"
    );
    assert!(steps(&rig.events).is_empty(), "drift is not a step");
    rig.stop().await;
}

fn steps(events: &Events) -> Vec<i64> {
    events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            EngineEvent::ClockStepped { seconds } => Some(*seconds),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_stepped_back_then_forward_neither_stalls_nor_bursts() {
    let rig = Rig::start(
        at(START),
        vec![account("acc1", 10)],
        vec![spec("b2b", "acc1", chats("wholesale", 30), 10)],
        vec![],
        true,
    )
    .await;
    // NTP sets the clock an hour back between two sends, then two hours forward.
    tokio::time::sleep(Duration::from_secs(55)).await;
    rig.wall.step(SignedDuration::from_hours(-1));
    tokio::time::sleep(Duration::from_secs(60)).await;
    rig.wall.step(SignedDuration::from_hours(2));
    // The handle keeps the driver's state alive after `run` ends (`--once`).
    let events = rig.events.clone();
    let sim = rig.sim.clone();
    rig.run.await.unwrap();

    let sends: Vec<f64> = {
        let mut v: Vec<Timestamp> = sim.accepted().into_iter().map(|(_, e)| at(&e.at)).collect();
        v.sort();
        v.iter().map(|t| secs(at(START), *t)).collect()
    };
    assert_eq!(
        sends,
        (0..30).map(|k| f64::from(k) * 10.0).collect::<Vec<_>>(),
        "one send every 10 s of monotonic time, through both steps"
    );
    assert_eq!(steps(&events), vec![-3600, 7200]);
}

#[tokio::test(start_paused = true)]
async fn quiet_hours_follow_the_wall_clock_when_it_steps_out_of_them() {
    // 05:00 UTC inside quiet hours 22–07: the account sleeps towards 07:00 of the wall clock.
    let mut b = spec("b2b", "acc1", chats("wholesale", 3), 10);
    b.schedule = Schedule {
        tz: TimeZone::UTC,
        start_hour: None,
        quiet: Some(QuietHours { start: 22, end: 7 }),
    };
    let start = at("2026-05-01T05:00:00Z");
    let rig = Rig::start(start, vec![account("acc1", 10)], vec![b], vec![], true).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(rig.sends("acc1").is_empty(), "nothing inside quiet hours");
    // The clock was two hours behind: set forward it reads 07:10, past the quiet hours.
    rig.wall.step(SignedDuration::from_hours(2));
    let sim = rig.sim.clone();
    rig.run.await.unwrap();
    let sends: Vec<f64> = {
        let mut v: Vec<Timestamp> = sim.accepted().into_iter().map(|(_, e)| at(&e.at)).collect();
        v.sort();
        v.iter().map(|t| secs(start, *t)).collect()
    };
    assert_eq!(sends.len(), 3, "{sends:?}");
    // The sleep towards 07:00 is cut into wall-clock checks of at most a minute: the first
    // send follows the step within one, not two hours of monotonic time later.
    assert!(
        (600.0..=660.0).contains(&sends[0]),
        "first send {} s after the start",
        sends[0]
    );
    assert_eq!(gaps_of(&sends), vec![10.0, 10.0]);
}

fn gaps_of(v: &[f64]) -> Vec<f64> {
    v.windows(2).map(|w| w[1] - w[0]).collect()
}

fn one_target_planner(jitter: Jitter, now: Timestamp, n: usize) -> Planner {
    Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: Duration::from_secs(15),
            jitter,
        }],
        vec![BroadcasterSpec {
            pacing: Pacing {
                delay_between_chats: Duration::from_secs(15),
                jitter,
                ..Pacing::default()
            },
            ..spec("b2b", "acc1", chats("wholesale", n), 15)
        }],
        PlannerSettings::default(),
        now,
    )
    .unwrap()
}

#[test]
fn a_journal_dated_after_the_clock_does_not_put_the_next_send_an_hour_away() {
    // The daemon sent at 11:00 by a clock that was an hour fast; now it reads 10:00 again.
    let now = at(START);
    let ahead = now + SignedDuration::from_hours(1);
    let mut p = one_target_planner(Jitter(0.0), now, 3);
    let first = chats("wholesale", 1)[0].key();
    let accounts = HashMap::from([(
        "acc1".to_string(),
        StoredAccount {
            last_send_at: Some(ahead),
            ..Default::default()
        },
    )]);
    let cycles = HashMap::from([(
        "b2b".to_string(),
        StoredCycle {
            cycle: 1,
            message: "b2b price list".into(),
            started_at: ahead,
            completed_at: None,
            deliveries: vec![StoredDelivery {
                target: first,
                status: smb_domain::DeliveryStatus::Sent,
                random_id: 7,
                attempts: 0,
                retry_at: None,
            }],
        },
    )]);
    let found = p.restore(&accounts, &HashMap::new(), &cycles, now);
    assert_eq!(found, Some(SignedDuration::from_hours(1)));
    // What `stats` shows as the next send, and when the daemon sends: one gap from now.
    let fx = p.handle(Event::Poll { account: 0 }, now);
    assert_eq!(
        fx,
        vec![Effect::Wait {
            until: Some(now + SignedDuration::from_secs(15))
        }]
    );
}

#[test]
fn jitter_only_lengthens_the_gap_between_chats() {
    let mut now = at(START);
    let mut p = one_target_planner(Jitter(0.5), now, 200);
    let mut last: Option<Timestamp> = None;
    let mut gaps = Vec::new();
    for _ in 0..2000 {
        let mut next = None;
        for e in p.handle(Event::Poll { account: 0 }, now) {
            match e {
                Effect::Send(d) => {
                    if let Some(l) = last {
                        gaps.push(secs(l, now));
                    }
                    last = Some(now);
                    p.handle(
                        Event::Outcome {
                            delivery: d,
                            result: Ok(SentMessage {
                                message_id: Some(1),
                            }),
                        },
                        now,
                    );
                }
                Effect::Wait { until: Some(t) } => next = Some(t),
                _ => {}
            }
        }
        if gaps.len() >= 199 {
            break;
        }
        if let Some(t) = next {
            now = now.max(t);
        }
    }
    assert_eq!(gaps.len(), 199);
    assert!(gaps.iter().all(|&g| g >= 15.0), "{gaps:?}");
    assert!(gaps.iter().any(|&g| g > 18.0), "jitter spreads: {gaps:?}");
    assert!(gaps.iter().all(|&g| g <= 22.5), "at most +50 %: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_test_send_given_up_while_it_waits_lets_the_broadcaster_go_on() {
    let rig = Rig::start(
        at(START),
        vec![account("acc1", 10)],
        vec![spec("b2b", "acc1", chats("wholesale", 6), 10)],
        vec![],
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    // The caller goes away (an HTTP client that disconnects) before its turn at 30 s.
    let h = rig.handle.clone();
    let asked = tokio::spawn(async move { h.test_send(test_send("acc1", "@my_test_group")).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    asked.abort();
    let sim = rig.sim.clone();
    rig.run.await.unwrap();
    let sends: Vec<f64> = {
        let mut v: Vec<(Timestamp, String)> = sim
            .accepted()
            .into_iter()
            .map(|(_, e)| (at(&e.at), e.chat))
            .collect();
        v.sort();
        assert!(v.iter().all(|(_, c)| c != "@my_test_group"), "{v:?}");
        v.iter().map(|(t, _)| secs(at(START), *t)).collect()
    };
    assert_eq!(sends, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
}

/// A planner of `acc1` over `n` chats, 15 s between chats with `jitter` (which also spreads
/// the 600 s cycle delay), seeded with `seed` as each process seeds its own.
fn seeded_planner(jitter: Jitter, seed: u64, now: Timestamp, n: usize) -> Planner {
    Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: Duration::from_secs(15),
            jitter,
        }],
        vec![BroadcasterSpec {
            pacing: Pacing {
                delay_between_chats: Duration::from_secs(15),
                jitter,
                ..spec("b2b", "acc1", vec![], 15).pacing
            },
            ..spec("b2b", "acc1", chats("wholesale", n), 15)
        }],
        PlannerSettings {
            seed,
            ..Default::default()
        },
        now,
    )
    .unwrap()
}

/// Sends (time, target, random_id) of `p` from `now` until `count` sends, each answered at once.
fn run_sends(p: &mut Planner, mut now: Timestamp, count: usize) -> Vec<(Timestamp, String, i64)> {
    let mut sends = Vec::new();
    for _ in 0..10 * count {
        let mut next = None;
        for e in p.handle(Event::Poll { account: 0 }, now) {
            match e {
                Effect::Send(d) => {
                    sends.push((now, d.target.key(), d.random_id));
                    p.handle(
                        Event::Outcome {
                            delivery: d,
                            result: Ok(SentMessage {
                                message_id: Some(1),
                            }),
                        },
                        now,
                    );
                }
                Effect::Wait { until: Some(t) } => next = Some(t),
                _ => {}
            }
        }
        if sends.len() >= count {
            break;
        }
        if let Some(t) = next {
            now = now.max(t);
        }
    }
    sends
}

#[test]
fn every_process_draws_the_same_jitter_but_new_random_ids() {
    // QA F1: `run --dry-run` and `stats` drew the jitter again on every call. Two processes
    // (two seeds) now plan the same times, over a cycle end (the ±jitter of cycle_delay) too.
    let now = at(START);
    let mut one = seeded_planner(Jitter(0.3), 1, now, 4);
    let mut two = seeded_planner(Jitter(0.3), 2, now, 4);
    let a = run_sends(&mut one, now, 10);
    let b = run_sends(&mut two, now, 10);
    assert_eq!(a.len(), 10);
    let plan = |v: &[(Timestamp, String, i64)]| {
        v.iter()
            .map(|(t, target, _)| (*t, target.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(plan(&a), plan(&b));
    let gaps: Vec<f64> = a.windows(2).map(|w| secs(w[0].0, w[1].0)).collect();
    assert!(gaps.iter().all(|&g| g >= 15.0), "{gaps:?}");
    assert!(gaps.iter().any(|&g| g > 15.5), "jitter is drawn: {gaps:?}");
    // Random ids stay per process: a restart never reuses one Telegram may remember.
    assert!(a.iter().zip(&b).all(|(x, y)| x.2 != y.2));
}

#[test]
fn a_restart_keeps_the_jittered_gap_after_the_last_send() {
    // The daemon sent three chats with jitter 50 %; a new process (a restart, or `stats`)
    // reads the journal and waits for the same moment the daemon would have.
    let now = at(START);
    let mut daemon = seeded_planner(Jitter(0.5), 1, now, 5);
    let sent = run_sends(&mut daemon, now, 3);
    let last = sent[2].0;
    let Effect::Wait { until: Some(next) } = daemon.handle(Event::Poll { account: 0 }, last)[0]
    else {
        panic!("the daemon waits for its gap");
    };
    assert!(
        secs(last, next) > 15.5,
        "jitter drawn: {}",
        secs(last, next)
    );

    let mut restarted = seeded_planner(Jitter(0.5), 99, now, 5);
    let accounts = HashMap::from([(
        "acc1".to_string(),
        StoredAccount {
            last_send_at: Some(last),
            ..Default::default()
        },
    )]);
    let deliveries = sent
        .iter()
        .map(|(_, target, random_id)| StoredDelivery {
            target: target.clone(),
            status: smb_domain::DeliveryStatus::Sent,
            random_id: *random_id,
            attempts: 0,
            retry_at: None,
        })
        .collect();
    let cycles = HashMap::from([(
        "b2b".to_string(),
        StoredCycle {
            cycle: 1,
            message: "b2b price list".into(),
            started_at: now,
            completed_at: None,
            deliveries,
        },
    )]);
    restarted.restore(&accounts, &HashMap::new(), &cycles, last);
    let rows: Vec<JournalPost> = sent
        .iter()
        .map(|(t, target, _)| JournalPost {
            broadcaster: "b2b".into(),
            cycle: 1,
            target: target.clone(),
            account: "acc1".into(),
            status: smb_domain::DeliveryStatus::Sent,
            at: *t,
        })
        .collect();
    restarted.restore_journal(&rows, last);
    assert_eq!(
        restarted.handle(Event::Poll { account: 0 }, last),
        vec![Effect::Wait { until: Some(next) }]
    );
}

#[test]
fn a_restarted_daemon_never_resumes_a_flood_wait_before_telegrams_window_ends() {
    // Telegram answered FLOOD_WAIT_30 at `told`; the daemon read the answer 40 ms later
    // (`read`), journalled the pause and was killed. Telegram's window ends at most 30 s after
    // `read`; the restarted process sends nothing until then, and resumes after.
    let now = at(START);
    let mut daemon = seeded_planner(Jitter(0.0), 1, now, 3);
    let fx = daemon.handle(Event::Poll { account: 0 }, now);
    let Some(Effect::Send(d)) = fx.into_iter().find(|e| matches!(e, Effect::Send(_))) else {
        panic!("the first chat is sent at once");
    };
    let target = d.target.key();
    let random_id = d.random_id;
    let read = now + SignedDuration::from_millis(40);
    let fx = daemon.handle(
        Event::Outcome {
            delivery: d,
            result: Err(smb_domain::SendError::from_telegram("FLOOD_WAIT_30")),
        },
        read,
    );
    let until = fx
        .iter()
        .find_map(|e| match e {
            Effect::PauseAccount { until, .. } => Some(*until),
            _ => None,
        })
        .expect("the account pauses");
    assert!(until >= read + SignedDuration::from_secs(30), "{until}");

    let mut restarted = seeded_planner(Jitter(0.0), 2, now, 3);
    let accounts = HashMap::from([(
        "acc1".to_string(),
        StoredAccount {
            paused_until: Some(until),
            last_send_at: Some(read),
            ..Default::default()
        },
    )]);
    let cycles = HashMap::from([(
        "b2b".to_string(),
        StoredCycle {
            cycle: 1,
            message: "b2b price list".into(),
            started_at: now,
            completed_at: None,
            deliveries: vec![StoredDelivery {
                target,
                status: smb_domain::DeliveryStatus::Deferred,
                random_id,
                attempts: 0,
                retry_at: Some(until),
            }],
        },
    )]);
    let start = read + SignedDuration::from_secs(1);
    restarted.restore(&accounts, &HashMap::new(), &cycles, start);
    let window_end = read + SignedDuration::from_secs(30);
    let fx = restarted.handle(Event::Poll { account: 0 }, window_end);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Send(_))),
        "sent at the last moment of Telegram's window: {fx:?}"
    );
    let fx = restarted.handle(Event::Poll { account: 0 }, until);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Send(_))),
        "resumed when the pause ends: {fx:?}"
    );
}
