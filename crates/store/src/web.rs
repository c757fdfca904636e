//! Queries of the dashboard and the REST API: the deliveries log (filters, pages, export) and
//! the targets added to a list at run time (table `web_targets`, migration 0004).
//!
//! Added targets are written through a short connection of their own, as message-set versions
//! are (see `messages.rs`): rare writes that must not queue behind the journal's group commit.

use jiff::Timestamp;
use serde::Serialize;
use smb_domain::{DeliveryStatus, ErrorClass};
use smb_engine::StoreError;

use crate::row::{col, opt_word, word};
use crate::sqlite::{SqliteStore, ms, ts};

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
}

/// Which deliveries to show; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    /// Only this broadcaster's deliveries.
    pub broadcaster: Option<String>,
    /// A target's store key (`TargetRef::key`).
    pub target: Option<String>,
    /// Only deliveries in this status.
    pub outcome: Option<DeliveryStatus>,
    /// Last change at or after this moment.
    pub from: Option<Timestamp>,
    /// Last change before this moment.
    pub to: Option<Timestamp>,
}

/// One row of the delivery journal, as the log shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRow {
    /// Row id, increasing in insertion order.
    pub id: i64,
    /// Broadcaster name.
    pub broadcaster: String,
    /// Cycle number of the broadcaster, from 0.
    pub cycle: i64,
    /// The target's store key (`TargetRef::key`).
    pub target: String,
    /// Account that sends it.
    pub account: String,
    /// The `random_id` given to Telegram, which makes a resend idempotent.
    pub random_id: i64,
    /// The message text as picked for the cycle.
    pub message: String,
    /// Where the delivery stands in the journal.
    pub outcome: DeliveryStatus,
    /// Send attempts so far.
    pub attempts: i64,
    /// Telegram's id of the sent message.
    pub message_id: Option<i64>,
    /// What the engine did about the latest error.
    pub error_class: Option<ErrorClass>,
    /// Telegram's error name (e.g. `FLOOD_WAIT_X`), if it failed or was deferred.
    pub error_code: Option<String>,
    /// The latest error as shown to the operator.
    pub error_text: Option<String>,
    /// When a deferred delivery is tried again.
    pub retry_at: Option<Timestamp>,
    /// When the delivery was claimed.
    pub created_at: Timestamp,
    /// Its last change.
    pub updated_at: Timestamp,
}

/// A target added to a list from the dashboard or the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddedTarget {
    /// Name of the target list (`[targets.NAME]`) it was added to.
    pub list: String,
    /// The store key (`TargetRef::key`).
    pub target: String,
    /// As the operator wrote it.
    pub raw: String,
    /// When it was added.
    pub added_at: Timestamp,
}

/// The filter as bound parameters: each `(? IS NULL OR column …)` pair takes the value twice.
macro_rules! filtered {
    ($head:literal, $tail:literal) => {
        concat!(
            $head,
            " FROM deliveries WHERE (?1 IS NULL OR broadcaster = ?1) AND (?2 IS NULL OR target = ?2)
               AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR updated_at >= ?4)
               AND (?5 IS NULL OR updated_at < ?5) ",
            $tail
        )
    };
}

fn decode(r: &sqlx::sqlite::SqliteRow) -> Result<DeliveryRow, StoreError> {
    Ok(DeliveryRow {
        id: col(r, "id")?,
        broadcaster: col(r, "broadcaster")?,
        cycle: col(r, "cycle")?,
        target: col(r, "target")?,
        account: col(r, "account")?,
        random_id: col(r, "random_id")?,
        message: col(r, "message")?,
        outcome: word(r, "status")?,
        attempts: col(r, "attempts")?,
        message_id: col(r, "message_id")?,
        error_class: opt_word(r, "error_class")?,
        error_code: col(r, "error_code")?,
        error_text: col(r, "error_text")?,
        retry_at: col::<Option<i64>, _>(r, "retry_at")?.map(ts),
        created_at: ts(col(r, "created_at")?),
        updated_at: ts(col(r, "updated_at")?),
    })
}

impl SqliteStore {
    /// Deliveries matching `filter`, newest change first, skipping `offset` and returning at most
    /// `limit`; with the number of all matching rows.
    pub async fn deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<DeliveryRow>), StoreError> {
        let total: i64 = sqlx::query(filtered!("SELECT COUNT(*) AS n", ""))
            .bind(&filter.broadcaster)
            .bind(&filter.target)
            .bind(filter.outcome.map(DeliveryStatus::as_str))
            .bind(filter.from.map(ms))
            .bind(filter.to.map(ms))
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
            .and_then(|r| col(&r, "n"))?;
        let rows = self.delivery_rows(filter, limit, offset).await?;
        Ok((u64::try_from(total).unwrap_or(0), rows))
    }

    /// The rows of [`deliveries`](Self::deliveries) without counting every match (an export,
    /// the overview's recent errors).
    pub async fn delivery_rows(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(filtered!(
            "SELECT id, broadcaster, cycle, target, account, random_id, message, status, attempts,
                    message_id, error_class, error_code, error_text, retry_at, created_at, updated_at",
            "ORDER BY updated_at DESC, id DESC LIMIT ?6 OFFSET ?7"
        ))
        .bind(&filter.broadcaster)
        .bind(&filter.target)
        .bind(filter.outcome.map(DeliveryStatus::as_str))
        .bind(filter.from.map(ms))
        .bind(filter.to.map(ms))
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter().map(decode).collect()
    }

    /// Remembers `target` (its key, and `raw` as written) as a member of `list`. Returns false
    /// when it was there already.
    pub async fn add_list_target(
        &self,
        list: &str,
        target: &str,
        raw: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut conn = self.message_writer().await?;
        let done = sqlx::query(
            "INSERT INTO web_targets (list, target, raw, added_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (list, target) DO NOTHING",
        )
        .bind(list)
        .bind(target)
        .bind(raw)
        .bind(ms(at))
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    /// Every target added at run time, by list, in the order they were added.
    pub async fn added_targets(&self) -> Result<Vec<AddedTarget>, StoreError> {
        let rows = sqlx::query(
            "SELECT list, target, raw, added_at FROM web_targets ORDER BY list, added_at, target",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(AddedTarget {
                    list: col(r, "list")?,
                    target: col(r, "target")?,
                    raw: col(r, "raw")?,
                    added_at: ts(col(r, "added_at")?),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use smb_domain::TargetRef;
    use smb_engine::{DeliveryKey, Outcome, PendingDelivery, Store};

    use super::*;
    use crate::SqliteSettings;

    #[tokio::test]
    async fn the_log_filters_pages_and_added_targets_persist() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::open(&url, SqliteSettings::default())
            .await
            .unwrap();
        let t0: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        for (i, (b, target)) in [("b2b", "@chat_a"), ("b2b", "@chat_b"), ("b2c", "@chat_a")]
            .iter()
            .enumerate()
        {
            let at = t0 + jiff::SignedDuration::from_secs(60 * i64::try_from(i).unwrap());
            let key = DeliveryKey {
                broadcaster: (*b).into(),
                cycle: 1,
                target: TargetRef::parse(target).unwrap(),
            };
            let pending = PendingDelivery {
                key: key.clone(),
                account: "acc1".into(),
                random_id: 100 + i64::try_from(i).unwrap(),
                message: "m".into(),
                variant: None,
                attempt: 0,
                at,
            };
            store.write_pending(&pending).await.unwrap();
            if i < 2 {
                store
                    .record_outcome(
                        &key,
                        &Outcome::Sent {
                            message_id: Some(i64::try_from(i).unwrap()),
                        },
                        at,
                    )
                    .await
                    .unwrap();
            }
        }
        store.flush().await.unwrap();

        let (total, rows) = store
            .deliveries(&DeliveryFilter::default(), 2, 0)
            .await
            .unwrap();
        assert_eq!(total, 3);
        assert_eq!(
            rows.iter().map(|r| r.random_id).collect::<Vec<_>>(),
            [102, 101]
        );
        let (_, rows) = store
            .deliveries(&DeliveryFilter::default(), 2, 2)
            .await
            .unwrap();
        assert_eq!(rows.iter().map(|r| r.random_id).collect::<Vec<_>>(), [100]);
        assert_eq!(
            store
                .delivery_rows(&DeliveryFilter::default(), 2, 2)
                .await
                .unwrap(),
            rows
        );

        let f = DeliveryFilter {
            broadcaster: Some("b2b".into()),
            outcome: Some(DeliveryStatus::Sent),
            ..Default::default()
        };
        assert_eq!(store.deliveries(&f, 10, 0).await.unwrap().0, 2);
        let f = DeliveryFilter {
            target: Some("@chat_a".into()),
            ..Default::default()
        };
        assert_eq!(store.deliveries(&f, 10, 0).await.unwrap().0, 2);
        let f = DeliveryFilter {
            from: Some(t0 + jiff::SignedDuration::from_secs(30)),
            to: Some(t0 + jiff::SignedDuration::from_secs(90)),
            ..Default::default()
        };
        let (n, rows) = store.deliveries(&f, 10, 0).await.unwrap();
        assert_eq!(
            (n, rows[0].target.as_str(), rows[0].outcome.as_str()),
            (1, "@chat_b", "sent")
        );

        assert!(
            store
                .add_list_target("prod", "@newchat", "t.me/newchat", t0)
                .await
                .unwrap()
        );
        assert!(
            !store
                .add_list_target("prod", "@newchat", "@newchat", t0)
                .await
                .unwrap()
        );
        drop(store);
        let store = SqliteStore::open(&url, SqliteSettings::default())
            .await
            .unwrap();
        let added = store.added_targets().await.unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(
            (added[0].list.as_str(), added[0].raw.as_str()),
            ("prod", "t.me/newchat")
        );
    }
}
