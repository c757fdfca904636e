//! The grammers gateway and the MTProxy bridge against the loopback MTProto test server: one
//! test binary (one link instead of five), a module per former binary, `common` shared.

mod common;
mod gateway;
mod login;
mod mtproxy_bridge;
mod secrets;
mod session;
