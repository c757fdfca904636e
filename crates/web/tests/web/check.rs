//! The dashboard's pre-flight check: `POST /api/v1/targets/check` runs the engine's check over
//! the daemon's (account, target) pairs on the sandbox gateway, `GET` shows progress and rows,
//! the "Target check" page shows them in English and Russian.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};

use crate::common::{TOKEN, app_with_faults, get, post};

/// Waits (yielding to the check's task) until the run is over; the run is on the sandbox
/// without pauses, so it ends after a few polls.
async fn finished(r: &axum::Router) -> serde_json::Value {
    for _ in 0..2000 {
        let run = get(r, "/api/v1/targets/check").await.json();
        if run["running"] == false {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the check did not finish");
}

#[tokio::test]
async fn the_check_runs_through_the_api_and_the_page_shows_each_pair() {
    let fault: smb_telegram::FaultRule = serde_json::from_value(json!({
        "account": "acc2", "chat": "@shop_two", "error": "CHAT_WRITE_FORBIDDEN"
    }))
    .unwrap();
    let a = app_with_faults(
        tempfile::tempdir().unwrap(),
        Some(TOKEN),
        "127.0.0.1:8080",
        None,
        vec![fault],
    )
    .await;
    let r = &a.router;

    // One confirmed post into @shop_one, from the journal.
    let at: jiff::Timestamp = "2026-11-30T09:15:00Z".parse().unwrap();
    let key = DeliveryKey {
        broadcaster: "b2b".into(),
        cycle: 1,
        target: TargetRef::parse("@shop_one").unwrap(),
    };
    a.store
        .start_cycle("b2b", 1, "b2b first", at)
        .await
        .unwrap();
    a.store
        .write_pending(&PendingDelivery {
            key: key.clone(),
            account: "acc1".into(),
            random_id: 42,
            message: Arc::from("b2b first"),
            attempt: 1,
            at,
        })
        .await
        .unwrap();
    a.store
        .record_outcome(
            &key,
            &Outcome::Sent {
                message_id: Some(7),
            },
            at,
        )
        .await
        .unwrap();
    a.store.flush().await.unwrap();

    let before = get(r, "/api/v1/targets/check").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let before = before.json();
    assert_eq!(before["running"], false);
    assert_eq!(before["started_at"], serde_json::Value::Null);
    assert_eq!(before["rows"], json!([]));
    assert_eq!(before["held"], json!([]), "no chat rules: nothing held");
    let page = get(r, "/targets/check?lang=en").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Not checked yet."), "{}", page.body);
    assert!(page.body.contains("Run the check (6)"), "{}", page.body);

    post(r, "/api/v1/targets/check", None, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    let started = post(r, "/api/v1/targets/check", Some(TOKEN), None).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let started = started.json();
    assert_eq!(started["running"], true);
    assert_eq!(started["total"], 6);
    assert!(started["started_at"].is_string());

    let run = finished(r).await;
    assert_eq!(run["done"], 6);
    assert_eq!(run["blocked"], 1);
    assert_eq!(run["error"], serde_json::Value::Null);
    let rows = run["rows"].as_array().unwrap();
    let pairs: Vec<(String, String, String)> = rows
        .iter()
        .map(|x| {
            (
                x["account"].as_str().unwrap().to_owned(),
                x["target"].as_str().unwrap().to_owned(),
                x["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = |a: &str, t: &str, v: &str| (a.to_owned(), t.to_owned(), v.to_owned());
    assert_eq!(
        pairs,
        vec![
            want("acc1", "-1001000000001", "ok"),
            want("acc1", "@shop_one", "ok"),
            want("acc1", "@shop_two", "ok"),
            want("acc2", "-1001000000001", "ok"),
            want("acc2", "@shop_one", "ok"),
            want("acc2", "@shop_two", "blocked"),
        ]
    );
    let blocked = &rows[5];
    assert_eq!(blocked["checked"], true);
    assert_eq!(blocked["can_write"], false);
    assert_eq!(blocked["refusal"], "CHAT_WRITE_FORBIDDEN");
    assert!(blocked["reason"].as_str().is_some_and(|m| !m.is_empty()));
    let ok = &rows[1];
    assert_eq!(ok["member"], true);
    assert_eq!(ok["can_write"], true);
    assert_eq!(ok["can_send_media"], true);
    assert_eq!(ok["slow_mode_seconds"], serde_json::Value::Null);
    assert_eq!(ok["reason"], serde_json::Value::Null);
    assert_eq!(ok["last_posted_at"], "2026-11-30T09:15:00Z");
    assert_eq!(rows[4]["last_posted_at"], "2026-11-30T09:15:00Z");
    assert_eq!(rows[2]["last_posted_at"], serde_json::Value::Null);

    let en = get(r, "/targets/check?lang=en").await;
    assert_eq!(en.status, StatusCode::OK);
    assert!(en.body.contains("Target check"));
    assert!(en.body.contains("1 cannot be posted to"), "{}", en.body);
    assert!(
        en.body
            .contains(r#"<tr data-target="@shop_two" data-account="acc2" data-verdict="blocked">"#),
        "{}",
        en.body
    );
    assert!(en.body.contains("✗ blocked"));
    assert!(en.body.contains("2026-11-30T09:15:00Z"));
    let ru = get(r, "/targets/check?lang=ru").await;
    assert!(ru.body.contains("Проверка чатов"), "{}", ru.body);
    assert!(ru.body.contains("✗ нельзя"));
    assert!(ru.body.contains("✓ можно"));
    assert!(ru.body.contains("никогда"));
}
