//! Issue 15's uploads table (migration 0015) on SQLite, and the same story on PostgreSQL
//! (`postgres.rs` runs [`uploads_story`] on both): what an account uploaded, by the file's
//! SHA-256, kept across a restart, per account, replaced by a new upload and forgotten when
//! Telegram refused its re-use.

use jiff::Timestamp;
use smb_engine::{StoredUpload, Uploads};
use smb_store::{SqliteSettings, SqliteStore};

fn photo(id: i64, reference: &[u8]) -> StoredUpload {
    StoredUpload {
        document: false,
        id,
        access_hash: -7_000_000_000_000,
        file_reference: reference.to_vec(),
    }
}

/// Writes, reads, replaces and forgets uploads through `s`; answers what it read, in order.
pub(crate) async fn uploads_story(s: &dyn Uploads) -> Vec<Option<StoredUpload>> {
    let at = "2026-12-01T06:00:00Z".parse::<Timestamp>().unwrap();
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    let doc = StoredUpload {
        document: true,
        id: 77,
        access_hash: 1,
        file_reference: Vec::new(),
    };
    let mut seen = vec![s.stored_upload("acc1", &a, false).await.unwrap()];
    s.remember_upload("acc1", &a, &photo(5, &[0, 0xff, 9]), at)
        .await
        .unwrap();
    s.remember_upload("acc1", &b, &doc, at).await.unwrap();
    seen.push(s.stored_upload("acc1", &a, false).await.unwrap());
    seen.push(s.stored_upload("acc1", &b, true).await.unwrap());
    // Another account's upload of the same file is its own (access hashes are per account),
    // and the same bytes as a document are another upload than as a photo.
    seen.push(s.stored_upload("acc2", &a, false).await.unwrap());
    seen.push(s.stored_upload("acc1", &a, true).await.unwrap());
    // Uploaded again (a refused re-use): the new reference replaces the old one.
    s.remember_upload("acc1", &a, &photo(6, &[1]), at)
        .await
        .unwrap();
    seen.push(s.stored_upload("acc1", &a, false).await.unwrap());
    s.forget_upload("acc1", &b, true).await.unwrap();
    seen.push(s.stored_upload("acc1", &b, true).await.unwrap());
    seen
}

#[tokio::test]
async fn uploads_are_kept_per_account_and_file_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/smb.db", dir.path().display());
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let seen = uploads_story(&store).await;
    assert_eq!(seen[0], None);
    assert_eq!(seen[1], Some(photo(5, &[0, 0xff, 9])));
    assert!(seen[2].as_ref().is_some_and(|d| d.document && d.id == 77));
    assert_eq!(seen[3], None, "another account has not uploaded it");
    assert_eq!(seen[4], None, "not uploaded as a document");
    assert_eq!(
        seen[5],
        Some(photo(6, &[1])),
        "a new upload replaces the old"
    );
    assert_eq!(seen[6], None, "forgotten after a refused re-use");
    store.close().await.unwrap();
    // A restart reads what was kept.
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .stored_upload("acc1", &"a".repeat(64), false)
            .await
            .unwrap(),
        Some(photo(6, &[1]))
    );
    // The access hash is the account's: never in Debug.
    let shown = format!("{:?}", photo(6, &[1]));
    assert!(!shown.contains("7000000000000"), "{shown}");
}
