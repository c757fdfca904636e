//! Issue 17: an A/B slot of a message set is split per chat per cycle, balanced and the same
//! for a chat whichever way the planner is driven.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, TargetRef};
use smb_engine::planner::{
    AccountSpec, BroadcasterSpec, Content, Delivery, Planner, PlannerSettings,
};
use smb_engine::{SentMessage, Step};

fn labelled(text: &str, label: Option<&str>) -> Message {
    Message {
        variant: label.map(str::to_owned),
        ..Message::new(text)
    }
}

fn planner(targets: usize, messages: Vec<Message>) -> Planner {
    let spec = BroadcasterSpec {
        name: "b2b".into(),
        account: "acc1".into(),
        targets: (0..targets)
            .map(|i| TargetRef::id(-1_001_000_000_000 - i as i64))
            .collect(),
        messages: MessageSet::new("b2b", messages),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(10),
            cycle_delay: Duration::from_secs(600),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: Schedule::always(),
        content: Content::default(),
    };
    Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: Duration::from_secs(10),
            jitter: Jitter(0.0),
        }],
        vec![spec],
        PlannerSettings {
            seed: 7,
            ..PlannerSettings::default()
        },
        "2026-05-01T10:00:00Z".parse().unwrap(),
    )
    .unwrap()
}

fn sends(p: &mut Planner, hours: i64) -> Vec<Delivery> {
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let until = start + jiff::SignedDuration::from_hours(hours);
    let mut out = Vec::new();
    smb_engine::simulate(
        p,
        start,
        until,
        |_, _| {
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
        |step| {
            if let Step::Send { delivery, .. } = step {
                out.push(delivery.clone());
            }
            ControlFlow::Continue(())
        },
    );
    out
}

#[test]
fn an_ab_set_gives_each_chat_both_variants_and_each_cycle_both_halves() {
    let mut p = planner(
        9,
        vec![
            labelled("price A", Some("A")),
            labelled("price B", Some("B")),
        ],
    );
    let sent = sends(&mut p, 24);
    assert!(sent.len() >= 9 * 20, "only {} sends", sent.len());
    let mut per_cycle: HashMap<u64, [u32; 2]> = HashMap::new();
    let mut per_chat: HashMap<String, [u32; 2]> = HashMap::new();
    for d in &sent {
        let (i, text) = match d.variant.as_deref() {
            Some("A") => (0, "price A"),
            Some("B") => (1, "price B"),
            other => panic!("delivery without a variant: {other:?}"),
        };
        // The text sent is the variant's own.
        assert_eq!(&*d.text, text);
        per_cycle.entry(d.cycle).or_default()[i] += 1;
        per_chat.entry(d.target.key()).or_default()[i] += 1;
    }
    let complete: Vec<_> = per_cycle.iter().filter(|(_, c)| c[0] + c[1] == 9).collect();
    assert!(complete.len() >= 20);
    for (cycle, c) in complete {
        // Nine chats: five and four, whichever way round.
        assert!(c[0].abs_diff(c[1]) == 1, "cycle {cycle}: {c:?}");
    }
    // Each chat alternates: over its cycles it got each variant about as often.
    for (chat, c) in &per_chat {
        assert!(c[0].abs_diff(c[1]) <= 1, "{chat}: {c:?}");
    }
    // A chat's variant in a cycle is the same however often the run is repeated.
    let mut again = planner(
        9,
        vec![
            labelled("price A", Some("A")),
            labelled("price B", Some("B")),
        ],
    );
    let replay = sends(&mut again, 24);
    let key = |d: &Delivery| (d.cycle, d.target.key(), d.variant.clone());
    assert_eq!(
        sent.iter().map(key).collect::<Vec<_>>(),
        replay.iter().map(key).collect::<Vec<_>>()
    );
}

#[test]
fn plain_messages_between_variant_slots_carry_no_label() {
    let mut p = planner(
        4,
        vec![
            Message::new("plain"),
            labelled("price A", Some("A")),
            labelled("price B", Some("B")),
        ],
    );
    let sent = sends(&mut p, 2);
    let plain: Vec<_> = sent.iter().filter(|d| &*d.text == "plain").collect();
    assert!(!plain.is_empty());
    assert!(plain.iter().all(|d| d.variant.is_none()));
    // Cycles alternate between the plain slot and the A/B slot.
    assert!(
        sent.iter()
            .all(|d| (d.cycle % 2 == 1) == (&*d.text == "plain"))
    );
    let ab: Vec<_> = sent.iter().filter(|d| d.cycle == 2).collect();
    assert_eq!(ab.len(), 4);
    assert_eq!(
        ab.iter()
            .filter(|d| d.variant.as_deref() == Some("A"))
            .count(),
        2
    );
}
