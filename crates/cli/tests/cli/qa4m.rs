//! Fresh-user QA findings (q4m): `targets disable|enable` reach a running daemon through its
//! control socket (F11); `LOG_FILE=~/…` is refused (F6); misspelt `.env` names with a dropped
//! word are named; `targets list` keeps its columns on rows added on the dashboard.
// Test helpers outside `#[test]` functions unwrap too (see console_daemon.rs).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::console_support::{DaemonGuard, Project, wait_until};

/// Every sandbox post so far, as the chat keys of the ledger in order.
fn posts(p: &Project) -> Vec<String> {
    std::fs::read_to_string(p.file("data/sandbox/ledger.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("action").is_none())
        .filter_map(|v| v["chat"].as_str().map(str::to_owned))
        .collect()
}

fn posts_to(p: &Project, chat: &str) -> usize {
    posts(p).iter().filter(|c| *c == chat).count()
}

#[test]
fn targets_disable_and_enable_reach_the_running_daemon_at_once() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    let (code, out) = p.run(&["run", "--sandbox", "--detach"]);
    assert_eq!(code, 0, "{out}");
    let chat = "@price_chat_one";
    assert!(
        wait_until(Duration::from_secs(30), || posts_to(&p, chat) >= 1),
        "the daemon posts to {chat}"
    );

    let (code, out) = p.run(&["targets", "disable", chat, "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("@price_chat_one: disabled"), "{out}");
    assert!(
        out.contains("the running daemon applied it at once"),
        "{out}"
    );
    assert!(!out.contains("reload"), "no reload is needed: {out}");
    let (code, out) = p.run(&["targets", "list", "--sandbox", "--json"]);
    assert_eq!(code, 0, "{out}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("targets list --json");
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["target"] == chat)
        .expect("the target is listed");
    assert_eq!(row["status"], "disabled", "{row}");
    assert_eq!(row["reason"], "disabled by the operator", "{row}");

    // A send picked before the disable may still be on its way: let both accounts post a
    // few more times, then no new post to the chat may appear over two more cycles of
    // four broadcasters (4 of the 5 prod chats each).
    let settled = posts(&p).len() + 8;
    assert!(wait_until(Duration::from_secs(60), || posts(&p).len() >= settled));
    let before = posts_to(&p, chat);
    let later = posts(&p).len() + 2 * 4 * 4;
    assert!(
        wait_until(Duration::from_secs(60), || posts(&p).len() >= later),
        "the other chats go on"
    );
    assert_eq!(
        posts_to(&p, chat),
        before,
        "no post to a target disabled on the CLI"
    );

    let (code, out) = p.run(&["targets", "enable", chat, "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("@price_chat_one: enabled") && out.contains("applied it at once"),
        "{out}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || posts_to(&p, chat) > before),
        "posting there again after the CLI enable, without a reload"
    );
    let (_, out) = p.run(&["status", "--sandbox", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    assert_eq!(v["reloads"], 0, "no reload was used: {v}");
}

#[test]
fn targets_disable_without_a_daemon_is_stored_for_the_next_start() {
    let p = Project::new();
    let (code, out) = p.run(&["targets", "disable", "@price_chat_one", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no daemon runs now"), "{out}");
    let (code, out) = p.run(&["targets", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("@price_chat_one"))
        .expect("listed");
    assert!(line.contains("disabled"), "{out}");
}

#[test]
fn a_log_file_under_tilde_is_refused_by_run_and_check() {
    let p = Project::new();
    let home = p.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let want = format!(
        "`~` is not expanded (python-dotenv does not expand it either); write {}/bot.log",
        home.display()
    );
    let with_tilde = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("LOG_FILE", "~/bot.log")
            .env("HOME", &home)
            .output()
            .expect("run the binary");
        (
            out.status.code().unwrap_or(-1),
            crate::console_support::text(&out),
        )
    };
    let (code, out) = with_tilde(&["check", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("LOG_FILE=~/bot.log"))
        .unwrap_or_else(|| panic!("check names LOG_FILE: {out}"));
    assert!(line.contains('✗') && line.contains(&want), "{out}");

    let (code, out) = with_tilde(&["run", "--sandbox", "--once"]);
    assert_ne!(code, 0, "run refuses: {out}");
    assert!(out.contains(&want), "{out}");
    assert!(!p.file("~").exists(), "no directory named ~ is made");
    assert!(
        !home.join("bot.log").exists(),
        "nothing is written at the real path either"
    );
}

#[test]
fn migrate_reads_literal_plus_literal_and_lists_changed_values_apart() {
    let p = Project::new();
    let old = p.path().join("old");
    std::fs::create_dir_all(old.join("config")).expect("config dir");
    std::fs::write(
        old.join("config/messages_gus.py"),
        "MESSAGES_GUS = [\"Гусь: \" + \"новинки\", \"Гусь простой\", \"Цена: \" + PRICE]\n",
    )
    .expect("messages");
    std::fs::write(old.join(".env"), "HOME_DIR=${HOME}/bot\nCYCLE_DELAY=60\n").expect(".env");
    let (code, out) = p.run(&["migrate", old.to_str().expect("utf-8"), "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("message set `gus`: 2 messages"),
        "literal + literal is read, the item with a name is not: {out}"
    );
    assert!(out.contains("\"Гусь: новинки\""), "{out}");
    let changed = out
        .split("changed on import (1):")
        .nth(1)
        .unwrap_or_else(|| panic!("a changed-on-import heading: {out}"));
    let (changed, not_imported) = changed
        .split_once("not imported (1):")
        .unwrap_or_else(|| panic!("then what was not imported: {out}"));
    assert!(
        changed.contains(".env:1: HOME_DIR: its ${…} reference was replaced by today's value"),
        "{out}"
    );
    assert!(
        not_imported.contains("config/messages_gus.py:1:")
            && not_imported.contains("the whole item is skipped")
            && !not_imported.contains("HOME_DIR"),
        "{out}"
    );
}

#[test]
fn targets_list_keeps_its_columns_on_rows_added_on_the_dashboard() {
    let p = Project::new();
    let (code, out) = p.run(&["targets", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    crate::qa3::add_on_dashboard(&p, "prod", "@a_rather_long_added_chat_name");
    let (code, out) = p.run(&[
        "targets",
        "disable",
        "@a_rather_long_added_chat_name",
        "--sandbox",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = p.run(&["targets", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let head = lines.next().expect("a header");
    let status_at = head.find("STATUS").expect("STATUS column");
    let reason_at = head.find("REASON").expect("REASON column");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 7, "5 prod, 1 test, 1 added: {out}");
    for row in &rows {
        let status = row.get(status_at..).unwrap_or_default();
        assert!(
            status.starts_with("active") || status.starts_with("disabled"),
            "STATUS under its header in every row:\n{out}"
        );
    }
    let added = rows
        .iter()
        .find(|r| r.contains("(added on the dashboard)"))
        .expect("the added row");
    assert_eq!(
        added.get(reason_at..),
        Some("disabled by the operator"),
        "REASON under its header:\n{out}"
    );
}
