//! The daemon's pre-flight check and its first sends, through the driver on tokio's paused
//! clock (issue 14's start-up regression): accounts are checked at the same time, each keeps
//! its own pause between look-ups, and an account's first send waits only for its own part of
//! the check. Also (issue 19): a slow-mode wait Telegram told survives a restart.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{Jitter, SendError, TargetRef};
use smb_engine::testing::{MemoryStore, PlannerSetup, pacing};
use smb_engine::{
    ChatInfo, Clock, Driver, DriverSettings, Gateway, LogSink, SendRequest, SentMessage, Store,
    TokioClock,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A scripted Telegram: every chat open; `inspect` of the accounts in `slow_inspect` takes
/// that long (a busy or far account); a send into a chat in `slow_mode` is refused
/// `SLOWMODE_WAIT_X` once per (account, chat) and the wait enforced like Telegram does.
/// Records each look-up and send with the paused clock's instant.
#[derive(Default)]
struct Scripted {
    slow_inspect: BTreeMap<String, Duration>,
    slow_mode: BTreeMap<String, u64>,
    inspects: Mutex<Vec<(String, String, Instant)>>,
    sends: Mutex<Vec<(String, String, Instant)>>,
    /// (account, chat) → when the told wait ends.
    told: Mutex<BTreeMap<(String, String), Instant>>,
    /// Sends that arrived inside a told wait.
    inside: Mutex<Vec<String>>,
}

#[async_trait]
impl Gateway for Scripted {
    async fn send(&self, r: SendRequest<'_>) -> Result<SentMessage, SendError> {
        let now = Instant::now();
        let key = (r.account.to_owned(), r.target.key());
        if let Some(end) = self.told.lock().unwrap().get(&key)
            && now < *end
        {
            self.inside.lock().unwrap().push(format!(
                "{} into {} {:?} before the told wait ended",
                key.0,
                key.1,
                *end - now
            ));
        }
        self.sends
            .lock()
            .unwrap()
            .push((key.0.clone(), key.1.clone(), now));
        if let Some(&secs) = self.slow_mode.get(&key.1)
            && let std::collections::btree_map::Entry::Vacant(e) =
                self.told.lock().unwrap().entry(key)
        {
            e.insert(now + Duration::from_secs(secs));
            return Err(SendError::from_telegram(&format!("SLOWMODE_WAIT_{secs}")));
        }
        Ok(SentMessage {
            message_id: Some(1),
        })
    }
    async fn refresh_peer(&self, _: &str, _: &TargetRef) -> Result<(), SendError> {
        Ok(())
    }
    async fn inspect(&self, account: &str, target: &TargetRef) -> Result<ChatInfo, SendError> {
        if let Some(d) = self.slow_inspect.get(account) {
            tokio::time::sleep(*d).await;
        }
        self.inspects
            .lock()
            .unwrap()
            .push((account.to_owned(), target.key(), Instant::now()));
        Ok(ChatInfo {
            title: Some("Chat".into()),
            member: true,
            can_write: true,
            can_send_media: true,
            ..ChatInfo::default()
        })
    }
}

fn start() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().unwrap()
}

/// Accounts `acc_a`, `acc_b`, `acc_c`, 20 chats each, 10 s between chats, `--once`.
fn three_by_twenty() -> PlannerSetup {
    let mut setup = PlannerSetup::once();
    for acc in ["acc_a", "acc_b", "acc_c"] {
        let chats: Vec<String> = (0..20).map(|i| format!("@{acc}_chat_{i:02}")).collect();
        setup = setup
            .account(acc, Duration::from_secs(10), Jitter(0.0))
            .broadcaster(
                &format!("b_{acc}"),
                acc,
                &chats,
                pacing(Duration::from_secs(10)),
            );
    }
    setup
}

fn checking() -> DriverSettings {
    DriverSettings {
        preflight_every: Some(Duration::from_secs(24 * 3600)),
        preflight_pause: Duration::from_millis(500),
        ..DriverSettings::default()
    }
}

async fn driver(
    setup: PlannerSetup,
    gateway: Arc<Scripted>,
    store: Arc<dyn Store>,
    settings: DriverSettings,
) -> Driver {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let planner = setup.build(clock.now()).unwrap();
    Driver::restore(planner, store, gateway, clock, Arc::new(LogSink), settings)
        .await
        .unwrap()
}

/// The first and last instant of `account`'s entries.
fn span(rows: &[(String, String, Instant)], account: &str) -> (Instant, Instant) {
    let times: Vec<Instant> = rows
        .iter()
        .filter(|(a, _, _)| a == account)
        .map(|(_, _, t)| *t)
        .collect();
    (*times.iter().min().unwrap(), *times.iter().max().unwrap())
}

#[tokio::test(start_paused = true)]
async fn each_account_sends_after_its_own_check_and_not_after_the_others() {
    // acc_a's look-ups take 2 s each: its check lasts 20 × 2 s + 19 × 0.5 s = 49.5 s;
    // acc_b's and acc_c's 19 × 0.5 s = 9.5 s.
    let gw = Arc::new(Scripted {
        slow_inspect: BTreeMap::from([("acc_a".to_owned(), Duration::from_secs(2))]),
        ..Scripted::default()
    });
    let t0 = Instant::now();
    let d = driver(
        three_by_twenty(),
        gw.clone(),
        Arc::new(MemoryStore::default()),
        checking(),
    )
    .await;
    d.run(CancellationToken::new()).await.unwrap();

    let inspects = gw.inspects.lock().unwrap().clone();
    let sends = gw.sends.lock().unwrap().clone();
    assert_eq!(inspects.len(), 60, "every (account, target) looked at once");
    assert_eq!(sends.len(), 60, "every target posted once");
    for acc in ["acc_a", "acc_b", "acc_c"] {
        let (first_look, last_look) = span(&inspects, acc);
        let (first_send, _) = span(&sends, acc);
        // The accounts are asked at the same time, each at its own pace.
        let asked_after = if acc == "acc_a" { 2 } else { 0 };
        assert_eq!(first_look - t0, Duration::from_secs(asked_after), "{acc}");
        let own = if acc == "acc_a" {
            Duration::from_millis(49_500)
        } else {
            Duration::from_millis(9_500)
        };
        assert_eq!(
            last_look - t0,
            own,
            "{acc}: own pause kept between look-ups"
        );
        // Its first send comes right after its own check, not before.
        assert_eq!(
            first_send, last_look,
            "{acc}: first send at the end of its own check"
        );
    }
    let (_, a_done) = span(&inspects, "acc_a");
    let (b_first, _) = span(&sends, "acc_b");
    assert!(
        b_first < a_done,
        "acc_b's first send ({:?}) does not wait for acc_a's check (done at {:?})",
        b_first - t0,
        a_done - t0
    );
    // Before any send of an account, every target of that account was looked at.
    for (acc, chat, at) in &sends {
        assert!(
            inspects
                .iter()
                .any(|(a, c, t)| a == acc && c == chat && t <= at),
            "{acc} posted into {chat} before looking at it"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_daily_re_check_never_stalls_sending() {
    // One slow account: its re-check takes 20 × 30 s. The others keep their 10 s pace.
    let gw = Arc::new(Scripted {
        slow_inspect: BTreeMap::from([("acc_a".to_owned(), Duration::from_secs(30))]),
        ..Scripted::default()
    });
    let mut setup = PlannerSetup::forever();
    for acc in ["acc_a", "acc_b"] {
        let chats: Vec<String> = (0..20).map(|i| format!("@{acc}_chat_{i:02}")).collect();
        let mut p = pacing(Duration::from_secs(10));
        p.cycle_delay = Duration::from_secs(10);
        setup = setup
            .account(acc, Duration::from_secs(10), Jitter(0.0))
            .broadcaster(&format!("b_{acc}"), acc, &chats, p);
    }
    let settings = DriverSettings {
        preflight_every: Some(Duration::from_secs(3600)),
        preflight_pause: Duration::from_millis(500),
        ..DriverSettings::default()
    };
    let t0 = Instant::now();
    let d = driver(
        setup,
        gw.clone(),
        Arc::new(MemoryStore::default()),
        settings,
    )
    .await;
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(d.run(shutdown.clone()));
    // Past the first re-check (at 1 h + the first check) and well into it.
    tokio::time::sleep(Duration::from_secs(3600 + 900)).await;
    shutdown.cancel();
    run.await.unwrap().unwrap();

    let inspects = gw.inspects.lock().unwrap().clone();
    let recheck: Vec<Instant> = inspects
        .iter()
        .filter(|(a, _, t)| a == "acc_a" && *t - t0 > Duration::from_secs(3600))
        .map(|(_, _, t)| *t)
        .collect();
    assert!(recheck.len() >= 2, "acc_a is being re-checked: {recheck:?}");
    let (re_from, re_to) = (recheck[0], recheck[recheck.len() - 1]);
    let sends = gw.sends.lock().unwrap().clone();
    // acc_b goes on at its pace (one send each 10 s) while acc_a's re-check runs.
    let b_during = sends
        .iter()
        .filter(|(a, _, t)| a == "acc_b" && *t >= re_from && *t <= re_to)
        .count();
    let expected = ((re_to - re_from).as_secs() / 10) as usize;
    assert!(
        b_during + 1 >= expected,
        "acc_b sent {b_during} times in {:?} of acc_a's re-check, expected about {expected}",
        re_to - re_from
    );
}

#[tokio::test(start_paused = true)]
async fn a_told_slow_mode_wait_holds_after_a_restart_without_a_check() {
    // acc1 posts into @slow (slow mode) and @open; Telegram tells it SLOWMODE_WAIT_600 in @slow.
    let setup = || {
        let mut p = pacing(Duration::from_secs(10));
        p.cycle_delay = Duration::from_secs(30);
        PlannerSetup::forever()
            .account("acc1", Duration::from_secs(10), Jitter(0.0))
            .broadcaster("b2b", "acc1", ["@slow", "@open"], p)
    };
    let gw = Arc::new(Scripted {
        slow_mode: BTreeMap::from([("@slow".to_owned(), 600)]),
        ..Scripted::default()
    });
    let store = Arc::new(MemoryStore::default());
    // Pre-flight off: slow mode is not known in advance.
    let first = driver(
        setup(),
        gw.clone(),
        store.clone(),
        DriverSettings::default(),
    )
    .await;
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(first.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(60)).await;
    shutdown.cancel();
    run.await.unwrap().unwrap();
    let told_until = *gw
        .told
        .lock()
        .unwrap()
        .get(&("acc1".to_owned(), "@slow".to_owned()))
        .expect("the wait was told");
    assert!(
        store
            .chat_pauses(jiff::Timestamp::MIN)
            .await
            .unwrap()
            .iter()
            .any(|p| p.account == "acc1" && p.target == "@slow"),
        "the journal kept the chat pause"
    );

    // A new process within the wait: a fresh planner restored from the same journal.
    let restarted_at = Instant::now();
    assert!(restarted_at < told_until);
    let second = driver(
        setup(),
        gw.clone(),
        store.clone(),
        DriverSettings::default(),
    )
    .await;
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(second.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(900)).await;
    shutdown.cancel();
    run.await.unwrap().unwrap();

    let sends = gw.sends.lock().unwrap().clone();
    let after: Vec<&(String, String, Instant)> = sends
        .iter()
        .filter(|(_, _, t)| *t >= restarted_at)
        .collect();
    assert!(
        after.iter().any(|(_, c, _)| c == "@open"),
        "the restarted process posts elsewhere meanwhile"
    );
    assert!(
        after
            .iter()
            .any(|(_, c, t)| c == "@slow" && *t >= told_until),
        "and into @slow once the wait is over"
    );
    let inside = gw.inside.lock().unwrap().clone();
    assert!(inside.is_empty(), "sends inside the told wait: {inside:?}");
    let chats: HashSet<&str> = after.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(chats.len(), 2);
}
