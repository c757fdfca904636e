//! The notifier: an [`EventSink`] that filters, collapses and queues notifications, and one
//! worker task per channel (admin in Telegram, webhook) that delivers them with retries.
//!
//! `emit` never waits: it takes a std mutex for a few pointer moves and returns. Each channel
//! has its own bounded queue, so a webhook that hangs does not hold back the Telegram admin (and
//! neither holds back a send). When a queue is full the oldest DEBUG/INFO notification is dropped
//! (and counted); WARNING and above are never dropped — they are few, and collapsing keeps a
//! repeated one from filling the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use smb_engine::ports::{Clock, EngineEvent, EventSink, SystemClock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::botapi::{BotApi, BotApiError};
use crate::notification::{Notification, event_level, from_event};
use crate::settings::{NotifierOptions, NotifyLevel, NotifySettings};
use crate::webhook::Webhook;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Trying again cannot help (bad token, 4xx from the webhook).
    #[error("{0}")]
    Permanent(String),
    #[error("{detail}")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
}

impl From<BotApiError> for DeliveryError {
    fn from(e: BotApiError) -> Self {
        if e.is_permanent() {
            DeliveryError::Permanent(e.to_string())
        } else {
            DeliveryError::Transient {
                retry_after: e.retry_after(),
                detail: e.to_string(),
            }
        }
    }
}

/// One place notifications go to.
#[async_trait]
pub trait NotificationChannel: Send + Sync {
    /// A short name for logs and stats: `telegram`, `webhook`.
    fn name(&self) -> &'static str;
    async fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError>;
}

/// The admin's private chat with the reports bot.
#[derive(Debug, Clone)]
pub struct TelegramAdmin {
    api: BotApi,
    admin_id: String,
}

impl TelegramAdmin {
    pub fn new(api: BotApi, admin_id: impl Into<String>) -> TelegramAdmin {
        TelegramAdmin {
            api,
            admin_id: admin_id.into(),
        }
    }
}

#[async_trait]
impl NotificationChannel for TelegramAdmin {
    fn name(&self) -> &'static str {
        "telegram"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError> {
        self.api
            .send_message(&self.admin_id, &notification.to_telegram_html())
            .await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    BotApi(#[from] BotApiError),
    #[error("WEBHOOK_URL is not set")]
    NoWebhookUrl,
}

/// The channels switched on in the settings.
pub fn channels_from_settings(
    settings: &NotifySettings,
) -> Result<Vec<Arc<dyn NotificationChannel>>, NotifyError> {
    let mut channels: Vec<Arc<dyn NotificationChannel>> = Vec::new();
    if settings.telegram_enabled
        && let Some(admin) = &settings.admin_telegram_id
    {
        channels.push(Arc::new(TelegramAdmin::new(
            BotApi::new(&settings.bot)?,
            admin.clone(),
        )));
    }
    if settings.webhook.enabled {
        let url = settings
            .webhook
            .url
            .clone()
            .ok_or(NotifyError::NoWebhookUrl)?;
        channels.push(Arc::new(Webhook::new(
            url,
            settings.webhook.secret.clone(),
            settings.bot.timeout,
        )?));
    }
    Ok(channels)
}

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub name: &'static str,
    /// Waiting in the queue now.
    pub queued: usize,
    pub delivered: u64,
    /// Given up after the last attempt, or refused permanently.
    pub failed: u64,
    /// Dropped from a full queue (DEBUG/INFO only).
    pub dropped: u64,
    /// Notifications of WARNING and above waiting now (never dropped).
    pub queued_important: usize,
}

struct QueueState {
    items: VecDeque<Notification>,
    dropped: u64,
    closed: bool,
}

struct ChannelQueue {
    channel: Arc<dyn NotificationChannel>,
    capacity: usize,
    // std's mutex: held only for queue moves, never across an await, and `emit` is sync.
    state: Mutex<QueueState>,
    wake: Notify,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ChannelQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic while holding this lock leaves a consistent VecDeque: go on using it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, n: Notification) {
        {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            if q.items.len() >= self.capacity {
                let oldest_minor = q.items.iter().position(|i| i.level < NotifyLevel::Warning);
                match oldest_minor {
                    Some(i) => {
                        q.items.remove(i);
                        q.dropped += 1;
                    }
                    None if n.level < NotifyLevel::Warning => {
                        q.dropped += 1;
                        return;
                    }
                    // Only important ones queued: keep this one too, over capacity.
                    None => {}
                }
            }
            q.items.push_back(n);
        }
        self.wake.notify_one();
    }

    fn stats(&self) -> ChannelStats {
        let q = self.lock();
        ChannelStats {
            name: self.channel.name(),
            queued: q.items.len(),
            queued_important: q
                .items
                .iter()
                .filter(|i| i.level >= NotifyLevel::Warning)
                .count(),
            dropped: q.dropped,
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

struct Collapsed {
    last_sent: Instant,
    suppressed: u64,
}

struct Shared {
    options: NotifierOptions,
    clock: Arc<dyn Clock>,
    /// The zone times in notification texts are shown in ([`Notifier::set_timezone`]; UTC
    /// until set).
    timezone: std::sync::RwLock<jiff::tz::TimeZone>,
    queues: Vec<Arc<ChannelQueue>>,
    // std's mutex: a short map lookup inside the sync `emit`.
    collapse: Mutex<HashMap<String, Collapsed>>,
}

/// The sink the engine emits into; clone it freely.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// Owns the worker tasks; [`NotifierHandle::shutdown`] drains the queues before the daemon exits.
pub struct NotifierHandle {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// Starts the channels switched on in `settings` (none: a notifier that drops everything).
    /// Must be called inside a tokio runtime.
    pub fn spawn(settings: &NotifySettings) -> Result<(Notifier, NotifierHandle), NotifyError> {
        Ok(Notifier::spawn_with(
            settings.notifier.clone(),
            channels_from_settings(settings)?,
            Arc::new(SystemClock),
        ))
    }

    /// Starts one worker per channel. Must be called inside a tokio runtime.
    pub fn spawn_with(
        options: NotifierOptions,
        channels: Vec<Arc<dyn NotificationChannel>>,
        clock: Arc<dyn Clock>,
    ) -> (Notifier, NotifierHandle) {
        let queues: Vec<Arc<ChannelQueue>> = channels
            .into_iter()
            .map(|channel| {
                Arc::new(ChannelQueue {
                    channel,
                    capacity: options.queue_capacity.max(1),
                    state: Mutex::new(QueueState {
                        items: VecDeque::new(),
                        dropped: 0,
                        closed: false,
                    }),
                    wake: Notify::new(),
                    delivered: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            options,
            clock,
            timezone: std::sync::RwLock::new(jiff::tz::TimeZone::UTC),
            queues,
            collapse: Mutex::new(HashMap::new()),
        });
        let workers = shared
            .queues
            .iter()
            .map(|q| tokio::spawn(worker(q.clone(), shared.options.clone())))
            .collect();
        (
            Notifier {
                shared: shared.clone(),
            },
            NotifierHandle { shared, workers },
        )
    }

    /// Shows the times of notification texts in `tz` (the configuration's `TIMEZONE`), to
    /// the minute with the zone's abbreviation; the JSON fields stay RFC 3339 UTC.
    pub fn set_timezone(&self, tz: jiff::tz::TimeZone) {
        *self
            .shared
            .timezone
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tz;
    }

    /// Queues a notification that is not an engine event (message-set update failed, …).
    /// Filtered by level and collapsed like the engine's.
    pub fn notify(&self, notification: Notification) {
        if notification.level < self.shared.options.level || self.shared.queues.is_empty() {
            return;
        }
        let Some(n) = self.collapse(notification) else {
            return;
        };
        for q in &self.shared.queues {
            q.push(n.clone());
        }
    }

    /// Counters per channel.
    pub fn stats(&self) -> Vec<ChannelStats> {
        self.shared.queues.iter().map(|q| q.stats()).collect()
    }

    /// `None` when an identical notification went out less than the collapse window ago.
    fn collapse(&self, mut n: Notification) -> Option<Notification> {
        let window = self.shared.options.collapse_window;
        if window.is_zero() {
            return Some(n);
        }
        let now = Instant::now();
        let mut map = self
            .shared
            .collapse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = n.collapse_key();
        match map.get_mut(&key) {
            Some(c) if now.duration_since(c.last_sent) < window => {
                c.suppressed += 1;
                None
            }
            Some(c) => {
                n.repeated = c.suppressed;
                c.suppressed = 0;
                c.last_sent = now;
                Some(n)
            }
            None => {
                // Keep the map from growing without bound over weeks of distinct events.
                if map.len() >= 10_000 {
                    map.retain(|_, c| now.duration_since(c.last_sent) < window);
                }
                map.insert(
                    key,
                    Collapsed {
                        last_sent: now,
                        suppressed: 0,
                    },
                );
                Some(n)
            }
        }
    }
}

impl EventSink for Notifier {
    fn emit(&self, event: &EngineEvent) {
        let level = event_level(event, self.shared.options.flood_wait_threshold);
        // Decided before building anything: most events (every delivery) stop here.
        if level < self.shared.options.level || self.shared.queues.is_empty() {
            return;
        }
        let tz = self
            .shared
            .timezone
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.notify(from_event(event, level, self.shared.clock.now(), &tz));
    }
}

impl NotifierHandle {
    pub fn stats(&self) -> Vec<ChannelStats> {
        self.shared.queues.iter().map(|q| q.stats()).collect()
    }

    /// Stops accepting notifications, lets the workers deliver what is queued for up to `grace`,
    /// then stops them. Returns the final counters.
    pub async fn shutdown(self, grace: Duration) -> Vec<ChannelStats> {
        for q in &self.shared.queues {
            q.lock().closed = true;
            q.wake.notify_one();
        }
        let deadline = Instant::now() + grace;
        for mut w in self.workers {
            if tokio::time::timeout_at(deadline, &mut w).await.is_err() {
                w.abort();
            }
        }
        self.shared.queues.iter().map(|q| q.stats()).collect()
    }
}

async fn worker(queue: Arc<ChannelQueue>, options: NotifierOptions) {
    loop {
        let next = {
            let mut q = queue.lock();
            match q.items.pop_front() {
                Some(n) => Some(n),
                None if q.closed => return,
                None => None,
            }
        };
        let Some(n) = next else {
            queue.wake.notified().await;
            continue;
        };
        deliver_with_retries(&queue, &n, &options).await;
    }
}

async fn deliver_with_retries(queue: &ChannelQueue, n: &Notification, options: &NotifierOptions) {
    let name = queue.channel.name();
    let attempts = options.max_attempts.max(1);
    for attempt in 1..=attempts {
        match queue.channel.deliver(n).await {
            Ok(()) => {
                queue.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(DeliveryError::Permanent(detail)) => {
                tracing::error!(channel = name, event = n.kind, %detail, "notification refused");
                break;
            }
            Err(DeliveryError::Transient {
                detail,
                retry_after,
            }) if attempt < attempts => {
                let backoff = options
                    .retry_delay
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(Duration::from_secs(300));
                let delay = retry_after.unwrap_or(backoff);
                tracing::warn!(channel = name, event = n.kind, %detail, attempt, ?delay,
                    "notification not delivered; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(DeliveryError::Transient { detail, .. }) => {
                tracing::error!(channel = name, event = n.kind, %detail, attempt,
                    "notification not delivered; giving up");
            }
        }
    }
    queue.failed.fetch_add(1, Ordering::Relaxed);
}

/// Sends a test notification through every channel switched on, directly (not through the
/// queue), for `sendmessagebot notify test`. Returns each channel's outcome.
pub async fn test_channels(
    settings: &NotifySettings,
) -> Result<Vec<(&'static str, Result<(), DeliveryError>)>, NotifyError> {
    let mut results = Vec::new();
    for channel in channels_from_settings(settings)? {
        results.push((channel.name(), channel.deliver(&Notification::test()).await));
    }
    Ok(results)
}
