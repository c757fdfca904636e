//! What a restart needs for per-chat rules (recent posts, who attempted what) and what `stats`
//! shows of a chat's holds.

use jiff::Timestamp;
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};
use smb_store::{SqliteSettings, SqliteStore};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn pending(cycle: u64, target: &str, account: &str, at: Timestamp) -> PendingDelivery {
    PendingDelivery {
        key: DeliveryKey {
            broadcaster: "b2b".into(),
            cycle,
            target: TargetRef::parse(target).unwrap(),
        },
        account: account.into(),
        random_id: 7,
        message: "price list".into(),
        variant: None,
        attempt: 0,
        at,
    }
}

#[tokio::test]
async fn recent_posts_and_holds_survive_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}/smb.db", dir.path().display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap();
    let old = ts("2026-05-01T10:00:00Z");
    let recent = ts("2026-05-04T10:00:00Z");
    for (cycle, target, account, at, sent) in [
        (1, "@old_chat", "acc1", old, true),
        (2, "@wholesale/7", "acc3", recent, true),
        (2, "@waiting", "acc3", recent, false),
    ] {
        let p = pending(cycle, target, account, at);
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
    store.flush().await.unwrap();

    let mut rows = store
        .recent_deliveries(ts("2026-05-03T00:00:00Z"))
        .await
        .unwrap();
    rows.sort_by(|a, b| a.target.cmp(&b.target));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.target.as_str(), r.account.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("@waiting", "acc3", "pending"),
            ("@wholesale/7", "acc3", "sent")
        ]
    );
    assert_eq!(rows[1].at, recent);

    let st = store.stats(None, ts("2026-05-04T12:00:00Z")).await.unwrap();
    assert_eq!(st.held_targets.len(), 1);
    assert_eq!(st.held_targets[0].target, "@wholesale/7");
    assert_eq!(st.held_targets[0].until, "2026-05-05T10:00:00Z");
    // Past its time, a hold is no longer shown.
    let later = store.stats(None, ts("2026-05-05T10:00:01Z")).await.unwrap();
    assert!(later.held_targets.is_empty());
}

/// Issue 19: a slow-mode wait Telegram told (a pause with a target) is read back after a
/// restart while it runs, the latest per (account, target); account pauses and waits over
/// are not.
#[tokio::test]
async fn told_chat_pauses_are_read_back_while_they_run() {
    use smb_domain::PauseKind;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/smb.db", dir.path().display());
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let at = ts("2026-05-04T10:00:00Z");
    let s = |n: i64| at + jiff::SignedDuration::from_secs(n);
    for (account, target, kind, until) in [
        ("acc1", Some("@slow"), PauseKind::SlowMode, s(30)),
        ("acc1", Some("@slow"), PauseKind::SlowMode, s(600)),
        ("acc1", Some("@over"), PauseKind::SlowMode, s(5)),
        ("acc2", Some("@forum/7"), PauseKind::SlowMode, s(120)),
        ("acc1", None, PauseKind::FloodWait, s(900)),
    ] {
        store
            .record_pause(account, target, kind, Duration::from_secs(1), until, at)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    store.close().await.unwrap();
    let store = SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap();
    let pauses = store.chat_pauses(s(10)).await.unwrap();
    let got: Vec<(&str, &str, Timestamp)> = pauses
        .iter()
        .map(|p| (p.account.as_str(), p.target.as_str(), p.until))
        .collect();
    assert_eq!(
        got,
        [("acc1", "@slow", s(600)), ("acc2", "@forum/7", s(120))]
    );
}

/// QA F9: "last post" of the pre-flight check is per account (one read per target); QA F2b:
/// a refusal row an older version wrote as a chat hold is not listed as held.
#[tokio::test]
async fn last_posts_are_per_account_and_old_refusal_holds_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}/smb.db", dir.path().display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap();
    let t1 = ts("2026-05-01T10:00:00Z");
    let t2 = ts("2026-05-02T10:00:00Z");
    let t3 = ts("2026-05-03T10:00:00Z");
    for (cycle, account, at, sent) in [
        (1, "acc1", t1, true),
        (2, "acc2", t2, true),
        (3, "acc1", t3, false),
    ] {
        let p = pending(cycle, "@shared", account, at);
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
    store.flush().await.unwrap();
    let last = store.last_sent_by_account("@shared").await.unwrap();
    assert_eq!(last.len(), 2, "{last:?}");
    assert_eq!(last["acc1"], t1, "acc1's own post, not acc2's later one");
    assert_eq!(last["acc2"], t2);
    assert!(
        store
            .last_sent_by_account("@none")
            .await
            .unwrap()
            .is_empty()
    );

    let until = ts("2026-05-05T10:00:00Z");
    store
        .record_chat_hold("@shared", "refused:acc1:CHAT_WRITE_FORBIDDEN", until, t3)
        .await
        .unwrap();
    store
        .record_chat_hold("@ruled", "rule:max_per_day:1", until, t3)
        .await
        .unwrap();
    store.flush().await.unwrap();
    let held = store.held_targets(t3).await.unwrap();
    let targets: Vec<&str> = held.iter().map(|h| h.target.as_str()).collect();
    assert_eq!(targets, vec!["@ruled"]);
}
