//! Storage of SendMessageBot: the engine's `Store` port on SQLite, plus the read side
//! (stats, target lists) the CLI uses.
//!
//! Writes go through one writer task that commits them in groups (group commit): every
//! caller still waits until its own write is durable, but concurrent writers share one
//! fsync. Reads use a separate pool; WAL lets them run beside the writer, also from a
//! second process (`sendmessagebot stats` while the daemon runs).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Off in the workspace (Cargo.toml says why); on here, where every SQLite integer is an `i64`:
// reads go through `row::count` (a checked conversion naming the column), and the one cast
// left (`sqlite::sql_cycle`) says why it cannot wrap.
#![warn(
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation
)]

mod follow_ups;
pub mod maintenance;
mod messages;
mod migrated;
mod reach;
mod row;
mod series;
mod sqlite;
pub mod stats;
mod survival;
mod switch;
pub mod variants;
mod web;

pub use follow_ups::FollowUpCount;
pub use messages::MessageSetVersion;
pub use migrated::ChatMigration;
pub use reach::{ReachDue, VariantPost};
pub use series::{PeriodAccount, PeriodBroadcaster, PeriodSummary, TargetCounts};
pub use sqlite::{SqliteSettings, SqliteStore};
pub use stats::{HeldTarget, Stats, TargetRow};
pub use switch::{ALL_BROADCASTERS, TargetMode, TargetSwitches};
pub use web::{AddedTarget, DeliveryFilter, DeliveryRow};

/// The default database URL: one SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sendmessagebot.db";
