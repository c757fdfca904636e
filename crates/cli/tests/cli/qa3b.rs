//! Regressions of the third fresh-user QA pass (its second half of findings): each test is named after its finding (`f30_…` is finding F30) and drives the real
//! binary where the finding was seen through it.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use console_support::{Project, text};

/// `args` run from `dir` with the project's configuration and `.env` named by path.
fn from_elsewhere(p: &Project, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let config = p.file("sendmessagebot.toml");
    let env = p.file(".env");
    let mut all = vec![
        "--config",
        config.to_str().unwrap(),
        "--env-file",
        env.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = p.cmd(&all).current_dir(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn f30_a_journal_beside_the_configuration_is_not_replaced_by_a_new_one_here() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let beside = p.file("data/sandbox/sendmessagebot.db");
    assert!(beside.exists());
    let elsewhere = tempfile::tempdir().unwrap();
    let beside = beside.canonicalize().unwrap();
    for args in [
        &["check", "--sandbox"][..],
        &["run", "--sandbox", "--dry-run"],
        &["run", "--sandbox", "--once", "--no-web", "--no-metrics"],
        &["stats", "--sandbox"],
    ] {
        let (code, out) = from_elsewhere(&p, elsewhere.path(), args);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(
            out.contains(&format!(
                "the configuration's directory holds {}",
                beside.display()
            )) && out.contains("relative paths are read from the working directory")
                && out.contains("run in the directory of the configuration (`cd "),
            "{args:?}: {out}"
        );
        assert!(
            !elsewhere.path().join("data").exists(),
            "{args:?} created nothing in the working directory"
        );
    }
    // In the configuration's directory the same commands use the journal there.
    let (code, out) = p.run(&["stats", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn f30_the_dry_run_creates_no_database() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("plan of the next cycle"), "{out}");
    assert!(
        !p.file("data/sandbox/sendmessagebot.db").exists(),
        "the dry run writes nothing: {out}"
    );
    // With a journal, it is read and left as it was (no new rows, no WAL left behind).
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let db = p.file("data/sandbox/sendmessagebot.db");
    let before = std::fs::read(&db).unwrap();
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the journal is unchanged"
    );
}

#[test]
fn f32_check_online_in_the_sandbox_does_not_contact_telegram_for_the_clock() {
    let p = Project::new();
    // The probe's address pointed at a loopback listener that must see no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let out = p
        .cmd(&["check", "--online", "--sandbox", "--no-metrics"])
        .env("TELEGRAM_BOT_API_URL", &url)
        .output()
        .unwrap();
    let out = text(&out);
    assert!(
        out.contains("not compared with Telegram's time: --sandbox contacts no Telegram server"),
        "{out}"
    );
    assert!(!out.contains("cannot compare with"), "{out}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection was made to {url}"
    );
    // Without --sandbox the same override is where the clock is compared (so the probe above
    // would have gone there): with the listener closed, the comparison fails and says so.
    drop(listener);
    let out = p
        .cmd(&["check", "--online", "--no-metrics"])
        .env("TELEGRAM_BOT_API_URL", &url)
        .output()
        .unwrap();
    let out = text(&out);
    assert!(
        out.contains(&format!("clock: cannot compare with {url}")),
        "{out}"
    );
}

#[test]
fn f11_check_flags_an_env_others_can_read_that_holds_secrets() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = Project::new();
    let env = p.file(".env");
    let mut text = std::fs::read_to_string(&env).unwrap();
    text.push_str(
        "API_HASH=0123456789abcdef0123456789abcdef\nWEB_TOKEN=web-s3cret\n\
         REPORTS_BOT_TOKEN=123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\nWEBHOOK_SECRET=hook-s3cret\n",
    );
    std::fs::write(&env, text).unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = p.run(&["check", "--sandbox", "--no-metrics"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("✗ .env is 0644 and holds API_HASH, REPORTS_BOT_TOKEN, WEBHOOK_SECRET, WEB_TOKEN: other users can read them; run `chmod 600 .env`")),
        "{out}"
    );
    assert!(!out.contains("✓ .env: readable"), "{out}");
    assert!(
        !out.contains("s3cret") && !out.contains("0123456789abcdef"),
        "{out}"
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, out) = p.run(&["check", "--sandbox", "--no-metrics"]);
    assert!(out.contains("✓ .env: readable"), "{out}");
}

/// `text` in Windows-1251 (ASCII and the Russian alphabet without Ё, enough for these files).
fn cp1251(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() => c as u8,
            'А'..='я' => u8::try_from(c as u32 - 0x410 + 0xC0).unwrap(),
            other => panic!("{other} is not in this test's Windows-1251 table"),
        })
        .collect()
}

#[test]
fn f31_an_excel_sep_line_in_a_windows_1251_csv_is_understood() {
    let p = Project::new();
    let env = std::fs::read_to_string(p.file(".env")).unwrap();
    std::fs::write(
        p.file(".env"),
        format!("{env}BUY_SELL_PRICE_B2B_SHEET_URL=sep.csv\n"),
    )
    .unwrap();
    std::fs::write(
        p.file("sep.csv"),
        cp1251("sep=;\r\nСообщение;Статус;Приоритет\r\nПрайс А 71 000,50 руб.;да;8\r\nПрайс Б;нет;5\r\n"),
    )
    .unwrap();
    let (code, out) = p.run(&["messages", "update", "--type", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("b2b: version 1 stored (first version: 2 messages, 1 active)"),
        "{out}"
    );
    assert!(
        out.contains("read as Windows-1251") && out.contains("columns separated by `;`"),
        "{out}"
    );
    let (code, out) = p.run(&["messages", "list", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Прайс А 71 000,50 руб.")
            && !out.contains("Сообщение")
            && !out.contains("sep="),
        "{out}"
    );
}

#[test]
fn f28_a_session_written_before_the_passphrase_is_flagged_and_sealed() {
    use smb_telegram::grammers::{Identity, SecretString, SessionStore, StoredSession};
    let p = Project::new();
    let session = StoredSession {
        identity: Some(Identity {
            user_id: 1001,
            bot: false,
            first_name: "Seller".into(),
            username: None,
        }),
        ..StoredSession::for_server(
            std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 4430),
            2,
            [7u8; 256],
        )
    };
    SessionStore::new(p.file("sessions"), None)
        .save("acc1", &session)
        .unwrap();
    let env = std::fs::read_to_string(p.file(".env")).unwrap();
    std::fs::write(
        p.file(".env"),
        format!("{env}SESSION_PASSPHRASE=added later\n"),
    )
    .unwrap();
    let warning = "account acc1: the session file sessions/acc1.session is not encrypted although \
                   SESSION_PASSPHRASE is set; encrypt it with `sendmessagebot accounts seal acc1`";
    let (_, out) = p.run(&["check", "--no-metrics"]);
    assert!(out.lines().any(|l| l == format!("! {warning}")), "{out}");
    let (code, out) = p.run(&["accounts", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("warning: {warning}")), "{out}");

    let (code, out) = p.run(&["accounts", "seal"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("acc1: encrypted with SESSION_PASSPHRASE (sessions/acc1.session)"),
        "{out}"
    );
    let sealed = SessionStore::new(
        p.file("sessions"),
        Some(SecretString::from("added later".to_owned())),
    );
    assert_eq!(sealed.is_sealed("acc1").unwrap(), Some(true));
    let back = sealed.load("acc1").unwrap().unwrap();
    assert_eq!(back.identity, session.identity, "the session is kept");
    let (_, out) = p.run(&["check", "--no-metrics"]);
    assert!(!out.contains("is not encrypted"), "{out}");
    assert!(out.contains("✓ account acc1: session readable"), "{out}");
    let (code, out) = p.run(&["accounts", "seal", "acc1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("acc1: already encrypted"), "{out}");
}

#[test]
fn f34_check_warns_of_a_chat_window_inside_quiet_hours() {
    let p = Project::new();
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).unwrap();
    let toml = toml
        .replacen(
            "    \"@price_chat_one\",\n",
            "    { chat = \"@price_chat_one\", hours = \"1-6\" },\n",
            1,
        )
        .replacen(
            "    \"@price_chat_two\",\n",
            "    { chat = \"@price_chat_two\", hours = \"5-9\" },\n",
            1,
        );
    std::fs::write(p.file("sendmessagebot.toml"), &toml).unwrap();
    let line = toml
        .lines()
        .position(|l| l.contains("hours = \"1-6\""))
        .unwrap()
        + 1;
    let out = p
        .cmd(&["check", "--sandbox", "--no-metrics"])
        .env("ENABLE_QUIET_HOURS", "true")
        .env("QUIET_HOUR_START", "0")
        .env("QUIET_HOUR_END", "7")
        .env("ENABLE_SCHEDULING", "true")
        .env("START_TIME_HOUR", "6")
        .output()
        .unwrap();
    let out = text(&out);
    let warning = out
        .lines()
        .find(|l| l.contains("@price_chat_one: its window"))
        .unwrap_or_else(|| panic!("no warning: {out}"));
    assert!(
        warning.starts_with(&format!("! sendmessagebot.toml:{line}: @price_chat_one: its window hours = \"1-6\" lies wholly inside the hours "))
            && warning.contains("(quiet hours 0-7, sending starts at 6:00 (START_TIME_HOUR)): the chat is never posted to")
            && ["b2b", "aaa", "b2c", "gus"].iter().all(|b| warning.contains(b)),
        "{warning}"
    );
    // 7:00–9:00 is open: no warning for @price_chat_two; and none without quiet hours.
    assert!(!out.contains("@price_chat_two: its window"), "{out}");
    let (_, out) = p.run(&["check", "--sandbox", "--no-metrics"]);
    assert!(!out.contains("its window"), "{out}");
}
