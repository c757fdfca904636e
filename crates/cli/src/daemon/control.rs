//! The control channel of a running daemon: a Unix socket (mode 0600) under the data directory
//! speaking JSON lines — one request line, one answer line, per connection.
//!
//! ```text
//! → {"cmd":"status"}   ← {"ok":true,"pid":…,"started_at":…,"broadcasters":[…],…}
//! → {"cmd":"reload"}   ← {"ok":true,"message":"reloaded: 4 broadcasters"}  (or "ok":false,"error")
//! → {"cmd":"stop"}     ← {"ok":true,"message":"stopping"}  (then the process exits)
//! → {"cmd":"disable_target","target":"@chat","reason":"…"}  ← {"ok":true,"message":"@chat: disabled"}
//! → {"cmd":"enable_target","target":"@chat"}                ← {"ok":true,"message":"@chat: enabled"}
//! ```
//!
//! `disable_target` / `enable_target` are what the dashboard's buttons do (`Control::DisableTarget`
//! / `EnableTarget` on the running driver: the planner stops picking the target at once, and the
//! driver stores the status), so `targets disable` of the CLI needs no reload (QA finding F11).
//!
//! The socket is only for its owner, but a stuck client must not lock the owner out either:
//! at most [`MAX_CONNECTIONS`] are answered at once (more are told so and closed), and a
//! request line must arrive within [`REQUEST_TIMEOUT`] and fit in [`MAX_REQUEST`] bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::DaemonState;

/// How long a client waits for the daemon's answer (a reload rebuilds the driver first).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Control connections answered at once.
pub const MAX_CONNECTIONS: usize = 32;

/// How long the daemon waits for a connection's request line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest request line read (requests are a few dozen bytes).
pub const MAX_REQUEST: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmd {
    Status,
    Reload,
    Stop,
    /// Needs `target`; `reason` is optional ("disabled by the operator").
    DisableTarget,
    /// Needs `target`.
    EnableTarget,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub cmd: Cmd,
    /// The target of `disable_target` / `enable_target`, in any form `TargetRef::parse` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why a target is disabled (shown beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Request {
    /// A command without arguments.
    pub fn new(cmd: Cmd) -> Request {
        Request {
            cmd,
            target: None,
            reason: None,
        }
    }
}

/// One answer line. Written as a JSON object with `"ok"` first-class: `{"ok":true,…}` for
/// [`Reply::Status`] and [`Reply::Done`], `{"ok":false,"error":…}` for [`Reply::Refused`]; the
/// enum becomes text only here, at the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The answer to `status`.
    Status(Box<super::StatusReply>),
    /// A command that was carried out (`reload`, `stop`), with what it did.
    Done {
        message: String,
        /// The daemon's process id (`stop`: the client waits for it to exit).
        pid: Option<u32>,
    },
    /// The command was not carried out; the text says why and what to do.
    Refused { error: String },
}

/// The fields of a reply beside `"ok"`.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct DoneBody<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
}

#[derive(Serialize)]
struct RefusedBody<'a> {
    error: &'a str,
}

impl Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reply::Status(st) => Line {
                ok: true,
                body: &**st,
            }
            .serialize(s),
            Reply::Done { message, pid } => Line {
                ok: true,
                body: &DoneBody { message, pid: *pid },
            }
            .serialize(s),
            Reply::Refused { error } => Line {
                ok: false,
                body: &RefusedBody { error },
            }
            .serialize(s),
        }
    }
}

/// What a client reads of every answer before its command's own fields.
#[derive(Deserialize)]
struct Outcome {
    ok: bool,
    error: Option<String>,
}

/// Listens on `path` until `shutdown`; the socket file is removed when it ends.
pub struct ControlServer {
    path: PathBuf,
    listener: UnixListener,
}

impl ControlServer {
    /// Binds the socket. Only the holder of the daemon lock calls this, so a socket file
    /// already there was left by a dead daemon and is replaced.
    pub fn bind(path: &Path) -> anyhow::Result<ControlServer> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on the control socket {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(
                || format!("cannot restrict the control socket {}", path.display()),
            )?;
        }
        Ok(ControlServer {
            path: path.into(),
            listener,
        })
    }

    pub async fn serve(self, state: Arc<DaemonState>, shutdown: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let conn = tokio::select! {
                _ = shutdown.cancelled() => break,
                c = self.listener.accept() => c,
            };
            match conn {
                Ok((stream, _)) => {
                    let state = state.clone();
                    let slot = slots.clone().try_acquire_owned();
                    tokio::spawn(async move {
                        let Ok(_slot) = slot else {
                            let _ = busy(stream).await;
                            return;
                        };
                        if let Err(e) = answer(stream, &state).await {
                            tracing::debug!(error = %e, "control connection");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    // Out of file descriptors, say: do not spin on it.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The answer when every slot is taken.
async fn busy(mut stream: UnixStream) -> std::io::Result<()> {
    let reply = Reply::Refused {
        error: format!(
            "the daemon is answering {MAX_CONNECTIONS} other control connections; try again in a few seconds"
        ),
    };
    let mut out = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
    out.push('\n');
    tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(out.as_bytes()))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    stream.shutdown().await
}

async fn answer(stream: UnixStream, state: &DaemonState) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt as _;
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        BufReader::new(read.take(MAX_REQUEST)).read_line(&mut line),
    )
    .await
    .context("no request line in time")??;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => Reply::Refused {
            error: format!("bad request: {e}; send {{\"cmd\":\"status\"}}"),
        },
        Ok(Request {
            cmd: Cmd::Status, ..
        }) => Reply::Status(Box::new(state.status())),
        Ok(Request {
            cmd: cmd @ (Cmd::DisableTarget | Cmd::EnableTarget),
            target,
            reason,
        }) => {
            let disable = (cmd == Cmd::DisableTarget).then(|| {
                reason
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "disabled by the operator".to_owned())
            });
            match state.set_target(target.as_deref(), disable).await {
                Ok(message) => Reply::Done { message, pid: None },
                Err(e) => Reply::Refused {
                    error: format!("{e:#}"),
                },
            }
        }
        Ok(Request { cmd: Cmd::Stop, .. }) => {
            tracing::info!("stop asked for on the control socket: finishing the send in flight");
            state.shutdown.cancel();
            Reply::Done {
                message: "stopping".into(),
                pid: Some(std::process::id()),
            }
        }
        Ok(Request {
            cmd: Cmd::Reload, ..
        }) => match state.reload().await {
            Ok(message) => Reply::Done { message, pid: None },
            Err(e) => Reply::Refused {
                error: format!("{e:#}"),
            },
        },
    };
    let mut out = serde_json::to_string(&reply)?;
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// Why a client could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens: no daemon runs on this data directory.
    #[error("no daemon is running (nothing listens on {0})")]
    NotRunning(PathBuf),
    /// The daemon answered `"ok": false`; the text is its reason.
    #[error("{0}")]
    Refused(String),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// Sends one request without arguments and returns the answer (`"ok": false` answers become
/// errors).
pub async fn request(socket: &Path, cmd: Cmd) -> Result<Value, ClientError> {
    send(socket, &Request::new(cmd)).await
}

/// Sends `req` and returns the answer (`"ok": false` answers become errors).
pub async fn send(socket: &Path, req: &Request) -> Result<Value, ClientError> {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning(socket.into()));
        }
        Err(e) => {
            return Err(ClientError::Other(
                anyhow::Error::new(e).context(format!("cannot connect to {}", socket.display())),
            ));
        }
    };
    let v = exchange(stream, req).await.map_err(ClientError::Other)?;
    let outcome = Outcome::deserialize(&v).map_err(|e| {
        ClientError::Other(anyhow::Error::new(e).context("the daemon's answer has no `ok`"))
    })?;
    if !outcome.ok {
        return Err(ClientError::Refused(
            outcome
                .error
                .unwrap_or_else(|| "the daemon refused".to_owned()),
        ));
    }
    Ok(v)
}

async fn exchange(stream: UnixStream, req: &Request) -> anyhow::Result<Value> {
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(ANSWER_TIMEOUT, BufReader::new(read).read_line(&mut answer))
        .await
        .context("the daemon did not answer in time")??;
    if answer.trim().is_empty() {
        bail!("the daemon closed the connection without an answer");
    }
    serde_json::from_str(answer.trim()).context("the daemon's answer is not JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_written_with_ok_first_class() {
        let line = |r: &Reply| serde_json::to_value(r).unwrap();
        assert_eq!(
            line(&Reply::Done {
                message: "stopping".into(),
                pid: Some(42)
            }),
            serde_json::json!({"ok": true, "message": "stopping", "pid": 42})
        );
        assert_eq!(
            line(&Reply::Done {
                message: "reloaded: 4 broadcasters".into(),
                pid: None
            }),
            serde_json::json!({"ok": true, "message": "reloaded: 4 broadcasters"})
        );
        assert_eq!(
            line(&Reply::Refused {
                error: "a reload is already in progress".into()
            }),
            serde_json::json!({"ok": false, "error": "a reload is already in progress"})
        );
    }

    #[test]
    fn a_status_reply_writes_run_states_as_their_text() {
        use smb_domain::{AccountStop, RunState};
        let b = |name: &str, state| super::super::BroadcasterStatus {
            name: name.into(),
            account: "acc1".into(),
            state,
            cycle: 3,
            done: 1,
            total: 2,
            targets: Some("main".into()),
            waiting: None,
        };
        let status = super::super::StatusReply {
            pid: 7,
            version: "0",
            started_at: "t".into(),
            sandbox: true,
            test_mode: Some(false),
            config: "c".into(),
            cwd: "/".into(),
            args: vec![],
            reloads: 0,
            running_since: None,
            broadcasters: vec![
                b("op", RunState::StoppedByOperator),
                b(
                    "tg",
                    RunState::AccountStopped(AccountStop::Telegram("PEER_FLOOD".into())),
                ),
            ],
            journal: super::super::JournalStatus {
                up: false,
                down: Some(super::super::JournalDown {
                    reason: "disk full".into(),
                    since: "s".into(),
                    probes: 2,
                }),
            },
            log_file_failure: None,
        };
        let v = serde_json::to_value(Reply::Status(Box::new(status))).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["broadcasters"][0]["state"], "stopped");
        assert_eq!(v["broadcasters"][1]["state"], "stopped: PEER_FLOOD");
        assert_eq!(
            v["journal"],
            serde_json::json!({"up": false, "reason": "disk full", "since": "s", "probes": 2})
        );
    }
}
