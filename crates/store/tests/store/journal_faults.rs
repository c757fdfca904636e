//! The writer under faults a server meets: a full disk mid-run, the database file deleted or
//! replaced, a damaged file; and the backup/restore pair. What must hold: a write reported
//! `Ok` is in the file (read back by a fresh process-like open), a failed commit fails every
//! write of its batch, and the journal takes writes again once space is freed.

#[path = "../support/smallfs.rs"]
mod smallfs;

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, PendingDelivery, Store};
use smb_store::maintenance::{self, Thoroughness};
use smb_store::{SqliteSettings, SqliteStore};
use sqlx::Row;

fn pending(cycle: u64, i: usize, text: &Arc<str>) -> PendingDelivery {
    PendingDelivery {
        key: DeliveryKey {
            broadcaster: "b2b".into(),
            cycle,
            target: TargetRef::parse(&format!("-100{:010}", i + 1)).unwrap(),
        },
        account: "acc1".into(),
        random_id: (cycle as i64) * 1_000_000 + i as i64 + 1,
        message: text.clone(),
        variant: None,
        attempt: 0,
        at: Timestamp::now(),
    }
}

async fn random_ids(path: &std::path::Path) -> HashSet<i64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT random_id FROM deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter().map(|r| r.get::<i64, _>(0)).collect()
}

/// Many concurrent writers (so batches are grouped) of `n` deliveries of cycle `cycle`;
/// returns the random_ids whose write was reported durable, and the number that failed.
async fn write_many(store: &SqliteStore, cycle: u64, n: usize) -> (HashSet<i64>, usize) {
    let text: Arc<str> = "x".repeat(1500).into();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let store = store.clone();
        let d = pending(cycle, i, &text);
        tasks.spawn(async move { (d.random_id, store.write_pending(&d).await) });
    }
    let (mut ok, mut failed) = (HashSet::new(), 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (id, Ok(())) => {
                ok.insert(id);
            }
            (_, Err(_)) => failed += 1,
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_and_every_reported_write_is_in_the_file() {
    let fs = smallfs::SmallFs::mount(1024);
    let db = fs.path().join("journal.db");
    let url = format!("sqlite://{}", db.display());
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let (before, failed) = write_many(&store, 1, 50).await;
    assert_eq!(
        (before.len(), failed),
        (50, 0),
        "writes fit before the disk fills"
    );

    fs.fill("filler");
    // Rounds of writes against a full disk: the WAL cannot grow much, so many fail.
    let mut reported = before.clone();
    let mut failures = 0;
    for cycle in 2..8 {
        let (ok, failed) = write_many(&store, cycle, 300).await;
        reported.extend(ok);
        failures += failed;
    }
    assert!(failures > 0, "a full disk fails writes");
    assert!(
        store.probe().await.is_err() || failures > 0,
        "the probe is a real write"
    );

    fs.free("filler");
    store.probe().await.expect("the journal takes writes again");
    let (after, failed) = write_many(&store, 9, 100).await;
    assert_eq!(
        (after.len(), failed),
        (100, 0),
        "no write fails once space is free: the failed commit left no transaction open"
    );
    reported.extend(after);
    store.flush().await.unwrap();

    // What a restart would find: every write reported durable is there.
    let stored = random_ids(&db).await;
    let missing: Vec<_> = reported.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} writes reported durable are not in the file (of {} reported, {failures} failed)",
        missing.len(),
        reported.len()
    );
}

#[tokio::test]
async fn a_deleted_or_replaced_database_fails_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let store = SqliteStore::open(
        &format!("sqlite://{}", db.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap();
    let text: Arc<str> = "hello".into();
    store.write_pending(&pending(1, 0, &text)).await.unwrap();
    store.check_file().unwrap();

    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let e = store.check_file().unwrap_err().to_string();
    assert!(e.contains("deleted"), "{e}");
    let e = store
        .write_pending(&pending(1, 1, &text))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("was deleted") && e.contains("db restore"), "{e}");
    assert!(store.probe().await.is_err(), "no probe succeeds either");
    assert!(!db.exists(), "the writer does not create a new file");

    // A file created in its place is another file: still refused.
    std::fs::write(&db, b"").unwrap();
    let e = store.probe().await.unwrap_err().to_string();
    assert!(e.contains("replaced"), "{e}");
}

/// qa8: the database deleted while the daemon ran (its `-wal` left behind), then `run` again:
/// an empty journal was created and every chat was posted again. Now the open is refused with
/// the ways out, and nothing is created; once the log is gone the open creates a journal.
#[tokio::test]
async fn a_database_gone_while_its_wal_remains_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let url = format!("sqlite://{}", db.display());
    let wal = dir.path().join("journal.db-wal");
    std::fs::write(&wal, b"left by the deleted database").unwrap();
    let e = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("journal.db is missing")
            && e.contains("journal.db-wal")
            && e.contains("db restore")
            && e.contains("delete"),
        "{e}"
    );
    assert!(!db.exists(), "nothing created");
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        b"left by the deleted database",
        "the log is kept"
    );
    std::fs::remove_file(&wal).unwrap();
    SqliteStore::open(&url, SqliteSettings::default())
        .await
        .expect("a fresh journal once the log is gone");
    assert!(db.exists());
}

#[tokio::test]
async fn open_existing_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let e = SqliteStore::open_existing(
        &format!("sqlite://{}", db.display()),
        SqliteSettings::default(),
    )
    .await
    .err()
    .expect("a missing database is an error")
    .to_string();
    assert!(
        e.contains("no database at") && e.contains("db restore"),
        "{e}"
    );
    assert!(!db.exists());
}

/// Issue 19: `stats` could not read a database in a read-only directory (it opened it for
/// writing: a new `-wal`, migrations). The read-only open reads every row, including those
/// still only in the `-wal` of a store that is open, and writes nothing: the database file
/// keeps its bytes and a write through it is refused.
#[tokio::test]
async fn a_database_opened_read_only_is_read_with_its_wal_and_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let url = format!("sqlite://{}", db.display());
    let writer = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let (ok, _) = write_many(&writer, 1, 20).await;
    assert_eq!(ok.len(), 20);
    // The writer stays open: its rows are (at least partly) in the -wal, not the main file.
    assert!(dir.path().join("journal.db-wal").exists());
    let before = std::fs::read(&db).unwrap();

    let reader = SqliteStore::open_read_only(&url)
        .await
        .unwrap()
        .expect("a current schema is read as it is");
    let now = Timestamp::now();
    let stats = reader.stats(None, now).await.unwrap();
    assert_eq!(stats.totals.pending, 20);
    let err = reader
        .write_pending(&pending(9, 0, &Arc::from("x")))
        .await
        .unwrap_err();
    assert!(matches!(err, smb_engine::StoreError::Closed), "{err:?}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database file was written"
    );
    drop(writer);
}

/// Overwrites the end of the file's last page with bytes that are not a b-tree page.
fn damage(db: &std::path::Path) {
    let len = std::fs::metadata(db).unwrap().len();
    let mut bytes = std::fs::read(db).unwrap();
    let page = 4096usize;
    let start = (len as usize).saturating_sub(page);
    let mut x: u32 = 0x1234_5678;
    for b in &mut bytes[start..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(db, bytes).unwrap();
}

#[tokio::test]
async fn a_damaged_file_fails_the_integrity_check_and_a_backup_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let url = format!("sqlite://{}", db.display());
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let (ok, _) = write_many(&store, 1, 200).await;
    assert_eq!(ok.len(), 200);

    // An online backup while the store is open.
    let backup = dir.path().join("backups/one.db");
    let bytes = maintenance::backup(&db, &backup).await.unwrap();
    assert!(bytes > 0);
    assert!(
        maintenance::backup(&db, &backup).await.is_err(),
        "a backup never overwrites a file"
    );
    drop(store);
    tokio::task::yield_now().await;

    // Checkpoint everything into the main file, then damage it.
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    assert!(
        maintenance::integrity_problems(&db, Thoroughness::Full)
            .await
            .unwrap()
            .is_empty()
    );
    damage(&db);
    let problems = maintenance::integrity_problems(&db, Thoroughness::Quick)
        .await
        .unwrap();
    assert!(!problems.is_empty(), "quick_check finds the damage");

    // A damaged backup is refused and changes nothing.
    let bad = dir.path().join("bad.db");
    std::fs::copy(&db, &bad).unwrap();
    let e = maintenance::restore(&bad, &db, jiff::Timestamp::from_second(1).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("damaged too"), "{e}");

    let done = maintenance::restore(
        &backup,
        &db,
        jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    )
    .await
    .unwrap();
    let aside = done.kept_aside.expect("the damaged file is kept aside");
    assert!(
        aside
            .to_string_lossy()
            .ends_with(".before-restore-20231114-221320"),
        "a readable UTC date, as `db backup` writes (QA finding 18; was epoch seconds)"
    );
    assert!(aside.exists());
    assert!(
        maintenance::integrity_problems(&db, Thoroughness::Full)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(random_ids(&db).await, ok, "the backup's rows are back");
}
