//! Storage of SendMessageBot: the engine's `Store` port on SQLite, plus the read side
//! (stats, target lists) the CLI uses.
//!
//! Writes go through one writer task that commits them in groups (group commit): every
//! caller still waits until its own write is durable, but concurrent writers share one
//! fsync. Reads use a separate pool; WAL lets them run beside the writer, also from a
//! second process (`sendmessagebot stats` while the daemon runs).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod maintenance;
mod messages;
mod migrated;
mod row;
mod series;
mod sqlite;
pub mod stats;
mod switch;
mod web;

pub use messages::MessageSetVersion;
pub use migrated::ChatMigration;
pub use series::{PeriodAccount, PeriodBroadcaster, PeriodSummary, TargetCounts};
pub use sqlite::{SqliteSettings, SqliteStore};
pub use stats::{HeldTarget, Stats, TargetRow};
pub use switch::{ALL_BROADCASTERS, TargetMode, TargetSwitches};
pub use web::{AddedTarget, DeliveryFilter, DeliveryRow};

/// The default database URL: one SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sendmessagebot.db";
