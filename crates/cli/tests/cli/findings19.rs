//! Issue 19's remaining findings, each through the binary as the user meets it: the log
//! settings `check` passes but `run` refuses, an error printing its reason twice, a misspelt
//! `.env` name ignored without a word, and one malformed `.env` line hiding the others.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

// The valid configuration `config_errors` starts from.
use crate::config_errors::{BIN, GOOD};

const RUN_ONCE: &[&str] = &[
    "run",
    "--sandbox",
    "--once",
    "--no-metrics",
    "--no-web",
    "--ignore-quiet-hours",
];

/// The binary in `dir` with `env` on top of a clean environment for our names; exit code and
/// stdout + stderr.
fn binary_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("METRICS_BIND", "127.0.0.1:0")
        .env("WEB_BIND", "127.0.0.1:0")
        .env_remove("LOG_FILE")
        .env_remove("SMB_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), GOOD).unwrap();
    dir
}

/// `check` and `run` on one LOG_FILE: both refuse it with the same sentence, or both accept.
fn check_and_run(dir: &Path, log_file: &str) -> ((i32, String), (i32, String)) {
    (
        binary_in(dir, &["check", "--sandbox"], &[("LOG_FILE", log_file)]),
        binary_in(dir, RUN_ONCE, &[("LOG_FILE", log_file)]),
    )
}

#[test]
fn log_file_in_proc_passed_check_but_run_refused_it_now_both_refuse_it_alike() {
    let dir = project();
    let ((code, check), (run_code, run)) = check_and_run(dir.path(), "/proc/x.log");
    let want = "cannot log to /proc/x.log (LOG_FILE): cannot create a file in /proc:";
    assert_eq!(code, 1, "{check}");
    assert!(check.contains(&format!("✗ {want}")), "{check}");
    assert!(
        check.contains("set LOG_FILE to a writable path (empty: no file)"),
        "{check}"
    );
    assert_ne!(run_code, 0, "{run}");
    assert!(
        run.contains(want) && run.contains("set LOG_FILE to a writable path (empty: no file)"),
        "{run}"
    );
    assert!(!dir.path().join("data/sandbox/ledger.jsonl").exists());
}

#[test]
fn log_file_directories_run_created_anywhere_only_one_missing_level_is_created() {
    let dir = project();
    // Two missing levels: refused by both, with the mkdir that makes them; nothing created.
    let ((code, check), (run_code, run)) = check_and_run(dir.path(), "a/b/bot.log");
    let want = "cannot log to a/b/bot.log (LOG_FILE): the directory a/b does not exist and neither does a (only one missing directory is created); create it with `mkdir -p a/b`";
    assert_eq!(code, 1, "{check}");
    assert!(check.contains(&format!("✗ {want}")), "{check}");
    assert_ne!(run_code, 0, "{run}");
    assert!(run.contains(want), "{run}");
    assert!(!dir.path().join("a").exists());

    // A new directory at the root: refused, never created.
    let ((code, check), (run_code, run)) = check_and_run(dir.path(), "/smb-i19-nope/bot.log");
    let want = "cannot log to /smb-i19-nope/bot.log (LOG_FILE): the directory /smb-i19-nope does not exist (none is created at the root); create it with `mkdir -p /smb-i19-nope`";
    assert_eq!(code, 1, "{check}");
    assert!(check.contains(&format!("✗ {want}")), "{check}");
    assert_ne!(run_code, 0, "{run}");
    assert!(run.contains(want), "{run}");
    assert!(!Path::new("/smb-i19-nope").exists());

    // One missing level under the working directory (the default `logs/bot.log`): `check`
    // passes and leaves nothing behind; `run` creates it and logs there.
    let ((code, check), (run_code, run)) = check_and_run(dir.path(), "logs/bot.log");
    assert!(!check.contains("LOG_FILE"), "{check}");
    assert_eq!(code, 0, "{check}");
    assert_eq!(run_code, 0, "{run}");
    assert!(dir.path().join("logs/bot.log").is_file(), "{run}");
}

#[test]
fn log_file_check_creates_and_leaves_nothing() {
    let dir = project();
    let (code, out) = binary_in(
        dir.path(),
        &["check", "--sandbox"],
        &[("LOG_FILE", "new/bot.log")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!dir.path().join("new").exists(), "{out}");
    let (code, out) = binary_in(
        dir.path(),
        &["check", "--sandbox"],
        &[("LOG_FILE", "bot.log")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!dir.path().join("bot.log").exists(), "{out}");
}

/// How often `reason` is in `out`.
fn times(out: &str, reason: &str) -> usize {
    out.matches(reason).count()
}

#[test]
fn the_lock_file_error_printed_its_reason_twice() {
    let dir = project();
    // The lock file is a directory: it cannot be opened as a file.
    std::fs::create_dir_all(dir.path().join("data/sandbox/sendmessagebot.lock")).unwrap();
    let (code, out) = binary_in(dir.path(), RUN_ONCE, &[("LOG_FILE", "")]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("cannot use the lock file"), "{out}");
    assert_eq!(times(&out, "Is a directory"), 1, "{out}");
}

#[test]
fn the_sandbox_ledger_error_printed_its_reason_twice() {
    let dir = project();
    std::fs::create_dir_all(dir.path().join("data/sandbox/ledger.jsonl")).unwrap();
    let (code, out) = binary_in(dir.path(), RUN_ONCE, &[("LOG_FILE", "")]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("sandbox ledger"), "{out}");
    assert_eq!(times(&out, "Is a directory"), 1, "{out}");
}

#[test]
fn a_misspelt_env_name_was_ignored_silently_check_and_run_warn_with_the_line() {
    let dir = project();
    std::fs::write(
        dir.path().join(".env"),
        "# pacing\nDELAY_BETWEN_CHATS=5\nPATH_EXTRA=/opt/bin\nHOME_DIR=/x\nSMB_SANDBOXX=1\nLOG_LEVL=s3cretvalue\nEDITOR=vim\n",
    )
    .unwrap();
    let want = [
        ".env:2: DELAY_BETWEN_CHATS is not a SendMessageBot setting and is ignored; did you mean DELAY_BETWEEN_CHATS?",
        ".env:5: SMB_SANDBOXX is not a SendMessageBot setting and is ignored; did you mean SMB_SANDBOX?",
        ".env:6: LOG_LEVL is not a SendMessageBot setting and is ignored; did you mean LOG_LEVEL?",
    ];
    let (code, out) = binary_in(dir.path(), &["check", "--sandbox"], &[("LOG_FILE", "")]);
    assert_eq!(code, 0, "a warning is not a failure: {out}");
    for w in want {
        assert!(out.contains(&format!("! {w}")), "{w}: {out}");
    }
    for other in ["PATH_EXTRA", "HOME_DIR", "EDITOR", "s3cretvalue"] {
        assert!(!out.contains(other), "{other}: {out}");
    }
    let (code, out) = binary_in(dir.path(), RUN_ONCE, &[("LOG_FILE", "")]);
    assert_eq!(code, 0, "{out}");
    for w in want {
        assert!(out.contains(&format!("warning: {w}")), "{w}: {out}");
    }
    assert!(
        !out.contains("s3cretvalue") && !out.contains("PATH_EXTRA"),
        "{out}"
    );
}

#[test]
fn one_malformed_env_line_hid_the_others_every_one_is_reported() {
    let dir = project();
    std::fs::write(
        dir.path().join(".env"),
        "API_ID=1\nWEB_TOKEN s3cretOne\nLOG_LEVEL=INFO\n'=s3cretTwo\nCYCLE_DELAY=60\nAPI_HASH=\"s3cretThree\n",
    )
    .unwrap();
    for args in [&["check", "--sandbox"][..], RUN_ONCE] {
        let (code, out) = binary_in(dir.path(), args, &[("LOG_FILE", "")]);
        assert_ne!(code, 0, "{out}");
        for line in [".env:2: ", ".env:4: ", ".env:6: "] {
            assert_eq!(times(&out, line), 1, "{line}: {out}");
        }
        assert!(out.contains("(3 lines cannot be read; see README"), "{out}");
        assert!(!out.contains("s3cret"), "{out}");
    }
}

/// QA (qa4 F5): a `.env` others may read that holds a secret is a ✗, and that ✗ used to hide
/// the misspelt names in the same file.
#[test]
fn a_misspelt_env_name_is_named_even_when_the_file_is_also_too_open() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "DELAY_BETWEN_CHATS=5\nAPI_HASH=0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = binary_in(dir.path(), &["check", "--sandbox"], &[("LOG_FILE", "")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chmod 600"), "{out}");
    assert!(
        out.contains("! .env:1: DELAY_BETWEN_CHATS is not a SendMessageBot setting and is ignored; did you mean DELAY_BETWEEN_CHATS?"),
        "{out}"
    );
    assert!(!out.contains("0123456789abcdef"), "{out}");
}
