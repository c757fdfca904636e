//! The stores' integration tests (SQLite, and PostgreSQL when `SMB_TEST_POSTGRES_URL` names a
//! server: `scripts/test-postgres.sh` starts one): one test binary, a module per topic.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod chat_holds;
mod chat_migrations;
mod db_copy;
mod follow_ups;
mod journal_faults;
mod leases;
mod postgres;
mod reach;
mod store_story;
mod survival;
mod uploads;
