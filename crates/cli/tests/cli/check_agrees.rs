//! `check` refuses exactly what `run` refuses: for every setting of the table in
//! `settings_cases` (which `src/config/agreement.rs` proves complete against the code), a
//! refused value makes `check` report ✗ with the very message `run` stops with — through the
//! library for every case (`run`'s start, `context::run_settings_from`, against `check`'s
//! report of the configuration), and through the binary (exit 1 for both, what the user reads)
//! for a sample, the issue's own examples and what `run` meets only after reading the settings
//! (the log file, a taken `/metrics` address).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

#[path = "../settings_cases/mod.rs"]
mod cases;
use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cases::{BASE_TOML, ENV_CASES, TOML_CASES, toml_with};
use common::{command, run_with, text};
use sendmessagebot::commands::check::{Report, configuration};
use sendmessagebot::config::{EnvVars, Overrides};
use sendmessagebot::context::run_settings_from;

const LIMIT: Duration = Duration::from_secs(60);

/// The binary in `dir` with none of the settings from outside, then `env`.
fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = command(dir, args);
    for case in ENV_CASES {
        c.env_remove(case.name);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    run_with(c, None, LIMIT).unwrap_or_else(|o| panic!("no end within {LIMIT:?}:\n{}", text(&o)))
}

/// `run`'s error message (what follows `error: ` on stderr).
fn run_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    match err.split_once("error: ") {
        Some((_, m)) => m.trim_end().to_owned(),
        None => panic!("run printed no error:\n{}", text(out)),
    }
}

/// Both commands on `toml` + `env`: run fails, and check fails with run's message; nothing
/// was written.
fn both_refuse(what: &str, toml: &str, env: &[(&str, &str)], names: &str) {
    let dir = refused_by_both(what, toml, env, names);
    assert!(
        !dir.path().join("data").exists(),
        "{what}: nothing was started or written"
    );
}

/// [`both_refuse`] for what `run` finds only after it opened the journal.
fn refused_by_both(what: &str, toml: &str, env: &[(&str, &str)], names: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).expect("toml");
    let run = spawn(dir.path(), &["run", "--sandbox", "--once"], env);
    assert_eq!(run.status.code(), Some(1), "{what}: run\n{}", text(&run));
    let message = run_error(&run);
    assert!(
        message.contains(names),
        "{what}: run's message names {names}: {message}"
    );
    let check = spawn(dir.path(), &["check", "--sandbox"], env);
    assert_eq!(
        check.status.code(),
        Some(1),
        "{what}: check\n{}",
        text(&check)
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains(&format!("✗ {message}")),
        "{what}: check must refuse with run's message `{message}`:\n{}",
        text(&check)
    );
    dir
}

/// [`both_refuse`] as library calls, with only `env` set: `run`'s start fails, and `check`'s
/// report of the configuration has a problem, the ✗ line with run's message.
fn both_refuse_in_library(what: &str, toml: &str, env: &[(&str, &str)], names: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sendmessagebot.toml");
    std::fs::write(&path, toml).expect("toml");
    let env = EnvVars::from_pairs(env);
    let overrides = Overrides::default();
    let message = match run_settings_from(&env, Some(&path), &overrides, false) {
        Ok(_) => panic!("{what}: run accepts it"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        message.contains(names),
        "{what}: run's message names {names}: {message}"
    );
    let mut check = Report::quiet();
    configuration(&mut check, &env, &path, &overrides);
    assert!(check.problems > 0, "{what}: check\n{:?}", check.lines);
    assert!(
        check.lines.contains(&format!("✗ {message}")),
        "{what}: check must refuse with run's message `{message}`:\n{:?}",
        check.lines
    );
    assert!(
        !dir.path().join("data").exists(),
        "{what}: nothing was started or written"
    );
}

/// A case's description, its variables, and the name its message must have.
type Refused = (String, Vec<(&'static str, &'static str)>, &'static str);

/// Every variable case with its refused value.
fn refused_variables() -> Vec<Refused> {
    ENV_CASES
        .iter()
        .filter_map(|c| {
            let bad = c.bad?;
            let mut env: Vec<(&str, &str)> = c.with.to_vec();
            env.push((c.name, bad));
            Some((format!("{}={bad:?}", c.name), env, c.name))
        })
        .collect()
}

#[test]
fn every_refused_variable_is_refused_by_both_with_one_message() {
    let mut tried = 0;
    for (what, env, name) in refused_variables() {
        both_refuse_in_library(&what, BASE_TOML, &env, name);
        tried += 1;
    }
    assert!(tried > 40, "{tried} variables");
}

#[test]
fn every_refused_key_is_refused_by_both_with_one_message() {
    for c in TOML_CASES {
        let toml = toml_with(c.table, c.key, c.bad);
        both_refuse_in_library(
            &format!("[{}] {} = {}", c.table, c.key, c.bad),
            &toml,
            &[],
            "sendmessagebot.toml",
        );
    }
}

#[test]
fn a_refused_variable_and_key_are_refused_by_both_binaries() {
    // A sample of the two tests above through the binary: exit codes and printed lines.
    let (what, env, name) = refused_variables().swap_remove(0);
    both_refuse(&what, BASE_TOML, &env, name);
    let c = &TOML_CASES[0];
    both_refuse(
        &format!("[{}] {} = {}", c.table, c.key, c.bad),
        &toml_with(c.table, c.key, c.bad),
        &[],
        "sendmessagebot.toml",
    );
}

#[test]
fn the_issue_examples() {
    // WEB_BIND / METRICS_BIND: check used to say ✓ and run stopped.
    for (name, value) in [("WEB_BIND", "notanaddr"), ("METRICS_BIND", "bad")] {
        both_refuse(name, BASE_TOML, &[(name, value)], name);
    }
    // LOG_LEVEL: accepted silently by both; now refused, with the allowed values.
    for level in ["loud", "WARNNG"] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sendmessagebot.toml"), BASE_TOML).expect("toml");
        let check = spawn(dir.path(), &["check", "--sandbox"], &[("LOG_LEVEL", level)]);
        let out = String::from_utf8_lossy(&check.stdout);
        assert_eq!(check.status.code(), Some(1), "{}", text(&check));
        assert!(
            out.contains(&format!(
                "✗ environment: LOG_LEVEL=\"{level}\" is not valid: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )),
            "{}",
            text(&check)
        );
    }
    // A .env value says it came from .env.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sendmessagebot.toml"), BASE_TOML).expect("toml");
    std::fs::write(dir.path().join(".env"), "METRICS_BIND=bad\n").expect(".env");
    let run = spawn(dir.path(), &["run", "--sandbox", "--once"], &[]);
    assert_eq!(
        run_error(&run),
        "error: .env: METRICS_BIND=\"bad\" is not valid: expected an address and port such as 127.0.0.1:9898"
            .trim_start_matches("error: ")
    );
}

#[test]
fn a_dashboard_off_loopback_without_a_token_is_refused_by_both_unless_run_has_no_web() {
    let env = [("WEB_BIND", "0.0.0.0:0"), ("METRICS_BIND", "127.0.0.1:0")];
    both_refuse("WEB_BIND off loopback", BASE_TOML, &env, "WEB_TOKEN");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sendmessagebot.toml"), BASE_TOML).expect("toml");
    let run = spawn(
        dir.path(),
        &[
            "run",
            "--sandbox",
            "--once",
            "--no-web",
            "--ignore-quiet-hours",
        ],
        &env,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
}

#[test]
fn a_file_source_whose_only_message_update_refuses_is_refused_by_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One line, longer than Telegram allows: `messages update` refuses it.
    std::fs::write(
        dir.path().join("b2b.txt"),
        format!("{}\n", "x".repeat(5000)),
    )
    .expect("txt");
    let toml = BASE_TOML.replace(
        "[messages.b2b]\ntexts = [\"hello\"]",
        "[messages.b2b]\nsource = \"b2b.txt\"",
    );
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).expect("toml");
    let update = spawn(dir.path(), &["messages", "update", "--sandbox"], &[]);
    assert_eq!(update.status.code(), Some(1), "{}", text(&update));
    let update_out = String::from_utf8_lossy(&update.stdout).to_string();
    let check = spawn(dir.path(), &["check", "--sandbox"], &[]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let out = String::from_utf8_lossy(&check.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("✗ message set b2b"))
        .unwrap_or_else(|| panic!("{}", text(&check)));
    // The same reason as the update's.
    let reason = update_out
        .lines()
        .find_map(|l| {
            l.split_once("message set `b2b`: ")
                .map(|(_, r)| r.to_owned())
        })
        .unwrap_or_else(|| panic!("{update_out}"));
    assert!(line.contains(&reason), "{line}\nvs update: {reason}");
}

#[test]
fn a_log_file_run_cannot_create_is_refused_by_both() {
    // Under a regular file: check used to say ✓ and run stopped.
    both_refuse(
        "LOG_FILE under a file",
        BASE_TOML,
        &[("LOG_FILE", "sendmessagebot.toml/bot.log")],
        "LOG_FILE",
    );
}

#[test]
fn a_metrics_address_another_program_holds_is_refused_by_both() {
    // check used to say ✓ and run stopped when it bound /metrics. With Telegram, `check`
    // refuses it with run's message; in the sandbox (a rehearsal beside a running daemon,
    // QA3 F12) both only warn: `qa3::f12_a_taken_metrics_port_is_a_warning_in_the_sandbox`.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sendmessagebot.toml"), BASE_TOML).expect("toml");
    let check = spawn(dir.path(), &["check"], &[("METRICS_BIND", &addr)]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let stdout = String::from_utf8_lossy(&check.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("/metrics"))
        .unwrap_or_else(|| panic!("{}", text(&check)));
    assert!(
        line.starts_with(&format!(
            "✗ cannot serve /metrics on {addr}: set METRICS_BIND"
        )),
        "{line}"
    );
    drop(taken);
}
