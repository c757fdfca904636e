//! The command-line crate's integration tests, as one test binary (`cargo test -p
//! sendmessagebot --test cli`): one module a former test file, so a test's path reads
//! `cli::MODULE::TEST` and `cargo test -p sendmessagebot --test cli MODULE::` runs one
//! of them. One binary links the crate once instead of once a file.
//!
//! The tests run in one process on parallel threads, so none of them may change what the
//! process shares (environment variables, current directory): each runs the real binary as a
//! child process in a directory of its own, with the environment it needs set on the
//! [`std::process::Command`], and binds its loopback servers to port 0.
//!
//! Shared helpers: [`common`] (the end-to-end tests: binary in an isolated environment,
//! MTProto test server) and [`console_support`] (the console tests); `../settings_cases` is
//! the settings table `check_agrees` shares with `src/config/agreement.rs`.

mod common;
mod console_support;

mod account_refusals_e2e;
mod albums_e2e;
mod chat_rules;
mod check_agrees;
mod cluster_e2e;
mod config_errors;
mod console_check;
mod console_daemon;
mod console_menu;
mod console_misc;
mod crash;
mod findings19;
mod first_version;
mod formatting;
mod issue14_e2e;
mod journal_faults;
mod migrate_e2e;
mod mtproxy_e2e;
mod observe;
mod pacing_e2e;
mod postgres_url;
mod posts_e2e;
mod qa1;
mod qa3;
mod qa3b;
mod qa4m;
mod qa5h;
mod refusals_e2e;
mod soak;
mod targets_check_e2e;
mod telegram_e2e;
mod variants_e2e;
mod web_e2e;
