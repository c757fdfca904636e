//! `run --detach`: the same binary re-started in the background, in a session of its own
//! (`setsid`, so the terminal's hang-up and Ctrl-C do not reach it), stdin closed and
//! stdout/stderr appended to `daemon.log` under the data directory. The parent waits until the
//! child answers on its control socket (bounded polling) and prints its pid.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::control::{self, Cmd};
use super::{DETACHED_ENV, DaemonPaths};

/// How long a detached daemon may take to open its control socket.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Called first thing in a detached child: leave the parent's session and terminal.
pub fn enter_own_session() {
    if super::detached()
        && let Err(e) = rustix::process::setsid()
    {
        eprintln!("note: could not start a session of its own: {e}");
    }
}

/// This process's arguments without `--detach`: what the background copy runs.
pub fn own_args() -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect()
}

/// Starts `args` (a `run …` command line) in the background and returns its pid once it
/// answers on the control socket with its driver running.
pub async fn spawn(
    paths: &DaemonPaths,
    args: &[OsString],
    cwd: Option<&Path>,
) -> anyhow::Result<u32> {
    if let Some(pid) = super::lock::holder(&paths.lock) {
        bail!(
            "another sendmessagebot daemon (pid {pid}) already runs on this data directory ({}); \
             `sendmessagebot status` shows it, `sendmessagebot stop` stops it",
            paths.dir.display()
        );
    }
    std::fs::create_dir_all(&paths.dir)
        .with_context(|| format!("cannot create {}", paths.dir.display()))?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.output)
        .with_context(|| format!("cannot open {}", paths.output.display()))?;
    let start = std::fs::metadata(&paths.output).map_or(0, |m| m.len());
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env(DETACHED_ENV, "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().context("duplicating the output file")?)
        .stderr(out);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().context("cannot start the background daemon")?;
    let pid = child.id();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the daemon exited at start ({status}); its output ({}):\n{}",
                paths.output.display(),
                tail(&paths.output, start)
            );
        }
        if let Ok(v) = control::request(&paths.socket, Cmd::Status).await
            && v["pid"].as_u64() == Some(u64::from(pid))
            && !v["running_since"].is_null()
        {
            break;
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "the daemon (pid {pid}) did not open {} within {}s; see {}",
                paths.socket.display(),
                READY_TIMEOUT.as_secs(),
                paths.output.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    // Reap it when it ends if this process lives that long (the menu does).
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// What the file got after `from`, last 20 lines.
fn tail(path: &Path, from: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from));
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
