//! Prometheus metrics: an [`EventSink`] that counts engine events into its own recorder, and the
//! text the daemon serves on `/metrics`.
//!
//! The recorder is not installed globally: [`Metrics`] owns it and records through
//! `metrics::with_local_recorder`, so two instances (tests, or a second daemon in one process)
//! never share counters.
//!
//! Histogram samples are bounded: the exporter keeps each recorded sample until it is folded
//! into the buckets, which it does only when asked (at a scrape). With `--no-metrics`, or
//! nobody scraping, that was every sample of the daemon's life (~50 bytes a delivery, forever).
//! [`Metrics`] folds them itself every [`DRAIN_EVERY`] samples, so at most that many are held
//! per histogram whatever the scraping.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `deliveries_total` | counter | `broadcaster`, `account`, `outcome` (`sent`, `failed`, `deferred`) |
//! | `delivery_failures_total` | counter | `account`, `class` |
//! | `send_latency_seconds` | histogram | — |
//! | `flood_wait_seconds_total` | counter | `account` |
//! | `flood_waits_total` | counter | `account` |
//! | `slowmode_wait_seconds_total` | counter | `account` |
//! | `account_paused` | gauge (0/1, as of the scrape) | `account` |
//! | `account_stopped` | gauge (0/1) | `account` |
//! | `targets_disabled_total` | counter | — |
//! | `cycles_completed_total` | counter | `broadcaster` |
//! | `clock_steps_total` | counter | — |
//! | `store_write_latency_seconds` | histogram | — |
//! | `message_set_version` | gauge | `message_set` |
//! | `lease_held` | gauge (0/1, set when a round starts) | `lease` |

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use smb_engine::ports::{Clock, EngineEvent, EventSink, Outcome};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const LATENCY_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];
const STORE_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// Histogram samples recorded between two folds into the buckets: the most held in memory
/// (~16 bytes a sample: 2 histograms × 256 → ~8 KB at most).
pub const DRAIN_EVERY: u32 = 256;

/// The daemon's metrics. Share it as `Arc<Metrics>`: it is the event sink and the renderer.
pub struct Metrics {
    recorder: PrometheusRecorder,
    /// Histogram samples recorded since the last fold (see [`DRAIN_EVERY`]).
    unfolded: AtomicU32,
    clock: Arc<dyn Clock>,
    // std's mutex: a short map update inside the sync `emit` and `render`.
    paused_until: Mutex<HashMap<String, Timestamp>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(clock: Arc<dyn Clock>) -> Metrics {
        let builder = PrometheusBuilder::new();
        // Buckets are non-empty constants: these calls cannot fail.
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full("send_latency_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("store_write_latency_seconds".into()),
                    &STORE_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let metrics = Metrics {
            recorder,
            unfolded: AtomicU32::new(0),
            clock,
            paused_until: Mutex::new(HashMap::new()),
        };
        metrics.record(|| {
            metrics::describe_counter!("deliveries_total", "Deliveries by outcome");
            metrics::describe_counter!(
                "flood_wait_seconds_total",
                metrics::Unit::Seconds,
                "Seconds of flood waits Telegram imposed"
            );
            metrics::describe_gauge!("account_paused", "1 while the account is in a flood wait");
            metrics::describe_gauge!(
                "journal_up",
                "0 while the delivery journal does not take writes (nothing is sent)"
            );
            metrics::describe_histogram!(
                "send_latency_seconds",
                metrics::Unit::Seconds,
                "Time of one send through the gateway"
            );
        });
        metrics
    }

    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    /// Counts one histogram sample and folds the held samples into their buckets every
    /// [`DRAIN_EVERY`] samples, so memory stays bounded without a scrape.
    fn sampled(&self) {
        if self.unfolded.fetch_add(1, Ordering::Relaxed) + 1 >= DRAIN_EVERY {
            self.unfolded.store(0, Ordering::Relaxed);
            self.recorder.handle().run_upkeep();
        }
    }

    /// One store write took `latency` (called by the store adapter or the driver).
    pub fn record_store_write(&self, latency: Duration) {
        self.record(|| {
            metrics::histogram!("store_write_latency_seconds").record(latency.as_secs_f64());
        });
        self.sampled();
    }

    /// The version of a message set now in use (bumped on every refresh from its source).
    pub fn set_message_set_version(&self, message_set: &str, version: u64) {
        let set = message_set.to_owned();
        self.record(|| {
            metrics::gauge!("message_set_version", "message_set" => set).set(version as f64);
        });
    }

    /// Whether this server holds the lease `lease` of a cluster on PostgreSQL (issue 16): 1 when
    /// its round drives that group of accounts, 0 when another server (or none) does. Set at
    /// every round start, which every change of the leases held causes.
    pub fn set_lease_held(&self, lease: &str, held: bool) {
        let lease = lease.to_owned();
        self.record(|| {
            metrics::gauge!("lease_held", "lease" => lease).set(if held { 1.0 } else { 0.0 });
        });
    }

    /// The Prometheus text for `/metrics` (serve it with [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let now = self.clock.now();
        let paused: Vec<(String, bool)> = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(account, until)| (account.clone(), *until > now))
            .collect();
        self.record(|| {
            for (account, is_paused) in paused {
                metrics::gauge!("account_paused", "account" => account).set(if is_paused {
                    1.0
                } else {
                    0.0
                });
            }
        });
        let handle = self.recorder.handle();
        handle.run_upkeep();
        self.unfolded.store(0, Ordering::Relaxed);
        handle.render()
    }

    fn set_paused(&self, account: &str, until: Option<Timestamp>) {
        let mut map = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match until {
            Some(until) => {
                map.insert(account.to_owned(), until);
            }
            None => {
                if let Some(u) = map.get_mut(account) {
                    *u = Timestamp::UNIX_EPOCH;
                }
            }
        }
    }
}

impl EventSink for Metrics {
    fn emit(&self, event: &EngineEvent) {
        match event {
            EngineEvent::Delivered {
                broadcaster,
                account,
                outcome,
                latency,
                ..
            } => {
                if matches!(outcome, Outcome::Sent { .. }) {
                    self.set_paused(account, None);
                }
                self.record(|| {
                    metrics::counter!("deliveries_total",
                        "broadcaster" => broadcaster.clone(),
                        "account" => account.clone(),
                        "outcome" => outcome.status().as_str())
                    .increment(1);
                    if let Outcome::Failed { class, .. } = outcome {
                        metrics::counter!("delivery_failures_total",
                            "account" => account.clone(), "class" => class.as_str())
                        .increment(1);
                    }
                    metrics::histogram!("send_latency_seconds").record(latency.as_secs_f64());
                });
                self.sampled();
            }
            EngineEvent::AccountPaused {
                account,
                until,
                seconds,
                ..
            } => {
                self.set_paused(account, Some(*until));
                self.record(|| {
                    metrics::counter!("flood_wait_seconds_total", "account" => account.clone())
                        .increment(*seconds);
                    metrics::counter!("flood_waits_total", "account" => account.clone())
                        .increment(1);
                    metrics::gauge!("account_paused", "account" => account.clone()).set(1.0);
                });
            }
            EngineEvent::ChatPaused {
                account, seconds, ..
            } => self.record(|| {
                metrics::counter!("slowmode_wait_seconds_total", "account" => account.clone())
                    .increment(*seconds);
            }),
            EngineEvent::ChatHeld { .. } => {}
            EngineEvent::AccountStopped { account, .. } => self.record(|| {
                metrics::gauge!("account_stopped", "account" => account.clone()).set(1.0);
            }),
            EngineEvent::TargetDisabled { .. } => self.record(|| {
                metrics::counter!("targets_disabled_total").increment(1);
            }),
            EngineEvent::AccountRefusedHere { account, .. } => self.record(|| {
                metrics::counter!("account_refused_here_total", "account" => account.clone())
                    .increment(1);
            }),
            EngineEvent::TargetEnabled { .. } => {}
            EngineEvent::CycleCompleted { broadcaster, .. } => self.record(|| {
                metrics::counter!("cycles_completed_total", "broadcaster" => broadcaster.clone())
                    .increment(1);
            }),
            EngineEvent::JournalDown { .. } => self.record(|| {
                metrics::gauge!("journal_up").set(0.0);
                metrics::counter!("journal_down_total").increment(1);
            }),
            EngineEvent::JournalUp { .. } => self.record(|| {
                metrics::gauge!("journal_up").set(1.0);
            }),
            EngineEvent::Started { .. } => self.record(|| {
                metrics::gauge!("journal_up").set(1.0);
            }),
            EngineEvent::ClockStepped { .. } => self.record(|| {
                metrics::counter!("clock_steps_total").increment(1);
            }),
            EngineEvent::Stopped
            | EngineEvent::ChatMigrated { .. }
            | EngineEvent::VariantRetired { .. }
            | EngineEvent::PostsRemoved { .. }
            | EngineEvent::CycleStarted { .. }
            | EngineEvent::BadContent { .. }
            | EngineEvent::StoreFailed { .. } => {}
        }
    }
}
