//! Upgraded groups in the store: recorded once (so the operator is told once), kept across a
//! reopen, and counted under the new id in `stats`; "last posted" for the pre-flight check.

use jiff::Timestamp;
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};
use smb_store::{SqliteSettings, SqliteStore};

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/data/smb.db", dir.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap()
}

async fn sent(s: &SqliteStore, cycle: u64, target: &str, at: Timestamp) {
    let key = DeliveryKey {
        broadcaster: "b2b".into(),
        cycle,
        target: TargetRef::parse(target).unwrap(),
    };
    s.start_cycle("b2b", cycle, "m", at).await.unwrap();
    s.write_pending(&PendingDelivery {
        key: key.clone(),
        account: "acc1".into(),
        random_id: cycle as i64,
        message: "m".into(),
        variant: None,
        attempt: 0,
        at,
    })
    .await
    .unwrap();
    s.record_outcome(
        &key,
        &Outcome::Sent {
            message_id: Some(1),
        },
        at,
    )
    .await
    .unwrap();
    s.flush().await.unwrap();
}

/// The latest post into `target`, any account.
async fn last_sent(s: &SqliteStore, target: &str) -> Option<Timestamp> {
    s.last_sent_by_account(target)
        .await
        .unwrap()
        .values()
        .max()
        .copied()
}

#[tokio::test]
async fn an_upgrade_is_recorded_once_survives_reopening_and_counts_under_the_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let t1: Timestamp = "2026-11-30T09:00:00Z".parse().unwrap();
    let t2: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    {
        let s = open(dir.path()).await;
        assert_eq!(last_sent(&s, "-4001").await, None);
        sent(&s, 1, "-4001", t1).await;
        assert_eq!(last_sent(&s, "-4001").await, Some(t1));
        assert!(
            s.record_migration("-4001", "-1001000000200", "acc1", t1)
                .await
                .unwrap()
        );
        assert!(
            !s.record_migration("-4001", "-1001000000200", "acc2", t2)
                .await
                .unwrap(),
            "known: not again"
        );
    }
    let s = open(dir.path()).await;
    assert!(
        !s.record_migration("-4001", "-1001000000200", "acc1", t2)
            .await
            .unwrap(),
        "known after a reopen"
    );
    // The configuration now names the new id: its deliveries join the old one's.
    sent(&s, 2, "-1001000000200", t2).await;
    let m = s.chat_migrations().await.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].old.as_str(), m[0].new.as_str(), m[0].account.as_str()),
        ("-4001", "-1001000000200", "acc1")
    );
    assert_eq!(m[0].at, t1.to_string());
    let st = s.stats(None, t2).await.unwrap();
    assert_eq!(st.migrated_targets.len(), 1);
    let mt = &st.migrated_targets[0];
    assert_eq!(
        (mt.target.as_str(), mt.alias.as_str(), mt.counts.sent),
        ("-1001000000200", "-4001", 2)
    );
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["migrated_targets"][0]["alias"], "-4001");

    // A group upgraded again (another supergroup) is news.
    assert!(
        s.record_migration("-4001", "-1001000000300", "acc1", t2)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn stats_json_has_no_migrated_targets_without_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let st = s.stats(None, Timestamp::now()).await.unwrap();
    let json = serde_json::to_value(&st).unwrap();
    assert!(json.get("migrated_targets").is_none(), "{json}");
}

#[tokio::test]
async fn last_post_is_the_newest_sent_delivery_of_that_target_only() {
    let dir = tempfile::tempdir().unwrap();
    let t: Timestamp = "2026-11-30T09:00:00Z".parse().unwrap();
    let later = |m: i64| t + jiff::SignedDuration::from_mins(m);
    let s = open(dir.path()).await;
    sent(&s, 1, "@prices", t).await;
    sent(&s, 2, "@prices", later(10)).await;
    // Newer rows that are not a post there: another chat's, a failure, a pending send.
    sent(&s, 3, "@other", later(30)).await;
    let key = |cycle| DeliveryKey {
        broadcaster: "b2b".into(),
        cycle,
        target: TargetRef::parse("@prices").unwrap(),
    };
    for (cycle, fail) in [(3, true), (4, false)] {
        s.start_cycle("b2b", cycle, "m", later(40)).await.unwrap();
        s.write_pending(&PendingDelivery {
            key: key(cycle),
            account: "acc1".into(),
            random_id: 100 + cycle as i64,
            message: "m".into(),
            variant: None,
            attempt: 0,
            at: later(40),
        })
        .await
        .unwrap();
        if fail {
            s.record_outcome(
                &key(cycle),
                &Outcome::Failed {
                    class: smb_domain::ErrorClass::TargetDead,
                    code: "CHAT_WRITE_FORBIDDEN".into(),
                    detail: String::new(),
                },
                later(41),
            )
            .await
            .unwrap();
        }
    }
    s.flush().await.unwrap();
    let last = async |target: &str| {
        let by_account = s.last_sent_by_account(target).await.unwrap();
        assert!(by_account.keys().all(|a| a == "acc1"), "{by_account:?}");
        by_account.get("acc1").copied()
    };
    assert_eq!(last("@prices").await, Some(later(10)));
    assert_eq!(last("@other").await, Some(later(30)));
    assert_eq!(last("@prices/7").await, None);
}
