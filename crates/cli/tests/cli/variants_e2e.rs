//! Issue 17 through the real binary (`sendmessagebot run`) and grammers against the MTProto
//! test server: A/B variants balanced over chats and cycles; reach read at the set times
//! (`reach_after = "2s,5s"`) in batched calls and stored with the delivery; `auto_winner`
//! retiring the worse variant on seeded figures and leaving a tie alone; a FLOOD_WAIT answered
//! to a reach call pausing only that account's reach (its sends go on), and no reach call
//! while an account's sends are paused.
//!
//! The binary runs on the wall clock (no paused clock reaches a child process; the paused-clock
//! tests of the collector are `smb_engine::reach_loop`'s). The test seeds each post's figures
//! as soon as the post appears on the server (polled every 20 ms; the first read comes 2 s
//! later). Assertions compare stored times with each other and count calls; none bounds a
//! duration.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::server::ServerWorld as World;
use smb_mtproto_testserver::reach::PostFigures;
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, UserSpec};

const ACC1: i64 = 1001;
const ACC2: i64 = 1002;
const ACC3: i64 = 1003;
const LIMIT: Duration = Duration::from_secs(120);

fn channel(i: i64) -> i64 {
    -1_001_000_000_400 - i
}

fn fixture() -> Fixture {
    let mut f = Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .user(UserSpec::new(ACC2, "Seller Two").phone("+15550002"))
        .user(UserSpec::new(ACC3, "Seller Three").phone("+15550003"));
    for i in 0..6 {
        f = f.chat(
            ChatSpec::new(channel(i), &format!("News {i}"), ChatKind::Channel)
                .members(&[ACC1, ACC2, ACC3])
                .admins(&[ACC1, ACC2, ACC3]),
        );
    }
    f
}

/// 300 ms cycles on the wall clock, no schedule or quiet hours (it may be night in Moscow),
/// no pre-flight check; reach read 2 s and 5 s after each post.
const SETTINGS: &str = r#"
[settings]
preflight_every = "0s"
delay_between_chats = "20ms"
cycle_delay = "300ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
timezone = "UTC"
reach_after = "2s,5s"
"#;

/// One A/B set posted by acc1 into four channels.
fn ab_config(auto_winner: bool) -> String {
    format!(
        r#"{SETTINGS}auto_winner = {auto_winner}
min_sample = 4

[accounts.acc1]

[targets]
news = ["{}", "{}", "{}", "{}"]

[[messages.b2b.items]]
text = "Price A"
variant = "A"
[[messages.b2b.items]]
text = "Price B"
variant = "B"

[broadcasters.b2b]
account = "acc1"
targets = "news"
messages = "b2b"
"#,
        channel(0),
        channel(1),
        channel(2),
        channel(3)
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(w: &World) -> std::process::Child {
    let out = std::fs::File::create(w.path().join("daemon.log")).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut c = w.command(&["run", "--no-metrics", "--no-web", "--ignore-quiet-hours"]);
    c.stdout(out).stderr(err);
    c.spawn().expect("start sendmessagebot")
}

fn stop(w: &World, mut child: std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(started.elapsed() < LIMIT, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", log(w));
}

fn log(w: &World) -> String {
    std::fs::read_to_string(w.path().join("daemon.log")).unwrap_or_default()
}

/// A sent delivery as the journal keeps it.
#[derive(Debug, Clone)]
struct Row {
    account: String,
    target: String,
    cycle: i64,
    variant: Option<String>,
    message: String,
    sent_ms: i64,
    reads: i64,
    reach_at: Option<i64>,
    views: Option<i64>,
}

fn sent(w: &World) -> Vec<Row> {
    let db = w.path().join("data/sendmessagebot.db");
    if !db.exists() {
        return Vec::new();
    }
    w.rt.block_on(async {
        use sqlx::Row as _;
        let Ok(pool) = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await
        else {
            return Vec::new();
        };
        let rows = sqlx::query(
            "SELECT account, target, cycle, variant, message, updated_at, reach_reads, reach_at, \
             views FROM deliveries WHERE status = 'sent' ORDER BY updated_at",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
        rows.iter()
            .map(|r| Row {
                account: r.get(0),
                target: r.get(1),
                cycle: r.get(2),
                variant: r.get(3),
                message: r.get(4),
                sent_ms: r.get(5),
                reads: r.get(6),
                reach_at: r.get(7),
                views: r.get(8),
            })
            .collect()
    })
}

/// Versions of `set` stored by `auto_winner`: (version, created_at ms, texts JSON).
fn auto_versions(w: &World, set: &str) -> Vec<(i64, i64, String)> {
    let db = w.path().join("data/sendmessagebot.db");
    if !db.exists() {
        return Vec::new();
    }
    w.rt.block_on(async {
        use sqlx::Row as _;
        let Ok(pool) = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await
        else {
            return Vec::new();
        };
        let rows = sqlx::query(
            "SELECT version, created_at, texts FROM message_set_versions \
             WHERE set_name = ? AND source = 'auto_winner' ORDER BY version",
        )
        .bind(set)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    })
}

/// Gives every post that appeared on the server since the last call its figures:
/// `figures(text, k)` for the k-th post (0-based, in id order) of its chat.
struct Seeder {
    done: BTreeSet<(i64, i32)>,
}

impl Seeder {
    fn new() -> Self {
        Seeder {
            done: BTreeSet::new(),
        }
    }

    fn seed(&mut self, w: &World, chats: &[i64], figures: &dyn Fn(&str, usize) -> PostFigures) {
        for &chat in chats {
            let mut posts = w.server.messages(chat);
            posts.sort_by_key(|m| m.id);
            for (k, m) in posts.iter().enumerate() {
                if self.done.insert((chat, m.id)) {
                    w.server.set_reach(chat, m.id, figures(&m.text, k));
                }
            }
        }
    }
}

fn stats_variants(w: &World) -> serde_json::Value {
    let out = w.run(&["stats", "--variants", "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}): {}", common::text(&out)))
}

/// A clear winner: A's posts get about twice B's views. Variants are balanced per cycle and
/// per chat, reach is read at 2 s and 5 s in calls batched per chat, and `auto_winner` stores
/// a version with B inactive; the cycles after it post A only; the operator is told.
#[test]
fn variants_are_balanced_reach_is_read_in_batches_and_a_clear_winner_is_retired() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.config(&ab_config(true));
    let chats: Vec<i64> = (0..4).map(channel).collect();
    let figures = |text: &str, k: usize| {
        let k = k as u32;
        if text == "Price A" {
            PostFigures {
                views: 400 + (k % 5) * 7,
                forwards: 3,
                reactions: 20 + k % 3,
                replies: 2,
            }
        } else {
            PostFigures {
                views: 200 + (k % 5) * 6,
                forwards: 1,
                reactions: 5 + k % 2,
                replies: 1,
            }
        }
    };
    let mut seeder = Seeder::new();
    let daemon = spawn(&w);
    wait_for("auto_winner's version", || {
        seeder.seed(&w, &chats, &figures);
        !auto_versions(&w, "b2b").is_empty()
    });
    let (version, created, texts) = auto_versions(&w, "b2b")[0].clone();
    // Three more cycles after the one in progress, and a second read of some posts.
    let cycle_then = sent(&w).iter().map(|r| r.cycle).max().unwrap_or(0);
    wait_for("three cycles after the new version, second reads", || {
        seeder.seed(&w, &chats, &figures);
        let rows = sent(&w);
        rows.iter().filter(|r| r.cycle >= cycle_then + 4).count() >= 4
            && rows.iter().any(|r| r.reads == 2)
    });
    stop(&w, daemon);
    let rows = sent(&w);
    eprintln!(
        "{} posts, {} reads, {} views calls, {} reactions calls; auto_winner version {version}",
        rows.len(),
        rows.iter().map(|r| r.reads).sum::<i64>(),
        w.server.calls("messages.getMessagesViews"),
        w.server.calls("messages.getMessagesReactions"),
    );

    // Balanced: before the retirement every complete cycle gave 2 chats A and 2 chats B, and
    // each chat got A and B in turn.
    let before: Vec<&Row> = rows.iter().filter(|r| r.cycle <= cycle_then).collect();
    let mut per_cycle: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for r in &before {
        per_cycle
            .entry(r.cycle)
            .or_default()
            .push(r.variant.as_deref().unwrap_or("-"));
    }
    let complete: Vec<_> = per_cycle.iter().filter(|(_, v)| v.len() == 4).collect();
    assert!(complete.len() >= 2, "{per_cycle:?}");
    for (cycle, v) in &complete {
        let a = v.iter().filter(|x| **x == "A").count();
        let b = v.iter().filter(|x| **x == "B").count();
        assert_eq!((a, b), (2, 2), "cycle {cycle}: {v:?}");
    }
    for chat in &chats {
        let mut mine: Vec<&&Row> = before
            .iter()
            .filter(|r| r.target == chat.to_string())
            .collect();
        mine.sort_by_key(|r| r.cycle);
        for pair in mine.windows(2) {
            assert_ne!(pair[0].variant, pair[1].variant, "chat {chat}: {pair:?}");
        }
        for r in &mine {
            let want = if r.variant.as_deref() == Some("A") {
                "Price A"
            } else {
                "Price B"
            };
            assert_eq!(r.message, want, "{r:?}");
        }
    }

    // Reach at the set times: a first read 2 s or more after the send, a second 5 s or more.
    let read: Vec<&Row> = rows.iter().filter(|r| r.reads > 0).collect();
    assert!(read.len() >= 8, "{read:?}");
    for r in &read {
        let at = r.reach_at.expect("reach_at of a read post");
        let min = if r.reads == 1 { 2000 } else { 5000 };
        assert!(
            at - r.sent_ms >= min,
            "read {} ms after the send: {r:?}",
            at - r.sent_ms
        );
        assert!(r.reads <= 2, "{r:?}");
        assert!(r.views.is_some(), "a channel post has views: {r:?}");
    }
    // The stored views are the server's figures.
    assert!(
        read.iter().all(|r| {
            let v = r.views.unwrap_or(0);
            if r.message == "Price A" {
                (400..430).contains(&v)
            } else {
                (200..230).contains(&v) || v == 0
            }
        }),
        "{read:?}"
    );
    // Batched: fewer calls than reads (one call reads every due post of a chat), one
    // reactions call per views call.
    let reads: i64 = rows.iter().map(|r| r.reads).sum();
    let calls = w.server.calls("messages.getMessagesViews") as i64;
    assert!(
        calls >= 1 && calls < reads,
        "{calls} calls for {reads} reads"
    );
    assert_eq!(
        w.server.calls("messages.getMessagesReactions") as i64,
        calls
    );

    // The winner: B inactive in the stored version; the cycles after it post A only.
    let set: Vec<serde_json::Value> = serde_json::from_str(&texts).expect("texts JSON");
    let active: Vec<(String, bool)> = set
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap_or("").to_owned(),
                m["active"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(
        active,
        [("Price A".to_owned(), true), ("Price B".to_owned(), false)],
        "{texts}"
    );
    let after: Vec<&Row> = rows.iter().filter(|r| r.cycle >= cycle_then + 2).collect();
    assert!(after.len() >= 4, "{after:?}");
    assert!(after.iter().all(|r| r.message == "Price A"), "{after:?}");
    assert!(after.iter().all(|r| r.sent_ms > created), "{after:?}");
    // Told: the log names it; `stats --variants` gives the verdict.
    assert!(
        log(&w).contains("auto_winner retired the losing variant"),
        "{}",
        log(&w)
    );
    let report = stats_variants(&w);
    let s = &report["sets"][0];
    assert_eq!(s["set"], "b2b");
    assert_eq!(s["verdict"]["better"], "A", "{report:#}");
    assert_eq!(s["verdict"]["significant"], true, "{report:#}");
    assert_eq!(s["decided"], true, "{report:#}");
    assert_eq!(s["compared_on"], "views", "{report:#}");
    let a = &s["variants"][0];
    assert_eq!(a["variant"], "A");
    assert!(a["views"]["mean"].as_f64().unwrap() >= 400.0, "{report:#}");
    let text = w.run(&["stats", "--variants", "--set", "b2b"]);
    let text = common::text(&text);
    assert!(text.contains("verdict: A is better (p = "), "{text}");
    let nope = w.run(&["stats", "--variants", "--set", "nope"]);
    assert!(!nope.status.success());
    assert!(
        common::text(&nope).contains("no message set `nope` with A/B variants")
            && common::text(&nope).contains("sets with variants: b2b"),
        "{}",
        common::text(&nope)
    );
}

/// A tie: the k-th and (k+1)-th posts of a chat (one A, one B) get the same figures. After
/// eight measured posts a variant, nothing is retired and the verdict says so.
#[test]
fn a_tie_retires_nothing() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.config(&ab_config(true));
    let chats: Vec<i64> = (0..4).map(channel).collect();
    let figures = |_: &str, k: usize| {
        let pair = (k / 2) as u32;
        PostFigures {
            views: 300 + (pair % 5) * 20,
            forwards: 2,
            reactions: 10 + pair % 3,
            replies: 1,
        }
    };
    let mut seeder = Seeder::new();
    let daemon = spawn(&w);
    wait_for("eight measured posts of each variant", || {
        seeder.seed(&w, &chats, &figures);
        let rows = sent(&w);
        let measured = |v: &str| {
            rows.iter()
                .filter(|r| r.reads > 0 && r.variant.as_deref() == Some(v))
                .count()
        };
        measured("A") >= 8 && measured("B") >= 8
    });
    stop(&w, daemon);
    assert_eq!(auto_versions(&w, "b2b"), Vec::new(), "{}", log(&w));
    assert!(!log(&w).contains("auto_winner retired"), "{}", log(&w));
    let report = stats_variants(&w);
    let s = &report["sets"][0];
    assert_eq!(s["verdict"]["significant"], false, "{report:#}");
    assert_eq!(s["decided"], false, "{report:#}");
    assert!(
        s["conclusion"]
            .as_str()
            .unwrap()
            .starts_with("no significant difference"),
        "{report:#}"
    );
    // Both variants still posted at the end.
    let rows = sent(&w);
    let last = rows.iter().map(|r| r.cycle).max().unwrap_or(0);
    let end: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.cycle >= last - 1)
        .filter_map(|r| r.variant.as_deref())
        .collect();
    assert_eq!(end, BTreeSet::from(["A", "B"]));
}

/// Three accounts read reach: acc1's first reach call is answered FLOOD_WAIT_600, acc2's third
/// send FLOOD_WAIT_600. acc1's reach stays paused while its sends go on; acc2 (sends paused)
/// gets no reach call though its posts are due; acc3 is read as usual.
#[test]
fn a_reach_flood_wait_pauses_only_that_accounts_reach_and_none_runs_during_a_send_pause() {
    let fixture = fixture()
        .fault(
            FaultRule::error("FLOOD_WAIT_600")
                .method("messages.getMessagesViews")
                .account("+15550001")
                .times(1),
        )
        .fault(
            FaultRule::error("FLOOD_WAIT_600")
                .account("+15550002")
                .after(2)
                .times(1),
        );
    let w = World::start(fixture);
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    w.seed_logged_in("acc3", ACC3);
    w.config(&format!(
        r#"{SETTINGS}
[accounts.acc1]
[accounts.acc2]
[accounts.acc3]

[targets]
one = ["{}", "{}"]
two = ["{}", "{}"]
three = ["{}", "{}"]

[messages.m]
texts = ["Price list"]

[broadcasters.first]
account = "acc1"
targets = "one"
messages = "m"

[broadcasters.second]
account = "acc2"
targets = "two"
messages = "m"

[broadcasters.third]
account = "acc3"
targets = "three"
messages = "m"
"#,
        channel(0),
        channel(1),
        channel(2),
        channel(3),
        channel(4),
        channel(5)
    ));
    let all: Vec<i64> = (0..6).map(channel).collect();
    let figures = |_: &str, k: usize| PostFigures {
        views: 100 + k as u32,
        forwards: 0,
        reactions: 1,
        replies: 0,
    };
    let mut seeder = Seeder::new();
    let daemon = spawn(&w);
    wait_for("acc1's reach call answered FLOOD_WAIT", || {
        seeder.seed(&w, &all, &figures);
        log(&w).contains("Telegram asked to wait before the next reach read")
    });
    let acc1_then = sent(&w).iter().filter(|r| r.account == "acc1").count();
    wait_for(
        "acc3's second reads and acc1's posts after the reach flood wait",
        || {
            seeder.seed(&w, &all, &figures);
            let rows = sent(&w);
            rows.iter().any(|r| r.account == "acc3" && r.reads == 2)
                && rows.iter().filter(|r| r.account == "acc1").count() >= acc1_then + 6
        },
    );
    stop(&w, daemon);
    let rows = sent(&w);
    let of = |a: &str| rows.iter().filter(|r| r.account == a).collect::<Vec<_>>();
    // acc1: sends went on after the reach flood wait; no read stored (the 600 s pause holds;
    // the fault hit once, so a second call would have succeeded).
    assert!(of("acc1").len() >= acc1_then + 6);
    assert!(of("acc1").iter().all(|r| r.reads == 0), "{:?}", of("acc1"));
    // acc2: two posts, then its sends paused; due 2 s later, never read.
    assert_eq!(of("acc2").len(), 2, "{:?}", of("acc2"));
    assert!(of("acc2").iter().all(|r| r.reads == 0), "{:?}", of("acc2"));
    // acc3: read as usual.
    assert!(of("acc3").iter().any(|r| r.reads == 2), "{:?}", of("acc3"));
    assert!(
        of("acc3")
            .iter()
            .filter(|r| r.reads > 0)
            .all(|r| r.views.is_some())
    );
    // Exactly one views call of acc1 (the flooded one) — every other call was acc3's; acc3's
    // calls alone cannot exceed its posts' reads.
    let acc3_reads: i64 = of("acc3").iter().map(|r| r.reads).sum();
    let calls = w.server.calls("messages.getMessagesViews") as i64;
    assert!(
        calls >= 2 && calls - 1 <= acc3_reads,
        "{calls} calls, acc3 reads {acc3_reads}"
    );
}
