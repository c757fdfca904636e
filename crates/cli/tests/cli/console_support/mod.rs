//! Shared by the console_* tests: a project directory with the built-in example (sandbox,
//! no delays, no fixed ports), the binary, and a guard that stops a background daemon.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");

/// A temporary project: `sendmessagebot init` output plus a `.env` for fast sandbox runs.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Project { dir };
        let out = p.cmd(&["init"]).output().expect("init");
        assert!(out.status.success(), "init: {}", text(&out));
        std::fs::write(
            p.path().join(".env"),
            "DELAY_BETWEEN_CHATS=0.2\nCYCLE_DELAY=1\nENABLE_QUIET_HOURS=false\nENABLE_SCHEDULING=false\n",
        )
        .expect("write .env");
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary in this directory with an environment that cannot reach the outside or
    /// clash with another test (ephemeral ports, quiet logs).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env_remove("SMB_CONFIG")
            .env_remove("SMB_SANDBOX")
            .env("LOG_LEVEL", "warn")
            .env("LOG_FILE", "")
            .env("METRICS_BIND", "127.0.0.1:0")
            .env("WEB_BIND", "127.0.0.1:0")
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES");
        c
    }

    pub fn run(&self, args: &[&str]) -> (i32, String) {
        let out = self.cmd(args).output().expect("run the binary");
        (out.status.code().unwrap_or(-1), text(&out))
    }

    /// The pid in the sandbox daemon's lock file (empty when none runs).
    pub fn lock_pid(&self) -> String {
        std::fs::read_to_string(self.file("data/sandbox/sendmessagebot.lock"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `f` until it is true, at most `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Stops the sandbox daemon of a project when the test ends, however it ends.
pub struct DaemonGuard<'a>(pub &'a Project);

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["stop", "--sandbox"]).output();
        // Still there (the stop failed): end exactly the pid this test started.
        let still = self.0.run(&["status", "--sandbox"]).0 != 3;
        let pid = self.0.lock_pid();
        if still && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
            let _ = Command::new("kill").args(["-9", &pid]).output();
        }
    }
}
