//! "Never send blind" under faults, through the real binary: the sandbox daemon's database on
//! a size-limited file system that fills up mid-run, the database deleted mid-run, a damaged
//! database file, and `db backup` / `db restore`. After each, the sandbox ledger is checked
//! against the journal: no message reached "Telegram" without its journal row, no chat got
//! two messages in one cycle.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

#[path = "../../../store/tests/support/smallfs.rs"]
mod smallfs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ACCOUNTS: usize = 2;

/// Two accounts, three broadcasters on one list of `targets` chats; long texts so that the
/// journal grows fast.
fn config(db: &Path, ledger: &Path, targets: usize) -> String {
    let list: Vec<String> = (0..targets)
        .map(|i| format!("\"-100{:010}\"", i + 1))
        .collect();
    let long = "x".repeat(1500);
    format!(
        r#"
[settings]
delay_between_chats = "2ms"
cycle_delay = "10ms"
enable_scheduling = false
enable_quiet_hours = false

[sandbox]
latency_ms = 1
seed = 7
database_url = "sqlite://{db}"
ledger = "{ledger}"

[accounts.acc1]
[accounts.acc2]

[targets]
prod = [{list}]

[messages.b2b]
texts = ["b2b first {long}", "b2b second {long}"]
[messages.aaa]
texts = ["aaa only {long}"]
[messages.b2c]
texts = ["b2c first {long}", "b2c second {long}"]

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
"#,
        db = db.display(),
        ledger = ledger.display(),
        list = list.join(", ")
    )
}

fn targets(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("-100{:010}", i + 1)).collect()
}

struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    ledger: PathBuf,
}

impl Setup {
    fn new(db_dir: &Path, targets: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = db_dir.join("sendmessagebot.db");
        let ledger = dir.path().join("ledger.jsonl");
        std::fs::write(
            dir.path().join("sendmessagebot.toml"),
            config(&db, &ledger, targets),
        )
        .unwrap();
        Setup { dir, db, ledger }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::command(self.dir.path(), args);
        c.env("LOG_LEVEL", "warn");
        c
    }

    /// `run --sandbox` in the background; its output goes to `daemon.err` (on the big disk).
    fn spawn(&self) -> Child {
        let err = std::fs::File::create(self.dir.path().join("daemon.err")).unwrap();
        self.cmd(&["run", "--sandbox", "--no-web", "--no-metrics"])
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start the daemon")
    }

    fn daemon_output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.err")).unwrap_or_default()
    }

    fn ledger_len(&self) -> usize {
        smb_telegram::sim::read_ledger(&self.ledger).map_or(0, |l| l.len())
    }

    fn status(&self) -> Option<Value> {
        let out = self.cmd(&["status", "--sandbox", "--json"]).output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls until `what` holds; panics after `limit` with `why` and the daemon's output.
    fn wait_for(&self, why: &str, limit: Duration, mut what: impl FnMut(&Setup) -> bool) {
        let started = Instant::now();
        while !what(self) {
            assert!(
                started.elapsed() < limit,
                "{why}: not seen within {limit:?}\n{}",
                self.daemon_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn journal(&self) -> Option<Value> {
        self.status().map(|v| v["journal"].clone())
    }

    fn stop(&self, mut daemon: Child) -> std::process::ExitStatus {
        let out = self.cmd(&["stop", "--sandbox"]).output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        daemon.wait().unwrap()
    }

    /// The ledger against the journal at `db`; returns (ledger entries, completed cycles).
    fn check(&self, db: &Path, n: usize) -> (usize, usize) {
        let ledger = smb_telegram::sim::read_ledger(&self.ledger).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (deliveries, cycles) = common::read_journal(&rt, db);
        let all = targets(n);
        let completed = common::check_ledger_against_journal(
            &ledger,
            &deliveries,
            &cycles,
            |_| &all,
            common::Words {
                entry: "a message reached the sandbox Telegram",
                sent: "sent",
                messages: "messages",
            },
        );
        (ledger.len(), completed)
    }
}

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_full_disk_stops_every_send_and_sending_resumes_once_space_is_freed() {
    // 8 MiB: room for SQLite's WAL (checkpointed at 4 MiB) once the filler is gone.
    let fs = smallfs::SmallFs::mount(8 * 1024);
    let n = 400;
    let s = Setup::new(fs.path(), n);
    let daemon = s.spawn();
    s.wait_for("first sends", LIMIT, |s| s.ledger_len() >= 60);

    fs.fill("filler");
    s.wait_for("the journal reported down", LIMIT, |s| {
        s.journal().is_some_and(|j| j["up"] == false)
    });
    let status = s.status().unwrap();
    let reason = status["journal"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("full"), "the cause is named: {status}");
    let at_stop = s.ledger_len();
    // Two failed probes later (1 s + 2 s of backoff) nothing more was sent than the sends
    // already in flight when the journal failed (one per account).
    s.wait_for("two probes", LIMIT, |s| {
        s.journal().is_some_and(|j| j["probes"].as_u64() >= Some(2))
    });
    let later = s.ledger_len();
    assert!(
        later <= at_stop + ACCOUNTS,
        "sending stopped for every account: {at_stop} messages when the journal went down, {later} two probes later"
    );
    assert!(
        s.daemon_output().contains("does not take writes"),
        "the log says why:\n{}",
        s.daemon_output()
    );

    fs.free("filler");
    s.wait_for("the journal back up", LIMIT, |s| {
        s.journal().is_some_and(|j| j["up"] == true)
    });
    s.wait_for("sending resumed", LIMIT, |s| s.ledger_len() >= later + 40);
    let exit = s.stop(daemon);
    assert!(exit.success(), "{exit:?}\n{}", s.daemon_output());

    let (sent, completed) = s.check(&s.db, n);
    eprintln!(
        "disk full: {at_stop} sent before, {later} while down, {sent} in all, {completed} completed cycles, 0 unjournalled, 0 duplicates"
    );
}

#[test]
fn a_database_deleted_mid_run_stops_every_send() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let s = Setup::new(dir.path(), n);
    let daemon = s.spawn();
    s.wait_for("first sends", LIMIT, |s| s.ledger_len() >= 40);

    // Hard links keep the deleted journal readable for the check below, as `rm` leaves it.
    let keep = dir.path().join("kept.db");
    std::fs::hard_link(&s.db, &keep).unwrap();
    let wal = PathBuf::from(format!("{}-wal", s.db.display()));
    std::fs::hard_link(&wal, dir.path().join("kept.db-wal")).unwrap();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", s.db.display()));
    }

    s.wait_for("the journal reported down", LIMIT, |s| {
        s.journal().is_some_and(|j| j["up"] == false)
    });
    let status = s.status().unwrap();
    assert!(
        status["journal"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("deleted")),
        "{status}"
    );
    let at_stop = s.ledger_len();
    s.wait_for("two probes", LIMIT, |s| {
        s.journal().is_some_and(|j| j["probes"].as_u64() >= Some(2))
    });
    let later = s.ledger_len();
    assert!(
        later <= at_stop + ACCOUNTS,
        "sending stopped: {at_stop} then {later}"
    );

    // `stats` says the database is missing instead of creating an empty one.
    let out = s.cmd(&["stats", "--sandbox"]).output().unwrap();
    assert!(!out.status.success(), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("no database at"),
        "{}",
        common::text(&out)
    );
    assert!(!s.db.exists(), "stats created no database");

    let exit = s.stop(daemon);
    assert!(!exit.success(), "the daemon reports the journal it lost");
    assert!(
        s.daemon_output()
            .contains("stopped while the journal did not take writes"),
        "{}",
        s.daemon_output()
    );
    let (sent, _) = s.check(&keep, n);
    assert_eq!(sent, later, "nothing was sent after the check above");
}

/// Moves everything into the main file (no WAL left to mask the damage), then overwrites its
/// last page with pseudo-random bytes.
fn damage(db: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let mut bytes = std::fs::read(db).unwrap();
    let start = bytes.len().saturating_sub(4096);
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut bytes[start..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn a_damaged_database_is_found_by_check_and_run_and_a_backup_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let s = Setup::new(&dir.path().join("data"), n);
    let once = |s: &Setup| {
        common::run_with(
            s.cmd(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]),
            None,
            LIMIT,
        )
        .unwrap_or_else(|out| panic!("run --once did not exit:\n{}", common::text(&out)))
    };
    let out = once(&s);
    assert!(out.status.success(), "{}", common::text(&out));
    let out = s
        .cmd(&["check", "--sandbox"])
        .env("SMB_CHECK_MIN_FREE_MB", "1")
        .output()
        .unwrap();
    assert!(
        common::text(&out).contains("integrity check passed"),
        "{}",
        common::text(&out)
    );

    let backup = dir.path().join("backup.db");
    let out = s
        .cmd(&["db", "backup", backup.to_str().unwrap(), "--sandbox"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let before = s.check(&backup, n);

    damage(&s.db);
    let out = s
        .cmd(&["check", "--sandbox"])
        .env("SMB_CHECK_MIN_FREE_MB", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let text = common::text(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with('✗') && l.contains("database"))
        .unwrap_or_else(|| panic!("no ✗ database line:\n{text}"));
    assert!(
        line.contains("damaged") && line.contains("sendmessagebot db restore"),
        "{line}"
    );

    let out = once(&s);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let text = common::text(&out);
    assert!(
        text.contains("damaged") && text.contains("db restore"),
        "run says why and the fix:\n{text}"
    );
    assert_eq!(s.ledger_len(), before.0, "nothing was sent");

    // Restore is refused while a daemon holds the data directory (its lock, held here).
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join("data/sendmessagebot.lock"))
        .unwrap();
    holder.try_lock().unwrap();
    let out = s
        .cmd(&["db", "restore", backup.to_str().unwrap(), "--sandbox"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("stop the daemon first"),
        "{}",
        common::text(&out)
    );
    drop(holder);

    let out = s
        .cmd(&["db", "restore", backup.to_str().unwrap(), "--sandbox"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("before-restore-"),
        "the damaged file is kept aside:\n{}",
        common::text(&out)
    );
    let out = s.cmd(&["db", "check", "--sandbox"]).output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out));

    // The restored journal runs on: the next cycle goes out, no chat twice in one cycle.
    let out = once(&s);
    assert!(out.status.success(), "{}", common::text(&out));
    let (sent, completed) = s.check(&s.db, n);
    assert!(sent > before.0, "a cycle more after the restore");
    assert!(completed > before.1);
}
