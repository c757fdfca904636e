//! The daemon's process-level plumbing: one daemon per data directory (`lock`), the control
//! socket (`control`), `run --detach` (`detach`), and the in-process reload of `run`.
//!
//! A reload has two phases. The first runs on the control connection while the old round
//! still serves: the configuration is loaded and checked, and the sockets of changed web and
//! metrics addresses are bound. Any failure there is the refusal, and nothing of the running
//! daemon has been touched. Only then is the round ended; `run` builds the new one, and if
//! that still fails (a store read, say) it answers the refusal and builds the old one again.
//!
//! Files live next to the journal database, so the real daemon (`data/`) and the sandbox
//! daemon (`data/sandbox/`) never share them and may run side by side:
//! `sendmessagebot.lock` (the pid), `sendmessagebot.sock` (control, 0600), `daemon.log`
//! (stdout/stderr of a detached daemon).

pub mod control;
pub mod detach;
pub mod lock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::bail;
use jiff::Timestamp;
use smb_engine::DriverHandle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use control::ControlServer;
use lock::DaemonLock;

/// What to do about a taken dashboard address (`run` and `check` say the same).
pub const WEB_FIX: &str = "set WEB_BIND to a free address, or run with --no-web";
/// What to do about a taken `/metrics` address (`run` and `check` say the same).
pub const METRICS_FIX: &str = "set METRICS_BIND to a free address, or run with --no-metrics";

/// The environment variable a detached child is started with (see `detach`).
pub const DETACHED_ENV: &str = "SMB_DETACHED";

/// Where a daemon's lock, socket and output go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonPaths {
    pub dir: PathBuf,
    pub lock: PathBuf,
    pub socket: PathBuf,
    pub output: PathBuf,
}

impl DaemonPaths {
    /// The directory of the SQLite database the run uses (the sandbox has its own).
    pub fn for_settings(settings: &Settings, sandbox: bool) -> DaemonPaths {
        let url = if sandbox {
            &settings.sandbox_database_url
        } else {
            &settings.database_url
        };
        DaemonPaths::in_dir(&database_dir(url))
    }

    pub fn in_dir(dir: &Path) -> DaemonPaths {
        DaemonPaths {
            dir: dir.into(),
            lock: dir.join("sendmessagebot.lock"),
            socket: dir.join("sendmessagebot.sock"),
            output: dir.join("daemon.log"),
        }
    }
}

/// The file of a `sqlite://` URL.
pub fn database_path(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// The directory of the file in a `sqlite://` URL (`.` when it has none). A PostgreSQL
/// journal has no file: its daemon's lock, socket and output go to `data/` (the default
/// journal's directory), never to a directory named after the URL (it may hold a password).
pub fn database_dir(url: &str) -> PathBuf {
    if smb_store::is_postgres_url(url) {
        return PathBuf::from("data");
    }
    match database_path(url).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.into(),
        _ => PathBuf::from("."),
    }
}

/// True in the child `run --detach` started.
pub fn detached() -> bool {
    std::env::var(DETACHED_ENV).is_ok_and(|v| v == "1")
}

/// A listening socket and the address the settings asked for (`127.0.0.1:0` stays what was
/// asked while the socket has a real port), so a reload can tell a changed address.
pub struct Bound {
    pub asked: SocketAddr,
    pub listener: tokio::net::TcpListener,
}

impl Bound {
    /// Binds `asked`; `what` names the server in the error ("the dashboard"), `fix` says what
    /// to do about a taken address.
    pub fn bind(asked: SocketAddr, what: &str, fix: &str) -> anyhow::Result<Bound> {
        use anyhow::Context as _;
        // Binding and listening need no await, so a reload binds on its control connection
        // before anything of the running round is touched. SO_REUSEADDR and a backlog of 1024,
        // as tokio's own `TcpListener::bind`.
        let socket = match asked {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let listener = socket
            .and_then(|s| {
                s.set_reuseaddr(true)?;
                s.bind(asked)?;
                s.listen(1024)
            })
            .with_context(|| format!("cannot serve {what} on {asked}: {fix}"))?;
        Ok(Bound { asked, listener })
    }
}

/// The addresses the running round was configured to serve on (`None`: that server is off).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub web: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

/// What an accepted reload applies: the checked settings, and the sockets of the addresses
/// that changed (bound already; `None` keeps the running socket).
pub struct Prepared {
    pub settings: Settings,
    pub web: Option<Bound>,
    pub metrics: Option<Bound>,
}

/// The first phase of a reload (see the module doc): re-reads the configuration and `.env`,
/// checks what the next round needs, and binds changed addresses. An error is the refusal.
pub type Preparer = Box<dyn Fn(Asked) -> anyhow::Result<Prepared> + Send + Sync>;

/// A reload asked for on the control socket, waiting for the main loop.
pub struct ReloadRequest {
    pub prepared: Prepared,
    pub done: oneshot::Sender<Result<String, String>>,
}

struct Round {
    handle: DriverHandle,
    token: CancellationToken,
    started_at: Timestamp,
    test_mode: bool,
    lists: Vec<(String, String)>,
    /// Each broadcaster's sending window, for the `waiting` of its status.
    schedules: Vec<(String, smb_domain::Schedule)>,
}

/// What the control socket sees of the running daemon.
pub struct DaemonState {
    pub shutdown: CancellationToken,
    started_at: Timestamp,
    sandbox: bool,
    config: String,
    prepare: Preparer,
    // std's Mutexes: held for a copy, a swap or the synchronous first phase of a reload,
    // never across an await.
    round: Mutex<Option<Round>>,
    asked: Mutex<Asked>,
    pending: Mutex<Option<ReloadRequest>>,
    reloads: Mutex<u64>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The control socket's answer to `status` (beside `"ok": true`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusReply {
    pub pid: u32,
    pub version: &'static str,
    pub started_at: String,
    pub sandbox: bool,
    /// `None` between rounds (a reload in progress).
    pub test_mode: Option<bool>,
    pub config: String,
    pub cwd: String,
    pub args: Vec<String>,
    pub reloads: u64,
    pub running_since: Option<String>,
    pub broadcasters: Vec<BroadcasterStatus>,
    pub journal: JournalStatus,
    /// The first failed write of the log file (a full disk), when one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file_failure: Option<String>,
}

/// One broadcaster in [`StatusReply`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BroadcasterStatus {
    pub name: String,
    pub account: String,
    /// Written as its text: `running`, `paused`, `stopped`, `stopped: REASON`, `done`.
    pub state: smb_domain::RunState,
    pub cycle: u64,
    pub done: usize,
    pub total: usize,
    /// Its target list.
    pub targets: Option<String>,
    /// Why it sends nothing now and until when ("quiet hours until 16:00 Europe/Moscow");
    /// absent while its sending window is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// The journal in [`StatusReply`]: `{"up":true}`, or down with why, since when and how many
/// probe writes failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournalStatus {
    pub up: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub down: Option<JournalDown>,
}

/// Why the journal is down (see [`JournalStatus`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournalDown {
    pub reason: String,
    pub since: String,
    pub probes: u32,
}

impl DaemonState {
    fn status(&self) -> StatusReply {
        let round = locked(&self.round);
        let broadcasters = match round.as_ref() {
            Some(r) => r
                .handle
                .views()
                .into_iter()
                .map(|v| {
                    let targets = r
                        .lists
                        .iter()
                        .find(|(b, _)| *b == v.name)
                        .map(|(_, l)| l.clone());
                    let waiting = r
                        .schedules
                        .iter()
                        .find(|(b, _)| *b == v.name)
                        .and_then(|(_, s)| crate::quiet::waiting(s, Timestamp::now()));
                    BroadcasterStatus {
                        waiting,
                        name: v.name,
                        account: v.account,
                        state: v.state,
                        cycle: v.cycle,
                        done: v.done,
                        total: v.total,
                        targets,
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        let journal = match round.as_ref().map(|r| r.handle.journal()) {
            Some(smb_engine::JournalState::Down {
                reason,
                since,
                probes,
            }) => JournalStatus {
                up: false,
                down: Some(JournalDown {
                    reason,
                    since: since.to_string(),
                    probes,
                }),
            },
            _ => JournalStatus {
                up: true,
                down: None,
            },
        };
        StatusReply {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
            started_at: self.started_at.to_string(),
            sandbox: self.sandbox,
            test_mode: round.as_ref().map(|r| r.test_mode),
            config: self.config.clone(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            args: std::env::args().skip(1).collect(),
            reloads: *locked(&self.reloads),
            running_since: round.as_ref().map(|r| r.started_at.to_string()),
            broadcasters,
            journal,
            log_file_failure: smb_notify::logfile::write_failure().map(str::to_owned),
        }
    }

    /// Disables (`disable`: the reason) or enables a target on the running round, as the
    /// dashboard does: the planner stops (or starts again) picking it at once and the driver
    /// stores the status. Refused between rounds (a reload in progress).
    async fn set_target(
        &self,
        target: Option<&str>,
        disable: Option<String>,
    ) -> anyhow::Result<String> {
        use anyhow::Context as _;
        let raw = target.context(
            "`target` is missing: send {\"cmd\":\"disable_target\",\"target\":\"@chat\"}",
        )?;
        let t = smb_domain::TargetRef::parse(raw).with_context(|| format!("target `{raw}`"))?;
        let handle = locked(&self.round)
            .as_ref()
            .map(|r| r.handle.clone())
            .context("a reload is in progress; try again in a few seconds")?;
        let done = if disable.is_some() {
            "disabled"
        } else {
            "enabled"
        };
        let control = match disable {
            Some(reason) => smb_engine::Control::DisableTarget(t.clone(), reason),
            None => smb_engine::Control::EnableTarget(t.clone()),
        };
        tracing::info!(chat = %t, "{done} on the control socket");
        handle.control(control).await;
        Ok(format!("{t}: {done}"))
    }

    async fn reload(&self) -> anyhow::Result<String> {
        let (done, wait) = oneshot::channel();
        {
            // Held through the first phase, so that two reloads never bind the same address.
            let mut pending = locked(&self.pending);
            if pending.is_some() {
                bail!("a reload is already in progress");
            }
            // A reload restarts the driver; while the journal does not take writes the queued
            // outcomes could not be written on the way out, so the round would end in an error.
            if let Some(smb_engine::JournalState::Down { reason, .. }) =
                locked(&self.round).as_ref().map(|r| r.handle.journal())
            {
                bail!(
                    "the delivery journal does not take writes ({reason}); sending is stopped and \
                     the daemon keeps its configuration: reload again once `status` shows the \
                     journal up"
                );
            }
            let asked = *locked(&self.asked);
            let prepared = (self.prepare)(asked)?;
            *pending = Some(ReloadRequest { prepared, done });
        }
        tracing::info!("reload asked for on the control socket: restarting the driver");
        if let Some(r) = locked(&self.round).as_ref() {
            r.token.cancel();
        }
        match wait.await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("the daemon stopped before the reload finished"),
        }
    }
}

/// A running daemon's lock, control socket and reload hand-over.
pub struct Daemon {
    state: Arc<DaemonState>,
    /// The control socket's file, removed when the daemon ends (before the lock is released,
    /// so a new daemon's socket is never the one removed).
    socket: PathBuf,
    _lock: DaemonLock,
}

impl Drop for Daemon {
    /// Every exit of `run` that got this far — a clean stop, `--once`, SIGINT/SIGTERM, an
    /// error — drops the daemon: no socket is left behind. (A crash leaves one; the next
    /// start replaces it, see [`control::ControlServer::bind`].)
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Daemon {
    /// Takes the data directory's lock (or says which pid holds it) and opens the control
    /// socket. `shutdown` is what `stop` cancels.
    pub fn start(
        settings: &Settings,
        sandbox: bool,
        prepare: Preparer,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Daemon> {
        let paths = DaemonPaths::for_settings(settings, sandbox);
        let lock = DaemonLock::acquire(&paths.lock)?;
        if let Some(pid) = &lock.took_over {
            eprintln!(
                "note: took over the lock of pid {pid}, which is no longer running ({})",
                paths.lock.display()
            );
        }
        let server = ControlServer::bind(&paths.socket)?;
        let state = Arc::new(DaemonState {
            shutdown: shutdown.clone(),
            started_at: Timestamp::now(),
            sandbox,
            config: settings.source.clone(),
            prepare,
            round: Mutex::new(None),
            asked: Mutex::new(Asked::default()),
            pending: Mutex::new(None),
            reloads: Mutex::new(0),
        });
        tokio::spawn(server.serve(state.clone(), shutdown));
        Ok(Daemon {
            state,
            socket: paths.socket,
            _lock: lock,
        })
    }

    /// Registers the driver of a new round and the addresses it serves on; the returned token
    /// ends the round (a reload or the daemon's shutdown cancels it).
    pub fn begin_round(
        &self,
        handle: DriverHandle,
        settings: &Settings,
        asked: Asked,
    ) -> CancellationToken {
        let token = self.state.shutdown.child_token();
        *locked(&self.state.asked) = asked;
        *locked(&self.state.round) = Some(Round {
            handle,
            token: token.clone(),
            started_at: Timestamp::now(),
            test_mode: settings.test_mode,
            lists: settings
                .broadcasters
                .iter()
                .map(|b| (b.spec.name.clone(), b.target_list.clone()))
                .collect(),
            schedules: settings
                .broadcasters
                .iter()
                .map(|b| (b.spec.name.clone(), b.spec.schedule.clone()))
                .collect(),
        });
        token
    }

    /// The reload that ended the last round, if one did (and the daemon is not stopping).
    pub fn take_reload(&self) -> Option<ReloadRequest> {
        let r = locked(&self.state.pending).take()?;
        if self.state.shutdown.is_cancelled() {
            let _ = r.done.send(Err("the daemon is stopping".into()));
            return None;
        }
        Some(r)
    }

    /// Counts a reload that was applied (a refused one leaves the count as it was).
    pub fn applied_reload(&self) {
        *locked(&self.state.reloads) += 1;
    }
}

/// The daemon files of the configuration `cli` names (the built-in example when it has none).
/// A configuration that does not load (being edited, say) must not stop `status` or `stop`:
/// then the default directories are used (`DATABASE_URL` for the real one).
pub fn client_paths(cli: &crate::Cli, sandbox: bool) -> anyhow::Result<DaemonPaths> {
    match crate::context::settings(cli, &crate::config::Overrides::default(), true) {
        Ok(settings) => Ok(DaemonPaths::for_settings(&settings, sandbox)),
        Err(e) => {
            let url = crate::context::fallback_database_url(sandbox);
            eprintln!(
                "note: the configuration does not load ({}); looking for the daemon under {}",
                smb_domain::redact::redact(&format!("{e:#}")),
                database_dir(&url).display()
            );
            Ok(DaemonPaths::in_dir(&database_dir(&url)))
        }
    }
}

/// The open-files limit a daemon asks for (the generated systemd unit sets it as
/// `LimitNOFILE=`): web and metrics connections (`WEB_MAX_CONNECTIONS` each), the journal, the
/// control socket and Telegram connections all need descriptors.
pub const OPEN_FILES: u64 = 65_536;

/// Raises this process's soft open-files limit towards [`OPEN_FILES`] (as far as the hard limit
/// allows) and says when what is left is too low for `max_connections` web and metrics
/// connections plus a reserve. Returns the soft limit in force.
pub fn raise_open_files(max_connections: usize) -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let want = match limit.maximum {
        Some(hard) => hard.min(OPEN_FILES),
        None => OPEN_FILES,
    };
    if limit.current.is_some_and(|soft| soft < want) {
        limit.current = Some(want);
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "cannot raise the open-files limit");
        }
    }
    let soft = getrlimit(Resource::Nofile).current;
    // Two servers (dashboard, /metrics), then the journal, sockets, logs: a reserve of 256.
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(256);
    if let Some(soft) = soft
        && soft < needed
    {
        tracing::warn!(
            open_files = soft,
            needed,
            "the open-files limit is low for WEB_MAX_CONNECTIONS: raise it (systemd: LimitNOFILE={OPEN_FILES}, as `service install` writes; a shell: ulimit -n) or lower WEB_MAX_CONNECTIONS"
        );
    }
    soft
}

/// How long `stop` waits for the daemon to exit (the send in flight, the journal flush).
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits (bounded polling) until nobody holds the lock; false on timeout.
pub async fn wait_released(paths: &DaemonPaths, timeout: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    while lock::holder(&paths.lock).is_some() {
        if started.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    true
}

/// Asks the daemon to stop and waits until it has exited. `Ok(None)`: none was running.
pub async fn stop(paths: &DaemonPaths) -> anyhow::Result<Option<u64>> {
    let pid = match control::request(&paths.socket, control::Cmd::Stop).await {
        Ok(v) => v["pid"].as_u64().unwrap_or_default(),
        Err(control::ClientError::NotRunning(_)) => {
            if let Some(pid) = lock::holder(&paths.lock) {
                bail!(
                    "pid {pid} holds {} but does not answer on {}; stop it with `kill {pid}` (SIGTERM also finishes the send in flight)",
                    paths.lock.display(),
                    paths.socket.display()
                );
            }
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if !wait_released(paths, STOP_TIMEOUT).await {
        bail!(
            "the daemon (pid {pid}) was asked to stop but still runs after {}s",
            STOP_TIMEOUT.as_secs()
        );
    }
    Ok(Some(pid))
}
