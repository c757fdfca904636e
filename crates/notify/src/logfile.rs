//! The log file: size-based rotation keeping `LOG_BACKUP_COUNT` backups (`bot.log.1` is the
//! newest), written from a background thread so logging never waits on the disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use logroller::{LogRoller, LogRollerBuilder, Rotation, RotationSize};
pub use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    /// The reason is in the message, not a `source` too: `{:#}` would print it twice.
    #[error("cannot create the log directory {dir}: {error}")]
    Dir { dir: String, error: std::io::Error },
    #[error("cannot open the log file {path}: {detail}")]
    Open { path: String, detail: String },
}

/// Opens `path` for appending (creating its directory when that is the one missing level);
/// once it would grow past `max_size` bytes it is renamed to
/// `path.1` (older backups shift to `.2`, …) and only `backup_count` backups are kept.
/// `max_size == 0` never rotates (as in Python's `RotatingFileHandler`).
pub fn rotating_file(
    path: &Path,
    max_size: u64,
    backup_count: usize,
) -> Result<LogRoller, LogFileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    // One missing level only (the CLI's LOG_FILE rule, `check_file`): a typo in the path
    // must not build a directory tree.
    if !dir.is_dir() {
        std::fs::create_dir(&dir).map_err(|source| LogFileError::Dir {
            dir: dir.display().to_string(),
            error: source,
        })?;
    }
    let file_name = path
        .file_name()
        .map(Path::new)
        .ok_or_else(|| LogFileError::Open {
            path: path.display().to_string(),
            detail: "LOG_FILE must name a file, not a directory".to_owned(),
        })?;
    let size = if max_size == 0 { u64::MAX } else { max_size };
    LogRollerBuilder::new(dir.as_path(), file_name)
        .rotation(Rotation::SizeBased(RotationSize::Bytes(size)))
        .max_keep_files(backup_count as u64)
        // Join the archiving thread on drop, so the backups are in place when the guard goes.
        .graceful_shutdown(true)
        .build()
        .map_err(|e| LogFileError::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

/// [`rotating_file`] behind tracing-appender's background writer. Keep the guard alive for the
/// life of the program: dropping it flushes what is buffered. A failed write (a full disk) is
/// said once on stderr and kept for [`write_failure`]; logging goes on trying.
pub fn non_blocking_rotating_file(
    path: &Path,
    max_size: u64,
    backup_count: usize,
) -> Result<(NonBlocking, WorkerGuard), LogFileError> {
    Ok(tracing_appender::non_blocking(Reporting {
        inner: rotating_file(path, max_size, backup_count)?,
        path: path.to_path_buf(),
        stderr: Box::new(std::io::stderr()),
    }))
}

/// The first failed write of this process's log file, as said on stderr (QA finding F26: a
/// full disk left the log empty without a word). `None` while every write succeeded.
pub fn write_failure() -> Option<&'static str> {
    FAILURE.get().map(String::as_str)
}

static FAILURE: OnceLock<String> = OnceLock::new();

/// A log writer that says its first failure (tracing-appender's worker drops write errors).
struct Reporting<W> {
    inner: W,
    path: PathBuf,
    /// Where the failure is said (stderr; a buffer in tests).
    stderr: Box<dyn Write + Send>,
}

impl<W: Write> Reporting<W> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            let text = format!(
                "cannot write the log file {}: {e}; the bot goes on without its log (free space or \
                 fix LOG_FILE, then restart)",
                self.path.display()
            );
            if FAILURE.set(text.clone()).is_ok() {
                let _ = writeln!(self.stderr, "warning: {text}");
            }
        }
        r
    }
}

impl<W: Write> Write for Reporting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose disk is full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// QA finding F26: a full log disk is said once, with the file, and kept for `status`.
    #[test]
    fn f26_a_failed_log_write_is_said_once() {
        let said = Shared::default();
        let mut w = Reporting {
            inner: Full,
            path: PathBuf::from("logs/bot.log"),
            stderr: Box::new(said.clone()),
        };
        assert!(w.write_all(b"line 1\n").is_err());
        assert!(w.write_all(b"line 2\n").is_err());
        let text = String::from_utf8(said.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("warning: cannot write the log file logs/bot.log: "),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
        assert!(write_failure().is_some_and(|f| f.contains("logs/bot.log")));
    }
}
