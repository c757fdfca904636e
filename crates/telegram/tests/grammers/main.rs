//! The grammers gateway and the MTProxy bridge against the loopback MTProto test server: one
//! test binary (one link instead of five), a module per former binary, `common` shared.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod common;
mod gateway;
mod inspect;
mod login;
mod mtproxy_bridge;
mod posts;
mod reach;
mod secrets;
mod session;
