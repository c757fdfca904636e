//! One module per subcommand.

pub mod accounts;
pub mod broadcasters;
pub mod check;
pub mod init;
pub mod messages;
pub mod migrate;
pub mod notify;
pub mod report;
pub mod run;
pub mod sheets;
pub mod stats;
pub mod targets;

use std::process::ExitCode;

use crate::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Init(a) => init::run(&cli, a),
        Command::Check(a) => check::run(&cli, a),
        Command::Run(a) => run::run(&cli, a).await,
        Command::Stats(a) => stats::run(&cli, a).await,
        Command::Targets(c) => targets::run(&cli, c).await,
        Command::Broadcasters(c) => broadcasters::run(&cli, c),
        Command::Report(c) => report::run(&cli, c).await,
        Command::Notify(c) => notify::run(&cli, c).await,
        Command::Accounts(c) => accounts::run(&cli, c).await,
        Command::Messages(c) => messages::run(&cli, c).await,
        Command::Sheets(c) => sheets::run(&cli, c).await,
        Command::Migrate(a) => migrate::run(&cli, a).await,
    }
}
