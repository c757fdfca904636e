//! Issue 15's survival check on SQLite (migration 0014): removals by a chat's admins counted
//! once per post, in a row per chat, the flag at `flag_after`, a live post starting again,
//! and all of it kept across a restart.

use jiff::Timestamp;
use smb_engine::{PostCheck, PostCheckResult, Store};
use smb_store::{SqliteSettings, SqliteStore};

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/data/smb.db", dir.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap()
}

fn check(target: &str, id: i64, removed: bool) -> PostCheck {
    PostCheck {
        broadcaster: "b2b".into(),
        target: target.into(),
        message_id: id,
        removed,
        flag_after: 2,
        at: "2026-05-01T10:00:00Z".parse::<Timestamp>().unwrap(),
    }
}

fn result(removed_in_row: u32, newly_flagged: bool) -> PostCheckResult {
    PostCheckResult {
        removed_in_row,
        newly_flagged,
    }
}

#[tokio::test]
async fn removals_count_once_per_post_flag_at_the_setting_and_a_live_post_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = "-1001000000001";
    let b = "-1001000000002";
    {
        let store = open(dir.path()).await;
        assert_eq!(
            store.record_post_check(&check(b, 7, false)).await.unwrap(),
            result(0, false)
        );
        assert_eq!(
            store.record_post_check(&check(a, 10, true)).await.unwrap(),
            result(1, false)
        );
        // The same post checked again (a crash re-ran the delivery): nothing new.
        assert_eq!(
            store.record_post_check(&check(a, 10, true)).await.unwrap(),
            result(1, false)
        );
    }
    // Kept across a restart.
    let store = open(dir.path()).await;
    assert_eq!(
        store.record_post_check(&check(a, 11, true)).await.unwrap(),
        result(2, true)
    );
    // Flagged once: the third removal keeps the flag without telling again.
    assert_eq!(
        store.record_post_check(&check(a, 12, true)).await.unwrap(),
        result(3, false)
    );
    let all = store.chat_survival().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0].target.as_str(),
            all[0].removed_in_row,
            all[0].removed_total,
            all[0].flagged
        ),
        (a, 3, 3, true)
    );
    assert_eq!(
        (
            all[1].target.as_str(),
            all[1].removed_in_row,
            all[1].removed_total,
            all[1].flagged
        ),
        (b, 0, 0, false)
    );
    assert!(all[0].last_removed_at.is_some() && all[1].last_removed_at.is_none());
    // A live post: the count starts again and the flag is lifted; the total stays.
    assert_eq!(
        store.record_post_check(&check(a, 13, false)).await.unwrap(),
        result(0, false)
    );
    let all = store.chat_survival().await.unwrap();
    assert_eq!(
        (all[0].removed_in_row, all[0].removed_total, all[0].flagged),
        (0, 3, false)
    );
    // flag_after = 0 never flags.
    let never = PostCheck {
        flag_after: 0,
        ..check(b, 8, true)
    };
    assert_eq!(
        store.record_post_check(&never).await.unwrap(),
        result(1, false)
    );
}
