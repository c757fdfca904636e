//! `targets check` and forum topics through the real binary and grammers against the MTProto
//! test server (started in this process on 127.0.0.1): what each (account, target) may do,
//! the journal's last post, a forum target without a topic said to post to General, an
//! upgraded group named with its new id; and `run --once` posting into the right topic.

use crate::common;

use std::time::Duration;

use common::text;
use smb_mtproto_testserver::{ChatKind, ChatSpec, Fixture, UserSpec};

const ACC1: i64 = 1001;
const ACC2: i64 = 1002;
const FORUM: i64 = -1_001_000_000_100;
const SLOW: i64 = -1_001_000_000_101;
const STRICT: i64 = -1_001_000_000_104;
const GROUP: i64 = -4001;
const UPGRADED: i64 = -1_001_000_000_200;
/// Slow-mode chats for the measurement (2 s and 3 s: a day's cycles in seconds).
const SLOW2: i64 = -1_001_000_000_105;
const SLOW3: i64 = -1_001_000_000_106;
const LIMIT: Duration = Duration::from_secs(60);

fn fixture() -> Fixture {
    Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .user(UserSpec::new(ACC2, "Seller Two").phone("+15550002"))
        .chat(
            ChatSpec::new(FORUM, "Gadgets forum", ChatKind::Supergroup)
                .username("gadgets_forum")
                .members(&[ACC1, ACC2])
                .topic(123, "Prices")
                .closed_topic(9, "Archive"),
        )
        .chat(
            ChatSpec::new(SLOW, "Slow wholesale", ChatKind::Supergroup)
                .members(&[ACC1])
                .slow_mode(600)
                .media_banned(),
        )
        .chat(
            ChatSpec::new(STRICT, "Strict market", ChatKind::Supergroup)
                .members(&[ACC1])
                .banned(&[ACC1]),
        )
        .chat(ChatSpec::new(GROUP, "Friends", ChatKind::Group).members(&[ACC1]))
        .chat(
            ChatSpec::new(SLOW2, "Slow two", ChatKind::Supergroup)
                .members(&[ACC1, ACC2])
                .slow_mode(2),
        )
        .chat(
            ChatSpec::new(SLOW3, "Slow three", ChatKind::Supergroup)
                .members(&[ACC1])
                .slow_mode(3),
        )
        .chat(
            ChatSpec::new(-1_001_000_000_102, "Open market", ChatKind::Supergroup)
                .username("open_market"),
        )
}

// These tests follow the send path (a refused or upgraded chat met by a send): no pre-flight
// check, see `world`.
const CONFIG: &str = r#"
[accounts.acc1]
[accounts.acc2]

[targets]
shops = ["https://t.me/gadgets_forum/123", "@gadgets_forum", "-1001000000101", "-1001000000104", "-4001", "@open_market"]
archive = ["t.me/gadgets_forum/9"]

[messages.m]
texts = ["Price list"]

[broadcasters.shops]
account = "acc1"
targets = "shops"
messages = "m"

[broadcasters.archive]
account = "acc2"
targets = "archive"
messages = "m"
"#;

type World = common::server::ServerWorld;

/// The fixture's world with CONFIG and both accounts logged in.
fn world() -> World {
    let w = logged_in();
    w.config(&format!("{}\n{CONFIG}", common::server::FAST_NO_PREFLIGHT));
    w
}

/// The fixture's world with both accounts logged in and no configuration yet.
fn logged_in() -> World {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    w
}

impl World {
    fn check_json(&self, extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
        let mut args = vec!["targets", "check", "--json", "--pause-ms", "0"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("JSON ({e}): {}", text(&out)));
        (
            out.status.code(),
            rows.as_array().expect("an array").clone(),
        )
    }
}

fn row<'a>(rows: &'a [serde_json::Value], account: &str, target: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["account"] == account && r["target"] == target)
        .unwrap_or_else(|| panic!("no row {account} {target} in {rows:#?}"))
}

#[test]
fn targets_check_says_what_each_account_may_do_in_each_chat() {
    let w = world();
    let (code, rows) = w.check_json(&[]);
    assert_eq!(code, Some(1), "chats refuse text: exit 1");
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap_or_default().to_owned(),
                r["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("acc1", "@gadgets_forum/123"),
        ("acc1", "@gadgets_forum"),
        ("acc1", "-1001000000101"),
        ("acc1", "-1001000000104"),
        ("acc1", "-4001"),
        ("acc1", "@open_market"),
        ("acc2", "@gadgets_forum/9"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    assert_eq!(keys, want);
    // The stable shape: every field on every row. Compared as a set: serde_json keeps the
    // written order when a dependency turns on `preserve_order`, and sorts it otherwise.
    let mut fields: Vec<&str> = rows[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    let mut want_fields = [
        "account",
        "target",
        "checked",
        "member",
        "can_write",
        "can_send_media",
        "slow_mode_seconds",
        "forum",
        "topic",
        "posts_to_general",
        "title",
        "migrated_to",
        "refusal",
        "verdict",
        "reason",
        "last_posted_at",
        // CLI only (e14 QA): the chat rule holding the target now, or null.
        "held",
    ];
    want_fields.sort_unstable();
    assert_eq!(fields, want_fields);
    assert!(
        rows.iter()
            .all(|r| r.as_object().map(|o| o.len()) == Some(17))
    );

    let topic = row(&rows, "acc1", "@gadgets_forum/123");
    assert_eq!(
        (
            &topic["member"],
            &topic["can_write"],
            &topic["forum"],
            &topic["topic"],
            &topic["posts_to_general"],
            &topic["title"],
            &topic["last_posted_at"]
        ),
        (
            &true.into(),
            &true.into(),
            &true.into(),
            &"open".into(),
            &false.into(),
            &"Gadgets forum".into(),
            &serde_json::Value::Null
        )
    );
    let general = row(&rows, "acc1", "@gadgets_forum");
    assert_eq!(
        (
            &general["posts_to_general"],
            &general["topic"],
            &general["can_write"]
        ),
        (&true.into(), &serde_json::Value::Null, &true.into())
    );
    let slow = row(&rows, "acc1", "-1001000000101");
    assert_eq!(
        (
            &slow["slow_mode_seconds"],
            &slow["can_write"],
            &slow["can_send_media"],
            &slow["refusal"]
        ),
        (
            &600.into(),
            &true.into(),
            &false.into(),
            &"CHAT_SEND_MEDIA_FORBIDDEN".into()
        )
    );
    let strict = row(&rows, "acc1", "-1001000000104");
    assert_eq!(
        (&strict["member"], &strict["can_write"], &strict["refusal"]),
        (
            &true.into(),
            &false.into(),
            &"USER_BANNED_IN_CHANNEL".into()
        )
    );
    assert!(
        strict["reason"]
            .as_str()
            .is_some_and(|p| p.starts_with("USER_BANNED_IN_CHANNEL: the account may not post here")),
        "{strict}"
    );
    let group = row(&rows, "acc1", "-4001");
    assert_eq!(
        (&group["title"], &group["can_write"], &group["migrated_to"]),
        (&"Friends".into(), &true.into(), &serde_json::Value::Null)
    );
    let outside = row(&rows, "acc1", "@open_market");
    assert_eq!(
        (&outside["checked"], &outside["member"], &outside["refusal"]),
        (&true.into(), &false.into(), &"USER_NOT_PARTICIPANT".into())
    );
    let closed = row(&rows, "acc2", "@gadgets_forum/9");
    assert_eq!(
        (&closed["topic"], &closed["can_write"], &closed["refusal"]),
        (&"closed".into(), &false.into(), &"TOPIC_CLOSED".into())
    );
    // Looking posted nothing.
    assert!(w.server.ledger().is_empty());

    // The table: one row each, General said, the refusal in words, a summary; exit 1.
    let out = w.run(&["targets", "check", "--pause-ms", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}");
    assert!(table.starts_with("ACCOUNT"), "{table}");
    for needle in [
        "! a forum: posts go to its General topic",
        "✗ TOPIC_CLOSED: the forum topic is closed",
        "! CHAT_SEND_MEDIA_FORBIDDEN: this chat forbids media",
        "topic open",
        "10m",
        "7 checked: 4 can be posted to, 3 cannot, 1 forum target(s) post to General",
    ] {
        assert!(table.contains(needle), "`{needle}` missing:\n{table}");
    }

    // One account only; a chat everyone may write to exits 0.
    let (code, rows) = w.check_json(&["--account", "acc2"]);
    assert_eq!((code, rows.len()), (Some(1), 1));
    let out = w.run(&["targets", "check", "--account", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .contains("no broadcaster posts from account `nobody` (accounts in use: acc1, acc2)"),
        "{}",
        text(&out)
    );

    // The group is upgraded: sends follow it; the check names the new id and what to change.
    w.server
        .migrate_group(
            GROUP,
            ChatSpec::new(UPGRADED, "Friends", ChatKind::Supergroup),
        )
        .expect("migrates");
    let (_, rows) = w.check_json(&["--account", "acc1"]);
    let group = row(&rows, "acc1", "-4001");
    assert_eq!(
        (
            &group["migrated_to"],
            &group["can_write"],
            &group["refusal"]
        ),
        (&UPGRADED.into(), &true.into(), &serde_json::Value::Null)
    );
    assert_eq!(
        group["reason"],
        "this basic group was upgraded to a supergroup: posts follow it to -1001000000200; replace -4001 with it in the configuration"
    );
    // Posting follows it too: `run --once` puts the group's post under the new id.
    let out = w.run(&["run", "--once", "--no-metrics", "--no-web"]);
    assert!(out.status.success(), "{}", text(&out));
    let into_group: Vec<String> = w
        .server
        .ledger()
        .iter()
        .filter(|e| e.chat == GROUP.to_string() || e.chat == UPGRADED.to_string())
        .map(|e| e.chat.clone())
        .collect();
    assert_eq!(into_group, [UPGRADED.to_string()]);
}

#[test]
fn run_once_posts_into_the_topic_and_general_and_check_shows_the_last_post() {
    let w = world();
    let out = w.run(&["run", "--once", "--no-metrics", "--no-web"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut got: Vec<(String, Option<i32>, i64)> = w
        .server
        .ledger()
        .iter()
        .map(|e| (e.chat.clone(), e.topic, e.account))
        .collect();
    got.sort();
    let mut want = vec![
        (FORUM.to_string(), Some(123), ACC1),
        (FORUM.to_string(), None, ACC1),
        (SLOW.to_string(), None, ACC1),
        (GROUP.to_string(), None, ACC1),
    ];
    want.sort();
    assert_eq!(
        got, want,
        "topic 123, General, and the chats that accept text"
    );

    let (_, rows) = w.check_json(&[]);
    for target in [
        "@gadgets_forum/123",
        "@gadgets_forum",
        "-1001000000101",
        "-4001",
    ] {
        let at = row(&rows, "acc1", target)["last_posted_at"]
            .as_str()
            .unwrap_or_else(|| panic!("{target}: a last post"))
            .parse::<jiff::Timestamp>()
            .expect("RFC 3339");
        assert!(at <= jiff::Timestamp::now(), "{target}");
    }
    for (account, target) in [
        ("acc1", "-1001000000104"),
        ("acc1", "@open_market"),
        ("acc2", "@gadgets_forum/9"),
    ] {
        assert_eq!(
            row(&rows, account, target)["last_posted_at"],
            serde_json::Value::Null,
            "{target}"
        );
    }
}

#[test]
fn an_upgraded_group_keeps_its_posts_under_the_new_id_across_a_restart_and_is_told_once() {
    let w = logged_in();
    w.server
        .migrate_group(
            GROUP,
            ChatSpec::new(UPGRADED, "Friends", ChatKind::Supergroup),
        )
        .expect("migrates");
    // Only chats that take a post every run (the slow-mode chat would hold `--once` for its
    // 10 minutes on the second run).
    std::fs::write(
        w.path().join("sendmessagebot.toml"),
        format!("{}\n{CONFIG}", common::server::FAST_NO_PREFLIGHT)
            .replace(
                r#""-1001000000101", "-1001000000104", "-4001", "@open_market""#,
                r#""-4001""#,
            )
            .replace(
                "archive = [\"t.me/gadgets_forum/9\"]",
                "archive = [\"t.me/gadgets_forum/123\"]",
            ),
    )
    .expect("config");
    let common::Hook { url: hook, bodies } = common::start_hook(&w.rt);
    let run_once = || {
        let mut c = w.command(&["run", "--once", "--no-metrics", "--no-web"]);
        c.env("ENABLE_WEBHOOK_NOTIFICATIONS", "true")
            .env("WEBHOOK_URL", &hook)
            .env("WEBHOOK_SECRET", "hook-secret")
            .env("NOTIFY_COLLAPSE_HOURS", "0");
        let out = common::run_with(c, None, LIMIT)
            .unwrap_or_else(|out| panic!("run --once did not finish: {}", text(&out)));
        assert!(out.status.success(), "{}", text(&out));
    };
    let into_group = || -> Vec<String> {
        w.server
            .ledger()
            .iter()
            .filter(|e| e.chat == GROUP.to_string() || e.chat == UPGRADED.to_string())
            .map(|e| e.chat.clone())
            .collect()
    };
    let migrated = || -> Vec<serde_json::Value> {
        bodies
            .lock()
            .expect("hook lock")
            .iter()
            .filter(|b| b["event"] == "chat_migrated")
            .cloned()
            .collect()
    };

    // First run: PEER_ID_INVALID on the old id, the gateway follows the upgrade, the post
    // lands in the supergroup, the operator is told.
    // Every chat of this configuration takes text: a send call that did not land in the
    // ledger was refused (the daemon's start check asks getFullChat too, so sends are counted).
    let refused = || w.server.calls("messages.sendMessage") - w.server.ledger().len() as u64;
    run_once();
    assert_eq!(into_group(), [UPGRADED.to_string()]);
    assert_eq!(
        refused(),
        1,
        "one PEER_ID_INVALID on the old id, then the same post followed"
    );
    let told = migrated();
    assert_eq!(told.len(), 1, "{:#?}", bodies.lock().expect("hook lock"));
    let body = told[0].to_string();
    assert!(
        body.contains("-4001") && body.contains("-1001000000200"),
        "{body}"
    );

    // A restart: the next post goes straight to the new id, and the operator is not told
    // again.
    run_once();
    assert_eq!(into_group(), [UPGRADED.to_string(), UPGRADED.to_string()]);
    assert_eq!(
        refused(),
        1,
        "after the restart no send was refused: no PEER_ID_INVALID"
    );
    assert_eq!(migrated().len(), 1);

    // Stats: the new id, the old one as its alias, both posts counted under it.
    let out = w.run(&["stats", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}): {}", text(&out)));
    let m = &stats["migrated_targets"][0];
    assert_eq!(
        (&m["target"], &m["alias"], &m["counts"]["sent"]),
        (&"-1001000000200".into(), &"-4001".into(), &2.into()),
        "{stats:#}"
    );
    let t = &stats["targets"]["-1001000000200"];
    assert_eq!(
        (&t["alias"], &t["counts"]["sent"]),
        (&"-4001".into(), &2.into())
    );
    assert!(stats["targets"].get("-4001").is_none(), "{stats:#}");

    // The targets list shows it under the new id too.
    let out = w.run(&["targets", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}): {}", text(&out)));
    let row = list
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["alias"] == "-4001")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(row["target"], "-1001000000200");
}

/// The daemon's pre-flight check: `preflight_every` shortened to 2 s (24 h by default).
const DAEMON_CONFIG: &str = r#"
[settings]
delay_between_chats = "20ms"
cycle_delay = "2s"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
preflight_every = "2s"

[accounts.acc1]
[accounts.acc2]

[targets]
shops = ["https://t.me/gadgets_forum/123"]
archive = ["t.me/gadgets_forum/9"]

[messages.m]
texts = ["Price list"]

[broadcasters.shops]
account = "acc1"
targets = "shops"
messages = "m"

[broadcasters.archive]
account = "acc2"
targets = "archive"
messages = "m"
"#;

/// Kills the daemon if a test fails before stopping it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to `LIMIT`) until `done` holds, polling every 100 ms.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn disabled_reason(w: &World, target: &str) -> Option<String> {
    let out = w.run(&["stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["disabled_targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == target)
        .and_then(|t| t["reason"].as_str().map(str::to_owned))
}

#[test]
fn the_daemon_disables_a_closed_topic_before_sending_and_enables_it_when_reopened() {
    let w = logged_in();
    std::fs::write(w.path().join("sendmessagebot.toml"), DAEMON_CONFIG).expect("config");
    let mut daemon = Daemon(
        w.command(&["run", "--no-metrics", "--no-web"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the daemon"),
    );
    // The open topic gets posts; the closed one is disabled with the check's reason.
    wait_for("a post into topic 123", || {
        w.server.ledger().iter().any(|e| e.topic == Some(123))
    });
    let reason = disabled_reason(&w, "@gadgets_forum/9").expect("topic 9 disabled");
    assert!(
        reason.starts_with("pre-flight check: TOPIC_CLOSED"),
        "{reason}"
    );
    // No send was attempted there: the journal has no delivery for it (a pending row is
    // written before every send).
    let db = w.path().join("data/sendmessagebot.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (deliveries, _) = common::read_journal(&rt, &db);
    assert!(
        deliveries.iter().all(|d| d.2 != "@gadgets_forum/9"),
        "{deliveries:?}"
    );
    assert!(deliveries.iter().any(|d| d.2 == "@gadgets_forum/123"));
    // `targets list` and `stats` in words say why too.
    let out = w.run(&["stats"]);
    assert!(text(&out).contains("TOPIC_CLOSED"), "{}", text(&out));

    // Reopened: a later check enables it and the archive broadcaster posts there.
    assert!(w.server.set_topic_closed(FORUM, 9, false));
    wait_for("a post into topic 9", || {
        w.server
            .ledger()
            .iter()
            .any(|e| e.topic == Some(9) && e.account == ACC2)
    });
    assert_eq!(disabled_reason(&w, "@gadgets_forum/9"), None);

    let pid = daemon.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = daemon.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

/// Slow-mode chats over a day shortened to seconds: cycles every 300 ms against slow modes of
/// 2 s and 3 s, two broadcasters on two accounts in one chat. `preflight` is the setting.
/// Returns (SLOWMODE_WAITs in SLOW2, in SLOW3, posts into SLOW2, posts into SLOW3).
fn slow_mode_day(preflight: &str) -> (u64, u64, usize, usize) {
    let w = logged_in();
    let config = format!(
        r#"
[settings]
delay_between_chats = "20ms"
cycle_delay = "300ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
preflight_every = "{preflight}"

[accounts.acc1]
[accounts.acc2]

[targets]
both = ["{SLOW2}", "{SLOW3}"]
one = ["{SLOW2}"]

[messages.m]
texts = ["Price list"]

[broadcasters.wholesale]
account = "acc1"
targets = "both"
messages = "m"

[broadcasters.retail]
account = "acc2"
targets = "one"
messages = "m"
"#
    );
    std::fs::write(w.path().join("sendmessagebot.toml"), config).expect("config");
    let mut daemon = Daemon(
        w.command(&["run", "--no-metrics", "--no-web"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the daemon"),
    );
    let posts = |chat: i64, account: i64| {
        w.server
            .ledger()
            .iter()
            .filter(|e| e.chat == chat.to_string() && e.account == account)
            .count()
    };
    // Four slow-mode periods of the slower chat: each chat has seen several posts per account.
    wait_for("four posts per account into the slow chats", || {
        posts(SLOW2, ACC1) >= 4 && posts(SLOW2, ACC2) >= 4 && posts(SLOW3, ACC1) >= 4
    });
    let pid = daemon.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = daemon.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    (
        w.server.slowmode_waits(SLOW2),
        w.server.slowmode_waits(SLOW3),
        posts(SLOW2, ACC1) + posts(SLOW2, ACC2),
        posts(SLOW3, ACC1),
    )
}

#[test]
fn slow_mode_known_in_advance_gives_at_most_one_slowmode_wait_per_chat_per_day() {
    let (w2, w3, p2, p3) = slow_mode_day("1h");
    eprintln!(
        "with the pre-flight check: SLOWMODE_WAIT {w2} in the 2 s chat ({p2} posts), {w3} in the 3 s chat ({p3} posts)"
    );
    assert!(w2 <= 1 && w3 <= 1, "SLOWMODE_WAIT: {w2}, {w3}");
    // The control: without the check slow mode is learnt from SLOWMODE_WAIT, in each chat.
    let (c2, c3, q2, q3) = slow_mode_day("0s");
    eprintln!(
        "without it: SLOWMODE_WAIT {c2} in the 2 s chat ({q2} posts), {c3} in the 3 s chat ({q3} posts)"
    );
    assert!(c2 >= 1 && c3 >= 1, "SLOWMODE_WAIT: {c2}, {c3}");
}

/// Starts the daemon in the world's directory, its output into `log` (a file, so a chatty
/// daemon never blocks on a full pipe).
fn spawn_daemon(w: &World, args: &[&str], log: &str) -> std::process::Child {
    let out = std::fs::File::create(w.path().join(log)).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut c = w.command(args);
    c.stdout(out).stderr(err);
    c.spawn().expect("start sendmessagebot")
}

/// Polls `what` every 20 ms up to `limit`; panics naming it when it never held.
fn poll_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM (the shell's own `kill`), then waits for a clean exit.
fn stop_daemon(w: &World, mut child: std::process::Child, log: &str) {
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = poll_until(LIMIT, "the daemon to stop", || {
        child.try_wait().expect("wait")
    });
    assert!(
        status.success(),
        "{status}\n{}",
        std::fs::read_to_string(w.path().join(log)).unwrap_or_default()
    );
}

/// Issue 14's start-up regression: the daemon's first pre-flight check ran over every
/// (account, target) before any send, 500 ms apart. Now accounts are checked at the same
/// time and each sends once its own part is done: with acc1 on 2 chats and acc2 on 30, the
/// first post (acc1's) lands while acc2 is still being checked, by the server's own counts.
#[test]
fn the_first_post_does_not_wait_for_the_whole_check_round() {
    const MANY: i64 = 30;
    let chat = |i: i64| -1_001_000_001_000 - i;
    let mut fixture = Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .user(UserSpec::new(ACC2, "Seller Two").phone("+15550002"));
    for i in 0..2 {
        fixture = fixture.chat(
            ChatSpec::new(chat(i), &format!("Few {i}"), ChatKind::Supergroup).members(&[ACC1]),
        );
    }
    for i in 2..2 + MANY {
        fixture = fixture.chat(
            ChatSpec::new(chat(i), &format!("Many {i}"), ChatKind::Supergroup).members(&[ACC2]),
        );
    }
    let w = World::start(fixture);
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    let list = |r: std::ops::Range<i64>| {
        r.map(|i| format!("\"{}\"", chat(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // FAST keeps the daemon's pre-flight check on (its default 500 ms between look-ups).
    w.config(&format!(
        r#"{}
[accounts.acc1]
[accounts.acc2]

[targets]
few = [{}]
many = [{}]

[messages.m]
texts = ["Price list"]

[broadcasters.few]
account = "acc1"
targets = "few"
messages = "m"

[broadcasters.many]
account = "acc2"
targets = "many"
messages = "m"
"#,
        common::server::FAST,
        list(0..2),
        list(2..2 + MANY)
    ));
    let pairs = 2 + MANY as u64;
    let daemon = spawn_daemon(
        &w,
        &["run", "--once", "--no-web", "--no-metrics"],
        "first.log",
    );
    let (first, looked_at) = poll_until(LIMIT, "the first post", || {
        let first = w.server.ledger().into_iter().next()?;
        Some((first, w.server.calls("channels.getFullChannel")))
    });
    assert_eq!(first.account, ACC1, "the account with 2 chats posts first");
    assert!(
        looked_at < pairs,
        "the first post came after {looked_at} of the {pairs} look-ups: it waited for the whole round"
    );
    let mut daemon = daemon;
    let status = poll_until(Duration::from_secs(120), "run --once to finish", || {
        daemon.try_wait().expect("wait")
    });
    let log = std::fs::read_to_string(w.path().join("first.log")).unwrap_or_default();
    assert!(status.success(), "{status}\n{log}");
    let ledger = w.server.ledger();
    assert_eq!(ledger.len() as u64, pairs, "every chat posted once\n{log}");
    assert!(
        w.server.calls("channels.getFullChannel") >= pairs,
        "every pair was looked at"
    );
    // acc2 posted only after its own check: its first post is later than acc1's.
    let acc2_first = ledger
        .iter()
        .position(|e| e.account == ACC2)
        .expect("acc2 posted");
    assert!(acc2_first >= 1);
}

/// Issue 19: a `SLOWMODE_WAIT` told before a restart holds after it, with the pre-flight
/// check off (slow mode not known in advance). Two broadcasters of acc1 post into a chat
/// with 20 s slow mode: the second is told to wait; the daemon is stopped and started again
/// within the wait; the restarted daemon posts elsewhere meanwhile and into that chat only
/// after the wait (the test server records any send inside a wait it told).
#[test]
fn a_told_slow_mode_wait_holds_across_a_restart() {
    const SLOWX: i64 = -1_001_000_002_001;
    const OPEN: i64 = -1_001_000_002_002;
    let w = World::start(
        Fixture::default()
            .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
            .chat(
                ChatSpec::new(SLOWX, "Slow market", ChatKind::Supergroup)
                    .members(&[ACC1])
                    .slow_mode(20),
            )
            .chat(ChatSpec::new(OPEN, "Open market", ChatKind::Supergroup).members(&[ACC1])),
    );
    w.seed_logged_in("acc1", ACC1);
    w.config(&format!(
        r#"{}
[accounts.acc1]

[targets]
both = ["{SLOWX}", "{OPEN}"]
slow = ["{SLOWX}"]

[messages.m]
texts = ["Price list"]

[broadcasters.first]
account = "acc1"
targets = "both"
messages = "m"

[broadcasters.second]
account = "acc1"
targets = "slow"
messages = "m"
"#,
        common::server::FAST_NO_PREFLIGHT.replace(r#"cycle_delay = "1h""#, r#"cycle_delay = "1s""#)
    ));
    let into = |chat: i64| {
        w.server
            .ledger()
            .into_iter()
            .filter(|e| e.chat == chat.to_string())
            .collect::<Vec<_>>()
    };
    let args = ["run", "--no-web", "--no-metrics"];
    let daemon = spawn_daemon(&w, &args, "one.log");
    poll_until(LIMIT, "a SLOWMODE_WAIT told", || {
        (w.server.chaos_report().slow_mode_waits_told >= 1).then_some(())
    });
    stop_daemon(&w, daemon, "one.log");
    let slow_posts = into(SLOWX);
    assert_eq!(slow_posts.len(), 1, "one post, then the wait");
    let first_at: jiff::Timestamp = slow_posts[0].at.parse().expect("ledger time");
    // Slow mode counts from that post: the told wait ends by then.
    let wait_ends = first_at + jiff::SignedDuration::from_secs(20);
    let before_restart = w.server.ledger().len();

    w.server.set_epoch(1);
    let daemon = spawn_daemon(&w, &args, "two.log");
    poll_until(
        Duration::from_secs(90),
        "a post into the slow chat after the wait",
        || (into(SLOWX).len() >= 2).then_some(()),
    );
    stop_daemon(&w, daemon, "two.log");
    let log = std::fs::read_to_string(w.path().join("two.log")).unwrap_or_default();
    let report = w.server.chaos_report();
    assert_eq!(report.violations, [], "sends inside a told wait\n{log}");
    let restarted: Vec<jiff::Timestamp> = w.server.ledger()[before_restart..]
        .iter()
        .map(|e| e.at.parse().expect("ledger time"))
        .collect();
    assert!(
        restarted.iter().any(|at| *at < wait_ends),
        "the restarted daemon posted (elsewhere) inside the wait: {restarted:?}, wait ends {wait_ends}"
    );
    let second: jiff::Timestamp = into(SLOWX)[1].at.parse().expect("ledger time");
    assert!(
        second >= wait_ends,
        "{second} inside the wait ending {wait_ends}\n{log}"
    );
}
