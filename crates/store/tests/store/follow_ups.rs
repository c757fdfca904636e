//! Issue 15's follow-up journal (migration 0010) on SQLite and on PostgreSQL: our previous post
//! per (broadcaster, chat), follow-ups written pending and read back in their order after a
//! restart, results, and the counts `stats` shows. Each story runs on both backends (the
//! PostgreSQL ones need `SMB_TEST_POSTGRES_URL`, see `postgres.rs`).

use jiff::Timestamp;
use smb_domain::TargetRef;
use smb_engine::{
    DeliveryKey, FollowUp, FollowUpAction, FollowUpResult, OurPost, Outcome, PendingDelivery, Store,
};
use smb_store::{FollowUpCount, PgSettings, PgStore, SqliteSettings, SqliteStore};

use super::postgres::{fresh_database, server_url};

/// What the stories need besides the `Store` port: `stats`' counts (an inherent method of
/// each store) and a clean shutdown before a restart.
trait Journal: Store + Sized {
    async fn counts(&self) -> Vec<FollowUpCount>;
    async fn shut(self);
}

impl Journal for SqliteStore {
    async fn counts(&self) -> Vec<FollowUpCount> {
        self.follow_up_counts().await.unwrap()
    }
    async fn shut(self) {
        self.close().await.unwrap();
    }
}

impl Journal for PgStore {
    async fn counts(&self) -> Vec<FollowUpCount> {
        self.follow_up_counts().await.unwrap()
    }
    async fn shut(self) {
        self.close().await.unwrap();
    }
}

async fn open_pg(url: &str) -> PgStore {
    PgStore::open(url, PgSettings::default()).await.unwrap()
}

/// A fresh PostgreSQL database's URL; `None` when no server is configured (outside CI).
async fn pg_url() -> Option<String> {
    Some(fresh_database(&server_url()?).await)
}

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/data/smb.db", dir.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap()
}

async fn post(store: &dyn Store, cycle: u64, target: &str, account: &str, id: Option<i64>) {
    let at: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let key = DeliveryKey {
        broadcaster: "b2b".into(),
        cycle,
        target: TargetRef::parse(target).unwrap(),
    };
    store
        .write_pending(&PendingDelivery {
            key: key.clone(),
            account: account.into(),
            random_id: 1000 + i64::try_from(cycle).unwrap(),
            message: "price list".into(),
            variant: None,
            attempt: 0,
            at,
        })
        .await
        .unwrap();
    store
        .record_outcome(&key, &Outcome::Sent { message_id: id }, at)
        .await
        .unwrap();
}

fn row(cycle: u64, action: FollowUpAction, id: i64) -> FollowUp {
    FollowUp {
        broadcaster: "b2b".into(),
        cycle,
        target: "-1001000000001".into(),
        account: "acc1".into(),
        action,
        message_id: id,
        album: Vec::new(),
    }
}

#[tokio::test]
async fn the_previous_post_is_the_newest_earlier_one_with_an_id_or_a_post_record() {
    let dir = tempfile::tempdir().unwrap();
    previous_post_story(&open(dir.path()).await).await;
}

#[tokio::test]
async fn the_previous_post_is_the_same_on_postgres() {
    let Some(url) = pg_url().await else {
        return;
    };
    let store = open_pg(&url).await;
    previous_post_story(&store).await;
    store.shut().await;
}

async fn previous_post_story<S: Journal>(store: &S) {
    let chat = "-1001000000001";
    assert_eq!(store.previous_post("b2b", chat, 5).await.unwrap(), None);
    post(store, 1, chat, "acc1", Some(11)).await;
    post(store, 2, chat, "acc2", Some(12)).await;
    // Answered as already sent: no id in the delivery.
    post(store, 3, chat, "acc1", None).await;
    post(store, 1, "@other", "acc1", Some(99)).await;
    store.flush().await.unwrap();
    let want = |cycle, account: &str, message_id| {
        Some(OurPost {
            cycle,
            account: account.into(),
            message_id,
            album: Vec::new(),
        })
    };
    assert_eq!(
        store.previous_post("b2b", chat, 4).await.unwrap(),
        want(2, "acc2", 12)
    );
    assert_eq!(
        store.previous_post("b2b", chat, 2).await.unwrap(),
        want(1, "acc1", 11)
    );
    assert_eq!(store.previous_post("b2b", chat, 1).await.unwrap(), None);
    assert_eq!(store.previous_post("b2c", chat, 4).await.unwrap(), None);
    // A post record (written with the follow-ups before the outcome) names cycle 3's post.
    let at: Timestamp = "2026-05-01T10:01:00Z".parse().unwrap();
    store
        .write_follow_ups(&[row(3, FollowUpAction::Post, 13)], at)
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(
        store.previous_post("b2b", chat, 4).await.unwrap(),
        want(3, "acc1", 13)
    );
    // A post record is born done: nothing pending, nothing counted.
    assert!(store.pending_follow_ups().await.unwrap().is_empty());
    assert!(store.counts().await.is_empty());
}

#[tokio::test]
async fn pending_follow_ups_survive_a_restart_in_order_and_results_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    write_three(open(dir.path()).await).await;
    after_restart(&open(dir.path()).await).await;
}

#[tokio::test]
async fn pending_follow_ups_survive_a_restart_on_postgres() {
    let Some(url) = pg_url().await else {
        return;
    };
    write_three(open_pg(&url).await).await;
    let store = open_pg(&url).await;
    after_restart(&store).await;
    store.shut().await;
}

fn at() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().unwrap()
}

/// Three follow-ups written, one done, one written again; then the store is shut.
async fn write_three<S: Journal>(store: S) {
    let at = at();
    {
        store
            .write_follow_ups(
                &[
                    row(2, FollowUpAction::Delete, 11),
                    row(2, FollowUpAction::Pin, 12),
                    row(1, FollowUpAction::Pin, 11),
                ],
                at,
            )
            .await
            .unwrap();
        store
            .record_follow_up(&row(1, FollowUpAction::Pin, 11), &FollowUpResult::Done, at)
            .await
            .unwrap();
        // Written again (a repeat after a crash): the row keeps its state.
        store
            .write_follow_ups(&[row(1, FollowUpAction::Pin, 11)], at)
            .await
            .unwrap();
    }
    store.shut().await;
}

/// What a restarted store reads: the two pending ones in order; then their results counted.
async fn after_restart<S: Journal>(store: &S) {
    let at = at();
    // Cycle 2's pin before its delete (post, pin, then delete the old one).
    assert_eq!(
        store.pending_follow_ups().await.unwrap(),
        vec![
            row(2, FollowUpAction::Pin, 12),
            row(2, FollowUpAction::Delete, 11)
        ]
    );
    store
        .record_follow_up(
            &row(2, FollowUpAction::Delete, 11),
            &FollowUpResult::Refused {
                code: "MESSAGE_DELETE_FORBIDDEN".into(),
            },
            at,
        )
        .await
        .unwrap();
    store
        .record_follow_up(&row(2, FollowUpAction::Pin, 12), &FollowUpResult::Gone, at)
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(store.pending_follow_ups().await.unwrap().is_empty());
    let count = |action: &str, result: &str, code: Option<&str>| FollowUpCount {
        broadcaster: "b2b".into(),
        action: action.into(),
        result: result.into(),
        code: code.map(Into::into),
        count: 1,
    };
    assert_eq!(
        store.counts().await,
        vec![
            count("pin", "done", None),
            count("pin", "gone", None),
            count("delete", "refused", Some("MESSAGE_DELETE_FORBIDDEN")),
        ]
    );
}
