//! Migration from a hand-made directory of the Python original with every construct the
//! importer reads, including Telethon session files written with Telethon's own schema.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smb_migrate::{self as legacy, LegacyError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

const TARGETS_PY: &str = r#""""Целевые чаты для рассылки."""
from typing import List

# Продакшн чаты
TARGETS: List[int] = [
    -1001234567890,  # Чат 1
    -1001234567891,  # Чат 2
    -100_123_456_789_2,
    '@price_chat',
]

TEST_TARGETS = [-1009999999999,]  # тест

NEW_TARGETS = [
    -1001234567890,  # Новый чат 1
    -1001234567890,  # дубль
]

TARGETS.extend([
    -1001234567893,
])

DYNAMIC_TARGETS = [get_id()]
"#;

const MESSAGES_PY: &str = r#"# Обновлено: 2025-01-15 12:30:00
MESSAGES_B2B = [
    "🍏 Оптовый прайс:\niPhone 16 — 71 000 ₽",
    """Опт от 5 штук:
MacBook Air M3 — 98 000 ₽""",
    "С \"кавычками\" и \\ слешем",
]

MESSAGES_B2C = [
    'Розница: iPhone 16 — '
    '74 990 ₽',
    'Скидка 5%\t на аксессуары',
]
"#;

const MESSAGES_AAA_PY: &str = "# Обновлено: 2025-01-16 09:00:00\nMESSAGES_AAA = [\n    'AAA Store: свежий прайс',\n    f'AAA: {price}',\n]\n";
const MESSAGES_GUS_PY: &str =
    "MESSAGES_GUS = [\n    \"Яблочный Гусь: новые поступления\",  # главное\n]\n";
const MESSAGES_NEW_PY: &str = "# Обновлено: 2025-01-XX XX:XX:XX\nMESSAGESNEW = [\n    \"Сообщение 1 для нового броудкастера\",\n    \"Сообщение 2 с прайсом товаров\",\n    # Добавьте больше сообщений...\n]\n";
const CHAT_IDS: &str = "# все чаты\n-1001234567890\n-1001111111111, -1002222222222\nне_чат!\n";
const ENV: &str = "API_ID=123456\nAPI_HASH=0123456789abcdef0123456789abcdef\n# Google\nBUY_SELL_PRICE_B2B_SHEET_URL=https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0\nBUY_SELL_PRICE_GUS_SHEET_URL=\nGOOGLE_CREDENTIALS_FILE=credentials.json\nGOOGLE_UPDATE_INTERVAL=3600\nDELAY_BETWEEN_CHATS=15  # сек\nREPORTS_TIMEZONE=\"Europe/Moscow\"\n";

/// Writes a session file the way Telethon 1.x does (schema version 7, rollback journal).
async fn telethon_session(
    path: &Path,
    dc: i64,
    addr: &str,
    port: i64,
    key: &[u8],
    peers: &[(i64, i64, Option<&str>)],
) {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let mut c = SqliteConnection::connect_with(&opts).await.unwrap();
    for sql in [
        "create table version (version integer primary key)",
        "insert into version values (7)",
        "create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)",
        "create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)",
        "create table sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, primary key(md5_digest, file_size, type))",
        "create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer)",
    ] {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
    sqlx::query("insert or replace into sessions values (?,?,?,?,?)")
        .bind(dc)
        .bind(addr)
        .bind(port)
        .bind(key)
        .bind(None::<i64>)
        .execute(&mut c)
        .await
        .unwrap();
    for (id, hash, username) in peers {
        sqlx::query("insert or replace into entities values (?,?,?,?,?,?)")
            .bind(id)
            .bind(hash)
            .bind(username)
            .bind(None::<i64>)
            .bind("Чат")
            .bind(1_700_000_000i64)
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}

fn key(seed: u8) -> Vec<u8> {
    (0..256u32)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let meta = std::fs::metadata(&p).unwrap();
                out.insert(
                    p.clone(),
                    (std::fs::read(&p).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    out
}

async fn legacy_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["config", "data", "sessions"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("config/targets.py"), TARGETS_PY).unwrap();
    std::fs::write(d.join("config/messages.py"), MESSAGES_PY).unwrap();
    std::fs::write(d.join("config/messages_aaa.py"), MESSAGES_AAA_PY).unwrap();
    std::fs::write(d.join("config/messages_gus.py"), MESSAGES_GUS_PY).unwrap();
    std::fs::write(d.join("config/messages_new.py"), MESSAGES_NEW_PY).unwrap();
    std::fs::write(
        d.join("config/settings.py"),
        "import os\nAPI_ID = int(os.getenv('API_ID'))\n",
    )
    .unwrap();
    std::fs::write(d.join("data/chat_ids.txt"), CHAT_IDS).unwrap();
    std::fs::write(d.join(".env"), ENV).unwrap();
    telethon_session(
        &d.join("sessions/acc1.session"),
        2,
        "149.154.167.51",
        443,
        &key(1),
        &[
            (-1001234567890, 7_001, Some("price_chat")),
            (-1001234567891, -8_002, None),
            (777, 9_003, Some("seller")),
        ],
    )
    .await;
    telethon_session(
        &d.join("sessions/acc2.session"),
        4,
        "2001:67c:4e8:f004::a",
        443,
        &key(2),
        &[],
    )
    .await;
    std::fs::write(d.join("sessions/broken.session"), "not sqlite at all").unwrap();
    dir
}

#[tokio::test]
async fn the_python_layout_is_imported_as_data_and_left_untouched() {
    let dir = legacy_dir().await;
    let before = snapshot(dir.path());
    let imp = legacy::import(dir.path()).await.unwrap();
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the import changed or created files"
    );

    // Targets.
    let lists: BTreeMap<&str, Vec<&str>> = imp
        .target_lists
        .iter()
        .map(|(k, v)| (k.as_str(), v.targets.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        lists["prod"],
        [
            "-1001234567890",
            "-1001234567891",
            "-1001234567892",
            "@price_chat",
            "-1001234567893"
        ]
    );
    assert_eq!(lists["test"], ["-1009999999999"]);
    assert_eq!(lists["new"], ["-1001234567890"]);
    assert_eq!(
        lists["chat_ids"],
        ["-1001234567890", "-1001111111111", "-1002222222222"]
    );
    assert!(!lists.contains_key("dynamic"), "{lists:?}");

    // Message sets.
    let b2b = &imp.message_sets["b2b"];
    assert_eq!(
        b2b.texts,
        [
            "🍏 Оптовый прайс:\niPhone 16 — 71 000 ₽",
            "Опт от 5 штук:\nMacBook Air M3 — 98 000 ₽",
            "С \"кавычками\" и \\ слешем"
        ]
    );
    assert_eq!(b2b.updated.as_deref(), Some("2025-01-15 12:30:00"));
    assert!(
        b2b.sheet_url
            .as_deref()
            .is_some_and(|u| u.contains("1AbCdEfGhIjKlMnOp"))
    );
    assert_eq!(
        imp.message_sets["b2c"].texts,
        ["Розница: iPhone 16 — 74 990 ₽", "Скидка 5%\t на аксессуары"]
    );
    assert_eq!(imp.message_sets["aaa"].texts, ["AAA Store: свежий прайс"]);
    assert_eq!(
        imp.message_sets["gus"].texts,
        ["Яблочный Гусь: новые поступления"]
    );
    assert!(
        imp.message_sets["gus"].sheet_url.is_none(),
        "an empty URL is no URL"
    );
    assert_eq!(imp.message_sets["new"].texts.len(), 2);

    // What could not be imported is named with file and line.
    let issues: Vec<String> = imp.issues.iter().map(|i| i.to_string()).collect();
    let has = |prefix: &str| issues.iter().any(|i| i.starts_with(prefix));
    assert!(has("config/targets.py:23:"), "{issues:#?}"); // DYNAMIC_TARGETS = [get_id()]
    assert!(has("config/targets.py:16:"), "{issues:#?}"); // the duplicate
    assert!(has("config/messages_aaa.py:4:"), "{issues:#?}"); // the f-string
    assert!(has("data/chat_ids.txt:4:"), "{issues:#?}");
    assert!(has("sessions/broken.session:"), "{issues:#?}");
    assert!(
        !issues.iter().any(|i| i.starts_with("config/settings.py")),
        "settings.py is not read: {issues:#?}"
    );

    // Sessions.
    assert_eq!(
        imp.sessions
            .iter()
            .map(|s| s.account.as_str())
            .collect::<Vec<_>>(),
        ["acc1", "acc2"]
    );
    let acc1 = &imp.sessions[0].session;
    assert_eq!(
        (acc1.dc_id, acc1.addr.as_str(), acc1.port),
        (2, "149.154.167.51", 443)
    );
    assert_eq!(acc1.auth_key.to_vec(), key(1));
    assert_eq!(
        acc1.peers,
        [
            (-1001234567891, -8_002, None),
            (-1001234567890, 7_001, Some("price_chat".into())),
            (777, 9_003, Some("seller".into()))
        ]
    );
    let debug = format!("{acc1:?}");
    assert!(
        debug.contains("redacted") && !debug.contains(&format!("{:?}", &key(1)[..8])),
        "{debug}"
    );
    assert_eq!(imp.sessions[1].session.addr, "2001:67c:4e8:f004::a");

    // The original's four broadcasters on its two accounts.
    assert_eq!(
        imp.broadcasters(),
        [
            ("b2b", "acc1"),
            ("aaa", "acc1"),
            ("b2c", "acc2"),
            ("gus", "acc2")
        ]
    );
    let toml = imp.render_toml("2026-01-01");
    for needle in [
        "[accounts.acc1]",
        "[accounts.acc2]",
        "[broadcasters.gus]\naccount = \"acc2\"",
        "[broadcasters.b2b]\naccount = \"acc1\"",
        "test_targets = \"test\"",
        "BUY_SELL_PRICE_B2B_SHEET_URL",
        "(updated 2025-01-15 12:30:00)",
    ] {
        assert!(toml.contains(needle), "{needle} missing from\n{toml}");
    }
    let env = imp.render_env("2026-01-01");
    assert!(env.contains("API_ID=123456"), "{env}");
    assert!(
        env.contains(&format!(
            "GOOGLE_CREDENTIALS_FILE={}",
            dir.path().join("credentials.json").display()
        )),
        "{env}"
    );
    assert!(env.contains("DELAY_BETWEEN_CHATS=15\n"), "{env}");
    let summary = imp.summary().join("\n");
    assert!(
        summary.contains("broadcasters: b2b on acc1, aaa on acc1, b2c on acc2, gus on acc2"),
        "{summary}"
    );
    assert!(
        summary.contains("set `new` has no broadcaster"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_directory_that_is_not_the_original_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = legacy::import(dir.path()).await.unwrap_err();
    assert!(matches!(err, LegacyError::NotLegacy { .. }), "{err:?}");
}

#[tokio::test]
async fn a_session_that_never_logged_in_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
    telethon_session(
        &dir.path().join("sessions/acc3.session"),
        2,
        "149.154.167.51",
        443,
        &[],
        &[],
    )
    .await;
    let imp = legacy::import(dir.path()).await.unwrap();
    assert!(imp.sessions.is_empty());
    assert!(
        imp.issues[0].to_string().contains("not logged in"),
        "{:?}",
        imp.issues
    );
}

/// QA3 finding F9: the original's single-account layout (`SESSION_NAME=session`,
/// `sessions/session.session`) puts every broadcaster on that account, not on acc1/acc2 that
/// have no session.
#[tokio::test]
async fn f9_a_single_account_original_puts_every_broadcaster_on_its_account() {
    let dir = legacy_dir().await;
    let d = dir.path();
    for f in ["acc1.session", "acc2.session", "broken.session"] {
        std::fs::remove_file(d.join("sessions").join(f)).unwrap();
    }
    std::fs::write(d.join(".env"), format!("{ENV}SESSION_NAME=session\n")).unwrap();
    telethon_session(
        &d.join("sessions/session.session"),
        2,
        "149.154.167.51",
        443,
        &key(3),
        &[],
    )
    .await;
    let imp = legacy::import(d).await.unwrap();
    assert_eq!(imp.single_account(), Some("session"));
    assert_eq!(
        imp.broadcasters(),
        [
            ("b2b", "session"),
            ("aaa", "session"),
            ("b2c", "session"),
            ("gus", "session")
        ]
    );
    assert_eq!(imp.accounts(), ["session"]);
    let toml = imp.render_toml("2026-01-01");
    assert!(
        toml.contains("[accounts.session]")
            && !toml.contains("[accounts.acc1]")
            && !toml.contains("[accounts.acc2]")
            && toml.matches("account = \"session\"").count() == 4,
        "{toml}"
    );
    let summary = imp.summary().join("\n");
    assert!(!summary.contains("has no session file"), "{summary}");
    assert!(
        summary.contains("b2b on session, aaa on session, b2c on session, gus on session"),
        "{summary}"
    );

    // One of the original's own accounts alone keeps the two-account mapping.
    std::fs::rename(
        d.join("sessions/session.session"),
        d.join("sessions/acc1.session"),
    )
    .unwrap();
    let imp = legacy::import(d).await.unwrap();
    assert_eq!(imp.single_account(), None);
    assert_eq!(imp.broadcasters()[2], ("b2c", "acc2"));
}
