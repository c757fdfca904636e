//! Regressions of the first fresh-user QA pass: each test is named after
//! its finding (`f17_…` is finding 17) and drives the real binary in sandbox mode.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

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

/// The detached sandbox daemon's output (stderr and the console log).
fn daemon_log(p: &Project) -> String {
    std::fs::read_to_string(p.file("data/sandbox/daemon.log")).unwrap_or_default()
}

fn start_detached(p: &Project) {
    let (code, out) = p.run(&["run", "--sandbox", "--detach"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn f1_hints_of_sandbox_commands_name_sandbox() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    start_detached(&p);
    for args in [
        &["run", "--sandbox", "--once"][..],
        &["run", "--sandbox", "--detach"],
    ] {
        let (code, out) = p.run(args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("`sendmessagebot status --sandbox` shows it")
                && out.contains("`sendmessagebot stop --sandbox` stops it"),
            "{args:?}: {out}"
        );
    }
    // `stop` of the real daemon while only the sandbox's runs: exit 3, and says which runs.
    let (code, out) = p.run(&["stop"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("not running") && out.contains("`sendmessagebot stop --sandbox` stops it"),
        "{out}"
    );
}

#[test]
fn f1_db_restore_refuses_a_backup_of_the_other_mode() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let backup = p.file("sandbox-copy.db");
    let (code, out) = p.run(&["db", "backup", "sandbox-copy.db", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(backup.exists());

    // The hinted command without --sandbox would put rehearsal sends into the real journal.
    let (code, out) = p.run(&["db", "restore", "sandbox-copy.db"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is a backup of the sandbox's journal")
            && out.contains("is the real journal")
            && out.contains("nothing was changed")
            && out.contains("--force"),
        "{out}"
    );
    assert!(
        !p.file("data/sendmessagebot.db").exists(),
        "nothing restored"
    );

    // Into its own journal: accepted; the replaced file is kept with a readable date.
    let (code, out) = p.run(&["db", "restore", "sandbox-copy.db", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    let aside = std::fs::read_dir(p.file("data/sandbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            n.starts_with("sendmessagebot.db.before-restore-")
                && !n.ends_with("-wal")
                && !n.ends_with("-shm")
        })
        .expect("the old file is kept aside");
    let stamp = aside.trim_start_matches("sendmessagebot.db.before-restore-");
    assert_eq!(stamp.len(), 15, "{aside}: YYYYMMDD-HHMMSS");
    assert_eq!(stamp.as_bytes()[8], b'-', "{aside}");
    assert!(stamp.starts_with("20"), "{aside}");

    // --force restores across modes when that is really meant.
    let (code, out) = p.run(&["db", "restore", "sandbox-copy.db", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(p.file("data/sendmessagebot.db").exists());
}

/// `.env` lines that make every broadcaster wait: quiet hours from the current UTC hour for
/// two hours (so the test cannot run out of them), in UTC. The second value is the end as
/// printed: `HH:00 UTC`, after the date when the end falls on the next day (from 22:00 UTC on).
fn quiet_now_env() -> (String, String) {
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    let end = (hour + 2) % 24;
    (
        format!(
            "DELAY_BETWEEN_CHATS=0.2\nCYCLE_DELAY=1\nENABLE_SCHEDULING=false\nENABLE_QUIET_HOURS=true\n\
             QUIET_HOUR_START={hour}\nQUIET_HOUR_END={end}\nREPORTS_TIMEZONE=UTC\n"
        ),
        format!("{end:02}:00 UTC"),
    )
}

#[test]
fn f2_quiet_hours_are_said_by_run_status_and_stats() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let (env, until) = quiet_now_env();
    std::fs::write(p.file(".env"), env).unwrap();
    start_detached(&p);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = daemon_log(&p);
            log.contains("quiet hours until ")
                && log.contains(&format!(
                    "{until}; waiting (use --ignore-quiet-hours to test now)"
                ))
        }),
        "run says why it waits: {}",
        daemon_log(&p)
    );
    let (code, out) = p.run(&["status", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("waiting"), "{out}");
    assert!(out.contains(&until), "{out}");
    assert!(!out.contains("5/5"), "no cycle has run: {out}");
    let (code, out) = p.run(&["stats", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("waiting — ") && out.contains(&until), "{out}");
    assert!(out.contains("times in UTC"), "{out}");
    // The sandbox may open its ledger at start; nothing may be in it.
    let ledger = std::fs::read_to_string(p.file("data/sandbox/ledger.jsonl")).unwrap_or_default();
    assert!(ledger.trim().is_empty(), "nothing was sent: {ledger}");
}

#[test]
fn f8_no_colour_codes_when_stderr_is_not_a_terminal() {
    let p = Project::new();
    let out = p
        .cmd(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"])
        .env("LOG_LEVEL", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INFO"), "the log is on stderr: {err}");
    assert!(!err.contains('\u{1b}'), "no ANSI escapes in a pipe: {err}");
}

#[test]
fn qa2_a_database_password_is_not_printed_by_db_status_or_stop() {
    let p = Project::new();
    std::fs::write(
        p.file(".env"),
        "DATABASE_URL=postgres://shop:S3cretPa55@127.0.0.1:5999/smb?password=Other55\n",
    )
    .unwrap();
    for args in [&["db", "check"][..], &["status"], &["stop"]] {
        let (_, out) = p.run(args);
        assert!(
            !out.contains("S3cretPa55") && !out.contains("Other55"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn f6_secrets_are_not_echoed_in_errors() {
    let p = Project::new();
    std::fs::write(
        p.file(".env"),
        "DATABASE_URL=postgres://u:SECRETPW@localhost/db\n",
    )
    .unwrap();
    let (code, out) = p.run(&["check"]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("SECRETPW"), "{out}");
    assert!(out.contains("postgres://u:***@localhost/db"), "{out}");

    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let toml = toml.replace(
        "test = [\"@my_test_group\"]",
        "test = [\"https://t.me/proxy?server=1.2.3.4&port=443&secret=SECRETVAL\"]",
    );
    std::fs::write(p.file("sendmessagebot.toml"), toml).unwrap();
    let (code, out) = p.run(&["check", "--sandbox"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("MTProto proxy"), "{out}");
    assert!(!out.contains("SECRETVAL"), "{out}");
    assert!(out.contains("secret=***"), "{out}");
}

#[test]
fn f7_lang_in_env_file_reaches_the_dashboard() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let env = std::fs::read_to_string(p.file(".env")).unwrap();
    std::fs::write(p.file(".env"), format!("{env}LANG=ru_RU.UTF-8\n")).unwrap();
    // The test's environment has LANG=C.UTF-8, like a system locale.
    start_detached(&p);
    let port = || {
        daemon_log(&p)
            .lines()
            .rev()
            .find_map(|l| l.split("web on http://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse::<u16>().ok())
    };
    assert!(
        wait_until(Duration::from_secs(30), || port().is_some()),
        "the dashboard's address is printed: {}",
        daemon_log(&p)
    );
    let page = http_get(port().unwrap(), "/").expect("the dashboard answers");
    assert!(page.contains("Обзор"), "{page}");
}

/// One GET over a fresh connection: the whole answer.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
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

#[test]
fn f9_without_a_configuration_file_sandbox_commands_use_the_built_in_example() {
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    let (code, out) = p.run(&["check", "--sandbox"]);
    assert!(
        out.contains("checking the built-in example configuration, which `run --sandbox` uses"),
        "{out}"
    );
    assert!(!out.contains("cannot read"), "{out}");
    assert!(out.contains("✓ (built-in example): "), "{out}");
    assert_eq!(code, 0, "{out}");
    let (code, out) = p.run(&["broadcasters", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("b2b"), "{out}");
    // The real mode needs the file; the OS error is said once.
    let (code, out) = p.run(&["broadcasters", "list"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.matches("No such file or directory").count(), 1, "{out}");
}

#[test]
fn f15_a_tiny_gap_between_chats_is_flagged_for_real_accounts() {
    let p = Project::new();
    std::fs::write(p.file(".env"), "DELAY_BETWEEN_CHATS=0\n").unwrap();
    let (_, out) = p.run(&["check"]);
    assert!(
        out.contains("! broadcaster b2b: 0s between chats")
            && out.contains("risks Telegram's flood limits"),
        "{out}"
    );
    // The sandbox has no bans to risk.
    let (_, out) = p.run(&["check", "--sandbox"]);
    assert!(!out.contains("risks Telegram's flood limits"), "{out}");
}

#[test]
fn f14_topics_of_one_forum_in_one_list_get_a_note() {
    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let toml = toml.replace(
        "test = [\"@my_test_group\"]",
        "test = [\"t.me/shop_name/5\", \"t.me/shop_name/6\", \"@shop_name\"]",
    );
    std::fs::write(p.file("sendmessagebot.toml"), toml).unwrap();
    let (code, out) = p.run(&["check", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "! target list test: @shop_name/5, @shop_name/6, @shop_name are 3 targets in one chat"
        ) && out.contains("3 posts per cycle"),
        "{out}"
    );
}

#[test]
fn f3_check_reports_every_setting_error_and_placeholders_in_one_run() {
    let p = Project::new();
    std::fs::write(
        p.file(".env"),
        "API_ID=\"your_api_id\"\nAPI_HASH=your_api_hash\nPHONE=your_phone_number\n\
         WEB_BIND=notanaddr\nMETRICS_BIND=bad\nLOG_LEVEL=verbose\n",
    )
    .unwrap();
    let out = p
        .cmd(&["check"])
        .env_remove("LOG_LEVEL")
        .env_remove("WEB_BIND")
        .env_remove("METRICS_BIND")
        .output()
        .unwrap();
    let out = console_support::text(&out);
    for name in [
        "API_ID",
        "API_HASH is not 32 hexadecimal characters",
        "PHONE is not an international number",
        "WEB_BIND",
        "METRICS_BIND",
        "LOG_LEVEL",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with('✗') && l.contains(name)),
            "{name}: {out}"
        );
    }
    assert!(
        !out.contains("your_api_hash") && !out.contains("your_phone_number"),
        "{out}"
    );
}

#[test]
fn f13_sandbox_fault_errors_name_the_line() {
    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let with = |error: &str| {
        format!(
            "{toml}\n[[sandbox.faults]]\nchat = \"@price_chat_two\"\nerror = \"{error}\"\ntimes = 3\n"
        )
    };
    // An unknown name is refused (issue 19), at its line like a malformed one.
    let text = with("SOME_NEW_ERROR_X");
    let line = text
        .lines()
        .position(|l| l.starts_with("error = \"SOME_NEW_ERROR_X\""))
        .unwrap()
        + 1;
    std::fs::write(p.file("sendmessagebot.toml"), text).unwrap();
    let (code, out) = p.run(&["check", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("sendmessagebot.toml:{line}"))
            && out.contains("is not a Telegram error the sandbox knows"),
        "{out}"
    );
    let text = with("flood wait");
    let line = text
        .lines()
        .position(|l| l.starts_with("error = \"flood wait\""))
        .unwrap()
        + 1;
    std::fs::write(p.file("sendmessagebot.toml"), text).unwrap();
    let (code, out) = p.run(&["check", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("sendmessagebot.toml:{line}"))
            && out.contains("sandbox.faults[1].error"),
        "{out}"
    );
}

#[test]
fn f11_a_missing_database_names_its_absolute_path_and_the_working_directory() {
    let p = Project::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = p.file("sendmessagebot.toml");
    let out = p
        .cmd(&["--config", config.to_str().unwrap(), "stats", "--sandbox"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let out = console_support::text(&out);
    let cwd = elsewhere.path().canonicalize().unwrap();
    assert!(
        out.contains(&format!(
            "{} from the working directory",
            cwd.join("data/sandbox/sendmessagebot.db").display()
        )) || out.contains(&format!(
            "{} from the working directory",
            elsewhere
                .path()
                .join("data/sandbox/sendmessagebot.db")
                .display()
        )),
        "{out}"
    );
}

#[test]
fn f10_the_dry_run_names_sets_not_fetched_yet() {
    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let toml = toml.replace("messages = \"gus\"", "messages = \"m\"")
        + "\n[messages.m]\nsource = \"msgs.txt\"\n";
    std::fs::write(p.file("sendmessagebot.toml"), toml).unwrap();
    std::fs::write(p.file("msgs.txt"), "Первое сообщение\n\nВторое сообщение\n").unwrap();
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(not in this plan: message set(s) m not fetched yet; `run` fetches them at start, `sendmessagebot messages update --sandbox` now)"),
        "{out}"
    );
}
