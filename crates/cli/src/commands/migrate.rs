//! `migrate DIR`: imports the Python original's layout (targets, messages, `.env`, Telethon
//! sessions) as data and writes `sendmessagebot.toml` + `.env` reproducing its broadcasters.
//! The original directory is only read.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use smb_sources::legacy;

use crate::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Python SendMessageBot directory (the one holding main.py, config/, sessions/).
    pub dir: PathBuf,
    /// Show what would be imported and written, without writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite an existing sendmessagebot.toml / .env.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(cli: &Cli, a: &Args) -> anyhow::Result<ExitCode> {
    let imp = legacy::import(&a.dir).await?;
    let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M").to_string();
    let toml = imp.render_toml(&now);
    let env = imp.render_env(&now);

    println!("imported from {}:", a.dir.display());
    for line in imp.summary() {
        println!("  {line}");
    }
    if !imp.sessions.is_empty() {
        let names: Vec<&str> = imp.sessions.iter().map(|s| s.account.as_str()).collect();
        println!(
            "  Telethon sessions read (logins and {} cached peers): {}",
            imp.sessions
                .iter()
                .map(|s| s.session.peers.len())
                .sum::<usize>(),
            names.join(", ")
        );
    }
    if !imp.issues.is_empty() {
        println!("not imported ({}):", imp.issues.len());
        for i in &imp.issues {
            println!("  {i}");
        }
    }
    if a.dry_run {
        println!("\n--- would write {} ---\n{toml}", cli.config.display());
        println!(
            "--- would write {} ({} variables; values not shown) ---",
            cli.env_file.display(),
            imp.env.len()
        );
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    for path in [&cli.config, &cli.env_file] {
        if path.exists() && !a.force {
            bail!(
                "{} exists: move it away or pass --force to overwrite it",
                path.display()
            );
        }
    }
    std::fs::write(&cli.config, &toml)
        .with_context(|| format!("writing {}", cli.config.display()))?;
    std::fs::write(&cli.env_file, &env)
        .with_context(|| format!("writing {}", cli.env_file.display()))?;
    println!(
        "wrote {} and {}",
        cli.config.display(),
        cli.env_file.display()
    );
    println!(
        "next: `sendmessagebot check`, then `sendmessagebot messages update` for the sets with a Google Sheet"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::config::{self, EnvVars, Overrides};

    #[tokio::test]
    async fn a_migrated_configuration_loads() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("config")).unwrap();
        std::fs::write(
            d.join("config/targets.py"),
            "TARGETS = [-1001, -1002,]\nTEST_TARGETS = [-1003]\n",
        )
        .unwrap();
        std::fs::write(
            d.join("config/messages.py"),
            "MESSAGES_B2B = ['опт']\nMESSAGES_B2C = [\"розница\"]\n",
        )
        .unwrap();
        std::fs::write(d.join("config/messages_aaa.py"), "MESSAGES_AAA = ['aaa']\n").unwrap();
        std::fs::write(
            d.join(".env"),
            "API_ID=1\nAPI_HASH=x\nBUY_SELL_PRICE_GUS_SHEET_URL=https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=3\n",
        )
        .unwrap();
        let imp = smb_sources::legacy::import(d).await.unwrap();
        let toml = imp.render_toml("now");
        let env_path = d.join("new.env");
        std::fs::write(&env_path, imp.render_env("now")).unwrap();
        let env = EnvVars::load(&env_path).unwrap();
        let settings =
            config::parse("sendmessagebot.toml", &toml, &env, &Overrides::default()).unwrap();
        let mut got: Vec<(String, String)> = settings
            .broadcasters
            .iter()
            .map(|b| (b.spec.name.clone(), b.spec.account.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("aaa".into(), "acc1".into()),
                ("b2b".into(), "acc1".into()),
                ("b2c".into(), "acc2".into()),
                ("gus".into(), "acc2".into())
            ]
        );
        // `gus` lives only in its sheet: it has a source and starts with no texts.
        assert!(settings.message_sources.contains_key("gus"));
        let test = config::parse(
            "x",
            &toml,
            &env,
            &Overrides {
                test_mode: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(test.broadcasters[0].target_list, "test");
    }
}
