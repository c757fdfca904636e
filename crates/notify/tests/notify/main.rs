//! Bot API, webhooks and `/metrics` against loopback doubles: one test binary, a module per
//! former binary, `common` shared. `tests/logging.rs` stays a binary of its own because it
//! installs the process-global tracing subscriber, which the other tests' logs would write into.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod bot_api;
mod common;
mod metrics;
mod webhook;
