//! A small Telegram Bot API client (`sendMessage`, `getMe`) for reports and admin notifications.
//!
//! The token is part of every request URL (`/bot<token>/method`), so nothing here ever shows a
//! URL: reqwest errors are stripped of theirs and every text is passed through
//! [`Secret::redact`] before it becomes an error.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::settings::{BotSettings, Secret};

/// Installs rustls' `ring` provider for the process. reqwest is built without a provider of its
/// own (to keep aws-lc out of the build) and panics when a client is built before one exists.
/// Calling it again is harmless.
pub fn install_crypto_provider() {
    // Err means a provider is already installed: exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the HTTP client used for the Bot API and webhooks.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BotApiError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sendmessagebot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BotApiError::Http {
            detail: error_chain(&e.without_url()),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum BotApiError {
    #[error("REPORTS_BOT_TOKEN is not set: put the bot token from @BotFather into .env")]
    NoToken,
    #[error("REPORTS_BOT_TOKEN was rejected by Telegram (401): check the token from @BotFather")]
    Unauthorized,
    #[error("Telegram Bot API refused {method} ({code}): {description}")]
    Api {
        method: &'static str,
        code: u16,
        description: String,
    },
    #[error("Telegram Bot API still asks to wait {retry_after:?} after {attempts} attempts")]
    RateLimited {
        retry_after: Duration,
        attempts: u32,
    },
    #[error("could not reach the Telegram Bot API: {detail}")]
    Http { detail: String },
}

impl BotApiError {
    /// True when repeating the same request cannot help (bad token, chat not found, bot not in
    /// the channel, malformed HTML).
    pub fn is_permanent(&self) -> bool {
        match self {
            BotApiError::NoToken | BotApiError::Unauthorized => true,
            BotApiError::Api { code, .. } => *code < 500 && *code != 429,
            BotApiError::RateLimited { .. } | BotApiError::Http { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BotApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The Bot API client. Cheap to clone.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: Secret,
    max_rate_limited_attempts: u32,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

#[derive(Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ReplyParameters>,
}

#[derive(Deserialize)]
struct ReplyParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

impl BotApi {
    /// A client for the bot in `REPORTS_BOT_TOKEN`, at `TELEGRAM_BOT_API_URL`.
    pub fn new(settings: &BotSettings) -> Result<BotApi, BotApiError> {
        let token = settings.token.clone().ok_or(BotApiError::NoToken)?;
        Ok(BotApi::with_client(
            http_client(settings.timeout)?,
            &settings.api_url,
            token,
        ))
    }

    /// A client over a given reqwest client (tests on a paused clock pass one without timers).
    pub fn with_client(http: reqwest::Client, api_url: &str, token: Secret) -> BotApi {
        BotApi {
            http,
            base: api_url.trim_end_matches('/').to_owned(),
            token,
            max_rate_limited_attempts: 5,
        }
    }

    /// How many times a request answered with 429 is tried in all (each after the
    /// `retry_after` Telegram asked for) before [`BotApiError::RateLimited`] is returned.
    pub fn with_rate_limited_attempts(mut self, attempts: u32) -> BotApi {
        self.max_rate_limited_attempts = attempts.max(1);
        self
    }

    /// Sends an HTML message; returns Telegram's message id.
    pub async fn send_message(&self, chat_id: &str, html: &str) -> Result<i64, BotApiError> {
        let chat: serde_json::Value = match chat_id.parse::<i64>() {
            Ok(id) => json!(id),
            Err(_) => json!(chat_id),
        };
        let body = json!({
            "chat_id": chat,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        let result = self.call("sendMessage", &body).await?;
        Ok(result
            .get("message_id")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or_default())
    }

    /// Checks the token; returns the bot's @username.
    pub async fn get_me(&self) -> Result<String, BotApiError> {
        let result = self.call("getMe", &json!({})).await?;
        Ok(result
            .get("username")
            .and_then(serde_json::Value::as_str)
            .map(|u| format!("@{u}"))
            .unwrap_or_default())
    }

    async fn call(
        &self,
        method: &'static str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, BotApiError> {
        let url = format!("{}/bot{}/{}", self.base, self.token.expose(), method);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .http
                .post(&url)
                .json(body)
                .send()
                .await
                .map_err(|e| self.http_error(e))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| self.http_error(e))?;
            let reply: Option<Reply> = serde_json::from_slice(&bytes).ok();

            if status == 401 {
                return Err(BotApiError::Unauthorized);
            }
            if let Some(reply) = &reply
                && reply.ok
            {
                return Ok(reply.result.clone().unwrap_or(serde_json::Value::Null));
            }
            let code = reply.as_ref().and_then(|r| r.error_code).unwrap_or(status);
            let description = reply
                .as_ref()
                .and_then(|r| r.description.clone())
                .unwrap_or_else(|| format!("HTTP {status} without a Bot API reply"));
            if code == 429 {
                let retry_after = Duration::from_secs(
                    reply
                        .as_ref()
                        .and_then(|r| r.parameters.as_ref())
                        .and_then(|p| p.retry_after)
                        .unwrap_or(1)
                        .max(1),
                );
                if attempt >= self.max_rate_limited_attempts {
                    return Err(BotApiError::RateLimited {
                        retry_after,
                        attempts: attempt,
                    });
                }
                tracing::warn!(method, ?retry_after, attempt, "Bot API rate limit: waiting");
                tokio::time::sleep(retry_after).await;
                continue;
            }
            let mut description = self.token.redact(&description);
            if code == 404 {
                // Telegram answers 404 (not 401) to a token that is not even well-formed.
                description.push_str(
                    " (is REPORTS_BOT_TOKEN complete, like 123456:ABC…, and TELEGRAM_BOT_API_URL right?)",
                );
            }
            return Err(BotApiError::Api {
                method,
                code,
                description,
            });
        }
    }

    fn http_error(&self, e: reqwest::Error) -> BotApiError {
        BotApiError::Http {
            detail: self.token.redact(&error_chain(&e.without_url())),
        }
    }
}

/// An error and its sources on one line: reqwest's own text is only "error sending request".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        install_crypto_provider();
        let api = BotApi::with_client(
            reqwest::Client::new(),
            "http://127.0.0.1:1/",
            Secret::new("123:SECRET"),
        );
        let debug = format!("{api:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("http://127.0.0.1:1"), "{debug}");
    }

    #[tokio::test]
    async fn a_connection_error_does_not_show_the_token() {
        install_crypto_provider();
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let api = BotApi::with_client(
            reqwest::Client::new(),
            "http://127.0.0.1:1",
            Secret::new("123:SECRET"),
        );
        let err = api.send_message("42", "hi").await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(matches!(err, BotApiError::Http { .. }), "{text}");
        assert!(!err.is_permanent());
    }
}
