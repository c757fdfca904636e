//! A chat that refuses one account while the other posts there, through the real binary in
//! the sandbox (QA F2, F2b, F8, F9, F10, F1b): `targets list`, `stats` and `targets check`
//! show the refusal the same way, in English and Russian, with local times; a chat refusing
//! every account is one disabled line naming them all.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::text;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn config(faulted: &[&str]) -> String {
    let mut toml = r#"
[settings]
delay_between_chats = "10ms"
cycle_delay = "1h"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
timezone = "Europe/Moscow"

[sandbox]
latency_ms = 1

[accounts.acc1]
delay_between_chats = "10ms"

[accounts.acc2]
delay_between_chats = "10ms"

[targets]
wholesale = ["@shared", "@solo"]
retail = ["@shared"]

[messages.m]
texts = ["price list"]

[broadcasters.aaa]
account = "acc1"
targets = "wholesale"
messages = "m"

[broadcasters.b2c]
account = "acc2"
targets = "retail"
messages = "m"
"#
    .to_owned();
    for a in faulted {
        toml.push_str(&format!(
            "\n[[sandbox.faults]]\naccount = \"{a}\"\nchat = \"@shared\"\nerror = \"CHAT_WRITE_FORBIDDEN\"\n"
        ));
    }
    toml
}

/// Runs the binary in `dir` with the locale `lang` (`C` or `ru_RU.UTF-8`).
fn smb(dir: &Path, args: &[&str], lang: &str) -> Output {
    let mut c = common::command(dir, args);
    c.env("LC_ALL", lang).env("LANG", lang);
    common::run_with(c, None, LIMIT)
        .unwrap_or_else(|out| panic!("{args:?} did not finish in {LIMIT:?}: {}", text(&out)))
}

fn ok(dir: &Path, args: &[&str], lang: &str) -> String {
    let out = smb(dir, args, lang);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn setup(faulted: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), config(faulted)).unwrap();
    ok(
        dir.path(),
        &["run", "--sandbox", "--once", "--no-metrics", "--no-web"],
        "C",
    );
    dir
}

#[test]
fn a_chat_refusing_one_account_is_shown_as_such_everywhere() {
    let dir = setup(&["acc1"]);
    let d = dir.path();

    // targets list: "active (acc1 refused: CODE, re-check … MSK)" (F2), and the JSON field.
    let list = ok(d, &["targets", "list", "--sandbox"], "C");
    let shared: Vec<&str> = list.lines().filter(|l| l.contains("@shared")).collect();
    assert_eq!(shared.len(), 2, "{list}");
    for l in &shared {
        assert!(
            l.contains("active (acc1 refused: CHAT_WRITE_FORBIDDEN, re-check ")
                && l.ends_with(" MSK)"),
            "{list}"
        );
    }
    let solo = list.lines().find(|l| l.contains("@solo")).unwrap();
    assert!(!solo.contains("refused"), "{list}");
    let rows: Value =
        serde_json::from_str(&ok(d, &["targets", "list", "--sandbox", "--json"], "C")).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "@shared")
        .unwrap();
    assert_eq!(row["status"], "active");
    assert_eq!(row["refused_accounts"][0]["account"], "acc1");
    assert_eq!(row["refused_accounts"][0]["code"], "CHAT_WRITE_FORBIDDEN");
    assert!(
        row["refused_accounts"][0]["recheck_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // stats: its own section, not "held by their chat's rules" (F2, F2b).
    let stats = ok(d, &["stats", "--sandbox"], "C");
    assert!(
        stats.contains("refused for one account (the other accounts go on posting there):"),
        "{stats}"
    );
    let line = stats
        .lines()
        .find(|l| l.trim_start().starts_with("@shared"))
        .unwrap();
    assert!(line.contains("acc1") && line.contains("MSK"), "{stats}");
    assert!(line.contains("CHAT_WRITE_FORBIDDEN"), "{stats}");
    assert!(!stats.contains("held by"), "{stats}");
    let v: Value = serde_json::from_str(&ok(d, &["stats", "--sandbox", "--json"], "C")).unwrap();
    assert_eq!(v["refused_accounts"][0]["target"], "@shared");
    assert_eq!(v["held_targets"], serde_json::json!([]));
    assert_eq!(v["targets"]["@shared"]["status"], "active");
    assert_eq!(
        v["targets"]["@shared"]["refused_accounts"][0]["account"],
        "acc1"
    );

    // Russian (F1b): the headers, the section and the reason, without the English words.
    let ru = ok(d, &["stats", "--sandbox"], "ru_RU.UTF-8");
    assert!(ru.starts_with("всего: "), "{ru}");
    assert!(ru.contains("АККАУНТ"), "{ru}");
    assert!(ru.contains("отказ одному аккаунту"), "{ru}");
    assert!(!ru.contains("may not post"), "{ru}");
    let ru_list = ok(d, &["targets", "list", "--sandbox"], "ru_RU.UTF-8");
    assert!(
        ru_list.contains("активен (acc1 — отказ: CHAT_WRITE_FORBIDDEN, перепроверка "),
        "{ru_list}"
    );
    let plan = ok(
        d,
        &["run", "--sandbox", "--dry-run", "--no-metrics"],
        "ru_RU.UTF-8",
    );
    assert!(
        plan.starts_with("план следующего цикла (время в зоне Europe/Moscow):"),
        "{plan}"
    );

    // targets check: "last post" per account (F9): acc1 never posted into @shared, acc2 did.
    let out = smb(d, &["targets", "check", "--sandbox"], "C");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |account: &str, target: &str| {
        table
            .lines()
            .find(|l| l.starts_with(account) && l.contains(&format!(" {target} ")))
            .unwrap_or_else(|| panic!("{account} {target}: {table}"))
            .to_owned()
    };
    assert!(row("acc1", "@shared").ends_with("never"), "{table}");
    assert!(row("acc2", "@shared").ends_with("MSK"), "{table}");
    assert!(row("acc1", "@solo").ends_with("MSK"), "{table}");
    // In Russian: the words of the table, and `--json` reasons follow the locale.
    let out = smb(d, &["targets", "check", "--sandbox"], "ru_RU.UTF-8");
    let ru_table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(ru_table.starts_with("АККАУНТ"), "{ru_table}");
    assert!(
        ru_table.contains(" да ") && ru_table.contains(" нет "),
        "{ru_table}"
    );
    assert!(ru_table.contains("выкл"), "{ru_table}");
    assert!(ru_table.contains("никогда"), "{ru_table}");
    let out = smb(
        d,
        &["targets", "check", "--sandbox", "--json"],
        "ru_RU.UTF-8",
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "acc1" && r["target"] == "@shared")
        .unwrap();
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.contains("аккаунт"), "{reason}");
    let out = smb(d, &["targets", "check", "--sandbox", "--json"], "C");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "acc1" && r["target"] == "@shared")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!reason.contains("аккаунт"), "{reason}");
}

/// QA F8: when every account is refused, one disabled line names them all, and nothing says
/// "the other accounts go on".
#[test]
fn a_chat_refusing_every_account_is_one_disabled_line() {
    let dir = setup(&["acc1", "acc2"]);
    let stats = ok(dir.path(), &["stats", "--sandbox"], "C");
    let disabled: Vec<&str> = stats
        .lines()
        .filter(|l| l.trim_start().starts_with("@shared"))
        .collect();
    assert_eq!(disabled.len(), 1, "{stats}");
    assert!(disabled[0].contains("(accounts acc1, acc2)"), "{stats}");
    assert!(stats.contains("disabled targets:"), "{stats}");
    assert!(!stats.contains("go on"), "{stats}");
    assert!(!stats.contains("refused for one account"), "{stats}");
    let list = ok(dir.path(), &["targets", "list", "--sandbox"], "C");
    assert!(
        list.lines()
            .filter(|l| l.contains("@shared"))
            .all(|l| l.contains("disabled") && l.contains("(accounts acc1, acc2)")),
        "{list}"
    );
}
