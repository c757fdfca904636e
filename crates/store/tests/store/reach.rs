//! Issue 17 on SQLite: the variant a chat got is kept with its delivery; reach reads fall
//! due at the set times after the send and are stored with the delivery.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, PostReach, Store};
use smb_store::{SqliteSettings, SqliteStore};

fn key(target: &str) -> DeliveryKey {
    DeliveryKey {
        broadcaster: "b2b".into(),
        cycle: 1,
        target: TargetRef::parse(target).unwrap(),
    }
}

async fn sent(store: &SqliteStore, target: &str, variant: &str, id: i64, at: Timestamp) {
    store
        .write_pending(&PendingDelivery {
            key: key(target),
            account: "acc1".into(),
            random_id: id,
            message: Arc::from(format!("price {variant}")),
            variant: Some(Arc::from(variant)),
            attempt: 0,
            at,
        })
        .await
        .unwrap();
    store
        .record_outcome(
            &key(target),
            &Outcome::Sent {
                message_id: Some(id),
            },
            at,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn reach_falls_due_at_the_set_times_and_is_kept_with_the_variant() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}/data/smb.db", dir.path().display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap();
    let t0: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    store.start_cycle("b2b", 1, "price A", t0).await.unwrap();
    sent(&store, "@chat_one", "A", 11, t0).await;
    sent(
        &store,
        "@chat_two",
        "B",
        12,
        t0 + SignedDuration::from_hours(1),
    )
    .await;
    store.flush().await.unwrap();
    let after = [
        Duration::from_secs(24 * 3600),
        Duration::from_secs(72 * 3600),
    ];
    let h = |n| t0 + SignedDuration::from_hours(n);

    assert!(store.reach_due(&after, h(23), 10).await.unwrap().is_empty());
    let due = store.reach_due(&after, h(24), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].message_id, due[0].reads), (11, 0));
    let due = store.reach_due(&after, h(25), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(store.reach_due(&after, h(25), 1).await.unwrap().len(), 1);

    let figures = PostReach {
        message_id: 11,
        views: Some(120),
        forwards: Some(3),
        reactions: 7,
        replies: 2,
        gone: false,
    };
    assert!(
        store
            .record_reach(&key("@chat_one"), &figures, h(24))
            .await
            .unwrap()
    );
    // Read once: the next read of @one is due at 72 h, @two's first now.
    let due = store.reach_due(&after, h(30), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.message_id).collect::<Vec<_>>(), [12]);
    let due = store.reach_due(&after, h(72), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].reads, 1);

    let posts = store.variant_posts(None).await.unwrap();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        (posts[0].variant.as_str(), posts[0].message.as_str()),
        ("A", "price A")
    );
    assert_eq!(
        (posts[0].views, posts[0].reactions, posts[0].replies),
        (Some(120), Some(7), Some(2))
    );
    assert_eq!(posts[1].variant, "B");
    assert_eq!((posts[1].views, posts[1].reach_reads), (None, 0));
    assert!(
        store
            .variant_posts(Some(&["other".to_owned()]))
            .await
            .unwrap()
            .is_empty()
    );
    // Done with both reads: nothing more is due.
    store
        .record_reach(&key("@chat_one"), &figures, h(72))
        .await
        .unwrap();
    store
        .record_reach(&key("@chat_two"), &figures, h(72))
        .await
        .unwrap();
    store
        .record_reach(&key("@chat_two"), &figures, h(73))
        .await
        .unwrap();
    assert!(
        store
            .reach_due(&after, h(500), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // An unknown delivery is not invented.
    assert!(
        !store
            .record_reach(&key("@chat_three"), &figures, h(73))
            .await
            .unwrap()
    );
    // The targets page's median reach per chat: views, or reactions + replies where there
    // are no views (a group's post).
    let group = smb_engine::PostReach {
        views: None,
        forwards: None,
        reactions: 3,
        replies: 4,
        ..figures
    };
    store
        .record_reach(&key("@chat_two"), &group, h(74))
        .await
        .unwrap();
    let per = store.reach_per_target().await.unwrap();
    assert_eq!(
        per.into_iter().collect::<Vec<_>>(),
        [
            ("@chat_one".to_owned(), (1, 120.0)),
            ("@chat_two".to_owned(), (1, 7.0))
        ]
    );
}
