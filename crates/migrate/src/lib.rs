//! Import of the Python original's layout (`config/targets.py`, `config/messages*.py`,
//! `data/chat_ids.txt`, `.env`, `sessions/*.session`) as data: nothing is executed and the
//! originals are only read. [`LegacyImport::render_toml`] and [`LegacyImport::render_env`]
//! reproduce its broadcasters (B2B and AAA on acc1, B2C and GUS on acc2). Used by
//! `sendmessagebot migrate` (`crates/cli/src/commands/migrate.rs`); not a message source.
#![forbid(unsafe_code)]

pub mod python;
pub mod telethon;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use smb_domain::TargetRef;

pub use python::{Item, PyList, PyModule, parse_module};
pub use telethon::{TelethonError, TelethonSession, read_session};

use smb_sources::seed_env_var;

/// Something that was not imported, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyIssue {
    /// Relative to the imported directory (`config/targets.py`).
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for LegacyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A target list as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTargets {
    /// Targets as our configuration writes them (`-100…`, `@name`).
    pub targets: Vec<String>,
    /// Where it came from (`config/targets.py TARGETS`).
    pub origin: String,
}

/// A message set as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySet {
    pub texts: Vec<String>,
    /// `config/messages.py MESSAGES_B2B`.
    pub origin: String,
    /// The `# Обновлено:` stamp of its file.
    pub updated: Option<String>,
    /// The seed's `BUY_SELL_PRICE_…_SHEET_URL` for this set, if `.env` has one.
    pub sheet_url: Option<String>,
}

/// One Telethon session file.
#[derive(Debug, Clone)]
pub struct LegacySession {
    /// The file's stem (`acc1`), the account's name.
    pub account: String,
    pub file: PathBuf,
    pub session: TelethonSession,
}

/// Everything read from one directory of the Python original. `Debug` shows the `.env` names,
/// never their values (API_HASH, WEBHOOK_SECRET, … live there).
#[derive(Clone, Default)]
pub struct LegacyImport {
    pub dir: PathBuf,
    /// Our list name (`prod` for TARGETS, `test` for TEST_TARGETS, `new` for NEW_TARGETS,
    /// `chat_ids` for data/chat_ids.txt) → targets.
    pub target_lists: BTreeMap<String, LegacyTargets>,
    pub message_sets: BTreeMap<String, LegacySet>,
    /// `.env` as `(name, value)` in file order.
    pub env: Vec<(String, String)>,
    pub sessions: Vec<LegacySession>,
    /// What was not imported (skipped), with why.
    pub issues: Vec<LegacyIssue>,
    /// What was imported, but not as the original had it: a `${…}` of `.env` replaced by
    /// today's value, a list added to a set of the same name (QA finding F7: these were listed
    /// as "not imported").
    pub changed: Vec<LegacyIssue>,
}

impl std::fmt::Debug for LegacyImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyImport")
            .field("dir", &self.dir)
            .field("target_lists", &self.target_lists)
            .field("message_sets", &self.message_sets)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("sessions", &self.sessions)
            .field("issues", &self.issues)
            .field("changed", &self.changed)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error(
        "{dir}: this does not look like the Python SendMessageBot (none of config/targets.py, config/messages*.py, \
         data/chat_ids.txt, .env, sessions/ is there): give the directory that holds main.py"
    )]
    NotLegacy { dir: String },
    #[error("{path}: cannot read: {detail}")]
    Read { path: String, detail: String },
}

/// The original's two accounts and which broadcasters each ran.
pub const SEED_BROADCASTERS: &[(&str, &str)] = &[
    ("b2b", "acc1"),
    ("aaa", "acc1"),
    ("b2c", "acc2"),
    ("gus", "acc2"),
];

fn read_text(path: &Path) -> Result<Option<String>, LegacyError> {
    Ok(read_bytes(path)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, LegacyError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LegacyError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Our name for a `*_TARGETS` variable.
fn list_name(var: &str) -> String {
    match var {
        "TARGETS" => "prod".into(),
        "TEST_TARGETS" => "test".into(),
        v => v.trim_end_matches("_TARGETS").to_lowercase(),
    }
}

/// Our set name for a list of strings in `file_stem` (`messages`, `messages_aaa`, …).
fn set_name(file_stem: &str, var: &str) -> String {
    let v = var.to_lowercase();
    for known in ["b2b", "b2c", "aaa", "gus"] {
        if v.contains(known) {
            return known.into();
        }
    }
    let rest = v
        .replace("messages", "")
        .replace("message", "")
        .trim_matches('_')
        .to_string();
    if !rest.is_empty() {
        return rest.replace("__", "_");
    }
    match file_stem.strip_prefix("messages_") {
        Some(suffix) if !suffix.is_empty() => suffix.to_lowercase(),
        _ => "default".into(),
    }
}

fn target_text(item: &python::Item) -> Result<String, String> {
    let raw = match item {
        python::Item::Int(n) => n.to_string(),
        python::Item::Str(s) => s.trim().to_string(),
    };
    TargetRef::parse(&raw)
        .map(|t| t.to_string())
        .map_err(|e| format!("`{raw}` is not a target: {e}"))
}

impl LegacyImport {
    fn issue(&mut self, file: &str, line: Option<usize>, message: impl Into<String>) {
        self.issues.push(LegacyIssue {
            file: file.to_string(),
            line,
            message: message.into(),
        });
    }

    fn add_targets(
        &mut self,
        file: &str,
        name: String,
        origin: String,
        items: &[(python::Item, usize)],
    ) {
        let mut targets: Vec<String> = Vec::new();
        for (item, line) in items {
            match target_text(item) {
                Ok(t) if targets.contains(&t) => {
                    self.issue(file, Some(*line), format!("{t} is listed twice; kept once"));
                }
                Ok(t) => targets.push(t),
                Err(m) => self.issue(file, Some(*line), m),
            }
        }
        self.target_lists
            .insert(name, LegacyTargets { targets, origin });
    }
}

/// Reads the original's layout under `dir`. Only a directory with none of its files is an
/// error; everything else that cannot be read becomes an issue in the result.
pub async fn import(dir: &Path) -> Result<LegacyImport, LegacyError> {
    let mut out = LegacyImport {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    let mut found_any = false;

    // .env first: the sheet URLs belong to the message sets read below.
    if let Some(bytes) = read_bytes(&dir.join(".env"))? {
        found_any = true;
        out.env = parse_env(
            &bytes,
            |k| std::env::var(k).ok(),
            &mut out.issues,
            &mut out.changed,
        );
    }

    if let Some(text) = read_text(&dir.join("config/targets.py"))? {
        found_any = true;
        let file = "config/targets.py";
        let module = parse_module(&text);
        for i in &module.issues {
            out.issue(file, Some(i.line), i.message.clone());
        }
        for (var, list) in &module.lists {
            if !var.ends_with("TARGETS") {
                continue;
            }
            if list.items.is_empty() && list.skipped > 0 {
                // Nothing readable in it; each item was reported.
                continue;
            }
            if list
                .items
                .iter()
                .any(|(i, _)| matches!(i, python::Item::Str(s) if s.contains(' ')))
            {
                out.issue(
                    file,
                    Some(list.line),
                    format!("`{var}` holds texts, not chat ids (skipped)"),
                );
                continue;
            }
            out.add_targets(file, list_name(var), format!("{file} {var}"), &list.items);
        }
    }

    if let Some(text) = read_text(&dir.join("data/chat_ids.txt"))? {
        found_any = true;
        let file = "data/chat_ids.txt";
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_text = line.split('#').next().unwrap_or("");
            for tok in line_text
                .split([',', ';', ' ', '\t'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                let item = match tok.parse::<i64>() {
                    Ok(n) => python::Item::Int(n),
                    Err(_) => python::Item::Str(tok.to_string()),
                };
                items.push((item, i + 1));
            }
        }
        let name = if out.target_lists.contains_key("prod") {
            "chat_ids"
        } else {
            "prod"
        };
        out.add_targets(file, name.into(), file.into(), &items);
    }

    let mut message_files: Vec<PathBuf> = match std::fs::read_dir(dir.join("config")) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "py")
                    && p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.starts_with("messages"))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    message_files.sort();
    for path in &message_files {
        let Some(text) = read_text(path)? else {
            continue;
        };
        found_any = true;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("messages")
            .to_string();
        let file = format!("config/{stem}.py");
        let module = parse_module(&text);
        for i in &module.issues {
            out.issue(&file, Some(i.line), i.message.clone());
        }
        for (var, list) in &module.lists {
            let mut texts = Vec::new();
            for (item, line) in &list.items {
                match item {
                    python::Item::Str(s) if !s.trim().is_empty() => {
                        texts.push(s.trim().to_string());
                    }
                    python::Item::Str(_) => out.issue(
                        &file,
                        Some(*line),
                        format!("an empty message in `{var}` (skipped)"),
                    ),
                    python::Item::Int(n) => out.issue(
                        &file,
                        Some(*line),
                        format!("`{n}` in `{var}` is a number, not a message (skipped)"),
                    ),
                }
            }
            let name = set_name(&stem, var);
            let origin = format!("{file} {var}");
            match out.message_sets.get_mut(&name) {
                Some(existing) => {
                    out.changed.push(LegacyIssue {
                        file: file.clone(),
                        line: Some(list.line),
                        message: format!(
                            "`{var}` is added to set `{name}` (also from {})",
                            existing.origin
                        ),
                    });
                    existing.texts.extend(texts);
                }
                None => {
                    out.message_sets.insert(
                        name,
                        LegacySet {
                            texts,
                            origin,
                            updated: module.updated.clone(),
                            sheet_url: None,
                        },
                    );
                }
            }
        }
    }
    // Sheet URLs from .env: a set may live only in its sheet.
    for (set, _) in SEED_BROADCASTERS {
        let Some(var) = seed_env_var(set) else {
            continue;
        };
        let Some((_, url)) = out
            .env
            .iter()
            .find(|(k, v)| k == var && !v.trim().is_empty())
        else {
            continue;
        };
        let url = url.clone();
        out.message_sets
            .entry((*set).to_string())
            .or_insert_with(|| LegacySet {
                texts: Vec::new(),
                origin: format!(".env {var}"),
                updated: None,
                sheet_url: None,
            })
            .sheet_url = Some(url);
    }

    let mut session_files: Vec<PathBuf> = match std::fs::read_dir(dir.join("sessions")) {
        Ok(rd) => {
            found_any = true;
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "session"))
                .collect()
        }
        Err(_) => Vec::new(),
    };
    session_files.sort();
    for path in session_files {
        let account = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("account")
            .to_string();
        let file = format!("sessions/{account}.session");
        match read_session(&path).await {
            Ok(session) => out.sessions.push(LegacySession {
                account,
                file: path,
                session,
            }),
            Err(e) => {
                let shown = format!("{}: ", path.display());
                out.issue(&file, None, e.to_string().replacen(&shown, "", 1));
            }
        }
    }

    if !found_any {
        return Err(LegacyError::NotLegacy {
            dir: dir.display().to_string(),
        });
    }
    Ok(out)
}

/// `.env` as the original's python-dotenv read it ([`smb_sources::dotenv`]): `${NAME}` references
/// are replaced now (from `environ`, then the file), so the new `.env` holds the values the
/// original used; lines python-dotenv skipped are skipped and listed.
fn parse_env(
    bytes: &[u8],
    environ: impl Fn(&str) -> Option<String>,
    issues: &mut Vec<LegacyIssue>,
    changed: &mut Vec<LegacyIssue>,
) -> Vec<(String, String)> {
    let issue = |line: usize, message: String| LegacyIssue {
        file: ".env".into(),
        line: Some(line),
        message,
    };
    let text = match smb_sources::dotenv::decode(bytes) {
        Ok(t) => t,
        Err(e) => {
            issues.push(issue(
                e.line,
                format!("{}; .env was not imported", e.message),
            ));
            return Vec::new();
        }
    };
    let (entries, errors) = smb_sources::dotenv::parse(&text);
    for e in errors {
        issues.push(issue(
            e.line,
            format!("{} (skipped, as the original skipped it)", e.message),
        ));
    }
    for e in &entries {
        if e.value.as_deref().is_some_and(|v| v.contains("${")) {
            changed.push(issue(
                e.line,
                format!(
                    "{}: its ${{…}} reference was replaced by today's value; edit .env if it should follow the environment",
                    e.key
                ),
            ));
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v, _) in smb_sources::dotenv::resolve(&entries, environ) {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl LegacyImport {
    fn env_get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The broadcasters the import can reproduce: (set, account), for sets that exist. On
    /// the original's accounts (B2B and AAA on acc1, B2C and GUS on acc2), except when it ran
    /// with one account: then every broadcaster posts from that account ([`Self::single_account`]).
    pub fn broadcasters(&self) -> Vec<(&'static str, &str)> {
        if !self.target_lists.contains_key("prod") {
            return Vec::new();
        }
        let single = self.single_account();
        SEED_BROADCASTERS
            .iter()
            .copied()
            .filter(|(set, _)| {
                self.message_sets
                    .get(*set)
                    .is_some_and(|s| !s.texts.is_empty() || s.sheet_url.is_some())
            })
            .map(|(set, acc)| (set, single.unwrap_or(acc)))
            .collect()
    }

    /// The original's single-account layout (`SESSION_NAME=session`, `sessions/session.session`):
    /// exactly one session imported, under a name that is none of the seed's accounts (acc1,
    /// acc2). Its name; `None` for the multi-account layout (an `acc1` alone is that layout
    /// with `acc2` not logged in yet, and keeps its mapping).
    pub fn single_account(&self) -> Option<&str> {
        match self.sessions.as_slice() {
            [only] if !SEED_BROADCASTERS.iter().any(|(_, a)| *a == only.account) => {
                Some(only.account.as_str())
            }
            _ => None,
        }
    }

    /// Accounts to declare: those with a session file and those a broadcaster needs.
    pub fn accounts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sessions.iter().map(|s| s.account.clone()).collect();
        for (_, acc) in self.broadcasters() {
            if !names.iter().any(|n| n == acc) {
                names.push(acc.to_owned());
            }
        }
        names.sort();
        names
    }

    /// `sendmessagebot.toml` reproducing the original.
    pub fn render_toml(&self, generated_at: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# SendMessageBot configuration, imported from {} on {generated_at}",
            self.dir.display()
        );
        let _ = writeln!(
            s,
            "# by `sendmessagebot migrate`. Pacing, schedule and reports come from .env (the original's"
        );
        let _ = writeln!(s, "# names); values set here would override them.\n");
        match self.single_account() {
            Some(acc) => {
                let _ = writeln!(
                    s,
                    "# The original ran on one account ({acc}): every broadcaster posts from it."
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "# The original's accounts: acc1 wholesale (B2B, AAA), acc2 retail (B2C, GUS)."
                );
            }
        }
        for acc in self.accounts() {
            let _ = writeln!(s, "[accounts.{acc}]");
        }
        let _ = writeln!(s);
        if !self.target_lists.is_empty() {
            let _ = writeln!(s, "[targets]");
            for (name, list) in &self.target_lists {
                let _ = writeln!(s, "# from {}", list.origin);
                let _ = writeln!(s, "{name} = [");
                for t in &list.targets {
                    let _ = writeln!(s, "    {},", toml_str(t));
                }
                let _ = writeln!(s, "]");
            }
            let _ = writeln!(s);
        }
        for (name, set) in &self.message_sets {
            if set.texts.is_empty() && set.sheet_url.is_none() {
                continue;
            }
            let _ = writeln!(
                s,
                "# from {}{}",
                set.origin,
                set.updated
                    .as_ref()
                    .map(|u| format!(" (updated {u})"))
                    .unwrap_or_default()
            );
            let _ = writeln!(s, "[messages.{name}]");
            match (&set.sheet_url, set.texts.is_empty()) {
                (Some(url), true) => {
                    let _ = writeln!(s, "source = {}", toml_str(url));
                }
                (Some(_), false) => {
                    let var = seed_env_var(name).unwrap_or("its sheet URL");
                    let _ = writeln!(
                        s,
                        "# kept up to date from {var} (.env) by `sendmessagebot messages update`;"
                    );
                    let _ = writeln!(s, "# the texts below are used until the first update.");
                }
                _ => {}
            }
            if !set.texts.is_empty() {
                let _ = writeln!(s, "texts = [");
                for t in &set.texts {
                    let _ = writeln!(s, "    {},", toml_str(t));
                }
                let _ = writeln!(s, "]");
            }
            let _ = writeln!(s);
        }
        for (set, acc) in self.broadcasters() {
            let _ = writeln!(s, "[broadcasters.{set}]");
            let _ = writeln!(s, "account = \"{acc}\"");
            let _ = writeln!(s, "targets = \"prod\"");
            if self.target_lists.contains_key("test") {
                let _ = writeln!(s, "test_targets = \"test\"");
            }
            let _ = writeln!(s, "messages = \"{set}\"\n");
        }
        s
    }

    /// `.env` with the original's variables (our configuration reads the same names). A
    /// relative GOOGLE_CREDENTIALS_FILE is made absolute so it still points at the key.
    pub fn render_env(&self, generated_at: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Imported from {}/.env on {generated_at} by `sendmessagebot migrate`.",
            self.dir.display()
        );
        let _ = writeln!(
            s,
            "# Same variable names as the Python original; keep this file out of version control."
        );
        for (k, v) in &self.env {
            let v = if k == "GOOGLE_CREDENTIALS_FILE" && !v.is_empty() && Path::new(v).is_relative()
            {
                self.dir.join(v).display().to_string()
            } else {
                v.clone()
            };
            let _ = writeln!(s, "{k}={}", smb_sources::dotenv::quote(&v));
        }
        s
    }

    /// What was imported and what was not, one line each, for the operator.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, list) in &self.target_lists {
            lines.push(format!(
                "target list `{name}`: {} targets from {}",
                list.targets.len(),
                list.origin
            ));
        }
        for (name, set) in &self.message_sets {
            let mut l = format!(
                "message set `{name}`: {} messages from {}",
                set.texts.len(),
                set.origin
            );
            if let Some(u) = &set.updated {
                let _ = write!(l, " (updated {u})");
            }
            if set.sheet_url.is_some() {
                l.push_str(", Google Sheet from .env");
            }
            lines.push(l);
        }
        for s in &self.sessions {
            lines.push(format!(
                "account `{}`: Telethon session (data centre {}, {}:{}, {} cached peers)",
                s.account,
                s.session.dc_id,
                s.session.addr,
                s.session.port,
                s.session.peers.len()
            ));
        }
        let bs = self.broadcasters();
        if bs.is_empty() {
            lines.push("no broadcaster reproduced: the original's TARGETS list or message sets are missing".into());
        } else {
            let names: Vec<String> = bs.iter().map(|(s, a)| format!("{s} on {a}")).collect();
            lines.push(format!("broadcasters: {}", names.join(", ")));
        }
        for (name, _) in self
            .message_sets
            .iter()
            .filter(|(n, _)| !SEED_BROADCASTERS.iter().any(|(s, _)| s == n))
        {
            lines.push(format!(
                "set `{name}` has no broadcaster: add [broadcasters.{name}] to post it"
            ));
        }
        for acc in self.accounts() {
            if !self.sessions.iter().any(|s| s.account == acc) {
                lines.push(format!("account `{acc}` has no session file: log it in with `sendmessagebot accounts login {acc}`"));
            }
        }
        if self.env_get("API_ID").is_none() || self.env_get("API_HASH").is_none() {
            lines.push(
                "API_ID / API_HASH are not in .env: add them (my.telegram.org) before logging in"
                    .into(),
            );
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_sets_and_lists() {
        assert_eq!(set_name("messages", "MESSAGES_B2B"), "b2b");
        assert_eq!(set_name("messages", "B2C_MESSAGES"), "b2c");
        assert_eq!(set_name("messages_aaa", "MESSAGES"), "aaa");
        assert_eq!(set_name("messages_gus", "GUS"), "gus");
        assert_eq!(set_name("messages_new", "MESSAGESNEW"), "new");
        assert_eq!(set_name("messages", "MESSAGES"), "default");
        assert_eq!(list_name("TARGETS"), "prod");
        assert_eq!(list_name("TEST_TARGETS"), "test");
        assert_eq!(list_name("NEW_TARGETS"), "new");
    }

    #[test]
    fn env_lines() {
        let (mut issues, mut changed) = (Vec::new(), Vec::new());
        let env = parse_env(
            b"\xef\xbb\xbf# c\nAPI_ID=123\nexport API_HASH=\"ab cd\"\nDELAY=15  # seconds\nbroken line\nX='y # z'\nAPI_ID=456\nWEBHOOK_SECRET=Pr1ce$ecret2024\n",
            |_| None,
            &mut issues,
            &mut changed,
        );
        assert_eq!(
            env,
            [
                ("API_ID".to_string(), "456".to_string()),
                ("API_HASH".into(), "ab cd".into()),
                ("DELAY".into(), "15".into()),
                ("X".into(), "y # z".into()),
                ("WEBHOOK_SECRET".into(), "Pr1ce$ecret2024".into())
            ]
        );
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, Some(5));
        let mut issues = Vec::new();
        assert!(parse_env(b"A=1\nB=\xcf\xf0\n", |_| None, &mut issues, &mut changed).is_empty());
        assert_eq!(issues[0].line, Some(2));
        assert!(issues[0].message.contains("UTF-8"), "{}", issues[0].message);
        let mut issues = Vec::new();
        let env = parse_env(
            b"D=${HOME_X}/data\n",
            |k| (k == "HOME_X").then(|| "/srv".into()),
            &mut issues,
            &mut changed,
        );
        assert_eq!(env, [("D".to_string(), "/srv/data".to_string())]);
        // Imported, so not among what was not: listed as changed on import.
        assert_eq!(issues.len(), 0, "{issues:?}");
        assert_eq!(changed.len(), 1);
        assert!(
            changed[0]
                .message
                .starts_with("D: its ${…} reference was replaced by today's value"),
            "{changed:?}"
        );
    }
}
