//! The SQLite store's integration tests: one test binary, a module per former binary.

mod journal_faults;
mod store_story;
