//! A loopback MTProto 2.0 server that speaks enough of Telegram's API for grammers (and
//! Telethon) to log in, list dialogs, resolve usernames, upload and send messages (and albums),
//! edit, delete, pin and look up our messages, so the real
//! client path can be tested and benchmarked without Telegram.
//!
//! How it avoids what it cannot do (it does not hold Telegram's RSA key, so no key exchange):
//! every client starts with a session pre-seeded for DC 2 at the server's address with an
//! authorization key the server issued ([`TestServer::auth_key`] for a fixture user,
//! [`TestServer::new_auth_key`] for a login). It never answers with transport error -404 (the
//! client would start a key exchange), answers `help.getConfig` with an empty `dc_options`
//! (the client would replace the loopback address), echoes the client's session id, keeps the
//! salt at 0 and never sends `new_session_created`.
//!
//! Start reading at [`TestServer`]; the world it serves is a [`Fixture`].
#![forbid(unsafe_code)]

mod api;
pub mod chaos;
mod chats;
pub mod crypto;
pub mod fixture;
pub mod mtproxy;
mod posts;
pub mod reach;
mod search;
mod server;
pub mod wire;
mod world;

pub use chaos::{Chaos, ChaosReport, Violation, WaitKind};
pub use fixture::{ChatKind, ChatSpec, FaultRule, Fixture, FixtureError, TopicSpec, UserSpec};
pub use server::{ServerError, TestServer};
pub use world::{
    DC_ID, DEFAULT_EDIT_WINDOW_SECS, EntityRecord, LedgerEntry, LedgerError, MediaRecord,
    MessageState,
};
