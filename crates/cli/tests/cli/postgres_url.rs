//! A `postgres://` journal (issue 16): `run`, `stats` and `run --dry-run` use the PostgreSQL
//! store; the commands that keep their journal in SQLite only say so (never repeating the
//! URL's password); another scheme is refused by the configuration. With
//! `SMB_TEST_POSTGRES_URL` (scripts/test-postgres.sh), `run --once` in the sandbox journals in
//! PostgreSQL and `stats` there agrees with the same run on SQLite; `db copy` moves journals.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use sendmessagebot::config::{EnvVars, Overrides, parse};

use crate::config_errors::{BIN, GOOD};

#[test]
fn a_postgres_url_is_accepted_and_another_scheme_refused() {
    for url in [
        "postgres://smb:S3cretPa55@db.example:5432/smb",
        "postgresql://smb:S3cretPa55@db.example/smb",
    ] {
        let env = EnvVars::from_pairs(&[("DATABASE_URL", url)]);
        let settings = parse("sendmessagebot.toml", GOOD, &env, &Overrides::default())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(settings.database_url, url);
    }
    // In the file too, and for the sandbox's journal.
    let toml = format!(
        "{GOOD}\n[database]\nurl = \"postgres://smb@db/smb\"\n[sandbox]\ndatabase_url = \"postgres://smb@db/sandbox\"\n"
    );
    let settings = parse(
        "sendmessagebot.toml",
        &toml,
        &EnvVars::default(),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(settings.sandbox_database_url, "postgres://smb@db/sandbox");
    // Another scheme: refused, the variable named.
    let env = EnvVars::from_pairs(&[("DATABASE_URL", "mysql://u@h/db")]);
    let err = parse("sendmessagebot.toml", GOOD, &env, &Overrides::default())
        .expect_err("refused")
        .to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(err.contains("not a SQLite or PostgreSQL URL"), "{err}");
}

/// `run` and `stats` open the server (here: nothing listens) and name it without the
/// password; a command that keeps its journal in SQLite only says so, also without it.
#[test]
fn a_postgres_journal_is_opened_by_run_and_stats_and_refused_by_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), GOOD).unwrap();
    let smb = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", "postgres://smb:S3cretPa55@127.0.0.1:1/smb")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("S3cretPa55"), "{args:?}: {text}");
        (out.status.code(), text)
    };
    for args in [
        &[
            "run",
            "--once",
            "--no-web",
            "--no-metrics",
            "--ignore-quiet-hours",
        ][..],
        &["stats"],
    ] {
        let (code, text) = smb(args);
        assert_eq!(code, Some(1), "{args:?}: {text}");
        assert!(text.contains("127.0.0.1:1/smb"), "{args:?}: {text}");
        assert!(!text.contains("a PostgreSQL URL"), "{args:?}: {text}");
    }
    for args in [&["db", "check"][..], &["stats", "--watch"]] {
        let (code, text) = smb(args);
        assert_eq!(code, Some(1), "{args:?}: {text}");
        assert!(
            text.contains("a PostgreSQL URL") && text.contains("docs/postgres.md"),
            "{args:?}: {text}"
        );
    }
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("postgres")),
        "no directory named after the URL"
    );
}

/// A new, empty database on the test server and its URL; `None` outside CI without a server.
pub(crate) async fn fresh_pg(tag: &str) -> Option<String> {
    let Some(server) = std::env::var("SMB_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "SMB_TEST_POSTGRES_URL is not set, and under CI the PostgreSQL tests must run \
             (scripts/test-postgres.sh sets it, as .ci/run does)"
        );
        eprintln!("SMB_TEST_POSTGRES_URL is not set: this PostgreSQL test did not run");
        return None;
    };
    use sqlx::Connection as _;
    let name = format!(
        "smb_cli_{tag}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    );
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (head, _) = server.rsplit_once('/').unwrap();
    Some(format!("{head}/{name}"))
}

/// The sandbox configuration of the run below: two broadcasters on two accounts, five chats,
/// one of them refusing (its failure journalled); its journal at `journal`.
fn sandbox_config(journal: &str) -> String {
    format!(
        r#"[settings]
delay_between_chats = 0.05
cycle_delay = 1
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
timezone = "UTC"

[sandbox]
latency_ms = 1
database_url = "{journal}"

[accounts.acc1]
delay_between_chats = 0.05

[accounts.acc2]
delay_between_chats = 0.05

[targets]
prod = ["@shop_one", "@shop_two", "-1001000000003"]
other = ["@market_a", "@market_b"]

[messages.b2b]
texts = ["price list", "новый прайс 🚀"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
messages = "b2b"

[broadcasters.b2c]
account = "acc2"
targets = "other"
messages = "b2b"
"#
    )
}

/// `stats --json` without what differs between two runs of the same plan: the moments.
fn figures(mut v: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| {
                    !(k.ends_with("_at") || k == "generated_at" || k == "next_send" || k == "until")
                });
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Issue 16 made usable: `run --once` (the sandbox, so nothing reaches Telegram) with its
/// journal on PostgreSQL writes every cycle and delivery there (read back with SQL), and
/// `stats --json` read from PostgreSQL agrees with the same configuration run on SQLite; the
/// dry run reads the server's journal too.
#[tokio::test]
async fn run_once_journals_in_postgres_and_stats_agrees_with_sqlite() {
    let Some(pg) = fresh_pg("run").await else {
        return;
    };
    let lite_dir = tempfile::tempdir().unwrap();
    let pg_dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (dir, journal) in [
        (
            lite_dir.path(),
            "sqlite://data/sandbox/sendmessagebot.db".to_owned(),
        ),
        (pg_dir.path(), pg.clone()),
    ] {
        std::fs::write(dir.join("sendmessagebot.toml"), sandbox_config(&journal)).unwrap();
        let (code, out, err) = sendmessagebot(
            dir,
            &[
                "run",
                "--sandbox",
                "--once",
                "--no-web",
                "--no-metrics",
                "--ignore-quiet-hours",
            ],
        );
        assert_eq!(code, Some(0), "{journal}: {out}{err}");
        let (code, out, err) = sendmessagebot(dir, &["stats", "--sandbox", "--json"]);
        assert_eq!(code, Some(0), "{journal}: {out}{err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        results.push(json);
    }
    let (lite, on_pg) = (&results[0], &results[1]);
    assert_eq!(on_pg["totals"]["sent"], 5, "{on_pg:#}");
    assert_eq!(
        on_pg["broadcasters"]["b2b"]["counts"]["sent"], 3,
        "{on_pg:#}"
    );
    assert_eq!(
        on_pg["broadcasters"]["b2b"]["sent_last_hour"], 3,
        "{on_pg:#}"
    );
    assert_eq!(on_pg["accounts"]["acc2"]["counts"]["sent"], 2, "{on_pg:#}");
    assert_eq!(figures(on_pg.clone()), figures(lite.clone()));
    // No SQLite journal was made beside the PostgreSQL run.
    assert!(
        !pg_dir
            .path()
            .join("data/sandbox/sendmessagebot.db")
            .exists()
    );

    // The rows themselves, read from the server.
    use sqlx::{Connection as _, Row as _};
    let mut c = sqlx::PgConnection::connect(&pg).await.unwrap();
    let rows = sqlx::query(
        "SELECT broadcaster, cycle, target, account, status, message_id FROM deliveries
         ORDER BY broadcaster, target COLLATE \"C\"",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let seen: Vec<(String, i64, String, String, String, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.get("broadcaster"),
                r.get("cycle"),
                r.get("target"),
                r.get("account"),
                r.get("status"),
                r.get::<Option<i64>, _>("message_id").is_some(),
            )
        })
        .collect();
    let row = |b: &str, t: &str, a: &str| {
        (
            b.to_owned(),
            1,
            t.to_owned(),
            a.to_owned(),
            "sent".to_owned(),
            true,
        )
    };
    assert_eq!(
        seen,
        [
            row("b2b", "-1001000000003", "acc1"),
            row("b2b", "@shop_one", "acc1"),
            row("b2b", "@shop_two", "acc1"),
            row("b2c", "@market_a", "acc2"),
            row("b2c", "@market_b", "acc2"),
        ]
    );
    let completed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM cycles WHERE completed_at IS NOT NULL")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(completed, 2, "both cycles completed");

    // The dry run plans from the server's journal: the next cycle, a line per target.
    let (code, out, err) = sendmessagebot(
        pg_dir.path(),
        &["run", "--sandbox", "--dry-run", "--ignore-quiet-hours"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    for target in ["@shop_one", "@market_b", "-1001000000003"] {
        assert!(out.contains(target), "{target}: {out}{err}");
    }
}

/// A SQLite journal with a cycle, two deliveries (one sent) and a paused account.
async fn journal(url: &str) {
    use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};
    let s = smb_store::SqliteStore::open(url, smb_store::SqliteSettings::default())
        .await
        .unwrap();
    let t0: jiff::Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    s.start_cycle("b2b", 1, "price list", t0).await.unwrap();
    for (i, target) in ["@shop_one", "@shop_two"].into_iter().enumerate() {
        let key = DeliveryKey {
            broadcaster: "b2b".into(),
            cycle: 1,
            target: smb_domain::TargetRef::parse(target).unwrap(),
        };
        s.write_pending(&PendingDelivery {
            key: key.clone(),
            account: "acc1".into(),
            random_id: 100 + i as i64,
            message: "price list".into(),
            variant: None,
            attempt: 0,
            at: t0,
        })
        .await
        .unwrap();
        if i == 0 {
            let sent = Outcome::Sent {
                message_id: Some(5),
            };
            s.record_outcome(&key, &sent, t0).await.unwrap();
        }
    }
    s.record_pause(
        "acc1",
        None,
        smb_domain::PauseKind::FloodWait,
        std::time::Duration::from_secs(30),
        t0,
        t0,
    )
    .await
    .unwrap();
    s.close().await.unwrap();
}

fn sendmessagebot(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `db copy` with the real binary (issue 16 part 4): a table per line with its rows and
/// checksum; again, nothing is written; `--json` gives the same figures; a PostgreSQL
/// destination that cannot be reached is named without its password. With
/// `SMB_TEST_POSTGRES_URL` set (scripts/test-postgres.sh), also SQLite → PostgreSQL → SQLite,
/// the three reports agreeing.
#[tokio::test]
async fn db_copy_prints_rows_and_checksums_per_table_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    journal(&format!("sqlite://{}/a.db", dir.path().display())).await;
    let (code, out, err) = sendmessagebot(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            "sqlite://b.db",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let line = |table: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no {table} line: {out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("deliveries")[1], "2", "{out}");
    assert_eq!(line("cycles")[1], "1", "{out}");
    assert_eq!(line("pauses")[1], "1", "{out}");
    assert_eq!(line("targets")[1], "0", "{out}");
    assert_eq!(line("deliveries")[2].len(), 32, "{out}");
    assert!(
        out.contains("copied 5 rows") && out.contains("counts and checksums match"),
        "{out}"
    );
    assert!(dir.path().join("b.db").exists());

    let (code, again, err) = sendmessagebot(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            "sqlite://b.db",
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{again}{err}");
    let json: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(json["copied"], false, "{json}");
    let deliveries = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "deliveries")
        .unwrap();
    assert_eq!(deliveries["rows"], 2);
    assert_eq!(deliveries["checksum"], line("deliveries")[2].as_str());

    let (code, out, err) = sendmessagebot(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            "postgres://smb:S3cretPa55@127.0.0.1:1/smb",
        ],
    );
    let text = format!("{out}{err}");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("127.0.0.1:1/smb"), "{text}");
    assert!(!text.contains("S3cretPa55"), "{text}");

    let Some(server) = std::env::var("SMB_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "SMB_TEST_POSTGRES_URL is not set, and under CI the PostgreSQL part must run \
             (scripts/test-postgres.sh sets it, as .ci/run does)"
        );
        eprintln!("SMB_TEST_POSTGRES_URL is not set: the PostgreSQL part of db copy did not run");
        return;
    };
    // A database of its own on the test server.
    use sqlx::Connection as _;
    let name = format!("smb_cli_copy_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (head, _) = server.rsplit_once('/').unwrap();
    let pg = format!("{head}/{name}");
    let (code, there, err) = sendmessagebot(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            &pg,
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{there}{err}");
    let (code, back, err) = sendmessagebot(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            &pg,
            "--to",
            "sqlite://c.db",
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{back}{err}");
    let there: serde_json::Value = serde_json::from_str(&there).unwrap();
    let back: serde_json::Value = serde_json::from_str(&back).unwrap();
    assert_eq!(there["copied"], true);
    assert_eq!(back["copied"], true);
    assert_eq!(there["tables"], back["tables"]);
    assert_eq!(
        there["tables"], json["tables"],
        "the same figures as SQLite → SQLite"
    );
}
