//! The web server's settings: `WEB_BIND`, `WEB_TOKEN`, `LANG`, and the rule that a server
//! reachable from other machines needs a token.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `WEB_BIND` | `127.0.0.1:8080` | address of the dashboard and API (`127.0.0.1:0`: any free port) |
//! | `WEB_TOKEN` | none | bearer token for every change (and for everything off loopback) |
//! | `LANG` | `en` | dashboard labels: a value starting with `ru` gives Russian, else English |

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use subtle::ConstantTimeEq;

/// Where the dashboard is served unless `WEB_BIND` says otherwise.
pub const DEFAULT_WEB_BIND: &str = "127.0.0.1:8080";

/// The shortest `WEB_TOKEN` accepted: long enough that guessing it over HTTP is hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum WebSettingsError {
    #[error("WEB_BIND={value:?} is not valid: expected an address and port such as 127.0.0.1:8080")]
    Bind { value: String },
    #[error(
        "WEB_BIND={bind} is reachable from other machines, and WEB_TOKEN is not set: set WEB_TOKEN \
         (for example `openssl rand -hex 32`), bind to 127.0.0.1, or run with --no-web"
    )]
    TokenRequired { bind: SocketAddr },
    #[error(
        "WEB_TOKEN is too short: use at least {MIN_TOKEN_LEN} characters (for example `openssl rand -hex 32`)"
    )]
    TokenTooShort,
    /// The token travels in a cookie and an `Authorization` header: outside the characters
    /// both carry (RFC 6265 cookie-octet: visible ASCII except `"` `,` `;` `\\`), it could
    /// never authenticate. The message names the position, never the token.
    #[error(
        "WEB_TOKEN has a character a browser cannot send back (at position {position}): use only \
         letters, digits and visible ASCII punctuation other than \" , ; \\ (for example `openssl rand -hex 32`)"
    )]
    TokenCharacters { position: usize },
}

/// The bearer token. Its `Debug` hides it; it is compared in constant time.
#[derive(Clone)]
pub struct WebToken(String);

impl WebToken {
    pub fn new(token: impl Into<String>) -> Result<Self, WebSettingsError> {
        let token = token.into();
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(WebSettingsError::TokenTooShort);
        }
        if let Some(i) = token.chars().position(|c| !is_cookie_octet(c)) {
            return Err(WebSettingsError::TokenCharacters { position: i + 1 });
        }
        Ok(WebToken(token))
    }

    /// Constant-time comparison (for equal lengths; the length itself is not secret).
    pub fn matches(&self, offered: &str) -> bool {
        self.0.as_bytes().ct_eq(offered.as_bytes()).into()
    }

    /// The value the login form stores in the session cookie.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// RFC 6265 `cookie-octet`: `!`, `#`–`+`, `-`–`:`, `<`–`[`, `]`–`~`.
fn is_cookie_octet(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\')
}

impl fmt::Debug for WebToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebToken(<redacted>)")
    }
}

/// Dashboard language (the one type of `smb_domain`, so reasons are said in it too).
pub use smb_domain::Lang;

/// Settings of the web server.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub bind: SocketAddr,
    pub token: Option<WebToken>,
    /// Default dashboard language (a `?lang=` toggle overrides it per browser).
    pub lang: Lang,
}

impl WebSettings {
    /// From the merged `.env` + environment. Fails when the bind is not loopback and there is
    /// no token: such a server would let anyone on the network stop the broadcasts.
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self, WebSettingsError> {
        let settings = WebSettings::parse_env_map(env)?;
        settings.check()?;
        Ok(settings)
    }

    /// The values alone (a bad `WEB_BIND` or a short `WEB_TOKEN` is an error), without the
    /// rule of [`WebSettings::check`], which only matters when the server is to start.
    pub fn parse_env_map(env: &HashMap<String, String>) -> Result<Self, WebSettingsError> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let raw = get("WEB_BIND").unwrap_or(DEFAULT_WEB_BIND);
        let bind: SocketAddr = raw.parse().map_err(|_| WebSettingsError::Bind {
            value: raw.to_string(),
        })?;
        let token = get("WEB_TOKEN").map(WebToken::new).transpose()?;
        let lang = get("LANG").map(Lang::from_locale).unwrap_or_default();
        Ok(WebSettings { bind, token, lang })
    }

    /// True when every request (not only changes) needs the token: the bind is not loopback.
    pub fn token_for_everything(&self) -> bool {
        !self.bind.ip().is_loopback()
    }

    pub fn check(&self) -> Result<(), WebSettingsError> {
        if self.token_for_everything() && self.token.is_none() {
            return Err(WebSettingsError::TokenRequired { bind: self.bind });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn a_non_loopback_bind_needs_a_token() {
        let e = WebSettings::from_env_map(&env(&[("WEB_BIND", "0.0.0.0:8080")])).unwrap_err();
        assert!(matches!(e, WebSettingsError::TokenRequired { .. }), "{e}");
        let s = WebSettings::from_env_map(&env(&[
            ("WEB_BIND", "0.0.0.0:8080"),
            ("WEB_TOKEN", "0123456789abcdef"),
        ]))
        .unwrap();
        assert!(s.token_for_everything());
        let s = WebSettings::from_env_map(&env(&[])).unwrap();
        assert_eq!(s.bind.to_string(), DEFAULT_WEB_BIND);
        assert!(!s.token_for_everything() && s.token.is_none());
        let s = WebSettings::from_env_map(&env(&[("WEB_BIND", "[::1]:0")])).unwrap();
        assert!(!s.token_for_everything());
    }

    #[test]
    fn web_token_not_ascii_or_with_semicolon_is_refused() {
        for (token, position) in [
            ("0123456789abcdef;x", 17),
            ("пароль-пароль-пароль", 1),
            ("0123456789 abcdef", 11),
            ("0123456789abcdef\"", 17),
        ] {
            match WebToken::new(token) {
                Err(WebSettingsError::TokenCharacters { position: p }) => {
                    assert_eq!(p, position, "{token}");
                }
                other => panic!("{token}: {:?}", other.map(|_| ())),
            }
        }
        let msg = WebToken::new("secret-value;0123456789")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.starts_with("WEB_TOKEN has a character"), "{msg}");
        assert!(!msg.contains("secret-value"), "{msg}");
        assert!(WebToken::new("Aa0!#$%&'()*+-./:<=>?@[]^_`{|}~").is_ok());
    }

    #[test]
    fn tokens_are_checked_hidden_and_compared() {
        assert!(matches!(
            WebToken::new("short"),
            Err(WebSettingsError::TokenTooShort)
        ));
        let t = WebToken::new("0123456789abcdef").unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeF"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "WebToken(<redacted>)");
        assert!(
            !format!(
                "{:?}",
                WebSettings {
                    bind: "127.0.0.1:1".parse().unwrap(),
                    token: Some(t),
                    lang: Lang::En
                }
            )
            .contains("0123")
        );
        assert!(matches!(
            WebSettings::from_env_map(&env(&[("WEB_BIND", "nope")])),
            Err(WebSettingsError::Bind { .. })
        ));
    }

    #[test]
    fn lang_follows_the_locale() {
        assert_eq!(Lang::from_locale("ru_RU.UTF-8"), Lang::Ru);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("en_US"), Lang::En);
    }
}
