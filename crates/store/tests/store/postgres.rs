//! The PostgreSQL store: the store story and the journal's other port-level stories (restart
//! reads, chat pauses, upgraded groups), its own concerns (servers migrating at once, a lost
//! connection, one rejected write in a batch, errors that hide the URL's password) and the
//! schema compared with SQLite's.
//!
//! Needs a server: `SMB_TEST_POSTGRES_URL` (`scripts/test-postgres.sh` starts a private one
//! and sets it). Each test makes its own database there. Without the variable the tests say
//! so and pass locally; under CI (`CI=true`) they fail, so CI never skips them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{PauseKind, TargetRef};
use smb_engine::{DeliveryKey, Outcome, PostReach, Store, StoreError};
use smb_store::{PgSettings, PgStore, ReachDue, SqliteSettings, SqliteStore, VariantPost};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use super::store_story::{pending, story};

/// The server's URL, or `None` (said on stderr) when it is not set outside CI.
pub(crate) fn server_url() -> Option<String> {
    match std::env::var("SMB_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "SMB_TEST_POSTGRES_URL is not set, and under CI the PostgreSQL tests must run: \
             run the tests through scripts/test-postgres.sh (as .ci/run does)"
        ),
        _ => {
            eprintln!(
                "SMB_TEST_POSTGRES_URL is not set: this PostgreSQL test did not run \
                 (scripts/test-postgres.sh starts a server and sets it)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `db` (the path after the authority; the query kept).
fn with_database(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(scheme_end);
    let query_at = rest.find('?').unwrap_or(rest.len());
    let (authority_path, query) = rest.split_at(query_at);
    let authority = authority_path.split('/').next().unwrap_or(authority_path);
    format!("{head}{authority}/{db}{query}")
}

/// A new, empty database on the test server, and its URL.
pub(crate) async fn fresh_database(server: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "smb_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        Timestamp::now().as_millisecond()
    );
    let mut admin = PgConnection::connect(server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    with_database(server, &name)
}

async fn open(url: &str) -> PgStore {
    PgStore::open(url, PgSettings::default()).await.unwrap()
}

/// A fresh database and a store on it; `None` when no server is configured (outside CI).
async fn fresh() -> Option<(String, PgStore)> {
    let server = server_url()?;
    let url = fresh_database(&server).await;
    let store = open(&url).await;
    Some((url, store))
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[tokio::test]
async fn postgres_passes_the_story() {
    let Some((_, store)) = fresh().await else {
        return;
    };
    story(&store).await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn what_was_written_survives_reopening() {
    let Some((url, s)) = fresh().await else {
        return;
    };
    let t0 = ts("2026-05-01T10:00:00Z");
    s.start_cycle("b2b", 3, "m", t0).await.unwrap();
    s.write_pending(&pending("b2b", 3, "@shop_one", 7, t0))
        .await
        .unwrap();
    s.close().await.unwrap();
    let s = open(&url).await;
    let c = s.last_cycle("b2b").await.unwrap().unwrap();
    assert_eq!(c.cycle, 3);
    assert_eq!(c.started_at, t0);
    assert_eq!(c.deliveries.len(), 1);
    assert_eq!(c.deliveries[0].random_id, 7);
    assert_eq!(c.deliveries[0].status, "pending");
}

#[tokio::test]
async fn concurrent_writers_are_committed_together_and_each_is_acknowledged() {
    let Some((_, s)) = fresh().await else {
        return;
    };
    let s = Arc::new(s);
    let t0 = ts("2026-05-01T10:00:00Z");
    let mut tasks = Vec::new();
    for i in 0..500 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.write_pending(&pending(
                &format!("b{}", i % 7),
                1,
                &format!("-100100000{i:04}"),
                i,
                t0,
            ))
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let rows = s.recent_deliveries(t0).await.unwrap();
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|r| r.status == "pending"));
    let ids: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.broadcaster.clone(), r.target.clone()))
        .collect();
    assert_eq!(ids.len(), 500, "every write once");
}

/// Outcomes ride in their own batches (committed without waiting for the WAL flush): the next
/// durable write, a flush, makes them durable, and they read back exactly.
#[tokio::test]
async fn outcomes_read_back_after_a_flush() {
    let Some((url, s)) = fresh().await else {
        return;
    };
    let t0 = ts("2026-05-01T10:00:00Z");
    let until = ts("2026-05-01T10:05:00Z");
    s.start_cycle("b2b", 1, "m", t0).await.unwrap();
    for (i, target) in ["@chat_a", "@chat_b", "@chat_c"].iter().enumerate() {
        s.write_pending(&pending("b2b", 1, target, i as i64, t0))
            .await
            .unwrap();
    }
    let key = |target: &str| DeliveryKey {
        broadcaster: "b2b".into(),
        cycle: 1,
        target: TargetRef::parse(target).unwrap(),
    };
    let (a, b, c) = (key("@chat_a"), key("@chat_b"), key("@chat_c"));
    let sent = Outcome::Sent {
        message_id: Some(42),
    };
    let failed = Outcome::Failed {
        class: smb_domain::ErrorClass::TargetDead,
        code: "CHANNEL_PRIVATE".into(),
        detail: "the channel is private".into(),
    };
    let deferred = Outcome::Deferred {
        until,
        class: smb_domain::ErrorClass::ChatPause,
        code: "SLOWMODE_WAIT".into(),
    };
    let (r1, r2, r3) = tokio::join!(
        s.record_outcome(&a, &sent, t0),
        s.record_outcome(&b, &failed, t0),
        s.record_outcome(&c, &deferred, t0),
    );
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    s.flush().await.unwrap();
    s.close().await.unwrap();
    let s = open(&url).await;
    let mut d = s.last_cycle("b2b").await.unwrap().unwrap().deliveries;
    d.sort_by(|x, y| x.target.cmp(&y.target));
    let got: Vec<(&str, &str, Option<Timestamp>)> = d
        .iter()
        .map(|d| (d.target.as_str(), d.status.as_str(), d.retry_at))
        .collect();
    assert_eq!(
        got,
        [
            ("@chat_a", "sent", None),
            ("@chat_b", "failed", None),
            ("@chat_c", "deferred", Some(until))
        ]
    );
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let row = sqlx::query(
        "SELECT message_id, error_code, error_text, error_class FROM deliveries WHERE target = '@chat_b'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.get::<Option<i64>, _>("message_id"), None);
    assert_eq!(
        row.get::<Option<String>, _>("error_code").as_deref(),
        Some("CHANNEL_PRIVATE")
    );
    assert_eq!(
        row.get::<Option<String>, _>("error_text").as_deref(),
        Some("the channel is private")
    );
    assert_eq!(
        row.get::<Option<String>, _>("error_class").as_deref(),
        Some(smb_domain::ErrorClass::TargetDead.as_str())
    );
}

/// The restart reads of `chat_holds.rs`, on PostgreSQL: recent posts and who attempted what,
/// and the chat pauses Telegram told, the latest per (account, target), while they run.
#[tokio::test]
async fn recent_posts_and_told_chat_pauses_are_read_back() {
    let Some((url, store)) = fresh().await else {
        return;
    };
    let old = ts("2026-05-01T10:00:00Z");
    let recent = ts("2026-05-04T10:00:00Z");
    for (cycle, target, account, at, sent) in [
        (1, "@old_chat", "acc1", old, true),
        (2, "@wholesale/7", "acc3", recent, true),
        (2, "@waiting", "acc3", recent, false),
    ] {
        let mut p = pending("b2b", cycle, target, 7, at);
        p.account = account.into();
        store.write_pending(&p).await.unwrap();
        if sent {
            store
                .record_outcome(
                    &p.key,
                    &Outcome::Sent {
                        message_id: Some(1),
                    },
                    at,
                )
                .await
                .unwrap();
        }
    }
    store
        .record_chat_hold(
            "@wholesale/7",
            "chat rule min_gap 24h",
            ts("2026-05-05T10:00:00Z"),
            recent,
        )
        .await
        .unwrap();
    let s = |n: i64| recent + jiff::SignedDuration::from_secs(n);
    for (account, target, kind, until) in [
        ("acc1", Some("@slow"), PauseKind::SlowMode, s(30)),
        ("acc1", Some("@slow"), PauseKind::SlowMode, s(600)),
        ("acc1", Some("@over"), PauseKind::SlowMode, s(5)),
        ("acc2", Some("@forum/7"), PauseKind::SlowMode, s(120)),
        ("acc1", None, PauseKind::FloodWait, s(900)),
    ] {
        store
            .record_pause(account, target, kind, Duration::from_secs(1), until, recent)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    store.close().await.unwrap();

    let store = open(&url).await;
    let mut rows = store
        .recent_deliveries(ts("2026-05-03T00:00:00Z"))
        .await
        .unwrap();
    rows.sort_by(|a, b| a.target.cmp(&b.target));
    let got: Vec<(&str, &str, &str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r.target.as_str(),
                r.account.as_str(),
                r.status.as_str(),
                r.cycle,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("@waiting", "acc3", "pending", 2),
            ("@wholesale/7", "acc3", "sent", 2)
        ]
    );
    assert_eq!(rows[1].at, recent);

    let pauses = store.chat_pauses(s(10)).await.unwrap();
    let got: Vec<(&str, &str, Timestamp)> = pauses
        .iter()
        .map(|p| (p.account.as_str(), p.target.as_str(), p.until))
        .collect();
    assert_eq!(
        got,
        [("acc1", "@slow", s(600)), ("acc2", "@forum/7", s(120))]
    );
    let accounts = store.accounts().await.unwrap();
    assert_eq!(accounts["acc1"].paused_until, Some(s(900)));
    assert_eq!(accounts["acc3"].last_send_at, Some(recent));
}

/// `chat_migrations.rs`'s upgraded groups on PostgreSQL: recorded once, known after a reopen,
/// news again when upgraded to another supergroup; "last posted" of a target (per account).
#[tokio::test]
async fn an_upgrade_is_recorded_once_and_last_posted_is_read() {
    let Some((url, s)) = fresh().await else {
        return;
    };
    let t1 = ts("2026-11-30T09:00:00Z");
    let t2 = ts("2026-11-30T10:00:00Z");
    let last = async |s: &PgStore| s.last_sent_by_account("-4001").await.unwrap();
    assert!(last(&s).await.is_empty());
    let p = pending("b2b", 1, "-4001", 1, t1);
    s.write_pending(&p).await.unwrap();
    assert!(last(&s).await.is_empty(), "pending only");
    s.record_outcome(
        &p.key,
        &Outcome::Sent {
            message_id: Some(1),
        },
        t1,
    )
    .await
    .unwrap();
    assert_eq!(last(&s).await, HashMap::from([("acc1".to_owned(), t1)]));
    assert!(
        s.record_migration("-4001", "-1001000000200", "acc1", t1)
            .await
            .unwrap()
    );
    assert!(
        !s.record_migration("-4001", "-1001000000200", "acc2", t2)
            .await
            .unwrap()
    );
    s.close().await.unwrap();
    let s = open(&url).await;
    assert!(
        !s.record_migration("-4001", "-1001000000200", "acc1", t2)
            .await
            .unwrap(),
        "known after a reopen"
    );
    assert!(
        s.record_migration("-4001", "-1001000000300", "acc1", t2)
            .await
            .unwrap(),
        "another supergroup is news"
    );
}

/// Servers starting at once on an empty database: one migrates under the advisory lock, the
/// others wait and find the schema done; none fails, each migration is applied once.
#[tokio::test]
async fn servers_starting_at_once_migrate_once() {
    let Some(server) = server_url() else {
        return;
    };
    let url = fresh_database(&server).await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(&url, PgSettings::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.unwrap().expect("every server starts"));
    }
    let files = migration_versions("postgres");
    assert!(
        files.contains(&9) && files.contains(&11),
        "0009 and 0011 mirrored: {files:?}"
    );
    let latest = smb_store::postgres::latest_migration();
    assert_eq!(
        latest,
        files.last().copied(),
        "the newest file is the newest migration"
    );
    assert_eq!(stores[0].schema_version().await.unwrap(), latest);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(applied, files, "each migration applied once");
    // Each of them writes.
    for (i, s) in stores.iter().enumerate() {
        s.set_target_status(&format!("@t{i}"), &smb_engine::TargetStatus::Active)
            .await
            .unwrap();
    }
    assert_eq!(stores[5].target_rows().await.unwrap().len(), 6);
}

/// The database server drops the writer's connection (a restart, a failover, an idle
/// timeout): the write caught in it may fail, the next ones reconnect, and nothing written
/// before is lost.
#[tokio::test]
async fn a_lost_connection_is_opened_again() {
    let Some((url, s)) = fresh().await else {
        return;
    };
    let t0 = ts("2026-05-01T10:00:00Z");
    s.start_cycle("b2b", 1, "m", t0).await.unwrap();
    s.write_pending(&pending("b2b", 1, "@chat_a", 1, t0))
        .await
        .unwrap();
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the store's connections were found");
    // The first write after the loss may fail (its connection is gone); a later one succeeds.
    let first = s.write_pending(&pending("b2b", 1, "@chat_b", 2, t0)).await;
    if let Err(e) = &first {
        assert!(matches!(e, StoreError::Database { .. }), "{e:?}");
        s.write_pending(&pending("b2b", 1, "@chat_b", 2, t0))
            .await
            .unwrap();
    }
    s.probe().await.unwrap();
    let c = s.last_cycle("b2b").await.unwrap().unwrap();
    let mut got: Vec<(String, i64)> = c
        .deliveries
        .iter()
        .map(|d| (d.target.clone(), d.random_id))
        .collect();
    got.sort();
    assert_eq!(got, [("@chat_a".to_owned(), 1), ("@chat_b".to_owned(), 2)]);
}

/// PostgreSQL refuses a text with a NUL byte (SQLSTATE 22021): that write fails as
/// `Rejected`, and the writes committed in the same batch do not fail with it.
#[tokio::test]
async fn one_rejected_write_does_not_fail_its_batch() {
    let Some((_, s)) = fresh().await else {
        return;
    };
    let s = Arc::new(s);
    let t0 = ts("2026-05-01T10:00:00Z");
    let mut tasks = Vec::new();
    for i in 0..40_i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut p = pending("b2b", 1, &format!("@chat{i}"), i, t0);
            if i == 17 {
                p.message = "bad\0text".into();
            }
            s.write_pending(&p).await
        }));
    }
    let mut rejected = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_rejected_write(), "{e:?}");
                rejected.push(i);
            }
        }
    }
    assert_eq!(rejected, [17]);
    assert_eq!(s.recent_deliveries(t0).await.unwrap().len(), 39);
}

/// Errors name the server (`host:port/db`) and never the URL's password; no server needed.
#[tokio::test]
async fn errors_name_the_server_and_hide_the_password() {
    let err = PgStore::open(
        "postgres://smb:hunter2secret@127.0.0.1:1/smb",
        PgSettings::default(),
    )
    .await
    .expect_err("nothing listens on port 1");
    let text = err.report();
    assert!(text.contains("127.0.0.1:1/smb"), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");

    let err = PgStore::open(
        "postgres://smb:hunter2secret@127.0.0.1:5432/smb?sslmode=sometimes",
        PgSettings::default(),
    )
    .await
    .expect_err("a bad sslmode");
    let text = err.report();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(
        text.contains("postgres://smb:***@127.0.0.1:5432/smb"),
        "{text}"
    );
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(smb_store::is_postgres_url("postgresql://h/db"));
    assert!(smb_store::is_postgres_url(" POSTGRES://h/db"));
    assert!(!smb_store::is_postgres_url(
        "sqlite://data/sendmessagebot.db"
    ));
}

/// One column of a schema: (table, column, type family, nullable). SQLite's `INTEGER` and
/// PostgreSQL's `BIGINT` are both `integer`; a primary key column is not nullable in either.
type Column = (String, String, String, bool);

async fn sqlite_schema(dir: &std::path::Path) -> (BTreeSet<Column>, BTreeSet<String>) {
    let url = format!("sqlite://{}/smb.db", dir.display());
    SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut columns = BTreeSet::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for r in rows {
            let ty: String = r.get("type");
            let notnull: i64 = r.get("notnull");
            let pk: i64 = r.get("pk");
            columns.insert((
                table.clone(),
                r.get::<String, _>("name"),
                ty.to_ascii_lowercase(),
                notnull == 0 && pk == 0,
            ));
        }
    }
    let indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    (columns, indexes)
}

async fn postgres_schema(url: &str) -> (BTreeSet<Column>, BTreeSet<String>) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty,
                is_nullable::text AS n
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let columns = rows
        .iter()
        .map(|r| {
            let ty = match r.get::<String, _>("ty").as_str() {
                "bigint" => "integer".to_owned(),
                other => other.to_owned(),
            };
            (
                r.get::<String, _>("t"),
                r.get::<String, _>("c"),
                ty,
                r.get::<String, _>("n") == "YES",
            )
        })
        .collect();
    // Indexes made by a PRIMARY KEY or UNIQUE constraint are named by PostgreSQL
    // (`…_pkey`, `…_key`) and by SQLite (`sqlite_autoindex_…`): only declared ones compare.
    let indexes = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()
         AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    (columns, indexes)
}

/// The two schemas hold the same tables, columns, types and indexes. When a SQLite migration
/// is added, this fails and lists what `migrations/postgres/` must mirror.
#[tokio::test]
async fn the_postgres_schema_mirrors_the_sqlite_one() {
    let Some((url, store)) = fresh().await else {
        return;
    };
    store.close().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (lite_cols, lite_idx) = sqlite_schema(dir.path()).await;
    let (pg_cols, pg_idx) = postgres_schema(&url).await;
    let only_lite: Vec<_> = lite_cols.difference(&pg_cols).collect();
    let only_pg: Vec<_> = pg_cols.difference(&lite_cols).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "columns (table, column, type, nullable) only in SQLite — add them to \
         migrations/postgres/: {only_lite:#?}\nonly in PostgreSQL: {only_pg:#?}"
    );
    let only_lite: Vec<_> = lite_idx.difference(&pg_idx).collect();
    let only_pg: Vec<_> = pg_idx.difference(&lite_idx).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "indexes only in SQLite: {only_lite:?}; only in PostgreSQL: {only_pg:?}"
    );
    assert!(lite_cols.len() > 40, "the schema was read: {lite_cols:?}");
    // One PostgreSQL migration per SQLite one, under the same number.
    assert_eq!(
        migration_versions("postgres"),
        migration_versions("sqlite"),
        "migrations/postgres/ mirrors migrations/sqlite/ number for number"
    );
}

/// The version numbers of the migration files in `migrations/<dir>/` (`0009_x.sql` → 9),
/// ascending.
fn migration_versions(dir: &str) -> Vec<i64> {
    let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut versions: Vec<i64> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let digits = name.split('_').next().unwrap();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("{path}/{name}: no number"))
        })
        .collect();
    versions.sort_unstable();
    versions
}

#[test]
fn a_database_is_swapped_into_a_url() {
    assert_eq!(
        with_database("postgres://u:p@h:5/smb_test?sslmode=disable", "x"),
        "postgres://u:p@h:5/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// A fresh SQLite store in `dir`, for the stories run on both backends.
async fn sqlite(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/smb.db", dir.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap()
}

/// QA F9 on both backends: "last posted" of the pre-flight check is per account: an account's
/// own newest sent post into that target; pending and failed rows do not count.
async fn last_posts_story(store: &dyn Store) -> HashMap<String, Timestamp> {
    let t1 = ts("2026-05-01T10:00:00Z");
    let t2 = ts("2026-05-02T10:00:00Z");
    let t3 = ts("2026-05-03T10:00:00Z");
    let failed = Outcome::Failed {
        class: smb_domain::ErrorClass::TargetDead,
        code: "CHAT_WRITE_FORBIDDEN".into(),
        detail: String::new(),
    };
    let sent = Outcome::Sent {
        message_id: Some(1),
    };
    for (cycle, account, at, outcome) in [
        (1, "acc1", t1, Some(&sent)),
        (2, "acc2", t2, Some(&sent)),
        (3, "acc1", t3, None),
        (4, "acc2", t3, Some(&failed)),
    ] {
        let mut p = pending("b2b", cycle, "@shared", 10 + cycle as i64, at);
        p.account = account.into();
        store.write_pending(&p).await.unwrap();
        if let Some(outcome) = outcome {
            store.record_outcome(&p.key, outcome, at).await.unwrap();
        }
    }
    store.flush().await.unwrap();
    assert!(
        store
            .last_sent_by_account("@none")
            .await
            .unwrap()
            .is_empty()
    );
    let last = store.last_sent_by_account("@shared").await.unwrap();
    assert_eq!(
        last,
        HashMap::from([("acc1".to_owned(), t1), ("acc2".to_owned(), t2)]),
        "acc1's own post, not acc2's later one; the pending and failed rows do not count"
    );
    last
}

#[tokio::test]
async fn last_posts_are_per_account_on_both_backends() {
    let Some((_, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    assert_eq!(last_posts_story(&pg).await, last_posts_story(&lite).await);
}

/// Issue 14 and 17 on both backends: a delivery written pending again (its retry, here by the
/// backup account) keeps its random_id and takes the account trying now; the A/B variant the
/// chat got is kept with it. Answers (account, random_id, variant) of the delivery.
async fn retried_delivery_story(store: &dyn Store) -> (String, i64, Option<String>) {
    let t0 = ts("2026-05-01T10:00:00Z");
    let t1 = ts("2026-05-01T10:01:00Z");
    store.start_cycle("b2b", 1, "price A", t0).await.unwrap();
    let mut p = pending("b2b", 1, "@shop", 77, t0);
    p.variant = Some(Arc::from("A"));
    store.write_pending(&p).await.unwrap();
    store
        .record_outcome(
            &p.key,
            &Outcome::Deferred {
                until: t1,
                class: smb_domain::ErrorClass::AccountDead,
                code: "USER_DEACTIVATED".into(),
            },
            t0,
        )
        .await
        .unwrap();
    let mut retry = pending("b2b", 1, "@shop", 78, t1);
    retry.account = "backup".into();
    retry.attempt = 1;
    retry.variant = Some(Arc::from("A"));
    store.write_pending(&retry).await.unwrap();
    store.flush().await.unwrap();
    let cycle = store.last_cycle("b2b").await.unwrap().unwrap();
    assert_eq!(cycle.deliveries.len(), 1);
    let d = &cycle.deliveries[0];
    assert_eq!(
        (d.status.as_str(), d.random_id, d.attempts, d.retry_at),
        ("pending", 77, 1, None),
        "one random_id for the delivery's life; the retry's attempt, no retry time"
    );
    let recent = store.recent_deliveries(t0).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].account, "backup", "the account trying now");
    (recent[0].account.clone(), d.random_id, None)
}

#[tokio::test]
async fn a_retried_delivery_takes_the_account_trying_now_on_both_backends() {
    let Some((url, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    let mut on_pg = retried_delivery_story(&pg).await;
    let mut on_lite = retried_delivery_story(&lite).await;
    // The variant column, read from each database.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    on_pg.2 = sqlx::query_scalar("SELECT variant FROM deliveries WHERE target = '@shop'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    lite.close().await.unwrap();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}/smb.db", dir.path().display()))
        .await
        .unwrap();
    on_lite.2 = sqlx::query_scalar("SELECT variant FROM deliveries WHERE target = '@shop'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(on_pg, ("backup".to_owned(), 77, Some("A".to_owned())));
    assert_eq!(on_pg, on_lite);
}

/// qa5 F7 on both backends: a deferral by a network or server error adds one to the row's
/// `attempts` (so a restarted daemon continues the retry count); any other deferral (a flood
/// wait) does not. Answers the attempts read after each of the three outcomes.
async fn transient_attempts_story(store: &dyn Store) -> Vec<u32> {
    let t0 = ts("2026-05-01T10:00:00Z");
    let t1 = ts("2026-05-01T10:01:00Z");
    store.start_cycle("b2b", 1, "price A", t0).await.unwrap();
    let p = pending("b2b", 1, "@shop", 77, t0);
    store.write_pending(&p).await.unwrap();
    let defer = |class, code: &str| Outcome::Deferred {
        until: t1,
        class,
        code: code.into(),
    };
    let mut seen = Vec::new();
    for outcome in [
        defer(smb_domain::ErrorClass::Transient, "RPC_TIMEOUT"),
        defer(smb_domain::ErrorClass::Transient, "INTERNAL"),
        defer(smb_domain::ErrorClass::AccountPause, "FLOOD_WAIT_60"),
    ] {
        store.record_outcome(&p.key, &outcome, t0).await.unwrap();
        store.flush().await.unwrap();
        let cycle = store.last_cycle("b2b").await.unwrap().unwrap();
        seen.push(cycle.deliveries[0].attempts);
    }
    seen
}

#[tokio::test]
async fn a_transient_deferral_counts_an_attempt_on_both_backends() {
    let Some((_, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    let on_pg = transient_attempts_story(&pg).await;
    assert_eq!(on_pg, [1, 2, 2]);
    assert_eq!(on_pg, transient_attempts_story(&lite).await);
}

/// The reach reads and writes of issue 17, which both stores have as inherent methods.
trait ReachSide {
    async fn record(&self, key: &DeliveryKey, reach: &PostReach, at: Timestamp) -> bool;
    async fn due(&self, after: &[Duration], now: Timestamp, limit: usize) -> Vec<ReachDue>;
    async fn posts(&self, broadcasters: Option<&[String]>) -> Vec<VariantPost>;
}

impl ReachSide for SqliteStore {
    async fn record(&self, key: &DeliveryKey, reach: &PostReach, at: Timestamp) -> bool {
        self.record_reach(key, reach, at).await.unwrap()
    }
    async fn due(&self, after: &[Duration], now: Timestamp, limit: usize) -> Vec<ReachDue> {
        self.reach_due(after, now, limit).await.unwrap()
    }
    async fn posts(&self, broadcasters: Option<&[String]>) -> Vec<VariantPost> {
        self.variant_posts(broadcasters).await.unwrap()
    }
}

impl ReachSide for PgStore {
    async fn record(&self, key: &DeliveryKey, reach: &PostReach, at: Timestamp) -> bool {
        self.record_reach(key, reach, at).await.unwrap()
    }
    async fn due(&self, after: &[Duration], now: Timestamp, limit: usize) -> Vec<ReachDue> {
        self.reach_due(after, now, limit).await.unwrap()
    }
    async fn posts(&self, broadcasters: Option<&[String]>) -> Vec<VariantPost> {
        self.variant_posts(broadcasters).await.unwrap()
    }
}

/// `reach.rs`'s story, run on a backend: reach reads fall due at the set times after the send
/// (24 h, 72 h), at most `limit`, oldest first; a read is stored with the delivery and its
/// variant; a group's missing views stay unknown; an unknown delivery is not invented.
/// Answers everything it read, for comparing the backends.
async fn reach_story<S: Store + ReachSide>(s: &S) -> Vec<String> {
    let h = |n: i64| ts("2026-05-01T10:00:00Z") + jiff::SignedDuration::from_hours(n);
    let key = |target: &str| DeliveryKey {
        broadcaster: "b2b".into(),
        cycle: 1,
        target: TargetRef::parse(target).unwrap(),
    };
    s.start_cycle("b2b", 1, "price A", h(0)).await.unwrap();
    // Three sent posts (two variants) an hour apart, one failed, one sent without a message id.
    for (i, (target, variant, sent)) in [
        ("@chat_one", "A", Some(Some(11))),
        ("@chat_two", "B", Some(Some(12))),
        ("-4003", "A", Some(Some(13))),
        ("@chat_failed", "B", None),
        ("@chat_no_id", "A", Some(None)),
    ]
    .into_iter()
    .enumerate()
    {
        let at = h(i as i64);
        let mut p = pending("b2b", 1, target, 100 + i as i64, at);
        p.variant = Some(Arc::from(variant));
        p.message = Arc::from(format!("price {variant}"));
        s.write_pending(&p).await.unwrap();
        let outcome = match sent {
            Some(message_id) => Outcome::Sent { message_id },
            None => Outcome::Failed {
                class: smb_domain::ErrorClass::TargetDead,
                code: "CHANNEL_PRIVATE".into(),
                detail: String::new(),
            },
        };
        s.record_outcome(&p.key, &outcome, at).await.unwrap();
    }
    s.flush().await.unwrap();
    let after = [
        Duration::from_secs(24 * 3600),
        Duration::from_secs(72 * 3600),
    ];
    let ids = |due: &[ReachDue]| {
        due.iter()
            .map(|d| (d.message_id, d.reads))
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();

    assert!(
        s.due(&after, h(23), 10).await.is_empty(),
        "nothing before 24 h"
    );
    assert!(
        s.due(&[], h(500), 10).await.is_empty(),
        "no set times: no reads"
    );
    let due = s.due(&after, h(24), 10).await;
    assert_eq!(ids(&due), [(11, 0)]);
    assert_eq!(due[0].account, "acc1");
    assert_eq!(due[0].sent_at, h(0));
    assert_eq!(due[0].key, key("@chat_one"));
    seen.push(format!("{due:?}"));
    let due = s.due(&after, h(26), 10).await;
    assert_eq!(ids(&due), [(11, 0), (12, 0), (13, 0)], "oldest first");
    assert_eq!(
        ids(&s.due(&after, h(26), 2).await),
        [(11, 0), (12, 0)],
        "at most limit"
    );
    seen.push(format!("{due:?}"));

    let channel = PostReach {
        message_id: 11,
        views: Some(120),
        forwards: Some(3),
        reactions: 7,
        replies: 2,
        gone: false,
    };
    let group = PostReach {
        message_id: 13,
        views: None,
        forwards: None,
        reactions: 4,
        replies: 9,
        gone: false,
    };
    assert!(s.record(&key("@chat_one"), &channel, h(24)).await);
    assert!(s.record(&key("-4003"), &group, h(26)).await);
    // @chat_one and -4003 read once: their next read is at 72 h; @chat_two's first is due.
    let due = s.due(&after, h(30), 10).await;
    assert_eq!(ids(&due), [(12, 0)]);
    seen.push(format!("{due:?}"));
    let due = s.due(&after, h(74), 10).await;
    assert_eq!(ids(&due), [(11, 1), (12, 0), (13, 1)]);
    seen.push(format!("{due:?}"));

    let posts = s.posts(None).await;
    let got: Vec<_> = posts
        .iter()
        .map(|p| {
            (
                p.target.as_str(),
                p.variant.as_str(),
                p.message.as_str(),
                p.views,
                p.reactions,
                p.replies,
                p.forwards,
                p.reach_reads,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "@chat_one",
                "A",
                "price A",
                Some(120),
                Some(7),
                Some(2),
                Some(3),
                1
            ),
            ("@chat_two", "B", "price B", None, None, None, None, 0),
            ("-4003", "A", "price A", None, Some(4), Some(9), None, 1),
            ("@chat_no_id", "A", "price A", None, None, None, None, 0),
        ],
        "sent posts of A/B slots, oldest first; the failed one is not a post"
    );
    seen.push(format!("{posts:?}"));
    assert_eq!(s.posts(Some(&["b2b".to_owned()])).await, posts);
    assert!(s.posts(Some(&["other".to_owned()])).await.is_empty());

    // Both reads done everywhere: nothing more is due.
    for (target, at) in [
        ("@chat_one", 72),
        ("@chat_two", 25),
        ("@chat_two", 73),
        ("-4003", 74),
    ] {
        assert!(s.record(&key(target), &channel, h(at)).await);
    }
    assert!(s.due(&after, h(500), 10).await.is_empty());
    assert!(
        !s.record(&key("@chat_three"), &channel, h(80)).await,
        "an unknown delivery is not invented"
    );
    seen
}

#[tokio::test]
async fn reach_and_variants_read_the_same_on_both_backends() {
    let Some((_, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    assert_eq!(reach_story(&pg).await, reach_story(&lite).await);
}

/// `.ci/run` ends by running README's test command beside a private PostgreSQL, so CI runs the
/// PostgreSQL tests (with `CI=true` a missing server fails them) and README tells the truth.
#[test]
fn ci_runs_readmes_test_command_beside_postgres() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    // README's first lines: "Run the tests:" and a ```sh block with the command.
    let after = readme
        .split_once("Run the tests:")
        .expect("README.md says \"Run the tests:\"")
        .1;
    let command = after
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```"))
        .unwrap();
    assert_eq!(command, "cargo test --workspace");
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    let last = ci
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(last, format!("scripts/test-postgres.sh {command}"));
    assert!(
        std::path::Path::new(&format!("{root}/scripts/test-postgres.sh")).exists(),
        "the script .ci/run calls"
    );
}

/// Issue 15's survival check on both backends: a removal counts once per post (a check
/// repeated after a crash adds nothing), the second removal in a row flags the chat once, a
/// live post resets the run; the same answers and rows from SQLite and PostgreSQL.
async fn survival_story(
    s: &dyn Store,
) -> (
    Vec<smb_engine::PostCheckResult>,
    Vec<smb_engine::ChatSurvival>,
) {
    let at = ts("2026-12-01T05:00:00Z");
    let check = |message_id: i64, removed: bool| smb_engine::PostCheck {
        broadcaster: "b2b".into(),
        target: "@market".into(),
        message_id,
        removed,
        flag_after: 2,
        at,
    };
    let mut results = Vec::new();
    for (id, removed) in [(1, true), (1, true), (2, true), (3, true), (4, false)] {
        results.push(s.record_post_check(&check(id, removed)).await.unwrap());
    }
    (results, s.chat_survival().await.unwrap())
}

#[tokio::test]
async fn the_survival_check_counts_alike_on_both_backends() {
    let Some((_, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    let (results, rows) = survival_story(&pg).await;
    let seen: Vec<(u32, bool)> = results
        .iter()
        .map(|r| (r.removed_in_row, r.newly_flagged))
        .collect();
    assert_eq!(
        seen,
        [(1, false), (1, false), (2, true), (3, false), (0, false)]
    );
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].removed_total, rows[0].flagged), (3, false));
    assert_eq!((results, rows), survival_story(&lite).await);
}

/// Issue 15's uploads table on both backends: the same answers from SQLite and PostgreSQL.
#[tokio::test]
async fn the_uploads_table_answers_alike_on_both_backends() {
    let Some((_, pg)) = fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path()).await;
    let seen = super::uploads::uploads_story(&pg).await;
    assert_eq!(seen.iter().filter(|u| u.is_some()).count(), 3, "{seen:?}");
    assert_eq!(seen, super::uploads::uploads_story(&lite).await);
}
