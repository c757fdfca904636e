//! The `sendmessagebot` library: clap commands over the engine, store and gateways. The binary
//! (`main.rs`) only parses the command line and runs [`commands::dispatch`]; tests call the
//! configuration parser ([`config::load`], [`config::parse`]) directly.
#![forbid(unsafe_code)]

// First, so that `outln!`/`out!` are in scope in every module below.
#[macro_use]
pub mod out;

pub mod cluster;
pub mod commands;
pub mod config;
pub mod context;
pub mod daemon;
pub mod envfile;
pub mod hint;
pub mod logging;
pub mod observe;
pub mod perms;
pub mod quiet;
pub mod reach;
pub mod refusals;
pub mod running;
pub mod sections;
pub mod switch;
pub mod telegram;
pub mod watch;
pub mod web;

use std::path::PathBuf;

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
    /// Several servers on one PostgreSQL database: who holds which accounts (docs/postgres.md).
    #[command(subcommand)]
    Cluster(commands::cluster::Command),
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
