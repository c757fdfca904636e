//! Storage of SendMessageBot: the engine's `Store` port on SQLite (the embedded default), plus
//! the read side (stats, target lists) the CLI uses; and the same port on PostgreSQL
//! ([`postgres`], chosen by a `postgres://` `DATABASE_URL`).
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

pub mod copy;
mod follow_ups;
pub mod journal;
pub mod maintenance;
mod messages;
mod migrated;
pub mod postgres;
mod reach;
mod row;
mod series;
mod sqlite;
pub mod stats;
mod survival;
mod switch;
mod uploads;
pub mod variants;
mod web;

pub use follow_ups::FollowUpCount;
pub use journal::Journal;
pub use messages::MessageSetVersion;
pub use migrated::ChatMigration;
pub use postgres::{PgSettings, PgStore, is_postgres_url};
pub use reach::{ReachDue, VariantPost};
pub use series::{PeriodAccount, PeriodBroadcaster, PeriodSummary, TargetCounts};
pub use sqlite::{SqliteSettings, SqliteStore, orphaned_wal};
pub use stats::{HeldTarget, Stats, TargetRow};
pub use switch::{ALL_BROADCASTERS, TargetMode, TargetSwitches};
pub use web::{AddedTarget, DeliveryFilter, DeliveryRow};

/// The default database URL: one SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sendmessagebot.db";
