//! Safe, versioned updates: fetch → parse → validate → compare → store a new version. A fetch
//! that fails in any way, or yields no active message (unless allowed), changes nothing; equal
//! content creates no version. The daemon's refresh loop hands each new version to the engine,
//! which uses it from the next cycle on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{Message, MessageSet};
use smb_engine::planner::BroadcasterSpec;
use smb_engine::{Clock, Control, DriverHandle, StoreError};
use smb_store::SqliteStore;
use tokio_util::sync::CancellationToken;

use crate::validate::{ContentRules, check_rows};
use crate::{Fetched, Fetcher, Source, SourceError};

/// Where versions of message sets are kept (the SQLite store; a memory double in tests).
#[async_trait]
pub trait VersionStore: Send + Sync {
    /// The current version number and messages of `set`.
    async fn current(&self, set: &str) -> Result<Option<(i64, Vec<Message>)>, StoreError>;
    /// Stores the next version unless equal to the current one (`None` then).
    async fn save(
        &self,
        set: &str,
        messages: &[Message],
        summary: &str,
        source: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError>;
}

#[async_trait]
impl VersionStore for SqliteStore {
    async fn current(&self, set: &str) -> Result<Option<(i64, Vec<Message>)>, StoreError> {
        Ok(self
            .current_message_set(set)
            .await?
            .map(|v| (v.version, v.messages)))
    }

    async fn save(
        &self,
        set: &str,
        messages: &[Message],
        summary: &str,
        source: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        self.save_message_set_version(set, messages, summary, source, at)
            .await
    }
}

/// A message set with a source, as configured.
#[derive(Debug, Clone)]
pub struct SetSource {
    pub set: String,
    pub source: Source,
    pub rules: ContentRules,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// Same content as the current version (or nothing stored and nothing read): no version.
    Unchanged { version: Option<i64> },
    /// A new version was stored.
    Updated { version: i64, summary: String },
}

/// What one update did.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    pub set: String,
    pub origin: String,
    pub rows: usize,
    pub active: usize,
    pub outcome: UpdateOutcome,
    /// The set as it now is (what the engine should use).
    pub messages: MessageSet,
    /// How the source was read, for the operator (see [`crate::Fetched::notes`]).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    // The reason is in each message and is not a `source` too: `{:#}` would print it twice.
    #[error("message set `{set}`: {error}\n  (the current version is kept)")]
    Source { set: String, error: SourceError },
    #[error("message set `{set}`: the store failed: {error}")]
    Store { set: String, error: StoreError },
}

impl UpdateError {
    pub fn is_transient(&self) -> bool {
        match self {
            UpdateError::Source { error: source, .. } => source.is_transient(),
            UpdateError::Store { .. } => true,
        }
    }
}

/// Fetches `s`, checks it and stores it as a new version when it differs from the current one.
pub async fn update_set(
    fetcher: &Fetcher,
    store: &dyn VersionStore,
    s: &SetSource,
    allow_empty: bool,
    now: Timestamp,
) -> Result<UpdateReport, UpdateError> {
    let src_err = |source| UpdateError::Source {
        set: s.set.clone(),
        error: source,
    };
    let store_err = |source| UpdateError::Store {
        set: s.set.clone(),
        error: source,
    };
    let fetched = fetch_checked(fetcher, s, allow_empty)
        .await
        .map_err(src_err)?;
    let messages: Vec<Message> = fetched.rows.iter().map(|r| r.message.clone()).collect();
    let current = store.current(&s.set).await.map_err(store_err)?;
    let summary = summarize(current.as_ref().map(|(_, m)| m.as_slice()), &messages);
    let outcome = if current.as_ref().is_some_and(|(_, m)| *m == messages) {
        UpdateOutcome::Unchanged {
            version: current.as_ref().map(|(v, _)| *v),
        }
    } else {
        match store
            .save(&s.set, &messages, &summary, &fetched.origin, now)
            .await
            .map_err(store_err)?
        {
            Some(version) => UpdateOutcome::Updated { version, summary },
            None => UpdateOutcome::Unchanged {
                version: current.as_ref().map(|(v, _)| *v),
            },
        }
    };
    Ok(UpdateReport {
        set: s.set.clone(),
        origin: fetched.origin,
        rows: messages.len(),
        active: messages.iter().filter(|m| m.active).count(),
        outcome,
        messages: MessageSet::new(s.set.clone(), messages),
        notes: fetched.notes,
    })
}

/// Fetches `s` and checks its rows as an update would accept them (the same checks, in the
/// same order): what `messages update`, the daemon's refresh and `check` all call, so `check`
/// refuses exactly the content an update refuses. Nothing is stored.
pub async fn fetch_checked(
    fetcher: &Fetcher,
    s: &SetSource,
    allow_empty: bool,
) -> Result<Fetched, SourceError> {
    let fetched = fetcher.fetch(&s.source).await?;
    check_rows(
        &fetched.origin,
        fetched.unit,
        &fetched.rows,
        s.rules,
        allow_empty,
    )?;
    Ok(fetched)
}

/// What changed between two versions, in a few words ("+2 new, −1 removed, 1 changed; 5
/// messages, 4 active").
pub fn summarize(old: Option<&[Message]>, new: &[Message]) -> String {
    let active = new.iter().filter(|m| m.active).count();
    let totals = format!("{} messages, {active} active", new.len());
    let Some(old) = old else {
        return format!("first version: {totals}");
    };
    let added = new
        .iter()
        .filter(|m| !old.iter().any(|o| o.text == m.text))
        .count();
    let removed = old
        .iter()
        .filter(|o| !new.iter().any(|m| m.text == o.text))
        .count();
    let changed = new
        .iter()
        .filter(|m| {
            old.iter()
                .any(|o| o.text == m.text && (o.active != m.active || o.priority != m.priority))
        })
        .count();
    let mut parts = Vec::new();
    if added > 0 {
        parts.push(format!("+{added} new"));
    }
    if removed > 0 {
        parts.push(format!("−{removed} removed"));
    }
    if changed > 0 {
        parts.push(format!("{changed} changed status or priority"));
    }
    if parts.is_empty() {
        parts.push(if old == new {
            "no change".into()
        } else {
            "order changed".into()
        });
    }
    format!("{}; {totals}", parts.join(", "))
}

/// Puts the newest stored version of each broadcaster's set in place of the configured one.
/// Returns the sets replaced, with their version.
pub async fn apply_stored_versions(
    store: &dyn VersionStore,
    specs: &mut [BroadcasterSpec],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut applied: Vec<(String, i64)> = Vec::new();
    for spec in specs.iter_mut() {
        let name = spec.messages.name.clone();
        if let Some((version, messages)) = store.current(&name).await? {
            spec.messages = MessageSet::new(name.clone(), messages);
            if !applied.iter().any(|(n, _)| *n == name) {
                applied.push((name, version));
            }
        }
    }
    Ok(applied)
}

/// How soon a set whose update failed transiently (network, 429, 5xx, a sheet still
/// calculating) is tried again, when GOOGLE_UPDATE_INTERVAL is longer.
pub const TRANSIENT_RETRY: Duration = Duration::from_secs(60);

/// The daemon's refresh: right away, then every `interval` (GOOGLE_UPDATE_INTERVAL), update
/// every set and hand the engine any version it does not have yet (fetched here, or stored by
/// `messages update` / `messages restore` from another process); the engine switches at the
/// next cycle. Failures are logged and leave the current version in place; a set that failed
/// transiently is tried again after [`TRANSIENT_RETRY`] (or `interval`, when shorter), one that
/// needs the operator (a bad cell, a source over its limits) after `interval`. `applied` holds
/// the versions the engine started with (from [`apply_stored_versions`]). Ends on `shutdown`.
#[allow(clippy::too_many_arguments)]
pub async fn refresh_loop(
    fetcher: Arc<Fetcher>,
    store: Arc<dyn VersionStore>,
    sets: Vec<SetSource>,
    applied: Vec<(String, i64)>,
    interval: Duration,
    clock: Arc<dyn Clock>,
    handle: DriverHandle,
    shutdown: CancellationToken,
) {
    if sets.is_empty() {
        return;
    }
    let mut applied: HashMap<String, i64> = applied.into_iter().collect();
    let mut due = vec![tokio::time::Instant::now(); sets.len()];
    loop {
        for (i, s) in sets.iter().enumerate() {
            if shutdown.is_cancelled() {
                return;
            }
            let started = tokio::time::Instant::now();
            if due[i] > started {
                continue;
            }
            let update = update_set(&fetcher, store.as_ref(), s, false, clock.now());
            let res = tokio::select! {
                r = update => r,
                _ = shutdown.cancelled() => return,
            };
            match res {
                Ok(UpdateReport {
                    outcome: UpdateOutcome::Updated { version, summary },
                    ..
                }) => {
                    tracing::info!(set = %s.set, version, %summary, "new message set version");
                }
                Ok(_) => tracing::debug!(set = %s.set, "message set unchanged"),
                Err(e) if e.is_transient() => {
                    let retry = TRANSIENT_RETRY.min(interval);
                    tracing::warn!(error = %e, retry_s = retry.as_secs(), "message set update failed for now; the current version is kept and the update is tried again soon");
                    due[i] = started + retry;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "message set update failed; the current version is kept");
                }
            }
            if due[i] <= started {
                due[i] = started + interval;
            }
            match store.current(&s.set).await {
                Ok(Some((version, messages))) if applied.get(&s.set) != Some(&version) => {
                    tracing::info!(set = %s.set, version, "message set version handed to the broadcasters; used from their next cycle");
                    handle
                        .control(Control::ReplaceMessages(MessageSet::new(
                            s.set.clone(),
                            messages,
                        )))
                        .await;
                    applied.insert(s.set.clone(), version);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(set = %s.set, error = %e, "cannot read the current message set version");
                }
            }
        }
        let next = due
            .iter()
            .min()
            .copied()
            .unwrap_or_else(|| tokio::time::Instant::now() + interval);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, active: bool, priority: u8) -> Message {
        Message {
            text: text.into(),
            active,
            priority,
            variant: None,
        }
    }

    #[test]
    fn summaries_say_what_changed() {
        let old = [m("a", true, 5), m("b", true, 5), m("c", false, 5)];
        assert_eq!(summarize(None, &old), "first version: 3 messages, 2 active");
        let new = [m("a", true, 9), m("c", false, 5), m("d", true, 5)];
        assert_eq!(
            summarize(Some(&old), &new),
            "+1 new, −1 removed, 1 changed status or priority; 3 messages, 2 active"
        );
        let reordered = [m("b", true, 5), m("a", true, 5), m("c", false, 5)];
        assert_eq!(
            summarize(Some(&old), &reordered),
            "order changed; 3 messages, 2 active"
        );
    }
}
