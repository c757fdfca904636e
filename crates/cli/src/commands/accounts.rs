//! `accounts login|list|check|logout`: Telegram sessions of the configured accounts.
//!
//! `login` is interactive on a terminal (the 2FA password and bot tokens are read hidden) and
//! scriptable otherwise: `--phone`, `--code-file` or the code on stdin, `--password-env VAR`,
//! `--bot-token-env VAR`. Nothing secret is printed or logged.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use smb_domain::AccountStop;
use smb_engine::Store as _;
use smb_telegram::grammers::{
    AccountHealth, AccountInfo, JsonPeerCacheStore, Login, LoginError, SecretString, SessionError,
    SessionStore, SignIn, check_account, list_accounts, logout,
};

use crate::Cli;
use crate::config::{Overrides, Settings};
use crate::{context, telegram};

/// Attempts at a code or password on a terminal before giving up.
const TTY_ATTEMPTS: u32 = 3;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Log an account in (user: phone, code, 2FA password; bot: token) and save its session.
    Login(LoginArgs),
    /// Every account with its session: kind, logged in or not, who, DC, proxy (no network).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Ask Telegram whether each account's session works; exit 1 if any does not.
    Check,
    /// Log an account out on Telegram and delete its session file.
    Logout { name: String },
    /// Encrypt plain session files with SESSION_PASSPHRASE (set after they were written);
    /// every account's, or NAME's. The file is rewritten 0600 through a temporary file.
    Seal { name: Option<String> },
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The account, as in `[accounts.NAME]`.
    pub name: String,
    /// The phone number in international form (default: the account's `phone`, or PHONE).
    #[arg(long)]
    pub phone: Option<String>,
    /// Read the login code from this file (default: prompt on a terminal, else one line of stdin).
    #[arg(long, value_name = "FILE")]
    pub code_file: Option<PathBuf>,
    /// Read the 2FA password from this environment variable (or .env entry).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Log in as a bot with the token in this environment variable (or .env entry).
    #[arg(long, value_name = "VAR")]
    pub bot_token_env: Option<String>,
    /// Start a new session even when the current one is logged in or cannot be decrypted.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), false)?;
    let _log = context::init_logging(&settings, false)?;
    match cmd {
        Command::Login(args) => login(&settings, args).await,
        Command::List { json } => list(&settings, *json),
        Command::Check => check(&settings).await,
        Command::Logout { name } => logout_account(&settings, name).await,
        Command::Seal { name } => seal(&settings, name.as_deref()),
    }
}

/// The warning for a plain session file while SESSION_PASSPHRASE is set (`check` and
/// `accounts list`), with the command that seals it; `None` otherwise.
pub fn unsealed_warning(sessions: &SessionStore, name: &str) -> Option<String> {
    if !sessions.is_encrypted() || sessions.is_sealed(name).ok()? != Some(false) {
        return None;
    }
    let path = sessions.path(name).ok()?;
    Some(format!(
        "account {name}: the session file {} is not encrypted although SESSION_PASSPHRASE is set; encrypt it with `sendmessagebot accounts seal {name}`",
        path.display()
    ))
}

/// `accounts seal [NAME]`: each plain session sealed with SESSION_PASSPHRASE.
fn seal(settings: &Settings, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let sessions = telegram::session_store(settings)?;
    if !sessions.is_encrypted() {
        bail!(
            "SESSION_PASSPHRASE is not set: nothing to encrypt the sessions with; set it in .env (SECURITY.md), then run this again"
        );
    }
    let names = match name {
        Some(n) => vec![n.to_owned()],
        None => sessions.accounts()?,
    };
    if names.is_empty() {
        outln!("no session files in {}", sessions.dir().display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for n in &names {
        let path = sessions.path(n)?;
        match sessions.is_sealed(n) {
            Ok(None) => {
                outln!("{n}: no session file ({})", path.display())?;
                failed |= name.is_some();
            }
            Ok(Some(true)) => outln!("{n}: already encrypted ({})", path.display())?,
            Ok(Some(false)) => match sessions.seal(n) {
                Ok(_) => outln!(
                    "{n}: encrypted with SESSION_PASSPHRASE ({})",
                    path.display()
                )?,
                Err(e) => {
                    outln!("{n}: not encrypted: {e} (the file is unchanged)")?;
                    failed = true;
                }
            },
            Err(e) => {
                outln!("{n}: {e}")?;
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt_text(message: &str) -> anyhow::Result<String> {
    inquire::Text::new(message).prompt().context("no answer")
}

fn prompt_secret(message: &str) -> anyhow::Result<SecretString> {
    inquire::Password::new(message)
        .without_confirmation()
        .with_display_mode(inquire::PasswordDisplayMode::Hidden)
        .prompt()
        .map(SecretString::from)
        .context("no answer")
}

/// A secret from a named variable of the environment or `.env`.
fn secret_from_env(settings: &Settings, var: &str, flag: &str) -> anyhow::Result<SecretString> {
    match settings
        .env
        .get(var)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(v) => Ok(SecretString::from(v.to_owned())),
        None => bail!("{flag} {var}: the variable {var} is not set (in the environment or .env)"),
    }
}

fn describe(info: &AccountInfo) -> String {
    let mut s = info.first_name.clone();
    if let Some(u) = &info.username {
        s.push_str(&format!(" (@{u})"));
    }
    s
}

async fn login(settings: &Settings, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let account = telegram::account(settings, &args.name)?;
    let api = telegram::api(settings)?;
    let sessions = telegram::session_store(settings)?;
    let proxy = telegram::proxy(settings, account)?;
    let name = account.name.as_str();

    let session = match Login::start(&api, &sessions, name, proxy.as_ref()) {
        Ok(l) if args.force => {
            drop(l);
            Login::start_fresh(&api, &sessions, name, proxy.as_ref())?
        }
        Ok(l) => l,
        Err(LoginError::Session(SessionError::Corrupted { .. })) => {
            eprintln!("note: the session file of {name} is damaged; starting a new session");
            Login::start_fresh(&api, &sessions, name, proxy.as_ref())?
        }
        Err(LoginError::Session(
            e @ (SessionError::WrongPassphrase { .. } | SessionError::PassphraseRequired { .. }),
        )) if !args.force => {
            bail!(
                "{e}\n  hint: `sendmessagebot accounts login {name} --force` replaces it with a new session"
            );
        }
        Err(LoginError::Session(
            SessionError::WrongPassphrase { .. } | SessionError::PassphraseRequired { .. },
        )) => Login::start_fresh(&api, &sessions, name, proxy.as_ref())?,
        Err(e) => return Err(e.into()),
    };
    if session.is_authorized().await? {
        outln!(
            "{name} is already logged in; `sendmessagebot accounts check` tests it, \
             `sendmessagebot accounts login {name} --force` starts a new session"
        )?;
        return Ok(ExitCode::SUCCESS);
    }

    let bot = account.kind == crate::config::AccountKind::Bot || args.bot_token_env.is_some();
    let info = if bot {
        let token = match &args.bot_token_env {
            Some(var) => secret_from_env(settings, var, "--bot-token-env")?,
            None if interactive() => prompt_secret("Bot token from @BotFather:")?,
            None => {
                bail!("{name} is a bot account: pass --bot-token-env VAR with the token in VAR")
            }
        };
        session.bot_sign_in(&token).await?
    } else {
        user_login(settings, args, &session, name).await?
    };
    let path = sessions.path(name)?;
    outln!(
        "✓ {name} logged in as {}{}, DC {}; session saved to {}{}",
        describe(&info),
        if info.bot { " [bot]" } else { "" },
        info.dc,
        path.display(),
        if sessions.is_encrypted() {
            " (encrypted)"
        } else {
            ""
        }
    )?;
    clear_session_stop(settings, name).await?;
    Ok(ExitCode::SUCCESS)
}

async fn user_login(
    settings: &Settings,
    args: &LoginArgs,
    session: &Login,
    name: &str,
) -> anyhow::Result<AccountInfo> {
    let account = telegram::account(settings, name)?;
    let single = settings.account_info.len() == 1;
    let configured = account.phone.clone().or_else(|| {
        single
            .then(|| settings.env.get("PHONE").map(|p| p.trim().to_owned()))
            .flatten()
            .filter(|p| !p.is_empty())
    });
    let phone = match args.phone.clone().or(configured) {
        Some(p) => p,
        None if interactive() => {
            prompt_text(&format!("Phone number of {name} (e.g. +15551234567):"))?
        }
        None => {
            bail!("no phone number for {name}: pass --phone, or set `phone` in [accounts.{name}]")
        }
    };
    let request = session.request_code(phone.trim()).await?;
    eprintln!("Telegram sent a login code to {name} (in the Telegram app, or by SMS)");

    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        let code = read_code(args, name)?;
        match session.sign_in(&request, &code).await {
            Err(e @ LoginError::InvalidCode)
                if args.code_file.is_none() && interactive() && attempts < TTY_ATTEMPTS =>
            {
                eprintln!("{e}");
            }
            other => break other?,
        }
    };
    let mut password_request = match outcome {
        SignIn::Done(info) => return Ok(info),
        SignIn::PasswordNeeded(p) => p,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let password = match &args.password_env {
            Some(var) => secret_from_env(settings, var, "--password-env")?,
            None if interactive() => {
                let hint = password_request
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                prompt_secret(&format!("2FA password of {name}{hint}:"))?
            }
            None => {
                bail!("{name} has a 2FA password: pass --password-env VAR with the password in VAR")
            }
        };
        match session.check_password(password_request, &password).await {
            Ok(info) => return Ok(info),
            Err(LoginError::InvalidPassword { retry })
                if args.password_env.is_none() && interactive() && attempts < TTY_ATTEMPTS =>
            {
                eprintln!("the 2FA password is wrong; try again");
                password_request = retry;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_code(args: &LoginArgs, name: &str) -> anyhow::Result<String> {
    let code = match &args.code_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the code from {}", path.display()))?,
        None if interactive() => prompt_text(&format!("Login code of {name}:"))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the code from stdin")?;
            line
        }
    };
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.is_empty() {
        bail!("no login code given: pass --code-file FILE, or the code on stdin");
    }
    Ok(code)
}

/// A new login fixes a stop caused by the old session (AUTH_KEY_UNREGISTERED, "no session…").
async fn clear_session_stop(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let store = context::open_store(settings, false).await?;
    let reason = store
        .accounts()
        .await?
        .get(name)
        .and_then(|a| a.stopped_reason.clone());
    if let Some(reason) = reason.filter(AccountStop::fixed_by_login) {
        store.clear_account_stop(name, Timestamp::now()).await?;
        outln!(
            "  {name} was stopped ({reason}); it sends again from the next `sendmessagebot run`"
        )?;
    }
    Ok(())
}

fn list(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let sessions = telegram::session_store(settings)?;
    for loose in crate::perms::sessions_dir(sessions.dir()) {
        eprintln!("warning: {}", loose.message);
    }
    let files = list_accounts(&sessions)?;
    for f in &files {
        if let Some(w) = unsealed_warning(&sessions, &f.name) {
            eprintln!("warning: {w}");
        }
    }
    let mut rows = Vec::new();
    let mut names: Vec<&str> = settings
        .account_info
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    names.extend(
        files
            .iter()
            .map(|f| f.name.as_str())
            .filter(|n| !settings.account_info.iter().any(|a| a.name == *n)),
    );
    for name in names {
        let account = settings.account_info.iter().find(|a| a.name == name);
        let summary = files.iter().find(|f| f.name == name);
        let (state, who, user_id, dc, error) = match summary.map(|s| &s.session) {
            None => ("no session", None, None, None, None),
            Some(Ok(s)) => match &s.identity {
                Some(id) => {
                    let mut who = id.first_name.clone();
                    if let Some(u) = &id.username {
                        who.push_str(&format!(" @{u}"));
                    }
                    ("yes", Some(who), Some(id.user_id), Some(s.home_dc), None)
                }
                None => ("no", None, None, Some(s.home_dc), None),
            },
            Some(Err(e)) => (unreadable(e), None, None, None, Some(e.to_string())),
        };
        let proxy = match account {
            Some(a) => match telegram::proxy(settings, a) {
                Ok(p) => p.map(|p| p.display()),
                Err(e) => Some(format!("invalid: {}", e.root_cause())),
            },
            None => None,
        };
        rows.push(serde_json::json!({
            "name": name,
            "kind": account.map_or("(not configured)", |a| a.kind.as_str()),
            "authorized": state,
            "telegram": who,
            "user_id": user_id,
            "dc": dc,
            "proxy": proxy,
            "session": sessions.path(name).ok().map(|p| p.display().to_string()),
            "error": error,
        }));
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<10} {:<6} {:<11} {:<28} {:<3} PROXY",
        "ACCOUNT",
        "KIND",
        "AUTHORIZED",
        "TELEGRAM",
        "DC"
    )?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    for r in &rows {
        outln!(
            "{:<10} {:<6} {:<11} {:<28} {:<3} {}",
            s(&r["name"]),
            s(&r["kind"]),
            s(&r["authorized"]),
            s(&r["telegram"]),
            r["dc"].as_i64().map_or("-".to_owned(), |d| d.to_string()),
            s(&r["proxy"])
        )?;
    }
    for r in rows.iter().filter(|r| r["error"].is_string()) {
        outln!("  {}: {}", s(&r["name"]), s(&r["error"]))?;
    }
    if rows
        .iter()
        .any(|r| r["authorized"] != "yes" && r["kind"] != "(not configured)")
    {
        outln!("log an account in with `sendmessagebot accounts login NAME`")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn unreadable(e: &SessionError) -> &'static str {
    match e {
        SessionError::WrongPassphrase { .. } | SessionError::PassphraseRequired { .. } => "locked",
        _ => "damaged",
    }
}

async fn check(settings: &Settings) -> anyhow::Result<ExitCode> {
    if settings.account_info.is_empty() {
        outln!(
            "✗ no accounts configured: add an [accounts.NAME] table to {}",
            settings.source
        )?;
        return Ok(ExitCode::from(1));
    }
    let api = match telegram::api(settings) {
        Ok(a) => a,
        Err(e) => {
            outln!("✗ {e:#}")?;
            return Ok(ExitCode::from(1));
        }
    };
    let sessions = telegram::session_store(settings)?;
    let mut bad = 0;
    for a in &settings.account_info {
        let proxy = match telegram::proxy(settings, a) {
            Ok(p) => p,
            Err(e) => {
                outln!("✗ {}: {e:#}", a.name)?;
                bad += 1;
                continue;
            }
        };
        let health = check_account(&api, &sessions, &a.name, proxy.as_ref()).await;
        report_health(&a.name, &health, &mut bad)?;
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report_health(name: &str, health: &AccountHealth, bad: &mut usize) -> std::io::Result<()> {
    match health {
        AccountHealth::Ok(info) => {
            outln!(
                "✓ {name}: {}{}, DC {}",
                describe(info),
                if info.bot { " [bot]" } else { "" },
                info.dc
            )?;
        }
        // The session works; Telegram only asks for a pause.
        AccountHealth::FloodWait(_) => outln!("! {name}: {}", health.advice(name))?,
        _ => {
            *bad += 1;
            outln!("✗ {name}: {}", health.advice(name))?;
        }
    }
    Ok(())
}

async fn logout_account(settings: &Settings, name: &str) -> anyhow::Result<ExitCode> {
    let sessions = telegram::session_store(settings)?;
    let account = telegram::account(settings, name).ok();
    let proxy = match account {
        Some(a) => telegram::proxy(settings, a)?,
        None => None,
    };
    let had = match telegram::api(settings) {
        Ok(api) => logout(&api, &sessions, name, proxy.as_ref()).await?,
        Err(e) => {
            eprintln!(
                "note: {e:#}\n  the session file is deleted, but Telegram still lists it: end it in Telegram → Settings → Devices"
            );
            sessions.delete(name)?
        }
    };
    let peers = JsonPeerCacheStore::new(sessions.dir()).path(name);
    if let Err(e) = std::fs::remove_file(&peers)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("warning: cannot delete {}: {e}", peers.display());
    }
    if had {
        outln!("✓ {name} logged out; its session file is deleted")?;
    } else {
        outln!("{name} had no session")?;
    }
    Ok(ExitCode::SUCCESS)
}
