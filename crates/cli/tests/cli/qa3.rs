//! Regressions of the third fresh-user QA pass: each test is named after
//! its finding (`f8_…` is finding 8) and drives the real binary where the finding was seen
//! through it.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use std::process::Command;

use console_support::{BIN, Project, text};

/// `migrate LEGACY` run in a fresh empty directory; (exit code, output, written toml).
fn migrate(messages_py: &str) -> (i32, String, String) {
    let legacy = tempfile::tempdir().unwrap();
    let l = legacy.path();
    std::fs::create_dir_all(l.join("config")).unwrap();
    std::fs::write(l.join("config/targets.py"), "TARGETS = [-1001000000001]\n").unwrap();
    std::fs::write(l.join("config/messages.py"), messages_py).unwrap();
    std::fs::write(l.join(".env"), "API_ID=12345\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["migrate", l.to_str().unwrap()])
        .current_dir(work.path())
        .env_remove("SMB_CONFIG")
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let toml = std::fs::read_to_string(work.path().join("sendmessagebot.toml")).unwrap_or_default();
    (out.status.code().unwrap_or(-1), text(&out), toml)
}

#[test]
fn f8_migrate_never_imports_a_shortened_text() {
    let (code, out, toml) = migrate(
        "x = 1\nMESSAGES_GUS = [\"GUS \" + f\"{x}\", \"whole\"]\n\
         MESSAGES_B2B = [\"Цена iPhone: \" + PRICE + \" ₽\", \"B2B \".format(1), 'ok b2b']\n",
    );
    assert_eq!(code, 0, "{out}");
    // The two complete literals are imported; none of the shortened starts is.
    assert!(toml.contains("\"whole\""), "{toml}");
    assert!(toml.contains("\"ok b2b\""), "{toml}");
    assert!(!toml.contains("\"GUS\""), "{toml}");
    assert!(!toml.contains("GUS "), "{toml}");
    assert!(!toml.contains("Цена iPhone"), "{toml}");
    assert!(!toml.contains("\"B2B\""), "{toml}");
    // Each dropped item is listed with its file and line, saying it was skipped whole.
    assert!(
        out.contains("config/messages.py:2: the item goes on with an expression"),
        "{out}"
    );
    assert!(
        out.contains("config/messages.py:3: the item goes on with an expression"),
        "{out}"
    );
    assert!(out.contains("the whole item is skipped"), "{out}");
}

/// The project's configuration with `[messages.b2b]` reading `source`.
fn with_b2b_source(p: &Project, source: &str) {
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let toml = toml.replacen(
        "[messages.b2b]\n",
        &format!("[messages.b2b]\nsource = \"{source}\"\n"),
        1,
    );
    std::fs::write(p.file("sendmessagebot.toml"), toml).unwrap();
}

#[test]
fn f20_a_saved_html_page_in_a_csv_source_is_refused() {
    let p = Project::new();
    std::fs::write(
        p.file("saved_page.csv"),
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\n<title>Вход</title>\n\
         </head><body>\n<div id=\"initialView\">Войдите в аккаунт Google</div>\n</body>\n</html>\n",
    )
    .unwrap();
    with_b2b_source(&p, "saved_page.csv");
    let (before, _) = p.run(&["messages", "list", "b2b", "--sandbox"]);
    assert_eq!(before, 0);
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("file saved_page.csv"), "{out}");
    assert!(out.contains("the file is an HTML page"), "{out}");
    assert!(out.contains("the current version is kept"), "{out}");
    assert!(!out.contains("stored"), "nothing is stored: {out}");
    let (_, list) = p.run(&["messages", "list", "b2b", "--sandbox"]);
    assert!(!list.contains("<!doctype"), "{list}");
}

/// Adds `target` to `list` as the dashboard's "add target" does (the store's `web_targets`).
pub(crate) fn add_on_dashboard(p: &Project, list: &str, target: &str) {
    use sqlx::Connection as _;
    let db = p.file("data/sandbox/sendmessagebot.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("INSERT INTO web_targets (list, target, raw, added_at) VALUES (?, ?, ?, ?)")
            .bind(list)
            .bind(target)
            .bind(format!("https://t.me/{}/", target.trim_start_matches('@')))
            .bind(1_764_500_000_000i64)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

#[test]
fn f16_targets_added_on_the_dashboard_are_listed_and_can_be_disabled() {
    let p = Project::new();
    // The first command creates the sandbox database.
    let (code, out) = p.run(&["targets", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("@new_chat_one"), "{out}");
    add_on_dashboard(&p, "prod", "@new_chat_one");

    let (code, out) = p.run(&["targets", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("@new_chat_one"))
        .unwrap_or_else(|| panic!("the added target is listed: {out}"));
    assert!(line.starts_with("prod"), "{line}");
    assert!(line.contains("(added on the dashboard)"), "{line}");
    assert!(line.contains("active"), "{line}");
    // A configured target is not marked.
    let configured = out.lines().find(|l| l.contains("@price_chat_one")).unwrap();
    assert!(!configured.contains("dashboard"), "{configured}");
    let (_, json) = p.run(&["targets", "list", "--json", "--sandbox"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "@new_chat_one")
        .unwrap();
    assert_eq!(row["added"], true);
    assert_eq!(row["list"], "prod");

    let (code, out) = p.run(&["targets", "disable", "@new_chat_one", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("@new_chat_one: disabled"), "{out}");
    let (_, out) = p.run(&["targets", "list", "--sandbox"]);
    let line = out.lines().find(|l| l.contains("@new_chat_one")).unwrap();
    assert!(line.contains("disabled"), "{line}");
    let (code, out) = p.run(&["targets", "enable", "@new_chat_one", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    // Neither configured nor added: still refused, naming both places.
    let (code, out) = p.run(&["targets", "disable", "@nowhere_chat", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("was not added on the dashboard"), "{out}");
}

#[test]
fn f7_check_reports_a_missing_or_broken_google_credentials_file() {
    let p = Project::new();
    let env = std::fs::read_to_string(p.file(".env")).unwrap();
    let sheet = "BUY_SELL_PRICE_B2B_SHEET_URL=https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd/edit\n";
    for (file, content, why) in [
        ("nonexistent.json", None, "cannot read"),
        (
            "notjson.json",
            Some("this is not json"),
            "not a JSON key file",
        ),
        (
            "oauth.json",
            Some(r#"{"installed": {"client_id": "x"}}"#),
            "not \"service_account\"",
        ),
    ] {
        if let Some(c) = content {
            std::fs::write(p.file(file), c).unwrap();
        }
        std::fs::write(
            p.file(".env"),
            format!("{env}{sheet}GOOGLE_CREDENTIALS_FILE={file}\n"),
        )
        .unwrap();
        let (code, out) = p.run(&["check", "--no-metrics"]);
        assert_eq!(code, 1, "{file}: {out}");
        let line = out
            .lines()
            .find(|l| l.contains("GOOGLE_CREDENTIALS_FILE"))
            .unwrap_or_else(|| panic!("{file}: {out}"));
        assert!(line.starts_with('✗'), "{line}");
        assert!(line.contains(file), "{line}");
        assert!(line.contains(why), "{file}: {line}");
    }
}

#[test]
fn f15_once_says_what_is_planned_and_where_the_log_goes() {
    let p = Project::new();
    let (code, plan) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{plan}");
    let planned = plan.lines().filter(|l| l.starts_with("20")).count();
    assert!(planned > 0, "{plan}");
    let out = p
        .cmd(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"])
        .env("LOG_FILE", "logs/bot.log")
        .env("LOG_CONSOLE", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Not a terminal: one stable line, no progress bar.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("planned: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.starts_with(&format!("planned: {planned} deliveries, about ")),
        "{line}\n{plan}"
    );
    assert!(line.ends_with("; log: logs/bot.log"), "{line}");
    assert!(
        !stderr.contains('\r'),
        "no bar redraws off a terminal: {stderr:?}"
    );
    // With the log on the console, the log is not pointed at.
    let out = p
        .cmd(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"])
        .env("LOG_FILE", "logs/bot.log")
        .env("LOG_CONSOLE", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("planned: ")).unwrap();
    assert!(!line.contains("log:"), "{line}");
}

#[test]
fn f12_a_taken_metrics_port_is_a_warning_in_the_sandbox() {
    let p = Project::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = p
        .cmd(&["run", "--sandbox", "--once", "--no-web"])
        .env("METRICS_BIND", &addr)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("warning: /metrics is off (sandbox)"), "{all}");
    assert!(all.contains(&addr), "{all}");
    assert!(
        p.file("data/sandbox/ledger.jsonl").exists(),
        "it sent: {all}"
    );
    let out = p
        .cmd(&["check", "--sandbox"])
        .env("METRICS_BIND", &addr)
        .output()
        .unwrap();
    let all = text(&out);
    let line = all
        .lines()
        .find(|l| l.contains("/metrics"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        line.starts_with("! warning: /metrics is off (sandbox)"),
        "{line}"
    );
    drop(taken);
}
