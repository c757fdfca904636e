//! MTProto proxies (MTProxy): secrets, links, and the in-process bridge that lets grammers
//! (which speaks only SOCKS5) reach Telegram through an MTProxy.
//!
//! grammers keeps the real DC addresses and dials them through
//! [`MtproxyBridge::proxy_url`]; the bridge maps each address to its DC id, opens an MTProxy
//! connection for that DC (obfuscated2 keyed with the secret, fake-TLS for `ee` secrets) and
//! re-frames Full ↔ (padded) intermediate. See docs/mtproxy.md.

mod bridge;
mod framing;
mod link;
mod obfs;
mod secret;

use std::time::Duration;

pub use bridge::{MtproxyBridge, ProxyCheck, ProxyTimeouts, check_proxy};
pub use link::{LinkError, MtproxySettings};
pub use secret::{MtproxySecret, SecretError, SecretKind};

/// A failure of the bridge or of the proxy behind it. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MtproxyError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("cannot open the local SOCKS5 port for the MTProxy bridge: {0}")]
    Bind(String),
    #[error("SOCKS5 request refused: {0}")]
    Socks(String),
    #[error("refused to connect to {target}: not a known Telegram DC address")]
    UnknownDc { target: String },
    #[error(
        "cannot connect to the MTProto proxy {proxy}: {reason} — check PROXY_ADDR and PROXY_PORT"
    )]
    Connect { proxy: String, reason: String },
    #[error(
        "proxy did not answer — check PROXY_SECRET ({proxy} accepted the connection but sent \
         nothing back within {after:?})"
    )]
    Silent { proxy: String, after: Duration },
    #[error(
        "the MTProto proxy {proxy} closed the connection without answering — check PROXY_SECRET \
         (or the proxy is down)"
    )]
    Closed { proxy: String },
    #[error(
        "the MTProto proxy {proxy} did not answer the fake-TLS handshake as expected — check \
         PROXY_SECRET (its key and domain) and that this machine's clock is right"
    )]
    TlsRefused { proxy: String },
    /// The TCP connection succeeded but the fake-TLS hello got no answer: a proxy (or its
    /// masking host) that does not know the secret often stays silent (issue 19).
    #[error(
        "the MTProto proxy {proxy} accepted the connection but did not answer the fake-TLS \
         handshake within {after:?} — check PROXY_SECRET (its key and domain)"
    )]
    TlsSilent { proxy: String, after: Duration },
    #[error("MTProxy connection failed: {0}")]
    Io(String),
}

impl MtproxyError {
    /// Whether the error says something about the proxy (rather than about one connection
    /// that grammers or the network closed): the bridge remembers those for the user.
    pub fn is_proxy_fault(&self) -> bool {
        matches!(
            self,
            MtproxyError::Connect { .. }
                | MtproxyError::Silent { .. }
                | MtproxyError::Closed { .. }
                | MtproxyError::TlsRefused { .. }
                | MtproxyError::TlsSilent { .. }
        )
    }
}
