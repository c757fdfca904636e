//! The `sendmessagebot` binary: clap commands over the engine, store and gateways.
#![forbid(unsafe_code)]

mod commands;
mod config;
mod context;
mod daemon;
mod envfile;
mod logging;
mod observe;
mod switch;
mod telegram;
mod watch;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Posts rotating messages (price lists, announcements) from several Telegram accounts into
/// the chats they belong to, on a schedule, without ever posting twice into one chat in a
/// cycle. Without a command, on a terminal, it opens the menu (`sendmessagebot menu`).
#[derive(Debug, Parser)]
#[command(name = "sendmessagebot", version, propagate_version = true)]
pub struct Cli {
    /// The configuration file (see `sendmessagebot init`).
    #[arg(
        long,
        global = true,
        env = "SMB_CONFIG",
        default_value = "sendmessagebot.toml"
    )]
    pub config: PathBuf,
    /// The .env file with the original's variable names; the environment overrides it.
    #[arg(long, global = true, default_value = ".env")]
    pub env_file: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starting sendmessagebot.toml and .env.example (the original's four broadcasters).
    Init(commands::init::Args),
    /// Validate the configuration without sending anything; exit 1 on any problem.
    Check(commands::check::Args),
    /// Run the broadcasters (the daemon).
    Run(commands::run::Args),
    /// What was sent, failed, paused and disabled, per broadcaster and account.
    Stats(commands::stats::Args),
    /// The journal database: check its integrity, back it up (while running), restore a backup.
    #[command(subcommand)]
    Db(commands::db::Command),
    /// List, enable and disable targets.
    #[command(subcommand)]
    Targets(commands::targets::Command),
    /// List broadcasters.
    #[command(subcommand)]
    Broadcasters(commands::broadcasters::Command),
    /// The periodic channel report, now: show it or post it.
    #[command(subcommand)]
    Report(commands::report::Command),
    /// Admin notifications and webhooks.
    #[command(subcommand)]
    Notify(commands::notify::Command),
    /// Telegram accounts: log in, list, check, log out.
    #[command(subcommand)]
    Accounts(commands::accounts::Command),
    /// Message sets from their sources (Google Sheets, CSV, files): update, list, history, restore.
    #[command(subcommand)]
    Messages(commands::messages::Command),
    /// Google Sheets: reach every sheet and show its rows (nothing is stored).
    #[command(subcommand)]
    Sheets(commands::sheets::Command),
    /// Import the Python original (config/*.py, .env, sessions/) into sendmessagebot.toml + .env.
    Migrate(commands::migrate::Args),
    /// The interactive menu of the original's run.py (also what no command opens on a terminal).
    Menu(commands::menu::Args),
    /// Is a daemon running on this data directory? Its pid, broadcasters and their progress.
    Status(commands::status::Args),
    /// Stop the running daemon (the send in flight finishes first) and wait until it exits.
    Stop(commands::stop::Args),
    /// Stop the running daemon and start it again in the background with the same arguments.
    Restart(commands::restart::Args),
    /// Re-read the configuration and message sets into the running daemon, keeping its state.
    Reload(commands::reload::Args),
    /// Install or remove a systemd unit that runs `sendmessagebot run`.
    #[command(subcommand)]
    Service(commands::service::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::Args),
    /// Print the man page (roff), generated from the command-line definitions.
    Manpage(commands::manpage::Args),
}

fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own: install ring's before any client.
    smb_notify::install_crypto_provider();
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    if cli.command.is_none() && !commands::menu::interactive() {
        // No terminal to ask on (CI, cron, a pipe): say what exists instead of waiting.
        let mut help = <Cli as clap::CommandFactory>::command();
        let _ = help.print_help();
        eprintln!(
            "\nno command given and no terminal for the menu; run `sendmessagebot <COMMAND>`"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `sendmessagebot stats | head` closes our stdout early; `println!` then panics. That is
/// not an error of ours: end quietly, as a program killed by SIGPIPE would, without a trace.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
