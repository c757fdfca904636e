//! One account refused in a chat the others keep posting to (QA F2, F2b, F8): the refusal is
//! its own record — told with Telegram's code, kept by the store, restored after a restart,
//! never a "held by the chat's rules" entry — and a chat that refuses every account is
//! disabled once, naming them all.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, SendError, TargetRef};
use smb_engine::planner::{
    AccountSpec, BroadcasterSpec, Content, Effect, Event, Planner, PlannerSettings, TargetCheck,
};
use smb_engine::testing::MemoryStore;
use smb_engine::{SentMessage, Step, Store, StoredRefusal, restore_planner, simulate};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn target(s: &str) -> TargetRef {
    TargetRef::parse(s).unwrap()
}

fn spec(name: &str, account: &str, targets: &[&str]) -> BroadcasterSpec {
    BroadcasterSpec {
        name: name.into(),
        account: account.into(),
        targets: targets.iter().map(|t| target(t)).collect(),
        messages: MessageSet::new(name, vec![Message::new(format!("{name} price list"))]),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(20),
            cycle_delay: Duration::from_secs(600),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: Schedule {
            tz: TimeZone::UTC,
            start_hour: None,
            quiet: None,
        },
        content: Content::default(),
    }
}

fn planner(now: Timestamp) -> Planner {
    Planner::new(
        ["acc1", "acc2"]
            .iter()
            .map(|a| AccountSpec {
                name: (*a).into(),
                delay_between_chats: Duration::from_secs(15),
                jitter: Jitter(0.0),
            })
            .collect(),
        vec![
            spec("aaa", "acc1", &["@shared", "@solo"]),
            spec("b2c", "acc2", &["@shared"]),
        ],
        PlannerSettings {
            once: false,
            seed: 11,
            ..PlannerSettings::default()
        },
        now,
    )
    .unwrap()
}

/// Runs `p` for `hours`, Telegram refusing `refused` accounts in @shared; the effects.
fn run(p: &mut Planner, start: Timestamp, hours: i64, refused: &[&str]) -> Vec<Effect> {
    let mut effects = Vec::new();
    simulate(
        p,
        start,
        start + SignedDuration::from_hours(hours),
        |d, _| {
            if d.target.key() == "@shared" && refused.contains(&&*d.account_name) {
                return Err(SendError::rpc("CHAT_WRITE_FORBIDDEN", None));
            }
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
        |step| {
            if let Step::Effect { effect, .. } = step {
                effects.push(effect.clone());
            }
            ControlFlow::Continue(())
        },
    );
    effects
}

/// QA F2b: a refused *send* used to be listed as "held by their chat's rules or slow mode"
/// (a chat hold row); now it is a refusal with Telegram's code, as the check's is, and no
/// chat hold.
#[test]
fn a_refused_send_is_a_refusal_with_its_code_not_a_chat_hold() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(t0);
    let fx = run(&mut p, t0, 2, &["acc1"]);
    let refused: Vec<&Effect> = fx
        .iter()
        .filter(|e| matches!(e, Effect::RefusedHere { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let Effect::RefusedHere {
        account,
        target: t,
        code,
        until,
        renewed,
        ..
    } = refused[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (&**account, t.key().as_str(), code.as_str(), *renewed),
        ("acc1", "@shared", "CHAT_WRITE_FORBIDDEN", false)
    );
    assert!(*until >= t0 + SignedDuration::from_hours(24), "{until}");
    // Later cycles skip @shared for acc1 (a ChatHeld effect each), but no chat hold is
    // listed for stats, the dashboard or the dry run.
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::ChatHeld { account, .. } if &**account == "acc1")),
        "{fx:?}"
    );
    let now = t0 + SignedDuration::from_hours(2);
    assert_eq!(p.chat_holds(now), Vec::new());
    assert!(smb_engine::rule_holds(&p, now).is_empty());
}

/// QA F8: @shared refuses acc1, then acc2: one disabled reason naming both accounts.
#[test]
fn a_chat_refusing_every_account_is_disabled_once_naming_them_all() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(t0);
    let fx = run(&mut p, t0, 2, &["acc1", "acc2"]);
    let disabled: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::DisableTarget { target, reason, .. } if target.key() == "@shared" => {
                Some(reason)
            }
            _ => None,
        })
        .collect();
    assert_eq!(disabled.len(), 1, "{fx:?}");
    assert!(
        disabled[0].ends_with("(accounts acc1, acc2)"),
        "{}",
        disabled[0]
    );
}

/// QA F2: the refusal is written through the store and a restarted planner holds the account
/// out until the re-check, as before the restart; acc2 goes on posting there.
#[tokio::test]
async fn a_stored_refusal_holds_the_account_out_after_a_restart() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let store = MemoryStore::default();
    store
        .record_refusal(&StoredRefusal {
            account: "acc1".into(),
            target: "@shared".into(),
            code: "USER_BANNED_IN_CHANNEL".into(),
            reason: "USER_BANNED_IN_CHANNEL: banned".into(),
            until: t0 + SignedDuration::from_hours(5),
            at: t0 - SignedDuration::from_hours(1),
        })
        .await
        .unwrap();
    // One that is over changes nothing.
    store
        .record_refusal(&StoredRefusal {
            account: "acc2".into(),
            target: "@shared".into(),
            code: "CHAT_WRITE_FORBIDDEN".into(),
            reason: "over".into(),
            until: t0 - SignedDuration::from_hours(1),
            at: t0 - SignedDuration::from_hours(30),
        })
        .await
        .unwrap();
    let mut p = planner(t0);
    restore_planner(&mut p, &store, t0).await.unwrap();
    let mut sends: Vec<(Timestamp, String, String)> = Vec::new();
    simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(7),
        |_, _| {
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
        |step| {
            if let Step::Send { at, delivery, .. } = step {
                sends.push((at, delivery.account_name.to_string(), delivery.target.key()));
            }
            ControlFlow::Continue(())
        },
    );
    let acc1_shared: Vec<Timestamp> = sends
        .iter()
        .filter(|(_, a, t)| a == "acc1" && t == "@shared")
        .map(|(at, _, _)| *at)
        .collect();
    assert!(
        !acc1_shared.is_empty(),
        "acc1 posts there after the re-check"
    );
    assert!(
        acc1_shared
            .iter()
            .all(|at| *at >= t0 + SignedDuration::from_hours(5)),
        "{acc1_shared:?}"
    );
    assert!(
        sends.iter().any(|(at, a, t)| a == "acc2"
            && t == "@shared"
            && *at < t0 + SignedDuration::from_hours(1)),
        "acc2 goes on posting there"
    );
}

/// A check that finds the account may write again ends its refusal (the store forgets it);
/// a later check finding the same refusal with a new re-check time only moves that time.
#[test]
fn a_check_ends_or_renews_a_refusal() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(t0);
    let check = |account: &str, refused: Option<&str>| TargetCheck {
        account: account.into(),
        target: target("@shared"),
        text_refused: refused.map(str::to_owned),
        media_refused: None,
    };
    let first = t0 + SignedDuration::from_hours(24);
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", Some("not a member")), check("acc2", None)],
            recheck_at: first,
            waiting: Vec::new(),
        },
        t0,
    );
    assert!(
        matches!(&fx[..], [Effect::RefusedHere { code, renewed: false, .. }] if code == "PRE_FLIGHT_CHECK"),
        "{fx:?}"
    );
    let second = t0 + SignedDuration::from_hours(48);
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", Some("not a member")), check("acc2", None)],
            recheck_at: second,
            waiting: Vec::new(),
        },
        t0 + SignedDuration::from_hours(24),
    );
    assert!(
        matches!(&fx[..], [Effect::RefusedHere { renewed: true, until, .. }] if *until == second),
        "{fx:?}"
    );
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", None), check("acc2", None)],
            recheck_at: second,
            waiting: Vec::new(),
        },
        t0 + SignedDuration::from_hours(25),
    );
    assert!(
        matches!(&fx[..], [Effect::AllowedHere { account, target }] if &**account == "acc1" && target.key() == "@shared"),
        "{fx:?}"
    );
}
