//! `migrate DIR` end to end with the real binary: a Python-original directory holding a real
//! Telethon SQLite session (Telethon's schema) whose login points at the MTProto test server
//! becomes our (encrypted) session file and peer cache; `accounts check` then says the account
//! is logged in, and `run --once` reaches every numeric target without a dialogs scan.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{API_HASH, hex, text};
use smb_mtproto_testserver::{ChatKind, ChatSpec, DC_ID, Fixture, TestServer, UserSpec};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

const PASSPHRASE: &str = "migrate-PASSPHRASE-secret";
const ACC1: i64 = 1001;

const SUPERS: [i64; 3] = [-1_001_000_000_001, -1_001_000_000_002, -1_001_000_000_003];
const CHANNEL: i64 = -1_002_000_000_001;
const GROUP: i64 = -4001;

fn fixture() -> Fixture {
    let mut f = Fixture::default().user(UserSpec::new(ACC1, "Seller One").phone("+15550001"));
    for (i, id) in SUPERS.iter().enumerate() {
        let mut c =
            ChatSpec::new(*id, &format!("Market {i}"), ChatKind::Supergroup).members(&[ACC1]);
        if i == 0 {
            c = c.username("market_0");
        }
        f = f.chat(c);
    }
    f.chat(
        ChatSpec::new(CHANNEL, "News", ChatKind::Channel)
            .members(&[ACC1])
            .admins(&[ACC1]),
    )
    .chat(ChatSpec::new(GROUP, "Group", ChatKind::Group).members(&[ACC1]))
}

/// Writes a session file the way Telethon 1.x does (schema version 7, rollback journal).
async fn telethon_session(
    path: &Path,
    addr: &str,
    port: u16,
    key: &[u8],
    entities: &[(i64, i64, Option<&str>)],
) {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let mut c = SqliteConnection::connect_with(&opts)
        .await
        .expect("create session");
    for sql in [
        "create table version (version integer primary key)",
        "insert into version values (7)",
        "create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)",
        "create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)",
        "create table sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, primary key(md5_digest, file_size, type))",
        "create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer)",
    ] {
        sqlx::query(sql).execute(&mut c).await.expect("schema");
    }
    sqlx::query("insert or replace into sessions values (?,?,?,?,?)")
        .bind(i64::from(DC_ID))
        .bind(addr)
        .bind(i64::from(port))
        .bind(key)
        .bind(None::<i64>)
        .execute(&mut c)
        .await
        .expect("session row");
    for (id, hash, username) in entities {
        sqlx::query("insert or replace into entities values (?,?,?,?,?,?)")
            .bind(id)
            .bind(hash)
            .bind(username)
            .bind(None::<i64>)
            .bind("Чат")
            .bind(1_700_000_000i64)
            .execute(&mut c)
            .await
            .expect("entity row");
    }
    c.close().await.expect("close");
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let meta = std::fs::metadata(&p).expect("metadata");
                let bytes = std::fs::read(&p).expect("read");
                out.insert(p, (bytes, meta.modified().expect("mtime")));
            }
        }
    }
    out
}

fn command(work: &Path, args: &[&str]) -> Output {
    common::command(work, args)
        .env("SESSION_PASSPHRASE", PASSPHRASE)
        .env_remove("API_ID")
        .env_remove("API_HASH")
        .env_remove("SESSIONS_DIR")
        .output()
        .expect("run sendmessagebot")
}

#[test]
fn a_migrated_telethon_login_is_logged_in_and_sends_without_a_dialogs_scan() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(TestServer::start(fixture()))
        .expect("test server");
    let SocketAddr::V4(addr) = server.addr() else {
        panic!("the test server listens on 127.0.0.1");
    };
    let key = server.auth_key(ACC1).expect("fixture user has a key");

    // The Python original: targets, messages, .env, and Telethon sessions.
    let legacy = tempfile::tempdir().expect("tempdir");
    let l = legacy.path();
    std::fs::create_dir_all(l.join("config")).expect("config dir");
    std::fs::create_dir_all(l.join("sessions")).expect("sessions dir");
    let targets: Vec<i64> = SUPERS.iter().copied().chain([CHANNEL, GROUP]).collect();
    let listed: Vec<String> = targets.iter().map(|t| format!("    {t},  # чат")).collect();
    std::fs::write(
        l.join("config/targets.py"),
        format!("TARGETS = [\n{}\n]\n", listed.join("\n")),
    )
    .expect("targets.py");
    std::fs::write(
        l.join("config/messages.py"),
        "MESSAGES_B2B = [\n    'Оптовый прайс: iPhone 16 — 71 000 ₽',\n]\n",
    )
    .expect("messages.py");
    std::fs::write(
        l.join(".env"),
        format!(
            "API_ID=12345\nAPI_HASH={API_HASH}\nDELAY_BETWEEN_CHATS=20ms\nCYCLE_DELAY=1h\n\
             ENABLE_SCHEDULING=false\nENABLE_QUIET_HOURS=false\n"
        ),
    )
    .expect(".env");
    // Telethon's entity cache: every chat with its access hash (basic groups have none), the
    // account itself (a user: not a chat) and a `min` channel without a hash.
    let mut entities: Vec<(i64, i64, Option<&str>)> = SUPERS
        .iter()
        .chain([&CHANNEL])
        .map(|id| (*id, server.access_hash(*id).expect("chat hash"), None))
        .collect();
    entities[0].2 = Some("Market_0");
    entities.push((GROUP, 0, None));
    entities.push((ACC1, 424242, Some("seller_one")));
    entities.push((-1_009_999_999_999, 0, None));
    rt.block_on(telethon_session(
        &l.join("sessions/acc1.session"),
        &addr.ip().to_string(),
        addr.port(),
        &key,
        &entities,
    ));
    // A login on an IPv6 data centre address: reported, not migrated.
    rt.block_on(telethon_session(
        &l.join("sessions/acc2.session"),
        "2001:67c:4e8:f002::a",
        443,
        &[7u8; 256],
        &[],
    ));
    let before = snapshot(l);

    let workdir = tempfile::tempdir().expect("workdir");
    let w = workdir.path();
    let dir = l.to_str().expect("utf-8 path");

    // --dry-run: the plan, nothing written.
    let out = command(w, &["migrate", dir, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("sessions/acc1.session (encrypted) and acc1.peers.json (5 chats cached"),
        "{shown}"
    );
    assert!(
        shown.contains("not migrated: IPv6 DC address") && shown.contains("accounts login acc2"),
        "{shown}"
    );
    assert!(
        std::fs::read_dir(w).expect("workdir").next().is_none(),
        "dry run wrote something"
    );

    // The migration.
    let out = command(w, &["migrate", dir]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("acc1.session (encrypted)"), "{shown}");
    assert!(
        shown.contains("session acc2: not migrated: IPv6 DC address (2001:67c:4e8:f002::a)"),
        "{shown}"
    );
    assert!(
        !shown.contains(&hex(&key[..16])),
        "the auth key was printed"
    );
    let sealed = std::fs::read(w.join("sessions/acc1.session")).expect("session written");
    assert_eq!(&sealed[..8], b"SMBSESS\0");
    assert_eq!(
        sealed[9], 1,
        "the session is sealed under SESSION_PASSPHRASE"
    );
    assert!(!w.join("sessions/acc2.session").exists());
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.join("sessions/acc1.peers.json")).expect("peer cache written"),
    )
    .expect("peer cache JSON");
    assert_eq!(
        cache["chats"].as_object().map(|c| c.len()),
        Some(5),
        "{cache}"
    );
    assert_eq!(cache["usernames"]["market_0"], SUPERS[0], "{cache}");
    assert_eq!(before, snapshot(l), "the original directory was modified");

    // A second migration does not replace the session without --force.
    std::fs::remove_file(w.join("sendmessagebot.toml")).expect("remove toml");
    std::fs::remove_file(w.join(".env")).expect("remove env");
    let out = command(w, &["migrate", dir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("acc1.session exists (an earlier login or migration); pass --force"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(w.join("sessions/acc1.session")).expect("session"),
        sealed,
        "the session was overwritten without --force"
    );

    // The migrated login is accepted by the server.
    let out = command(w, &["accounts", "check"]);
    let shown = text(&out);
    assert!(shown.contains("✓ acc1: "), "{shown}");
    assert!(shown.contains("Seller One"), "{shown}");
    assert!(shown.contains("✗ acc2: not logged in"), "{shown}");

    // Numeric targets resolve from the migrated peer cache: no dialogs scan.
    let out = command(w, &["run", "--once", "--ignore-quiet-hours"]);
    assert!(out.status.success(), "{}", text(&out));
    let ledger = server.ledger();
    let chats: BTreeSet<String> = ledger
        .iter()
        .filter(|e| e.account == ACC1)
        .map(|e| e.chat.clone())
        .collect();
    let want: BTreeSet<String> = targets.iter().map(i64::to_string).collect();
    assert_eq!(chats, want, "{}", text(&out));
    assert!(ledger.iter().all(|e| e.text.contains("Оптовый прайс")));
    assert_eq!(
        server.calls("messages.getDialogs"),
        0,
        "a dialogs scan happened"
    );
    assert_eq!(server.calls("contacts.resolveUsername"), 0);
    drop(server);
}

/// Finding (issue 19): `migrate` wrote `.env` (API_HASH) 0644, `sessions/` 0755 and
/// `NAME.peers.json` 0644. Every file holding a secret is 0600 in a 0700 directory.
#[cfg(unix)]
#[test]
fn migrate_writes_env_sessions_and_peers_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let legacy = tempfile::tempdir().expect("tempdir");
    let l = legacy.path();
    std::fs::create_dir_all(l.join("config")).expect("config dir");
    std::fs::create_dir_all(l.join("sessions")).expect("sessions dir");
    std::fs::write(l.join("config/targets.py"), "TARGETS = [-1001000000001]\n").expect("targets");
    std::fs::write(l.join("config/messages.py"), "MESSAGES_B2B = ['price']\n").expect("messages");
    std::fs::write(
        l.join(".env"),
        format!("API_ID=12345\nAPI_HASH={API_HASH}\n"),
    )
    .expect(".env");
    rt.block_on(telethon_session(
        &l.join("sessions/acc1.session"),
        "127.0.0.1",
        1,
        &[3u8; 256],
        &[(-1_001_000_000_001, 77, None)],
    ));
    let workdir = tempfile::tempdir().expect("workdir");
    let w = workdir.path();
    let out = command(w, &["migrate", l.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out));
    let mode = |p: &str| {
        std::fs::metadata(w.join(p))
            .map_or_else(|e| panic!("{p}: {e}"), |m| m.permissions().mode() & 0o777)
    };
    assert_eq!(mode(".env"), 0o600, ".env holds API_HASH");
    assert_eq!(mode("sessions"), 0o700);
    assert_eq!(mode("sessions/acc1.session"), 0o600);
    assert_eq!(mode("sessions/acc1.peers.json"), 0o600);
}
