//! Log rotation: write past LOG_MAX_SIZE several times, exactly LOG_BACKUP_COUNT backups remain.
//! Also compiles and exercises the CLI's `logging.rs` (LOG_* settings and the subscriber).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

#[path = "../../cli/src/logging.rs"]
mod logging;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writing_past_the_size_keeps_exactly_the_backup_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.log");
    let mut file = smb_notify::logfile::rotating_file(&path, 1000, 3).unwrap();
    let line = format!("{}\n", "x".repeat(99));
    for _ in 0..100 {
        // 10 000 bytes through a 1 000-byte file: about ten rotations.
        file.write_all(line.as_bytes()).unwrap();
    }
    drop(file);
    assert_eq!(
        files_in(dir.path()),
        ["bot.log", "bot.log.1", "bot.log.2", "bot.log.3"]
    );
    for name in files_in(dir.path()) {
        let len = std::fs::metadata(dir.path().join(&name)).unwrap().len();
        assert!(
            len <= 1000 && len.is_multiple_of(100),
            "{name}: {len} bytes"
        );
    }
}

#[test]
fn zero_backups_keeps_only_the_current_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("bot.log");
    let mut file = smb_notify::logfile::rotating_file(&path, 100, 0).unwrap();
    for _ in 0..50 {
        file.write_all(b"0123456789012345678\n").unwrap();
    }
    drop(file);
    assert_eq!(files_in(&dir.path().join("nested")), ["bot.log"]);
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn log_settings_read_the_seed_names() {
    let s = logging::LogSettings::from_env_map(&HashMap::new()).unwrap();
    assert_eq!(s, logging::LogSettings::default());
    assert_eq!(s.file.as_deref(), Some(Path::new("logs/bot.log")));
    assert_eq!(
        (s.max_size, s.backup_count, s.console, s.json),
        (10_485_760, 5, false, false)
    );

    let s = logging::LogSettings::from_env_map(&env(&[
        ("LOG_LEVEL", "WARNING"),
        ("LOG_FILE", ""),
        ("LOG_MAX_SIZE", "5242880"),
        ("LOG_BACKUP_COUNT", "2"),
        ("LOG_CONSOLE", "true"),
        ("LOG_FORMAT", "json"),
    ]))
    .unwrap();
    assert_eq!(s.level, "warn");
    assert_eq!(s.file, None);
    assert_eq!(
        (s.max_size, s.backup_count, s.console, s.json),
        (5_242_880, 2, true, true)
    );

    let s = logging::LogSettings::from_env_map(&env(&[
        ("LOG_LEVEL", "CRITICAL"),
        ("RUST_LOG", "debug,hyper=warn"),
    ]))
    .unwrap();
    assert_eq!(s.level, "debug,hyper=warn");

    let err = logging::LogSettings::from_env_map(&env(&[("LOG_MAX_SIZE", "10MB")])).unwrap_err();
    assert!(format!("{err:#}").contains("LOG_MAX_SIZE"), "{err:#}");
    let err = logging::LogSettings::from_env_map(&env(&[("LOG_LEVEL", "LOUD=!!")])).unwrap_err();
    assert!(format!("{err:#}").contains("LOG_LEVEL"), "{err:#}");
}

/// The only test here that installs the global subscriber.
#[test]
fn the_subscriber_writes_json_lines_into_the_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.log");
    let settings = logging::LogSettings::from_env_map(&env(&[
        ("LOG_FILE", path.to_str().unwrap()),
        ("LOG_MAX_SIZE", "4000"),
        ("LOG_BACKUP_COUNT", "2"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "INFO"),
    ]))
    .unwrap();
    let guard = logging::init(&settings).unwrap();
    for i in 0..300u32 {
        tracing::info!(
            broadcaster = "b2b",
            account = "acc1",
            target = "@chat",
            random_id = i,
            outcome = "sent",
            "delivery"
        );
        tracing::debug!("below LOG_LEVEL: not written");
    }
    // Dropping the guard flushes the background writer, which waits for the archiving.
    drop(guard);

    assert_eq!(files_in(dir.path()), ["bot.log", "bot.log.1", "bot.log.2"]);
    let mut lines = 0;
    for name in files_in(dir.path()) {
        let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        assert!(text.len() <= 4000, "{name} is {} bytes", text.len());
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["fields"]["message"], "delivery");
            assert_eq!(v["fields"]["broadcaster"], "b2b");
            assert_eq!(v["level"], "INFO");
            lines += 1;
        }
    }
    assert!(
        lines > 0 && lines < 300,
        "older lines rotated away, newest kept: {lines}"
    );
}

#[test]
fn log_directories_were_created_anywhere_now_only_one_missing_level() {
    let dir = tempfile::tempdir().unwrap();
    // Two missing levels: refused, nothing created.
    let deep = dir.path().join("a/b/bot.log");
    let Err(err) = smb_notify::logfile::rotating_file(&deep, 1000, 3) else {
        panic!("two missing directory levels were created");
    };
    assert!(
        err.to_string()
            .starts_with("cannot create the log directory "),
        "{err}"
    );
    assert!(!dir.path().join("a").exists());
    // One missing level (the default `logs/bot.log`): created.
    let one = dir.path().join("logs/bot.log");
    smb_notify::logfile::rotating_file(&one, 1000, 3).unwrap();
    assert!(dir.path().join("logs").is_dir());
}
