//! The dashboard's pre-flight check: `POST /api/v1/targets/check` runs the engine's check over
//! the daemon's (account, target) pairs on the sandbox gateway, `GET` shows progress and rows,
//! the "Target check" page shows them in English and Russian.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};

use crate::common::{TOKEN, app_with_check, app_with_faults, get, post};

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
            variant: None,
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
    // acc2's row of @shop_one: the post there was acc1's, so acc2 never posted (QA F9: every
    // account's row used to show any account's post).
    assert_eq!(rows[4]["last_posted_at"], serde_json::Value::Null);
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

/// A journalled post into @shop_one at 2026-11-30 09:15 UTC (12:15 in Moscow, the catalog's
/// zone), and @shop_two refusing acc2.
async fn checked_app(check: smb_web::CheckMemory, dir: tempfile::TempDir) -> crate::common::App {
    let fault: smb_telegram::FaultRule = serde_json::from_value(json!({
        "account": "acc2", "chat": "@shop_two", "error": "CHAT_WRITE_FORBIDDEN"
    }))
    .unwrap();
    let a = app_with_check(dir, Some(TOKEN), "127.0.0.1:8080", None, vec![fault], check).await;
    let at: jiff::Timestamp = "2026-11-30T09:15:00.123456Z".parse().unwrap();
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
            variant: None,
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
    a
}

/// QA findings (issue 14): the Russian page said the check's reasons in English, and times
/// were raw UTC with fractions.
#[tokio::test]
async fn qa_the_russian_page_says_check_reasons_in_russian_and_times_in_the_schedule_zone() {
    let a = checked_app(
        smb_web::CheckMemory::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let r = &a.router;
    post(r, "/api/v1/targets/check", Some(TOKEN), None).await;
    let run = finished(r).await;
    let rows = run["rows"].as_array().unwrap();
    let blocked = rows.iter().find(|x| x["verdict"] == "blocked").unwrap();
    // The API keeps its English words and RFC 3339 to the second.
    assert!(
        blocked["reason"]
            .as_str()
            .is_some_and(|m| m.starts_with("CHAT_WRITE_FORBIDDEN: the account may not post here")),
        "{blocked}"
    );
    let one = rows.iter().find(|x| x["target"] == "@shop_one").unwrap();
    assert_eq!(one["last_posted_at"], "2026-11-30T09:15:00Z");
    assert!(!run["finished_at"].as_str().unwrap().contains('.'), "{run}");

    let ru = get(r, "/targets/check?lang=ru").await.body;
    assert!(
        ru.contains("CHAT_WRITE_FORBIDDEN: аккаунту нельзя писать здесь"),
        "{ru}"
    );
    assert!(!ru.contains("the account may not post here"), "{ru}");
    assert!(ru.contains(">2026-11-30 12:15 MSK</time>"), "{ru}");
    let en = get(r, "/targets/check?lang=en").await.body;
    assert!(
        en.contains("CHAT_WRITE_FORBIDDEN: the account may not post here"),
        "{en}"
    );
    assert!(en.contains(">2026-11-30 12:15 MSK</time>"), "{en}");
}

/// QA finding (issue 14): right after a start the page's held list was empty while `stats`
/// listed the held targets; both read the journal now, and say why in the page's language.
#[tokio::test]
async fn qa_the_held_list_is_the_journals_as_in_stats_right_after_a_start() {
    let a = checked_app(
        smb_web::CheckMemory::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let now = jiff::Timestamp::now();
    let until = now + jiff::SignedDuration::from_hours(5);
    let hours = smb_domain::HoldReason::Rule(smb_domain::RuleHold::Hours(
        smb_domain::HourWindow::parse("9-21").unwrap(),
    ));
    a.store
        .record_chat_hold("@shop_one", &hours.encode(), until, now)
        .await
        .unwrap();
    // A row an older version wrote in words, and one that is over.
    a.store
        .record_chat_hold(
            "@shop_two",
            "chat rule max_per_day 1: reached today",
            until,
            now,
        )
        .await
        .unwrap();
    a.store
        .record_chat_hold(
            "-1001000000001",
            &hours.encode(),
            now - jiff::SignedDuration::from_hours(1),
            now,
        )
        .await
        .unwrap();
    a.store.flush().await.unwrap();

    let run = get(&a.router, "/api/v1/targets/check").await.json();
    let held = run["held"].as_array().unwrap();
    let stats = a.store.stats(None, now).await.unwrap();
    let from_stats: Vec<&str> = stats
        .held_targets
        .iter()
        .map(|h| h.target.as_str())
        .collect();
    let from_page: Vec<&str> = held.iter().map(|h| h["target"].as_str().unwrap()).collect();
    assert_eq!(from_page, ["@shop_one", "@shop_two"]);
    assert_eq!(from_page, from_stats, "the same source");
    assert_eq!(
        held[0]["reason"],
        "chat rule hours 9-21: outside the window"
    );
    assert_eq!(held[0]["until"], smb_domain::rfc3339_seconds(until));
    assert_eq!(held[1]["reason"], "chat rule max_per_day 1: reached today");

    let ru = get(&a.router, "/targets/check?lang=ru").await.body;
    assert!(
        ru.contains("правило чата hours 9-21: вне разрешённых часов"),
        "{ru}"
    );
    let msk = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
    assert!(ru.contains(&smb_domain::local_minute(until, &msk)), "{ru}");
}

/// QA finding (issue 14): a reload (a new app for the next round) cleared the last check.
#[tokio::test]
async fn qa_a_reload_keeps_the_last_check() {
    let memory = smb_web::CheckMemory::default();
    let first = checked_app(memory.clone(), tempfile::tempdir().unwrap()).await;
    post(&first.router, "/api/v1/targets/check", Some(TOKEN), None).await;
    let before = finished(&first.router).await;
    assert_eq!(before["done"], 6);
    let crate::common::App {
        router,
        store,
        check,
        _dir: dir,
    } = first;
    drop(router);
    store.close().await.unwrap();
    // The next round's app, over the same journal, with the daemon's check memory.
    let second = app_with_check(dir, Some(TOKEN), "127.0.0.1:8080", None, Vec::new(), check).await;
    let after = get(&second.router, "/api/v1/targets/check").await.json();
    assert_eq!(after["rows"], before["rows"]);
    assert_eq!(after["finished_at"], before["finished_at"]);
    let page = get(&second.router, "/targets/check?lang=en").await.body;
    assert!(page.contains("1 cannot be posted to"), "{page}");
}
