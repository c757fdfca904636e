//! Shared by the end-to-end tests (crash, telegram_e2e, mtproxy_e2e, migrate_e2e,
//! targets_check_e2e): the binary in an isolated environment, the MTProto test server's world
//! ([`server`]), running it under a time limit, and the ledger-against-journal
//! check of the crash tests. Each test module uses only part of this.
#![allow(dead_code)]

pub mod server;

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smb_telegram::grammers::Identity;
use sqlx::Row;

pub const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");
pub const API_HASH: &str = "0123456789abcdef0123456789abcdef";

/// The binary in `dir` with an environment the caller's cannot leak into (no config, session,
/// phone or proxy from outside; ephemeral metrics port), stdout and stderr captured.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env("LOG_LEVEL", "info")
        .env("METRICS_BIND", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("SMB_CONFIG")
        .env_remove("SESSION_NAME")
        .env_remove("PHONE")
        .env_remove("PROXY_ENABLED")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `cmd` to completion with `stdin` as its input; `Err` holds what it printed when it
/// did not finish within `limit` (it is killed).
pub fn run_with(mut cmd: Command, stdin: Option<&str>, limit: Duration) -> Result<Output, Output> {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("start sendmessagebot");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            return Err(child.wait_with_output().expect("output"));
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
    Ok(child.wait_with_output().expect("output"))
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity a completed login of user `user_id` leaves in its session.
pub fn identity(user_id: i64, first_name: &str) -> Identity {
    Identity {
        user_id,
        bot: false,
        first_name: first_name.to_owned(),
        username: None,
    }
}

/// A journal row of `deliveries`: broadcaster, cycle, target, random_id, status, message.
pub type Delivery = (String, i64, String, i64, String, String);
/// A journal row of `cycles`: broadcaster, cycle, message, completed_at.
pub type Cycle = (String, i64, String, Option<i64>);

/// The deliveries and cycles of the journal at `db`.
pub fn read_journal(rt: &tokio::runtime::Runtime, db: &Path) -> (Vec<Delivery>, Vec<Cycle>) {
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open the journal");
        let d = sqlx::query(
            "SELECT broadcaster, cycle, target, random_id, status, message FROM deliveries",
        )
        .fetch_all(&pool)
        .await
        .expect("query");
        let c = sqlx::query("SELECT broadcaster, cycle, message, completed_at FROM cycles")
            .fetch_all(&pool)
            .await
            .expect("query");
        pool.close().await;
        let d: Vec<Delivery> = d
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect();
        let c: Vec<Cycle> = c
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        (d, c)
    })
}

/// A message the server (sandbox or MTProto test server) accepted: random_id, chat, text.
pub trait Posted: Debug {
    fn posted(&self) -> (i64, &str, &str);
}

impl Posted for smb_telegram::sim::LedgerEntry {
    fn posted(&self) -> (i64, &str, &str) {
        (self.random_id, &self.chat, &self.text)
    }
}

impl Posted for smb_mtproto_testserver::LedgerEntry {
    fn posted(&self) -> (i64, &str, &str) {
        (self.random_id, &self.chat, &self.text)
    }
}

/// How a test names what it checks, in its assertion messages.
pub struct Words {
    /// "ledger entry": "{entry} without a journal row".
    pub entry: &'static str,
    /// "sent": "random_id {sent} to the chat it was journalled for".
    pub sent: &'static str,
    /// "messages": "a chat got two {messages} in one cycle".
    pub messages: &'static str,
}

/// Checks the server's ledger against the journal: every accepted message was journalled
/// first under its own random_id, for that chat and text; no chat got two in one cycle; every
/// target (`targets_of` the broadcaster) of every completed cycle got the cycle's message, and
/// every delivery of it is sent. Returns the number of completed cycles.
pub fn check_ledger_against_journal<'t>(
    ledger: &[impl Posted],
    deliveries: &[Delivery],
    cycles: &[Cycle],
    targets_of: impl Fn(&str) -> &'t [String],
    words: Words,
) -> usize {
    let by_random_id: HashMap<i64, &Delivery> = deliveries.iter().map(|d| (d.3, d)).collect();

    let mut per_cycle: HashMap<(String, i64, String), usize> = HashMap::new();
    for e in ledger {
        let (random_id, chat, text) = e.posted();
        let d = by_random_id
            .get(&random_id)
            .unwrap_or_else(|| panic!("{} without a journal row: {e:?}", words.entry));
        assert_eq!(
            d.2, chat,
            "random_id {} to the chat it was journalled for",
            words.sent
        );
        assert_eq!(d.5, text);
        *per_cycle
            .entry((d.0.clone(), d.1, d.2.clone()))
            .or_default() += 1;
    }
    let dupes: Vec<_> = per_cycle.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dupes.is_empty(),
        "a chat got two {} in one cycle: {dupes:?}",
        words.messages
    );

    let delivered: HashSet<(String, i64, String)> = per_cycle.keys().cloned().collect();
    let mut completed = 0;
    for (b, c, message, done) in cycles {
        if done.is_none() {
            continue;
        }
        completed += 1;
        for t in targets_of(b) {
            assert!(
                delivered.contains(&(b.clone(), *c, t.clone())),
                "{b} cycle {c} skipped {t}"
            );
        }
        for d in deliveries.iter().filter(|d| &d.0 == b && d.1 == *c) {
            assert_eq!(&d.5, message, "one message per cycle");
            assert_eq!(d.4, "sent");
        }
    }
    completed
}

/// A webhook receiver on 127.0.0.1: records each POST body, answers 200.
pub struct Hook {
    /// Where to post: `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// The JSON bodies received, in order.
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// Starts a [`Hook`] on `rt`; it runs as long as `rt` does.
pub fn start_hook(rt: &tokio::runtime::Runtime) -> Hook {
    use axum::routing::post;
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let store = bodies.clone();
    let router = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                if let Ok(v) = serde_json::from_slice(&body) {
                    store.lock().expect("hook lock").push(v);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the hook");
    let addr = listener.local_addr().expect("hook address");
    rt.spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Hook {
        url: format!("http://{addr}/hook"),
        bodies,
    }
}
