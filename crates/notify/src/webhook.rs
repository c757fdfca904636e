//! Webhook notifications: a JSON POST (schema in `crates/notify/WEBHOOK.md`), signed with
//! `X-Signature: sha256=<hex HMAC-SHA256 of the body>` when `WEBHOOK_SECRET` is set.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{KeyInit, Mac};

use crate::botapi::{BotApiError, error_chain, http_client};
use crate::notification::Notification;
use crate::notifier::{DeliveryError, NotificationChannel};
use crate::settings::Secret;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a received signature in constant time (for receivers written in Rust, and tests).
pub fn verify_signature(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// `url` as it may be shown: scheme, host and port, with `/…` when a path, query or fragment
/// was cut. A webhook URL often carries the receiving service's key in its path or query
/// (`?key=…`), and user:password before the host; none of it is printed (SECURITY.md).
pub fn redacted_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let cut = if end < rest.len() || host.len() < authority.len() {
        "/…"
    } else {
        ""
    };
    match scheme {
        Some(s) => format!("{s}://{host}{cut}"),
        None => format!("{host}{cut}"),
    }
}

/// The webhook channel.
#[derive(Clone)]
pub struct Webhook {
    http: reqwest::Client,
    url: String,
    secret: Option<Secret>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token of the receiving service: show its host part only.
        f.debug_struct("Webhook")
            .field("url", &redacted_url(&self.url))
            .field("secret", &self.secret)
            .finish()
    }
}

impl Webhook {
    pub fn new(
        url: String,
        secret: Option<Secret>,
        timeout: Duration,
    ) -> Result<Webhook, BotApiError> {
        Ok(Webhook::with_client(http_client(timeout)?, url, secret))
    }

    /// A webhook over a given reqwest client (tests on a paused clock pass one without timers).
    pub fn with_client(http: reqwest::Client, url: String, secret: Option<Secret>) -> Webhook {
        Webhook { http, url, secret }
    }
}

#[async_trait]
impl NotificationChannel for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&notification.to_json()).map_err(|e| {
            DeliveryError::Permanent(format!("cannot encode the notification: {e}"))
        })?;
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Transient {
                detail: format!("webhook unreachable: {}", error_chain(&e.without_url())),
                retry_after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let detail = format!("webhook answered {status}");
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(DeliveryError::Transient {
                detail,
                retry_after,
            })
        } else {
            Err(DeliveryError::Permanent(detail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_url_path_query_and_password_are_redacted() {
        assert_eq!(
            redacted_url("https://hooks.example.com/services/T0/B1/xyz?key=SECRET"),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            redacted_url("http://user:pw@127.0.0.1:9000"),
            "http://127.0.0.1:9000/…"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(redacted_url("ftp://hooks?key=SECRET"), "ftp://hooks/…");
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = signature(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_signature(
            &Secret::new("Jefe"),
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!verify_signature(&Secret::new("Jefe"), b"tampered", &sig));
    }
}
