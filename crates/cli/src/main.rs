//! The `sendmessagebot` binary: the command line over the library of the same name.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use sendmessagebot::{Cli, commands, out};

fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own: install ring's before any client.
    smb_notify::install_crypto_provider();
    let cli = Cli::parse();
    sendmessagebot::hint::set_sandbox(sendmessagebot::hint::sandbox_in_args(std::env::args_os()));
    if cli.command.is_none() && !commands::menu::interactive() {
        // No terminal to ask on (CI, cron, a pipe): say what exists instead of waiting.
        let mut help = <Cli as clap::CommandFactory>::command();
        let _ = help.print_help();
        eprintln!(
            "\nno command given and no terminal for the menu; run `sendmessagebot <COMMAND>`"
        );
        return ExitCode::from(2);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(worker_threads());
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        // `sendmessagebot stats | head` closed our stdout early. That is not an error of ours:
        // end quietly with the status of a program killed by SIGPIPE (128 + 13), as `cat` does.
        Err(e) if out::is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!(
                "error: {}",
                sendmessagebot::hint::in_mode(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}

/// Async worker threads: one per core, at most [`MAX_WORKERS`]. The daemon waits on the network
/// and the journal's fsync; a delivery costs well under a millisecond of CPU, so more workers
/// on a large machine add only idle memory (a stack and a malloc arena each). The environment
/// variable `TOKIO_WORKER_THREADS` overrides it.
fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, MAX_WORKERS)
}

/// See [`worker_threads`].
const MAX_WORKERS: usize = 2;
