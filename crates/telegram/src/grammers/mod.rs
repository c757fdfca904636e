//! Real Telegram through grammers (MTProto): the [`GrammersGateway`], session files, login,
//! account checks and the peer cache.
//!
//! Start at [`GrammersGateway::connect`] for sending and [`Login`] for `accounts login`.
//! Invariants: grammers never retries or sleeps on its own (`NoRetries`: the engine schedules
//! every wait); every call has a timeout; the `random_id` Telegram receives is the journal's;
//! secrets (api_hash, auth keys, bot tokens, passphrases, proxy passwords) never reach a log
//! line or an error.

mod accounts;
mod client;
mod gateway;
mod login;
mod peers;
mod session;

pub use accounts::{
    AccountHealth, AccountSummary, SessionSummary, check_account, list_accounts, logout,
};
pub use client::{
    AccountClient, ApiSettings, CallError, ProxyError, ProxyUrl, connection_params, system_version,
};
pub use gateway::{AccountConfig, GatewayError, GrammersGateway, format_text};
pub use login::{AccountInfo, CodeRequest, Login, LoginError, PasswordRequest, SignIn};
pub use peers::{
    CachedChat, ChatKind, JsonPeerCacheStore, NoPeerCacheStore, PeerCache, PeerCacheError,
    PeerCacheStore,
};
pub use secrecy::SecretString;
pub use session::{Identity, KdfParams, LiveSession, SessionError, SessionStore, StoredSession};
