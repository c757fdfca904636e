//! Observability of the real binary, on loopback only: `report send` posts the summary to a Bot
//! API double, the daemon's admin notifications are flushed at exit, `notify test` reaches a
//! webhook receiver with a valid HMAC, `/metrics` of a running daemon agrees with
//! `stats --json`, and the `stats --json` / `--csv` formats on a seeded store.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use smb_domain::TargetRef;
use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store, TargetStatus};
use smb_store::{SqliteSettings, SqliteStore};

const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");
const TOKEN: &str = "123456:TEST-TOKEN-never-shown";
const CHANNEL: &str = "-1001234567890";

/// The binary in `dir` with a clean environment: no `.env` there, the built-in example
/// configuration, logs to stderr only.
fn smb(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("LOG_FILE", "")
        .env("LOG_LEVEL", "INFO");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run the binary");
    assert!(
        out.status.success(),
        "{:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- loopback servers ---------------------------------------------------------------------

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` on 127.0.0.1:<free port> from a thread of its own. The listener is bound
/// before this returns, so the first request is queued by the kernel: nothing to wait for.
fn serve(router: Router) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
    });
    Server {
        addr,
        stop: Some(stop),
    }
}

/// A Telegram Bot API double: records every call as (path token part, method, JSON body).
#[derive(Clone, Default)]
struct BotApiDouble {
    calls: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl BotApiDouble {
    fn start() -> (BotApiDouble, Server) {
        async fn call(
            State(double): State<BotApiDouble>,
            UrlPath((bot, method)): UrlPath<(String, String)>,
            body: Bytes,
        ) -> ([(axum::http::HeaderName, &'static str); 1], String) {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut calls = double.calls.lock().unwrap();
            calls.push((bot, method.clone(), body));
            let id = calls.len();
            let reply = match method.as_str() {
                "getMe" => {
                    json!({"ok": true, "result": {"id": 1, "is_bot": true, "username": "smb_test_bot"}})
                }
                _ => json!({"ok": true, "result": {"message_id": id, "date": 0}}),
            };
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
        }
        let double = BotApiDouble::default();
        let router = Router::new()
            .route("/{bot}/{method}", post(call))
            .with_state(double.clone());
        (double, serve(router))
    }

    /// `sendMessage` bodies sent to `chat_id`.
    fn messages_to(&self, chat_id: Value) -> Vec<Value> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(bot, method, body)| {
                assert_eq!(bot, &format!("bot{TOKEN}"), "the token goes in the path");
                method == "sendMessage" && body["chat_id"] == chat_id
            })
            .map(|(_, _, body)| body.clone())
            .collect()
    }
}

/// One request a webhook receiver got: its X-Signature header and raw body.
type Received = (Option<String>, Vec<u8>);

/// A webhook receiver: `/hook` records (X-Signature, raw body) and answers 200; `/fail` 500;
/// `/hang` never answers.
#[derive(Clone, Default)]
struct WebhookReceiver {
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    fn start() -> (WebhookReceiver, Server) {
        async fn hook(
            State(r): State<WebhookReceiver>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let signature = headers
                .get("x-signature")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            r.received.lock().unwrap().push((signature, body.to_vec()));
            StatusCode::OK
        }
        async fn fail() -> StatusCode {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        async fn hang() -> StatusCode {
            std::future::pending::<()>().await;
            StatusCode::OK
        }
        let r = WebhookReceiver::default();
        let router = Router::new()
            .route("/hook", post(hook))
            .route("/fail", post(fail))
            .route("/hang", post(hang))
            .with_state(r.clone());
        (r, serve(router))
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

// ---- reports and notifications ------------------------------------------------------------

#[test]
fn a_sandbox_run_notifies_the_admin_and_report_send_posts_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (bot, server) = BotApiDouble::start();
    let url = server.url();
    let env = [
        ("DELAY_BETWEEN_CHATS", "0.05"),
        ("TELEGRAM_BOT_API_URL", url.as_str()),
        ("REPORTS_BOT_TOKEN", TOKEN),
        ("ENABLE_REPORTS", "true"),
        ("REPORTS_CHANNEL_ID", CHANNEL),
        // Slots every 31 days: the run and the report fall into one period.
        ("REPORT_INTERVAL_HOURS", "744"),
        ("ENABLE_TELEGRAM_NOTIFICATIONS", "true"),
        ("ADMIN_TELEGRAM_ID", "42"),
    ];
    let run = run_ok(smb(dir.path(), &env).args([
        "run",
        "--sandbox",
        "--once",
        "--ignore-quiet-hours",
        "--no-metrics",
    ]));
    assert!(
        text(&run.stderr).contains("sendmessagebot.toml not found"),
        "the built-in example ran"
    );

    // The admin heard of the start, each finished cycle and the stop, before the process ended.
    let admin: Vec<String> = bot
        .messages_to(json!(42))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        admin.iter().any(|t| t.contains("daemon_started")),
        "{admin:#?}"
    );
    assert_eq!(
        admin
            .iter()
            .filter(|t| t.contains("cycle_completed"))
            .count(),
        4,
        "{admin:#?}"
    );
    assert!(
        admin.last().is_some_and(|t| t.contains("daemon_stopped")),
        "{admin:#?}"
    );
    assert!(
        bot.messages_to(json!(CHANNEL.parse::<i64>().unwrap()))
            .is_empty(),
        "no report yet"
    );

    let preview = run_ok(smb(dir.path(), &env).args(["report", "preview", "--sandbox"]));
    let preview = text(&preview.stdout);
    assert!(
        preview.contains("Итого: отправлено 20, ошибок 0, циклов завершено 4"),
        "{preview}"
    );

    let send = run_ok(smb(dir.path(), &env).args(["report", "send", "--sandbox"]));
    let stdout = text(&send.stdout);
    assert!(
        stdout.contains(&format!("report posted to {CHANNEL}")),
        "{stdout}"
    );
    let reports = bot.messages_to(json!(CHANNEL.parse::<i64>().unwrap()));
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let report = &reports[0];
    assert_eq!(report["parse_mode"], "HTML");
    let html = report["text"].as_str().unwrap();
    assert!(html.starts_with("📊 <b>Отчёт SendMessageBot</b>"), "{html}");
    assert!(
        html.contains("<b>Итого:</b> отправлено 20, ошибок 0, циклов завершено 4"),
        "{html}"
    );
    for b in ["aaa", "b2b", "b2c", "gus"] {
        assert!(
            html.contains(&format!("📨 <b>{b}</b>\nотправлено 5, ошибок 0, циклов 1")),
            "{html}"
        );
    }
    assert!(html.contains("✅ acc1 — работает"), "{html}");

    for out in [&run, &send] {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains("TEST-TOKEN"), "the token leaked: {all}");
    }
}

#[test]
fn report_send_without_reports_switched_on_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = smb(dir.path(), &[])
        .args(["report", "send"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ENABLE_REPORTS=true"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn notify_test_reaches_the_webhook_with_a_valid_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, server) = WebhookReceiver::start();
    let hook = format!("{}/hook", server.url());
    let out = run_ok(
        smb(
            dir.path(),
            &[
                ("ENABLE_WEBHOOK_NOTIFICATIONS", "true"),
                ("WEBHOOK_URL", hook.as_str()),
                ("WEBHOOK_SECRET", "s3cret-key"),
            ],
        )
        .args(["notify", "test"]),
    );
    assert_eq!(text(&out.stdout).trim(), "webhook: ok");

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (signature, body) = &received[0];
    assert_eq!(
        signature.as_deref(),
        Some(format!("sha256={}", hmac_hex("s3cret-key", body)).as_str())
    );
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["schema"], 1);
    assert_eq!(body["source"], "sendmessagebot");
    assert_eq!(body["event"], "test");
    assert_eq!(body["level"], "INFO");
    assert!(
        body["timestamp"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .is_ok()
    );
}

/// The secret as written in `.env` signs the webhook: `$` is not a reference (python-dotenv,
/// the original's reader, keeps `Pr1ce$ecret2024` whole), and a file saved by Windows Notepad
/// (BOM, CRLF) reads the same.
#[test]
fn the_webhook_is_signed_with_the_secret_as_written_in_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, server) = WebhookReceiver::start();
    let hook = format!("{}/hook", server.url());
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "\u{feff}ENABLE_WEBHOOK_NOTIFICATIONS=true\r\n# notifications\r\nexport WEBHOOK_URL={hook}\r\n\
             WEBHOOK_SECRET=Pr1ce$ecret2024   # from the old bot\r\n"
        ),
    )
    .unwrap();
    let out = run_ok(smb(dir.path(), &[]).args(["notify", "test"]));
    assert_eq!(text(&out.stdout).trim(), "webhook: ok");
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (signature, body) = &received[0];
    assert_eq!(
        signature.as_deref(),
        Some(format!("sha256={}", hmac_hex("Pr1ce$ecret2024", body)).as_str())
    );

    // A broken line is named with its line number, and the secret is not shown.
    std::fs::write(
        dir.path().join(".env"),
        "ENABLE_WEBHOOK_NOTIFICATIONS=true\nWEBHOOK_SECRET=\"Pr1ce$ecret2024\nWEBHOOK_URL=x\n",
    )
    .unwrap();
    let out = smb(dir.path(), &[])
        .args(["notify", "test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(".env:2:") && err.contains("never closed"),
        "{err}"
    );
    assert!(!err.contains("ecret2024"), "the secret leaked: {err}");
}

#[test]
fn notify_test_exits_1_when_a_channel_fails_or_none_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, server) = WebhookReceiver::start();
    let fail = format!("{}/fail", server.url());
    let (bot, bot_server) = BotApiDouble::start();
    let bot_url = bot_server.url();
    let out = smb(
        dir.path(),
        &[
            ("ENABLE_WEBHOOK_NOTIFICATIONS", "true"),
            ("WEBHOOK_URL", fail.as_str()),
            ("ENABLE_TELEGRAM_NOTIFICATIONS", "true"),
            ("REPORTS_BOT_TOKEN", TOKEN),
            ("ADMIN_TELEGRAM_ID", "42"),
            ("TELEGRAM_BOT_API_URL", bot_url.as_str()),
        ],
    )
    .args(["notify", "test"])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("telegram: ok"), "{stdout}");
    assert!(stdout.contains("webhook: FAILED"), "{stdout}");
    assert_eq!(bot.messages_to(json!(42)).len(), 1);

    let none = smb(dir.path(), &[])
        .args(["notify", "test"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("ENABLE_WEBHOOK_NOTIFICATIONS"));
}

#[test]
fn a_hanging_webhook_neither_delays_the_sends_nor_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, server) = WebhookReceiver::start();
    let hang = format!("{}/hang", server.url());
    let started = Instant::now();
    run_ok(
        smb(
            dir.path(),
            &[
                ("DELAY_BETWEEN_CHATS", "0.05"),
                ("ENABLE_WEBHOOK_NOTIFICATIONS", "true"),
                ("WEBHOOK_URL", hang.as_str()),
                ("NOTIFY_HTTP_TIMEOUT", "120"),
            ],
        )
        .args([
            "run",
            "--sandbox",
            "--once",
            "--ignore-quiet-hours",
            "--no-metrics",
        ]),
    );
    // 10 sends per account at ~0.1 s each, then at most 2 s for the stuck notifications: far
    // below the 120 s one webhook request may take.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    let out = run_ok(smb(dir.path(), &[]).args(["stats", "--sandbox", "--json"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["sent"], 20);
}

// ---- /metrics -------------------------------------------------------------------------------

/// A plain HTTP/1.1 GET on loopback; returns (status line, body).
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    ))
}

/// `deliveries_total{outcome="sent"}` by broadcaster.
fn sent_by_broadcaster(body: &str) -> BTreeMap<String, u64> {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let mut out = BTreeMap::new();
    for s in scrape.samples {
        if s.metric == "deliveries_total" && s.labels.get("outcome") == Some("sent") {
            let value = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("deliveries_total is not a counter: {other:?}"),
            };
            let b = s.labels.get("broadcaster").unwrap().to_owned();
            *out.entry(b).or_default() += value as u64;
        }
    }
    out
}

/// Polls `check` every 50 ms for at most `limit`; panics with `what` when it never holds.
fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_of_a_running_daemon_match_stats_json() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DELAY_BETWEEN_CHATS", "0.05"),
        ("CYCLE_DELAY", "3600"),
        ("METRICS_BIND", "127.0.0.1:0"),
    ];
    let mut daemon = smb(dir.path(), &env)
        .args(["run", "--sandbox", "--ignore-quiet-hours"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Drain stderr for the daemon's whole life (a full pipe would block it), passing lines on.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = daemon.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let addr: SocketAddr = poll(Duration::from_secs(30), "the metrics address", || {
        let line = lines.recv_timeout(Duration::from_secs(30)).ok()?;
        let rest = line.strip_prefix("metrics on http://")?;
        rest.strip_suffix("/metrics")?.parse().ok()
    });

    // One cycle of the example: 4 broadcasters × 5 targets, then an hour's pause.
    let metrics = poll(Duration::from_secs(60), "20 sends in /metrics", || {
        let (status, body) = http_get(addr, "/metrics").ok()?;
        assert!(status.contains("200"), "{status}");
        let sent = sent_by_broadcaster(&body);
        (sent.values().sum::<u64>() == 20).then_some(sent)
    });
    assert_eq!(metrics.len(), 4, "{metrics:?}");
    // The event reaches the sinks just before the store commits the outcome: poll the store too.
    let stats = poll(Duration::from_secs(10), "20 sends in stats --json", || {
        let out = run_ok(smb(dir.path(), &env).args(["stats", "--sandbox", "--json"]));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["totals"]["sent"] == 20).then_some(v)
    });
    for (b, n) in &metrics {
        assert_eq!(stats["broadcasters"][b]["counts"]["sent"], *n, "{b}");
    }
    // Every journal write is timed: at least a pending and an outcome write per send.
    let (_, body) = http_get(addr, "/metrics").unwrap();
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let writes = scrape
        .samples
        .iter()
        .find_map(|s| match (&*s.metric, &s.value) {
            ("store_write_latency_seconds", prometheus_parse::Value::Histogram(h)) => h
                .iter()
                .map(|b| b.count)
                .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c)))),
            (
                "store_write_latency_seconds_count",
                prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v),
            ) => Some(*v),
            _ => None,
        })
        .unwrap_or(0.0);
    assert!(writes >= 40.0, "store writes timed: {writes}\n{body}");
    let (status, _) = http_get(addr, "/nothing").unwrap();
    assert!(status.contains("404"), "{status}");

    // SIGTERM: the daemon stops within its 5 s budget, cleanly.
    let asked = Instant::now();
    let killed = Command::new("sh")
        // The shell's own `kill`: no procps or util-linux needed on a bare machine.
        .args(["-c", &format!("kill -TERM {}", daemon.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = poll(Duration::from_secs(10), "the daemon to exit", || {
        daemon.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
}

// ---- stats --json / --csv on a seeded store -------------------------------------------------

async fn seed(dir: &Path) -> Timestamp {
    let db = dir.join("data/sandbox/sendmessagebot.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}", db.display()),
        SqliteSettings::default(),
    )
    .await
    .unwrap();
    let now = Timestamp::now();
    let ago = |m: i64| now - SignedDuration::from_mins(m);
    let targets = [
        "-1001234567890",
        "@price_chat_one",
        "@price_chat_two",
        "@market_board",
        "-1009876543210",
    ];
    let mut random_id = 1000;
    let mut deliver = async |cycle: u64, target: &str, at: Timestamp, outcome: Outcome| {
        random_id += 1;
        let key = DeliveryKey {
            broadcaster: "b2b".into(),
            cycle,
            target: TargetRef::parse(target).unwrap(),
        };
        let pending = PendingDelivery {
            key: key.clone(),
            account: "acc1".into(),
            random_id,
            message: "m".into(),
            variant: None,
            attempt: 1,
            at,
        };
        store.write_pending(&pending).await.unwrap();
        store.record_outcome(&key, &outcome, at).await.unwrap();
    };
    let sent = Outcome::Sent {
        message_id: Some(1),
    };
    // b2b: cycle 1 complete three hours ago; cycle 2 at 3 of 5, one chat refused.
    store.start_cycle("b2b", 1, "m", ago(190)).await.unwrap();
    for t in targets {
        deliver(1, t, ago(185), sent.clone()).await;
    }
    store.complete_cycle("b2b", 1, ago(180)).await.unwrap();
    store.start_cycle("b2b", 2, "m", ago(12)).await.unwrap();
    deliver(2, targets[0], ago(11), sent.clone()).await;
    deliver(2, targets[1], ago(10), sent.clone()).await;
    let refused = Outcome::Failed {
        class: smb_domain::ErrorClass::TargetDead,
        code: "CHAT_WRITE_FORBIDDEN".into(),
        detail: "CHAT_WRITE_FORBIDDEN".into(),
    };
    deliver(2, targets[2], ago(9), refused).await;
    store
        .set_target_status(
            "@price_chat_two",
            &TargetStatus::Disabled {
                reason: "CHAT_WRITE_FORBIDDEN".into(),
                since: ago(9),
                recheck_at: None,
            },
        )
        .await
        .unwrap();
    // acc2: in a 2-hour flood wait that began 5 minutes ago.
    store
        .record_pause(
            "acc2",
            None,
            smb_domain::PauseKind::FloodWait,
            Duration::from_secs(7200),
            ago(5) + SignedDuration::from_hours(2),
            ago(5),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    now
}

/// Replaces what changes from run to run (times, the planner's pick) with markers.
fn mask(v: &mut Value) {
    const TIMES: [&str; 6] = [
        "generated_at",
        "last_sent_at",
        "paused_until",
        "next_send_at",
        "since",
        "recheck_at",
    ];
    if let Value::Object(map) = v {
        for (k, x) in map.iter_mut() {
            if TIMES.contains(&k.as_str()) && x.is_string() {
                assert!(x.as_str().unwrap().parse::<Timestamp>().is_ok(), "{k}: {x}");
                *x = json!("<time>");
            } else if k == "last_error"
                && let Some((code, _)) = x.as_str().and_then(|e| e.split_once(" at "))
            {
                *x = json!(format!("{code} at <time>"));
            } else if k == "next_broadcaster" {
                *x = json!("<any>");
            } else {
                mask(x);
            }
        }
    } else if let Value::Array(items) = v {
        items.iter_mut().for_each(mask);
    }
}

#[tokio::test]
async fn stats_json_on_a_seeded_store() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let out = run_ok(smb(dir.path(), &[]).args(["stats", "--sandbox", "--json"]));
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    mask(&mut v);
    let idle = json!({
        "account": null, "counts": {"sent": 0, "failed": 0, "deferred": 0, "pending": 0},
        "current_cycle": null, "cycle_done": 0, "cycle_size": 5, "cycle_completed": false,
        "cycles_completed": 0, "failed_by_code": {}, "last_sent_at": null, "sent_last_hour": 0,
        "target_list": "prod", "target_mode": "prod"
    });
    let idle_for = |account: &str| {
        let mut b = idle.clone();
        b["account"] = json!(account);
        b
    };
    let zero = json!({"sent": 0, "failed": 0, "deferred": 0, "pending": 0});
    let target = |lists: &[&str], sent: u64, failed: u64, error: Option<&str>| {
        json!({
            "lists": lists,
            "status": if error.is_some() { "disabled" } else { "active" },
            "reason": error,
            "counts": {"sent": sent, "failed": failed, "deferred": 0, "pending": 0},
            "last_error": error,
        })
    };
    let expected = json!({
        "schema": 1,
        "since": null,
        "generated_at": "<time>",
        "totals": {"sent": 7, "failed": 1, "deferred": 0, "pending": 0},
        "broadcasters": {
            "b2b": {
                "account": "acc1",
                "counts": {"sent": 7, "failed": 1, "deferred": 0, "pending": 0},
                "current_cycle": 2,
                "cycle_done": 3,
                "cycle_size": 5,
                "cycle_completed": false,
                "cycles_completed": 1,
                "failed_by_code": {"CHAT_WRITE_FORBIDDEN": 1},
                "last_sent_at": "<time>",
                "sent_last_hour": 2,
                "target_list": "prod",
                "target_mode": "prod"
            },
            "aaa": idle_for("acc1"),
            "b2c": idle_for("acc2"),
            "gus": idle_for("acc2"),
        },
        "accounts": {
            "acc1": {
                "counts": {"sent": 7, "failed": 1, "deferred": 0, "pending": 0},
                "flood_waits": 0, "flood_wait_seconds": 0, "slowmode_waits": 0,
                "paused_until": null, "stopped_reason": null,
                "last_error": "CHAT_WRITE_FORBIDDEN at <time>",
                "sent_last_hour": 2, "next_send_at": "<time>", "next_broadcaster": "<any>"
            },
            "acc2": {
                "counts": {"sent": 0, "failed": 0, "deferred": 0, "pending": 0},
                "flood_waits": 1, "flood_wait_seconds": 7200, "slowmode_waits": 0,
                "paused_until": "<time>", "stopped_reason": null, "last_error": null,
                "sent_last_hour": 0, "next_send_at": "<time>", "next_broadcaster": "<any>"
            }
        },
        "message_sets": {
            "aaa": {"broadcasters": ["aaa"], "counts": zero, "sent_last_hour": 0},
            "b2b": {
                "broadcasters": ["b2b"],
                "counts": {"sent": 7, "failed": 1, "deferred": 0, "pending": 0},
                "sent_last_hour": 2
            },
            "b2c": {"broadcasters": ["b2c"], "counts": zero, "sent_last_hour": 0},
            "gus": {"broadcasters": ["gus"], "counts": zero, "sent_last_hour": 0},
        },
        "targets": {
            "-1001234567890": target(&["prod"], 2, 0, None),
            "-1009876543210": target(&["prod"], 1, 0, None),
            "@market_board": target(&["prod"], 1, 0, None),
            "@my_test_group": target(&["test"], 0, 0, None),
            "@price_chat_one": target(&["prod"], 2, 0, None),
            "@price_chat_two": target(&["prod"], 1, 1, Some("CHAT_WRITE_FORBIDDEN")),
        },
        "disabled_targets": [{
            "target": "@price_chat_two", "status": "disabled", "reason": "CHAT_WRITE_FORBIDDEN",
            "since": "<time>", "recheck_at": null
        }],
        // Targets held by their chat's rules or slow mode (issue 14): none in this journal.
        "held_targets": []
    });
    assert_eq!(v, expected, "{}", serde_json::to_string_pretty(&v).unwrap());
}

#[tokio::test]
async fn stats_csv_on_a_seeded_store() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let out = run_ok(smb(dir.path(), &[]).args(["stats", "--sandbox", "--csv"]));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "kind",
            "name",
            "account",
            "sent",
            "failed",
            "deferred",
            "pending",
            "sent_last_hour",
            "failures",
            "cycle",
            "cycle_done",
            "cycle_size",
            "cycle_completed",
            "cycles_completed",
            "last_sent_at",
            "flood_waits",
            "flood_wait_seconds",
            "slowmode_waits",
            "paused_until",
            "stopped_reason",
            "last_error",
            "next_send_at",
        ]
    );
    let time_columns: BTreeSet<usize> = ["last_sent_at", "paused_until", "next_send_at"]
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let rows: Vec<String> = lines
        .map(|line| {
            let fields: Vec<String> = line
                .split(',')
                .enumerate()
                .map(|(i, f)| {
                    if time_columns.contains(&i) && !f.is_empty() {
                        assert!(f.parse::<Timestamp>().is_ok(), "{f}");
                        "T".to_owned()
                    } else if let Some((code, _)) = f.split_once(" at ") {
                        format!("{code} at T")
                    } else {
                        f.to_owned()
                    }
                })
                .collect();
            assert_eq!(fields.len(), header.len(), "{line}");
            fields.join(",")
        })
        .collect();
    assert_eq!(
        rows,
        [
            "broadcaster,aaa,acc1,0,0,0,0,0,,,0,5,false,0,,,,,,,,",
            "broadcaster,b2b,acc1,7,1,0,0,2,CHAT_WRITE_FORBIDDEN=1,2,3,5,false,1,T,,,,,,,",
            "broadcaster,b2c,acc2,0,0,0,0,0,,,0,5,false,0,,,,,,,,",
            "broadcaster,gus,acc2,0,0,0,0,0,,,0,5,false,0,,,,,,,,",
            "account,acc1,,7,1,0,0,2,,,,,,,,0,0,0,,,CHAT_WRITE_FORBIDDEN at T,T",
            "account,acc2,,0,0,0,0,0,,,,,,,,1,7200,0,T,,,T",
        ]
    );
}
