//! A `postgres://` journal (issue 16 part 1): the store exists in `smb-store`, but no command
//! uses it yet, so the configuration refuses the URL with that said, the variable named, the
//! password masked and the SQLite URL to write instead.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use sendmessagebot::config::{EnvVars, Overrides, parse};

use crate::config_errors::{BIN, GOOD};

#[test]
fn a_postgres_url_is_refused_saying_no_command_uses_it_yet() {
    for url in [
        "postgres://smb:S3cretPa55@db.example:5432/smb",
        "postgresql://smb:S3cretPa55@db.example/smb",
    ] {
        let env = EnvVars::from_pairs(&[("DATABASE_URL", url)]);
        let err = parse("sendmessagebot.toml", GOOD, &env, &Overrides::default())
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        assert!(err.contains("a PostgreSQL URL"), "{err}");
        assert!(err.contains("docs/postgres.md"), "{err}");
        assert!(err.contains("sqlite://data/sendmessagebot.db"), "{err}");
        assert!(!err.contains("S3cretPa55"), "{err}");
    }
    // In the file too, named by its key.
    let toml = format!("{GOOD}\n[database]\nurl = \"postgres://smb@db/smb\"\n");
    let err = parse(
        "sendmessagebot.toml",
        &toml,
        &EnvVars::default(),
        &Overrides::default(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("database.url") && err.contains("a PostgreSQL URL"),
        "{err}"
    );
    // Another scheme keeps its own answer.
    let env = EnvVars::from_pairs(&[("DATABASE_URL", "mysql://u@h/db")]);
    let err = parse("sendmessagebot.toml", GOOD, &env, &Overrides::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("not a SQLite URL"), "{err}");
}

#[test]
fn run_and_stats_refuse_a_postgres_url_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), GOOD).unwrap();
    for args in [&["run", "--once"][..], &["stats"]] {
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
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains("a PostgreSQL URL"), "{args:?}: {text}");
        assert!(!text.contains("S3cretPa55"), "{args:?}: {text}");
        assert!(
            !dir.path().join("data").exists(),
            "{args:?}: nothing created"
        );
    }
}
