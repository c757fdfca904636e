//! Regressions of the third fresh-user QA pass (/work/notes/qa3.md), the findings of helper
//! qa3b: each test is named after its finding (`f30_…` is finding F30) and drives the real
//! binary where the finding was seen through it.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod console_support;

use console_support::{Project, text};

/// `args` run from `dir` with the project's configuration and `.env` named by path.
fn from_elsewhere(p: &Project, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let config = p.file("sendmessagebot.toml");
    let env = p.file(".env");
    let mut all = vec![
        "--config",
        config.to_str().unwrap(),
        "--env-file",
        env.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = p.cmd(&all).current_dir(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn f30_a_journal_beside_the_configuration_is_not_replaced_by_a_new_one_here() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let beside = p.file("data/sandbox/sendmessagebot.db");
    assert!(beside.exists());
    let elsewhere = tempfile::tempdir().unwrap();
    let beside = beside.canonicalize().unwrap();
    for args in [
        &["check", "--sandbox"][..],
        &["run", "--sandbox", "--dry-run"],
        &["run", "--sandbox", "--once", "--no-web", "--no-metrics"],
        &["stats", "--sandbox"],
    ] {
        let (code, out) = from_elsewhere(&p, elsewhere.path(), args);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(
            out.contains(&format!(
                "the configuration's directory holds {}",
                beside.display()
            )) && out.contains("relative paths are read from the working directory")
                && out.contains("run in the directory of the configuration (`cd "),
            "{args:?}: {out}"
        );
        assert!(
            !elsewhere.path().join("data").exists(),
            "{args:?} created nothing in the working directory"
        );
    }
    // In the configuration's directory the same commands use the journal there.
    let (code, out) = p.run(&["stats", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn f30_the_dry_run_creates_no_database() {
    let p = Project::new();
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("plan of the next cycle"), "{out}");
    assert!(
        !p.file("data/sandbox/sendmessagebot.db").exists(),
        "the dry run writes nothing: {out}"
    );
    // With a journal, it is read and left as it was (no new rows, no WAL left behind).
    let (code, out) = p.run(&["run", "--sandbox", "--once", "--no-web", "--no-metrics"]);
    assert_eq!(code, 0, "{out}");
    let db = p.file("data/sandbox/sendmessagebot.db");
    let before = std::fs::read(&db).unwrap();
    let (code, out) = p.run(&["run", "--sandbox", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the journal is unchanged"
    );
}
