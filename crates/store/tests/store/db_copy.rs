//! `db copy` (issue 16 part 4): SQLite → PostgreSQL → SQLite leaves identical data, a second
//! copy is a no-op, a destination holding other rows is refused and left as it was, the same
//! database or a missing source is refused, and no error shows a password. The SQLite-only
//! cases run everywhere; the PostgreSQL ones need `SMB_TEST_POSTGRES_URL` (see postgres.rs).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::PauseKind;
use smb_engine::{DeliveryKey, Outcome, PostReach, Store, StoreError, StoredRefusal};
use smb_store::copy::{CopyReport, copy};
use smb_store::{Journal, PgSettings, PgStore, SqliteSettings, SqliteStore};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use super::postgres::{fresh_database, server_url};
use super::store_story::{pending, story};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn lite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}/{name}", dir.display())
}

/// A SQLite journal with rows in every table: the store story, plus a variant post with its
/// reach, an upgraded group, a chat hold, a refusal, an absurd pause (i64::MAX seconds),
/// non-ASCII text, and rows for the tables the CLI writes (message sets, web lists, switches).
async fn filled(url: &str) {
    let s = SqliteStore::open(url, SqliteSettings::default())
        .await
        .unwrap();
    story(&s).await;
    let t0 = ts("2026-05-01T10:00:00Z");
    s.start_cycle("ab", 1, "Цена «A» 🚀", t0).await.unwrap();
    let mut p = pending("ab", 1, "@shop_ab", -9_000_000_000_000, t0);
    p.variant = Some(Arc::from("A"));
    p.message = Arc::from("Цена «A» 🚀\nс новой строкой");
    s.write_pending(&p).await.unwrap();
    s.record_outcome(
        &p.key,
        &Outcome::Sent {
            message_id: Some(i64::MAX),
        },
        t0,
    )
    .await
    .unwrap();
    s.flush().await.unwrap();
    let reach = PostReach {
        message_id: i64::MAX,
        views: Some(1200),
        forwards: None,
        reactions: 7,
        replies: 0,
        gone: false,
    };
    let key = DeliveryKey {
        broadcaster: "ab".into(),
        cycle: 1,
        target: p.key.target.clone(),
    };
    assert!(s.record_reach(&key, &reach, t0).await.unwrap());
    s.record_migration("-4001", "-1001000000200", "acc1", t0)
        .await
        .unwrap();
    s.record_chat_hold("@slow", "slow_mode", ts("2026-05-01T11:00:00Z"), t0)
        .await
        .unwrap();
    s.record_refusal(&StoredRefusal {
        account: "acc2".into(),
        target: "@closed".into(),
        code: "CHAT_WRITE_FORBIDDEN".into(),
        reason: "may not write".into(),
        until: ts("2026-06-01T00:00:00Z"),
        at: t0,
    })
    .await
    .unwrap();
    s.record_pause(
        "acc3",
        None,
        PauseKind::FloodWait,
        Duration::MAX,
        ts("2026-05-02T00:00:00Z"),
        t0,
    )
    .await
    .unwrap();
    // Follow-ups (issue 15): a post record (born done), a refused delete (with its error
    // code) and a pending pin (NULL result).
    let follow = |action, message_id| smb_engine::FollowUp {
        broadcaster: "ab".into(),
        cycle: 1,
        target: "@shop_ab".into(),
        account: "acc1".into(),
        action,
        message_id,
        album: Vec::new(),
    };
    let (mut post, pin, delete) = (
        follow(smb_engine::FollowUpAction::Post, i64::MAX),
        follow(smb_engine::FollowUpAction::Pin, i64::MAX),
        follow(smb_engine::FollowUpAction::Delete, 5),
    );
    // An album's post record: its other items (migration 0015's `album_ids`).
    post.album = vec![i64::MIN, -1, 42];
    s.write_follow_ups(&[post, pin, delete.clone()], t0)
        .await
        .unwrap();
    s.record_follow_up(
        &delete,
        &smb_engine::FollowUpResult::Refused {
            code: "MESSAGE_DELETE_FORBIDDEN".into(),
        },
        t0,
    )
    .await
    .unwrap();
    // Issue 15's uploads table: a photo with Telegram's reference bytes (0x00 and 0xff too).
    smb_engine::Uploads::remember_upload(
        &s,
        "acc1",
        &"ab".repeat(32),
        &smb_engine::StoredUpload {
            document: false,
            id: i64::MAX,
            access_hash: i64::MIN,
            file_reference: vec![0, 1, 0xfe, 0xff],
        },
        t0,
    )
    .await
    .unwrap();
    // Issue 15's survival check: one of our posts removed by the chat's admins.
    s.record_post_check(&smb_engine::PostCheck {
        broadcaster: "b2b".into(),
        target: "@выход".into(),
        message_id: 7,
        removed: true,
        flag_after: 1,
        at: t0,
    })
    .await
    .unwrap();
    s.close().await.unwrap();
    let mut c = SqliteConnection::connect(url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO message_set_versions (set_name, version, texts, created_at, summary, source)
             VALUES ('prices', 1, '[{\"text\":\"a\",\"active\":true,\"priority\":5},{\"text\":\"б\",\"active\":false,\"priority\":1}]', 1, 'first', 'cli'),
                    ('prices', 2, '[{\"text\":\"a 🚀\",\"active\":true,\"priority\":5,\"variant\":\"A\"}]', 2, '', 'web');
         INSERT INTO web_targets (list, target, raw, added_at)
             VALUES ('main', '@shop', 'https://t.me/shop', 5);
         INSERT INTO target_switch (broadcaster, mode, since) VALUES ('b2b', 'test', 6);
         INSERT INTO leases (account, holder, epoch, expires_at) VALUES ('acc1', 'host-7', 3, 9),
             ('acc2', NULL, 1, 0);
         INSERT INTO servers (server_id, started_at, heartbeat_at) VALUES ('host-7', 1, 8);",
    )
    .execute(&mut c)
    .await
    .unwrap();
}

/// Every table of a SQLite database as sorted JSON rows (types kept: 1 and "1" differ).
async fn dump(url: &str) -> BTreeMap<String, Vec<String>> {
    let mut c = SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let cols: Vec<String> =
            sqlx::query_scalar("SELECT '\"' || name || '\"' FROM pragma_table_info(?)")
                .bind(&table)
                .fetch_all(&mut c)
                .await
                .unwrap();
        let mut rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT json_array({}) FROM \"{table}\"",
            cols.join(", ")
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// A broadcaster's last cycle as text, its deliveries in target order.
async fn cycle_of(s: &dyn Store, broadcaster: &str) -> String {
    let mut c = s.last_cycle(broadcaster).await.unwrap();
    if let Some(c) = c.as_mut() {
        c.deliveries.sort_by(|x, y| x.target.cmp(&y.target));
    }
    format!("{c:?}")
}

/// The stored accounts as text, by name.
async fn accounts_of(s: &dyn Store) -> BTreeMap<String, String> {
    s.accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, format!("{v:?}")))
        .collect()
}

fn rows_of(report: &CopyReport) -> BTreeMap<&str, u64> {
    report
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows))
        .collect()
}

#[tokio::test]
async fn sqlite_to_sqlite_copies_every_table_once_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (lite_url(dir.path(), "a.db"), lite_url(dir.path(), "b.db"));
    filled(&a).await;
    let report = copy(&a, &b).await.unwrap();
    assert!(report.copied);
    let source = dump(&a).await;
    assert_eq!(dump(&b).await, source, "the copy holds the same rows");
    assert_eq!(report.tables.len(), source.len(), "every table reported");
    for (table, rows) in &source {
        assert!(
            !rows.is_empty(),
            "{table} was filled, so the test covers it"
        );
        assert_eq!(
            rows_of(&report)[table.as_str()],
            rows.len() as u64,
            "{table}"
        );
    }
    assert!(
        report.tables.iter().all(|t| t.checksum.len() == 32),
        "{report:?}"
    );
    // Again: the destination already holds exactly these rows; nothing is written.
    let again = copy(&a, &b).await.unwrap();
    assert!(!again.copied);
    assert_eq!(again.tables, report.tables);
    assert_eq!(dump(&b).await, source);
}

#[tokio::test]
async fn a_destination_with_other_rows_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (lite_url(dir.path(), "a.db"), lite_url(dir.path(), "b.db"));
    filled(&a).await;
    let other = SqliteStore::open(&b, SqliteSettings::default())
        .await
        .unwrap();
    other
        .set_target_status("@mine", &smb_engine::TargetStatus::Active)
        .await
        .unwrap();
    other.close().await.unwrap();
    let before = dump(&b).await;
    let err = copy(&a, &b).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("targets (1 rows)"), "{text}");
    assert!(text.contains("empty database"), "{text}");
    assert_eq!(dump(&b).await, before, "nothing written");
}

#[tokio::test]
async fn the_same_database_or_a_missing_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = lite_url(dir.path(), "a.db");
    filled(&a).await;
    let err = copy(&a, &a).await.unwrap_err().to_string();
    assert!(err.contains("the same database"), "{err}");
    let missing = lite_url(dir.path(), "missing.db");
    let err = copy(&missing, &lite_url(dir.path(), "c.db"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no database at"), "{err}");
    assert!(
        !dir.path().join("missing.db").exists(),
        "the source is not created"
    );
    assert!(!dir.path().join("c.db").exists(), "nor the destination");
}

#[tokio::test]
async fn errors_about_a_server_hide_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let a = lite_url(dir.path(), "a.db");
    filled(&a).await;
    // Port 1 on loopback: nothing listens there.
    let err = copy(&a, "postgres://smb:hunter2secret@127.0.0.1:1/smb")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(text.contains("127.0.0.1:1/smb"), "{text}");
}

/// `run`'s and `stats`' reads of the same rows through [`Journal`] on each backend: message
/// set versions, target switches, targets added at run time, `stats` (all time and since a
/// moment), per-target counts, a period's summary, follow-up counts.
async fn journal_reads_agree(pg: &dyn Journal, lite: &dyn Journal) {
    assert_eq!((pg.backend(), lite.backend()), ("postgres", "sqlite"));
    assert!(pg.sqlite().is_none() && lite.sqlite().is_some());
    let now = ts("2026-05-01T12:00:00Z");
    let since = Some(ts("2026-05-01T09:00:00Z"));
    let v = lite.current_message_set("prices").await.unwrap();
    assert_eq!(v.as_ref().map(|v| v.version), Some(2));
    assert_eq!(
        v.as_ref().map(|v| v.messages[0].text.as_str()),
        Some("a 🚀")
    );
    assert_eq!(pg.current_message_set("prices").await.unwrap(), v);
    assert_eq!(pg.current_message_set("none").await.unwrap(), None);
    let sw = lite.target_switches().await.unwrap();
    assert!(sw.by_broadcaster.contains_key("b2b"));
    assert_eq!(
        format!("{:?}", pg.target_switches().await.unwrap()),
        format!("{sw:?}")
    );
    let added = lite.added_targets().await.unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(pg.added_targets().await.unwrap(), added);
    for since in [None, since] {
        let st = lite.stats(since, now).await.unwrap();
        assert!(st.totals.sent > 0, "{st:?}");
        assert_eq!(pg.stats(since, now).await.unwrap(), st);
        assert_eq!(
            pg.target_counts(since).await.unwrap(),
            lite.target_counts(since).await.unwrap()
        );
    }
    let from = ts("2026-04-01T00:00:00Z");
    let p = lite.period_summary(from, now).await.unwrap();
    assert!(!p.broadcasters.is_empty());
    assert_eq!(pg.period_summary(from, now).await.unwrap(), p);
    assert_eq!(
        pg.follow_up_counts().await.unwrap(),
        lite.follow_up_counts().await.unwrap()
    );
}

/// Issue 16's test: SQLite → PostgreSQL → SQLite leaves identical data; the PostgreSQL copy
/// reads back through its store as the SQLite one does and takes new rows (its identity
/// columns moved past the copied ids); a second copy is a no-op; a PostgreSQL destination
/// with other rows is refused and keeps them.
#[tokio::test]
async fn sqlite_to_postgres_to_sqlite_leaves_identical_data() {
    let Some(server) = server_url() else {
        return;
    };
    let pg = fresh_database(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (lite_url(dir.path(), "a.db"), lite_url(dir.path(), "c.db"));
    filled(&a).await;

    let there = copy(&a, &pg).await.unwrap();
    assert!(there.copied);
    let back = copy(&pg, &c).await.unwrap();
    assert!(back.copied);
    assert_eq!(back.tables, there.tables, "counts and checksums agree");
    let source = dump(&a).await;
    assert_eq!(
        dump(&c).await,
        source,
        "the round trip leaves identical data"
    );
    for (table, rows) in &source {
        assert!(!rows.is_empty(), "{table} was filled");
    }

    // The PostgreSQL copy reads as the SQLite original through the Store port.
    let lite = SqliteStore::open(&a, SqliteSettings::default())
        .await
        .unwrap();
    let store = PgStore::open(&pg, PgSettings::default()).await.unwrap();
    let t0 = ts("2026-05-01T10:00:00Z");
    for b in ["b2b", "b2c", "ab"] {
        assert_eq!(cycle_of(&store, b).await, cycle_of(&lite, b).await, "{b}");
    }
    assert!(cycle_of(&lite, "ab").await.contains("Цена"));
    assert_eq!(
        store.refusals(t0).await.unwrap(),
        lite.refusals(t0).await.unwrap()
    );
    assert_eq!(accounts_of(&store).await, accounts_of(&lite).await);
    assert!(accounts_of(&lite).await.len() >= 3);
    assert_eq!(
        store.variant_posts(None).await.unwrap(),
        lite.variant_posts(None).await.unwrap()
    );
    assert_eq!(
        store.pending_follow_ups().await.unwrap(),
        lite.pending_follow_ups().await.unwrap()
    );
    assert_eq!(lite.pending_follow_ups().await.unwrap().len(), 1);
    assert_eq!(
        store.follow_up_counts().await.unwrap(),
        lite.follow_up_counts().await.unwrap()
    );
    assert_eq!(
        store.previous_post("ab", "@shop_ab", 2).await.unwrap(),
        lite.previous_post("ab", "@shop_ab", 2).await.unwrap()
    );
    let album = lite.previous_post("ab", "@shop_ab", 2).await.unwrap();
    assert_eq!(album.map(|p| p.album), Some(vec![i64::MIN, -1, 42]));
    // The uploads table (issue 15) reads back alike.
    let sha = "ab".repeat(32);
    let upload_pg = smb_engine::Uploads::stored_upload(&store, "acc1", &sha, false)
        .await
        .unwrap();
    let upload_lite = smb_engine::Uploads::stored_upload(&lite, "acc1", &sha, false)
        .await
        .unwrap();
    assert_eq!(upload_pg, upload_lite);
    assert_eq!(
        upload_lite.map(|u| u.file_reference),
        Some(vec![0, 1, 0xfe, 0xff])
    );
    // What `run` and `stats` read through `Journal` (issue 16): the same on both.
    journal_reads_agree(&store, &lite).await;
    lite.close().await.unwrap();
    // A second copy finds the same rows and writes nothing.
    let again = copy(&a, &pg).await.unwrap();
    assert!(!again.copied);
    assert_eq!(again.tables, there.tables);

    // New rows after the copy get new ids (a copied id would be a duplicate key).
    let pauses_before = there
        .tables
        .iter()
        .find(|t| t.table == "pauses")
        .unwrap()
        .rows;
    store
        .record_pause(
            "acc9",
            None,
            PauseKind::FloodWait,
            Duration::from_secs(5),
            t0,
            t0,
        )
        .await
        .unwrap();
    let mut p = pending("new", 1, "@new_shop", 1, t0);
    p.account = "acc9".into();
    store.write_pending(&p).await.unwrap();
    store.close().await.unwrap();
    let mut conn = PgConnection::connect(&pg).await.unwrap();
    let ids: Vec<i64> = sqlx::query("SELECT id FROM pauses ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect();
    assert_eq!(ids.len() as u64, pauses_before + 1);
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());

    // Now the PostgreSQL database holds other rows: refused, and they stay.
    let err = copy(&a, &pg).await.unwrap_err().to_string();
    assert!(err.contains("pauses ("), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pauses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n as u64, pauses_before + 1);
}
