//! Issue 15's albums through the real binary: `media = ["a.jpg", "b.jpg", …]` sent through
//! grammers against the MTProto test server as one messages.sendMultiMedia (one grouped post,
//! the caption on the first item), uploads kept in the store's uploads table and re-used after
//! a restart (`TestServer::uploaded_files` counts what was uploaded), a re-use Telegram refuses
//! (FILE_REFERENCE_EXPIRED) uploaded again, `kill -9` during album sends without a duplicate
//! album, `replace` deleting every item of the previous album, the sandbox's ledger, and the
//! configuration's refusals as a user would write them.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::text;
use rand::{Rng, SeedableRng};
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, MessageState, UserSpec};

const ACC1: i64 = 1001;
const SUPERGROUP: i64 = -1_001_000_000_001;
const GROUP: i64 = -4001;

type World = common::server::ServerWorld;

fn fixture() -> Fixture {
    Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"))
        .chat(ChatSpec::new(SUPERGROUP, "Market 1", ChatKind::Supergroup).members(&[ACC1]))
        .chat(ChatSpec::new(GROUP, "Group 1", ChatKind::Group).members(&[ACC1]))
}

/// Writes `names` into the world's directory, each with different bytes (an upload each).
fn files(w: &World, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let bytes: Vec<u8> = format!("{name}: file {i} of the price list ")
            .bytes()
            .cycle()
            .take(3000 + i * 100)
            .collect();
        std::fs::write(w.path().join(name), bytes).unwrap();
    }
}

/// One broadcaster `b` posting set `m` (`media` as written) into both chats, plus `extra`.
fn config(media: &str, mode: &str, delay: &str, extra: &str) -> String {
    format!(
        r#"
[settings]
preflight_every = "0s"
delay_between_chats = "{delay}"
cycle_delay = "30ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[accounts.acc1]
[targets]
t = ["{SUPERGROUP}", "{GROUP}"]
[messages.m]
texts = ["Price list **today**", "Price list tomorrow"]
format = "markdown"
media = {media}
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
post_mode = "{mode}"
{extra}
"#
    )
}

fn world(media: &str, mode: &str, names: &[&str]) -> World {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    files(&w, names);
    w.config(&config(media, mode, "15ms", ""));
    w
}

fn run_once(w: &World) {
    let out = w.run(&["run", "--once", "--no-metrics", "--ignore-quiet-hours"]);
    assert!(out.status.success(), "run --once failed: {}", text(&out));
}

/// Our live posts in `chat`, grouped by album (`grouped_id`; a post without one is its own).
fn albums(w: &World, chat: i64) -> BTreeMap<i64, Vec<MessageState>> {
    let mut by_group: BTreeMap<i64, Vec<MessageState>> = BTreeMap::new();
    for m in w.server.messages(chat) {
        if m.account == ACC1 && m.is_live() {
            let key = m.grouped_id.unwrap_or(-i64::from(m.id));
            by_group.entry(key).or_default().push(m);
        }
    }
    for items in by_group.values_mut() {
        items.sort_by_key(|m| m.id);
    }
    by_group
}

/// A count read from the world's journal.
fn journal(w: &World, sql: &str) -> i64 {
    let db = w.path().join("data/sendmessagebot.db");
    w.rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open the journal");
        let v: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&pool)
            .await
            .expect("query");
        pool.close().await;
        v
    })
}

#[test]
fn an_album_arrives_as_one_grouped_post_with_every_item_and_the_caption_on_the_first() {
    let names = ["a.jpg", "b.png", "c.jpeg"];
    let w = world(r#"["a.jpg", "b.png", "c.jpeg"]"#, "new", &names);
    run_once(&w);
    for chat in [SUPERGROUP, GROUP] {
        let albums = albums(&w, chat);
        assert_eq!(albums.len(), 1, "chat {chat}: one post: {albums:?}");
        let (group, items) = albums.into_iter().next().unwrap();
        assert!(group > 0, "chat {chat}: the items share a grouped_id");
        assert_eq!(items.len(), 3, "chat {chat}: every item: {items:?}");
        // The caption (formatted: markdown's ** became an entity) on the first item only.
        assert_eq!(items[0].text, "Price list today", "chat {chat}");
        assert_eq!(
            items[0].entities.len(),
            1,
            "chat {chat}: {:?}",
            items[0].entities
        );
        assert!(
            items[1..].iter().all(|m| m.text.is_empty()),
            "chat {chat}: {items:?}"
        );
        let media: std::collections::BTreeSet<_> = items.iter().map(|m| m.media).collect();
        assert_eq!(
            media.len(),
            3,
            "chat {chat}: three different files: {items:?}"
        );
        assert!(media.iter().all(Option::is_some), "chat {chat}");
    }
    // One messages.sendMultiMedia per chat; each file uploaded once for both chats.
    assert_eq!(w.server.calls("messages.sendMultiMedia"), 2);
    assert_eq!(w.server.uploaded_files(), 3);
    let stored: i64 = journal(&w, "SELECT COUNT(*) FROM uploads WHERE account = 'acc1'");
    assert_eq!(stored, 3, "the uploads table keeps each file once");
}

#[test]
fn a_restart_reuses_the_uploads_and_a_refused_reuse_uploads_once_more() {
    // An album and, from a second set, a single document: both kinds of send re-use.
    let names = ["a.jpg", "b.jpg", "price.pdf"];
    let w = world(r#"["a.jpg", "b.jpg"]"#, "new", &names);
    let extra = r#"
[messages.doc]
texts = ["The PDF"]
media = "price.pdf"
[broadcasters.d]
account = "acc1"
targets = "t"
messages = "doc"
"#;
    w.config(&format!(
        "{}{extra}",
        config(r#"["a.jpg", "b.jpg"]"#, "new", "15ms", "")
    ));
    run_once(&w);
    assert_eq!(w.server.uploaded_files(), 3, "each file uploaded once");
    // A new process: nothing in memory, the store's uploads table names the files.
    run_once(&w);
    assert_eq!(
        w.server.uploaded_files(),
        3,
        "a restart uploads nothing again"
    );
    for chat in [SUPERGROUP, GROUP] {
        let albums = albums(&w, chat);
        let grouped = albums.values().filter(|i| i.len() == 2).count();
        assert_eq!(grouped, 2, "chat {chat}: two albums of two: {albums:?}");
        let singles = albums.values().filter(|i| i.len() == 1).count();
        assert_eq!(singles, 2, "chat {chat}: two documents: {albums:?}");
    }
    // Telegram's file references went stale: the re-use is refused (FILE_REFERENCE_EXPIRED),
    // the row dropped and each file uploaded once more; the posts still go out.
    w.server.expire_file_references();
    run_once(&w);
    assert_eq!(w.server.uploaded_files(), 6, "each file uploaded once more");
    for chat in [SUPERGROUP, GROUP] {
        let albums = albums(&w, chat);
        assert_eq!(
            albums.values().filter(|i| i.len() == 2).count(),
            3,
            "chat {chat}"
        );
        assert_eq!(
            albums.values().filter(|i| i.len() == 1).count(),
            3,
            "chat {chat}"
        );
    }
    // The fresh references were kept: the next start re-uses them.
    run_once(&w);
    assert_eq!(w.server.uploaded_files(), 6, "the new uploads were kept");
    let stored: i64 = journal(&w, "SELECT COUNT(*) FROM uploads");
    assert_eq!(stored, 3);
}

#[test]
fn replace_deletes_every_item_of_the_previous_album() {
    let names = ["a.jpg", "b.jpg", "c.jpg"];
    let w = world(r#"["a.jpg", "b.jpg", "c.jpg"]"#, "replace", &names);
    for cycle in 0..3 {
        run_once(&w);
        for chat in [SUPERGROUP, GROUP] {
            let albums = albums(&w, chat);
            assert_eq!(albums.len(), 1, "cycle {cycle}, chat {chat}: {albums:?}");
            let items = albums.values().next().unwrap();
            assert_eq!(items.len(), 3, "cycle {cycle}, chat {chat}: {items:?}");
        }
    }
    for chat in [SUPERGROUP, GROUP] {
        let deleted = w
            .server
            .messages(chat)
            .into_iter()
            .filter(|m| m.account == ACC1 && m.deleted_by == Some(ACC1))
            .count();
        assert_eq!(deleted, 6, "chat {chat}: two albums of three deleted by us");
    }
}

#[test]
fn kill_9_during_album_sends_then_a_restart_leaves_no_duplicate_album() {
    let names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"];
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    files(&w, &names);
    w.config(&config(
        r#"["a.jpg", "b.jpg", "c.jpg", "d.jpg"]"#,
        "new",
        "40ms",
        "",
    ));
    // Telegram takes each album at once and answers 300 ms later: a kill in that time leaves
    // the delivery pending although the album is in the chat, so the restart re-sends it.
    w.server.add_fault(FaultRule {
        method: Some("messages.sendMultiMedia".into()),
        delay_ms: 300,
        ..FaultRule::default()
    });
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills = 24;
    for _ in 0..kills {
        let mut cmd = w.command(&["run", "--no-metrics", "--ignore-quiet-hours"]);
        cmd.env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child: Child = cmd.spawn().expect("start sendmessagebot");
        // Dying at an arbitrary moment is the point: this wait is the input, not a sync.
        std::thread::sleep(Duration::from_millis(rng.random_range(150..1500)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    run_once(&w);
    let duplicates = w.server.duplicates();
    for chat in [SUPERGROUP, GROUP] {
        let albums = albums(&w, chat);
        // Every album whole: a re-send after a kill offered the same random_ids and Telegram
        // dropped it, so no album is there twice (one per sent delivery).
        assert!(
            albums.values().all(|items| items.len() == 4),
            "chat {chat}: {albums:?}"
        );
        let sent: i64 = journal(
            &w,
            &format!("SELECT COUNT(*) FROM deliveries WHERE target = '{chat}' AND status = 'sent'"),
        );
        assert_eq!(
            albums.len() as i64,
            sent,
            "chat {chat}: one album per sent delivery (duplicates dropped: {duplicates})"
        );
        assert!(sent > 0, "chat {chat}");
    }
    assert_eq!(
        journal(
            &w,
            "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
        ),
        0
    );
    // The kills did land between Telegram taking an album and its answer: re-sent albums were
    // dropped by their random_ids, not posted twice.
    assert!(
        duplicates > 0,
        "no kill hit an album in flight (CRASH_SEED={seed})"
    );
    eprintln!("{kills} kills, {duplicates} re-sends dropped by random_id");
}

#[test]
fn the_sandbox_ledger_shows_the_album_as_one_post_with_every_item() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.pdf", "b.xlsx"] {
        std::fs::write(dir.path().join(name), name.repeat(50)).unwrap();
    }
    std::fs::write(
        dir.path().join("sendmessagebot.toml"),
        r#"[settings]
delay_between_chats = "10ms"
cycle_delay = "10ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[sandbox]
latency_ms = 0
[accounts.acc1]
[targets]
t = ["@shop_chat"]
[messages.m]
texts = ["Catalogue"]
media = ["a.pdf", "b.xlsx"]
[broadcasters.b]
account = "acc1"
targets = "t"
messages = "m"
"#,
    )
    .unwrap();
    let out = common::command(
        dir.path(),
        &[
            "run",
            "--sandbox",
            "--once",
            "--no-metrics",
            "--no-web",
            "--ignore-quiet-hours",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let ledger = std::fs::read_to_string(dir.path().join("data/sandbox/ledger.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = ledger
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{ledger}");
    let group = &lines[0]["grouped_id"];
    assert!(group.is_i64(), "{ledger}");
    assert_eq!(&lines[1]["grouped_id"], group, "{ledger}");
    assert_eq!(lines[0]["media"], "a.pdf");
    assert_eq!(lines[1]["media"], "b.xlsx");
    assert_eq!(lines[0]["text"], "Catalogue");
    assert_eq!(lines[1]["text"], "");
}

/// `check` on a user's file with an album: the error, then `check` passes once fixed.
fn check(dir: &std::path::Path, toml: &str) -> (i32, String) {
    std::fs::write(dir.join("sendmessagebot.toml"), toml).unwrap();
    let out = common::command(dir, &["check", "--sandbox"])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

const USER_TOML: &str = r#"[settings]
delay_between_chats = 15

[accounts.acc1]

[targets]
prod = ["-1001234567890", "@shop_chat"]

[messages.catalogue]
texts = ["Новый прайс: фото товаров ниже"]
media = MEDIA

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "catalogue"
"#;

#[test]
fn album_settings_are_checked_with_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let photos: Vec<String> = (1..=11).map(|i| format!("photo{i}.jpg")).collect();
    for p in &photos {
        std::fs::write(dir.path().join(p), p.as_bytes()).unwrap();
    }
    std::fs::write(dir.path().join("price.pdf"), b"%PDF").unwrap();
    let list = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let all: Vec<&str> = photos.iter().map(String::as_str).collect();

    // Eleven photos: Telegram's album takes ten.
    let (code, out) = check(dir.path(), &USER_TOML.replace("MEDIA", &list(&all)));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:11: messages.catalogue.media[11]")
            && out.contains("11 files: Telegram takes at most 10 in one album")
            && out.contains("MULTI_MEDIA_TOO_LONG"),
        "{out}"
    );

    // A photo and a document: Telegram groups only the same kind.
    let (code, out) = check(
        dir.path(),
        &USER_TOML.replace("MEDIA", &list(&["photo1.jpg", "photo2.jpg", "price.pdf"])),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("messages.catalogue.media[3]")
            && out.contains("`price.pdf` is a document and `photo1.jpg` (the first file) a photo")
            && out.contains("two message sets"),
        "{out}"
    );

    // A missing file in the list, written one a line: its own line and index.
    let (code, out) = check(
        dir.path(),
        &USER_TOML.replace(
            "MEDIA",
            "[\n  \"photo1.jpg\",\n  \"photo2.jpg\",\n  \"photo12.jpg\",\n]",
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:14: messages.catalogue.media[3]: `photo12.jpg`")
            && out.contains("no such file"),
        "{out}"
    );

    // An empty list.
    let (code, out) = check(dir.path(), &USER_TOML.replace("MEDIA", "[]"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:11: messages.catalogue.media")
            && out.contains("an empty list"),
        "{out}"
    );

    // The caption limit: an album's text is a caption (1024).
    let long = "я".repeat(1100);
    let (code, out) = check(
        dir.path(),
        &USER_TOML
            .replace("MEDIA", &list(&["photo1.jpg", "photo2.jpg"]))
            .replace("Новый прайс: фото товаров ниже", &long),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1024"), "{out}");

    // Ten photos pass, and so do two documents.
    let (code, out) = check(dir.path(), &USER_TOML.replace("MEDIA", &list(&all[..10])));
    assert_eq!(code, 0, "{out}");
    std::fs::write(dir.path().join("terms.pdf"), b"%PDF").unwrap();
    let (code, out) = check(
        dir.path(),
        &USER_TOML.replace("MEDIA", &list(&["price.pdf", "terms.pdf"])),
    );
    assert_eq!(code, 0, "{out}");
}
