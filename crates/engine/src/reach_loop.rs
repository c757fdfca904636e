//! The daemon's reach collection (issue 17): every `poll`, the posts due a reach read (the
//! journal's [`ReachJournal::reach_due`], read k + 1 due `after[k]` after the send) are read
//! through the [`Reach`] port in batches per account and chat, paced by [`ReachPacer`], and
//! stored with their delivery. Reach is never read while the account is in a send pause (the
//! planner's, asked through `send_paused`), and a FLOOD_WAIT answered to a reach call pauses
//! reach only, and only for that account: its sends keep their own pacing and waits.
//! Runs on the engine's [`Clock`] and tokio's timers, so the paused clock drives it in tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::ports::{Clock, DeliveryKey, StoreError};
use crate::reach::{PostReach, Reach, ReachBatch, ReachItem, ReachPacer};

/// The journal's side of reach: what is due, and where the figures go.
#[async_trait]
pub trait ReachJournal: Send + Sync {
    /// Sent posts (with a message id) whose next read is due at `now`: read k + 1 is due
    /// `after[k]` after the send. Oldest first, at most `limit`.
    async fn reach_due(
        &self,
        after: &[Duration],
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ReachItem>, StoreError>;

    /// Stores a read of `key` (one more read done). False: no such delivery.
    async fn record_reach(
        &self,
        key: &DeliveryKey,
        reach: &PostReach,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// How the collector runs.
#[derive(Debug, Clone)]
pub struct ReachLoopSettings {
    /// `reach_after`: read k + 1 is made `after[k]` after the post. Empty: no reads at all.
    pub after: Vec<Duration>,
    /// Between two reach calls of one account (Telegram answers bursts with FLOOD_WAIT).
    pub gap: Duration,
    /// How often the journal is asked what is due.
    pub poll: Duration,
    /// At most this many posts read per round (the rest stay due for the next).
    pub limit: usize,
    /// A chat whose reach call failed otherwise than with a flood wait (left, banned, network)
    /// is not asked again for this long; its posts stay due.
    pub failure_hold: Duration,
    /// Upper bound on one reach call.
    pub call_timeout: Duration,
}

impl ReachLoopSettings {
    /// The daemon's values for `after` (`reach_after`): 3 s between an account's calls, a
    /// look at the journal every quarter of the first wait (between 1 s and 60 s), 1000
    /// posts a round, a failed chat held 1 h, calls bounded by 60 s.
    pub fn daemon(after: Vec<Duration>) -> Self {
        let poll = after
            .first()
            .map_or(Duration::from_secs(60), |d| *d / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        ReachLoopSettings {
            after,
            gap: Duration::from_secs(3),
            poll,
            limit: 1000,
            failure_hold: Duration::from_secs(3600),
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachRound {
    /// Reach calls made (one per batch).
    pub calls: usize,
    /// Posts whose figures were stored.
    pub recorded: usize,
    /// Accounts whose reach a FLOOD_WAIT paused in this round.
    pub flood_waits: Vec<String>,
}

/// Until when an account may not send (a Telegram pause of its sends; `Timestamp::MAX` for a
/// stopped account), as the planner knows it. Reach asks it before each call.
pub type SendPaused = Arc<dyn Fn(&str) -> Option<Timestamp> + Send + Sync>;

/// The reach collector of a running daemon.
pub struct ReachCollector {
    journal: Arc<dyn ReachJournal>,
    reach: Arc<dyn Reach>,
    clock: Arc<dyn Clock>,
    send_paused: SendPaused,
    settings: ReachLoopSettings,
    pacer: ReachPacer,
    /// (account, chat key) → no reach call before.
    failed: HashMap<(String, String), Timestamp>,
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.saturating_add(d).unwrap_or(Timestamp::MAX)
}

impl ReachCollector {
    /// A collector reading through `reach` and storing into `journal`.
    pub fn new(
        journal: Arc<dyn ReachJournal>,
        reach: Arc<dyn Reach>,
        clock: Arc<dyn Clock>,
        send_paused: SendPaused,
        settings: ReachLoopSettings,
    ) -> Self {
        let pacer = ReachPacer::new(settings.gap);
        ReachCollector {
            journal,
            reach,
            clock,
            send_paused,
            settings,
            pacer,
            failed: HashMap::new(),
        }
    }

    /// Until when reach is paused for `account` by a flood wait answered to a reach call.
    pub fn reach_paused_until(&self, account: &str) -> Option<Timestamp> {
        self.pacer.paused_until(account, self.clock.now())
    }

    /// One round: reads what is due now and reads it, batch by batch at the pacer's times
    /// (sleeping between), storing each figure. Ends early on `shutdown`. A journal read or
    /// write that fails ends the round (the posts stay due).
    pub async fn round(&mut self, shutdown: &CancellationToken) -> Result<ReachRound, StoreError> {
        let mut done = ReachRound::default();
        if self.settings.after.is_empty() {
            return Ok(done);
        }
        let now = self.clock.now();
        let due = self
            .journal
            .reach_due(&self.settings.after, now, self.settings.limit)
            .await?;
        let due: Vec<ReachItem> = due
            .into_iter()
            .filter(|i| {
                let chat = i.key.target.chat_only().key();
                self.failed
                    .get(&(i.account.clone(), chat))
                    .is_none_or(|until| *until <= now)
            })
            .collect();
        let paused = self.send_paused.clone();
        let mut batches = self.pacer.batches(due, now, &|a| paused(a));
        batches.sort_by_key(|b| b.at);
        for batch in batches {
            if !self.wait_until(batch.at, shutdown).await {
                break;
            }
            let now = self.clock.now();
            // The planner may have paused the account since the batches were made, or a flood
            // wait of this round may hold it: its posts stay due for a later round.
            if !self
                .pacer
                .may_call(&batch.account, now, (self.send_paused)(&batch.account))
            {
                continue;
            }
            self.read(batch, now, &mut done).await?;
        }
        Ok(done)
    }

    async fn wait_until(&self, at: Timestamp, shutdown: &CancellationToken) -> bool {
        let left = at.duration_since(self.clock.now());
        if left.is_positive() {
            let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(left) => {}
            }
        }
        !shutdown.is_cancelled()
    }

    async fn read(
        &mut self,
        batch: ReachBatch,
        now: Timestamp,
        done: &mut ReachRound,
    ) -> Result<(), StoreError> {
        self.pacer.called(&batch.account, now);
        done.calls += 1;
        let ids: Vec<i64> = batch.items.iter().map(|i| i.message_id).collect();
        let call = self.reach.reach(&batch.account, &batch.target, &ids);
        let answer = tokio::time::timeout(self.settings.call_timeout, call).await;
        let figures = match answer {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                if let Some(wait) = e.retry_after() {
                    let until = plus(now, wait);
                    tracing::warn!(
                        account = %batch.account,
                        target = %batch.target,
                        seconds = wait.as_secs(),
                        "Telegram asked to wait before the next reach read; this account's reach \
                         reads pause until then (its sends keep their own pacing)"
                    );
                    self.pacer.flood_wait(&batch.account, until);
                    done.flood_waits.push(batch.account.clone());
                } else {
                    tracing::warn!(
                        account = %batch.account,
                        target = %batch.target,
                        error = %e,
                        hold_s = self.settings.failure_hold.as_secs(),
                        "reading reach failed; the chat's posts are read again later"
                    );
                    self.failed.insert(
                        (batch.account.clone(), batch.target.key()),
                        plus(now, self.settings.failure_hold),
                    );
                }
                return Ok(());
            }
            Err(_) => {
                tracing::warn!(account = %batch.account, target = %batch.target, "a reach read timed out; tried again at the next round");
                return Ok(());
            }
        };
        let at = self.clock.now();
        for item in &batch.items {
            // One figure per id asked; an id missing from the answer stays due.
            if let Some(f) = figures.iter().find(|f| f.message_id == item.message_id)
                && self.journal.record_reach(&item.key, f, at).await?
            {
                done.recorded += 1;
            }
        }
        tracing::debug!(account = %batch.account, target = %batch.target, posts = batch.items.len(), "reach read");
        Ok(())
    }

    /// Rounds every `poll` until `shutdown`; `after_round` gets each round's result (the
    /// daemon's `auto_winner` looks at the verdict there). A failed round is logged.
    pub async fn run<F, Fut>(mut self, shutdown: CancellationToken, mut after_round: F)
    where
        F: FnMut(ReachRound) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if self.settings.after.is_empty() {
            return;
        }
        loop {
            match self.round(&shutdown).await {
                Ok(r) => after_round(r).await,
                Err(e) => {
                    tracing::warn!(error = %e, "reach round failed; tried again at the next round");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::TokioClock;
    use smb_domain::{SendError, TargetRef};
    use std::sync::Mutex;

    /// A post, when it was sent, its reads so far and its last figures.
    type JournalPost = (ReachItem, Timestamp, u32, Option<PostReach>);
    /// A reach call: account, chat, ids, when.
    type Call = (String, String, Vec<i64>, Timestamp);

    /// Posts sent at `sent`, with their reads so far, as the journal keeps them.
    #[derive(Default)]
    struct Journal {
        posts: Mutex<Vec<JournalPost>>,
    }

    #[async_trait]
    impl ReachJournal for Journal {
        async fn reach_due(
            &self,
            after: &[Duration],
            now: Timestamp,
            limit: usize,
        ) -> Result<Vec<ReachItem>, StoreError> {
            let posts = self.posts.lock().unwrap();
            Ok(posts
                .iter()
                .filter(|(_, sent, reads, _)| {
                    after
                        .get(*reads as usize)
                        .is_some_and(|d| plus(*sent, *d) <= now)
                })
                .map(|(i, ..)| i.clone())
                .take(limit)
                .collect())
        }

        async fn record_reach(
            &self,
            key: &DeliveryKey,
            reach: &PostReach,
            _at: Timestamp,
        ) -> Result<bool, StoreError> {
            let mut posts = self.posts.lock().unwrap();
            let Some(p) = posts.iter_mut().find(|p| p.0.key == *key) else {
                return Ok(false);
            };
            p.2 += 1;
            p.3 = Some(*reach);
            Ok(true)
        }
    }

    /// Answers views = message id × reads so far + 1; records each call with its time;
    /// `flood` answers FLOOD_WAIT_n to one account's calls while set.
    struct Telegram {
        clock: Arc<TokioClock>,
        calls: Mutex<Vec<Call>>,
        flood: Mutex<Option<(String, u64)>>,
    }

    #[async_trait]
    impl Reach for Telegram {
        async fn reach(
            &self,
            account: &str,
            target: &TargetRef,
            message_ids: &[i64],
        ) -> Result<Vec<PostReach>, SendError> {
            self.calls.lock().unwrap().push((
                account.to_owned(),
                target.key(),
                message_ids.to_vec(),
                self.clock.now(),
            ));
            if let Some((_, secs)) = self.flood.lock().unwrap().take_if(|(a, _)| a == account) {
                return Err(SendError::from_telegram(&format!("FLOOD_WAIT_{secs}")));
            }
            Ok(message_ids
                .iter()
                .map(|id| PostReach {
                    message_id: *id,
                    views: Some(*id as u64 * 10),
                    forwards: Some(1),
                    reactions: 2,
                    replies: 3,
                    gone: false,
                })
                .collect())
        }
    }

    fn start() -> Timestamp {
        "2026-05-02T10:00:00Z".parse().unwrap()
    }

    fn post(account: &str, chat: &str, cycle: u64, id: i64) -> ReachItem {
        ReachItem {
            key: DeliveryKey {
                broadcaster: format!("b_{account}"),
                cycle,
                target: TargetRef::parse(chat).unwrap(),
            },
            account: account.into(),
            message_id: id,
        }
    }

    struct Setup {
        clock: Arc<TokioClock>,
        journal: Arc<Journal>,
        telegram: Arc<Telegram>,
        paused: Arc<Mutex<HashMap<String, Timestamp>>>,
    }

    fn setup(posts: Vec<(ReachItem, Timestamp)>) -> (Setup, ReachCollector) {
        let clock = Arc::new(TokioClock::starting_at(start()));
        let journal = Arc::new(Journal {
            posts: Mutex::new(posts.into_iter().map(|(i, t)| (i, t, 0, None)).collect()),
        });
        let telegram = Arc::new(Telegram {
            clock: clock.clone(),
            calls: Mutex::default(),
            flood: Mutex::default(),
        });
        let paused: Arc<Mutex<HashMap<String, Timestamp>>> = Arc::default();
        let p = paused.clone();
        let send_paused: SendPaused = Arc::new(move |a: &str| p.lock().unwrap().get(a).copied());
        let settings = ReachLoopSettings {
            after: vec![
                Duration::from_secs(24 * 3600),
                Duration::from_secs(72 * 3600),
            ],
            gap: Duration::from_secs(5),
            poll: Duration::from_secs(60),
            limit: 1000,
            failure_hold: Duration::from_secs(3600),
            call_timeout: Duration::from_secs(60),
        };
        let c = ReachCollector::new(
            journal.clone(),
            telegram.clone(),
            clock.clone(),
            send_paused,
            settings,
        );
        (
            Setup {
                clock,
                journal,
                telegram,
                paused,
            },
            c,
        )
    }

    fn calls(s: &Setup) -> Vec<(String, String, usize, i64)> {
        s.telegram
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(a, c, ids, at)| {
                (
                    a.clone(),
                    c.clone(),
                    ids.len(),
                    (*at - start()).get_seconds(),
                )
            })
            .collect()
    }

    fn reads(s: &Setup) -> Vec<u32> {
        s.journal
            .posts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.2)
            .collect()
    }

    const H: i64 = 3600;

    #[tokio::test(start_paused = true)]
    async fn reach_is_read_at_the_set_times_in_paced_batches_per_chat() {
        let t0 = start();
        let mut posts: Vec<(ReachItem, Timestamp)> = (0..130)
            .map(|i| (post("acc1", "@chat_one", 1 + i as u64, 1 + i), t0))
            .collect();
        posts.push((post("acc1", "@chat_two", 1, 500), t0));
        posts.push((post("acc2", "@chat_one", 1, 900), t0));
        let (s, c) = setup(posts);
        let stop = CancellationToken::new();
        let task = tokio::spawn(c.run(stop.clone(), |_| async {}));
        // Nothing before 24 h.
        tokio::time::sleep(Duration::from_secs(24 * 3600 - 1)).await;
        assert!(calls(&s).is_empty());
        assert_eq!(reads(&s).iter().sum::<u32>(), 0);
        // The first poll at or after 24 h reads everything, an account's calls 5 s apart.
        tokio::time::sleep(Duration::from_secs(120)).await;
        let first = calls(&s);
        let at = first[0].3;
        assert!((24 * H..24 * H + 61).contains(&at), "{first:?}");
        assert_eq!(
            first,
            [
                ("acc1".to_owned(), "@chat_one".to_owned(), 100, at),
                ("acc2".to_owned(), "@chat_one".to_owned(), 1, at),
                ("acc1".to_owned(), "@chat_one".to_owned(), 30, at + 5),
                ("acc1".to_owned(), "@chat_two".to_owned(), 1, at + 10),
            ]
        );
        assert!(reads(&s).iter().all(|r| *r == 1));
        let stored = s.journal.posts.lock().unwrap()[130].3.unwrap();
        assert_eq!(
            (stored.views, stored.reactions, stored.replies),
            (Some(5000), 2, 3)
        );
        // The second read at 72 h, then none: the list has two.
        tokio::time::sleep(Duration::from_secs(48 * 3600)).await;
        assert_eq!(calls(&s).len(), 8);
        assert!(calls(&s)[4].3 >= 72 * H && calls(&s)[4].3 < 72 * H + 61);
        assert!(reads(&s).iter().all(|r| *r == 2));
        tokio::time::sleep(Duration::from_secs(30 * 24 * 3600)).await;
        assert_eq!(calls(&s).len(), 8);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn no_reach_call_during_a_send_pause() {
        let t0 = start();
        let (s, mut c) = setup(vec![
            (post("acc1", "@chat_one", 1, 1), t0),
            (post("acc2", "@chat_one", 1, 2), t0),
        ]);
        let stop = CancellationToken::new();
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        // acc1's sends are paused by Telegram for 10 more minutes.
        let until = plus(s.clock.now(), Duration::from_secs(600));
        s.paused.lock().unwrap().insert("acc1".into(), until);
        let r = c.round(&stop).await.unwrap();
        assert_eq!((r.calls, r.recorded), (1, 1));
        assert_eq!(calls(&s)[0].0, "acc2");
        // Still paused: nothing.
        tokio::time::sleep(Duration::from_secs(599)).await;
        assert_eq!(c.round(&stop).await.unwrap().calls, 0);
        // The pause ends: acc1's post is read.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(c.round(&stop).await.unwrap().recorded, 1);
        assert_eq!(calls(&s).last().unwrap().0, "acc1");
        assert_eq!(reads(&s), [1, 1]);
        // A stopped account (Timestamp::MAX) is never read.
        s.paused
            .lock()
            .unwrap()
            .insert("acc1".into(), Timestamp::MAX);
        tokio::time::sleep(Duration::from_secs(48 * 3600)).await;
        c.round(&stop).await.unwrap();
        assert_eq!(reads(&s), [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reach_flood_wait_pauses_only_that_accounts_reach() {
        let t0 = start();
        let (s, mut c) = setup(vec![
            (post("acc1", "@chat_one", 1, 1), t0),
            (post("acc1", "@chat_two", 1, 2), t0),
            (post("acc2", "@chat_one", 1, 3), t0),
        ]);
        let stop = CancellationToken::new();
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        *s.telegram.flood.lock().unwrap() = Some(("acc1".into(), 300));
        let r = c.round(&stop).await.unwrap();
        // acc1's first call met the flood wait; its second batch was not tried; acc2 read.
        assert_eq!(r.flood_waits, ["acc1"]);
        assert_eq!((r.calls, r.recorded), (2, 1));
        assert_eq!(reads(&s), [0, 0, 1]);
        let called = s.telegram.calls.lock().unwrap()[0].3;
        let until = c.reach_paused_until("acc1").unwrap();
        assert_eq!((until - called).get_seconds(), 300);
        // The planner's send pause is not touched: sends keep their own pacing.
        assert!(s.paused.lock().unwrap().is_empty());
        assert_eq!(c.reach_paused_until("acc2"), None);
        let left = Duration::try_from(until - s.clock.now()).unwrap();
        tokio::time::sleep(left - Duration::from_secs(1)).await;
        assert_eq!(c.round(&stop).await.unwrap().calls, 0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = c.round(&stop).await.unwrap();
        assert_eq!((r.calls, r.recorded), (2, 2));
        assert_eq!(reads(&s), [1, 1, 1]);
    }
}
