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
            let entries =
                smb_sources::dotenv::read(&bytes, |k| std::env::var(k).ok()).map_err(|e| {
                    ConfigError::Toml {
                        path: format!("{name}:{}", e.line),
                        message: format!("{}; see README, Configuration (.env)", e.message),
                    }
                })?;
            for (k, v, _line) in entries {
                vars.insert(k, (v, name.clone()));
            }
        }
        for (k, v) in std::env::vars() {
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
            value,
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
