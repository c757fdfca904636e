//! No gap between two sends of one account is ever shorter than its `delay_between_chats`,
//! measured where Telegram sees them (the sandbox gateway's clock), on tokio's paused clock:
//! jitter only lengthens the gap, and the gap counts from the moment the gateway is called,
//! after the journal write, so a journal write of varying length never shortens the next
//! gap (issue 18: with ± jitter 362 of 1,485 gaps were short; with none, up to 8.7 ms short).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{Jitter, Pacing, mix64};
use smb_engine::testing::{Hooked, MemoryStore, PlannerSetup, Verdict, Write, pacing};
use smb_engine::{Driver, DriverSettings, EngineEvent, EventSink, TokioClock};
use smb_telegram::{SimGateway, SimSettings};
use tokio_util::sync::CancellationToken;

struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: &EngineEvent) {}
}

/// Pending writes of the in-memory journal take 0–299 ms (chosen by the random_id), like a
/// disk under load.
fn slow_pending(write: Write<'_>) -> Verdict {
    match write {
        Write::Pending(d) => Verdict::Delay(Duration::from_millis(
            mix64(d.random_id.cast_unsigned()) % 300,
        )),
        _ => Verdict::Forward,
    }
}

const DELAY: Duration = Duration::from_secs(1);

/// Broadcaster `name` on acc1 with `chats` chats, `jitter` on its pacing.
fn broadcaster(setup: PlannerSetup, name: &str, chats: usize, jitter: Jitter) -> PlannerSetup {
    let pacing = Pacing {
        // Shorter than the gap: the account's gap binds across cycles too.
        cycle_delay: Duration::from_millis(500),
        jitter,
        retry_delay: Duration::from_secs(1),
        ..pacing(DELAY)
    };
    let chats = (0..chats).map(|i| format!("@{name}_{i:03}"));
    setup.broadcaster(name, "acc1", chats, pacing)
}

/// Gaps (seconds) between consecutive sends of acc1, as the gateway saw them, over
/// `cycles` cycles of two broadcasters with 100 chats each, pending writes taking 0–299 ms.
async fn gaps(jitter: Jitter, cycles: usize) -> Vec<f64> {
    gaps_with(jitter, cycles, slow_pending).await
}

/// [`gaps`] with the journal's writes delayed by `hook`.
async fn gaps_with(
    jitter: Jitter,
    cycles: usize,
    hook: impl smb_engine::testing::Hook + 'static,
) -> Vec<f64> {
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
    let setup = PlannerSetup::forever().account("acc1", DELAY, jitter);
    let setup = broadcaster(setup, "b2b", 100, jitter);
    let planner = broadcaster(setup, "b2c", 100, jitter).build(start).unwrap();
    let driver = Driver::restore(
        planner,
        Arc::new(Hooked::new(MemoryStore::default(), hook)),
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

/// The sandbox answers 40 ms after the call, and the gap counts from the answer.
const ANSWER: f64 = 0.040;

#[tokio::test(start_paused = true)]
async fn a_pending_write_made_ahead_of_the_due_moment_adds_nothing_to_the_gap() {
    // Pending writes take 10, 20, 30, 10, 20, 30, … ms: before issue 18's fix each gap came
    // out that much longer than the delay (the write sat between the timer and the call).
    let n = std::sync::atomic::AtomicU64::new(0);
    let hook = move |write: Write<'_>| match write {
        Write::Pending(_) => {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Verdict::Delay(Duration::from_millis(10 * (k % 3 + 1)))
        }
        _ => Verdict::Forward,
    };
    let gaps = gaps_with(Jitter(0.0), 1, hook).await;
    assert!(gaps.len() >= 199, "{}", gaps.len());
    // From the fourth send on the lead covers the slowest write seen (30 ms): each call goes
    // out on its due moment.
    let off: Vec<(usize, f64)> = gaps
        .iter()
        .enumerate()
        .skip(3)
        .map(|(i, g)| (i, g - 1.0 - ANSWER))
        .filter(|(_, e)| e.abs() > 1e-6)
        .collect();
    assert_eq!(off, Vec::<(usize, f64)>::new());
    assert_eq!(short(&gaps), Vec::<f64>::new());
}

#[tokio::test(start_paused = true)]
async fn a_pending_write_slower_than_the_lead_makes_that_send_late_never_early() {
    // 5 ms writes, then one of 150 ms (longer than any lead learnt so far), then 5 ms again.
    let n = std::sync::atomic::AtomicU64::new(0);
    let hook = move |write: Write<'_>| match write {
        Write::Pending(_) => {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Verdict::Delay(Duration::from_millis(if k == 50 { 150 } else { 5 }))
        }
        _ => Verdict::Forward,
    };
    let gaps = gaps_with(Jitter(0.0), 1, hook).await;
    assert!(gaps.len() >= 199, "{}", gaps.len());
    assert_eq!(short(&gaps), Vec::<f64>::new());
    // The 51st send (gap 49 ends it) is late by what its write took beyond the 6 ms lead.
    let late = gaps[49] - 1.0 - ANSWER;
    assert!((late - 0.144).abs() < 1e-6, "{late}");
    // Afterwards the lead covers 150 ms, and the calls are on time again.
    assert!(gaps[51..].iter().all(|g| (g - 1.0 - ANSWER).abs() < 1e-6), "{:?}", &gaps[51..]);
}
