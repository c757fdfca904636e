//! Per-chat rules through the real binary in the sandbox: a chat outside its hours is skipped
//! for the cycle, and `stats` says why, with the next allowed time.

use std::path::Path;
use std::process::{Command, Output};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");

fn smb(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("LOG_FILE", "")
        .env("LOG_LEVEL", "INFO");
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run the binary");
    assert!(
        out.status.success(),
        "{:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_chat_outside_its_hours_is_skipped_and_stats_says_until_when() {
    let dir = tempfile::tempdir().unwrap();
    // A one-hour window two hours from now (UTC): closed for the whole test even if the hour
    // turns meanwhile.
    let now = Timestamp::now().to_zoned(TimeZone::UTC);
    let open = (now.hour() + 2) % 24;
    let close = (open + 1) % 24;
    let toml = format!(
        r#"[settings]
delay_between_chats = 0.05
cycle_delay = 1
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
timezone = "UTC"

[sandbox]
latency_ms = 1

[accounts.acc1]
delay_between_chats = 0.05

[targets]
prod = [
  "@free_chat",
  {{ chat = "@ruled_chat", topic = 7, hours = "{open}-{close}", max_per_day = 1 }},
]

[messages.b2b]
texts = ["price list"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"
"#
    );
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).unwrap();
    let cfg = dir.path().join("sendmessagebot.toml");
    let cfg = cfg.to_str().unwrap();
    run_ok(smb(dir.path()).args([
        "--config",
        cfg,
        "run",
        "--sandbox",
        "--once",
        "--no-metrics",
        "--no-web",
    ]));
    let out = run_ok(smb(dir.path()).args(["--config", cfg, "stats", "--sandbox", "--json"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["sent"], 1, "{v:#}");
    let held = v["held_targets"].as_array().expect("held_targets");
    assert_eq!(held.len(), 1, "{v:#}");
    assert_eq!(held[0]["target"], "@ruled_chat/7");
    let reason = held[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("hours {open}-{close}")),
        "{reason}"
    );
    let until: Timestamp = held[0]["until"].as_str().unwrap().parse().unwrap();
    let until = until.to_zoned(TimeZone::UTC);
    assert_eq!((until.hour(), until.minute()), (open, 0), "{until}");
    assert!(until.timestamp() > Timestamp::now());
    // The words for people say it too.
    let out = run_ok(smb(dir.path()).args(["--config", cfg, "stats", "--sandbox"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("held by their chat's rules"), "{text}");
    assert!(text.contains("@ruled_chat/7"), "{text}");
}
