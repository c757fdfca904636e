//! The rest of the console: `service install|uninstall` into a temporary unit directory
//! (systemctl is never called), `completions`, `manpage`, `targets switch` (persisted, shown by
//! `stats` and `broadcasters list`, applied by `run`), `report settings` (kept in .env), and
//! the state every command starts from (stored versions, targets added from the dashboard).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use console_support::Project;

#[test]
fn service_install_writes_a_unit_and_uninstall_removes_it() {
    let p = Project::new();
    let units = tempfile::tempdir().expect("unit dir");
    let unit_dir = units.path().to_str().expect("utf-8 path");
    let (code, unit) = p.run(&["service", "install", "--dry-run", "--unit-dir", unit_dir]);
    assert_eq!(code, 0, "{unit}");
    let cwd = std::fs::canonicalize(p.path()).expect("cwd");
    for line in [
        "Restart=on-failure".to_owned(),
        format!("WorkingDirectory={}", p.path().display()),
        format!(
            "ExecStart={} --config {}/sendmessagebot.toml --env-file {}/.env run",
            console_support::BIN,
            p.path().display(),
            p.path().display()
        ),
        "WantedBy=default.target".to_owned(),
        // Above the 1024 default: 2 x WEB_MAX_CONNECTIONS plus the journal and sockets fit.
        "LimitNOFILE=65536".to_owned(),
    ] {
        let alt = line.replace(&p.path().display().to_string(), &cwd.display().to_string());
        assert!(
            unit.lines().any(|l| l == line || l == alt),
            "no line {line:?}:\n{unit}"
        );
    }
    assert!(
        !units.path().join("sendmessagebot.service").exists(),
        "--dry-run writes nothing"
    );
    // `.env` is read by the binary (--env-file), never by systemd's own rules.
    assert!(
        !unit.lines().any(|l| l.starts_with("EnvironmentFile")),
        "{unit}"
    );

    let (code, out) = p.run(&["service", "install", "--unit-dir", unit_dir, "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("systemctl --user enable --now sendmessagebot"),
        "{out}"
    );
    let written =
        std::fs::read_to_string(units.path().join("sendmessagebot.service")).expect("the unit");
    assert!(
        written.contains(" run --sandbox\n") && written.contains("[Install]"),
        "{written}"
    );
    let (code, out) = p.run(&["service", "install", "--unit-dir", unit_dir]);
    assert_eq!(code, 1, "an existing unit is kept without --force: {out}");
    assert!(out.contains("--force"), "{out}");

    // The system flavour, through the environment variable.
    let (code, unit) = {
        let out = p
            .cmd(&["service", "install", "--system", "--dry-run"])
            .env("SMB_SYSTEMD_UNIT_DIR", unit_dir)
            .output()
            .expect("run");
        (out.status.code(), console_support::text(&out))
    };
    assert_eq!(code, Some(0), "{unit}");
    assert!(unit.contains("WantedBy=multi-user.target"), "{unit}");

    let (code, out) = p.run(&["service", "uninstall", "--unit-dir", unit_dir]);
    assert_eq!(code, 0, "{out}");
    assert!(!units.path().join("sendmessagebot.service").exists());
    let (code, out) = p.run(&["service", "uninstall", "--unit-dir", unit_dir]);
    assert_eq!((code, out.contains("not installed")), (0, true), "{out}");
}

#[test]
fn completions_and_the_man_page_come_from_the_clap_definitions() {
    let p = Project::new();
    for (shell, marker) in [
        ("bash", "_sendmessagebot()"),
        ("zsh", "#compdef sendmessagebot"),
        ("fish", "complete -c sendmessagebot"),
    ] {
        let (code, out) = p.run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {out}");
        assert!(
            out.contains(marker) && out.contains("reload") && out.contains("switch"),
            "{shell}:\n{out}"
        );
    }
    let (code, man) = p.run(&["manpage"]);
    assert_eq!(code, 0, "{man}");
    assert!(
        man.contains(".TH sendmessagebot 1") && man.contains("status") && man.contains("service"),
        "{man}"
    );
    let pages = tempfile::tempdir().expect("dir");
    let (code, out) = p.run(&["manpage", "--dir", pages.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        pages.path().join("sendmessagebot.1").exists()
            && pages.path().join("sendmessagebot-run.1").exists()
    );
}

#[test]
fn targets_switch_is_persisted_shown_and_applied_by_run() {
    let p = Project::new();
    let (code, out) = p.run(&[
        "targets",
        "switch",
        "test",
        "--broadcaster",
        "b2b",
        "--sandbox",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("b2b          test  (test, 1 chats)") && out.contains("b2c          prod"),
        "{out}"
    );
    let (code, out) = p.run(&["broadcasters", "list", "--sandbox", "--json"]);
    assert_eq!(code, 0, "{out}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let mode = |name: &str| {
        list.as_array()
            .and_then(|a| a.iter().find(|b| b["name"] == name))
            .map(|b| b["mode"].clone())
    };
    assert_eq!(mode("b2b"), Some("test".into()));
    assert_eq!(mode("gus"), Some("prod".into()));
    // The real database was not touched.
    let (_, out) = p.run(&["broadcasters", "list"]);
    assert!(
        out.lines()
            .filter(|l| l.trim_end().ends_with("prod"))
            .count()
            == 4,
        "{out}"
    );

    // run applies it: b2b posts to its test chat only, the others to their prod lists.
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let ledger = std::fs::read_to_string(p.file("data/sandbox/ledger.jsonl")).expect("ledger");
    assert_eq!(
        ledger
            .lines()
            .filter(|l| l.contains("my_test_group"))
            .count(),
        1,
        "{ledger}"
    );
    assert_eq!(ledger.lines().count(), 1 + 3 * 5, "{ledger}");
    let (code, out) = p.run(&["stats", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("target lists: aaa prod (prod), b2b test (test)"),
        "{out}"
    );
    let (code, out) = p.run(&["stats", "--sandbox", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["broadcasters"]["b2b"]["target_mode"], "test");

    // All back to prod: one switch for every broadcaster replaces the per-broadcaster ones.
    let (code, out) = p.run(&["targets", "switch", "prod", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(" test "), "{out}");
    let (code, out) = p.run(&[
        "targets",
        "switch",
        "test",
        "--broadcaster",
        "nope",
        "--sandbox",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no broadcaster `nope`"), "{out}");
}

#[test]
fn report_settings_are_kept_in_the_env_file() {
    let p = Project::new();
    let (code, out) = p.run(&[
        "report",
        "settings",
        "--enable",
        "--channel",
        "-1001234567890",
    ]);
    assert_eq!(code, 1, "no token, so switching on is refused: {out}");
    assert!(
        out.contains("REPORTS_BOT_TOKEN") && out.contains("nothing was changed"),
        "{out}"
    );
    let env_before = std::fs::read_to_string(p.file(".env")).expect(".env");
    assert!(!env_before.contains("ENABLE_REPORTS"));

    std::fs::write(p.file(".env"), format!("{env_before}# the report bot\nREPORTS_BOT_TOKEN=123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\n")).expect(".env");
    let (code, out) = p.run(&[
        "report",
        "settings",
        "--enable",
        "--interval",
        "6",
        "--channel",
        "@shop_reports",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("reports:  on") && out.contains("every 6 h") && out.contains("@shop_reports"),
        "{out}"
    );
    let env = std::fs::read_to_string(p.file(".env")).expect(".env");
    assert!(
        env.starts_with(&env_before) && env.contains("# the report bot\n"),
        "other lines are kept:\n{env}"
    );
    assert!(
        env.contains("ENABLE_REPORTS=true\n")
            && env.contains("REPORT_INTERVAL_HOURS=6\n")
            && env.contains("REPORTS_CHANNEL_ID=@shop_reports\n"),
        "{env}"
    );
    let (code, out) = p.run(&["report", "settings", "--disable"]);
    assert_eq!(code, 0, "{out}");
    let env = std::fs::read_to_string(p.file(".env")).expect(".env");
    assert!(
        env.contains("ENABLE_REPORTS=false\n") && env.matches("ENABLE_REPORTS").count() == 1,
        "{env}"
    );
}

/// `messages update` from a CSV file as a Russian-locale spreadsheet saves it: the separator is
/// told and said, and a sheet without a status column gets the line saying every row is active.
#[test]
fn messages_update_says_how_a_csv_was_read() {
    let p = Project::new();
    let env = std::fs::read_to_string(p.file(".env")).expect(".env");
    std::fs::write(
        p.file(".env"),
        format!("{env}BUY_SELL_PRICE_B2B_SHEET_URL=prices.csv\n"),
    )
    .expect(".env");
    std::fs::write(
        p.file("prices.csv"),
        "\u{feff}Опт: iPhone 16 — 71 000,50 ₽\r\nОпт: AirPods — 15 500 ₽\r\n",
    )
    .expect("csv");
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("b2b: version 1 stored (first version: 2 messages, 2 active)"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim()
            == "note: no status in column B: every row is active (the rule for a plain list of texts)"),
        "{out}"
    );

    std::fs::write(
        p.file("prices.csv"),
        "Сообщение;Статус;Приоритет\r\nОпт: iPhone 16 — 71 000,50 ₽;да;9\r\nОпт: AirPods — 15 500 ₽;нет;\r\n",
    )
    .expect("csv");
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 messages, 1 active"), "{out}");
    assert!(
        out.contains("note: columns separated by `;`") && !out.contains("every row is active"),
        "{out}"
    );

    std::fs::write(p.file("prices.csv"), "Сообщение;Статус\r\n#Н/Д;да\r\n").expect("csv");
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("file prices.csv: row 2, column A") && out.contains("`#Н/Д`"),
        "{out}"
    );
}

/// QA: `targets disable -1001234567890` was read as the flag `-1`; a chat id is the usual
/// target, so it is taken as written, without `--`.
#[test]
fn targets_enable_and_disable_take_a_negative_chat_id_as_written() {
    let p = Project::new();
    let (code, out) = p.run(&["targets", "disable", "-1001234567890", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("-1001234567890: disabled"), "{out}");
    let (code, out) = p.run(&["targets", "list", "--sandbox", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("disabled by the operator"), "{out}");
    let (code, out) = p.run(&["targets", "enable", "-1001234567890", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
}

/// Remembers `target` as added to `list` from the dashboard, in the sandbox database, as
/// `POST /api/v1/targets` does.
fn add_from_dashboard(p: &Project, list: &str, target: &str) {
    let db = p.file("data/sandbox/sendmessagebot.db");
    std::fs::create_dir_all(db.parent().expect("data dir")).expect("data dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = smb_store::SqliteStore::open(
            &format!("sqlite://{}", db.display()),
            smb_store::SqliteSettings::default(),
        )
        .await
        .expect("store");
        let key = smb_domain::TargetRef::parse(target).expect("target").key();
        let added = store
            .add_list_target(list, &key, target, jiff::Timestamp::now())
            .await
            .expect("add");
        assert!(added);
    });
}

/// Bug (issue 13): `broadcasters test` built its state from the stored versions only, so a
/// chat added to the test list from the dashboard got the dashboard's test send but not the
/// CLI's.
#[test]
fn broadcasters_test_sends_to_targets_added_in_the_dashboard() {
    let p = Project::new();
    add_from_dashboard(&p, "test", "@added_in_dashboard");
    let (code, out) = p.run(&["broadcasters", "test", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("b2b → @my_test_group: sent"), "{out}");
    assert!(out.contains("b2b → @added_in_dashboard: sent"), "{out}");
    assert!(out.contains("test send: 2 sent, 0 not sent"), "{out}");
}

/// Bug (issue 13): `stats` predicted the next sends from the configuration and the switches
/// only. Here `run` would send at once on both accounts — acc1 from the stored version of a
/// set configured without texts, acc2 to a chat added from the dashboard while its only
/// configured chat is disabled — so `stats` names both broadcasters as due.
#[test]
fn stats_predicts_the_next_sends_from_the_state_run_uses() {
    let p = Project::new();
    std::fs::write(
        p.file("sendmessagebot.toml"),
        r#"[settings]
cycle_delay = "1h"

[sandbox]
database_url = "sqlite://data/sandbox/sendmessagebot.db"
ledger = "data/sandbox/ledger.jsonl"

[accounts.acc1]
[accounts.acc2]

[targets]
prod = ["@shop_chat"]
solo = ["@gone_chat"]

[messages.b2b]
source = "b2b.txt"

[messages.gus]
texts = ["Яблочный Гусь: новые поступления"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"

[broadcasters.gus]
account = "acc2"
targets = "solo"
messages = "gus"
"#,
    )
    .expect("config");
    std::fs::write(
        p.file(".env"),
        "DELAY_BETWEEN_CHATS=0\nENABLE_QUIET_HOURS=false\nENABLE_SCHEDULING=false\n",
    )
    .expect(".env");
    std::fs::write(p.file("b2b.txt"), "Прайс из файла\n").expect("b2b.txt");
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = p.run(&["targets", "disable", "@gone_chat", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    add_from_dashboard(&p, "solo", "@fresh_chat");

    let before = jiff::Timestamp::now();
    let (code, out) = p.run(&["stats", "--sandbox", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    for (account, broadcaster) in [("acc1", "b2b"), ("acc2", "gus")] {
        let a = &v["accounts"][account];
        assert_eq!(a["next_broadcaster"], broadcaster, "{account}: {a}");
        let at: jiff::Timestamp = a["next_send_at"]
            .as_str()
            .expect("a next send")
            .parse()
            .expect("time");
        assert!(
            at >= before - jiff::SignedDuration::from_secs(1)
                && at <= jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1),
            "{account}: due now, not after a cycle delay: {at}"
        );
    }
    // The dry run plans from the same state.
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("@fresh_chat") && out.contains("Прайс из файла"),
        "{out}"
    );
    assert!(!out.contains("@gone_chat"), "{out}");
}

/// `sendmessagebot stats | head`: the reader is gone before the command writes. Each command
/// ends quietly with SIGPIPE's status (141), as before, and without a panic or an `error:`
/// line. The pipe's reading end is closed before the binary starts, so its first write fails
/// whatever the timing. Covered: `outln!` (stats, broadcasters), a write inside the dry run's
/// simulation, `check`'s report, the man page writer and the completion script.
#[test]
fn a_reader_that_closes_early_ends_each_command_quietly() {
    let p = Project::new();
    // `stats` reads an existing database only: a switch creates the sandbox's.
    let (code, out) = p.run(&[
        "targets",
        "switch",
        "test",
        "--broadcaster",
        "b2b",
        "--sandbox",
    ]);
    assert_eq!(code, 0, "{out}");
    for args in [
        &["stats", "--sandbox"][..],
        &["broadcasters", "list", "--sandbox"],
        &["run", "--dry-run", "--sandbox"],
        &["check", "--sandbox"],
        &["manpage"],
        &["completions", "bash"],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = p
            .cmd(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run the binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error"),
            "{args:?}: {stderr}"
        );
    }
}
