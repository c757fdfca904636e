//! Test support: an in-memory [`Store`] for driver tests of this and other crates.
//!
//! It keeps only what those tests look at (each delivery's status and random_id) and
//! remembers nothing across instances; the SQLite store has its own story test.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use smb_domain::{AccountStop, DeliveryStatus, OperatorState, PauseKind};

use crate::ports::{
    DeliveryKey, JournalPost, Outcome, PendingDelivery, Store, StoreError, StoredAccount,
    StoredCycle, TargetStatus,
};

/// (broadcaster, cycle, target key) → (status as the journal writes it, random_id)
pub type Journal = HashMap<(String, u64, String), (String, i64)>;

/// A journal in memory; starts empty, as a fresh database would.
#[derive(Default)]
pub struct MemoryStore {
    /// Every delivery written, by (broadcaster, cycle, target key).
    pub deliveries: Mutex<Journal>,
}

impl MemoryStore {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn last_cycle(&self, _: &str) -> Result<Option<StoredCycle>, StoreError> {
        Ok(None)
    }
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError> {
        Ok(HashMap::new())
    }
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError> {
        Ok(HashMap::new())
    }
    async fn start_cycle(&self, _: &str, _: u64, _: &str, _: Timestamp) -> Result<(), StoreError> {
        Ok(())
    }
    async fn write_pending(&self, d: &PendingDelivery) -> Result<(), StoreError> {
        self.journal().insert(
            (d.key.broadcaster.clone(), d.key.cycle, d.key.target.key()),
            (DeliveryStatus::Pending.as_str().into(), d.random_id),
        );
        Ok(())
    }
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        let k = (key.broadcaster.clone(), key.cycle, key.target.key());
        if let Some(row) = self.journal().get_mut(&k) {
            row.0 = outcome.status().as_str().into();
        }
        Ok(())
    }
    async fn complete_cycle(&self, _: &str, _: u64, _: Timestamp) -> Result<(), StoreError> {
        Ok(())
    }
    async fn set_target_status(&self, _: &str, _: &TargetStatus) -> Result<(), StoreError> {
        Ok(())
    }
    async fn record_pause(
        &self,
        _: &str,
        _: Option<&str>,
        _: PauseKind,
        _: Duration,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn set_account_stopped(
        &self,
        _: &str,
        _: Option<&AccountStop>,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn probe(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn set_broadcaster_state(
        &self,
        _: &str,
        _: OperatorState,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        Ok(HashMap::new())
    }
    /// Nothing: this journal keeps no times or accounts (a fresh start remembers no posts).
    async fn recent_deliveries(&self, _: Timestamp) -> Result<Vec<JournalPost>, StoreError> {
        Ok(Vec::new())
    }
    async fn record_chat_hold(
        &self,
        _: &str,
        _: &str,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn record_migration(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Keeps no times: never.
    async fn last_sent_at(&self, _: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(None)
    }
}
