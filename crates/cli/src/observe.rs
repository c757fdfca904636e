//! What the daemon shows and tells while it runs: the event sinks (log, notifier, metrics), the
//! `/metrics` HTTP server, the periodic report loop, and the report's data read from the store.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `METRICS_BIND` | `127.0.0.1:9898` | address of the `/metrics` server (`127.0.0.1:0`: any free port, printed on stderr); `run --no-metrics` turns it off |
//!
//! Reports, notifications and webhooks read their own settings (`smb_notify::NotifySettings`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use jiff::Timestamp;
use smb_engine::{
    DeliveryKey, EventSink, FanoutSink, LogSink, Outcome, PendingDelivery, Store, StoreError,
    StoredAccount, StoredCycle, SystemClock, TargetStatus,
};
use smb_notify::report::BoxError;
use smb_notify::{
    AccountReport, BroadcasterReport, DisabledTarget, Metrics, Notifier, NotifierHandle,
    ReportData, ReportSource, Reporter,
};
use smb_store::SqliteStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::daemon::Bound;

/// How long queued notifications may still be delivered after the engine stopped. With the
/// driver's 3 s grace for the send in flight this keeps the whole exit within 5 s.
const NOTIFY_GRACE: Duration = Duration::from_secs(2);

/// The Prometheus endpoint, as a router the web server can merge: `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(get_metrics))
        .with_state(metrics)
}

async fn get_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, smb_notify::metrics::CONTENT_TYPE)],
        metrics.render(),
    )
}

/// The sinks and background tasks of a running daemon; [`Observers::stop`] ends them.
pub struct Observers {
    sink: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    server: Option<crate::web::HttpServer>,
    notifier: NotifierHandle,
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Observers {
    /// What [`Observers::start`] would refuse in `settings` (for a reload's first phase).
    pub fn check(settings: &Settings) -> anyhow::Result<()> {
        let notify = settings.sections.notify.clone();
        crate::web::server_limits(settings)?;
        if notify.reports.enabled {
            Reporter::from_settings(&notify)?;
        }
        Ok(())
    }

    /// Starts the notifier, the `/metrics` server on `metrics_socket` (taken out of the option only
    /// once nothing can fail any more, so a failed start leaves the socket with the caller) and
    /// the report loop (when `ENABLE_REPORTS=true`). Fails on invalid settings, before anything
    /// is sent.
    pub async fn start(
        settings: &Settings,
        store: Option<&SqliteStore>,
        metrics_socket: &mut Option<Bound>,
    ) -> anyhow::Result<Observers> {
        let notify = settings.sections.notify.clone();
        let limits = crate::web::server_limits(settings)?;
        let reporter = match notify.reports.enabled {
            true => Some(Reporter::from_settings(&notify)?),
            false => None,
        };
        // The report reads the SQLite store's figures (a PostgreSQL journal has none yet).
        if reporter.is_some() && store.is_none() {
            anyhow::bail!("ENABLE_REPORTS=true: {}", crate::config::NOT_YET_POSTGRES);
        }
        let (notifier, handle) = Notifier::spawn(&notify).context("starting notifications")?;
        notifier.set_timezone(settings.timezone.clone());
        let metrics = Arc::new(Metrics::new(Arc::new(SystemClock)));
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();

        let server = metrics_socket.take().map(|socket| {
            if let Ok(addr) = socket.listener.local_addr() {
                // Tests and scripts read the port from this line when METRICS_BIND ends in :0.
                eprintln!("metrics on http://{addr}/metrics");
            }
            crate::web::HttpServer::start(socket, router(metrics.clone()), limits, "metrics")
        });

        if let Some(reporter) = reporter
            && let Some(store) = store
        {
            let source = Arc::new(StoreReportSource::new(store.clone(), settings));
            tasks.push(tokio::spawn(reporter.run(
                source,
                Arc::new(SystemClock),
                stop.clone(),
            )));
        }

        if let Some(store) = store {
            tasks.push(tokio::spawn(watch_versions(
                store.clone(),
                settings_sets(settings),
                metrics.clone(),
                stop.clone(),
            )));
        }

        let sink = Arc::new(FanoutSink(vec![
            Arc::new(LogSink),
            Arc::new(notifier),
            metrics.clone(),
        ]));
        Ok(Observers {
            sink,
            metrics,
            server,
            notifier: handle,
            tasks,
            stop,
        })
    }

    /// `store` with the latency of every journal write recorded in `/metrics`.
    pub fn timed(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(TimedStore {
            inner: store,
            metrics: self.metrics.clone(),
        })
    }

    /// `lease_held{lease}` for every lease of a cluster: 1 for those in `held`.
    pub fn set_leases<'a>(
        &self,
        all: impl Iterator<Item = &'a String>,
        held: &std::collections::BTreeSet<String>,
    ) {
        for lease in all {
            self.metrics.set_lease_held(lease, held.contains(lease));
        }
    }

    /// The sink the driver emits into.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        self.sink.clone()
    }

    /// `GET /metrics` for the web server to serve beside the dashboard.
    pub fn metrics_router(&self) -> Router {
        router(self.metrics.clone())
    }

    /// Delivers what is still queued (for up to [`NOTIFY_GRACE`]), stops the tasks, and gives
    /// the `/metrics` socket back for the next round.
    pub async fn stop(self) -> Option<Bound> {
        self.stop.cancel();
        let socket = match self.server {
            Some(s) => s.stop().await,
            None => None,
        };
        let tasks = async {
            for mut task in self.tasks {
                // A report in flight or a scraper holding its connection must not delay the exit.
                if tokio::time::timeout(NOTIFY_GRACE, &mut task).await.is_err() {
                    task.abort();
                }
            }
        };
        let (stats, ()) = tokio::join!(self.notifier.shutdown(NOTIFY_GRACE), tasks);
        for s in stats {
            if s.queued > 0 || s.failed > 0 || s.dropped > 0 {
                tracing::warn!(
                    channel = s.name,
                    delivered = s.delivered,
                    failed = s.failed,
                    dropped = s.dropped,
                    undelivered = s.queued,
                    "notifications lost at exit"
                );
            }
        }
        socket
    }
}

/// Report data from the SQLite store (works beside a running daemon).
pub struct StoreReportSource {
    store: SqliteStore,
    /// (broadcaster, account), in configuration order.
    broadcasters: Vec<(String, String)>,
    /// Each broadcaster's targets, by their store key.
    targets: BTreeMap<String, Vec<String>>,
    accounts: Vec<String>,
}

impl StoreReportSource {
    pub fn new(store: SqliteStore, settings: &Settings) -> StoreReportSource {
        StoreReportSource {
            store,
            broadcasters: settings
                .broadcasters
                .iter()
                .map(|b| (b.spec.name.clone(), b.spec.account.clone()))
                .collect(),
            targets: settings
                .broadcasters
                .iter()
                .map(|b| {
                    (
                        b.spec.name.clone(),
                        b.spec.targets.iter().map(|t| t.key()).collect(),
                    )
                })
                .collect(),
            accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
        }
    }
}

#[async_trait]
impl ReportSource for StoreReportSource {
    async fn report_data(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<ReportData, BoxError> {
        let period = self.store.period_summary(since, until).await?;
        // The state "now" (pauses, stops, disabled targets, last errors), not limited to the period.
        let state = self.store.stats(None, until).await?;

        let mut names: Vec<(String, Option<String>)> = self
            .broadcasters
            .iter()
            .map(|(b, a)| (b.clone(), Some(a.clone())))
            .collect();
        for b in period.broadcasters.keys() {
            if !names.iter().any(|(n, _)| n == b) {
                names.push((b.clone(), None));
            }
        }
        let mut flood_given: Vec<&str> = Vec::new();
        let mut broadcasters = Vec::new();
        for (name, account) in &names {
            let p = period.broadcasters.get(name).cloned().unwrap_or_default();
            let mut report = BroadcasterReport {
                name: name.clone(),
                sent: p.sent,
                failed: p.failed_by_class,
                cycles_completed: p.cycles_completed,
                ..Default::default()
            };
            // Flood waits belong to an account; they are shown once, on its first broadcaster,
            // so that the totals stay right.
            if let Some(account) = account
                && !flood_given.contains(&account.as_str())
                && let Some(a) = period.accounts.get(account)
            {
                flood_given.push(account);
                report.flood_waits = a.flood_waits;
                report.flood_wait_seconds = a.flood_wait_seconds;
            }
            let own = self.targets.get(name);
            report.disabled_targets = state
                .disabled_targets
                .iter()
                .filter(|t| own.is_some_and(|own| own.contains(&t.target)))
                .map(|t| DisabledTarget {
                    target: t.target.clone(),
                    reason: t.reason.clone().unwrap_or_default(),
                })
                .collect();
            broadcasters.push(report);
        }

        let mut account_names = self.accounts.clone();
        for a in state.accounts.keys() {
            if !account_names.contains(a) {
                account_names.push(a.clone());
            }
        }
        let accounts = account_names
            .into_iter()
            .map(|name| {
                let s = state.accounts.get(&name).cloned().unwrap_or_default();
                AccountReport {
                    paused_until: s.paused_until.as_deref().and_then(|p| p.parse().ok()),
                    stopped_reason: s.stopped_reason.map(|r| r.to_string()),
                    last_error: s.last_error,
                    name,
                }
            })
            .collect();
        Ok(ReportData {
            since,
            until,
            broadcasters,
            accounts,
        })
    }
}

fn settings_sets(settings: &Settings) -> Vec<String> {
    let mut sets: Vec<String> = settings
        .broadcasters
        .iter()
        .map(|b| b.spec.messages.name.clone())
        .collect();
    sets.sort();
    sets.dedup();
    sets
}

/// Keeps the `message_set_version` gauge at the newest stored version of each set (versions
/// are stored by the daemon's refresh loop or by `messages update` from another process).
async fn watch_versions(
    store: SqliteStore,
    sets: Vec<String>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        for set in &sets {
            if let Ok(Some(v)) = store.current_message_set(set).await {
                metrics.set_message_set_version(set, v.version.max(0) as u64);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// A `Store` that records how long each journal write takes (`store_write_latency_seconds`).
struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    async fn time<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let res = write.await;
        self.metrics.record_store_write(started.elapsed());
        res
    }
}

#[async_trait]
impl Store for TimedStore {
    async fn last_cycle(&self, broadcaster: &str) -> Result<Option<StoredCycle>, StoreError> {
        self.inner.last_cycle(broadcaster).await
    }
    async fn accounts(
        &self,
    ) -> Result<std::collections::HashMap<String, StoredAccount>, StoreError> {
        self.inner.accounts().await
    }
    async fn target_statuses(
        &self,
    ) -> Result<std::collections::HashMap<String, TargetStatus>, StoreError> {
        self.inner.target_statuses().await
    }
    async fn start_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.start_cycle(broadcaster, cycle, message, at))
            .await
    }
    async fn write_pending(&self, delivery: &PendingDelivery) -> Result<(), StoreError> {
        self.time(self.inner.write_pending(delivery)).await
    }
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.record_outcome(key, outcome, at)).await
    }
    async fn complete_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.complete_cycle(broadcaster, cycle, at))
            .await
    }
    async fn set_target_status(
        &self,
        target: &str,
        status: &TargetStatus,
    ) -> Result<(), StoreError> {
        self.time(self.inner.set_target_status(target, status))
            .await
    }
    async fn record_pause(
        &self,
        account: &str,
        target: Option<&str>,
        kind: smb_domain::PauseKind,
        seconds: Duration,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(
            self.inner
                .record_pause(account, target, kind, seconds, until, at),
        )
        .await
    }
    async fn set_account_stopped(
        &self,
        account: &str,
        reason: Option<&smb_domain::AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.set_account_stopped(account, reason, at))
            .await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
    async fn watch(&self) -> Result<(), StoreError> {
        self.inner.watch().await
    }
    async fn probe(&self) -> Result<(), StoreError> {
        self.inner.probe().await
    }
    async fn set_broadcaster_state(
        &self,
        broadcaster: &str,
        state: smb_domain::OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.set_broadcaster_state(broadcaster, state, at))
            .await
    }
    async fn recent_deliveries(
        &self,
        since: Timestamp,
    ) -> Result<Vec<smb_engine::JournalPost>, StoreError> {
        self.inner.recent_deliveries(since).await
    }
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.record_chat_hold(target, reason, until, at))
            .await
    }
    async fn broadcaster_states(
        &self,
    ) -> Result<std::collections::HashMap<String, smb_domain::OperatorState>, StoreError> {
        self.inner.broadcaster_states().await
    }
    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.record_migration(old, new, account, at).await
    }
    async fn previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<smb_engine::OurPost>, StoreError> {
        self.inner
            .previous_post(broadcaster, target, before_cycle)
            .await
    }
    async fn write_follow_ups(
        &self,
        rows: &[smb_engine::FollowUp],
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.write_follow_ups(rows, at)).await
    }
    async fn record_follow_up(
        &self,
        row: &smb_engine::FollowUp,
        result: &smb_engine::FollowUpResult,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.time(self.inner.record_follow_up(row, result, at))
            .await
    }
    async fn pending_follow_ups(&self) -> Result<Vec<smb_engine::FollowUp>, StoreError> {
        self.inner.pending_follow_ups().await
    }
    async fn record_post_check(
        &self,
        check: &smb_engine::PostCheck,
    ) -> Result<smb_engine::PostCheckResult, StoreError> {
        self.time(self.inner.record_post_check(check)).await
    }
    async fn chat_survival(&self) -> Result<Vec<smb_engine::ChatSurvival>, StoreError> {
        self.inner.chat_survival().await
    }
    async fn chat_pauses(
        &self,
        after: jiff::Timestamp,
    ) -> Result<Vec<smb_engine::StoredChatPause>, StoreError> {
        self.inner.chat_pauses(after).await
    }
    async fn last_sent_by_account(
        &self,
        target: &str,
    ) -> Result<std::collections::HashMap<String, jiff::Timestamp>, StoreError> {
        self.inner.last_sent_by_account(target).await
    }
    async fn record_refusal(&self, r: &smb_engine::StoredRefusal) -> Result<(), StoreError> {
        self.time(self.inner.record_refusal(r)).await
    }
    async fn clear_refusal(&self, account: &str, target: &str) -> Result<(), StoreError> {
        self.time(self.inner.clear_refusal(account, target)).await
    }
    async fn refusals(
        &self,
        after: jiff::Timestamp,
    ) -> Result<Vec<smb_engine::StoredRefusal>, StoreError> {
        self.inner.refusals(after).await
    }
}
