//! `check`, the environment doctor, on broken setups: one test per kind of problem, each
//! expecting a ✗ line that names the problem and its fix, and exit 1. Offline except for
//! loopback servers the tests start (`--online`).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use console_support::Project;

/// `check` in the project with extra environment; returns (exit code, output).
fn check(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = p.cmd(&[&["check"][..], args].concat());
    // Free space is the machine's, not the test's: only the disk-space test asks for it.
    c.env("SMB_CHECK_MIN_FREE_MB", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("check");
    (out.status.code().unwrap_or(-1), console_support::text(&out))
}

fn bad_line<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with('✗') && l.contains(needle))
        .unwrap_or_else(|| panic!("no ✗ line with {needle:?}:\n{out}"))
}

#[test]
fn a_healthy_sandbox_setup_passes_with_a_line_per_item() {
    let p = Project::new();
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 0, "{out}");
    for item in [
        ".env: readable",
        "broadcaster b2b",
        "database",
        "disk space",
        "clock",
        "time zone: Europe/Moscow",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with('✓') && l.contains(item)),
            "no ✓ {item}:\n{out}"
        );
    }
    // Not logged in yet: said, with the fix, but only `run` without --sandbox needs it.
    assert!(
        out.contains("! account acc1: no session yet") && out.contains("accounts login acc1"),
        "{out}"
    );
}

#[test]
fn a_broken_env_file() {
    let p = Project::new();
    std::fs::write(
        p.file(".env"),
        "DELAY_BETWEEN_CHATS=15\nthis line has no equals sign\n",
    )
    .expect(".env");
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(bad_line(&out, ".env").contains("NAME=value"), "{out}");
}

#[test]
fn a_broken_configuration_and_the_other_checks_still_run() {
    let p = Project::new();
    std::fs::write(p.file(".env"), "DELAY_BETWEEN_CHATS=abc\n").expect(".env");
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "DELAY_BETWEEN_CHATS=abc").contains("write seconds"),
        "{out}"
    );
    assert!(
        out.contains("✓ disk space") && out.contains("✓ clock"),
        "the rest is still checked:\n{out}"
    );
}

#[test]
fn an_unreadable_session_file() {
    let p = Project::new();
    std::fs::create_dir_all(p.file("sessions")).expect("sessions/");
    std::fs::write(p.file("sessions/acc1.session"), b"not a session at all").expect("session");
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 1, "{out}");
    let line = bad_line(&out, "account acc1");
    assert!(
        line.contains("cannot be read") && line.contains("accounts login acc1 --force"),
        "{line}"
    );
    // The sandbox needs no session: `check --sandbox` does not look at them.
    assert_eq!(check(&p, &["--sandbox"], &[]).0, 0);
}

#[test]
fn a_message_source_that_is_missing() {
    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).expect("config");
    std::fs::write(
        p.file("sendmessagebot.toml"),
        toml.replacen(
            "[messages.b2b]\n",
            "[messages.b2b]\nsource = \"missing-b2b.txt\"\n",
            1,
        ),
    )
    .expect("config");
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 1, "{out}");
    let line = bad_line(&out, "message set b2b");
    assert!(
        line.contains("missing-b2b.txt") && line.contains("sheets test"),
        "{line}"
    );
}

#[test]
fn a_database_that_is_not_sqlite() {
    let p = Project::new();
    std::fs::create_dir_all(p.file("data")).expect("data/");
    std::fs::write(
        p.file("data/sendmessagebot.db"),
        "these are notes, not a database",
    )
    .expect("db");
    let (code, out) = check(&p, &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "database data/sendmessagebot.db").contains("not a SQLite database"),
        "{out}"
    );
}

#[test]
fn a_database_directory_that_cannot_be_created() {
    let p = Project::new();
    std::fs::write(p.file("blocker"), "a file where a directory should be").expect("file");
    let (code, out) = check(
        &p,
        &[],
        &[("DATABASE_URL", "sqlite://blocker/db/sendmessagebot.db")],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "database").contains("blocker is a file"),
        "{out}"
    );
}

#[test]
fn too_little_disk_space() {
    let p = Project::new();
    // No test can fill a disk: ask for more free space than any disk has.
    let (code, out) = check(&p, &[], &[("SMB_CHECK_MIN_FREE_MB", "1000000000000")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "disk space").contains("free some space"),
        "{out}"
    );
}

#[test]
fn a_clock_behind_the_journal() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    // The clock "went back" a day: the journal's sends are in the future.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use sqlx::Connection as _;
        let url = format!(
            "sqlite://{}",
            p.file("data/sandbox/sendmessagebot.db").display()
        );
        let mut c = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open the journal");
        sqlx::query("UPDATE deliveries SET updated_at = updated_at + 86400000")
            .execute(&mut c)
            .await
            .expect("shift");
    });
    let (code, out) = check(&p, &["--sandbox"], &[]);
    assert_eq!(code, 1, "{out}");
    let line = bad_line(&out, "clock");
    assert!(
        line.contains("the clock went back") && line.contains("NTP"),
        "{line}"
    );
}

#[test]
fn an_unknown_time_zone() {
    let p = Project::new();
    let (code, out) = check(&p, &[], &[("REPORTS_TIMEZONE", "Mars/Olympus_Mons")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "REPORTS_TIMEZONE").contains("Europe/Moscow"),
        "{out}"
    );
}

#[test]
fn reports_switched_on_without_a_token_and_a_malformed_token() {
    let p = Project::new();
    let (code, out) = check(
        &p,
        &[],
        &[
            ("ENABLE_REPORTS", "true"),
            ("REPORTS_CHANNEL_ID", "-1001234567890"),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "REPORTS_BOT_TOKEN").contains("@BotFather"),
        "{out}"
    );
    let (code, out) = check(&p, &[], &[("REPORTS_BOT_TOKEN", "not-a-token")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "REPORTS_BOT_TOKEN does not look like a bot token").contains("@BotFather"),
        "{out}"
    );
}

/// A Bot API double that refuses every token, on loopback.
async fn refusing_bot_api() -> String {
    use axum::Json;
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/{*rest}",
        post(|| async { (axum::http::StatusCode::UNAUTHORIZED, Json(serde_json::json!({"ok": false, "error_code": 401, "description": "Unauthorized"}))) })
            .head(|| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[test]
fn online_a_revoked_bot_token_and_an_unreachable_webhook() {
    let p = Project::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = rt.block_on(refusing_bot_api());
    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
    let webhook = format!("http://{closed}/hook");
    let env = [
        ("REPORTS_BOT_TOKEN", token),
        ("TELEGRAM_BOT_API_URL", api.as_str()),
        ("ENABLE_WEBHOOK_NOTIFICATIONS", "true"),
        ("WEBHOOK_URL", webhook.as_str()),
    ];
    // The runtime's worker threads serve the double while this thread waits for `check`.
    let (code, out) = check(&p, &["--online", "--sandbox"], &env);
    assert_eq!(code, 1, "{out}");
    assert!(
        bad_line(&out, "REPORTS_BOT_TOKEN: Telegram refuses it").contains("@BotFather"),
        "{out}"
    );
    assert!(bad_line(&out, "webhook").contains("not reachable"), "{out}");
    assert!(!out.contains(token), "the token is never printed:\n{out}");
}
