//! One account's connection: a grammers `Client` over a `SenderPool` with `NoRetries` (the
//! engine schedules every wait, not the library), a timeout on every call, and the mapping of
//! grammers' errors onto the engine's `SendError`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, InvocationError, NoRetries, SenderPool};
use grammers_tl_types::RemoteCall;
use secrecy::{ExposeSecret, SecretString};
use smb_domain::SendError;
use tokio::task::JoinHandle;

use super::session::{LiveSession, SessionError, SessionStore, StoredSession};

/// What every account shares: the application's API credentials and call limits.
#[derive(Clone)]
pub struct ApiSettings {
    pub api_id: i32,
    pub api_hash: SecretString,
    /// The longest any one call may take before it counts as a transient failure.
    pub call_timeout: Duration,
    pub device_model: String,
    pub app_version: String,
}

impl fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSettings")
            .field("api_id", &self.api_id)
            .field("api_hash", &"<redacted>")
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

impl ApiSettings {
    pub fn new(api_id: i32, api_hash: SecretString) -> Self {
        ApiSettings {
            api_id,
            api_hash,
            call_timeout: Duration::from_secs(30),
            device_model: "SendMessageBot".to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "MTProto proxies (PROXY_PROTOCOL=mtproto) are not supported by the Telegram library SendMessageBot uses; use a SOCKS5 proxy (`socks5://user:pass@host:port`) or none"
    )]
    MtprotoUnsupported,
    #[error("proxy scheme `{0}` is not supported; use `socks5://user:pass@host:port`")]
    UnsupportedScheme(String),
    #[error("proxy address is not `socks5://[user:pass@]host:port`")]
    Invalid,
}

/// A SOCKS5 proxy URL; it may hold a password, so it never prints.
#[derive(Clone)]
pub struct ProxyUrl(SecretString);

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.display())
    }
}

impl ProxyUrl {
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(ProxyError::Invalid);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "socks5" => {}
            "mtproto" | "tg" | "mtproxy" => return Err(ProxyError::MtprotoUnsupported),
            other => return Err(ProxyError::UnsupportedScheme(other.to_owned())),
        }
        let host_port = rest
            .rsplit_once('@')
            .map_or(rest, |(_, hp)| hp)
            .trim_end_matches('/');
        let ok = host_port
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if ok {
            Ok(ProxyUrl(SecretString::from(url.to_owned())))
        } else {
            Err(ProxyError::Invalid)
        }
    }

    /// The seed's `.env` form: PROXY_ENABLED, PROXY_PROTOCOL, PROXY_ADDR, PROXY_PORT.
    pub fn from_seed_env(
        enabled: bool,
        protocol: Option<&str>,
        addr: &str,
        port: &str,
    ) -> Result<Option<Self>, ProxyError> {
        if !enabled {
            return Ok(None);
        }
        match protocol.map(str::to_ascii_lowercase).as_deref() {
            Some("socks5") | None => Self::parse(&format!("socks5://{addr}:{port}")).map(Some),
            Some("mtproto") => Err(ProxyError::MtprotoUnsupported),
            Some(other) => Err(ProxyError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// `socks5://host:port` without credentials, for `accounts list`.
    pub fn display(&self) -> String {
        let url = self.0.expose_secret();
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
                format!("{scheme}://{host}")
            }
            None => "<proxy>".to_owned(),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A connected account.
pub struct AccountClient {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) session: Arc<LiveSession>,
    timeout: Duration,
    runner: JoinHandle<()>,
    /// Strings that must never appear in an error text we hand out (proxy credentials).
    secrets: Vec<String>,
}

impl fmt::Debug for AccountClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountClient")
            .field("name", &self.name)
            .finish()
    }
}

impl Drop for AccountClient {
    fn drop(&mut self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

/// Why a call failed, before it is mapped for the engine or the login flow.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("Telegram error {name}{}", value.map(|v| format!(" ({v})")).unwrap_or_default())]
    Rpc {
        code: i32,
        name: String,
        value: Option<u32>,
    },
    #[error("network: {0}")]
    Transient(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl CallError {
    pub fn is(&self, name: &str) -> bool {
        matches!(self, CallError::Rpc { name: n, .. } if n == name)
    }
}

impl From<CallError> for SendError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Rpc { name, value, .. } => SendError::Rpc { name, value },
            CallError::Transient(t) => SendError::Transient(t),
            CallError::Timeout(d) => SendError::Transient(format!("no answer within {d:?}")),
        }
    }
}

impl AccountClient {
    /// Opens `account` from its session file (a new, unauthorized session when there is none)
    /// and starts its connection pool. Nothing is sent until the first call.
    pub fn open(
        api: &ApiSettings,
        store: &SessionStore,
        account: &str,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Self, SessionError> {
        let stored = store.load(account)?.unwrap_or_default();
        Ok(Self::with_session(api, store, account, stored, proxy))
    }

    /// Like [`AccountClient::open`] with a given session (a fresh login, a test server's).
    pub fn with_session(
        api: &ApiSettings,
        store: &SessionStore,
        account: &str,
        stored: StoredSession,
        proxy: Option<&ProxyUrl>,
    ) -> Self {
        let session = Arc::new(LiveSession::new(account, store.clone(), stored));
        let params = ConnectionParams {
            device_model: api.device_model.clone(),
            app_version: api.app_version.clone(),
            retry_policy: Box::new(NoRetries),
            proxy_url: proxy.map(|p| p.expose().to_owned()),
            ..Default::default()
        };
        let pool = SenderPool::with_configuration(Arc::clone(&session), api.api_id, params);
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        // Updates are not used: drop the receiver so the pool stops forwarding them.
        drop(pool.updates);
        let mut secrets = Vec::new();
        if let Some(p) = proxy {
            secrets.push(p.expose().to_owned());
            if let Some((creds, _)) = p
                .expose()
                .split_once("://")
                .and_then(|(_, r)| r.rsplit_once('@'))
            {
                secrets.push(creds.to_owned());
                if let Some((_, pass)) = creds.split_once(':') {
                    secrets.push(pass.to_owned());
                }
            }
        }
        secrets.retain(|s| !s.is_empty());
        AccountClient {
            name: account.to_owned(),
            client,
            session,
            timeout: api.call_timeout,
            runner,
            secrets,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn session(&self) -> &LiveSession {
        &self.session
    }

    /// Removes proxy credentials from an error text.
    pub(crate) fn scrub(&self, text: String) -> String {
        self.secrets
            .iter()
            .fold(text, |t, s| t.replace(s.as_str(), "<redacted>"))
    }

    /// One call with the timeout. A call that fails because the connection was lost (or
    /// that the pool dropped unsent, as grammers does with the first request after a lost
    /// connection) is sent once more on a fresh connection: every call we make is idempotent,
    /// sends included (Telegram drops a second message with the same random_id). No waiting
    /// happens here; waits are the engine's.
    pub async fn invoke<R: RemoteCall>(&self, request: &R) -> Result<R::Return, CallError> {
        let mut retried = false;
        loop {
            let result = tokio::time::timeout(self.timeout, self.client.invoke(request)).await;
            let err = match result {
                Err(_) => return Err(CallError::Timeout(self.timeout)),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
            };
            let connection_lost = matches!(
                err,
                InvocationError::Dropped(_)
                    | InvocationError::Io(_)
                    | InvocationError::Transport(_)
            );
            if connection_lost && !retried {
                tracing::debug!(account = %self.name, error = %self.scrub(err.to_string()), "connection lost; sending again");
                retried = true;
                continue;
            }
            return Err(self.map(err));
        }
    }

    fn map(&self, e: InvocationError) -> CallError {
        match e {
            InvocationError::Rpc(r) => CallError::Rpc {
                code: r.code,
                name: r.name,
                value: r.value,
            },
            InvocationError::Session(e) => {
                CallError::Transient(self.scrub(format!("session storage failed: {e}")))
            }
            other => CallError::Transient(self.scrub(other.to_string())),
        }
    }

    /// Writes the session (known peers, update state) to its file.
    pub fn save(&self) -> Result<(), SessionError> {
        match self.session.save() {
            Ok(()) => Ok(()),
            Err(super::session::LiveSessionError::Store(e)) => Err(e),
            Err(e) => Err(SessionError::Io {
                path: std::path::PathBuf::from(&self.name),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_socks5_proxies_are_accepted() {
        let p = ProxyUrl::parse("socks5://user:s3cret@10.0.0.1:1080").expect("socks5");
        assert_eq!(p.display(), "socks5://10.0.0.1:1080");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(matches!(
            ProxyUrl::parse("mtproto://h:443"),
            Err(ProxyError::MtprotoUnsupported)
        ));
        assert!(
            matches!(ProxyUrl::parse("http://h:80"), Err(ProxyError::UnsupportedScheme(s)) if s == "http")
        );
        assert!(matches!(
            ProxyUrl::parse("socks5://h"),
            Err(ProxyError::Invalid)
        ));
        assert!(matches!(
            ProxyUrl::from_seed_env(true, Some("mtproto"), "h", "443"),
            Err(ProxyError::MtprotoUnsupported)
        ));
        assert!(
            ProxyUrl::from_seed_env(false, Some("mtproto"), "", "")
                .expect("off")
                .is_none()
        );
        let seed = ProxyUrl::from_seed_env(true, Some("socks5"), "127.0.0.1", "9050").expect("ok");
        assert_eq!(
            seed.map(|p| p.display()).as_deref(),
            Some("socks5://127.0.0.1:9050")
        );
    }

    #[test]
    fn api_settings_debug_hides_the_hash() {
        let api = ApiSettings::new(1, SecretString::from("abcdef0123456789"));
        assert!(!format!("{api:?}").contains("abcdef0123456789"));
    }
}
