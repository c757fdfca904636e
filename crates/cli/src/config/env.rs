//! `.env` and the process environment, merged (the environment wins), each value remembering
//! where it was set so an error can say `.env: NAME=value` or `environment: NAME=value`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::ConfigError;
use super::duration::parse_duration;

/// Variables read from `.env` and the environment, remembering where each came from.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    vars: HashMap<String, (String, String)>,
}

impl EnvVars {
    /// `.env` (when present) then the process environment, which wins.
    pub fn load(env_file: &Path) -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        let name = env_file.display().to_string();
        if env_file.exists() {
            // python-dotenv's rules (the original's reader): `$NAME` is literal, `${NAME}` a
            // reference, a BOM is skipped; an unreadable line is named, its value never shown.
            let bytes = std::fs::read(env_file).map_err(|e| ConfigError::Toml {
                path: name.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let text = smb_sources::dotenv::decode(&bytes)
                .map_err(|e| lines_error(&name, std::slice::from_ref(&e)))?;
            let (entries, errors) = smb_sources::dotenv::parse(&text);
            if !errors.is_empty() {
                // Every unreadable line at once: fixing one must not reveal the next.
                return Err(lines_error(&name, &errors));
            }
            for (k, v, _line) in smb_sources::dotenv::resolve(&entries, |k| std::env::var(k).ok()) {
                vars.insert(k, (v, name.clone()));
            }
        }
        for (k, v) in std::env::vars() {
            // LANG in the environment is the system's locale, set for every program; LANG in
            // `.env` is a choice for this one (the dashboard's language), so `.env` keeps it.
            if k == "LANG" && vars.contains_key("LANG") {
                continue;
            }
            vars.insert(k, (v, "environment".into()));
        }
        Ok(EnvVars { vars })
    }

    /// Variables given as pairs, each said to come from the "environment" (tests, and
    /// callers that read no files).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        EnvVars {
            vars: pairs
                .iter()
                .map(|(k, v)| ((*k).into(), ((*v).into(), "environment".into())))
                .collect(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<(&str, &str)> {
        self.vars
            .get(name)
            .map(|(v, s)| (v.as_str(), s.as_str()))
            .filter(|(v, _)| !v.trim().is_empty())
    }

    pub(super) fn err(&self, name: &str, message: impl Into<String>) -> ConfigError {
        let (value, source) = self.vars.get(name).cloned().unwrap_or_default();
        ConfigError::Env {
            source_name: source,
            var: name.into(),
            value: shown_value(name, &value),
            message: message.into(),
        }
    }

    pub(super) fn duration(&self, name: &str) -> Result<Option<Duration>, ConfigError> {
        self.get(name)
            .map(|(v, _)| parse_duration(v).map_err(|m| self.err(name, m)))
            .transpose()
    }

    pub(super) fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.get(name)
            .map(|(v, _)| {
                smb_domain::parse_flag(v).ok_or_else(|| self.err(name, "expected true or false"))
            })
            .transpose()
    }

    pub(super) fn hour(&self, name: &str) -> Result<Option<u8>, ConfigError> {
        self.get(name)
            .map(|(v, _)| match v.trim().parse::<u8>() {
                Ok(h) if h < 24 => Ok(h),
                _ => Err(self.err(name, "expected an hour from 0 to 23")),
            })
            .transpose()
    }

    pub(super) fn u32(&self, name: &str) -> Result<Option<u32>, ConfigError> {
        self.get(name)
            .map(|(v, _)| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| self.err(name, "expected a whole number"))
            })
            .transpose()
    }

    /// Only the variables `keep` accepts (the settings parser sees the listed names only).
    pub fn restricted(&self, keep: impl Fn(&str) -> bool) -> EnvVars {
        EnvVars {
            vars: self
                .vars
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// `names` and their values (those that are set).
    pub fn map_of(&self, names: &[&str]) -> HashMap<String, String> {
        names
            .iter()
            .filter_map(|n| self.vars.get(*n).map(|(v, _)| ((*n).to_owned(), v.clone())))
            .collect()
    }

    /// Where `name` was set: the `.env` file's name or "environment".
    pub fn origin(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|(_, s)| s.clone())
    }

    pub fn map(&self) -> HashMap<String, String> {
        self.vars
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

/// The unreadable lines of `.env` as one error: the first line's place, then each other line
/// as `FILE:LINE: why` (never the line's text: it may hold a secret).
fn lines_error(file: &str, errors: &[smb_sources::dotenv::LineError]) -> ConfigError {
    let Some((first, rest)) = errors.split_first() else {
        return ConfigError::Toml {
            path: file.to_owned(),
            message: "cannot be read".to_owned(),
        };
    };
    let mut message = first.message.clone();
    for e in rest {
        message.push_str(&format!("\n  {file}:{}: {}", e.line, e.message));
    }
    if rest.is_empty() {
        message.push_str("; see README, Configuration (.env)");
    } else {
        message.push_str(&format!(
            "\n  ({} lines cannot be read; see README, Configuration (.env))",
            errors.len()
        ));
    }
    ConfigError::Toml {
        path: format!("{file}:{}", first.line),
        message,
    }
}

/// The names `.env` sets that SendMessageBot does not read but that look like its own
/// (`crate::sections::misspelling_of`: close to a known name, or our `SMB_` prefix), each as
/// a warning naming the file, the line and the name meant — never the value. A file that
/// cannot be read gives none here: [`EnvVars::load`] reports it.
pub fn unknown_names(env_file: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(env_file) else {
        return Vec::new();
    };
    let Ok(text) = smb_sources::dotenv::decode(&bytes) else {
        return Vec::new();
    };
    let file = env_file.display();
    smb_sources::dotenv::parse(&text)
        .0
        .iter()
        .filter_map(|e| {
            let hint = crate::sections::unknown_name_hint(&e.key)?;
            Some(format!(
                "{file}:{}: {} is not a SendMessageBot setting and is ignored; {hint}",
                e.line, e.key
            ))
        })
        .collect()
}

/// A variable whose value is a secret (SECURITY.md): never quoted back in an error.
pub fn is_secret(name: &str) -> bool {
    [
        "HASH",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSPHRASE",
        "KEY",
        "CREDENTIALS",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// How an error shows a variable's value: `(hidden)` for a secret variable, and any URL
/// password or `secret=` parameter masked in the others (`postgres://u:***@host/db`).
pub fn shown_value(name: &str, value: &str) -> String {
    if is_secret(name) {
        "(hidden)".to_owned()
    } else {
        smb_domain::redact::redact(value)
    }
}
