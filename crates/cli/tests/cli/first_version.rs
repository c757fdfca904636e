//! A message set with a source and no stored version yet (what `migrate` writes for a
//! sheet-only set), through the binary: `run --sandbox --once` fetches it before the first
//! cycle, sends and ends; a source that cannot be fetched ends `--once` with the reason
//! instead of a hang; the daemon starts a broadcaster waiting for its first version as soon as
//! one is accepted, not a whole cycle_delay later. The CSV source is a double on 127.0.0.1.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{command, run_with, text};

const LIMIT: Duration = Duration::from_secs(90);
const PRICE: &str = "Прайс: iPhone 16 — 71 000 ₽";

/// What the CSV double answers (the body, or 404 while `None`) and how often it was asked.
type Body = Arc<Mutex<(Option<String>, usize)>>;

async fn prices(State(body): State<Body>) -> Response {
    let mut state = body.lock().expect("lock");
    state.1 += 1;
    match state.0.clone() {
        Some(b) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], b).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The CSV double on 127.0.0.1 (served by `rt`'s worker threads): its URL and its body.
fn csv_double(rt: &tokio::runtime::Runtime, body: Option<&str>) -> (String, Body) {
    let state: Body = Arc::new(Mutex::new((body.map(str::to_owned), 0)));
    let app = Router::new()
        .route("/prices.csv", get(prices))
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/prices.csv"), state)
}

/// A sheet-only set: a source, no texts, an hour between cycles.
fn project(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        r#"[settings]
delay_between_chats = 0
cycle_delay = "1h"
enable_quiet_hours = false
enable_scheduling = false

[accounts.acc1]

[targets]
prod = ["-1001234567890", "@shop_chat"]

[messages.b2b]
source = "{source}"

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"
"#
    );
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).expect("toml");
    dir
}

fn sandbox(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = command(dir, args);
    c.env("WEB_BIND", "127.0.0.1:0")
        .env("LOG_FILE", "")
        .env("GOOGLE_UPDATE_INTERVAL", "10")
        .env_remove("CYCLE_DELAY")
        .env_remove("DELAY_BETWEEN_CHATS")
        .env_remove("DATABASE_URL");
    c
}

fn ledger(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("data/sandbox/ledger.jsonl")).unwrap_or_default()
}

fn once(dir: &Path) -> Output {
    run_with(sandbox(dir, &["run", "--sandbox", "--once"]), None, LIMIT)
        .unwrap_or_else(|o| panic!("run --once did not end within {LIMIT:?}:\n{}", text(&o)))
}

#[test]
fn once_fetches_a_sheet_only_set_sends_and_ends() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, _) = csv_double(&rt, Some(&format!("{PRICE},активно,5\n")));
    let dir = project(&url);
    let out = once(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("message set b2b: 1 messages (1 active) fetched from"),
        "{}",
        text(&out)
    );
    let ledger = ledger(dir.path());
    assert_eq!(ledger.matches(PRICE).count(), 2, "both targets:\n{ledger}");
    // The version is stored, as `messages update` would have.
    let history = sandbox(dir.path(), &["messages", "history", "b2b", "--sandbox"])
        .output()
        .expect("history");
    assert!(
        String::from_utf8_lossy(&history.stdout).contains("v1"),
        "{}",
        text(&history)
    );
}

#[test]
fn once_fetches_a_file_source_too() {
    let dir = project("prices.txt");
    std::fs::write(dir.path().join("prices.txt"), format!("{PRICE}\n")).expect("txt");
    let out = once(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ledger(dir.path()).matches(PRICE).count(), 2);
}

#[test]
fn once_ends_with_the_reason_when_the_first_version_cannot_be_fetched() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, _) = csv_double(&rt, None);
    let dir = project(&url);
    let out = once(dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: message set `b2b`")
            && err.contains("404")
            && err.contains("has no stored version yet")
            && err.contains("sendmessagebot messages update --type b2b"),
        "{}",
        text(&out)
    );
    assert!(!ledger(dir.path()).contains("\"text\""), "nothing was sent");
}

#[test]
fn once_with_a_content_an_update_refuses_ends_with_that_reason() {
    let dir = project("prices.txt");
    std::fs::write(
        dir.path().join("prices.txt"),
        format!("{}\n", "x".repeat(5000)),
    )
    .expect("txt");
    let out = once(dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4096"),
        "{}",
        text(&out)
    );
}

/// Ends the daemon this test started, however the test ends.
struct Daemon<'a> {
    dir: &'a Path,
    child: Option<std::process::Child>,
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = sandbox(self.dir, &["stop", "--sandbox"]).output();
        if let Some(mut c) = self.child.take() {
            if !matches!(c.try_wait(), Ok(Some(_))) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

#[test]
fn the_daemon_starts_a_waiting_broadcaster_as_soon_as_its_first_version_is_accepted() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, body) = csv_double(&rt, None);
    let dir = project(&url);
    let child = sandbox(dir.path(), &["run", "--sandbox"])
        .spawn()
        .expect("run");
    let mut daemon = Daemon {
        dir: dir.path(),
        child: Some(child),
    };
    // The fetch before the first cycle and the refresh's first round both meet a 404: the
    // daemon runs, its broadcaster waits with nothing to send.
    let refused_twice = common_wait(|| body.lock().expect("lock").1 >= 2);
    assert!(refused_twice, "the daemon did not fetch");
    assert!(!ledger(dir.path()).contains(PRICE));
    // The sheet is published: the next refresh (10 s later here) accepts it, and the
    // broadcaster sends at once — not after its hour-long cycle_delay.
    body.lock().expect("lock").0 = Some(format!("{PRICE},активно,5\n"));
    let sent = common_wait(|| ledger(dir.path()).matches(PRICE).count() == 2);
    let _ = sandbox(dir.path(), &["stop", "--sandbox"]).output();
    let out = daemon
        .child
        .take()
        .expect("child")
        .wait_with_output()
        .expect("output");
    assert!(sent, "no send after the version arrived:\n{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: message set `b2b`")
            && err.contains("its broadcasters wait until a version is accepted"),
        "{}",
        text(&out)
    );
}

/// Polls `f` (every 50 ms) until it holds, at most [`LIMIT`].
fn common_wait(mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < LIMIT {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
