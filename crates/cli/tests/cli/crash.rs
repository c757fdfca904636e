//! Crash safety of the real binary: `kill -9` the sandbox daemon at random moments, restart
//! it each time, then check the sandbox ledger against the journal: no chat got two messages
//! of one broadcaster in one cycle, and no target of a completed cycle was skipped.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::BIN;
use rand::{Rng, SeedableRng};

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
    let (deliveries, cycles) =
        common::read_journal(&rt, &dir.path().join("data/sandbox/sendmessagebot.db"));

    // Every message Telegram accepted was journalled first, under its own random_id; every
    // target of every completed cycle got the cycle's message.
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
    let completed = common::check_ledger_against_journal(
        &ledger,
        &deliveries,
        &cycles,
        |_| &targets,
        common::Words {
            entry: "ledger entry",
            sent: "sent",
            messages: "messages",
        },
    );
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
