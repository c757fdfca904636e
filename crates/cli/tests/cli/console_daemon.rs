//! Daemon control of the real binary against the sandbox: `run --detach`, `status`, `reload`
//! (state kept), `restart`, `stop`; a second start refused; a stale lock (after kill -9)
//! taken over; reloads refused for each kind of bad setting with the daemon still serving; the
//! web server's connection limit and timeouts against idle, half-sent and slow clients.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use console_support::{BIN, DaemonGuard, Project, wait_until};
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
    start_with(p, p.cmd(&["run", "--sandbox", "--detach"]))
}

/// Starts a detached daemon with `cmd` (a `run --sandbox --detach`); its pid.
fn start_with(p: &Project, mut cmd: Command) -> String {
    let out = cmd.output().expect("run --detach");
    let (code, out) = (out.status.code().unwrap_or(-1), console_support::text(&out));
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
    std::fs::read_to_string(p.file("data/sandbox/ledger.jsonl")).map_or(0, |s| s.lines().count())
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
    // Nothing to stop exits 3, as `status` does (QA finding 1: it used to exit 0).
    let (code, out) = p.run(&["stop", "--sandbox"]);
    assert_eq!((code, out.contains("not running")), (3, true), "{out}");
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

/// The port of the last `PREFIX http://ADDR/` line the detached daemon printed.
fn printed_port(p: &Project, prefix: &str) -> Option<u16> {
    let log = std::fs::read_to_string(p.file("data/sandbox/daemon.log")).ok()?;
    log.lines()
        .rev()
        .find_map(|l| l.split(prefix).nth(1))
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.parse().ok())
}

fn daemon_log(p: &Project) -> String {
    std::fs::read_to_string(p.file("data/sandbox/daemon.log")).unwrap_or_default()
}

/// One GET over a fresh connection: the whole answer, or `None` when nothing answered.
fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn healthy(port: u16) -> bool {
    http_get(port, "/healthz")
        .is_some_and(|r| r.starts_with("HTTP/1.1 200") && r.contains(r#""status":"ok""#))
}

fn metrics_answer(port: u16) -> bool {
    http_get(port, "/metrics").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

/// A port nothing listens on (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn reload_refusals_of_each_kind_leave_the_daemon_serving() {
    let p = Project::new();
    let base = std::fs::read_to_string(p.file(".env")).expect(".env");
    // WEB_BIND and METRICS_BIND come from .env here (the environment would win over it).
    let write_env = |web: &str, metrics: &str, extra: &str| {
        std::fs::write(
            p.file(".env"),
            format!("{base}WEB_BIND={web}\nMETRICS_BIND={metrics}\n{extra}"),
        )
        .expect("write .env");
    };
    write_env("127.0.0.1:0", "127.0.0.1:0", "");
    let _guard = DaemonGuard(&p);
    let mut cmd = p.cmd(&["run", "--sandbox", "--detach"]);
    cmd.env_remove("WEB_BIND").env_remove("METRICS_BIND");
    let pid = start_with(&p, cmd);
    assert!(
        wait_until(Duration::from_secs(30), || printed_port(
            &p,
            "web on http://"
        )
        .is_some_and(healthy)),
        "the dashboard answers: {}",
        daemon_log(&p)
    );
    let web = printed_port(&p, "web on http://").expect("web port");
    let metrics = printed_port(&p, "metrics on http://").expect("metrics port");
    assert!(metrics_answer(metrics));

    // Held by the test: an address the daemon cannot bind.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let cases = [
        (
            ("127.0.0.1:0", "127.0.0.1:0", "WEB_TOKEN=short\n"),
            "WEB_TOKEN is too short".to_owned(),
        ),
        (
            ("localhost:8080", "127.0.0.1:0", ""),
            r#"WEB_BIND="localhost:8080" is not valid"#.to_owned(),
        ),
        (
            (taken.as_str(), "127.0.0.1:0", ""),
            format!("cannot serve the dashboard on {taken}"),
        ),
        (
            ("127.0.0.1:0", taken.as_str(), ""),
            format!("cannot serve /metrics on {taken}"),
        ),
        (
            ("127.0.0.1:0", "127.0.0.1:0", "WEB_HEADER_TIMEOUT=never\n"),
            r#"WEB_HEADER_TIMEOUT="never" is not valid"#.to_owned(),
        ),
        (
            ("127.0.0.1:0", "127.0.0.1:0", "WEB_MAX_CONNECTIONS=0\n"),
            r#"WEB_MAX_CONNECTIONS="0" is not valid"#.to_owned(),
        ),
    ];
    for ((web_bind, metrics_bind, extra), reason) in &cases {
        write_env(web_bind, metrics_bind, extra);
        let (code, out) = p.run(&["reload", "--sandbox"]);
        assert_eq!(code, 1, "{reason}: {out}");
        assert!(
            out.contains("reload refused: ") && out.contains(reason.as_str()),
            "{reason}: {out}"
        );
        assert!(
            out.contains("the daemon goes on with its old configuration"),
            "{out}"
        );
        // Exactly as it was: the same process, no reload counted, both servers on their
        // sockets, the control socket answering, and sending going on.
        let v = status_json(&p).expect("status answers after the refusal");
        assert_eq!(v["pid"].to_string(), pid, "{reason}");
        assert_eq!(v["reloads"], 0, "{reason}");
        assert!(healthy(web), "{reason}: /healthz on the old port");
        assert!(
            metrics_answer(metrics),
            "{reason}: /metrics on the old port"
        );
        let before = sent(&p);
        assert!(
            wait_until(Duration::from_secs(30), || sent(&p) > before),
            "{reason}: sending goes on"
        );
    }

    // A good reload after all that applies fully: new ports, the old ones closed.
    let (new_web, new_metrics) = (free_port(), free_port());
    write_env(
        &format!("127.0.0.1:{new_web}"),
        &format!("127.0.0.1:{new_metrics}"),
        "",
    );
    let (code, out) = p.run(&["reload", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reloaded: 4 broadcasters"), "{out}");
    let v = status_json(&p).expect("running");
    assert_eq!(
        (v["pid"].to_string(), v["reloads"].clone()),
        (pid, 1.into())
    );
    assert!(healthy(new_web), "/healthz on the new port");
    assert!(metrics_answer(new_metrics), "/metrics on the new port");
    assert!(
        wait_until(Duration::from_secs(10), || http_get(web, "/healthz")
            .is_none()
            && http_get(metrics, "/metrics").is_none()),
        "the old sockets are closed"
    );
    let before = sent(&p);
    assert!(
        wait_until(Duration::from_secs(30), || sent(&p) > before),
        "sending goes on after the reload"
    );
}

/// `run --sandbox --detach` under the open-files limit systemd gives by default (1024).
fn start_under_1024_files(p: &Project) -> String {
    let template = p.cmd(&["run", "--sandbox", "--detach"]);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"ulimit -n 1024 && exec "$0" "$@""#, BIN])
        .args(template.get_args())
        .current_dir(p.path());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    start_with(p, cmd)
}

#[test]
fn two_thousand_idle_connections_do_not_take_down_healthz_or_the_control_socket() {
    // The test holds 2,000 sockets itself: raise its own soft limit as far as allowed.
    let mut limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < 4096
    {
        limit.current = Some(hard.min(4096));
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).expect("setrlimit");
    }
    let p = Project::new();
    let env = std::fs::read_to_string(p.file(".env")).expect(".env");
    std::fs::write(
        p.file(".env"),
        format!("{env}WEB_HEADER_TIMEOUT=1\nWEB_BODY_TIMEOUT=1\n"),
    )
    .expect("write .env");
    let _guard = DaemonGuard(&p);
    let pid = start_under_1024_files(&p);
    assert!(
        wait_until(Duration::from_secs(30), || printed_port(
            &p,
            "web on http://"
        )
        .is_some_and(healthy)),
        "the dashboard answers: {}",
        daemon_log(&p)
    );
    let web = printed_port(&p, "web on http://").expect("web port");
    let metrics = printed_port(&p, "metrics on http://").expect("metrics port");
    let addr = SocketAddr::from(([127, 0, 0, 1], web));

    // 2,000 connections that never send a byte (the default limit is 512).
    let idle: Vec<TcpStream> = (0..2000)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    assert!(
        healthy(web),
        "/healthz answers beside 2,000 idle connections"
    );
    assert!(metrics_answer(metrics), "/metrics answers too");
    let v = status_json(&p).expect("the control socket answers");
    assert_eq!(v["pid"].to_string(), pid);
    assert!(
        idle.iter().all(|s| s.set_nonblocking(true).is_ok()),
        "non-blocking"
    );
    let open = idle
        .iter()
        .filter(|s| {
            let mut s: &TcpStream = s;
            matches!(s.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(
        open <= 512,
        "at most WEB_MAX_CONNECTIONS are held open: {open}"
    );
    let log = daemon_log(&p);
    let overload_lines = log
        .matches("connection limit (WEB_MAX_CONNECTIONS) reached")
        .count();
    assert!(
        (1..10).contains(&overload_lines),
        "the overload is logged, not once per connection ({overload_lines} lines for {} closed)",
        2000 - open
    );
    drop(idle);

    // A request head that never ends, and a body that never ends: closed (WEB_HEADER_TIMEOUT=1,
    // WEB_BODY_TIMEOUT=1 here; the bound below is only a generous test limit).
    for (what, request, logged) in [
        (
            "half-sent head",
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            "did not send a complete request head",
        ),
        (
            "half-sent body",
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=abc",
            "did not send a complete request body",
        ),
    ] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(request.as_bytes()).expect("write");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut answer = Vec::new();
        match s.read_to_end(&mut answer) {
            Ok(_) => assert!(answer.is_empty(), "{what}: no answer, only the close"),
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "{what}: closed by the server, not timed out in the test: {e}"
            ),
        }
        assert!(
            wait_until(Duration::from_secs(10), || daemon_log(&p).contains(logged)),
            "{what} is logged: {}",
            daemon_log(&p)
        );
    }
    assert!(healthy(web), "and the server still answers");
}
