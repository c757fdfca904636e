//! What `run`, `stats` and `run --dry-run` read beside the engine's [`Store`] port, on either
//! backend (issue 16): the chosen store behind one trait, picked by the URL's scheme
//! ([`open`]). The dashboard, `/metrics`' report loop, message sources and the reach loop
//! still read the SQLite store's own methods (docs/postgres.md, "Status").

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_engine::{Store, StoreError, Uploads};

use crate::{
    AddedTarget, FollowUpCount, MessageSetVersion, PeriodSummary, PgSettings, PgStore,
    SqliteSettings, SqliteStore, Stats, TargetCounts, TargetSwitches,
};

/// The journal as `run` and `stats` use it: the [`Store`] port, the uploads table ([`Uploads`],
/// issue 15) and their reads. Both stores
/// give the same answers (tests/store/postgres.rs compares them).
#[async_trait]
pub trait Journal: Store + Uploads {
    /// This journal as the engine's port.
    fn as_store(&self) -> &dyn Store;
    /// The SQLite store, for what only it serves yet (dashboard, reports, sources, reach).
    fn sqlite(&self) -> Option<&SqliteStore>;
    /// The PostgreSQL store, for its leases (issue 16); `None` on SQLite (one server).
    fn postgres(&self) -> Option<&PgStore>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The newest stored version of message set `set`.
    async fn current_message_set(&self, set: &str)
    -> Result<Option<MessageSetVersion>, StoreError>;
    /// The choices of `targets switch`.
    async fn target_switches(&self) -> Result<TargetSwitches, StoreError>;
    /// Targets added at run time (dashboard, API).
    async fn added_targets(&self) -> Result<Vec<AddedTarget>, StoreError>;
    /// `stats`' figures since `since` (all time when `None`).
    async fn stats(&self, since: Option<Timestamp>, now: Timestamp) -> Result<Stats, StoreError>;
    /// Per target key: deliveries by status since `since`.
    async fn target_counts(
        &self,
        since: Option<Timestamp>,
    ) -> Result<BTreeMap<String, TargetCounts>, StoreError>;
    /// Sends, failures, cycles and flood waits in `[since, until)`.
    async fn period_summary(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<PeriodSummary, StoreError>;
    /// Follow-ups (issue 15) counted by action and result.
    async fn follow_up_counts(&self) -> Result<Vec<FollowUpCount>, StoreError>;
    /// Waits for queued writes and closes the connections.
    async fn close(&self) -> Result<(), StoreError>;
}

macro_rules! journal_for {
    ($ty:ty, $backend:literal, $sqlite:expr, $postgres:expr) => {
        #[async_trait]
        impl Journal for $ty {
            fn as_store(&self) -> &dyn Store {
                self
            }
            fn sqlite(&self) -> Option<&SqliteStore> {
                $sqlite(self)
            }
            fn postgres(&self) -> Option<&PgStore> {
                $postgres(self)
            }
            fn backend(&self) -> &'static str {
                $backend
            }
            async fn current_message_set(
                &self,
                set: &str,
            ) -> Result<Option<MessageSetVersion>, StoreError> {
                <$ty>::current_message_set(self, set).await
            }
            async fn target_switches(&self) -> Result<TargetSwitches, StoreError> {
                <$ty>::target_switches(self).await
            }
            async fn added_targets(&self) -> Result<Vec<AddedTarget>, StoreError> {
                <$ty>::added_targets(self).await
            }
            async fn stats(
                &self,
                since: Option<Timestamp>,
                now: Timestamp,
            ) -> Result<Stats, StoreError> {
                <$ty>::stats(self, since, now).await
            }
            async fn target_counts(
                &self,
                since: Option<Timestamp>,
            ) -> Result<BTreeMap<String, TargetCounts>, StoreError> {
                <$ty>::target_counts(self, since).await
            }
            async fn period_summary(
                &self,
                since: Timestamp,
                until: Timestamp,
            ) -> Result<PeriodSummary, StoreError> {
                <$ty>::period_summary(self, since, until).await
            }
            async fn follow_up_counts(&self) -> Result<Vec<FollowUpCount>, StoreError> {
                <$ty>::follow_up_counts(self).await
            }
            async fn close(&self) -> Result<(), StoreError> {
                <$ty>::close(self).await
            }
        }
    };
}

fn itself(s: &SqliteStore) -> Option<&SqliteStore> {
    Some(s)
}

fn no_sqlite(_: &PgStore) -> Option<&SqliteStore> {
    None
}

fn no_postgres(_: &SqliteStore) -> Option<&PgStore> {
    None
}

fn pg_itself(s: &PgStore) -> Option<&PgStore> {
    Some(s)
}

journal_for!(SqliteStore, "sqlite", itself, no_postgres);
journal_for!(PgStore, "postgres", no_sqlite, pg_itself);

/// Opens the journal at `url`: PostgreSQL for `postgres://` / `postgresql://`
/// ([`crate::is_postgres_url`]), else SQLite with `sqlite` settings. Errors: as the store's
/// `open` (a server that cannot be reached is named `host:port/db`, never with its password).
pub async fn open(url: &str, sqlite: SqliteSettings) -> Result<Arc<dyn Journal>, StoreError> {
    Ok(if crate::is_postgres_url(url) {
        Arc::new(PgStore::open(url, PgSettings::default()).await?)
    } else {
        Arc::new(SqliteStore::open(url, sqlite).await?)
    })
}
