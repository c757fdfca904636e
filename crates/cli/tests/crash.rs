//! Crash safety of the real binary: `kill -9` the sandbox daemon at random moments, restart
//! it each time, then check the sandbox ledger against the journal: no chat got two messages
//! of one broadcaster in one cycle, and no target of a completed cycle was skipped.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use sqlx::Row;

const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");

const CONFIG: &str = r#"
[settings]
delay_between_chats = "20ms"
cycle_delay = "30ms"
enable_scheduling = false
enable_quiet_hours = false

[sandbox]
latency_ms = 3
seed = 5

[accounts.acc1]
[accounts.acc2]

[targets]
prod = ["-1001000000001", "-1001000000002", "-1001000000003", "@shop_one", "@shop_two", "@shop_three", "-555001"]

[messages.b2b]
texts = ["b2b first", "b2b second", "b2b third"]
[messages.aaa]
texts = ["aaa only"]
[messages.b2c]
texts = ["b2c first", "b2c second"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"
[broadcasters.aaa]
account = "acc1"
targets = "prod"
messages = "aaa"
[broadcasters.b2c]
account = "acc2"
targets = "prod"
messages = "b2c"
rotation = "random"
"#;

fn spawn(dir: &Path) -> std::process::Child {
    Command::new(BIN)
        .args(["run", "--sandbox"])
        .current_dir(dir)
        .env("LOG_LEVEL", "warn")
        .env("METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sendmessagebot")
}

#[test]
fn kill_9_at_random_moments_never_duplicates_or_skips() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), CONFIG).unwrap();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills = 25;
    for _ in 0..kills {
        let mut child = spawn(dir.path());
        // The point of this test is to die at arbitrary moments, so a random wait is the
        // input here, not a synchronisation.
        std::thread::sleep(Duration::from_millis(rng.random_range(40..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }
    // A last clean run completes whatever cycle was interrupted.
    let status = Command::new(BIN)
        .args(["run", "--sandbox", "--once"])
        .current_dir(dir.path())
        .env("LOG_LEVEL", "warn")
        .env("METRICS_BIND", "127.0.0.1:0")
        .status()
        .unwrap();
    assert!(status.success());

    let ledger =
        smb_telegram::sim::read_ledger(&dir.path().join("data/sandbox/ledger.jsonl")).unwrap();
    assert!(!ledger.is_empty());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = dir.path().join("data/sandbox/sendmessagebot.db");
    let (deliveries, cycles) = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let d = sqlx::query(
            "SELECT broadcaster, cycle, target, random_id, status, message FROM deliveries",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let c = sqlx::query("SELECT broadcaster, cycle, message, completed_at FROM cycles")
            .fetch_all(&pool)
            .await
            .unwrap();
        let d: Vec<(String, i64, String, i64, String, String)> = d
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect();
        let c: Vec<(String, i64, String, Option<i64>)> = c
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        (d, c)
    });
    let by_random_id: HashMap<i64, &(String, i64, String, i64, String, String)> =
        deliveries.iter().map(|d| (d.3, d)).collect();

    // Every message Telegram accepted was journalled first, under its own random_id.
    let mut per_cycle: HashMap<(String, i64, String), usize> = HashMap::new();
    for e in &ledger {
        let d = by_random_id
            .get(&e.random_id)
            .unwrap_or_else(|| panic!("ledger entry without a journal row: {e:?}"));
        assert_eq!(
            d.2, e.chat,
            "random_id sent to the chat it was journalled for"
        );
        assert_eq!(d.5, e.text);
        *per_cycle
            .entry((d.0.clone(), d.1, d.2.clone()))
            .or_default() += 1;
    }
    let dupes: Vec<_> = per_cycle.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dupes.is_empty(),
        "a chat got two messages in one cycle: {dupes:?}"
    );

    // Every target of every completed cycle got the cycle's message.
    let targets: Vec<String> = [
        "-1001000000001",
        "-1001000000002",
        "-1001000000003",
        "@shop_one",
        "@shop_two",
        "@shop_three",
        "-555001",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let delivered: HashSet<(String, i64, String)> = per_cycle.keys().cloned().collect();
    let mut completed = 0;
    for (b, c, message, done) in &cycles {
        if done.is_none() {
            continue;
        }
        completed += 1;
        for t in &targets {
            assert!(
                delivered.contains(&(b.clone(), *c, t.clone())),
                "{b} cycle {c} skipped {t}"
            );
        }
        for d in deliveries.iter().filter(|d| &d.0 == b && d.1 == *c) {
            assert_eq!(&d.5, message, "one message per cycle");
            assert_eq!(d.4, "sent");
        }
    }
    assert!(
        completed >= 3,
        "each broadcaster completed at least its final cycle ({completed})"
    );
    eprintln!(
        "{} kills, {} messages, {} completed cycles, 0 duplicates, 0 gaps",
        kills,
        ledger.len(),
        completed
    );
}
