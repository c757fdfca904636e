//! Issue 15 through the real binary: `post_mode = "replace" | "edit"` and `pin = true` against
//! the MTProto test server (grammers path) over several cycles, `kill -9` at random moments
//! during them, and the sandbox's ledger of the same follow-ups.
//!
//! What "one clean current post" means here, read from the server's own state
//! (`TestServer::live_posts`, `messages`): after each cycle every chat holds exactly one live
//! post of ours, it carries the cycle's text, and with `pin` it is the only one of ours pinned.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::text;
use rand::{Rng, SeedableRng};
use smb_mtproto_testserver::{ChatKind, ChatSpec, Fixture, UserSpec};

const ACC1: i64 = 1001;

type World = common::server::ServerWorld;

/// A supergroup whose members may pin, a supergroup and a channel where acc1 is an admin, and
/// a basic group whose members may pin.
fn chats() -> Vec<i64> {
    vec![
        -1_001_000_000_001,
        -1_001_000_000_002,
        -1_002_000_000_001,
        -4001,
    ]
}

fn fixture() -> Fixture {
    let c = chats();
    Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .chat(
            ChatSpec::new(c[0], "Market 1", ChatKind::Supergroup)
                .members(&[ACC1])
                .members_may_pin(),
        )
        .chat(
            ChatSpec::new(c[1], "Market 2", ChatKind::Supergroup)
                .members(&[ACC1])
                .admins(&[ACC1]),
        )
        .chat(
            ChatSpec::new(c[2], "News 1", ChatKind::Channel)
                .members(&[ACC1])
                .admins(&[ACC1]),
        )
        .chat(
            ChatSpec::new(c[3], "Group 1", ChatKind::Group)
                .members(&[ACC1])
                .members_may_pin(),
        )
}

fn config(mode: &str, pin: bool, delay: &str, texts: &[&str]) -> String {
    let targets: Vec<String> = chats().iter().map(|c| format!("\"{c}\"")).collect();
    let texts: Vec<String> = texts.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"
[settings]
preflight_every = "0s"
delay_between_chats = "{delay}"
cycle_delay = "30ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[accounts.acc1]
[targets]
t = [{}]
[messages.m]
texts = [{}]
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
post_mode = "{mode}"
pin = {pin}
"#,
        targets.join(", "),
        texts.join(", ")
    )
}

fn world(mode: &str, pin: bool, texts: &[&str]) -> World {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.config(&config(mode, pin, "15ms", texts));
    w
}

fn run_once(w: &World) {
    let out = w.run(&["run", "--once", "--no-metrics", "--ignore-quiet-hours"]);
    assert!(out.status.success(), "run --once failed: {}", text(&out));
}

/// Per chat: our live posts' ids, their texts, and which of them are pinned.
fn live(w: &World, chat: i64) -> Vec<(i32, String, bool)> {
    w.server
        .messages(chat)
        .into_iter()
        .filter(|m| m.is_live() && m.account == ACC1)
        .map(|m| (m.id, m.text, m.pinned))
        .collect()
}

#[test]
fn replace_with_pin_over_four_cycles_leaves_one_live_pinned_post_per_chat() {
    let w = world("replace", true, &["first", "second", "third"]);
    let mut seen = Vec::new();
    for (cycle, want) in ["first", "second", "third", "first"].iter().enumerate() {
        run_once(&w);
        for chat in chats() {
            let posts = live(&w, chat);
            assert_eq!(posts.len(), 1, "cycle {cycle}, chat {chat}: {posts:?}");
            let (id, text, pinned) = &posts[0];
            assert_eq!(text, want, "cycle {cycle}, chat {chat}");
            assert!(
                pinned,
                "cycle {cycle}, chat {chat}: our newest post is pinned"
            );
            seen.push((chat, *id));
        }
    }
    // Every cycle posted anew (4 posts per chat, 3 deleted by us) and nothing else of ours
    // is pinned.
    for chat in chats() {
        let ours: Vec<_> = w
            .server
            .messages(chat)
            .into_iter()
            .filter(|m| m.account == ACC1)
            .collect();
        assert_eq!(ours.len(), 4, "chat {chat}: {ours:?}");
        assert_eq!(
            ours.iter().filter(|m| m.deleted_by == Some(ACC1)).count(),
            3,
            "chat {chat}"
        );
        assert_eq!(ours.iter().filter(|m| m.pinned).count(), 1, "chat {chat}");
        assert!(ours.iter().all(|m| m.pinned_silently || !m.pinned));
    }
    let stats = w.ok_stats();
    assert!(
        stats.contains("delete") && stats.contains("pin"),
        "stats shows the follow-ups: {stats}"
    );
}

#[test]
fn edit_mode_edits_the_one_post_in_place_and_posts_anew_once_the_window_passed() {
    let w = world("edit", false, &["price 1", "price 2", "price 3"]);
    run_once(&w);
    let first: Vec<i32> = chats().iter().map(|c| live(&w, *c)[0].0).collect();
    for want in ["price 2", "price 3"] {
        run_once(&w);
        for (i, chat) in chats().into_iter().enumerate() {
            let posts = live(&w, chat);
            assert_eq!(posts.len(), 1, "chat {chat}: {posts:?}");
            assert_eq!(posts[0].0, first[i], "chat {chat}: the same post, edited");
            assert_eq!(posts[0].1, want, "chat {chat}");
        }
    }
    // Edited in place: one post of ours per chat in all, with an edit date.
    for chat in chats() {
        let ours: Vec<_> = w
            .server
            .messages(chat)
            .into_iter()
            .filter(|m| m.account == ACC1)
            .collect();
        assert_eq!(ours.len(), 1, "chat {chat}: {ours:?}");
        assert!(ours[0].edit_date.is_some(), "chat {chat}");
    }
    // The edit window passes: a non-admin's edit is refused (MESSAGE_EDIT_TIME_EXPIRED), so
    // the cycle posts anew and deletes the old post; admins (and channel posts) still edit.
    w.server.set_edit_window(0);
    run_once(&w);
    for (i, chat) in chats().into_iter().enumerate() {
        let posts = live(&w, chat);
        assert_eq!(posts.len(), 1, "chat {chat}: {posts:?}");
        assert_eq!(posts[0].1, "price 1", "chat {chat}");
        let admin = i == 1 || i == 2;
        assert_eq!(
            posts[0].0 == first[i],
            admin,
            "chat {chat}: an admin edits in place, a member posts anew"
        );
    }
    let stats = w.ok_stats();
    assert!(
        stats.contains("MESSAGE_EDIT_TIME_EXPIRED"),
        "stats names the refused edits: {stats}"
    );
}

#[test]
fn kill_9_at_random_moments_during_replace_and_pin_ends_with_one_live_post_per_chat() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.config(&config("replace", true, "40ms", &["one", "two", "three"]));
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills = 22;
    for _ in 0..kills {
        let mut cmd = w.command(&["run", "--no-metrics", "--ignore-quiet-hours"]);
        cmd.env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child: Child = cmd.spawn().expect("start sendmessagebot");
        // Dying at an arbitrary moment is the point: this wait is the input, not a sync.
        std::thread::sleep(Duration::from_millis(rng.random_range(80..700)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    // A clean run finishes what the kills left (pending deliveries and follow-ups) and posts
    // one more cycle.
    run_once(&w);
    let duplicates = w.server.duplicates();
    for chat in chats() {
        // Exactly one live post of ours, pinned. A kill between Telegram taking a post and
        // its journal entry makes the restart's re-send answer RANDOM_ID_DUPLICATE (no id):
        // the driver then finds the post among our newest there (messages.search), so it is
        // deleted by the next cycle like any other.
        let posts = live(&w, chat);
        assert_eq!(
            posts.len(),
            1,
            "chat {chat}: {posts:?} (duplicates {duplicates})"
        );
        assert!(
            posts[0].2,
            "chat {chat}: our current post is pinned: {posts:?}"
        );
        // No other post of ours is pinned, live or not.
        let pinned = w
            .server
            .messages(chat)
            .into_iter()
            .filter(|m| m.account == ACC1 && m.pinned && m.is_live())
            .count();
        assert_eq!(pinned, 1, "chat {chat}");
    }
    let pending = w.pending_follow_ups();
    assert_eq!(pending, 0, "every follow-up was carried out");
    eprintln!("{kills} kills, {duplicates} re-sends dropped by random_id");
}

#[test]
fn the_sandbox_ledger_shows_the_deletes_edits_and_pins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |mode: &str| {
        format!(
            r#"
[settings]
delay_between_chats = "10ms"
cycle_delay = "30ms"
enable_scheduling = false
enable_quiet_hours = false
[sandbox]
latency_ms = 1
[accounts.acc1]
[targets]
t = ["-1001000000001", "@shop_one"]
[messages.m]
texts = ["first", "second", "third"]
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
post_mode = "{mode}"
pin = true
"#
        )
    };
    std::fs::write(dir.path().join("sendmessagebot.toml"), cfg("replace")).unwrap();
    let once = || {
        let out = common::run_with(
            common::command(
                dir.path(),
                &[
                    "run",
                    "--sandbox",
                    "--once",
                    "--no-metrics",
                    "--ignore-quiet-hours",
                ],
            ),
            None,
            Duration::from_secs(60),
        )
        .unwrap_or_else(|o| panic!("timed out: {}", text(&o)));
        assert!(out.status.success(), "{}", text(&out));
    };
    once();
    once();
    std::fs::write(dir.path().join("sendmessagebot.toml"), cfg("edit")).unwrap();
    once();
    let ledger = dir.path().join("data/sandbox/ledger.jsonl");
    let posts = smb_telegram::sim::read_ledger(&ledger).unwrap();
    let actions = smb_telegram::sim::read_actions(&ledger).unwrap();
    // Two posts per chat (cycles 1 and 2); cycle 3 edits the second in place.
    assert_eq!(posts.len(), 4, "{posts:?}");
    let count = |what: &str| actions.iter().filter(|a| a.action == what).count();
    assert_eq!(count("pin"), 4, "{actions:?}");
    assert_eq!(count("delete"), 2, "{actions:?}");
    assert_eq!(count("edit"), 2, "{actions:?}");
    assert!(
        actions
            .iter()
            .filter(|a| a.action == "pin")
            .all(|a| a.silent)
    );
    // Each delete names the chat's first post; each edit its second, with the third text.
    for chat in ["-1001000000001", "@shop_one"] {
        let ids: Vec<i64> = posts
            .iter()
            .filter(|p| p.chat == chat)
            .map(|p| p.message_id.unwrap())
            .collect();
        let del = actions
            .iter()
            .find(|a| a.action == "delete" && a.chat == chat)
            .unwrap();
        assert_eq!(del.message_ids, vec![ids[0]]);
        let edit = actions
            .iter()
            .find(|a| a.action == "edit" && a.chat == chat)
            .unwrap();
        assert_eq!(edit.message_ids, vec![ids[1]]);
        assert_eq!(edit.text.as_deref(), Some("third"));
    }
}

impl World {
    fn ok_stats(&self) -> String {
        let out = self.run(&["stats"]);
        assert!(out.status.success(), "stats failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pending_follow_ups(&self) -> i64 {
        let db = self.path().join("data/sendmessagebot.db");
        self.rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("open the journal");
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follow_ups WHERE result IS NULL")
                .fetch_one(&pool)
                .await
                .expect("query");
            pool.close().await;
            n
        })
    }
}

/// A chat's admin (not us): deletes our posts in the survival tests.
const ADMIN: i64 = 2002;

/// The survival check's world: chat A, whose admin removes our posts, and chat B, where our
/// post stays; `post_mode = "replace"`, `extra` added to the broadcaster.
fn survival_world(extra: &str) -> (World, i64, i64) {
    let (a, b) = (-1_001_000_000_011, -1_001_000_000_012);
    let fixture = Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .user(UserSpec::new(ADMIN, "Chat Admin").phone("+15550002"))
        .chat(
            ChatSpec::new(a, "Strict market", ChatKind::Supergroup)
                .members(&[ACC1, ADMIN])
                .admins(&[ADMIN]),
        )
        .chat(ChatSpec::new(b, "Easy market", ChatKind::Supergroup).members(&[ACC1, ADMIN]));
    let w = World::start(fixture);
    w.seed_logged_in("acc1", ACC1);
    let toml = format!(
        r#"
[settings]
preflight_every = "0s"
delay_between_chats = "15ms"
cycle_delay = "30ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[accounts.acc1]
[targets]
t = ["{a}", "{b}"]
[messages.m]
texts = ["one", "two", "three"]
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
post_mode = "replace"
{extra}
"#
    );
    w.config(&toml);
    (w, a, b)
}

/// `run --once` telling its notifications to `hook`.
fn run_once_hooked(w: &World, hook: &common::Hook) {
    let mut cmd = w.command(&["run", "--once", "--no-metrics", "--ignore-quiet-hours"]);
    cmd.env("ENABLE_WEBHOOK_NOTIFICATIONS", "true")
        .env("WEBHOOK_URL", hook.url.as_str())
        .env("WEBHOOK_SECRET", "hook-secret")
        .env("NOTIFY_COLLAPSE_HOURS", "0");
    let out = w.run_within(cmd, None, Duration::from_secs(60));
    assert!(out.status.success(), "run --once failed: {}", text(&out));
}

/// The admin of `chat` deletes our live post there.
fn admin_deletes_ours(w: &World, chat: i64) {
    let ours = w.server.live_posts(chat, ACC1);
    assert_eq!(ours.len(), 1, "chat {chat}: {ours:?}");
    assert_eq!(w.server.delete_as_admin(chat, ADMIN, &ours), Ok(1));
}

fn stats_json(w: &World) -> serde_json::Value {
    let out = w.run(&["stats", "--json"]);
    assert!(out.status.success(), "stats --json: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("stats --json is JSON")
}

#[test]
fn an_admin_deleting_our_posts_twice_flags_the_chat_and_a_live_post_is_not_counted() {
    let (w, a, b) = survival_world("");
    let hook = common::start_hook(&w.rt);
    run_once_hooked(&w, &hook);
    // The first removal: counted, not flagged yet (removed_posts_flag defaults to 2).
    admin_deletes_ours(&w, a);
    run_once_hooked(&w, &hook);
    let j = stats_json(&w);
    let removed = j["removed_posts"].as_array().expect("removed_posts");
    assert_eq!(removed.len(), 1, "only chat A lost a post: {j}");
    assert_eq!(removed[0]["target"], a.to_string());
    assert_eq!(removed[0]["removed_in_row"], 1);
    assert_eq!(removed[0]["flagged"], false);
    // Our replaced post there was gone already: nothing of ours was deleted by us in A.
    assert!(
        w.server
            .messages(a)
            .iter()
            .all(|m| m.deleted_by != Some(ACC1)),
        "{:?}",
        w.server.messages(a)
    );
    // The second removal in a row flags the chat.
    admin_deletes_ours(&w, a);
    run_once_hooked(&w, &hook);
    let j = stats_json(&w);
    let removed = j["removed_posts"].as_array().expect("removed_posts");
    assert_eq!(removed.len(), 1, "{j}");
    assert_eq!(removed[0]["target"], a.to_string());
    assert_eq!(removed[0]["removed_in_row"], 2);
    assert_eq!(removed[0]["removed_total"], 2);
    assert_eq!(removed[0]["flagged"], true);
    let stats = w.ok_stats();
    let line = stats
        .lines()
        .find(|l| l.contains(&a.to_string()) && l.contains("FLAGGED"))
        .unwrap_or_else(|| panic!("stats flags chat A: {stats}"));
    assert!(line.contains("our posts are being removed"), "{line}");
    assert!(
        !stats
            .lines()
            .any(|l| l.contains(&b.to_string()) && l.contains("FLAGGED")),
        "{stats}"
    );
    // One notification, for chat A only; chat B (our post live each cycle) never counted.
    let bodies = hook.bodies.lock().expect("hook lock").clone();
    let flagged: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["event"] == "posts_removed")
        .collect();
    assert_eq!(flagged.len(), 1, "{bodies:#?}");
    let body = flagged[0].to_string();
    assert!(
        body.contains(&a.to_string()) && body.contains("removed_in_row"),
        "{body}"
    );
    // Chat B still holds exactly our current post; A holds our newest one, still active.
    assert_eq!(w.server.live_posts(b, ACC1).len(), 1);
    assert_eq!(w.server.live_posts(a, ACC1).len(), 1);
    // A live post starts the count again and lifts the flag.
    run_once_hooked(&w, &hook);
    let j = stats_json(&w);
    let removed = j["removed_posts"].as_array().expect("removed_posts");
    assert_eq!(removed[0]["removed_in_row"], 0, "{j}");
    assert_eq!(removed[0]["removed_total"], 2, "{j}");
    assert_eq!(removed[0]["flagged"], false, "{j}");
}

#[test]
fn disable_when_removed_disables_the_flagged_chat() {
    let (w, a, b) = survival_world("removed_posts_flag = 1\ndisable_when_removed = true");
    let hook = common::start_hook(&w.rt);
    run_once_hooked(&w, &hook);
    admin_deletes_ours(&w, a);
    run_once_hooked(&w, &hook);
    let out = w.run(&["targets", "list", "--json"]);
    assert!(out.status.success(), "targets list: {}", text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = |key: String| {
        listed
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["target"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} listed: {listed}"))
    };
    let ra = row(a.to_string());
    assert_eq!(ra["status"], "disabled", "{ra}");
    assert!(
        ra["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("our posts are being removed: 1 of our posts in a row"),
        "{ra}"
    );
    assert_eq!(row(b.to_string())["status"], "active");
    let bodies = hook.bodies.lock().expect("hook lock").clone();
    assert!(
        bodies
            .iter()
            .any(|b| b["event"] == "posts_removed" && b.to_string().contains("\"disabled\":true")),
        "{bodies:#?}"
    );
    // Disabled: the next cycle posts nothing into A.
    let before = w.server.messages(a).len();
    run_once_hooked(&w, &hook);
    assert_eq!(w.server.messages(a).len(), before);
}
