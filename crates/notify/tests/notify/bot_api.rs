//! The Bot API client, the report loop and the admin channel against a Bot API double on
//! loopback, on tokio's paused clock.

use crate::common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use smb_engine::ports::{Clock, EngineEvent, EventSink, TokioClock};
use smb_notify::report::BoxError;
use smb_notify::{
    BotApi, BotApiError, BroadcasterReport, NotificationChannel, Notifier, NotifierOptions,
    ReportData, ReportSource, Reporter, Secret, TelegramAdmin,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "123456:TEST-TOKEN-abc";

/// One request the double received.
#[derive(Debug)]
struct Call {
    bot: String,
    method: String,
    body: Value,
}

#[derive(Clone)]
struct Double {
    calls: mpsc::UnboundedSender<Call>,
    /// Replies to give, in order; then `{"ok":true}` with a fresh message id.
    script: Arc<Mutex<VecDeque<(StatusCode, Value)>>>,
}

async fn method(
    State(d): State<Double>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let _ = d.calls.send(Call { bot, method, body });
    let scripted = d.script.lock().unwrap().pop_front();
    let (status, reply) = scripted.unwrap_or((
        StatusCode::OK,
        json!({"ok": true, "result": {"message_id": 7}}),
    ));
    (status, Json(reply))
}

fn bot_api_double(
    script: Vec<(StatusCode, Value)>,
) -> (common::TestServer, mpsc::UnboundedReceiver<Call>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let double = Double {
        calls: tx,
        script: Arc::new(Mutex::new(script.into())),
    };
    let router = axum::Router::new()
        .route("/{bot}/{method}", post(method))
        .with_state(double);
    (common::serve(router), rx)
}

fn api(server: &common::TestServer) -> BotApi {
    BotApi::with_client(
        common::client_without_timers(),
        &server.url(),
        Secret::new(TOKEN),
    )
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_the_retry_after_telegram_asked_for() {
    let (server, mut calls) = bot_api_double(vec![(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 37",
               "parameters": {"retry_after": 37}}),
    )]);
    let api = api(&server);
    let start = tokio::time::Instant::now();
    let id = api.send_message("-1001", "<b>hi</b>").await.unwrap();
    let waited = start.elapsed();
    assert_eq!(id, 7);
    assert!(waited >= Duration::from_secs(37), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(38), "waited {waited:?}");
    let first = calls.recv().await.unwrap();
    let second = calls.recv().await.unwrap();
    assert_eq!(first.method, "sendMessage");
    assert_eq!(first.bot, format!("bot{TOKEN}"));
    assert_eq!(first.body, second.body);
    assert_eq!(first.body["chat_id"], json!(-1001));
    assert_eq!(first.body["parse_mode"], "HTML");
}

#[tokio::test(start_paused = true)]
async fn a_429_that_never_ends_gives_up_with_the_wait() {
    let limited = (
        StatusCode::TOO_MANY_REQUESTS,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests",
               "parameters": {"retry_after": 5}}),
    );
    let (server, _calls) = bot_api_double(vec![limited.clone(), limited]);
    let err = api(&server)
        .with_rate_limited_attempts(2)
        .send_message("@chan", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, BotApiError::RateLimited { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn a_rejected_token_is_reported_clearly_and_never_shown() {
    let (server, _calls) = bot_api_double(vec![(
        StatusCode::UNAUTHORIZED,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    )]);
    let err = api(&server).send_message("-1001", "x").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "REPORTS_BOT_TOKEN was rejected by Telegram (401): check the token from @BotFather"
    );
    assert!(err.is_permanent());
    assert!(!format!("{err:?}").contains("TEST-TOKEN"));
}

#[tokio::test]
async fn other_refusals_keep_telegrams_description_without_the_token() {
    let (server, _calls) = bot_api_double(vec![(
        StatusCode::BAD_REQUEST,
        json!({"ok": false, "error_code": 400,
               "description": format!("Bad Request: chat not found for bot{TOKEN}")}),
    )]);
    let err = api(&server).send_message("-1001", "x").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("chat not found"), "{text}");
    assert!(!text.contains("TEST-TOKEN"), "{text}");
    assert!(err.is_permanent());
}

/// A report source that remembers when it was asked, and for which period.
struct RecordingSource {
    clock: Arc<dyn Clock>,
    asked: Mutex<Vec<(Timestamp, Timestamp, Timestamp)>>,
}

#[async_trait]
impl ReportSource for RecordingSource {
    async fn report_data(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<ReportData, BoxError> {
        self.asked
            .lock()
            .unwrap()
            .push((self.clock.now(), since, until));
        Ok(ReportData {
            since,
            until,
            broadcasters: vec![BroadcasterReport {
                name: "b2b".into(),
                sent: 12,
                failed: BTreeMap::from([("target_dead".into(), 1)]),
                cycles_completed: 1,
                ..Default::default()
            }],
            accounts: Vec::new(),
        })
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn reports_go_out_at_local_midnight_and_noon_across_the_spring_dst_change() {
    let (server, mut calls) = bot_api_double(Vec::new());
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    // Saturday 21:00 in Berlin; that night the clocks go from 02:00 CET to 03:00 CEST.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(ts("2026-03-28T20:00:00Z")));
    let source = Arc::new(RecordingSource {
        clock: clock.clone(),
        asked: Mutex::new(Vec::new()),
    });
    let reporter = Reporter::new(api(&server), "-1009876".into(), 12, berlin);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(reporter.run(source.clone(), clock.clone(), shutdown.clone()));

    let mut texts = Vec::new();
    for _ in 0..3 {
        let call = calls.recv().await.unwrap();
        assert_eq!(call.method, "sendMessage");
        assert_eq!(call.body["chat_id"], json!(-1009876));
        assert_eq!(call.body["parse_mode"], "HTML");
        texts.push(call.body["text"].as_str().unwrap().to_owned());
    }
    shutdown.cancel();
    task.await.unwrap();

    let asked = source.asked.lock().unwrap().clone();
    let slots = [
        ts("2026-03-28T11:00:00Z"), // Sat 12:00 CET
        ts("2026-03-28T23:00:00Z"), // Sun 00:00 CET
        ts("2026-03-29T10:00:00Z"), // Sun 12:00 CEST: 11 hours later
        ts("2026-03-29T22:00:00Z"), // Mon 00:00 CEST
    ];
    assert_eq!(asked.len(), 3);
    for (i, (asked_at, since, until)) in asked.iter().enumerate() {
        assert_eq!((*since, *until), (slots[i], slots[i + 1]), "report {i}");
        let late = asked_at.duration_since(slots[i + 1]);
        assert!(
            late >= jiff::SignedDuration::ZERO && late < jiff::SignedDuration::from_secs(1),
            "report {i} asked at {asked_at}, due {}",
            slots[i + 1]
        );
    }
    assert!(
        texts[1].contains("Период: 29.03.2026 00:00 — 29.03.2026 12:00 (Europe/Berlin)"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("Период: 29.03.2026 12:00 — 30.03.2026 00:00 (Europe/Berlin)"),
        "{}",
        texts[2]
    );
    assert!(texts[0].contains("📨 <b>b2b</b>"), "{}", texts[0]);
    assert!(
        texts[0].contains("отправлено 12, ошибок 1, циклов 1 (target_dead: 1)"),
        "{}",
        texts[0]
    );
}

#[tokio::test]
async fn the_admin_is_told_when_an_account_stops() {
    let (server, mut calls) = bot_api_double(Vec::new());
    let admin: Arc<dyn NotificationChannel> = Arc::new(TelegramAdmin::new(api(&server), "4242"));
    let (notifier, handle) = Notifier::spawn_with(
        NotifierOptions::default(),
        vec![admin],
        Arc::new(smb_engine::ports::SystemClock),
    );
    notifier.emit(&EngineEvent::AccountStopped {
        account: "acc1".into(),
        reason: smb_domain::AccountStop::Telegram("SESSION_REVOKED".into()),
    });
    let call = calls.recv().await.unwrap();
    assert_eq!(call.body["chat_id"], json!(4242));
    let text = call.body["text"].as_str().unwrap();
    assert!(
        text.starts_with("🚨 <b>CRITICAL</b> · account_stopped"),
        "{text}"
    );
    assert!(
        text.contains("Аккаунт acc1 остановлен: SESSION_REVOKED"),
        "{text}"
    );
    let stats = handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats[0].delivered, 1);
}
