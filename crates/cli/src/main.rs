//! The `sendmessagebot` binary: the command line over the library of the same name.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use sendmessagebot::{Cli, commands};

fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own: install ring's before any client.
    smb_notify::install_crypto_provider();
    quiet_on_broken_pipe();
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
            eprintln!(
                "error: {}",
                sendmessagebot::hint::in_mode(&format!("{e:#}"))
            );
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
