//! Found by the chaos soak (issue 19, `bench/soak.sh --deliveries 300 --kills 5 --seed 19
//! --accounts 3 --chats 10`): Telegram's slow mode binds the *account* in a chat, but the
//! planner held only the refused delivery. Two broadcasters of one account post into one
//! slow-mode chat: the second is told `SLOWMODE_WAIT_X`, and the first, in its next cycle,
//! posts into that chat before the X seconds are over.
//!
//! The scripted Telegram below enforces slow mode per (account, chat) as the server does and
//! records every send that arrives inside a wait it had told.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, SendError, TargetRef};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::{SentMessage, Step};

fn spec(name: &str, chats: &[TargetRef]) -> BroadcasterSpec {
    BroadcasterSpec {
        name: name.into(),
        account: "acc1".into(),
        targets: chats.to_vec(),
        messages: MessageSet::new(name, vec![Message::new(format!("{name} text"))]),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(10),
            cycle_delay: Duration::from_secs(30),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: Schedule::always(),
        content: Content::default(),
    }
}

#[test]
fn a_slow_mode_wait_holds_every_broadcaster_of_the_account_in_that_chat() {
    let t0: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let chats = [
        TargetRef::id(-1_001_000_000_001),
        TargetRef::id(-1_001_000_000_002),
    ];
    let mut p = Planner::new(
        vec![AccountSpec {
            name: "acc1".into(),
            delay_between_chats: Duration::from_secs(10),
            jitter: Jitter(0.0),
        }],
        vec![spec("b2b", &chats), spec("aaa", &chats)],
        PlannerSettings {
            seed: 7,
            ..PlannerSettings::default()
        },
        t0,
    )
    .unwrap();
    // Slow mode of 120 s in both chats, per (account, chat) as Telegram counts it.
    let slow = jiff::SignedDuration::from_secs(120);
    let mut last_post: HashMap<String, Timestamp> = HashMap::new();
    let mut told: HashMap<String, Timestamp> = HashMap::new();
    let mut inside: Vec<String> = Vec::new();
    let mut posts = 0;
    let until = t0 + jiff::SignedDuration::from_secs(1800);
    smb_engine::simulate(
        &mut p,
        t0,
        until,
        |d, now| {
            let chat = d.target.key();
            if told.get(&chat).is_some_and(|end| now < *end) {
                inside.push(format!(
                    "{} cycle {} into {chat} at +{} s, inside the wait told until +{} s",
                    d.broadcaster_name,
                    d.cycle,
                    now.duration_since(t0).as_secs(),
                    told[&chat].duration_since(t0).as_secs()
                ));
            }
            if let Some(last) = last_post.get(&chat)
                && now.duration_since(*last) < slow
            {
                let left = (slow - now.duration_since(*last)).as_secs().max(1);
                told.insert(chat, now + jiff::SignedDuration::from_secs(left));
                return Err(SendError::from_telegram(&format!("SLOWMODE_WAIT_{left}")));
            }
            last_post.insert(chat, now);
            posts += 1;
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
        |_: Step<'_>| ControlFlow::Continue(()),
    );
    assert!(posts >= 8, "both broadcasters keep posting ({posts})");
    assert!(
        inside.is_empty(),
        "sends inside a slow-mode wait Telegram had told the account:\n{}",
        inside.join("\n")
    );
}
