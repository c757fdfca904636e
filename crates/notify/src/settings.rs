//! Settings of reports, notifications and webhooks, read from the seed's `.env` names.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `TELEGRAM_BOT_API_URL` | `https://api.telegram.org` | Bot API base URL (a local Bot API server, or a test double) |
//! | `REPORTS_BOT_TOKEN` | — | the bot that posts reports and admin notifications |
//! | `ENABLE_REPORTS` | `false` | post periodic reports to `REPORTS_CHANNEL_ID` |
//! | `REPORTS_CHANNEL_ID` | — | `-100…` id or `@channel` |
//! | `REPORT_INTERVAL_HOURS` | `12` | slots aligned to local midnight in `REPORTS_TIMEZONE` |
//! | `REPORTS_TIMEZONE` | `Europe/Moscow` | IANA time zone name |
//! | `ENABLE_TELEGRAM_NOTIFICATIONS` | `false` | send notifications to `ADMIN_TELEGRAM_ID` through the bot |
//! | `ADMIN_TELEGRAM_ID` | — | the admin's numeric user id (the admin must have started the bot) |
//! | `ENABLE_WEBHOOK_NOTIFICATIONS` | `false` | POST notifications to `WEBHOOK_URL` (see WEBHOOK.md) |
//! | `WEBHOOK_URL` | — | `http(s)://…` |
//! | `WEBHOOK_SECRET` | — | HMAC-SHA256 key for the `X-Signature` header |
//! | `NOTIFICATION_LEVEL` | `INFO` | `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` |
//! | `NOTIFY_FLOOD_WAIT_THRESHOLD` | `300` | a flood wait of at least this many seconds is a WARNING |
//! | `NOTIFY_COLLAPSE_HOURS` | `6` | an identical event is notified once per this many hours |
//! | `NOTIFY_QUEUE_SIZE` | `1000` | notifications waiting per channel before INFO ones are dropped |
//! | `NOTIFY_MAX_ATTEMPTS` | `5` | delivery attempts per notification and channel |
//! | `NOTIFY_RETRY_DELAY` | `2` | seconds before the first retry; doubles each attempt |
//! | `NOTIFY_HTTP_TIMEOUT` | `15` | seconds for one HTTP request to the Bot API or the webhook |

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::tz::TimeZone;

/// A secret string (bot token, webhook key) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: only for building a request, never for a message or a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` (e.g. an error that quotes a URL).
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "<redacted>")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Severity of a notification; `NOTIFICATION_LEVEL` is the lowest one delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NotifyLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::Debug => "DEBUG",
            NotifyLevel::Info => "INFO",
            NotifyLevel::Warning => "WARNING",
            NotifyLevel::Error => "ERROR",
            NotifyLevel::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for NotifyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotifyLevel {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => Ok(NotifyLevel::Debug),
            "INFO" => Ok(NotifyLevel::Info),
            "WARNING" | "WARN" => Ok(NotifyLevel::Warning),
            "ERROR" => Ok(NotifyLevel::Error),
            "CRITICAL" | "FATAL" => Ok(NotifyLevel::Critical),
            _ => Err(SettingsError::Invalid {
                name: "NOTIFICATION_LEVEL",
                value: s.to_owned(),
                expected: "DEBUG, INFO, WARNING, ERROR or CRITICAL",
            }),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{enabled_by}=true needs {name}: {hint}")]
    Missing {
        enabled_by: &'static str,
        name: &'static str,
        hint: &'static str,
    },
}

/// How to reach the Telegram Bot API.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// Base URL without the `/bot<token>` part (`TELEGRAM_BOT_API_URL`).
    pub api_url: String,
    /// `REPORTS_BOT_TOKEN`.
    pub token: Option<Secret>,
    /// Limit for one HTTP request (`NOTIFY_HTTP_TIMEOUT`).
    pub timeout: Duration,
}

/// Periodic reports to a channel.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub enabled: bool,
    pub channel_id: Option<String>,
    pub interval_hours: u32,
    pub timezone: TimeZone,
}

/// Signed webhook notifications.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub enabled: bool,
    pub url: Option<String>,
    pub secret: Option<Secret>,
}

/// How notifications are filtered, collapsed, queued and retried.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    pub level: NotifyLevel,
    pub flood_wait_threshold: Duration,
    pub collapse_window: Duration,
    pub queue_capacity: usize,
    pub max_attempts: u32,
    pub retry_delay: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            level: NotifyLevel::Info,
            flood_wait_threshold: Duration::from_secs(300),
            collapse_window: Duration::from_secs(6 * 3600),
            queue_capacity: 1000,
            max_attempts: 5,
            retry_delay: Duration::from_secs(2),
        }
    }
}

/// Everything this crate reads from the environment.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub bot: BotSettings,
    pub reports: ReportSettings,
    /// `ENABLE_TELEGRAM_NOTIFICATIONS`.
    pub telegram_enabled: bool,
    /// `ADMIN_TELEGRAM_ID`.
    pub admin_telegram_id: Option<String>,
    pub webhook: WebhookSettings,
    pub notifier: NotifierOptions,
}

pub const DEFAULT_BOT_API_URL: &str = "https://api.telegram.org";

impl NotifySettings {
    /// Reads the settings from a map of environment variables (`.env` merged with the process
    /// environment by the caller). Empty values count as unset.
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let api_url = get("TELEGRAM_BOT_API_URL").unwrap_or(DEFAULT_BOT_API_URL);
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(SettingsError::Invalid {
                name: "TELEGRAM_BOT_API_URL",
                value: api_url.to_owned(),
                expected: "an http:// or https:// URL such as https://api.telegram.org",
            });
        }
        let bot = BotSettings {
            api_url: api_url.trim_end_matches('/').to_owned(),
            token: get("REPORTS_BOT_TOKEN").map(Secret::new),
            timeout: Duration::from_secs(parse_num(env, "NOTIFY_HTTP_TIMEOUT", 15, 1, 600)?),
        };

        let timezone_name = get("REPORTS_TIMEZONE").unwrap_or("Europe/Moscow");
        let timezone = TimeZone::get(timezone_name).map_err(|_| SettingsError::Invalid {
            name: "REPORTS_TIMEZONE",
            value: timezone_name.to_owned(),
            expected: "an IANA time zone name such as Europe/Moscow",
        })?;
        let reports = ReportSettings {
            enabled: parse_bool(env, "ENABLE_REPORTS", false)?,
            channel_id: get("REPORTS_CHANNEL_ID").map(str::to_owned),
            interval_hours: parse_num(env, "REPORT_INTERVAL_HOURS", 12, 1, 24 * 31)? as u32,
            timezone,
        };

        let webhook = WebhookSettings {
            enabled: parse_bool(env, "ENABLE_WEBHOOK_NOTIFICATIONS", false)?,
            url: get("WEBHOOK_URL").map(str::to_owned),
            secret: get("WEBHOOK_SECRET").map(Secret::new),
        };

        let notifier = NotifierOptions {
            level: get("NOTIFICATION_LEVEL")
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            flood_wait_threshold: Duration::from_secs(parse_num(
                env,
                "NOTIFY_FLOOD_WAIT_THRESHOLD",
                300,
                0,
                u64::from(u32::MAX),
            )?),
            collapse_window: Duration::from_secs(
                parse_num(env, "NOTIFY_COLLAPSE_HOURS", 6, 0, 24 * 365)? * 3600,
            ),
            queue_capacity: parse_num(env, "NOTIFY_QUEUE_SIZE", 1000, 1, 1_000_000)? as usize,
            max_attempts: parse_num(env, "NOTIFY_MAX_ATTEMPTS", 5, 1, 100)? as u32,
            retry_delay: Duration::from_secs(parse_num(env, "NOTIFY_RETRY_DELAY", 2, 0, 3600)?),
        };

        let settings = NotifySettings {
            bot,
            reports,
            telegram_enabled: parse_bool(env, "ENABLE_TELEGRAM_NOTIFICATIONS", false)?,
            admin_telegram_id: get("ADMIN_TELEGRAM_ID").map(str::to_owned),
            webhook,
            notifier,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Refuses a feature that is switched on without what it needs.
    fn check(&self) -> Result<(), SettingsError> {
        if self.reports.enabled {
            if self.bot.token.is_none() {
                return Err(missing("ENABLE_REPORTS", "REPORTS_BOT_TOKEN", TOKEN_HINT));
            }
            match &self.reports.channel_id {
                None => return Err(missing("ENABLE_REPORTS", "REPORTS_CHANNEL_ID", CHAT_HINT)),
                Some(id) => check_chat_id("REPORTS_CHANNEL_ID", id)?,
            }
        }
        if self.telegram_enabled {
            if self.bot.token.is_none() {
                return Err(missing(
                    "ENABLE_TELEGRAM_NOTIFICATIONS",
                    "REPORTS_BOT_TOKEN",
                    TOKEN_HINT,
                ));
            }
            match &self.admin_telegram_id {
                None => {
                    return Err(missing(
                        "ENABLE_TELEGRAM_NOTIFICATIONS",
                        "ADMIN_TELEGRAM_ID",
                        "the admin's numeric Telegram user id (ask @userinfobot)",
                    ));
                }
                Some(id) => check_chat_id("ADMIN_TELEGRAM_ID", id)?,
            }
        }
        if self.webhook.enabled {
            match &self.webhook.url {
                None => {
                    return Err(missing(
                        "ENABLE_WEBHOOK_NOTIFICATIONS",
                        "WEBHOOK_URL",
                        "the http(s):// address that receives the JSON notifications",
                    ));
                }
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(SettingsError::Invalid {
                        name: "WEBHOOK_URL",
                        // Its path and query may hold the receiver's key.
                        value: crate::webhook::redacted_url(url),
                        expected: "an http:// or https:// URL",
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

const TOKEN_HINT: &str = "the bot token from @BotFather (123456:ABC…)";
const CHAT_HINT: &str = "the channel's id (-100…) or @username; the bot must be an admin there";

fn missing(enabled_by: &'static str, name: &'static str, hint: &'static str) -> SettingsError {
    SettingsError::Missing {
        enabled_by,
        name,
        hint,
    }
}

fn check_chat_id(name: &'static str, id: &str) -> Result<(), SettingsError> {
    let numeric = id.parse::<i64>().is_ok();
    let username = id
        .strip_prefix('@')
        .is_some_and(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if numeric || username {
        Ok(())
    } else {
        Err(SettingsError::Invalid {
            name,
            value: id.to_owned(),
            expected: "a numeric chat id (-100… for channels) or @username",
        })
    }
}

fn parse_bool(
    env: &HashMap<String, String>,
    name: &'static str,
    default: bool,
) -> Result<bool, SettingsError> {
    let Some(raw) = env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    smb_domain::parse_flag(raw).ok_or_else(|| SettingsError::Invalid {
        name,
        value: raw.to_owned(),
        expected: "true or false",
    })
}

fn parse_num(
    env: &HashMap<String, String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, SettingsError> {
    let Some(raw) = env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SettingsError::Invalid {
            name,
            value: raw.to_owned(),
            expected: "a whole number in the allowed range (see the settings table in the docs)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_seed() {
        let s = NotifySettings::from_env_map(&HashMap::new()).unwrap();
        assert_eq!(s.bot.api_url, DEFAULT_BOT_API_URL);
        assert!(!s.reports.enabled);
        assert_eq!(s.reports.interval_hours, 12);
        assert_eq!(s.reports.timezone.iana_name(), Some("Europe/Moscow"));
        assert_eq!(s.notifier.level, NotifyLevel::Info);
    }

    #[test]
    fn reads_every_name() {
        let s = NotifySettings::from_env_map(&env(&[
            ("TELEGRAM_BOT_API_URL", "http://127.0.0.1:8081/"),
            ("REPORTS_BOT_TOKEN", "123:abc"),
            ("ENABLE_REPORTS", "true"),
            ("REPORTS_CHANNEL_ID", "-1001234"),
            ("REPORT_INTERVAL_HOURS", "6"),
            ("REPORTS_TIMEZONE", "Europe/Berlin"),
            ("ENABLE_TELEGRAM_NOTIFICATIONS", "yes"),
            ("ADMIN_TELEGRAM_ID", "42"),
            ("ENABLE_WEBHOOK_NOTIFICATIONS", "1"),
            ("WEBHOOK_URL", "https://example.invalid/hook"),
            ("WEBHOOK_SECRET", "s3cret"),
            ("NOTIFICATION_LEVEL", "warning"),
        ]))
        .unwrap();
        assert_eq!(s.bot.api_url, "http://127.0.0.1:8081");
        assert_eq!(s.bot.token.as_ref().map(Secret::expose), Some("123:abc"));
        assert_eq!(s.reports.interval_hours, 6);
        assert!(s.telegram_enabled && s.webhook.enabled && s.reports.enabled);
        assert_eq!(s.notifier.level, NotifyLevel::Warning);
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("123:abc") && !debug.contains("s3cret"),
            "{debug}"
        );
    }

    #[test]
    fn enabled_without_what_it_needs_is_refused_with_a_hint() {
        let err = NotifySettings::from_env_map(&env(&[("ENABLE_REPORTS", "true")])).unwrap_err();
        assert_eq!(
            err,
            missing("ENABLE_REPORTS", "REPORTS_BOT_TOKEN", TOKEN_HINT)
        );
        let err = NotifySettings::from_env_map(&env(&[("REPORTS_TIMEZONE", "Mars/Olympus")]))
            .unwrap_err();
        assert!(err.to_string().contains("REPORTS_TIMEZONE"));
        let err =
            NotifySettings::from_env_map(&env(&[("NOTIFICATION_LEVEL", "LOUD")])).unwrap_err();
        assert!(err.to_string().contains("NOTIFICATION_LEVEL"));
    }
}
