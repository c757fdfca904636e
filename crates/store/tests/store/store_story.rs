//! The store story: one sequence of journal operations that every backend must pass
//! (SQLite here; `postgres.rs` runs the same function on PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store, TargetStatus};
use smb_store::{SqliteSettings, SqliteStore};

fn t(s: &str) -> TargetRef {
    TargetRef::parse(s).unwrap()
}

pub(crate) fn pending(
    b: &str,
    cycle: u64,
    target: &str,
    random_id: i64,
    at: Timestamp,
) -> PendingDelivery {
    PendingDelivery {
        key: DeliveryKey {
            broadcaster: b.into(),
            cycle,
            target: t(target),
        },
        account: "acc1".into(),
        random_id,
        message: "price list".into(),
        variant: None,
        attempt: 0,
        at,
    }
}

pub(crate) async fn story(store: &dyn Store) {
    let t0: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    assert!(store.last_cycle("b2b").await.unwrap().is_none());

    store.start_cycle("b2b", 1, "price list", t0).await.unwrap();
    store
        .write_pending(&pending("b2b", 1, "@shop_one", 101, t0))
        .await
        .unwrap();
    store
        .record_outcome(
            &DeliveryKey {
                broadcaster: "b2b".into(),
                cycle: 1,
                target: t("@shop_one"),
            },
            &Outcome::Sent {
                message_id: Some(9),
            },
            t0,
        )
        .await
        .unwrap();
    store
        .write_pending(&pending("b2b", 1, "@shop_two", 102, t0))
        .await
        .unwrap();
    // A re-write of the same delivery (a retry) never changes its random_id.
    store
        .write_pending(&pending("b2b", 1, "@shop_two", 999, t0))
        .await
        .unwrap();
    let until = t0 + SignedDuration::from_secs(60);
    store
        .write_pending(&pending("b2b", 1, "-1001234567890", 103, t0))
        .await
        .unwrap();
    store
        .record_outcome(
            &DeliveryKey {
                broadcaster: "b2b".into(),
                cycle: 1,
                target: t("-1001234567890"),
            },
            &Outcome::Deferred {
                until,
                class: smb_domain::ErrorClass::ChatPause,
                code: "SLOWMODE_WAIT".into(),
            },
            t0,
        )
        .await
        .unwrap();

    let c = store.last_cycle("b2b").await.unwrap().expect("cycle 1");
    assert_eq!(
        (c.cycle, c.message.as_str(), c.completed_at),
        (1, "price list", None)
    );
    let mut d = c.deliveries.clone();
    d.sort_by(|a, b| a.target.cmp(&b.target));
    let summary: Vec<(&str, &str, i64, Option<Timestamp>)> = d
        .iter()
        .map(|d| {
            (
                d.target.as_str(),
                d.status.as_str(),
                d.random_id,
                d.retry_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("-1001234567890", "deferred", 103, Some(until)),
            ("@shop_one", "sent", 101, None),
            ("@shop_two", "pending", 102, None),
        ]
    );

    store.complete_cycle("b2b", 1, t0).await.unwrap();
    let c = store.last_cycle("b2b").await.unwrap().unwrap();
    assert_eq!(c.completed_at, Some(t0));

    store
        .set_target_status(
            "@shop_two",
            &TargetStatus::Disabled {
                reason: "CHANNEL_PRIVATE (account acc1)".into(),
                since: t0,
                recheck_at: Some(until),
            },
        )
        .await
        .unwrap();
    let st = store.target_statuses().await.unwrap();
    assert!(
        matches!(st.get("@shop_two"), Some(TargetStatus::Disabled { reason, recheck_at: Some(_), .. }) if reason.starts_with("CHANNEL_PRIVATE"))
    );
    store
        .set_target_status("@shop_two", &TargetStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        store.target_statuses().await.unwrap().get("@shop_two"),
        Some(&TargetStatus::Active)
    );

    let pause_until = t0 + SignedDuration::from_secs(300);
    store
        .record_pause(
            "acc1",
            None,
            smb_domain::PauseKind::FloodWait,
            Duration::from_secs(300),
            pause_until,
            t0,
        )
        .await
        .unwrap();
    store
        .set_account_stopped(
            "acc2",
            Some(&smb_domain::AccountStop::Telegram(
                "AUTH_KEY_UNREGISTERED".into(),
            )),
            t0,
        )
        .await
        .unwrap();
    let accounts = store.accounts().await.unwrap();
    assert_eq!(accounts["acc1"].paused_until, Some(pause_until));
    assert_eq!(accounts["acc1"].last_send_at, Some(t0));
    assert_eq!(
        accounts["acc2"]
            .stopped_reason
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("AUTH_KEY_UNREGISTERED")
    );
    store.set_account_stopped("acc2", None, t0).await.unwrap();
    assert_eq!(store.accounts().await.unwrap()["acc2"].stopped_reason, None);
    store
        .set_broadcaster_state("b2b", smb_domain::OperatorState::Paused, t0)
        .await
        .unwrap();
    store
        .set_broadcaster_state("b2c", smb_domain::OperatorState::Stopped, t0)
        .await
        .unwrap();
    store
        .set_broadcaster_state("b2b", smb_domain::OperatorState::Running, t0)
        .await
        .unwrap();
    let states = store.broadcaster_states().await.unwrap();
    assert_eq!(states.get("b2b").map(|s| s.as_str()), Some("running"));
    assert_eq!(states.get("b2c").map(|s| s.as_str()), Some("stopped"));
    // A target refused one account (QA F2): one row per (account, target), the latest kept,
    // read back while its re-check is ahead, gone when cleared.
    let refusal = |account: &str, target: &str, code: &str, hours: i64| smb_engine::StoredRefusal {
        account: account.into(),
        target: target.into(),
        code: code.into(),
        reason: format!("{code}: may not post"),
        until: t0 + jiff::SignedDuration::from_hours(hours),
        at: t0,
    };
    store
        .record_refusal(&refusal("acc1", "@shared", "CHAT_WRITE_FORBIDDEN", 1))
        .await
        .unwrap();
    store
        .record_refusal(&refusal("acc1", "@shared", "USER_BANNED_IN_CHANNEL", 24))
        .await
        .unwrap();
    store
        .record_refusal(&refusal("acc2", "@shared", "PRE_FLIGHT_CHECK", 24))
        .await
        .unwrap();
    store
        .record_refusal(&refusal("acc2", "@other", "CHAT_WRITE_FORBIDDEN", -1))
        .await
        .unwrap();
    assert_eq!(
        store.refusals(t0).await.unwrap(),
        vec![
            refusal("acc1", "@shared", "USER_BANNED_IN_CHANNEL", 24),
            refusal("acc2", "@shared", "PRE_FLIGHT_CHECK", 24),
        ]
    );
    store.clear_refusal("acc2", "@shared").await.unwrap();
    assert_eq!(
        store.refusals(t0).await.unwrap(),
        vec![refusal("acc1", "@shared", "USER_BANNED_IN_CHANNEL", 24)]
    );
    store.flush().await.unwrap();
}

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/data/smb.db", dir.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sqlite_passes_the_story() {
    let dir = tempfile::tempdir().unwrap();
    story(&open(dir.path()).await).await;
}

#[tokio::test]
async fn what_was_written_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::now();
    {
        let s = open(dir.path()).await;
        s.start_cycle("b2b", 3, "m", t0).await.unwrap();
        s.write_pending(&pending("b2b", 3, "@shop_one", 7, t0))
            .await
            .unwrap();
    }
    let s = open(dir.path()).await;
    let c = s.last_cycle("b2b").await.unwrap().unwrap();
    assert_eq!(c.cycle, 3);
    assert_eq!(c.deliveries[0].random_id, 7);
    assert_eq!(c.deliveries[0].status, "pending");
}

#[tokio::test]
async fn concurrent_writers_are_committed_together_and_each_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()).await);
    let t0 = Timestamp::now();
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
    let stats = s.stats(None, t0).await.unwrap();
    assert_eq!(stats.totals.pending, 500);
}

#[tokio::test]
async fn an_in_memory_url_is_refused_with_the_fix() {
    let err = SqliteStore::open("sqlite::memory:", SqliteSettings::default())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("sqlite://data/sendmessagebot.db"),
        "{err}"
    );
}
