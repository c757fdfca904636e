//! `migrate DIR`: imports the Python original's layout (targets, messages, `.env`, Telethon
//! sessions) as data and writes `sendmessagebot.toml` + `.env` reproducing its broadcasters,
//! and each Telethon login as our session file (sealed when SESSION_PASSPHRASE is set) with
//! its entity cache as the account's peer cache (`SESSIONS_DIR/NAME.peers.json`), so the
//! accounts are logged in and numeric targets resolve without a dialogs scan.
//! The original directory is only read.

use std::net::{IpAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use smb_migrate::{self as legacy, LegacyImport, LegacySession};
use smb_telegram::grammers::{
    CachedChat, Identity, JsonPeerCacheStore, PeerCache, PeerCacheStore as _, SessionStore,
    StoredSession,
};

use crate::Cli;
use crate::config::Overrides;
use crate::telegram::DEFAULT_SESSIONS_DIR;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Python SendMessageBot directory (the one holding main.py, config/, sessions/).
    pub dir: PathBuf,
    /// Show what would be imported and written, without writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite an existing sendmessagebot.toml / .env and existing session files.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(cli: &Cli, a: &Args) -> anyhow::Result<ExitCode> {
    let imp = legacy::import(&a.dir).await?;
    let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M").to_string();
    let toml = imp.render_toml(&now);
    let env = imp.render_env(&now);

    outln!("imported from {}:", a.dir.display())?;
    for line in imp.summary() {
        outln!("  {line}")?;
    }
    if !imp.sessions.is_empty() {
        let names: Vec<&str> = imp.sessions.iter().map(|s| s.account.as_str()).collect();
        outln!(
            "  Telethon sessions read (logins and {} cached peers): {}",
            imp.sessions
                .iter()
                .map(|s| s.session.peers.len())
                .sum::<usize>(),
            names.join(", ")
        )?;
    }
    if !imp.changed.is_empty() {
        outln!("changed on import ({}):", imp.changed.len())?;
        for i in &imp.changed {
            outln!("  {i}")?;
        }
    }
    if !imp.issues.is_empty() {
        outln!("not imported ({}):", imp.issues.len())?;
        for i in &imp.issues {
            outln!("  {i}")?;
        }
    }
    let plans: Vec<SessionPlan> = imp.sessions.iter().map(SessionPlan::new).collect();
    if a.dry_run {
        outln!("\n--- would write {} ---\n{toml}", cli.config.display())?;
        outln!(
            "--- would write {} ({} variables; values not shown) ---",
            cli.env_file.display(),
            imp.env.len()
        )?;
        let (dir, sealed) = planned_sessions_dir(&imp);
        for p in &plans {
            match &p.login {
                Ok(_) => outln!(
                    "--- would write {}/{}.session{} and {}.peers.json ({}) ---",
                    dir.display(),
                    p.account,
                    if sealed { " (encrypted)" } else { "" },
                    p.account,
                    p.peers_note()
                )?,
                Err(why) => outln!("--- session {}: {why} ---", p.account)?,
            }
        }
        outln!("dry run: nothing written")?;
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
    crate::envfile::write_private(&cli.env_file, &env)
        .with_context(|| format!("writing {}", cli.env_file.display()))?;
    outln!(
        "wrote {} and {}",
        cli.config.display(),
        cli.env_file.display()
    )?;
    if !plans.is_empty() {
        // The store `run` and `accounts login` will use: SESSIONS_DIR, SESSION_PASSPHRASE and
        // file names from the configuration just written (and the environment).
        let settings = crate::context::settings(cli, &Overrides::default(), false)
            .context("reading back the configuration just written")?;
        let store = crate::telegram::session_store(&settings)?;
        let mut not_migrated = Vec::new();
        for p in &plans {
            match write_session(&store, p, a.force) {
                Ok(line) => outln!("{line}")?,
                Err(why) => not_migrated.push(format!("session {}: {why}", p.account)),
            }
        }
        if !not_migrated.is_empty() {
            outln!("sessions not migrated ({}):", not_migrated.len())?;
            for line in &not_migrated {
                outln!("  {line}")?;
            }
        }
    }
    outln!(
        "next: `sendmessagebot check`, then `sendmessagebot messages update` for the sets with a Google Sheet"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What one Telethon session becomes: the login (or why it cannot be migrated) and the peer
/// cache built from its entities.
struct SessionPlan<'a> {
    account: &'a str,
    login: Result<SocketAddrV4, String>,
    session: &'a LegacySession,
    cache: PeerCache,
    /// Entities that are not chats (users) or cannot be addressed (no access hash).
    skipped: usize,
}

impl<'a> SessionPlan<'a> {
    fn new(s: &'a LegacySession) -> Self {
        let account = s.account.as_str();
        let t = &s.session;
        let relogin = format!("log in with `sendmessagebot accounts login {account}`");
        let login = match t.addr.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Ok(SocketAddrV4::new(ip, t.port)),
            Ok(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(ip) => Ok(SocketAddrV4::new(ip, t.port)),
                None => Err(format!(
                    "not migrated: IPv6 DC address ({}); {relogin}",
                    t.addr
                )),
            },
            Err(_) => Err(format!(
                "not migrated: the DC address {:?} is not an IP address; {relogin}",
                t.addr
            )),
        };
        let mut cache = PeerCache::default();
        let mut skipped = 0;
        for (id, hash, username) in &t.peers {
            match CachedChat::from_marked(*id, *hash, username.as_deref()) {
                Some(c) => cache.insert(c),
                None => skipped += 1,
            }
        }
        SessionPlan {
            account,
            login,
            session: s,
            cache,
            skipped,
        }
    }

    fn peers_note(&self) -> String {
        format!(
            "{} chats cached, {} users or unaddressable entities left out",
            self.cache.chats.len(),
            self.skipped
        )
    }
}

/// Where the sessions would go without writing the configuration first: SESSIONS_DIR and
/// SESSION_PASSPHRASE from the environment, else from the original's `.env`.
fn planned_sessions_dir(imp: &LegacyImport) -> (PathBuf, bool) {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| {
                imp.env
                    .iter()
                    .find(|(k, v)| k == name && !v.trim().is_empty())
                    .map(|(_, v)| v.clone())
            })
    };
    let dir = var("SESSIONS_DIR").unwrap_or_else(|| DEFAULT_SESSIONS_DIR.to_owned());
    (
        PathBuf::from(dir.trim()),
        var("SESSION_PASSPHRASE").is_some(),
    )
}

/// Writes one account's session and peer cache; the line to print, or why it was not written.
fn write_session(store: &SessionStore, p: &SessionPlan, force: bool) -> Result<String, String> {
    let addr = p.login.clone()?;
    let path = store.path(p.account).map_err(|e| e.to_string())?;
    if path.exists() && !force {
        return Err(format!(
            "not migrated: {} exists (an earlier login or migration); pass --force to replace it",
            path.display()
        ));
    }
    let t = &p.session.session;
    // Telethon does not record who is logged in; `accounts check` asks Telegram.
    let identity = Identity {
        user_id: 0,
        bot: false,
        first_name: "(migrated from Telethon)".to_owned(),
        username: None,
    };
    let stored = StoredSession::imported(t.dc_id, addr, t.auth_key, identity);
    if let Some(dir) = path.parent() {
        // Session keys: the directory is 0700 (the files are 0600, see `SessionStore::save`).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    store.save(p.account, &stored).map_err(|e| e.to_string())?;
    let peers = JsonPeerCacheStore::new(store.dir());
    peers
        .save(p.account, &p.cache)
        .map_err(|e| format!("session written, but not its peer cache: {e}"))?;
    Ok(format!(
        "wrote {}{} and {} ({})",
        path.display(),
        if store.is_encrypted() {
            " (encrypted)"
        } else {
            ""
        },
        peers.path(p.account).display(),
        p.peers_note()
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::{self, EnvVars, Overrides};

    fn legacy(addr: &str) -> smb_migrate::LegacySession {
        smb_migrate::LegacySession {
            account: "acc1".into(),
            file: "sessions/acc1.session".into(),
            session: smb_migrate::TelethonSession {
                dc_id: 2,
                addr: addr.into(),
                port: 443,
                auth_key: [1; 256],
                peers: vec![
                    (-1_001_234_567_890, 5, Some("Shop".into())),
                    (-42, 0, None),
                    (777, 9, Some("someone".into())),
                ],
            },
        }
    }

    #[test]
    fn dc_addresses_and_entities_are_planned() {
        let s = legacy("149.154.167.51");
        let p = super::SessionPlan::new(&s);
        assert_eq!(p.login, Ok("149.154.167.51:443".parse().unwrap()));
        assert_eq!(p.cache.chats.len(), 2);
        assert_eq!(p.cache.usernames.get("shop"), Some(&-1_001_234_567_890));
        assert_eq!(p.skipped, 1);
        let s = legacy("::ffff:149.154.167.51");
        assert!(super::SessionPlan::new(&s).login.is_ok());
        let s = legacy("2001:67c:4e8:f002::a");
        let err = super::SessionPlan::new(&s).login.unwrap_err();
        assert!(
            err.contains("IPv6 DC address") && err.contains("accounts login acc1"),
            "{err}"
        );
        let s = legacy("dc2.example");
        assert!(super::SessionPlan::new(&s).login.is_err());
    }

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
            "\u{feff}API_ID=1\r\nAPI_HASH=x\r\nBUY_SELL_PRICE_GUS_SHEET_URL=https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=3\n\
             WEBHOOK_SECRET=Pr1ce$ecret2024\nSMB_T_QUOTES=\"say \\\"hi\\\" #1 \\\\ end\"\nexport SMB_T_SPACES='  two  words '\n\
             SMB_T_LINES=\"Прайс\nна сегодня\"\nSMB_T_LITERAL='${:-$}{NOT_A_REF}'\nSMB_T_EMPTY=\n",
        )
        .unwrap();
        let imp = smb_migrate::import(d).await.unwrap();
        let toml = imp.render_toml("now");
        let env_path = d.join("new.env");
        std::fs::write(&env_path, imp.render_env("now")).unwrap();
        let env = EnvVars::load(&env_path).unwrap();
        // What the original read is what we read back from the migrated .env.
        let read = env.map();
        for (k, v) in [
            ("API_ID", "1"),
            ("WEBHOOK_SECRET", "Pr1ce$ecret2024"),
            ("SMB_T_QUOTES", "say \"hi\" #1 \\ end"),
            ("SMB_T_SPACES", "  two  words "),
            ("SMB_T_LINES", "Прайс\nна сегодня"),
            ("SMB_T_LITERAL", "${NOT_A_REF}"),
            ("SMB_T_EMPTY", ""),
        ] {
            assert_eq!(read.get(k).map(String::as_str), Some(v), "{k}");
        }
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
