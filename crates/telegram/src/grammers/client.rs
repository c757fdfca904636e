//! One account's connection: a grammers `Client` over a `SenderPool` with `NoRetries` (the
//! engine schedules every wait, not the library), a timeout on every call, and the mapping of
//! grammers' errors onto the engine's `SendError`.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, InvocationError, NoRetries, SenderPool};
use grammers_session::Session;
use grammers_session::types::DcOption;
use grammers_tl_types::RemoteCall;
use secrecy::{ExposeSecret, SecretString};
use smb_domain::SendError;
use tokio::task::JoinHandle;

use super::session::{LiveSession, SessionError, SessionStore, StoredSession};
use crate::mtproxy::{LinkError, MtproxyBridge, MtproxyError, MtproxySettings, ProxyTimeouts};

/// What every account shares: the application's API credentials and call limits.
#[derive(Clone)]
pub struct ApiSettings {
    pub api_id: i32,
    pub api_hash: SecretString,
    /// The longest any one call may take before it counts as a transient failure.
    pub call_timeout: Duration,
    pub device_model: String,
    pub app_version: String,
    /// How long an MTProto proxy may take to connect and to answer (accounts with one).
    pub proxy_timeouts: ProxyTimeouts,
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
            proxy_timeouts: ProxyTimeouts::default(),
        }
    }
}

/// The operating system as `initConnection` reports it (`system_version`), e.g.
/// `Linux 6.8.0-45-generic`: the kernel's release read once per process from
/// `/proc/sys/kernel/osrelease`, or the OS family (`std::env::consts::OS`) where there is none.
///
/// Why our own: grammers' `ConnectionParams::default()` detects the OS by running
/// `lsb_release -a` and `getconf LONG_BIT` each time it is called, i.e. once per account;
/// 100 accounts cost ~2,400 process launches and a second of start-up (issue 18).
pub fn system_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let os = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "macOS",
            "windows" => "Windows",
            other => other,
        };
        match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            Ok(release) if !release.trim().is_empty() => format!("{os} {}", release.trim()),
            _ => os.to_owned(),
        }
    })
}

/// The language codes `initConnection` reports: fixed, since nothing we send depends on the
/// language of Telegram's service texts.
const LANG_CODE: &str = "en";

/// Every account's connection parameters, built without running a process (see
/// [`system_version`]): our device model and app version, no retries (the engine schedules
/// every wait), and the account's proxy.
pub fn connection_params(api: &ApiSettings, proxy_url: Option<String>) -> ConnectionParams {
    ConnectionParams {
        device_model: api.device_model.clone(),
        system_version: system_version().to_owned(),
        app_version: api.app_version.clone(),
        system_lang_code: LANG_CODE.to_owned(),
        lang_code: LANG_CODE.to_owned(),
        proxy_url,
        use_ipv6: false,
        retry_policy: Box::new(NoRetries),
        // grammers' own default: updates are not read (the receiver is dropped at once).
        updates_channel_capacity: NonZeroUsize::MIN.saturating_add(99),
        // Spelled out instead of `..Default::default()`, which would run the OS detection.
        __non_exhaustive: (),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// An MTProto proxy link or the seed's PROXY_* settings for one (bad secret, no port, …).
    /// The reason is in the message and not a `source` too: `{:#}` would print it twice.
    #[error("MTProto proxy: {0}")]
    Mtproxy(LinkError),
    #[error(
        "proxy scheme `{0}` is not supported; use `socks5://user:pass@host:port` or \
         `mtproxy://host:port?secret=SECRET`"
    )]
    UnsupportedScheme(String),
    #[error("proxy address is not `socks5://[user:pass@]host:port`")]
    Invalid,
}

impl From<LinkError> for ProxyError {
    fn from(e: LinkError) -> Self {
        ProxyError::Mtproxy(e)
    }
}

/// An account's proxy: SOCKS5 (handed to grammers as is) or an MTProto proxy (reached through
/// an in-process [`MtproxyBridge`]). It may hold a password or a secret, so it never prints.
#[derive(Clone)]
pub struct ProxyUrl(ProxyKind);

#[derive(Clone)]
enum ProxyKind {
    Socks5(SecretString),
    Mtproxy(MtproxySettings),
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.display())
    }
}

fn is_on(v: Option<String>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl ProxyUrl {
    /// `socks5://[user:pass@]host:port`, or an MTProto proxy: `mtproxy://host:port?secret=…`,
    /// `tg://proxy?server=…&port=…&secret=…`, `https://t.me/proxy?…` (or `t.me/proxy?…`).
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            if url.starts_with("t.me/") {
                return Ok(Self::mtproxy(MtproxySettings::parse_link(url)?));
            }
            return Err(ProxyError::Invalid);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "socks5" => {}
            "mtproto" | "mtproxy" | "tg" => {
                return Ok(Self::mtproxy(MtproxySettings::parse_link(url)?));
            }
            "https" | "http" if rest.split('?').next().is_some_and(is_proxy_page) => {
                return Ok(Self::mtproxy(MtproxySettings::parse_link(url)?));
            }
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
            Ok(ProxyUrl(ProxyKind::Socks5(SecretString::from(
                url.to_owned(),
            ))))
        } else {
            Err(ProxyError::Invalid)
        }
    }

    /// An MTProto proxy.
    pub fn mtproxy(settings: MtproxySettings) -> Self {
        ProxyUrl(ProxyKind::Mtproxy(settings))
    }

    /// The MTProto proxy, if this is one.
    pub fn as_mtproxy(&self) -> Option<&MtproxySettings> {
        match &self.0 {
            ProxyKind::Mtproxy(m) => Some(m),
            ProxyKind::Socks5(_) => None,
        }
    }

    /// The seed's `.env` form: PROXY_ENABLED, PROXY_PROTOCOL (`socks5`, the default, or
    /// `mtproto`), PROXY_ADDR, PROXY_PORT and, for MTProto, PROXY_SECRET. `var` reads one
    /// variable. `Ok(None)` unless PROXY_ENABLED is true.
    pub fn from_seed_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ProxyError> {
        if !is_on(var("PROXY_ENABLED")) {
            return Ok(None);
        }
        let protocol = var("PROXY_PROTOCOL")
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty());
        match protocol.as_deref() {
            Some("socks5") | None => {
                let addr = var("PROXY_ADDR").unwrap_or_default();
                let port = var("PROXY_PORT").unwrap_or_default();
                Self::parse(&format!("socks5://{}:{}", addr.trim(), port.trim())).map(Some)
            }
            Some("mtproto" | "mtproxy") => {
                Ok(MtproxySettings::from_seed_env(var)?.map(Self::mtproxy))
            }
            Some(other) => Err(ProxyError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// `socks5://host:port` without credentials, or `mtproxy://host:port` without the secret,
    /// for `accounts list` and logs.
    pub fn display(&self) -> String {
        match &self.0 {
            ProxyKind::Mtproxy(m) => m.to_string(),
            ProxyKind::Socks5(url) => match url.expose_secret().split_once("://") {
                Some((scheme, rest)) => {
                    let host = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
                    format!("{scheme}://{host}")
                }
                None => "<proxy>".to_owned(),
            },
        }
    }
}

fn is_proxy_page(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/').to_ascii_lowercase().as_str(),
        "t.me/proxy" | "telegram.me/proxy" | "www.t.me/proxy"
    )
}

/// How the account reaches Telegram: the URL grammers gets and, for an MTProto proxy, the
/// bridge behind it (kept alive as long as the client).
struct Route {
    proxy_url: Option<String>,
    bridge: Option<MtproxyBridge>,
    /// The bridge could not start: every call fails with this instead of going out directly.
    failure: Option<String>,
    /// DC ids whose addresses the bridge must know.
    dc_ids: Vec<i32>,
    /// The addresses the bridge was last given.
    known: std::sync::Mutex<KnownDcs>,
}

/// What the bridge was last given, and the session's [`LiveSession::dc_changes`] then.
#[derive(Default)]
struct KnownDcs {
    addrs: Vec<(i32, SocketAddr)>,
    /// `None` until the first call has looked at the session.
    seen: Option<u64>,
}

/// Both addresses of every DC option.
fn dc_addresses(options: impl IntoIterator<Item = DcOption>) -> Vec<(i32, SocketAddr)> {
    let mut v: Vec<(i32, SocketAddr)> = options
        .into_iter()
        .flat_map(|d| {
            [
                (d.id, SocketAddr::V4(d.ipv4)),
                (d.id, SocketAddr::V6(d.ipv6)),
            ]
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

impl Route {
    fn new(api: &ApiSettings, stored: &StoredSession, proxy: Option<&ProxyUrl>) -> Self {
        let mut dc_ids: Vec<i32> = stored
            .dc_options
            .iter()
            .map(|d| d.id)
            .chain(1..=5)
            .collect();
        dc_ids.sort_unstable();
        dc_ids.dedup();
        let mut route = Route {
            proxy_url: None,
            bridge: None,
            failure: None,
            dc_ids,
            known: std::sync::Mutex::default(),
        };
        match proxy.map(|p| &p.0) {
            None => {}
            Some(ProxyKind::Socks5(url)) => route.proxy_url = Some(url.expose_secret().to_owned()),
            Some(ProxyKind::Mtproxy(settings)) => {
                let dcs = dc_addresses(stored.dc_options.iter().cloned());
                match MtproxyBridge::start_in_runtime(
                    settings.clone(),
                    dcs.clone(),
                    api.proxy_timeouts,
                ) {
                    Ok(bridge) => {
                        route.proxy_url = Some(bridge.proxy_url());
                        route.bridge = Some(bridge);
                        route.known = std::sync::Mutex::new(KnownDcs {
                            addrs: dcs,
                            seen: None,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(proxy = %settings, error = %e, "cannot start the MTProxy bridge");
                        route.failure = Some(e.to_string());
                        // Never let grammers go out directly: a port where no SOCKS5 proxy is.
                        route.proxy_url = Some("socks5://127.0.0.1:9".to_owned());
                    }
                }
            }
        }
        route
    }

    /// Gives the bridge the session's current DC addresses (grammers rewrites them from
    /// `help.getConfig`), keeping the ones it had so connections in flight stay allowed.
    /// Looks at the session only when a DC option changed since the last look.
    fn sync_dcs(&self, session: &LiveSession) {
        let Some(bridge) = &self.bridge else { return };
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = session.dc_changes();
        if known.seen.replace(changes) == Some(changes) {
            return;
        }
        let current = dc_addresses(
            self.dc_ids
                .iter()
                .filter_map(|id| Session::dc_option(session, *id).ok().flatten()),
        );
        if current.iter().all(|a| known.addrs.contains(a)) {
            return;
        }
        known.addrs.extend(current);
        known.addrs.sort();
        known.addrs.dedup();
        bridge.set_dcs(known.addrs.iter().copied());
    }

    /// What the bridge last reported about the proxy, if it is the proxy's fault.
    fn proxy_fault(&self) -> Option<MtproxyError> {
        self.bridge
            .as_ref()
            .and_then(MtproxyBridge::last_error)
            .filter(MtproxyError::is_proxy_fault)
    }
}

/// A connected account.
pub struct AccountClient {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) session: Arc<LiveSession>,
    timeout: Duration,
    runner: JoinHandle<()>,
    route: Route,
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
    /// A send's second try, after the connection was lost with the first one out, was
    /// refused with this error (see [`AccountClient::invoke_send`]).
    #[error("{0}, answered to a second try after the connection was lost")]
    Unconfirmed(Box<CallError>),
}

impl CallError {
    pub fn is(&self, name: &str) -> bool {
        matches!(self, CallError::Rpc { name: n, .. } if n == name)
    }
}

impl From<CallError> for SendError {
    fn from(e: CallError) -> Self {
        match e {
            // Telegram's 5xx (and -5xx) answers are its own failures, whatever their name:
            // retried like network errors, never counted against the chat.
            CallError::Rpc { code, name, .. } if code.abs() >= 500 => {
                SendError::Transient(format!("Telegram error {name} ({code})"))
            }
            CallError::Rpc { name, value, .. } => SendError::Rpc { name, value },
            CallError::Transient(t) => SendError::Transient(t),
            CallError::Timeout(d) => SendError::Transient(format!("no answer within {d:?}")),
            CallError::Unconfirmed(refusal) => match SendError::from(*refusal) {
                SendError::Transient(t) => SendError::Transient(t),
                refusal => SendError::Unconfirmed(Box::new(refusal)),
            },
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
        let route = Route::new(api, &stored, proxy);
        let session = Arc::new(LiveSession::new(account, store.clone(), stored));
        let params = connection_params(api, route.proxy_url.clone());
        let pool = SenderPool::with_configuration(Arc::clone(&session), api.api_id, params);
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        // Updates are not used: drop the receiver so the pool stops forwarding them.
        drop(pool.updates);
        let mut secrets = Vec::new();
        if let Some(url) = &route.proxy_url {
            secrets.push(url.clone());
            if let Some((creds, _)) = url.split_once("://").and_then(|(_, r)| r.rsplit_once('@')) {
                secrets.push(creds.to_owned());
                if let Some((_, pass)) = creds.split_once(':') {
                    secrets.push(pass.to_owned());
                }
            }
        }
        if let Some(m) = proxy.and_then(ProxyUrl::as_mtproxy) {
            secrets.push(m.to_link());
            secrets.push(m.secret.to_hex());
        }
        secrets.retain(|s| !s.is_empty());
        AccountClient {
            name: account.to_owned(),
            client,
            session,
            timeout: api.call_timeout,
            runner,
            route,
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

    /// Before any call: the bridge learns the session's DC addresses; a bridge that could not
    /// start fails the call (nothing goes out around the proxy).
    pub(crate) fn before_call(&self) -> Result<(), CallError> {
        if let Some(failure) = &self.route.failure {
            return Err(CallError::Transient(failure.clone()));
        }
        self.route.sync_dcs(&self.session);
        Ok(())
    }

    /// Why the MTProto proxy failed the last connection ("proxy did not answer — check
    /// PROXY_SECRET", …), if the account has one and it did. Never holds the secret.
    pub fn proxy_fault(&self) -> Option<String> {
        self.route.proxy_fault().map(|e| self.scrub(e.to_string()))
    }

    /// Why the MTProto proxy refused this account's secret on the last connection (it took
    /// the connection, then stayed silent or failed the fake-TLS handshake), if it did. A
    /// refused secret is refused again: sends stop on it instead of being retried.
    pub fn secret_refused(&self) -> Option<String> {
        self.route
            .proxy_fault()
            .filter(|e| {
                matches!(
                    e,
                    MtproxyError::Silent { .. }
                        | MtproxyError::TlsRefused { .. }
                        | MtproxyError::TlsSilent { .. }
                )
            })
            .map(|e| self.scrub(e.to_string()))
    }

    /// One call with the timeout. A call that fails because the connection was lost (or
    /// that the pool dropped unsent, as grammers does with the first request after a lost
    /// connection) is sent once more on a fresh connection: every call we make is idempotent,
    /// sends included (Telegram drops a second message with the same random_id). No waiting
    /// happens here; waits are the engine's.
    pub async fn invoke<R: RemoteCall>(&self, request: &R) -> Result<R::Return, CallError> {
        self.invoke_as(request, false).await
    }

    /// [`AccountClient::invoke`] for a message send. When the connection was lost and the send went
    /// out again, a refusal of the second try (AUTH_KEY_UNREGISTERED, FLOOD_WAIT, …) does not
    /// mean nothing was posted: the first try may have reached the chat before the connection
    /// dropped. Such a refusal comes back as [`CallError::Unconfirmed`] (the engine's
    /// `SendError::Unconfirmed`): the delivery's fate is unknown, so only this account ever
    /// retries it (its `random_id` de-duplicates only here; a backup account would post a
    /// second copy — e14), and a wait the refusal tells (FLOOD_WAIT_X, SLOWMODE_WAIT_X) is
    /// obeyed before that retry. RANDOM_ID_DUPLICATE passes as it is: it says the first try
    /// landed.
    pub async fn invoke_send<R: RemoteCall>(&self, request: &R) -> Result<R::Return, CallError> {
        self.invoke_as(request, true).await
    }

    async fn invoke_as<R: RemoteCall>(
        &self,
        request: &R,
        send: bool,
    ) -> Result<R::Return, CallError> {
        let mut retried = false;
        loop {
            self.before_call()?;
            let result = tokio::time::timeout(self.timeout, self.client.invoke(request)).await;
            let err = match result {
                Err(_) => {
                    return Err(match self.proxy_fault() {
                        Some(fault) => CallError::Transient(fault),
                        None => CallError::Timeout(self.timeout),
                    });
                }
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
            };
            let connection_lost = matches!(
                err,
                InvocationError::Dropped(_)
                    | InvocationError::Io(_)
                    | InvocationError::Transport(_)
            );
            // A proxy that ignores the secret will ignore it again: no second attempt.
            let secret_refused = matches!(
                self.route.proxy_fault(),
                Some(
                    MtproxyError::Silent { .. }
                        | MtproxyError::TlsRefused { .. }
                        | MtproxyError::TlsSilent { .. }
                )
            );
            if connection_lost && !retried && !secret_refused {
                tracing::debug!(account = %self.name, error = %self.scrub(err.to_string()), "connection lost; sending again");
                retried = true;
                continue;
            }
            if send
                && retried
                && let InvocationError::Rpc(r) = &err
                && r.name != "RANDOM_ID_DUPLICATE"
            {
                return Err(CallError::Unconfirmed(Box::new(self.map(err))));
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
            other => match self.proxy_fault() {
                Some(fault) => CallError::Transient(fault),
                None => CallError::Transient(self.scrub(other.to_string())),
            },
        }
    }

    /// Writes the session (known peers, update state) to its file.
    pub fn save(&self) -> Result<(), SessionError> {
        match self.session.save() {
            Ok(()) => Ok(()),
            Err(super::session::LiveSessionError::Store(e)) => Err(e),
            Err(e) => Err(SessionError::Io {
                path: std::path::PathBuf::from(&self.name),
                error: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_and_mtproto_proxies_are_accepted() {
        let p = ProxyUrl::parse("socks5://user:s3cret@10.0.0.1:1080").expect("socks5");
        assert_eq!(p.display(), "socks5://10.0.0.1:1080");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(p.as_mtproxy().is_none());
        let secret = "dd0123456789abcdef0123456789abcdef";
        for link in [
            format!("mtproxy://proxy.example:443?secret={secret}"),
            format!("tg://proxy?server=proxy.example&port=443&secret={secret}"),
            format!("https://t.me/proxy?server=proxy.example&port=443&secret={secret}"),
            format!("t.me/proxy?server=proxy.example&port=443&secret={secret}"),
        ] {
            let p = ProxyUrl::parse(&link).expect("mtproxy link");
            assert_eq!(p.display(), "mtproxy://proxy.example:443", "{link}");
            assert!(p.as_mtproxy().is_some());
            assert!(!format!("{p:?}").contains("0123456789abcdef"), "{p:?}");
        }
        assert!(matches!(
            ProxyUrl::parse("mtproxy://h:443?secret=zz"),
            Err(ProxyError::Mtproxy(_))
        ));
        assert!(matches!(
            ProxyUrl::parse("mtproxy://h:443"),
            Err(ProxyError::Mtproxy(LinkError::Missing { .. }))
        ));
        assert!(
            matches!(ProxyUrl::parse("http://h:80"), Err(ProxyError::UnsupportedScheme(s)) if s == "http")
        );
        assert!(matches!(
            ProxyUrl::parse("socks5://h"),
            Err(ProxyError::Invalid)
        ));
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let mt = ProxyUrl::from_seed_env(env(&[
            ("PROXY_ENABLED", "true"),
            ("PROXY_PROTOCOL", "mtproto"),
            ("PROXY_ADDR", "h"),
            ("PROXY_PORT", "443"),
            ("PROXY_SECRET", "0123456789abcdef0123456789abcdef"),
        ]))
        .expect("mtproto")
        .expect("enabled");
        assert_eq!(mt.display(), "mtproxy://h:443");
        assert!(matches!(
            ProxyUrl::from_seed_env(env(&[
                ("PROXY_ENABLED", "true"),
                ("PROXY_PROTOCOL", "mtproto"),
                ("PROXY_ADDR", "h"),
                ("PROXY_PORT", "443"),
            ])),
            Err(ProxyError::Mtproxy(_))
        ));
        assert!(
            ProxyUrl::from_seed_env(env(&[("PROXY_PROTOCOL", "mtproto")]))
                .expect("off")
                .is_none()
        );
        let seed = ProxyUrl::from_seed_env(env(&[
            ("PROXY_ENABLED", "1"),
            ("PROXY_PROTOCOL", "socks5"),
            ("PROXY_ADDR", "127.0.0.1"),
            ("PROXY_PORT", "9050"),
        ]))
        .expect("ok");
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
