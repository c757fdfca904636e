//! One module per subcommand.

pub mod accounts;
pub mod broadcasters;
pub mod check;
pub mod cluster;
pub mod completions;
pub mod db;
pub mod init;
pub mod manpage;
pub mod menu;
pub mod messages;
pub mod migrate;
pub mod notify;
pub mod reload;
pub mod report;
pub mod report_settings;
pub mod restart;
pub mod run;
pub mod service;
pub mod sheets;
pub mod stats;
pub mod status;
pub mod stop;
pub mod targets;
pub mod targets_check;
pub mod test_broadcasters;

use std::process::ExitCode;

use crate::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        return menu::run(&cli, &menu::Args::default()).await;
    };
    match command {
        Command::Init(a) => init::run(&cli, a),
        Command::Check(a) => check::run(&cli, a).await,
        Command::Run(a) => run::run(&cli, a).await,
        Command::Stats(a) => stats::run(&cli, a).await,
        Command::Db(c) => db::run(&cli, c).await,
        Command::Targets(c) => targets::run(&cli, c).await,
        Command::Broadcasters(c) => broadcasters::run(&cli, c).await,
        Command::Report(c) => report::run(&cli, c).await,
        Command::Notify(c) => notify::run(&cli, c).await,
        Command::Accounts(c) => accounts::run(&cli, c).await,
        Command::Messages(c) => messages::run(&cli, c).await,
        Command::Sheets(c) => sheets::run(&cli, c).await,
        Command::Migrate(a) => migrate::run(&cli, a).await,
        Command::Menu(a) => menu::run(&cli, a).await,
        Command::Status(a) => status::run(&cli, a).await,
        Command::Cluster(c) => cluster::run(&cli, c).await,
        Command::Stop(a) => stop::run(&cli, a).await,
        Command::Restart(a) => restart::run(&cli, a).await,
        Command::Reload(a) => reload::run(&cli, a).await,
        Command::Service(c) => service::run(&cli, c),
        Command::Completions(a) => completions::run(a),
        Command::Manpage(a) => manpage::run(a),
    }
}
