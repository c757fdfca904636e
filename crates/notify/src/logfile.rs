//! The log file: size-based rotation keeping `LOG_BACKUP_COUNT` backups (`bot.log.1` is the
//! newest), written from a background thread so logging never waits on the disk.

use std::path::Path;

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
/// life of the program: dropping it flushes what is buffered.
pub fn non_blocking_rotating_file(
    path: &Path,
    max_size: u64,
    backup_count: usize,
) -> Result<(NonBlocking, WorkerGuard), LogFileError> {
    Ok(tracing_appender::non_blocking(rotating_file(
        path,
        max_size,
        backup_count,
    )?))
}
