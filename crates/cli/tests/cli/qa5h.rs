//! qa5's last issue-14 findings through the real binary in the sandbox: the backup honours
//! the start-up pre-flight check after a restart (F3), and the network-error retry budget and
//! its doubling back-off survive restarts (F7).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::text;
use sqlx::Row;

const LIMIT: Duration = Duration::from_secs(60);

/// Polls `done` every 50 ms; panics naming `what` (and the daemon's log) when it never held
/// within [`LIMIT`].
fn wait_for(dir: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < LIMIT,
            "timed out waiting for {what}\n{}",
            log(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon as a child process (quiet hours ignored: tests run at any hour), its output
/// appended to `daemon.log`.
fn spawn(dir: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .unwrap();
    let err = out.try_clone().unwrap();
    let mut c = common::command(
        dir,
        &[
            "run",
            "--sandbox",
            "--no-metrics",
            "--no-web",
            "--ignore-quiet-hours",
        ],
    );
    c.stdout(out).stderr(err);
    c.spawn().expect("start sendmessagebot")
}

/// SIGTERM, then a clean exit.
fn stop(dir: &Path, mut child: Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < LIMIT, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", log(dir));
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

/// A journal row: cycle, target, account, status, attempts, random_id, error_code,
/// error_text, retry_at - updated_at (ms).
type JournalRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// The deliveries of `broadcaster` in the sandbox journal of `dir` (read-only, beside a
/// running daemon), by cycle and target.
fn rows(rt: &tokio::runtime::Runtime, dir: &Path, broadcaster: &str) -> Vec<JournalRow> {
    let db = dir.join("data/sandbox/sendmessagebot.db");
    if !db.exists() {
        return Vec::new();
    }
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
            return Vec::new();
        };
        let r = sqlx::query(
            "SELECT cycle, target, account, status, attempts, random_id, error_code, error_text, \
             retry_at - updated_at FROM deliveries WHERE broadcaster = ? ORDER BY cycle, target",
        )
        .bind(broadcaster)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
        r.iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                )
            })
            .collect()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// F3: acc1 (b2b's account) is stopped by PEER_FLOOD in the first run; acc3, its backup, is
/// banned in @chat_d. After a restart the start-up check finds the ban again, and acc3 posts
/// b2b's next cycles everywhere but @chat_d, which it never tries (the qa5 binary sent there
/// and got USER_BANNED_IN_CHANNEL).
#[test]
fn after_a_restart_the_backup_never_posts_where_the_start_up_check_found_it_banned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sendmessagebot.toml"),
        r#"
[settings]
delay_between_chats = "10ms"
cycle_delay = "2s"
jitter = "0%"
enable_quiet_hours = false
enable_scheduling = false
preflight_every = "1h"

[sandbox]
latency_ms = 1

[[sandbox.faults]]
account = "acc1"
error = "PEER_FLOOD"
after = 2
times = 1

[[sandbox.faults]]
account = "acc3"
chat = "@chat_d"
error = "USER_BANNED_IN_CHANNEL"

[accounts.acc1]
delay_between_chats = "10ms"

[accounts.acc3]
delay_between_chats = "10ms"

[targets]
prod = ["@chat_a", "@chat_b", "@chat_c", "@chat_d", "@chat_e", "@chat_f"]
own = ["@acc3_home"]

[messages.b2b]
texts = ["B2B one", "B2B two"]

[messages.own]
texts = ["own"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"
backup_accounts = ["acc3"]

[broadcasters.own]
account = "acc3"
targets = "own"
messages = "own"
"#,
    )
    .unwrap();
    let rt = runtime();
    // First run: acc1 posts twice, then PEER_FLOOD stops it (persisted).
    let first = common::run_with(
        common::command(
            d,
            &[
                "run",
                "--sandbox",
                "--once",
                "--no-metrics",
                "--no-web",
                "--ignore-quiet-hours",
            ],
        ),
        None,
        LIMIT,
    )
    .unwrap_or_else(|out| panic!("run --once did not finish: {}", text(&out)));
    assert!(first.status.success(), "{}", text(&first));
    let sent_by_acc1 = rows(&rt, d, "b2b")
        .iter()
        .filter(|r| r.2 == "acc1" && r.3 == "sent")
        .count();
    assert_eq!(sent_by_acc1, 2, "{}", text(&first));

    // Restart: the daemon's own start-up check, then acc3 serves b2b alone.
    let child = spawn(d);
    wait_for(d, "two b2b cycles after the restart", || {
        let r = rows(&rt, d, "b2b");
        r.iter()
            .filter(|r| r.0 >= 2 && r.2 == "acc3" && r.3 == "sent")
            .count()
            >= 10
    });
    stop(d, child);
    let journal = rows(&rt, d, "b2b");
    let after: Vec<&JournalRow> = journal.iter().filter(|r| r.0 >= 2).collect();
    assert!(
        after.iter().all(|r| r.1 != "@chat_d"),
        "acc3 tried @chat_d after the restart: {journal:?}"
    );
    for c in ["@chat_a", "@chat_b", "@chat_c", "@chat_e", "@chat_f"] {
        assert!(
            after
                .iter()
                .any(|r| r.0 == 2 && r.1 == c && r.2 == "acc3" && r.3 == "sent"),
            "{c}: {journal:?}"
        );
    }
    let log = log(d);
    assert!(log.contains("pre-flight check done"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("delivery ") && l.contains("target=@chat_d")),
        "{log}"
    );
}

/// F7: a chat whose every send meets a network error, `max_retries = 2`, `retry_delay = 3s`.
/// The daemon is stopped after each try: the journal row keeps the retries used and the
/// doubled delay, a restarted daemon continues from there with the same random_id, and the
/// third error fails the delivery ("gave up after 2 retries"), as in one process.
#[test]
fn the_retry_count_and_its_doubling_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sendmessagebot.toml"),
        r#"
[settings]
delay_between_chats = "300ms"
cycle_delay = 600
retry_delay = 3
max_retries = 2
enable_quiet_hours = false
enable_scheduling = false
jitter = "0%"

[sandbox]
latency_ms = 1

[[sandbox.faults]]
chat = "@net_bad"
error = "NETWORK"

[accounts.acc1]

[targets]
prod = ["@net_ok", "@net_bad"]

[messages.m]
texts = ["one"]

[broadcasters.b]
account = "acc1"
targets = "prod"
messages = "m"
"#,
    )
    .unwrap();
    let rt = runtime();
    let bad = |rt: &tokio::runtime::Runtime| {
        rows(rt, d, "b")
            .into_iter()
            .find(|r| r.1 == "@net_bad")
            .filter(|r| r.3 != "pending")
    };
    // Run 1: the first error, retried 3 s later (retry 1 of 2).
    let child = spawn(d);
    wait_for(d, "the first deferral", || {
        bad(&rt).is_some_and(|r| r.3 == "deferred")
    });
    stop(d, child);
    let first = bad(&rt).unwrap();
    assert_eq!((first.3.as_str(), first.4), ("deferred", 1), "{first:?}");
    let wait = first.8.unwrap();
    assert!((3000..6000).contains(&wait), "{first:?}");

    // Run 2: the retry meets the error again: retry 2 of 2, the delay doubled.
    let child = spawn(d);
    wait_for(d, "the second deferral", || {
        bad(&rt).is_some_and(|r| r.3 == "deferred" && r.4 >= 2)
    });
    stop(d, child);
    let second = bad(&rt).unwrap();
    assert_eq!((second.3.as_str(), second.4), ("deferred", 2), "{second:?}");
    assert!(second.8.unwrap() >= 6000, "{second:?}");
    assert_eq!(second.5, first.5, "the same random_id");

    // Run 3: the budget is spent: the third error fails the delivery.
    let child = spawn(d);
    wait_for(d, "the delivery to fail", || {
        bad(&rt).is_some_and(|r| r.3 == "failed")
    });
    stop(d, child);
    let last = bad(&rt).unwrap();
    assert_eq!(last.5, first.5, "the same random_id");
    assert!(
        last.7
            .as_deref()
            .is_some_and(|t| t.contains("gave up after 2 retries")),
        "{last:?}"
    );
    // Three tries in all, each with the delivery's one random_id.
    let tries: Vec<String> = log(d)
        .lines()
        .filter(|l| l.contains("delivery ") && l.contains("target=@net_bad"))
        .map(str::to_owned)
        .collect();
    assert_eq!(tries.len(), 3, "{tries:#?}");
    let id = format!("random_id={}", first.5);
    assert!(tries.iter().all(|l| l.contains(&id)), "{tries:#?}");
}

/// F6: two broadcasters on two accounts share a chat with `min_gap = "24h"`; one posted, so
/// the next cycle of each is held there. `stats` names whose send each hold is (text, JSON,
/// Russian), as `run --dry-run` does.
#[test]
fn stats_names_the_broadcaster_of_each_held_send() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sendmessagebot.toml"),
        r#"
[settings]
delay_between_chats = "10ms"
cycle_delay = "1h"
jitter = "0%"
enable_quiet_hours = false
enable_scheduling = false
timezone = "Europe/Moscow"

[sandbox]
latency_ms = 1

[accounts.acc1]
delay_between_chats = "10ms"

[accounts.acc2]
delay_between_chats = "10ms"

[targets]
shared = [{ chat = "@gap_chat", min_gap = "24h" }]

[messages.m]
texts = ["price list"]

[broadcasters.aaa]
account = "acc1"
targets = "shared"
messages = "m"

[broadcasters.bbb]
account = "acc2"
targets = "shared"
messages = "m"
"#,
    )
    .unwrap();
    let smb = |args: &[&str], lang: &str| {
        let mut c = common::command(d, args);
        c.env("LC_ALL", lang).env("LANG", lang);
        let out = common::run_with(c, None, LIMIT)
            .unwrap_or_else(|out| panic!("{args:?} did not finish: {}", text(&out)));
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    smb(
        &[
            "run",
            "--sandbox",
            "--once",
            "--no-metrics",
            "--no-web",
            "--ignore-quiet-hours",
        ],
        "C",
    );
    let stats = smb(&["stats", "--sandbox"], "C");
    let held: Vec<&str> = stats
        .lines()
        .filter(|l| l.trim_start().starts_with("@gap_chat") && l.contains("next allowed"))
        .collect();
    assert_eq!(held.len(), 2, "{stats}");
    assert!(held[0].contains(" for aaa (acc1) "), "{stats}");
    assert!(held[1].contains(" for bbb (acc2) "), "{stats}");
    assert!(held.iter().all(|l| l.contains("min_gap 24h")), "{stats}");

    let v: serde_json::Value =
        serde_json::from_str(&smb(&["stats", "--sandbox", "--json"], "C")).unwrap();
    let rows = v["held_targets"].as_array().unwrap();
    let who: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap(),
                r["broadcaster"].as_str().unwrap(),
                r["account"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [("@gap_chat", "aaa", "acc1"), ("@gap_chat", "bbb", "acc2")],
        "{v}"
    );

    let ru = smb(&["stats", "--sandbox"], "ru_RU.UTF-8");
    assert!(ru.contains(" для aaa (acc1) можно с "), "{ru}");
    assert!(ru.contains(" для bbb (acc2) можно с "), "{ru}");

    // The dry run's list is the same, per broadcaster.
    let plan = smb(
        &[
            "run",
            "--sandbox",
            "--dry-run",
            "--no-metrics",
            "--ignore-quiet-hours",
        ],
        "C",
    );
    assert!(plan.contains(" for aaa (acc1) "), "{plan}");
    assert!(plan.contains(" for bbb (acc2) "), "{plan}");
}

/// qa5's smaller observation: `targets check` asks each broadcaster's backup accounts too,
/// as the daemon's check does, so a backup banned in a chat shows before it is needed.
#[test]
fn targets_check_lists_the_backup_accounts_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sendmessagebot.toml"),
        r#"
[settings]
enable_quiet_hours = false
enable_scheduling = false

[sandbox]
latency_ms = 1

[[sandbox.faults]]
account = "acc3"
chat = "@chat_d"
error = "USER_BANNED_IN_CHANNEL"

[accounts.acc1]

[accounts.acc3]

[targets]
prod = ["@chat_a", "@chat_d"]

[messages.m]
texts = ["price list"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "m"
backup_accounts = ["acc3"]
"#,
    )
    .unwrap();
    let mut c = common::command(d, &["targets", "check", "--sandbox", "--json"]);
    c.env("LC_ALL", "C").env("LANG", "C");
    let out = common::run_with(c, None, LIMIT)
        .unwrap_or_else(|out| panic!("targets check did not finish: {}", text(&out)));
    let rows: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let pairs: Vec<(&str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap(),
                r["target"].as_str().unwrap(),
                r["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let accounts_targets: Vec<(&str, &str)> = pairs.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        accounts_targets,
        [
            ("acc1", "@chat_a"),
            ("acc1", "@chat_d"),
            ("acc3", "@chat_a"),
            ("acc3", "@chat_d")
        ],
        "{}",
        text(&out)
    );
    assert_ne!(pairs[3].2, "ok", "{}", text(&out));
    assert_eq!(pairs[2].2, "ok", "{}", text(&out));
    // `--account acc3` keeps the backup's rows.
    let mut c = common::command(d, &["targets", "check", "--sandbox", "--account", "acc3"]);
    c.env("LC_ALL", "C").env("LANG", "C");
    let out = common::run_with(c, None, LIMIT).unwrap_or_else(|out| panic!("{}", text(&out)));
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        table.lines().filter(|l| l.starts_with("acc3 ")).count(),
        2,
        "{}",
        text(&out)
    );
}
