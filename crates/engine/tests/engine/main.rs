//! The engine's integration tests, as one test binary (`cargo test -p smb-engine --test
//! engine`): one module a former test file, so `cargo test -p smb-engine --test engine
//! MODULE::` runs one of them and the crate links once. Each module keeps its own helpers;
//! shared test doubles live in `smb_engine::testing`.

mod chats;
mod driver;
mod journal_gate;
mod lost_outcome;
mod pacing;
mod pacing_gaps;
mod planner;
mod preflight_start;
mod refusals;
mod slow_mode_account;
mod variants;
