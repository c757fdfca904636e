//! Daemon control of the real binary against the sandbox: `run --detach`, `status`, `reload`
//! (state kept), `restart`, `stop`; a second start refused; a stale lock (after kill -9)
//! taken over.

mod console_support;

use std::time::Duration;

use console_support::{DaemonGuard, Project, wait_until};
use serde_json::Value;

fn status_json(p: &Project) -> Option<Value> {
    let out = p
        .cmd(&["status", "--sandbox", "--json"])
        .output()
        .expect("status");
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("status JSON"))
}

fn start(p: &Project) -> String {
    let (code, out) = p.run(&["run", "--sandbox", "--detach"]);
    assert_eq!(code, 0, "{out}");
    let pid = out
        .split("pid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the pid is printed")
        .to_owned();
    assert_eq!(p.lock_pid(), pid, "the lock file names the daemon");
    pid
}

fn sent(p: &Project) -> usize {
    std::fs::read_to_string(p.file("data/sandbox/ledger.jsonl"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn status_reload_restart_and_stop_a_running_daemon() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let (code, out) = p.run(&["status", "--sandbox"]);
    assert_eq!(code, 3, "nothing runs yet: {out}");
    assert!(out.contains("not running"), "{out}");

    let pid = start(&p);
    let v = status_json(&p).expect("running");
    assert_eq!(v["pid"].to_string(), pid);
    assert_eq!(v["sandbox"], true);
    assert_eq!(v["broadcasters"].as_array().map(Vec::len), Some(4), "{v}");
    let mode = std::fs::metadata(p.file("data/sandbox/sendmessagebot.sock"))
        .expect("socket")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let (code, out) = p.run(&["status", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("running: pid {pid}")) && out.contains("b2b"),
        "{out}"
    );

    // Let it send, then reload a changed configuration: same process, journal state kept.
    assert!(
        wait_until(Duration::from_secs(30), || sent(&p) >= 4),
        "the daemon sends"
    );
    let cycles_before: u64 = status_json(&p).expect("running")["broadcasters"]
        .as_array()
        .expect("broadcasters")
        .iter()
        .map(|b| b["cycle"].as_u64().unwrap_or(0))
        .sum();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).expect("config");
    let changed = toml.replacen(
        "\"@price_chat_two\",",
        "\"@price_chat_two\", \"@added_on_reload\",",
        1,
    );
    assert_ne!(toml, changed, "the example has @price_chat_two in a list");
    std::fs::write(p.file("sendmessagebot.toml"), &changed).expect("write config");
    let (code, out) = p.run(&["reload", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reloaded: 4 broadcasters"), "{out}");
    let v = status_json(&p).expect("still running");
    assert_eq!(v["pid"].to_string(), pid, "reload keeps the process");
    assert_eq!(v["reloads"], 1);
    let after: Vec<&Value> = v["broadcasters"]
        .as_array()
        .expect("broadcasters")
        .iter()
        .collect();
    assert!(
        after.iter().any(|b| b["total"] == 6),
        "the new target is in a list: {v}"
    );
    let cycles_after: u64 = after.iter().map(|b| b["cycle"].as_u64().unwrap_or(0)).sum();
    assert!(
        cycles_after >= cycles_before,
        "cycles resume from the journal ({cycles_before} → {cycles_after})"
    );

    // A configuration with an error is refused; the daemon goes on with the old one.
    std::fs::write(
        p.file("sendmessagebot.toml"),
        changed.replace(
            "[targets]",
            "[targets]\nbroken = [\"https://t.me/+invite\"]",
        ),
    )
    .expect("write config");
    let (code, out) = p.run(&["reload", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("reload refused") && out.contains("targets.broken"),
        "{out}"
    );
    assert_eq!(
        status_json(&p).expect("still running")["pid"].to_string(),
        pid
    );
    std::fs::write(p.file("sendmessagebot.toml"), &changed).expect("write config");

    // restart: a new process with the same arguments.
    let (code, out) = p.run(&["restart", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("stopped (pid {pid})")), "{out}");
    let v = status_json(&p).expect("restarted");
    let new_pid = v["pid"].to_string();
    assert_ne!(new_pid, pid);
    assert_eq!(v["sandbox"], true);

    // stop waits until the process is gone and the lock is free.
    let (code, out) = p.run(&["stop", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("stopped (pid {new_pid})")), "{out}");
    assert_eq!(p.lock_pid(), "", "a clean exit empties the lock file");
    assert!(
        !p.file("data/sandbox/sendmessagebot.sock").exists(),
        "the socket is removed"
    );
    let (code, _) = p.run(&["status", "--sandbox"]);
    assert_eq!(code, 3);
    let (code, out) = p.run(&["stop", "--sandbox"]);
    assert_eq!((code, out.contains("not running")), (0, true), "{out}");
}

#[test]
fn a_second_start_is_refused_naming_the_pid() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let pid = start(&p);
    for args in [
        &["run", "--sandbox"][..],
        &["run", "--sandbox", "--detach"],
        &["run", "--sandbox", "--once"],
    ] {
        let (code, out) = p.run(args);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(
            out.contains(&format!(
                "another sendmessagebot daemon (pid {pid}) already runs"
            )),
            "{args:?}: {out}"
        );
    }
    // The real data directory is another one: its lock is free.
    let (code, out) = p.run(&["status"]);
    assert_eq!(code, 3, "{out}");
    // Test sends use the accounts too: refused while the daemon runs.
    let (code, out) = p.run(&["broadcasters", "test", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("a daemon (pid {pid}) is running")),
        "{out}"
    );
}

#[test]
fn a_stale_lock_after_kill_9_is_taken_over() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let pid = start(&p);
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        wait_until(Duration::from_secs(10), || p
            .run(&["status", "--sandbox"])
            .0
            == 3),
        "a dead daemon's lock is not held"
    );
    assert_eq!(p.lock_pid(), pid, "the lock file still names the dead pid");
    assert!(
        p.file("data/sandbox/sendmessagebot.sock").exists(),
        "its socket file is left behind"
    );
    let new_pid = start(&p);
    assert_ne!(new_pid, pid);
    let log = std::fs::read_to_string(p.file("data/sandbox/daemon.log")).expect("daemon.log");
    assert!(
        log.contains(&format!("took over the lock of pid {pid}")),
        "{log}"
    );
    assert_eq!(
        status_json(&p).expect("running")["pid"].to_string(),
        new_pid
    );
}
