//! Chats as a whole, on the planner's virtual clock: per-chat rules held across broadcasters
//! and accounts over multi-day runs (DST included), slow mode known before sending, and
//! backup accounts that take only deliveries never attempted, only where they are members.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use smb_domain::{
    AccountStop, Chat, ChatRules, DeliveryStatus, HoldReason, HourWindow, Jitter, Message,
    MessageSet, Pacing, Rotation, Schedule, SendError, TargetRef, Weekdays,
};
use smb_engine::planner::{
    AccountSpec, BroadcasterSpec, CHECK_REASON, ChatFacts, ChatSetup, Content, Delivery, Effect,
    Event, Planner, PlannerSettings, TargetCheck,
};
use smb_engine::{JournalPost, SentMessage, StoredAccount, StoredCycle, StoredDelivery};

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn target(s: &str) -> TargetRef {
    TargetRef::parse(s).expect("target")
}

fn schedule(tz: &str) -> Schedule {
    Schedule {
        tz: TimeZone::get(tz).expect("tz"),
        start_hour: None,
        quiet: None,
    }
}

fn spec(name: &str, account: &str, targets: &[&str], cycle: u64, tz: &str) -> BroadcasterSpec {
    BroadcasterSpec {
        name: name.into(),
        account: account.into(),
        targets: targets.iter().map(|t| target(t)).collect(),
        messages: MessageSet::new(name, vec![Message::new(format!("{name} price list"))]),
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(20),
            cycle_delay: Duration::from_secs(cycle),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: schedule(tz),
        content: Content::default(),
    }
}

fn account(name: &str) -> AccountSpec {
    AccountSpec {
        name: name.into(),
        delay_between_chats: Duration::from_secs(15),
        jitter: Jitter(0.0),
    }
}

fn planner(
    accounts: &[&str],
    bs: Vec<BroadcasterSpec>,
    setup: ChatSetup,
    now: Timestamp,
) -> Planner {
    let mut p = Planner::new(
        accounts.iter().map(|a| account(a)).collect(),
        bs,
        PlannerSettings {
            once: false,
            seed: 11,
            ..PlannerSettings::default()
        },
        now,
    )
    .expect("planner");
    p.set_chats(setup).expect("chat setup");
    p
}

/// Broadcaster b2b on acc1 into `chats` once a day, with acc3 as its backup.
fn b2b_with_backup(chats: &[&str], now: Timestamp) -> Planner {
    planner(
        &["acc1", "acc3"],
        vec![spec("b2b", "acc1", chats, 24 * 3600, "UTC")],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        now,
    )
}

/// A pre-flight check found `account` a member of each of `chats`.
fn members(p: &mut Planner, account: &str, chats: &[&str], at: Timestamp) {
    for c in chats {
        p.handle(
            Event::ChatInfo(ChatFacts {
                account: account.into(),
                chat: chat(c),
                member: Some(true),
                slowmode_seconds: None,
            }),
            at,
        );
    }
}

fn rules(
    min_gap_h: Option<u64>,
    days: Option<&str>,
    hours: Option<&str>,
    max: Option<u32>,
) -> ChatRules {
    ChatRules {
        min_gap: min_gap_h.map(|h| Duration::from_secs(h * 3600)),
        days: days.map(|d| Weekdays::parse(d).expect("days")),
        hours: hours.map(|h| HourWindow::parse(h).expect("hours")),
        max_per_day: max,
    }
}

fn chat(s: &str) -> Chat {
    target(s).chat
}

/// One send as Telegram saw it: when the request reached it, the delivery, the answer.
struct Sent {
    at: Timestamp,
    d: Delivery,
    result: Result<SentMessage, SendError>,
}

#[derive(Default)]
struct Trace {
    sends: Vec<Sent>,
    effects: Vec<(Timestamp, Effect)>,
}

impl Trace {
    /// Successful posts per chat: (time, account, broadcaster).
    fn posts_by_chat(&self) -> BTreeMap<String, Vec<(Timestamp, String, String)>> {
        let mut out: BTreeMap<String, Vec<(Timestamp, String, String)>> = BTreeMap::new();
        for s in self.sends.iter().filter(|s| s.result.is_ok()) {
            out.entry(s.d.target.chat_only().key()).or_default().push((
                s.at,
                s.d.account_name.to_string(),
                s.d.broadcaster_name.to_string(),
            ));
        }
        out
    }

    fn errors(&self, code: &str) -> usize {
        self.sends
            .iter()
            .filter(|s| matches!(&s.result, Err(e) if e.code() == code))
            .count()
    }

    fn held(&self) -> Vec<(Timestamp, TargetRef, String, Timestamp, bool)> {
        self.effects
            .iter()
            .filter_map(|(at, e)| match e {
                Effect::ChatHeld {
                    target,
                    reason,
                    until,
                    skipped,
                    ..
                } => Some((*at, target.clone(), reason.to_string(), *until, *skipped)),
                _ => None,
            })
            .collect()
    }
}

/// A send on its way: when its answer comes, the delivery, and the answer.
type InFlight = (Timestamp, Delivery, Result<SentMessage, SendError>);

/// Drives `p` until `until`. A send's answer arrives `latency` after the request, so other
/// accounts poll while it is in flight; after anything happens every account polls again, as
/// the driver wakes them. `telegram` answers each send.
fn simulate(
    p: &mut Planner,
    start: Timestamp,
    until: Timestamp,
    latency: Duration,
    mut telegram: impl FnMut(&Delivery, Timestamp) -> Result<SentMessage, SendError>,
) -> Trace {
    let mut trace = Trace::default();
    let n = p.account_count();
    let mut wake: Vec<Option<Timestamp>> = vec![Some(start); n];
    let mut in_flight: Vec<Option<InFlight>> = vec![None; n];
    let lat = SignedDuration::try_from(latency).expect("latency");
    for _ in 0..2_000_000 {
        // Outcomes first at equal times.
        let next_outcome = in_flight
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|(t, ..)| (*t, i)))
            .min();
        let next_poll = wake
            .iter()
            .enumerate()
            .filter(|(i, _)| in_flight[*i].is_none())
            .filter_map(|(i, w)| w.map(|t| (t, i)))
            .min();
        let (now, a, is_outcome) = match (next_outcome, next_poll) {
            (Some((to, i)), Some((tp, _))) if to <= tp => (to, i, true),
            (_, Some((tp, j))) => (tp, j, false),
            (Some((to, i)), None) => (to, i, true),
            (None, None) => break,
        };
        if now > until {
            break;
        }
        if is_outcome {
            let Some((_, d, result)) = in_flight[a].take() else {
                unreachable!()
            };
            for e in p.handle(
                Event::Outcome {
                    delivery: d,
                    result,
                },
                now,
            ) {
                trace.effects.push((now, e));
            }
            for w in &mut wake {
                *w = Some(w.map_or(now, |t| t.min(now)));
            }
            continue;
        }
        wake[a] = None;
        for e in p.handle(Event::Poll { account: a }, now) {
            match e {
                Effect::Wait { until } => wake[a] = until,
                Effect::Send(d) => {
                    let result = telegram(&d, now);
                    trace.sends.push(Sent {
                        at: now,
                        d: d.clone(),
                        result: result.clone(),
                    });
                    in_flight[a] = Some((now + lat, d, result));
                    wake[a] = Some(now + lat);
                }
                other => {
                    trace.effects.push((now, other));
                }
            }
        }
    }
    trace
}

fn ok(_: &Delivery, _: Timestamp) -> Result<SentMessage, SendError> {
    Ok(SentMessage {
        message_id: Some(1),
    })
}

fn local(t: Timestamp, tz: &str) -> jiff::Zoned {
    t.to_zoned(TimeZone::get(tz).expect("tz"))
}

#[test]
fn rules_hold_over_ten_days_across_two_broadcasters_on_two_accounts() {
    let tz = "Europe/Moscow";
    let t0 = ts("2026-03-09T00:00:00Z"); // Monday 03:00 MSK
    let setup = ChatSetup {
        rules: HashMap::from([
            (
                chat("@wholesale_spb"),
                rules(Some(24), Some("mon-sat"), Some("9-21"), Some(1)),
            ),
            (
                chat("@market_msk"),
                rules(Some(2), None, Some("10-18"), Some(3)),
            ),
        ]),
        ..ChatSetup::default()
    };
    // Both broadcasters post into both rule chats (b2c into another topic of the wholesale
    // forum: the rule is the chat's) and each into a chat without rules.
    let mut p = planner(
        &["acc1", "acc2"],
        vec![
            spec(
                "b2b",
                "acc1",
                &["@wholesale_spb/7", "@market_msk", "@free_b2b"],
                1800,
                tz,
            ),
            spec(
                "b2c",
                "acc2",
                &["@market_msk", "@wholesale_spb", "@free_b2c"],
                1800,
                tz,
            ),
        ],
        setup,
        t0,
    );
    let end = ts("2026-03-19T00:00:00Z");
    let trace = simulate(&mut p, t0, end, Duration::from_secs(3), ok);
    let posts = trace.posts_by_chat();

    let wholesale = &posts["@wholesale_spb"];
    for w in wholesale.windows(2) {
        assert!(
            w[1].0.duration_since(w[0].0) >= SignedDuration::from_hours(24),
            "two posts in @wholesale_spb closer than 24 h: {w:?}"
        );
    }
    let mut per_day: BTreeMap<jiff::civil::Date, u32> = BTreeMap::new();
    for (at, _, _) in wholesale {
        let z = local(*at, tz);
        assert_ne!(
            z.weekday(),
            jiff::civil::Weekday::Sunday,
            "posted on Sunday: {z}"
        );
        assert!((9..21).contains(&z.hour()), "posted outside 9-21: {z}");
        *per_day.entry(z.date()).or_default() += 1;
    }
    assert!(per_day.values().all(|n| *n <= 1), "{per_day:?}");
    // 24 h apart and never on Sunday: 8 of the 10 days (Sunday 15th lost, and the gap
    // forbids catching up). Both broadcasters and both accounts took part.
    assert!(
        wholesale.len() >= 7,
        "only {} posts: {wholesale:?}",
        wholesale.len()
    );
    let accounts: std::collections::BTreeSet<&str> =
        wholesale.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(accounts.len(), 2, "{wholesale:?}");

    let market = &posts["@market_msk"];
    let mut per_day: BTreeMap<jiff::civil::Date, u32> = BTreeMap::new();
    for w in market.windows(2) {
        assert!(
            w[1].0.duration_since(w[0].0) >= SignedDuration::from_hours(2),
            "two posts in @market_msk closer than 2 h: {w:?}"
        );
    }
    for (at, _, _) in market {
        let z = local(*at, tz);
        assert!((10..18).contains(&z.hour()), "posted outside 10-18: {z}");
        *per_day.entry(z.date()).or_default() += 1;
    }
    assert!(per_day.values().all(|n| *n <= 3), "{per_day:?}");
    assert_eq!(
        per_day.values().filter(|n| **n == 3).count(),
        10,
        "{per_day:?}"
    );

    // Chats without rules are not touched: a post every cycle.
    assert!(
        posts["@free_b2b"].len() > 300,
        "{}",
        posts["@free_b2b"].len()
    );
    // Skips say why, with the next allowed time, and that time is right.
    let held = trace.held();
    assert!(
        held.iter().all(|h| h.4),
        "rules skip; they never wait in a cycle"
    );
    let (at, t, reason, until, _) = held
        .iter()
        .find(|h| h.1.chat == chat("@wholesale_spb") && h.2.contains("min_gap 24h"))
        .expect("a min_gap skip");
    // The next allowed moment is the hold's own field (checked below), not part of the words.
    assert!(reason.starts_with("chat rule min_gap 24h"), "{reason}");
    let next_post = wholesale
        .iter()
        .map(|p| p.0)
        .find(|p| p > at)
        .expect("a later post");
    assert!(
        next_post >= *until,
        "{t}: posted at {next_post} before {until}"
    );
}

#[test]
fn a_one_hour_window_stays_at_local_nine_across_the_dst_change() {
    let tz = "Europe/Berlin";
    let t0 = ts("2026-10-21T00:00:00Z");
    let setup = ChatSetup {
        rules: HashMap::from([(
            chat("@berlin_market"),
            rules(None, None, Some("9-10"), Some(1)),
        )]),
        ..ChatSetup::default()
    };
    let mut p = planner(
        &["acc1"],
        vec![spec("b", "acc1", &["@berlin_market"], 600, tz)],
        setup,
        t0,
    );
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-10-29T00:00:00Z"),
        Duration::from_secs(2),
        ok,
    );
    let posts = &trace.posts_by_chat()["@berlin_market"];
    let days: Vec<(jiff::civil::Date, i8, i8)> = posts
        .iter()
        .map(|(at, _, _)| {
            let z = local(*at, tz);
            (z.date(), z.hour(), at.to_zoned(TimeZone::UTC).hour())
        })
        .collect();
    // One post a day, every day 21st–28th, at 09:xx local: 07:xx UTC in summer time, 08:xx
    // UTC after the 25th (winter time). The 25th itself has 25 hours.
    assert_eq!(days.len(), 8, "{days:?}");
    for (i, (date, hour, utc_hour)) in days.iter().enumerate() {
        assert_eq!(date.day() as usize, 21 + i, "{days:?}");
        assert_eq!(*hour, 9, "{days:?}");
        assert_eq!(*utc_hour, if date.day() < 25 { 7 } else { 8 }, "{days:?}");
    }
}

/// Telegram's slow mode in `@slow_forum`: one message per member every `seconds`.
fn slow_telegram(
    seconds: i64,
) -> impl FnMut(&Delivery, Timestamp) -> Result<SentMessage, SendError> {
    let mut last: HashMap<(String, Chat), Timestamp> = HashMap::new();
    move |d, now| {
        if d.target.chat != chat("@slow_forum") {
            return Ok(SentMessage {
                message_id: Some(1),
            });
        }
        let key = (d.account_name.to_string(), d.target.chat.clone());
        if let Some(t) = last.get(&key) {
            let left = seconds - now.duration_since(*t).as_secs();
            if left > 0 {
                return Err(SendError::rpc("SLOWMODE_WAIT", Some(left as u32)));
            }
        }
        last.insert(key, now);
        Ok(SentMessage {
            message_id: Some(1),
        })
    }
}

fn slow_run(known: bool) -> Trace {
    let tz = "UTC";
    let t0 = ts("2026-05-04T00:00:00Z");
    // Two broadcasters of one account post into the same slow chat (two topics of it) every
    // 5 minutes; the chat allows one message per 10 minutes.
    let mut p = planner(
        &["acc1"],
        vec![
            spec("b2b", "acc1", &["@slow_forum/3", "@other_a"], 300, tz),
            spec("b2c", "acc1", &["@slow_forum/4", "@other_b"], 300, tz),
        ],
        ChatSetup::default(),
        t0,
    );
    if known {
        p.handle(
            Event::ChatInfo(ChatFacts {
                account: "acc1".into(),
                chat: chat("@slow_forum"),
                member: Some(true),
                slowmode_seconds: Some(600),
            }),
            t0,
        );
    }
    simulate(
        &mut p,
        t0,
        ts("2026-05-05T00:00:00Z"),
        Duration::from_secs(1),
        slow_telegram(600),
    )
}

#[test]
fn a_known_slow_mode_is_waited_out_before_sending() {
    let trace = slow_run(true);
    assert_eq!(trace.errors("SLOWMODE_WAIT"), 0);
    let posts = &trace.posts_by_chat()["@slow_forum"];
    // 10-minute slow mode over a day: about one post per 10 minutes, never closer.
    for w in posts.windows(2) {
        assert!(
            w[1].0.duration_since(w[0].0) >= SignedDuration::from_mins(10),
            "{w:?}"
        );
    }
    assert!(posts.len() >= 130, "{}", posts.len());
    // The wait is shown, and is a wait, not a skip.
    let held = trace.held();
    assert!(!held.is_empty());
    assert!(held.iter().all(|h| !h.4 && h.2.contains("slow mode 600 s")));
    // Both topics keep being served.
    let topics: std::collections::BTreeSet<Option<i32>> = trace
        .sends
        .iter()
        .filter(|s| s.d.target.chat == chat("@slow_forum"))
        .map(|s| s.d.target.topic)
        .collect();
    assert_eq!(topics.len(), 2);
}

#[test]
fn an_unknown_slow_mode_is_learned_from_errors_the_old_way() {
    // The same run without the chat's info: Telegram answers SLOWMODE_WAIT many times. This
    // is what the pre-flight information removes (and shows the test above can fail).
    assert!(slow_run(false).errors("SLOWMODE_WAIT") > 50);
}

/// acc1 posts for "b2b", acc3 is its backup and a member of A and B only (not of C; unknown
/// for D). Telegram puts acc1 in a flood wait of `flood` seconds at its second send.
fn backup_run(flood: u32) -> Trace {
    backup_run_refused(SendError::rpc("FLOOD_WAIT", Some(flood)))
}

/// [`backup_run`] with acc1's second send answered by `refusal`.
fn backup_run_refused(refusal: SendError) -> Trace {
    let t0 = ts("2026-05-04T10:00:00Z");
    let mut p = planner(
        &["acc1", "acc3"],
        vec![spec(
            "b2b",
            "acc1",
            &[
                "@chat_s", "@chat_w", "@chat_a", "@chat_b", "@chat_c", "@chat_d",
            ],
            24 * 3600,
            "UTC",
        )],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    for (c, member) in [("@chat_a", true), ("@chat_b", true), ("@chat_c", false)] {
        p.handle(
            Event::ChatInfo(ChatFacts {
                account: "acc3".into(),
                chat: chat(c),
                member: Some(member),
                slowmode_seconds: None,
            }),
            t0,
        );
    }
    let mut acc1_sends = 0;
    simulate(
        &mut p,
        t0,
        ts("2026-05-04T20:00:00Z"),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends == 2 {
                    return Err(refusal.clone());
                }
            }
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
    )
}

#[test]
fn a_backup_takes_only_unattempted_deliveries_in_chats_it_is_a_member_of() {
    let trace = backup_run(3600);
    let by: Vec<(String, String)> = trace
        .sends
        .iter()
        .filter(|s| s.result.is_ok())
        .map(|s| (s.d.target.key(), s.d.account_name.to_string()))
        .collect();
    let sent_by = |t: &str| -> Vec<&str> {
        by.iter()
            .filter(|(k, _)| k == t)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    // @chat_w met the flood wait on acc1; acc3 is no member there, so it waits for acc1
    // (same random_id).
    assert_eq!(sent_by("@chat_w"), ["acc1"]);
    let w_sends: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| s.d.target.key() == "@chat_w")
        .collect();
    assert_eq!(w_sends.len(), 2);
    assert_eq!(w_sends[0].d.random_id, w_sends[1].d.random_id);
    assert!(w_sends[1].at >= w_sends[0].at + SignedDuration::from_hours(1));
    // A and B went through the backup during the wait; C (not a member) and D (unknown)
    // waited for acc1. Every chat got exactly one post.
    assert_eq!(sent_by("@chat_s"), ["acc1"]);
    assert_eq!(sent_by("@chat_a"), ["acc3"]);
    assert_eq!(sent_by("@chat_b"), ["acc3"]);
    assert_eq!(sent_by("@chat_c"), ["acc1"]);
    assert_eq!(sent_by("@chat_d"), ["acc1"]);
    let backup_sends: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| &*s.d.account_name == "acc3")
        .collect();
    assert!(
        backup_sends
            .iter()
            .all(|s| s.at < w_sends[1].at && s.d.attempt == 0)
    );
    // The backup's own pacing budget: 15 s between its sends.
    assert!(backup_sends[1].at.duration_since(backup_sends[0].at) >= SignedDuration::from_secs(15));
}

/// The soak's find: a send whose connection was lost, and whose second try met FLOOD_WAIT,
/// came back as a bare network error and was retried 190 ms later, inside the wait. As
/// `Unconfirmed` the wait is obeyed: acc1 sends nothing for the hour, and the delivery (maybe
/// in the chat already) stays with acc1 and its `random_id` instead of going to the backup.
#[test]
fn a_flood_wait_told_to_a_second_try_pauses_the_account_and_keeps_the_delivery() {
    let trace = backup_run_refused(SendError::Unconfirmed(Box::new(SendError::rpc(
        "FLOOD_WAIT",
        Some(3600),
    ))));
    let w: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| s.d.target.key() == "@chat_w")
        .collect();
    assert_eq!(w.len(), 2, "refused once, then sent after the wait");
    assert!(w.iter().all(|s| &*s.d.account_name == "acc1"));
    assert_eq!(w[0].d.random_id, w[1].d.random_id);
    let wait_end = w[0].at + SignedDuration::from_hours(1);
    assert!(
        trace
            .sends
            .iter()
            .filter(|s| &*s.d.account_name == "acc1")
            .all(|s| s.at <= w[0].at || s.at >= wait_end),
        "acc1 sent inside the told wait"
    );
    // The backup still takes the untried deliveries of chats it is a member of.
    assert!(
        trace
            .sends
            .iter()
            .any(|s| &*s.d.account_name == "acc3" && s.result.is_ok())
    );
}

/// A refusal of the second try that tells no wait (here a chat's) is retried as a network
/// error by the same account, and the retry meets it and acts on it.
#[test]
fn other_refusals_of_a_second_try_are_retried_by_the_same_account() {
    let trace = backup_run_refused(SendError::Unconfirmed(Box::new(SendError::rpc(
        "CHAT_WRITE_FORBIDDEN",
        None,
    ))));
    let w: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| s.d.target.key() == "@chat_w")
        .collect();
    assert_eq!(w.len(), 2);
    assert!(w.iter().all(|s| &*s.d.account_name == "acc1"));
    assert_eq!(w[0].d.random_id, w[1].d.random_id);
    assert_eq!(w[1].d.attempt, 1);
}

/// qa5 F1: a delivery refused by a flood wait longer than `backup_after` (nothing was
/// posted) goes to a backup that is a member there, at once and with the same random_id,
/// and the cycle completes without waiting for the flood wait (PEER_FLOOD already did so).
#[test]
fn a_delivery_refused_by_a_long_flood_wait_goes_to_the_backup_at_once() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@chat_a", "@chat_b", "@chat_c", "@chat_d"];
    let mut p = b2b_with_backup(&chats, t0);
    members(&mut p, "acc3", &chats, t0);
    let mut acc1_sends = 0;
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-04T10:30:00Z"),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends == 2 {
                    return Err(SendError::rpc("FLOOD_WAIT", Some(3600)));
                }
            }
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
    );
    let b_sends: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| s.d.target.key() == "@chat_b")
        .collect();
    assert_eq!(b_sends.len(), 2, "refused once, then posted once");
    assert_eq!(&*b_sends[0].d.account_name, "acc1");
    assert!(b_sends[0].result.is_err());
    assert_eq!(&*b_sends[1].d.account_name, "acc3");
    assert!(b_sends[1].result.is_ok());
    assert_eq!(b_sends[1].d.random_id, b_sends[0].d.random_id);
    // Within the backup's own pacing (15 s between its sends), not after acc1's hour.
    assert!(b_sends[1].at <= b_sends[0].at + SignedDuration::from_secs(60));
    // Every chat got exactly one post, and cycle 1 completed during acc1's flood wait.
    let posts = trace.posts_by_chat();
    for c in chats {
        assert_eq!(posts.get(c).map(Vec::len), Some(1), "{c}: {posts:?}");
    }
    let completed: Vec<Timestamp> = trace
        .effects
        .iter()
        .filter_map(|(at, e)| match e {
            Effect::CompleteCycle { cycle: 1, .. } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(completed.len(), 1, "{:?}", trace.effects);
    assert!(completed[0] < b_sends[0].at + SignedDuration::from_secs(3600));
}

/// The hand-over of qa5 F1 is for another account only: a flood wait told the backup itself
/// binds the backup.
#[test]
fn a_flood_wait_told_the_backup_binds_the_backup() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@chat_a", "@chat_b", "@chat_c", "@chat_d"];
    let mut p = b2b_with_backup(&chats, t0);
    members(&mut p, "acc3", &chats, t0);
    let (mut acc1_sends, mut acc3_sends) = (0, 0);
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-04T10:30:00Z"),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends == 2 {
                    return Err(SendError::rpc("FLOOD_WAIT", Some(3600)));
                }
            } else {
                acc3_sends += 1;
                if acc3_sends == 1 {
                    return Err(SendError::rpc("FLOOD_WAIT", Some(120)));
                }
            }
            Ok(SentMessage {
                message_id: Some(1),
            })
        },
    );
    let acc3: Vec<&Sent> = trace
        .sends
        .iter()
        .filter(|s| &*s.d.account_name == "acc3")
        .collect();
    assert!(acc3.len() >= 2, "acc3 sent {} times", acc3.len());
    assert!(acc3[0].result.is_err());
    assert!(
        acc3[1].at >= acc3[0].at + SignedDuration::from_secs(120),
        "acc3 sent at {} inside its own 120 s flood wait told at {}",
        acc3[1].at,
        acc3[0].at
    );
    // Nothing is lost: every chat still gets exactly one post.
    let posts = trace.posts_by_chat();
    for c in chats {
        assert_eq!(posts.get(c).map(Vec::len), Some(1), "{c}: {posts:?}");
    }
}

#[test]
fn a_short_flood_wait_keeps_every_delivery_on_its_account() {
    let trace = backup_run(60);
    assert!(
        trace.sends.iter().all(|s| &*s.d.account_name == "acc1"),
        "a 60 s wait is under backup_after (10 min)"
    );
    assert_eq!(trace.sends.iter().filter(|s| s.result.is_ok()).count(), 6);
}

#[test]
fn a_pending_delivery_never_moves_to_the_backup() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let mut p = planner(
        &["acc1", "acc3"],
        vec![spec(
            "b2b",
            "acc1",
            &["@chat_a", "@chat_b"],
            24 * 3600,
            "UTC",
        )],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    // The journal: cycle 1 was sending to @chat_a from acc1 when the daemon stopped (pending:
    // it may be in the chat), and acc1 is stopped since.
    let accounts = HashMap::from([(
        "acc1".to_string(),
        StoredAccount {
            paused_until: None,
            stopped_reason: Some(AccountStop::Telegram("AUTH_KEY_UNREGISTERED".into())),
            last_send_at: Some(t0),
        },
    )]);
    let cycles = HashMap::from([(
        "b2b".to_string(),
        StoredCycle {
            cycle: 1,
            message: "b2b price list".into(),
            started_at: t0,
            completed_at: None,
            deliveries: vec![StoredDelivery {
                target: "@chat_a".into(),
                status: DeliveryStatus::Pending,
                random_id: 4242,
                attempts: 0,
                retry_at: None,
            }],
        },
    )]);
    p.restore(&accounts, &HashMap::new(), &cycles, t0);
    p.restore_journal(
        &[JournalPost {
            broadcaster: "b2b".into(),
            cycle: 1,
            target: "@chat_a".into(),
            account: "acc1".into(),
            status: DeliveryStatus::Pending,
            at: t0,
        }],
        t0,
    );
    members(&mut p, "acc3", &["@chat_a", "@chat_b"], t0);
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-05T10:00:00Z"),
        Duration::from_secs(1),
        ok,
    );
    let sends: Vec<(String, String)> = trace
        .sends
        .iter()
        .map(|s| (s.d.target.key(), s.d.account_name.to_string()))
        .collect();
    assert_eq!(sends, [("@chat_b".to_string(), "acc3".to_string())]);
    // qa8: the pending delivery no longer holds cycle 1 open while acc1 is stopped: it is
    // closed `failed` (ACCOUNT_STOPPED: it may be in the chat) and the cycle completes.
    let closed: Vec<(String, String)> = trace
        .effects
        .iter()
        .filter_map(|(_, e)| match e {
            Effect::Record {
                delivery,
                outcome: smb_engine::Outcome::Failed { code, .. },
            } => Some((delivery.target.key(), code.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        [("@chat_a".to_string(), "ACCOUNT_STOPPED".to_string())]
    );
    assert!(
        trace.effects.iter().any(|(_, e)| matches!(
            e,
            Effect::CompleteCycle {
                cycle: 1,
                sent: 1,
                failed: 1,
                ..
            }
        )),
        "{:?}",
        trace.effects
    );
}

#[test]
fn a_restart_remembers_the_last_post_in_a_ruled_chat() {
    let t0 = ts("2026-05-04T12:00:00Z");
    let mut p = planner(
        &["acc1"],
        vec![spec(
            "b2b",
            "acc1",
            &["@wholesale_spb/7", "@free"],
            3600,
            "UTC",
        )],
        ChatSetup {
            rules: HashMap::from([(chat("@wholesale_spb"), rules(Some(24), None, None, None))]),
            ..ChatSetup::default()
        },
        t0,
    );
    // Another broadcaster posted into another topic of the chat two hours before the start.
    p.restore_journal(
        &[JournalPost {
            broadcaster: "b2c".into(),
            cycle: 9,
            target: "@wholesale_spb/3".into(),
            account: "acc1".into(),
            status: DeliveryStatus::Sent,
            at: ts("2026-05-04T10:00:00Z"),
        }],
        t0,
    );
    let first = simulate(
        &mut p,
        t0,
        ts("2026-05-04T13:00:00Z"),
        Duration::from_secs(1),
        ok,
    );
    assert_eq!(first.held()[0].3, ts("2026-05-05T10:00:00Z"));
    // What `stats` and the dashboard show meanwhile.
    let holds = p.chat_holds(ts("2026-05-04T13:00:00Z"));
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0].target, "@wholesale_spb/7");
    assert_eq!(holds[0].until, ts("2026-05-05T10:00:00Z"));
    assert!(
        holds[0].reason.to_string().contains("min_gap 24h"),
        "{}",
        holds[0].reason
    );
    let rest = simulate(
        &mut p,
        ts("2026-05-04T13:00:00Z"),
        ts("2026-05-05T12:00:00Z"),
        Duration::from_secs(1),
        ok,
    );
    let posts = &rest.posts_by_chat()["@wholesale_spb"];
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].0 >= ts("2026-05-05T10:00:00Z"), "{posts:?}");
    assert!(!first.posts_by_chat().contains_key("@wholesale_spb"));
    // The next cycle is held by the new post's gap.
    let holds = p.chat_holds(ts("2026-05-05T12:00:00Z"));
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert!(holds[0].until >= posts[0].0 + SignedDuration::from_hours(24));
}

fn sends(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(d) => Some(d.target.key()),
            _ => None,
        })
        .collect()
}

/// Polls account 0 `polls` times, 30 s apart from `now` (which moves on), answering each
/// send as sent; gives the targets sent to, in order.
fn poll_sending(p: &mut Planner, now: &mut Timestamp, polls: usize) -> Vec<String> {
    let mut sent = Vec::new();
    for _ in 0..polls {
        let fx = p.handle(Event::Poll { account: 0 }, *now);
        for e in &fx {
            if let Effect::Send(d) = e {
                p.handle(
                    Event::Outcome {
                        delivery: d.clone(),
                        result: Ok(SentMessage {
                            message_id: Some(1),
                        }),
                    },
                    *now,
                );
            }
        }
        sent.extend(sends(&fx));
        *now += SignedDuration::from_secs(30);
    }
    sent
}

fn check(account: &str, t: &str, text: Option<&str>, media: Option<&str>) -> TargetCheck {
    TargetCheck {
        account: account.into(),
        target: target(t),
        text_refused: text.map(str::to_owned),
        media_refused: media.map(str::to_owned),
    }
}

#[test]
fn a_checked_closed_topic_is_disabled_before_the_cycle_reaches_it_and_enabled_when_it_opens() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(
        &["acc1", "acc2", "acc3"],
        vec![
            spec(
                "b2b",
                "acc1",
                &["@forum/5", "@market", "@photos"],
                600,
                "UTC",
            ),
            // Another account posts into @market too: one writable poster keeps it on.
            spec("retail", "acc2", &["@market"], 600, "UTC"),
        ],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    // The plan covers every poster and the backup, once each, by account.
    let plan = p.check_plan(t0);
    let pairs: Vec<(String, String)> = plan
        .pairs
        .iter()
        .map(|(a, t)| (a.clone(), t.key()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("acc1", "@forum/5"),
            ("acc1", "@market"),
            ("acc1", "@photos"),
            ("acc2", "@market"),
            ("acc3", "@forum/5"),
            ("acc3", "@market"),
            ("acc3", "@photos"),
        ]
        .map(|(a, t)| (a.to_string(), t.to_string()))
    );
    assert!(plan.unavailable.is_empty());
    let recheck = t0 + SignedDuration::from_hours(24);
    let fx = p.handle(
        Event::Checked {
            rows: vec![
                check("acc1", "@forum/5", Some("topic 5 is closed"), None),
                check("acc1", "@market", Some("not a member"), None),
                check("acc2", "@market", None, None),
                // Text goes: a media ban does not disable a text-only message.
                check("acc1", "@photos", None, Some("media refused")),
            ],
            recheck_at: recheck,
            waiting: Vec::new(),
        },
        t0,
    );
    // acc1 may not write into @market but acc2 may: only acc1 skips it (QA: it used to
    // post there anyway, be refused, and disable the chat for acc2 too).
    assert_eq!(
        fx,
        vec![
            Effect::RefusedHere {
                account: "acc1".into(),
                target: target("@market"),
                reason: HoldReason::Refused {
                    account: "acc1".into(),
                    why: format!("{CHECK_REASON}not a member"),
                },
                code: "PRE_FLIGHT_CHECK".into(),
                until: recheck,
                renewed: false,
            },
            Effect::DisableTarget {
                target: target("@forum/5"),
                reason: format!("{CHECK_REASON}topic 5 is closed"),
                recheck_at: Some(recheck),
            }
        ]
    );
    // The whole first cycle of b2b: never @forum/5, and not @market from acc1.
    let mut now = t0;
    let sent = poll_sending(&mut p, &mut now, 20);
    assert!(!sent.contains(&"@forum/5".to_string()), "{sent:?}");
    assert!(!sent.contains(&"@market".to_string()), "{sent:?}");
    assert!(sent.contains(&"@photos".to_string()), "{sent:?}");
    // Reopened: the next check enables it, and the next cycle posts there.
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", "@forum/5", None, None)],
            recheck_at: now + SignedDuration::from_hours(24),
            waiting: Vec::new(),
        },
        now,
    );
    assert_eq!(
        fx,
        vec![Effect::EnableTarget {
            target: target("@forum/5")
        }]
    );
    let later = poll_sending(&mut p, &mut now, 60);
    assert!(later.contains(&"@forum/5".to_string()), "{later:?}");
    // An operator's disable is never undone by a check.
    p.handle(
        Event::Control(smb_engine::planner::Control::DisableTarget(
            target("@photos"),
            "operator".into(),
        )),
        now,
    );
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", "@photos", None, None)],
            recheck_at: now,
            waiting: Vec::new(),
        },
        now,
    );
    assert!(fx.is_empty(), "{fx:?}");
}

#[test]
fn media_refused_disables_a_target_only_for_a_message_with_media() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut b = spec("b2b", "acc1", &["@photos"], 600, "UTC");
    b.content = Content {
        media: Some("price.jpg".into()),
        ..Content::default()
    };
    let mut p = planner(&["acc1"], vec![b], ChatSetup::default(), t0);
    let fx = p.handle(
        Event::Checked {
            rows: vec![check("acc1", "@photos", None, Some("media refused"))],
            recheck_at: t0,
            waiting: Vec::new(),
        },
        t0,
    );
    assert!(
        matches!(&fx[..], [Effect::DisableTarget { reason, .. }] if reason.contains("media refused")),
        "{fx:?}"
    );
}

/// aaa (acc1) and b2c (acc2) both post into @shared; Telegram refuses acc1 there
/// (CHAT_WRITE_FORBIDDEN) from the first try. From QA: one account's ban used to disable the
/// chat for every account.
#[test]
fn one_account_refused_in_a_shared_chat_skips_it_while_the_other_account_goes_on() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(
        &["acc1", "acc2"],
        vec![
            spec("aaa", "acc1", &["@shared", "@solo"], 600, "UTC"),
            spec("b2c", "acc2", &["@shared"], 600, "UTC"),
        ],
        ChatSetup::default(),
        t0,
    );
    let trace = simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(1),
        Duration::from_secs(1),
        |d, _| {
            if &*d.account_name == "acc1" && d.target.key() == "@shared" {
                return Err(SendError::rpc("CHAT_WRITE_FORBIDDEN", None));
            }
            ok(d, t0)
        },
    );
    let attempts = |account: &str, t: &str| {
        trace
            .sends
            .iter()
            .filter(|s| &*s.d.account_name == account && s.d.target.key() == t)
            .count()
    };
    // acc1 tried once and then skipped @shared; acc2 posted there every cycle of the hour.
    assert_eq!(attempts("acc1", "@shared"), 1);
    assert!(
        attempts("acc2", "@shared") >= 5,
        "{}",
        attempts("acc2", "@shared")
    );
    assert!(attempts("acc1", "@solo") >= 5);
    assert!(
        !trace
            .effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::DisableTarget { .. })),
        "the target stays on for acc2"
    );
    let refused: Vec<&Effect> = trace
        .effects
        .iter()
        .filter_map(|(_, e)| matches!(e, Effect::RefusedHere { .. }).then_some(e))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let Effect::RefusedHere {
        account,
        target: t,
        until,
        ..
    } = refused[0]
    else {
        unreachable!()
    };
    assert_eq!((&**account, t.key().as_str()), ("acc1", "@shared"));
    assert!(*until >= t0 + SignedDuration::from_hours(24));
}

/// When the only account posting into a chat is refused there, the chat is disabled as
/// before (until its recheck), with the account in the reason.
#[test]
fn the_only_poster_refused_disables_the_target() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let mut p = planner(
        &["acc1"],
        vec![spec("aaa", "acc1", &["@shared", "@solo"], 600, "UTC")],
        ChatSetup::default(),
        t0,
    );
    let trace = simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(1),
        Duration::from_secs(1),
        |d, _| {
            if d.target.key() == "@shared" {
                return Err(SendError::rpc("CHAT_WRITE_FORBIDDEN", None));
            }
            ok(d, t0)
        },
    );
    let disabled: Vec<String> = trace
        .effects
        .iter()
        .filter_map(|(_, e)| match e {
            Effect::DisableTarget { target, reason, .. } => Some(format!("{target}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert!(disabled[0].starts_with("@shared: "), "{disabled:?}");
    assert!(disabled[0].contains("(account acc1)"), "{disabled:?}");
    assert_eq!(
        trace
            .sends
            .iter()
            .filter(|s| s.d.target.key() == "@shared")
            .count(),
        1
    );
}

/// From QA: b2b's backup acc3 is a member of @chat_b but the pre-flight check found it may
/// not write there; acc1 then gets a long flood wait. The backup posts into @chat_a only;
/// @chat_b waits for acc1, and nothing disables it.
#[test]
fn a_backup_never_posts_where_the_check_found_it_may_not_write() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let mut p = planner(
        &["acc1", "acc3"],
        vec![spec(
            "b2b",
            "acc1",
            &["@chat_s", "@chat_w", "@chat_a", "@chat_b"],
            24 * 3600,
            "UTC",
        )],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    members(&mut p, "acc3", &["@chat_a", "@chat_b"], t0);
    let fx = p.handle(
        Event::Checked {
            rows: vec![
                check("acc1", "@chat_b", None, None),
                check("acc3", "@chat_a", None, None),
                check("acc3", "@chat_b", Some("CHAT_WRITE_FORBIDDEN"), None),
            ],
            recheck_at: t0 + SignedDuration::from_hours(24),
            waiting: Vec::new(),
        },
        t0,
    );
    assert!(
        fx.iter()
            .all(|e| matches!(e, Effect::RefusedHere { account, .. } if &**account == "acc3")),
        "{fx:?}"
    );
    let mut acc1_sends = 0;
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-04T20:00:00Z"),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends == 2 {
                    return Err(SendError::rpc("FLOOD_WAIT", Some(3600)));
                }
            }
            ok(d, t0)
        },
    );
    let by = |t: &str| -> Vec<String> {
        trace
            .sends
            .iter()
            .filter(|s| s.d.target.key() == t && s.result.is_ok())
            .map(|s| s.d.account_name.to_string())
            .collect()
    };
    assert_eq!(by("@chat_a"), ["acc3"]);
    assert_eq!(by("@chat_b"), ["acc1"]);
    assert!(
        !trace
            .sends
            .iter()
            .any(|s| &*s.d.account_name == "acc3" && s.d.target.key() == "@chat_b")
    );
}

/// The daemon checks accounts concurrently and tells the planner as each finishes: a target
/// refused by the finished accounts waits for the others that post there, so one writable
/// poster still keeps it on and nothing is disabled and re-enabled in between.
#[test]
fn a_target_refused_so_far_waits_for_the_accounts_still_checking() {
    let t0 = ts("2026-03-02T08:00:00Z");
    let spec_both = || {
        vec![
            spec("b2b", "acc1", &["@market", "@solo"], 600, "UTC"),
            spec("retail", "acc2", &["@market"], 600, "UTC"),
        ]
    };
    let recheck = t0 + SignedDuration::from_hours(24);
    let acc1_rows = vec![
        check("acc1", "@market", Some("not a member"), None),
        check("acc1", "@solo", Some("banned"), None),
    ];
    // acc1 done, acc2 still checking: @solo (only acc1 posts there) is disabled now;
    // @market waits for acc2, and only acc1 skips it meanwhile.
    let acc1_out = Effect::RefusedHere {
        account: "acc1".into(),
        target: target("@market"),
        reason: HoldReason::Refused {
            account: "acc1".into(),
            why: format!("{CHECK_REASON}not a member"),
        },
        code: "PRE_FLIGHT_CHECK".into(),
        until: recheck,
        renewed: false,
    };
    let mut p = planner(&["acc1", "acc2"], spec_both(), ChatSetup::default(), t0);
    let fx = p.handle(
        Event::Checked {
            rows: acc1_rows.clone(),
            recheck_at: recheck,
            waiting: vec!["acc2".into()],
        },
        t0,
    );
    assert_eq!(
        fx,
        vec![
            acc1_out.clone(),
            Effect::DisableTarget {
                target: target("@solo"),
                reason: format!("{CHECK_REASON}banned"),
                recheck_at: Some(recheck),
            }
        ]
    );
    // acc2 finds @market writable: it stays on, never disabled.
    let mut rows = acc1_rows.clone();
    rows.push(check("acc2", "@market", None, None));
    let fx = p.handle(
        Event::Checked {
            rows,
            recheck_at: recheck,
            waiting: Vec::new(),
        },
        t0,
    );
    assert_eq!(fx, Vec::new(), "@solo already disabled, @market writable");

    // The same, but acc2 is refused too: @market is disabled once acc2 is done, with the
    // first refusal found.
    let mut p = planner(&["acc1", "acc2"], spec_both(), ChatSetup::default(), t0);
    let fx = p.handle(
        Event::Checked {
            rows: acc1_rows.clone(),
            recheck_at: recheck,
            waiting: vec!["acc2".into()],
        },
        t0,
    );
    assert_eq!(fx.len(), 2, "acc1 out of @market, and @solo: {fx:?}");
    assert_eq!(fx[0], acc1_out);
    let mut rows = acc1_rows;
    rows.push(check("acc2", "@market", Some("read-only"), None));
    let fx = p.handle(
        Event::Checked {
            rows,
            recheck_at: recheck,
            waiting: Vec::new(),
        },
        t0,
    );
    assert_eq!(
        fx,
        vec![Effect::DisableTarget {
            target: target("@market"),
            reason: format!("{CHECK_REASON}not a member"),
            recheck_at: Some(recheck),
        }]
    );
}

/// QA finding (qa4 F3): acc1's session is revoked at its second send (AUTH_KEY_UNREGISTERED:
/// nothing posted). Its backup acc3, a member of every chat, used to finish only the
/// never-tried deliveries: the refused one stayed tied to the stopped acc1, so the cycle never
/// completed and the broadcaster stood still. Now acc3 sends it too, and the next cycles go on.
#[test]
fn a_backup_keeps_the_broadcaster_going_while_its_account_is_stopped() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@chat_a", "@chat_b", "@chat_c"];
    let mut p = planner(
        &["acc1", "acc3"],
        vec![spec("b2b", "acc1", &chats, 600, "UTC")],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    members(&mut p, "acc3", &chats, t0);
    let mut acc1_sends = 0;
    let trace = simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(1),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends >= 2 {
                    return Err(SendError::rpc("AUTH_KEY_UNREGISTERED", None));
                }
            }
            ok(d, t0)
        },
    );
    let sent: Vec<(u64, String, String)> = trace
        .sends
        .iter()
        .filter(|s| s.result.is_ok())
        .map(|s| (s.d.cycle, s.d.target.key(), s.d.account_name.to_string()))
        .collect();
    // Cycle 1: A by acc1, then B (refused on acc1) and C by acc3; each chat once.
    let first: Vec<&(u64, String, String)> = sent.iter().filter(|s| s.0 == 1).collect();
    assert_eq!(first.len(), 3, "{sent:?}");
    assert!(
        first.iter().any(|s| s.1 == "@chat_b" && s.2 == "acc3"),
        "{sent:?}"
    );
    // Later cycles run on acc3 alone: the broadcaster does not stand still.
    assert!(sent.iter().filter(|s| s.0 >= 2).count() >= 3, "{sent:?}");
    assert!(sent.iter().filter(|s| s.0 >= 2).all(|s| s.2 == "acc3"));
    // acc1 was asked twice: once sent, once refused; never again while stopped.
    assert_eq!(
        trace
            .sends
            .iter()
            .filter(|s| &*s.d.account_name == "acc1")
            .count(),
        2
    );
}

/// The backup's planner of the e14 tests: b2b on acc1 into chat_a and chat_b, backup acc3 a
/// member of chat_a only.
fn backup_member_of_a(t0: Timestamp) -> Planner {
    let chats = ["@chat_a", "@chat_b"];
    let mut p = planner(
        &["acc1", "acc3"],
        vec![spec("b2b", "acc1", &chats, 600, "UTC")],
        ChatSetup {
            backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
            ..ChatSetup::default()
        },
        t0,
    );
    for (c, member) in [("@chat_a", true), ("@chat_b", false)] {
        p.handle(
            Event::ChatInfo(ChatFacts {
                account: "acc3".into(),
                chat: chat(c),
                member: Some(member),
                slowmode_seconds: None,
            }),
            t0,
        );
    }
    p
}

/// e14: the backup is a member of chat_a only. acc1 is stopped at its third send (cycle 2,
/// chat_a; nothing posted). acc3 posts that delivery and the later cycles into chat_a; chat_b,
/// where no backup may post, is skipped for the cycle instead of keeping it open for ever.
#[test]
fn a_backup_in_only_some_chats_keeps_the_cycles_going() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let mut p = backup_member_of_a(t0);
    let mut acc1_sends = 0;
    let trace = simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(2),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                if acc1_sends >= 3 {
                    return Err(SendError::rpc("AUTH_KEY_UNREGISTERED", None));
                }
            }
            ok(d, t0)
        },
    );
    let sent: Vec<(u64, String, String)> = trace
        .sends
        .iter()
        .filter(|s| s.result.is_ok())
        .map(|s| (s.d.cycle, s.d.target.key(), s.d.account_name.to_string()))
        .collect();
    let of_acc3: Vec<&(u64, String, String)> = sent.iter().filter(|s| s.2 == "acc3").collect();
    assert!(of_acc3.iter().all(|s| s.1 == "@chat_a"), "{sent:?}");
    assert!(of_acc3.iter().any(|s| s.0 == 2), "{sent:?}");
    assert!(
        of_acc3.iter().filter(|s| s.0 > 2).count() >= 5,
        "the cycles go on: {sent:?}"
    );
    // One post per (cycle, chat).
    let mut seen = std::collections::HashSet::new();
    assert!(
        sent.iter().all(|s| seen.insert((s.0, s.1.clone()))),
        "{sent:?}"
    );
}

/// e14: acc1's first send into chat_a ends in a network error (its fate unknown: it may be in
/// the chat); the retry meets AUTH_KEY_UNREGISTERED. That delivery stays with acc1: the
/// backup, a member of chat_a, never posts it (a second copy Telegram cannot drop).
#[test]
fn a_delivery_of_unknown_fate_stays_with_the_stopped_account() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let mut p = backup_member_of_a(t0);
    let mut acc1_sends = 0;
    let trace = simulate(
        &mut p,
        t0,
        t0 + SignedDuration::from_hours(1),
        Duration::from_secs(1),
        move |d, _| {
            if &*d.account_name == "acc1" {
                acc1_sends += 1;
                return Err(if acc1_sends == 1 {
                    SendError::Transient("connection reset".into())
                } else {
                    SendError::rpc("AUTH_KEY_UNREGISTERED", None)
                });
            }
            ok(d, t0)
        },
    );
    let by_acc3: Vec<(u64, String)> = trace
        .sends
        .iter()
        .filter(|s| &*s.d.account_name == "acc3")
        .map(|s| (s.d.cycle, s.d.target.key()))
        .collect();
    assert!(
        !by_acc3.contains(&(1, "@chat_a".to_string())),
        "the backup re-sent a delivery of unknown fate: {by_acc3:?}"
    );
}

/// qa5 F5: a broadcaster whose every chat is skipped by its rules (here `max_per_day = 1`,
/// reached, inside an evening window) started an empty cycle every `cycle_delay` until the
/// window opened again the next day — 30,000 cycles for `stats` to simulate. The next cycle
/// now starts when the first skipped chat reopens, and the posts are the same.
#[test]
fn a_cycle_every_rule_skipped_waits_for_the_first_chat_to_reopen() {
    let tz = "Europe/Moscow";
    let t0 = ts("2026-03-09T15:00:00Z"); // Monday 18:00 MSK, the window's start
    let setup = ChatSetup {
        rules: HashMap::from([(chat("@tz_chat"), rules(None, None, Some("18-24"), Some(1)))]),
        ..ChatSetup::default()
    };
    let mut p = planner(
        &["acc1"],
        vec![spec("msk", "acc1", &["@tz_chat"], 2, tz)],
        setup,
        t0,
    );
    let end = ts("2026-03-11T21:00:00Z"); // Thursday 00:00 MSK
    let trace = simulate(&mut p, t0, end, Duration::from_secs(1), ok);

    let posts = &trace.posts_by_chat()["@tz_chat"];
    let days: Vec<String> = posts
        .iter()
        .map(|(at, _, _)| local(*at, tz).strftime("%a %H:%M").to_string())
        .collect();
    assert_eq!(
        days,
        ["Mon 18:00", "Tue 18:00", "Wed 18:00"],
        "one post a day, at 18:00"
    );
    let cycles = trace
        .effects
        .iter()
        .filter(|(_, e)| matches!(e, Effect::StartCycle { .. }))
        .count();
    // A posting cycle each evening and one skipped cycle after each post (it finds the day's
    // post made): no empty cycle every 2 s in between.
    assert!(cycles <= 8, "{cycles} cycles in three days");
}

/// h14's race: the broadcaster's account was stopped (PEER_FLOOD) in the first seconds, while
/// the backup's part of the start-up check was still running. Its membership was unknown, so
/// every chat was skipped as "no backup member". Now a backup still checking is waited for;
/// once its check says where it is a member, it posts there and only the rest is skipped.
#[test]
fn a_backup_still_in_its_start_up_check_is_waited_for() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@chat_a", "@chat_b", "@chat_c"];
    let mut p = b2b_with_backup(&chats, t0);
    let recheck_at = ts("2026-05-05T10:00:00Z");
    p.handle(
        Event::CheckStarted {
            accounts: vec!["acc1".into(), "acc3".into()],
        },
        t0,
    );
    p.handle(
        Event::Checked {
            rows: vec![],
            recheck_at,
            waiting: vec!["acc3".into()],
        },
        t0,
    );
    let early = simulate(
        &mut p,
        t0,
        ts("2026-05-04T10:00:30Z"),
        Duration::from_secs(1),
        |d, _| {
            assert_eq!(&*d.account_name, "acc1", "acc3 knows no chat yet");
            Err(SendError::rpc("PEER_FLOOD", None))
        },
    );
    assert_eq!(early.sends.len(), 1, "acc1 stopped at its first send");
    let skipped = |t: &Trace| t.held().iter().filter(|h| h.4).count();
    assert_eq!(skipped(&early), 0, "nothing skipped while acc3 is checking");

    let t1 = ts("2026-05-04T10:00:30Z");
    for (c, member) in [("@chat_a", false), ("@chat_b", true), ("@chat_c", true)] {
        p.handle(
            Event::ChatInfo(ChatFacts {
                account: "acc3".into(),
                chat: chat(c),
                member: Some(member),
                slowmode_seconds: None,
            }),
            t1,
        );
    }
    p.handle(
        Event::Checked {
            rows: vec![],
            recheck_at,
            waiting: vec![],
        },
        t1,
    );
    let late = simulate(&mut p, t1, recheck_at, Duration::from_secs(1), ok);
    let posts = late.posts_by_chat();
    assert_eq!(posts.get("@chat_b").map(|v| v[0].1.as_str()), Some("acc3"));
    assert_eq!(posts.get("@chat_c").map(|v| v[0].1.as_str()), Some("acc3"));
    assert!(!posts.contains_key("@chat_a"), "{posts:?}");
    assert_eq!(skipped(&late), 1, "only @chat_a, where acc3 is no member");
}

/// `run --once` with the broadcaster's account stopped before the start: the backup finishes
/// the cycle before the run counts as finished (it used to end at once, nothing posted).
#[test]
fn a_single_cycle_run_waits_for_the_backup_of_a_stopped_account() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@chat_a", "@chat_b"];
    let mut p = Planner::new(
        vec![account("acc1"), account("acc3")],
        vec![spec("b2b", "acc1", &chats, 24 * 3600, "UTC")],
        PlannerSettings {
            once: true,
            seed: 11,
            ..PlannerSettings::default()
        },
        t0,
    )
    .expect("planner");
    p.set_chats(ChatSetup {
        backups: HashMap::from([("b2b".to_string(), vec!["acc3".to_string()])]),
        ..ChatSetup::default()
    })
    .expect("chat setup");
    let accounts = HashMap::from([(
        "acc1".to_string(),
        StoredAccount {
            paused_until: None,
            stopped_reason: Some(AccountStop::Telegram("AUTH_KEY_UNREGISTERED".into())),
            last_send_at: None,
        },
    )]);
    p.restore(&accounts, &HashMap::new(), &HashMap::new(), t0);
    members(&mut p, "acc3", &chats, t0);
    assert!(!p.finished(), "the backup has the cycle to post");
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-04T11:00:00Z"),
        Duration::from_secs(1),
        ok,
    );
    let posts = trace.posts_by_chat();
    for c in chats {
        assert_eq!(posts.get(c).map(|v| v[0].1.as_str()), Some("acc3"), "{c}");
    }
    assert!(p.finished(), "the cycle is complete");
    // With no backup left (acc3 stopped too) a stopped account's broadcaster is finished.
    let mut q = Planner::new(
        vec![account("acc1")],
        vec![spec("b2b", "acc1", &chats, 24 * 3600, "UTC")],
        PlannerSettings {
            once: true,
            seed: 11,
            ..PlannerSettings::default()
        },
        t0,
    )
    .expect("planner");
    q.restore(&accounts, &HashMap::new(), &HashMap::new(), t0);
    assert!(q.finished());
}

/// perf18b: the planner kept every post of the last 8 days per chat (~55 bytes a delivery),
/// so the daemon's heap grew with each send. Now a chat without rules remembers each
/// account's latest post, and one with `max_per_day` the last 26 h — while every rule still
/// holds (one post a day in @daily, slow mode in @slow).
#[test]
fn a_chat_remembers_only_the_posts_its_rules_can_ask_about() {
    let t0 = ts("2026-05-04T10:00:00Z");
    let chats = ["@plain_a", "@plain_b", "@daily"];
    let mut p = planner(
        &["acc1", "acc2"],
        vec![
            spec("one", "acc1", &chats, 600, "UTC"),
            spec("two", "acc2", &chats, 600, "UTC"),
        ],
        ChatSetup {
            rules: HashMap::from([(chat("@daily"), rules(None, None, None, Some(1)))]),
            ..ChatSetup::default()
        },
        t0,
    );
    let trace = simulate(
        &mut p,
        t0,
        ts("2026-05-07T10:00:00Z"),
        Duration::from_secs(1),
        ok,
    );
    let posts = trace.posts_by_chat();
    // Three days of 10-minute cycles by two broadcasters: hundreds of posts in the plain chats.
    assert!(posts["@plain_a"].len() > 800, "{}", posts["@plain_a"].len());
    // @daily: one post per UTC day (4 to 7 May), whoever posts.
    let days: Vec<String> = posts["@daily"]
        .iter()
        .map(|(at, ..)| at.to_string()[..10].to_owned())
        .collect();
    assert_eq!(
        days,
        ["2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07"],
        "{:?}",
        posts["@daily"]
    );
    // Remembered per chat: each account's latest post before the newest, and the newest
    // (kept until its send succeeds: a failed one is dropped and the older one counts again):
    // at most 3 in each plain chat, and in @daily the last 26 h (at most 2) plus the newest —
    // 9 in all, however many cycles ran (it was one per delivery: over 1,700).
    assert!(p.remembered_posts() <= 9, "{}", p.remembered_posts());
}
