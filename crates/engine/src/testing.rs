//! Test support for driver tests of this and other crates: an in-memory [`Store`]
//! ([`MemoryStore`]), a wrapper that lets a test drop, fail or delay any journal write of
//! another store ([`Hooked`]), and the planner set-up most driver tests start from
//! ([`PlannerSetup`]).
//!
//! [`MemoryStore`] keeps only what those tests look at (each delivery's status and random_id)
//! and remembers nothing across instances; the SQLite store has its own story test.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use smb_domain::{
    AccountStop, DeliveryStatus, Jitter, Message, MessageSet, OperatorState, Pacing, PauseKind,
    Rotation, Schedule, TargetParseError, TargetRef,
};

use crate::planner::{
    AccountSpec, BroadcasterSpec, Content, Planner, PlannerError, PlannerSettings,
};

use crate::ports::{
    DeliveryKey, FollowUp, FollowUpResult, JournalPost, OurPost, Outcome, PendingDelivery, Store,
    StoreError, StoredAccount, StoredChatPause, StoredCycle, StoredRefusal, TargetStatus,
};

/// (broadcaster, cycle, target key) → (status as the journal writes it, random_id)
pub type Journal = HashMap<(String, u64, String), (String, i64)>;

/// Our posts in a [`MemoryStore`]: (broadcaster, target key, cycle) → (account, message id).
pub type Posts = HashMap<(String, String, u64), (String, Option<i64>)>;

/// [`MemoryStore::survival`]: the removed posts (target, broadcaster, id) and each chat's
/// record.
pub type Survival = (
    std::collections::HashSet<(String, String, i64)>,
    HashMap<String, crate::ports::ChatSurvival>,
);

/// A journal in memory; starts empty, as a fresh database would.
#[derive(Default)]
pub struct MemoryStore {
    /// Every delivery written, by (broadcaster, cycle, target key).
    pub deliveries: Mutex<Journal>,
    /// Every chat pause recorded (a pause with a target), in order: kept so a test can
    /// restart a driver on the same store.
    pub chat_pauses: Mutex<Vec<StoredChatPause>>,
    /// Per-account refusals, by (account, target): the latest of each.
    pub refusals: Mutex<HashMap<(String, String), StoredRefusal>>,
    /// Our posts, by (broadcaster, target key, cycle): (account, message id), from the
    /// pending write's account and a `Sent` outcome's id.
    pub posts: Mutex<Posts>,
    /// Every follow-up written, in order, with its result once recorded.
    pub follow_ups: Mutex<Vec<(FollowUp, Option<FollowUpResult>)>>,
    /// The survival checks (issue 15): the removed posts (target, broadcaster, id) and
    /// each chat's record.
    pub survival: Mutex<Survival>,
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
        lock(&self.posts).insert(
            (d.key.broadcaster.clone(), d.key.target.key(), d.key.cycle),
            (d.account.clone(), None),
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
        if let Outcome::Sent {
            message_id: Some(id),
        } = outcome
            && let Some(post) = lock(&self.posts).get_mut(&(k.0, k.2, k.1))
        {
            post.1 = Some(*id);
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
        account: &str,
        target: Option<&str>,
        _: PauseKind,
        _: Duration,
        until: Timestamp,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(target) = target {
            self.chat_pauses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(StoredChatPause {
                    account: account.to_owned(),
                    target: target.to_owned(),
                    until,
                });
        }
        Ok(())
    }
    async fn chat_pauses(&self, after: Timestamp) -> Result<Vec<StoredChatPause>, StoreError> {
        let mut latest: HashMap<(String, String), Timestamp> = HashMap::new();
        for p in self
            .chat_pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|p| p.until > after)
        {
            let until = latest
                .entry((p.account.clone(), p.target.clone()))
                .or_insert(p.until);
            *until = (*until).max(p.until);
        }
        let mut out: Vec<StoredChatPause> = latest
            .into_iter()
            .map(|((account, target), until)| StoredChatPause {
                account,
                target,
                until,
            })
            .collect();
        out.sort_by(|a, b| (&a.account, &a.target).cmp(&(&b.account, &b.target)));
        Ok(out)
    }
    async fn record_refusal(&self, r: &StoredRefusal) -> Result<(), StoreError> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((r.account.clone(), r.target.clone()), r.clone());
        Ok(())
    }
    async fn clear_refusal(&self, account: &str, target: &str) -> Result<(), StoreError> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(account.to_owned(), target.to_owned()));
        Ok(())
    }
    async fn refusals(&self, after: Timestamp) -> Result<Vec<StoredRefusal>, StoreError> {
        let mut out: Vec<StoredRefusal> = self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.until > after)
            .cloned()
            .collect();
        out.sort_by(|a, b| (&a.account, &a.target).cmp(&(&b.account, &b.target)));
        Ok(out)
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
    async fn last_sent_by_account(
        &self,
        _: &str,
    ) -> Result<HashMap<String, Timestamp>, StoreError> {
        Ok(HashMap::new())
    }
    async fn previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<OurPost>, StoreError> {
        let journal = lock(&self.posts)
            .iter()
            .filter(|((b, t, c), (_, id))| {
                b == broadcaster && t == target && *c < before_cycle && id.is_some()
            })
            .filter_map(|((_, _, c), (account, id))| {
                Some(OurPost {
                    cycle: *c,
                    account: account.clone(),
                    message_id: (*id)?,
                    album: Vec::new(),
                })
            })
            .collect::<Vec<_>>();
        let records = lock(&self.follow_ups)
            .iter()
            .filter(|(f, _)| {
                f.action == crate::ports::FollowUpAction::Post
                    && f.broadcaster == broadcaster
                    && f.target == target
                    && f.cycle < before_cycle
            })
            .map(|(f, _)| OurPost {
                cycle: f.cycle,
                account: f.account.clone(),
                message_id: f.message_id,
                album: f.album.clone(),
            })
            .collect::<Vec<_>>();
        Ok(journal.into_iter().chain(records).max_by_key(|p| p.cycle))
    }
    async fn write_follow_ups(&self, rows: &[FollowUp], _: Timestamp) -> Result<(), StoreError> {
        let mut all = lock(&self.follow_ups);
        for row in rows {
            if !all.iter().any(|(f, _)| f == row) {
                let born = (row.action == crate::ports::FollowUpAction::Post)
                    .then_some(FollowUpResult::Done);
                all.push((row.clone(), born));
            }
        }
        Ok(())
    }
    async fn record_follow_up(
        &self,
        row: &FollowUp,
        result: &FollowUpResult,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        for (f, r) in lock(&self.follow_ups).iter_mut() {
            if f == row {
                *r = Some(result.clone());
            }
        }
        Ok(())
    }
    async fn pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError> {
        Ok(lock(&self.follow_ups)
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(f, _)| f.clone())
            .collect())
    }
    async fn record_post_check(
        &self,
        check: &crate::ports::PostCheck,
    ) -> Result<crate::ports::PostCheckResult, StoreError> {
        let mut guard = lock(&self.survival);
        let (removed, chats) = &mut *guard;
        let chat =
            chats
                .entry(check.target.clone())
                .or_insert_with(|| crate::ports::ChatSurvival {
                    target: check.target.clone(),
                    removed_in_row: 0,
                    removed_total: 0,
                    flagged: false,
                    last_removed_at: None,
                    checked_at: check.at,
                });
        chat.checked_at = check.at;
        if check.removed {
            let key = (
                check.target.clone(),
                check.broadcaster.clone(),
                check.message_id,
            );
            if removed.insert(key) {
                chat.removed_in_row += 1;
                chat.removed_total += 1;
                chat.last_removed_at = Some(check.at);
            }
        } else {
            chat.removed_in_row = 0;
            chat.flagged = false;
        }
        let flag = check.flag_after > 0 && chat.removed_in_row >= check.flag_after;
        let newly_flagged = flag && !chat.flagged;
        chat.flagged |= flag;
        Ok(crate::ports::PostCheckResult {
            removed_in_row: chat.removed_in_row,
            newly_flagged,
        })
    }
    async fn chat_survival(&self) -> Result<Vec<crate::ports::ChatSurvival>, StoreError> {
        let mut all: Vec<_> = lock(&self.survival).1.values().cloned().collect();
        all.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(all)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One write [`Hooked`] is about to pass on, with what a hook may want to look at.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// [`Store::start_cycle`].
    StartCycle {
        /// The broadcaster's name.
        broadcaster: &'a str,
        /// The cycle's number.
        cycle: u64,
    },
    /// [`Store::write_pending`]: the row written before a send.
    Pending(&'a PendingDelivery),
    /// [`Store::record_outcome`].
    Outcome {
        /// Which delivery.
        key: &'a DeliveryKey,
        /// What became of it.
        outcome: &'a Outcome,
    },
    /// [`Store::complete_cycle`].
    CompleteCycle {
        /// The broadcaster's name.
        broadcaster: &'a str,
        /// The cycle's number.
        cycle: u64,
    },
    /// [`Store::set_target_status`].
    TargetStatus {
        /// The target's key.
        target: &'a str,
    },
    /// [`Store::record_pause`].
    Pause {
        /// The paused account.
        account: &'a str,
    },
    /// [`Store::set_account_stopped`].
    AccountStopped {
        /// The account.
        account: &'a str,
    },
    /// [`Store::set_broadcaster_state`].
    BroadcasterState {
        /// The broadcaster's name.
        broadcaster: &'a str,
    },
    /// [`Store::record_chat_hold`].
    ChatHold {
        /// The held target's key.
        target: &'a str,
    },
    /// [`Store::record_refusal`] and [`Store::clear_refusal`].
    Refusal {
        /// The refused account.
        account: &'a str,
        /// The target's key.
        target: &'a str,
    },
    /// [`Store::record_migration`].
    Migration {
        /// The basic group's old target key.
        old: &'a str,
    },
    /// [`Store::write_follow_ups`] and [`Store::record_follow_up`].
    FollowUp {
        /// The broadcaster whose post it acts on.
        broadcaster: &'a str,
    },
    /// [`Store::flush`].
    Flush,
    /// [`Store::probe`]: the test write the driver makes before it sends again after a failed one.
    Probe,
}

/// What [`Hooked`] does with a write.
#[derive(Debug)]
pub enum Verdict {
    /// Pass it on to the wrapped store.
    Forward,
    /// Answer `Ok(())` without passing it on: the write "succeeds" and is gone.
    Drop,
    /// Answer this error without passing it on.
    Fail(StoreError),
    /// Wait this long (on tokio's clock), then pass it on.
    Delay(Duration),
}

/// Decides, before each write, what [`Hooked`] does with it. Any `Fn(Write) -> Verdict` is one.
pub trait Hook: Send + Sync {
    /// The verdict on `write`, asked once per write before anything reaches the store.
    fn before(&self, write: Write<'_>) -> Verdict;
}

impl<F: Fn(Write<'_>) -> Verdict + Send + Sync> Hook for F {
    fn before(&self, write: Write<'_>) -> Verdict {
        self(write)
    }
}

/// A [`Store`] that asks `hook` before each write of `inner` whether to forward, drop, fail or
/// delay it; reads always reach `inner`. Fault tests build their journal from it: a power loss,
/// a full disk, a slow disk.
pub struct Hooked<S, H> {
    /// The store the writes reach.
    pub inner: S,
    /// What decides about each write; a test keeps its counters and switches here.
    pub hook: H,
}

impl<S, H> Hooked<S, H> {
    /// `inner` with `hook` in front of its writes.
    pub fn new(inner: S, hook: H) -> Self {
        Hooked { inner, hook }
    }
}

impl<S: Store, H: Hook> Hooked<S, H> {
    /// Runs the hook's verdict on `write`; `forward` is the write itself.
    async fn gate<F>(&self, write: Write<'_>, forward: F) -> Result<(), StoreError>
    where
        F: Future<Output = Result<(), StoreError>>,
    {
        match self.hook.before(write) {
            Verdict::Forward => forward.await,
            Verdict::Drop => Ok(()),
            Verdict::Fail(e) => Err(e),
            Verdict::Delay(d) => {
                tokio::time::sleep(d).await;
                forward.await
            }
        }
    }
}

#[async_trait]
impl<S: Store, H: Hook> Store for Hooked<S, H> {
    async fn last_cycle(&self, b: &str) -> Result<Option<StoredCycle>, StoreError> {
        self.inner.last_cycle(b).await
    }
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError> {
        self.inner.accounts().await
    }
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError> {
        self.inner.target_statuses().await
    }
    async fn start_cycle(&self, b: &str, c: u64, m: &str, at: Timestamp) -> Result<(), StoreError> {
        let write = Write::StartCycle {
            broadcaster: b,
            cycle: c,
        };
        self.gate(write, self.inner.start_cycle(b, c, m, at)).await
    }
    async fn write_pending(&self, d: &PendingDelivery) -> Result<(), StoreError> {
        self.gate(Write::Pending(d), self.inner.write_pending(d))
            .await
    }
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::Outcome { key, outcome };
        self.gate(write, self.inner.record_outcome(key, outcome, at))
            .await
    }
    async fn complete_cycle(&self, b: &str, c: u64, at: Timestamp) -> Result<(), StoreError> {
        let write = Write::CompleteCycle {
            broadcaster: b,
            cycle: c,
        };
        self.gate(write, self.inner.complete_cycle(b, c, at)).await
    }
    async fn set_target_status(&self, t: &str, s: &TargetStatus) -> Result<(), StoreError> {
        let write = Write::TargetStatus { target: t };
        self.gate(write, self.inner.set_target_status(t, s)).await
    }
    async fn record_pause(
        &self,
        a: &str,
        t: Option<&str>,
        k: PauseKind,
        s: Duration,
        u: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::Pause { account: a };
        self.gate(write, self.inner.record_pause(a, t, k, s, u, at))
            .await
    }
    async fn set_account_stopped(
        &self,
        a: &str,
        r: Option<&AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::AccountStopped { account: a };
        self.gate(write, self.inner.set_account_stopped(a, r, at))
            .await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.gate(Write::Flush, self.inner.flush()).await
    }
    async fn probe(&self) -> Result<(), StoreError> {
        self.gate(Write::Probe, self.inner.probe()).await
    }
    async fn set_broadcaster_state(
        &self,
        b: &str,
        state: OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::BroadcasterState { broadcaster: b };
        self.gate(write, self.inner.set_broadcaster_state(b, state, at))
            .await
    }
    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError> {
        self.inner.broadcaster_states().await
    }
    async fn recent_deliveries(&self, since: Timestamp) -> Result<Vec<JournalPost>, StoreError> {
        self.inner.recent_deliveries(since).await
    }
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::ChatHold { target };
        self.gate(
            write,
            self.inner.record_chat_hold(target, reason, until, at),
        )
        .await
    }
    /// A read: passed on.
    async fn chat_pauses(&self, after: Timestamp) -> Result<Vec<StoredChatPause>, StoreError> {
        self.inner.chat_pauses(after).await
    }
    async fn record_refusal(&self, r: &StoredRefusal) -> Result<(), StoreError> {
        let write = Write::Refusal {
            account: &r.account,
            target: &r.target,
        };
        self.gate(write, self.inner.record_refusal(r)).await
    }
    async fn clear_refusal(&self, account: &str, target: &str) -> Result<(), StoreError> {
        let write = Write::Refusal { account, target };
        self.gate(write, self.inner.clear_refusal(account, target))
            .await
    }
    /// A read: passed on.
    async fn refusals(&self, after: Timestamp) -> Result<Vec<StoredRefusal>, StoreError> {
        self.inner.refusals(after).await
    }
    async fn last_sent_by_account(
        &self,
        target: &str,
    ) -> Result<HashMap<String, Timestamp>, StoreError> {
        self.inner.last_sent_by_account(target).await
    }
    async fn previous_post(
        &self,
        b: &str,
        t: &str,
        before: u64,
    ) -> Result<Option<OurPost>, StoreError> {
        self.inner.previous_post(b, t, before).await
    }
    async fn write_follow_ups(&self, rows: &[FollowUp], at: Timestamp) -> Result<(), StoreError> {
        let b = rows.first().map_or("", |r| r.broadcaster.as_str());
        self.gate(
            Write::FollowUp { broadcaster: b },
            self.inner.write_follow_ups(rows, at),
        )
        .await
    }
    async fn record_follow_up(
        &self,
        row: &FollowUp,
        result: &FollowUpResult,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write::FollowUp {
            broadcaster: &row.broadcaster,
        };
        self.gate(write, self.inner.record_follow_up(row, result, at))
            .await
    }
    async fn pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError> {
        self.inner.pending_follow_ups().await
    }
    async fn record_post_check(
        &self,
        check: &crate::ports::PostCheck,
    ) -> Result<crate::ports::PostCheckResult, StoreError> {
        self.inner.record_post_check(check).await
    }
    async fn chat_survival(&self) -> Result<Vec<crate::ports::ChatSurvival>, StoreError> {
        self.inner.chat_survival().await
    }
    /// A dropped write answers "first time" (`true`), as a store that forgot it would.
    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        match self.hook.before(Write::Migration { old }) {
            Verdict::Forward => self.inner.record_migration(old, new, account, at).await,
            Verdict::Drop => Ok(true),
            Verdict::Fail(e) => Err(e),
            Verdict::Delay(d) => {
                tokio::time::sleep(d).await;
                self.inner.record_migration(old, new, account, at).await
            }
        }
    }
}

/// The pacing of most driver tests: `delay` between chats, 600 s between cycles, no jitter,
/// 3 retries 60 s apart.
#[must_use]
pub fn pacing(delay: Duration) -> Pacing {
    Pacing {
        delay_between_chats: delay,
        cycle_delay: Duration::from_secs(600),
        jitter: Jitter(0.0),
        max_retries: 3,
        retry_delay: Duration::from_secs(60),
    }
}

/// A set-up [`PlannerSetup::build`] refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A chat given to [`PlannerSetup::broadcaster`] is not a target.
    #[error(transparent)]
    Target(#[from] TargetParseError),
    /// [`Planner::new`] refused the specs.
    #[error(transparent)]
    Planner(#[from] PlannerError),
}

/// The accounts, broadcasters and settings a driver test starts its planner from: broadcasters
/// post one message `"{name} price list"` in order, always (no schedule), with plain content.
#[derive(Debug)]
pub struct PlannerSetup {
    accounts: Vec<AccountSpec>,
    broadcasters: Vec<BroadcasterSpec>,
    settings: PlannerSettings,
    bad_target: Option<TargetParseError>,
}

impl PlannerSetup {
    /// `run --once` (each broadcaster one cycle) with seed 3.
    #[must_use]
    pub fn once() -> Self {
        PlannerSetup::with(PlannerSettings {
            once: true,
            seed: 3,
            ..PlannerSettings::default()
        })
    }

    /// Running until stopped, with seed 3.
    #[must_use]
    pub fn forever() -> Self {
        PlannerSetup::with(PlannerSettings {
            once: false,
            seed: 3,
            ..PlannerSettings::default()
        })
    }

    /// These settings as they are.
    #[must_use]
    pub fn with(settings: PlannerSettings) -> Self {
        PlannerSetup {
            accounts: Vec::new(),
            broadcasters: Vec::new(),
            settings,
            bad_target: None,
        }
    }

    /// Adds the account `name`: at least `delay` between two of its sends, `jitter` on top.
    #[must_use]
    pub fn account(mut self, name: &str, delay: Duration, jitter: Jitter) -> Self {
        self.accounts.push(AccountSpec {
            name: name.into(),
            delay_between_chats: delay,
            jitter,
        });
        self
    }

    /// Adds the broadcaster `name` on `account`, posting into `chats` (any form
    /// [`TargetRef::parse`] takes) with `pacing`.
    #[must_use]
    pub fn broadcaster<C: AsRef<str>>(
        mut self,
        name: &str,
        account: &str,
        chats: impl IntoIterator<Item = C>,
        pacing: Pacing,
    ) -> Self {
        let mut targets = Vec::new();
        for chat in chats {
            match TargetRef::parse(chat.as_ref()) {
                Ok(t) => targets.push(t),
                Err(e) => {
                    self.bad_target.get_or_insert(e);
                }
            }
        }
        self.broadcasters.push(BroadcasterSpec {
            name: name.into(),
            account: account.into(),
            targets,
            messages: MessageSet::new(name, vec![Message::new(format!("{name} price list"))]),
            rotation: Rotation::Sequential,
            pacing,
            schedule: Schedule::always(),
            content: Content::default(),
        });
        self
    }

    /// The planner at `start`.
    ///
    /// # Errors
    /// The first chat that is not a target, or what [`Planner::new`] refuses.
    pub fn build(self, start: Timestamp) -> Result<Planner, SetupError> {
        if let Some(e) = self.bad_target {
            return Err(e.into());
        }
        Ok(Planner::new(
            self.accounts,
            self.broadcasters,
            self.settings,
            start,
        )?)
    }
}
