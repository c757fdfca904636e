//! Logging: the seed's LOG_* settings and the tracing subscriber (console and/or a size-rotated
//! file, text or JSON lines).
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `LOG_LEVEL` | `INFO` | `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL` (any other word is an error), or a tracing filter with its punctuation (`info,sqlx=warn`); `RUST_LOG` wins when set |
//! | `LOG_FILE` | `logs/bot.log` | empty: no file |
//! | `LOG_MAX_SIZE` | `10485760` | bytes before the file is rotated to `.1`; `0` never rotates |
//! | `LOG_BACKUP_COUNT` | `5` | rotated files kept (`.1` newest … `.N` oldest) |
//! | `LOG_CONSOLE` | `false` | also log to stderr (always, when there is no file) |
//! | `LOG_FORMAT` | `text` | `json`: one JSON object per line |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// A tracing filter directive (`info`, `debug,hyper=warn`).
    pub level: String,
    pub file: Option<PathBuf>,
    pub max_size: u64,
    pub backup_count: usize,
    pub console: bool,
    pub json: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_owned(),
            file: Some(PathBuf::from("logs/bot.log")),
            max_size: 10 * 1024 * 1024,
            backup_count: 5,
            console: false,
            json: false,
        }
    }
}

impl LogSettings {
    /// Reads the LOG_* names (and `RUST_LOG`) from the merged `.env` + environment map.
    pub fn from_env_map(env: &HashMap<String, String>) -> anyhow::Result<LogSettings> {
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut s = LogSettings::default();
        // LOG_LEVEL is checked even when RUST_LOG wins: a typo must not wait for RUST_LOG to go.
        let level = get("LOG_LEVEL").map(level_directive).transpose()?;
        if let Some(filter) = get("RUST_LOG") {
            EnvFilter::try_new(filter).with_context(|| {
                format!("RUST_LOG={filter:?} is not valid: expected a tracing filter such as info,sqlx=warn")
            })?;
            s.level = filter.to_owned();
        } else if let Some(level) = level {
            s.level = level;
        }
        if let Some(file) = env.get("LOG_FILE") {
            let file = file.trim();
            s.file = (!file.is_empty()).then(|| PathBuf::from(file));
        }
        if let Some(v) = get("LOG_MAX_SIZE") {
            s.max_size = v.parse().with_context(|| {
                format!("LOG_MAX_SIZE={v:?} is not valid: expected a size in bytes, e.g. 10485760")
            })?;
        }
        if let Some(v) = get("LOG_BACKUP_COUNT") {
            s.backup_count = v.parse().with_context(|| {
                format!("LOG_BACKUP_COUNT={v:?} is not valid: expected a number of files, e.g. 5")
            })?;
        }
        if let Some(v) = get("LOG_CONSOLE") {
            s.console = parse_bool("LOG_CONSOLE", v)?;
        }
        if let Some(v) = get("LOG_FORMAT") {
            s.json = match v.to_ascii_lowercase().as_str() {
                "json" => true,
                "text" | "plain" => false,
                _ => bail!("LOG_FORMAT={v:?} is not valid: expected json or text"),
            };
        }
        Ok(s)
    }
}

/// The level names LOG_LEVEL accepts (Python's, as the seed wrote them, and tracing's).
pub const LEVEL_NAMES: &str = "DEBUG, INFO, WARNING, ERROR or CRITICAL";

/// Python's level names as tracing directives. A value with a filter's punctuation
/// (`info,sqlx=warn`, `smb_engine=debug`) is taken as a tracing filter and must parse as one;
/// any other word must be a level name, so `loud` or `WARNNG` is an error, not a filter that
/// silently logs nothing.
fn level_directive(level: &str) -> anyhow::Result<String> {
    let directive = match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARNING" | "WARN" => "warn",
        "ERROR" | "CRITICAL" | "FATAL" => "error",
        "OFF" => "off",
        _ if level.contains(['=', ',', ':', '[']) => {
            EnvFilter::try_new(level).with_context(|| {
                format!("LOG_LEVEL={level:?} is not valid: expected {LEVEL_NAMES}, or a filter such as info,sqlx=warn")
            })?;
            return Ok(level.to_owned());
        }
        _ => bail!(
            "LOG_LEVEL={level:?} is not valid: expected {LEVEL_NAMES} (or a filter such as info,sqlx=warn)"
        ),
    };
    Ok(directive.to_owned())
}

fn parse_bool(name: &str, v: &str) -> anyhow::Result<bool> {
    match smb_domain::parse_flag(v) {
        Some(b) => Ok(b),
        None => bail!("{name}={v:?} is not valid: expected true or false"),
    }
}

/// Keeps the file writer alive; dropping it flushes what is buffered. Hold it in `main`.
#[must_use = "dropping the guard stops writing the log file"]
pub struct LogGuard {
    _file: Option<smb_notify::logfile::WorkerGuard>,
}

/// Set once this process has installed its subscriber: the menu runs several commands in one
/// process, and the first one's logger serves them all.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `LOG_FILE` can be written, found by doing what `run` does and undoing it: an
/// existing file is opened for appending (nothing written), a new one is created and removed.
/// `access(2)` is not asked: as root it says yes to `/proc` and to read-only mounts.
///
/// The directory rule: `run` creates the file's directory only when it is the one missing
/// level under an existing directory other than `/` (as `logs/` of the default
/// `logs/bot.log`); a deeper missing path, or a new directory at the root, is refused with the
/// `mkdir -p` that makes it, so a typo never builds a tree somewhere unexpected.
///
/// [`init`] asks this before it opens the file and `check` reports it, so both refuse the
/// same files with one message naming LOG_FILE and the fix.
pub fn check_file(settings: &LogSettings) -> anyhow::Result<()> {
    let Some(path) = &settings.file else {
        return Ok(());
    };
    if let Some(fix) = tilde_fix(path, std::env::var_os("HOME").as_deref()) {
        // QA finding F6: `LOG_FILE=~/bot.log` made a directory named `~` where `run` started.
        bail!(
            "LOG_FILE={}: `~` is not expanded (python-dotenv does not expand it either); {fix}",
            path.display()
        );
    }
    match file_problem(path) {
        None => Ok(()),
        Some(problem) => bail!(
            "cannot log to {} (LOG_FILE): {problem}; set LOG_FILE to a writable path (empty: no file)",
            path.display()
        ),
    }
}

/// What to write instead of a path that starts with `~` (`~/x` or `~user/x`), which neither
/// we nor python-dotenv expand: `~/x` becomes `$HOME/x` when `home` is known. `None` for any
/// other path (a `~` later in the path is an ordinary character).
fn tilde_fix(path: &Path, home: Option<&std::ffi::OsStr>) -> Option<String> {
    let mut parts = path.components();
    let first = parts.next()?;
    let std::path::Component::Normal(first) = first else {
        return None;
    };
    let first = first.to_string_lossy();
    if !first.starts_with('~') {
        return None;
    }
    let rest = parts.as_path();
    Some(match home.filter(|h| !h.is_empty()) {
        Some(home) if first == "~" => {
            format!("write {}", Path::new(home).join(rest).display())
        }
        _ => "write the full path (e.g. /home/NAME/bot.log)".to_owned(),
    })
}

fn file_problem(path: &Path) -> Option<String> {
    if path.is_dir() {
        return Some("it is a directory".to_owned());
    }
    if path.file_name().is_none() {
        return Some("it names no file".to_owned());
    }
    if path.exists() {
        return append(path)
            .err()
            .map(|e| format!("the file cannot be opened for writing: {e}"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Some(format!("{} is not a directory", dir.display()));
        }
        return probe_new_file(path)
            .err()
            .map(|e| format!("cannot create a file in {}: {e}", dir.display()));
    }
    let above = match dir.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mkdir = format!("create it with `mkdir -p {}`", dir.display());
    if !above.is_dir() {
        return Some(if above.exists() {
            format!("{} is not a directory", above.display())
        } else {
            format!(
                "the directory {} does not exist and neither does {} (only one missing directory is created); {mkdir}",
                dir.display(),
                above.display()
            )
        });
    }
    if above.parent().is_none() {
        return Some(format!(
            "the directory {} does not exist (none is created at the root); {mkdir}",
            dir.display()
        ));
    }
    if let Err(e) = std::fs::create_dir(dir) {
        return Some(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ));
    }
    let file = probe_new_file(path);
    let _ = std::fs::remove_dir(dir);
    file.err()
        .map(|e| format!("cannot create a file in {}: {e}", dir.display()))
}

/// Opens an existing file to append, as the log writer does; non-blocking, so a FIFO
/// without a reader is an answer rather than a hang.
fn append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

/// Creates `path` (which did not exist) and removes it again.
fn probe_new_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::fs::remove_file(path)
}

/// Colours on the console only for a person at a terminal: not when stderr goes to a file, a
/// pipe, cron's mail or a supervisor, nor when `NO_COLOR` is set to anything non-empty
/// (<https://no-color.org>).
fn stderr_colour(no_color: Option<std::ffi::OsString>) -> bool {
    use std::io::IsTerminal as _;
    no_color.is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Installs the global tracing subscriber; a second call in the same process keeps the first
/// one (and returns an empty guard). Fails if someone else installed one, or (with run's and
/// `check`'s message, [`check_file`]) if `LOG_FILE` cannot be written.
pub fn init(settings: &LogSettings) -> anyhow::Result<LogGuard> {
    if INSTALLED.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(LogGuard { _file: None });
    }
    check_file(settings)?;
    let filter = EnvFilter::try_new(&settings.level)
        .with_context(|| format!("invalid log filter {:?}", settings.level))?;
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    let mut guard = None;

    if let Some(path) = &settings.file {
        let (writer, file_guard) = smb_notify::logfile::non_blocking_rotating_file(
            path,
            settings.max_size,
            settings.backup_count,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot log to {} (LOG_FILE): {e}; set LOG_FILE to a writable path (empty: no file)",
                path.display()
            )
        })?;
        guard = Some(file_guard);
        let layer = fmt::layer().with_writer(writer).with_ansi(false);
        layers.push(if settings.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        });
    }
    if settings.console || settings.file.is_none() {
        let layer = fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(stderr_colour(std::env::var_os("NO_COLOR")));
        layers.push(if settings.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        });
    }

    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()
        .context("a logger is already installed")?;
    INSTALLED.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(LogGuard { _file: guard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_tilde_is_named_with_the_path_to_write() {
        let home = Some(std::ffi::OsStr::new("/root"));
        assert_eq!(
            tilde_fix(Path::new("~/bot.log"), home).as_deref(),
            Some("write /root/bot.log")
        );
        assert_eq!(
            tilde_fix(Path::new("~/logs/bot.log"), home).as_deref(),
            Some("write /root/logs/bot.log")
        );
        assert_eq!(
            tilde_fix(Path::new("~alice/bot.log"), home).as_deref(),
            Some("write the full path (e.g. /home/NAME/bot.log)")
        );
        assert_eq!(
            tilde_fix(Path::new("~/bot.log"), None).as_deref(),
            Some("write the full path (e.g. /home/NAME/bot.log)")
        );
        assert_eq!(tilde_fix(Path::new("logs/~bot.log"), home), None);
        assert_eq!(tilde_fix(Path::new("/var/log/bot.log"), home), None);
        assert_eq!(tilde_fix(Path::new("logs/bot.log"), home), None);
    }

    #[test]
    fn check_file_refuses_a_tilde_without_creating_anything() {
        let s = LogSettings {
            file: Some(PathBuf::from("~/q4m-never-created/bot.log")),
            ..LogSettings::default()
        };
        let e = check_file(&s).expect_err("refused").to_string();
        assert!(
            e.contains("`~` is not expanded (python-dotenv does not expand it either); write "),
            "{e}"
        );
        assert!(!Path::new("~").exists(), "no directory named ~ is made");
    }
}
