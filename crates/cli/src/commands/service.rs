//! `service install|uninstall`: a systemd unit that runs `sendmessagebot run` in the current
//! directory, restarted on failure, with the `.env` file as its environment.
//!
//! `--user` (the default) writes `~/.config/systemd/user/sendmessagebot.service` (needs no
//! root; `loginctl enable-linger` keeps it running after logout); `--system` writes
//! `/etc/systemd/system/sendmessagebot.service` (root). `--unit-dir` or `SMB_SYSTEMD_UNIT_DIR`
//! puts it elsewhere. `systemctl` is never called: the commands to run are printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::Cli;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the unit (or print it with --dry-run) and say which systemctl commands start it.
    Install(InstallArgs),
    /// Remove the unit written by `service install`.
    Uninstall(Target),
}

#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// A unit of the current user (systemctl --user); the default.
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// A system unit (/etc/systemd/system, needs root); runs as the current user.
    #[arg(long)]
    pub system: bool,
    /// Where the unit file goes (default by --user/--system).
    #[arg(long, env = "SMB_SYSTEMD_UNIT_DIR", value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
    /// The unit's name (without .service).
    #[arg(long, default_value = "sendmessagebot")]
    pub name: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print the unit instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the sandbox (`run --sandbox`) instead of real Telegram.
    #[arg(long)]
    pub sandbox: bool,
    /// Overwrite an existing unit file.
    #[arg(long)]
    pub force: bool,
}

impl Target {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.unit_dir {
            return Ok(d.clone());
        }
        if self.system {
            return Ok(PathBuf::from("/etc/systemd/system"));
        }
        let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x),
            None => {
                PathBuf::from(std::env::var_os("HOME").context("HOME is not set; give --unit-dir")?)
                    .join(".config")
            }
        };
        Ok(base.join("systemd/user"))
    }

    fn systemctl(&self) -> &'static str {
        if self.system {
            "sudo systemctl"
        } else {
            "systemctl --user"
        }
    }
}

/// One ExecStart word, quoted when systemd needs it.
fn word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !"\"'\\;$%".contains(c))
    {
        s.to_owned()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
                .replace('$', "$$")
        )
    }
}

fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// The unit text for running `binary` in `cwd`.
pub fn unit(cli: &Cli, args: &InstallArgs, binary: &Path, cwd: &Path) -> String {
    let env_file = absolute(&cli.env_file, cwd);
    let config = absolute(&cli.config, cwd);
    let mut exec = vec![
        word(&binary.display().to_string()),
        "--config".into(),
        word(&config.display().to_string()),
        "--env-file".into(),
        word(&env_file.display().to_string()),
        "run".into(),
    ];
    if args.sandbox {
        exec.push("--sandbox".into());
    }
    let user = match (args.target.system, std::env::var("USER")) {
        (true, Ok(u)) if !u.is_empty() && u != "root" => format!("User={u}\n"),
        _ => String::new(),
    };
    format!(
        "# Written by `sendmessagebot service install`; remove with `sendmessagebot service uninstall`.\n\
         [Unit]\n\
         Description=SendMessageBot: scheduled messages from Telegram accounts\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         {user}WorkingDirectory={cwd}\n\
         # No EnvironmentFile=: systemd reads .env by other rules than the original's python-dotenv\n\
         # (`$NAME`, `#` comments, `export`, escapes) and its values would override ours; --env-file reads it.\n\
         ExecStart={exec}\n\
         Restart=on-failure\n\
         RestartSec=10\n\
         # SIGTERM lets the send in flight finish (up to 3 s) and flushes the journal.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=30\n\
         # Web and metrics connections (WEB_MAX_CONNECTIONS each), the journal and the control\n\
         # socket share this; the default 1024 is too few.\n\
         LimitNOFILE={nofile}\n\
         \n\
         [Install]\n\
         WantedBy={wanted}\n",
        cwd = word(&cwd.display().to_string()),
        exec = exec.join(" "),
        nofile = crate::daemon::OPEN_FILES,
        wanted = if args.target.system {
            "multi-user.target"
        } else {
            "default.target"
        },
    )
}

pub fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Install(args) => {
            let binary = std::env::current_exe().context("cannot find this program's own path")?;
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let text = unit(cli, args, &binary, &cwd);
            if args.dry_run {
                out!("{text}")?;
                return Ok(ExitCode::SUCCESS);
            }
            let dir = args.target.dir()?;
            let path = dir.join(format!("{}.service", args.target.name));
            if path.exists() && !args.force {
                bail!("{} exists; add --force to overwrite it", path.display());
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let sc = args.target.systemctl();
            outln!("wrote {}", path.display())?;
            outln!(
                "start it now and at every boot:\n  {sc} daemon-reload\n  {sc} enable --now {}",
                args.target.name
            )?;
            if !args.target.system {
                outln!("keep it running after you log out:\n  loginctl enable-linger $USER")?;
            }
            outln!(
                "its log: journalctl {}-u {} -f",
                if args.target.system { "" } else { "--user " },
                args.target.name
            )?;
        }
        Command::Uninstall(target) => {
            let path = target.dir()?.join(format!("{}.service", target.name));
            let sc = target.systemctl();
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    outln!("removed {}", path.display())?;
                    outln!(
                        "if it was running:\n  {sc} disable --now {}\n  {sc} daemon-reload",
                        target.name
                    )?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    outln!(
                        "{} is not installed ({} does not exist)",
                        target.name,
                        path.display()
                    )?;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
