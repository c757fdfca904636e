//! Regressions of the first fresh-user QA pass (/work/qa/qa1.md): each test is named after
//! its finding (`f17_…` is finding 17) and drives the real binary in sandbox mode.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod console_support;

use std::process::Stdio;
use std::time::Duration;

use console_support::{DaemonGuard, Project, wait_until};

const SOCKET: &str = "data/sandbox/sendmessagebot.sock";
const WAL: &str = "data/sandbox/sendmessagebot.db-wal";

/// The WAL beside the sandbox journal is gone or empty: everything was checkpointed.
fn assert_wal_checkpointed(p: &Project) {
    let len = std::fs::metadata(p.file(WAL)).map_or(0, |m| m.len());
    assert_eq!(len, 0, "the WAL is checkpointed at a clean exit");
}

#[test]
fn f17_once_leaves_no_socket_and_a_checkpointed_wal() {
    let p = Project::new();
    // A socket file left by a crash is replaced at start, and removed at the end.
    std::fs::create_dir_all(p.file("data/sandbox")).unwrap();
    std::fs::write(p.file(SOCKET), "stale").unwrap();
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    assert!(!p.file(SOCKET).exists(), "no control socket after --once");
    assert!(p.file("data/sandbox/sendmessagebot.db").exists());
    assert_wal_checkpointed(&p);
}

#[test]
fn f17_signals_leave_no_socket_and_a_checkpointed_wal() {
    for signal in ["-INT", "-TERM"] {
        let p = Project::new();
        let _guard = DaemonGuard(&p);
        let mut child = p
            .cmd(&["run", "--sandbox", "--no-web", "--no-metrics"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(30), || p.file(SOCKET).exists()
                && p.file("data/sandbox/ledger.jsonl").exists()),
            "the daemon starts and sends"
        );
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{signal}");
        assert!(!p.file(SOCKET).exists(), "{signal}: no control socket");
        assert_wal_checkpointed(&p);
    }
}

#[test]
fn f17_stop_of_a_detached_daemon_leaves_no_socket_and_a_checkpointed_wal() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let (code, out) = p.run(&["run", "--sandbox", "--detach"]);
    assert_eq!(code, 0, "{out}");
    assert!(wait_until(Duration::from_secs(30), || p
        .file("data/sandbox/ledger.jsonl")
        .exists()));
    let (code, out) = p.run(&["stop", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(!p.file(SOCKET).exists());
    assert_wal_checkpointed(&p);
}
