//! Webhook notifications against a receiver on loopback: the documented schema, the HMAC
//! signature, retries after 5xx, collapsing, and a receiver that hangs while the engine emits.

use crate::common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use smb_engine::ports::{EngineEvent, EventSink, SystemClock};
use smb_notify::{NotificationChannel, Notifier, NotifierOptions, NotifyLevel, Secret, Webhook};
use tokio::sync::mpsc;

const SECRET: &str = "webhook-key";

#[derive(Debug)]
struct Received {
    signature: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    got: mpsc::UnboundedSender<Received>,
    /// Statuses to answer, in order; then 200.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
    hang: bool,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let _ = r.got.send(Received {
        signature: header("x-signature"),
        content_type: header("content-type"),
        body,
    });
    if r.hang {
        std::future::pending::<()>().await;
    }
    r.script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

fn receiver(
    script: Vec<StatusCode>,
    hang: bool,
) -> (common::TestServer, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Receiver {
        got: tx,
        script: Arc::new(Mutex::new(script.into())),
        hang,
    };
    (
        common::serve(
            axum::Router::new()
                .route("/hook", post(receive))
                .with_state(state),
        ),
        rx,
    )
}

fn notifier_to(
    server: &common::TestServer,
    options: NotifierOptions,
) -> (Notifier, smb_notify::NotifierHandle) {
    let webhook: Arc<dyn NotificationChannel> = Arc::new(Webhook::with_client(
        common::client_without_timers(),
        format!("{}/hook", server.url()),
        Some(Secret::new(SECRET)),
    ));
    Notifier::spawn_with(options, vec![webhook], Arc::new(SystemClock))
}

fn target_disabled(target: &str) -> EngineEvent {
    EngineEvent::TargetDisabled {
        target: target.into(),
        reason: "CHAT_WRITE_FORBIDDEN".into(),
    }
}

#[tokio::test]
async fn the_body_follows_the_schema_and_the_signature_verifies() {
    let (server, mut got) = receiver(Vec::new(), false);
    let (notifier, handle) = notifier_to(&server, NotifierOptions::default());
    notifier.emit(&target_disabled("@prices_chat"));
    let r = got.recv().await.unwrap();

    // The signature, computed here independently of the crate.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.signature.as_deref(), Some(expected.as_str()));
    assert!(smb_notify::webhook::verify_signature(
        &Secret::new(SECRET),
        &r.body,
        &expected
    ));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));

    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["schema"], 1);
    assert_eq!(body["source"], "sendmessagebot");
    assert_eq!(body["event"], "target_disabled");
    assert_eq!(body["level"], "WARNING");
    assert_eq!(
        body["text"],
        "Чат @prices_chat отключён: CHAT_WRITE_FORBIDDEN."
    );
    assert_eq!(body["message"], body["text"]);
    assert_eq!(body["fields"]["target"], "@prices_chat");
    assert_eq!(body["fields"]["reason"], "CHAT_WRITE_FORBIDDEN");
    assert_eq!(body["repeated"], 0);
    let ts: jiff::Timestamp = body["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(ts.duration_until(jiff::Timestamp::now()).abs() < jiff::SignedDuration::from_secs(60));
    // Sorted here: serde_json keeps insertion order when another crate in the build enables
    // its `preserve_order` feature.
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "event",
            "fields",
            "level",
            "message",
            "repeated",
            "schema",
            "source",
            "text",
            "timestamp"
        ]
    );
    handle.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_receiver_is_retried_with_backoff_until_it_answers() {
    let (server, mut got) = receiver(
        vec![StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY],
        false,
    );
    let options = NotifierOptions {
        retry_delay: Duration::from_secs(2),
        ..Default::default()
    };
    let (notifier, handle) = notifier_to(&server, options);
    let start = tokio::time::Instant::now();
    notifier.emit(&EngineEvent::AccountStopped {
        account: "acc1".into(),
        reason: smb_domain::AccountStop::Telegram("PEER_FLOOD".into()),
    });

    let mut at = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(got.recv().await.unwrap().body);
        at.push(start.elapsed());
    }
    // Attempt 1 at once, attempt 2 after 2 s, attempt 3 after 4 s more; same body each time.
    assert!(at[0] < Duration::from_millis(100), "{at:?}");
    assert!(
        at[1] >= Duration::from_secs(2) && at[1] < Duration::from_secs(3),
        "{at:?}"
    );
    assert!(
        at[2] >= Duration::from_secs(6) && at[2] < Duration::from_secs(7),
        "{at:?}"
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));

    // The receiver's answer to attempt 3 travels over a real socket; on the paused clock the
    // shutdown grace could elapse while the notifier waits for it, so the grace runs in real time.
    tokio::time::resume();
    let stats = handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats[0].delivered, stats[0].failed), (1, 0));
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let (server, mut got) = receiver(vec![StatusCode::BAD_REQUEST], false);
    let (notifier, handle) = notifier_to(&server, NotifierOptions::default());
    notifier.emit(&target_disabled("@x"));
    got.recv().await.unwrap();
    let stats = handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats[0].delivered, stats[0].failed), (0, 1));
    assert!(got.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_repeated_event_is_sent_once_per_window_with_the_count_of_repeats() {
    let (server, mut got) = receiver(Vec::new(), false);
    let options = NotifierOptions {
        collapse_window: Duration::from_secs(6 * 3600),
        ..Default::default()
    };
    let (notifier, handle) = notifier_to(&server, options);
    for _ in 0..5 {
        notifier.emit(&target_disabled("@dead"));
    }
    notifier.emit(&target_disabled("@other"));
    let first: Value = serde_json::from_slice(&got.recv().await.unwrap().body).unwrap();
    let other: Value = serde_json::from_slice(&got.recv().await.unwrap().body).unwrap();
    assert_eq!(first["fields"]["target"], "@dead");
    assert_eq!(other["fields"]["target"], "@other");

    tokio::time::advance(Duration::from_secs(6 * 3600 + 1)).await;
    notifier.emit(&target_disabled("@dead"));
    let again: Value = serde_json::from_slice(&got.recv().await.unwrap().body).unwrap();
    assert_eq!(again["fields"]["target"], "@dead");
    assert_eq!(again["repeated"], 4);
    let stats = handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats[0].delivered, 3);
}

#[tokio::test]
async fn a_hanging_receiver_never_blocks_emit_and_only_info_is_dropped() {
    let (server, mut got) = receiver(Vec::new(), true);
    let options = NotifierOptions {
        queue_capacity: 100,
        ..Default::default()
    };
    let (notifier, handle) = notifier_to(&server, options);

    // The worker takes this one and hangs on it.
    notifier.emit(&EngineEvent::Started {
        broadcasters: 1,
        accounts: 1,
    });
    got.recv().await.unwrap();

    // emit never waits for the hung worker: if it did, this loop would never end (no wall-clock
    // bound here; speed lives in benchmarks).
    let mut warnings = 0;
    for i in 0..10_000u64 {
        if i % 100 == 99 {
            warnings += 1;
            notifier.emit(&target_disabled(&format!("@chat{i}")));
        } else {
            let event = EngineEvent::CycleCompleted {
                broadcaster: "b2b".into(),
                cycle: i,
                sent: 1,
                failed: 0,
            };
            notifier.emit(&event);
        }
        // Below NOTIFICATION_LEVEL: filtered before anything is built.
        notifier.emit(&EngineEvent::CycleStarted {
            broadcaster: "b2b".into(),
            cycle: i,
            targets: 3,
        });
    }

    let stats = handle.stats();
    assert_eq!(stats[0].queued, 100);
    assert_eq!(stats[0].queued_important, warnings);
    assert_eq!(stats[0].dropped, 10_000 - warnings as u64);
    assert_eq!(stats[0].delivered, 0);
    // Shutdown gives up on the hung delivery after the grace period instead of hanging too.
    let stats = handle.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats[0].queued_important, warnings);
    drop(server);
}

#[test]
fn a_notifier_without_channels_accepts_events_outside_a_runtime_once_built() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (notifier, _handle) = rt.block_on(async {
        Notifier::spawn_with(
            NotifierOptions {
                level: NotifyLevel::Debug,
                ..Default::default()
            },
            Vec::new(),
            Arc::new(SystemClock),
        )
    });
    // emit is plain sync code: callable from any thread.
    notifier.emit(&target_disabled("@x"));
    assert!(notifier.stats().is_empty());
}

#[tokio::test(start_paused = true)]
async fn sends_keep_their_pace_on_the_paused_clock_while_the_receiver_hangs() {
    let (server, mut got) = receiver(Vec::new(), true);
    let options = NotifierOptions {
        level: NotifyLevel::Debug,
        queue_capacity: 10,
        ..Default::default()
    };
    let (notifier, handle) = notifier_to(&server, options);
    let metrics = Arc::new(smb_notify::Metrics::new(Arc::new(SystemClock)));
    let sink = smb_engine::ports::FanoutSink(vec![Arc::new(notifier.clone()), metrics.clone()]);
    notifier.emit(&EngineEvent::Started {
        broadcasters: 1,
        accounts: 1,
    });
    got.recv().await.unwrap(); // the worker is now stuck on this one

    // A sender that sends every 30 s and emits as the driver does.
    let start = tokio::time::Instant::now();
    for i in 0..100u64 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        sink.emit(&EngineEvent::Delivered {
            broadcaster: "b2b".into(),
            account: "acc1".into(),
            target: format!("@chat{i}"),
            random_id: i as i64,
            outcome: smb_engine::ports::Outcome::Sent {
                message_id: Some(1),
            },
            latency: Duration::from_millis(100),
        });
    }
    assert_eq!(start.elapsed(), Duration::from_secs(100 * 30));
    let stats = handle.stats();
    assert_eq!((stats[0].queued, stats[0].dropped), (10, 90));
    assert!(
        metrics.render().contains(
            "deliveries_total{broadcaster=\"b2b\",account=\"acc1\",outcome=\"sent\"} 100"
        )
    );
    handle.shutdown(Duration::ZERO).await;
}
