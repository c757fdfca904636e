//! Telegram gateways: the sandbox simulator (rehearsals and tests) and, with the `grammers`
//! module, real Telegram over MTProto.
#![forbid(unsafe_code)]

pub mod grammers;
pub mod mtproxy;
pub mod sim;

pub use sim::{FaultRule, LedgerEntry, SimGateway, SimSettings};
