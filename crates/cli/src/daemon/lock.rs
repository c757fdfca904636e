//! One daemon per data directory: an advisory `flock` on `sendmessagebot.lock`, holding the pid.
//!
//! The kernel drops the lock when the process dies, however it dies, so a lock file left by a
//! crash is simply taken over; a live holder refuses a second start, and the file names its pid.
//! The file is never deleted (a delete would let two processes lock two different inodes); a
//! clean exit empties it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another sendmessagebot daemon (pid {pid}) already runs on this data directory (lock {path}); \
         `sendmessagebot status` shows it, `sendmessagebot stop` stops it"
    )]
    Held { pid: String, path: PathBuf },
    /// The reason is in the message and is not a `source` too: `{:#}` would print it twice.
    #[error("cannot use the lock file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The held lock; dropping it empties the file and releases the lock.
#[derive(Debug)]
pub struct DaemonLock {
    file: File,
    /// The pid named in a lock file this process took over (its owner had died).
    pub took_over: Option<String>,
}

fn open(path: &Path) -> Result<File, LockError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
            path: path.into(),
            error: source,
        })?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| LockError::Io {
            path: path.into(),
            error: source,
        })
}

fn read_pid(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut s));
    let pid = s.trim();
    if pid.is_empty() {
        "unknown".to_owned()
    } else {
        pid.to_owned()
    }
}

impl DaemonLock {
    /// Takes the lock for this process and writes its pid, or says who holds it.
    pub fn acquire(path: &Path) -> Result<DaemonLock, LockError> {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    pid: read_pid(&mut file),
                    path: path.into(),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Io {
                    path: path.into(),
                    error: source,
                });
            }
        }
        let previous = read_pid(&mut file);
        let took_over = (previous != "unknown").then_some(previous);
        let io = |source| LockError::Io {
            path: path.into(),
            error: source,
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DaemonLock { file, took_over })
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        // Emptied before the lock goes (closing the file releases it): a reader never sees
        // our pid in a file nobody holds.
        let _ = self.file.set_len(0);
    }
}

/// The pid of the live holder of the lock at `path`, if any (the lock is probed, not kept).
pub fn holder(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(read_pid(&mut file)),
        Err(TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/sendmessagebot.lock");
        let first = DaemonLock::acquire(&path).expect("first lock");
        let err = DaemonLock::acquire(&path).expect_err("second lock refused");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert_eq!(holder(&path), Some(std::process::id().to_string()));
        drop(first);
        assert_eq!(holder(&path), None);
        let again = DaemonLock::acquire(&path).expect("lock again");
        assert!(
            again.took_over.is_none(),
            "a cleanly released lock is empty"
        );
    }

    #[test]
    fn a_stale_lock_file_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sendmessagebot.lock");
        std::fs::write(&path, "999999\n").expect("write stale lock");
        let lock = DaemonLock::acquire(&path).expect("stale lock taken over");
        assert_eq!(lock.took_over.as_deref(), Some("999999"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read").trim(),
            std::process::id().to_string()
        );
    }
}
