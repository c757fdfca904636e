//! Target switching (table `target_switch`, migration 0005): whether a broadcaster posts to its
//! production list or its test list, as the operator last chose. `run` applies it when it
//! builds the broadcasters; `stats` and `broadcasters list` show it.
//!
//! Written through a short connection of its own, as message-set versions are (see
//! `messages.rs`): a rare operator write that must not queue behind the journal's group commit.

use std::collections::BTreeMap;

use jiff::Timestamp;
use smb_engine::StoreError;

use crate::row::col;
use crate::sqlite::{SqliteStore, ms, ts};

/// The row that applies to every broadcaster without a row of its own.
pub const ALL_BROADCASTERS: &str = "*";

/// Which list a broadcaster posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMode {
    /// The production list (`targets`).
    Prod,
    /// The test list (`test_targets`).
    Test,
}

impl TargetMode {
    /// The stored spelling: `prod` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetMode::Prod => "prod",
            TargetMode::Test => "test",
        }
    }

    /// Reads the stored spelling back; `None` for anything else.
    pub fn parse(s: &str) -> Option<TargetMode> {
        match s {
            "prod" => Some(TargetMode::Prod),
            "test" => Some(TargetMode::Test),
            _ => None,
        }
    }
}

/// The operator's choices: per broadcaster, and for all (`all`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSwitches {
    /// The choice for all broadcasters and when it was made.
    pub all: Option<(TargetMode, Timestamp)>,
    /// Per broadcaster name: the choice and when it was made; wins over `all`.
    pub by_broadcaster: BTreeMap<String, (TargetMode, Timestamp)>,
}

impl TargetSwitches {
    /// The choice that applies to `broadcaster`, if the operator made one.
    pub fn mode_of(&self, broadcaster: &str) -> Option<TargetMode> {
        self.by_broadcaster
            .get(broadcaster)
            .or(self.all.as_ref())
            .map(|(m, _)| *m)
    }
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

impl SqliteStore {
    /// Switches one broadcaster (`Some(name)`) or every broadcaster (`None`: the per-broadcaster
    /// choices are dropped, so "all" really means all).
    pub async fn set_target_switch(
        &self,
        broadcaster: Option<&str>,
        mode: TargetMode,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.message_writer().await?;
        let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(db_err)?;
        if broadcaster.is_none() {
            sqlx::query("DELETE FROM target_switch")
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query(
            "INSERT INTO target_switch (broadcaster, mode, since) VALUES (?, ?, ?)
             ON CONFLICT (broadcaster) DO UPDATE SET mode = excluded.mode, since = excluded.since",
        )
        .bind(broadcaster.unwrap_or(ALL_BROADCASTERS))
        .bind(mode.as_str())
        .bind(ms(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Every choice the operator made.
    pub async fn target_switches(&self) -> Result<TargetSwitches, StoreError> {
        let rows =
            sqlx::query("SELECT broadcaster, mode, since FROM target_switch ORDER BY broadcaster")
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        let mut out = TargetSwitches::default();
        for r in rows {
            let name: String = col(&r, "broadcaster")?;
            let mode: String = col(&r, "mode")?;
            let Some(mode) = TargetMode::parse(&mode) else {
                continue;
            };
            let entry = (mode, ts(col(&r, "since")?));
            if name == ALL_BROADCASTERS {
                out.all = Some(entry);
            } else {
                out.by_broadcaster.insert(name, entry);
            }
        }
        Ok(out)
    }
}
