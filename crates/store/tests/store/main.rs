//! The SQLite store's integration tests: one test binary, a module per former binary.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod chat_holds;
mod chat_migrations;
mod follow_ups;
mod journal_faults;
mod reach;
mod store_story;
mod survival;
