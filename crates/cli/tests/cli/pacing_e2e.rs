//! Test sends obey the account's pacing, through the real binary: a sandbox daemon with the
//! dashboard's API, `DELAY_BETWEEN_CHATS=1`, a broadcaster sending on the same account, and
//! five `POST /api/v1/test-send` at once. Every request is answered `sent`, and the sandbox
//! ledger shows every two sends of the account at least one second apart (the burst this
//! replaces put ten within 9 ms); every ledger line has its journal row.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

const TOKEN: &str = "pacing-e2e-token-0123456789abcdef";

const CONFIG: &str = r#"
[settings]
delay_between_chats = 15
cycle_delay = 3600
jitter = "20%"
enable_scheduling = false
enable_quiet_hours = false

[sandbox]
latency_ms = 0
seed = 3

[accounts.acc1]

[targets]
prod = ["@shop_one", "@shop_two", "@shop_three", "@shop_four", "@shop_five", "@shop_six"]
test = ["@my_test_group"]

[messages.b2b]
texts = ["b2b price list"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
test_targets = "test"
messages = "b2b"
"#;

/// Kills the daemon when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(dir: &Path) -> (Daemon, String) {
    let mut child = Command::new(common::BIN)
        .args(["run", "--sandbox"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("SMB_CONFIG")
        .env("DELAY_BETWEEN_CHATS", "1")
        .env("WEB_BIND", "127.0.0.1:0")
        .env("METRICS_BIND", "127.0.0.1:0")
        .env("WEB_TOKEN", TOKEN)
        .env("LOG_FILE", "")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sendmessagebot");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("daemon: {line}");
            if let Some(addr) = line.strip_prefix("web on http://") {
                let _ = tx.send(addr.trim_end_matches('/').to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the daemon prints `web on http://ADDR/`");
    (Daemon(child), addr)
}

/// `POST path` with a JSON body and the token; (status, body). The connection is closed by
/// the server after the answer.
fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // The body may be chunked: keep the JSON object only.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => body[a..=b].to_owned(),
        _ => body.to_owned(),
    };
    (status, body)
}

#[test]
fn concurrent_test_sends_keep_delay_between_chats_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), CONFIG).unwrap();
    let (daemon, addr) = start_daemon(dir.path());
    let ledger_path = dir.path().join("data/sandbox/ledger.jsonl");
    let ledger = || smb_telegram::sim::read_ledger(&ledger_path).unwrap();

    let asked: Vec<_> = (0..5)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || post(&addr, "/api/v1/test-send", r#"{"broadcaster":"b2b"}"#))
        })
        .collect();
    for a in asked {
        let (status, body) = a.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["results"][0]["outcome"], "sent", "{body}");
    }
    // The broadcaster's six chats and the five test sends, all from acc1.
    let started = Instant::now();
    while ledger().len() < 11 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the ledger holds {} of 11 sends",
            ledger().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(daemon);

    let entries = ledger();
    assert_eq!(entries.len(), 11, "{entries:?}");
    let mut times: Vec<Timestamp> = entries.iter().map(|e| e.at.parse().unwrap()).collect();
    times.sort();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).total(jiff::Unit::Second).unwrap())
        .collect();
    assert!(
        gaps.iter().all(|&g| g >= 1.0),
        "two sends of acc1 closer than DELAY_BETWEEN_CHATS=1: gaps {gaps:?}\n{entries:#?}"
    );
    let tests = entries
        .iter()
        .filter(|e| e.chat == "@my_test_group")
        .count();
    assert_eq!(tests, 5);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (deliveries, cycles) =
        common::read_journal(&rt, &dir.path().join("data/sandbox/sendmessagebot.db"));
    let journalled_tests = deliveries
        .iter()
        .filter(|d| d.0 == "test:b2b" && d.4 == "sent")
        .count();
    assert_eq!(journalled_tests, 5, "{deliveries:?}");
    let prod: Vec<String> = [
        "@shop_one",
        "@shop_two",
        "@shop_three",
        "@shop_four",
        "@shop_five",
        "@shop_six",
    ]
    .map(String::from)
    .to_vec();
    let test = vec!["@my_test_group".to_string()];
    common::check_ledger_against_journal(
        &entries,
        &deliveries,
        &cycles,
        |b| if b == "b2b" { &prod } else { &test },
        common::Words {
            entry: "ledger entry",
            sent: "sent",
            messages: "messages",
        },
    );
}
