//! Ports: the traits through which the engine reaches the outside world (DESIGN.md "Shape").
//!
//! One trait per outside system; adapters live in other crates (`smb-store`, `smb-telegram`,
//! `smb-notify`) and `main` picks one of each by configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{SendError, TargetRef};

/// How a message text is written; lives in `smb_domain::format` with the one formatter.
pub use smb_domain::TextFormat;

/// What a gateway is asked to send: one delivery's content, with the journal's random_id.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    pub account: &'a str,
    pub target: &'a TargetRef,
    pub text: &'a str,
    pub format: TextFormat,
    /// A photo or document to attach (the text is then its caption).
    pub media: Option<&'a std::path::Path>,
    pub link_preview: bool,
    /// The id written to the journal before sending; Telegram drops a second message with the
    /// same id, which is what makes a re-send after a crash safe.
    pub random_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    /// Telegram's message id; `None` when Telegram reported RANDOM_ID_DUPLICATE (already sent).
    pub message_id: Option<i64>,
}

/// Telegram, as the engine sees it.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// Sends one message. `RANDOM_ID_DUPLICATE` must come back as `Ok` with `message_id: None`.
    async fn send(&self, request: SendRequest<'_>) -> Result<SentMessage, SendError>;

    /// Forgets what is cached about `target` for `account` and resolves it again
    /// (after PEER_ID_INVALID / CHANNEL_INVALID).
    async fn refresh_peer(&self, account: &str, target: &TargetRef) -> Result<(), SendError>;
}

/// The identity of one delivery: (broadcaster, cycle, target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub broadcaster: String,
    pub cycle: u64,
    pub target: TargetRef,
}

/// A delivery as written `pending` before it is sent.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub key: DeliveryKey,
    pub account: String,
    pub random_id: i64,
    /// The cycle's text, shared with the planner (not copied per delivery).
    pub message: Arc<str>,
    pub attempt: u32,
    pub at: Timestamp,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        message_id: Option<i64>,
    },
    Failed {
        class: &'static str,
        code: String,
        detail: String,
    },
    Deferred {
        until: Timestamp,
        class: &'static str,
        code: String,
    },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Failed { .. } => "failed",
            Outcome::Deferred { .. } => "deferred",
        }
    }
}

/// A delivery row as the store returns it when a broadcaster resumes.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub target: String,
    pub status: String,
    pub random_id: i64,
    pub attempts: u32,
    pub retry_at: Option<Timestamp>,
}

/// The last cycle of a broadcaster, for resuming after a restart.
#[derive(Debug, Clone)]
pub struct StoredCycle {
    pub cycle: u64,
    pub message: String,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Deliveries of this cycle (empty when completed: not needed then).
    pub deliveries: Vec<StoredDelivery>,
}

/// One of our deliveries as the journal remembers it (see [`Store::recent_deliveries`]): what
/// a restart needs for per-chat rules and slow mode (when we last posted where, from which
/// account) and to keep an unfinished delivery on the account that attempted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPost {
    pub broadcaster: String,
    pub cycle: u64,
    /// Target key (`@name`, `@name/7`, `-100…`).
    pub target: String,
    pub account: String,
    /// `sent`, `pending` or `deferred`.
    pub status: String,
    /// When the row was last written (for `sent`: when the send was confirmed).
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct StoredAccount {
    pub paused_until: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    pub last_send_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetStatus {
    Active,
    Disabled {
        reason: String,
        since: Timestamp,
        recheck_at: Option<Timestamp>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("the store is closed (the daemon is shutting down)")]
    Closed,
    #[error("{0}")]
    Invalid(String),
}

/// How a store marks a write the database refused for its data (a constraint, a type, a size):
/// writing it again cannot succeed, unlike a write that failed for lack of space or an I/O error.
pub const REJECTED_WRITE_PREFIX: &str = "rejected write: ";

impl StoreError {
    /// The database refused this write for its data ([`REJECTED_WRITE_PREFIX`]); retrying it
    /// cannot help.
    pub fn is_rejected_write(&self) -> bool {
        matches!(self, StoreError::Database(m) if m.starts_with(REJECTED_WRITE_PREFIX))
    }
}

/// Durable state: the delivery journal and everything that must survive a restart.
#[async_trait]
pub trait Store: Send + Sync {
    async fn last_cycle(&self, broadcaster: &str) -> Result<Option<StoredCycle>, StoreError>;
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError>;
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError>;

    async fn start_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Durably writes the delivery as `pending` (insert, or update of a deferred one).
    async fn write_pending(&self, delivery: &PendingDelivery) -> Result<(), StoreError>;
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn complete_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn set_target_status(
        &self,
        target: &str,
        status: &TargetStatus,
    ) -> Result<(), StoreError>;
    /// Records a pause Telegram imposed (flood wait on an account, slow mode on a chat).
    async fn record_pause(
        &self,
        account: &str,
        target: Option<&str>,
        kind: &str,
        seconds: Duration,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn set_account_stopped(
        &self,
        account: &str,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Waits until everything accepted so far is durable.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Cheap, called about every second by the driver: `Err` when the journal can no longer
    /// be trusted to keep what is written (its file was deleted or replaced).
    async fn watch(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A small real, durable write: after a failure, the driver resumes sending only once this
    /// succeeds. Defaults to [`Store::flush`].
    async fn probe(&self) -> Result<(), StoreError> {
        self.flush().await
    }

    /// Remembers an operator's pause / stop / start of a broadcaster (`running`, `paused`,
    /// `stopped`) so it survives a restart.
    async fn set_broadcaster_state(
        &self,
        broadcaster: &str,
        state: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let _ = (broadcaster, state, at);
        Ok(())
    }

    /// Sent deliveries written since `since`, and every `pending` or `deferred` one (any
    /// age), for [`crate::planner::Planner::restore_journal`]. A store that keeps no journal
    /// returns nothing.
    async fn recent_deliveries(&self, since: Timestamp) -> Result<Vec<JournalPost>, StoreError> {
        let _ = since;
        Ok(Vec::new())
    }

    /// Remembers why a target is held back by its chat's rules or slow mode, and until when,
    /// for `stats` and the dashboard. Informational: a store may ignore it.
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let _ = (target, reason, until, at);
        Ok(())
    }

    /// The states set by [`Store::set_broadcaster_state`].
    async fn broadcaster_states(&self) -> Result<HashMap<String, String>, StoreError> {
        Ok(HashMap::new())
    }
}

/// Wall-clock time for the engine. The driver sleeps with tokio, so tests on a paused tokio
/// clock use [`TokioClock`] to make `now()` follow it.
///
/// The driver does not pace on it directly: its pacing runs on tokio's monotonic clock and
/// follows this one only for schedules and journal times, treating a jump of more than a
/// couple of seconds as a clock step (see `driver.rs`).
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a given wall time and advances with tokio's (possibly paused) clock.
/// [`TokioClock::step`] sets it forward or back, as NTP or an operator sets a wall clock.
pub struct TokioClock {
    base_wall: Timestamp,
    base: tokio::time::Instant,
    offset: std::sync::Mutex<jiff::SignedDuration>,
}

impl TokioClock {
    pub fn starting_at(base_wall: Timestamp) -> Self {
        TokioClock {
            base_wall,
            base: tokio::time::Instant::now(),
            offset: std::sync::Mutex::new(jiff::SignedDuration::ZERO),
        }
    }

    /// Steps the wall time by `by` (negative: back); tokio's clock is not touched.
    pub fn step(&self, by: jiff::SignedDuration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset = offset.saturating_add(by);
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.base);
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        jiff::SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|e| e.checked_add(offset))
            .and_then(|d| self.base_wall.checked_add(d).ok())
            .unwrap_or(self.base_wall)
    }
}

/// Something that happened in the engine, for logs, notifications, metrics and live views.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Started {
        broadcasters: usize,
        accounts: usize,
    },
    Stopped,
    CycleStarted {
        broadcaster: String,
        cycle: u64,
        targets: usize,
    },
    CycleCompleted {
        broadcaster: String,
        cycle: u64,
        sent: u64,
        failed: u64,
    },
    Delivered {
        broadcaster: String,
        account: String,
        target: String,
        random_id: i64,
        outcome: Outcome,
        latency: Duration,
    },
    AccountPaused {
        account: String,
        until: Timestamp,
        seconds: u64,
        code: String,
    },
    ChatPaused {
        account: String,
        target: String,
        until: Timestamp,
        seconds: u64,
    },
    AccountStopped {
        account: String,
        reason: String,
    },
    /// A chat's rules (`skipped`: left out of this cycle) or slow mode (waits in the cycle)
    /// held a delivery back until `until`.
    ChatHeld {
        broadcaster: String,
        account: String,
        target: String,
        reason: String,
        until: Timestamp,
        skipped: bool,
    },
    TargetDisabled {
        target: String,
        reason: String,
    },
    BadContent {
        broadcaster: String,
        code: String,
    },
    StoreFailed {
        detail: String,
    },
    /// A journal write failed or its file was deleted or replaced: no account sends until a
    /// probe write succeeds ([`EngineEvent::JournalUp`]).
    JournalDown {
        detail: String,
    },
    /// The journal takes writes again; sending resumed.
    JournalUp {
        down_for: Duration,
    },
    /// The wall clock jumped against the monotonic one by `seconds` (negative: set back).
    /// Pacing kept its remaining waits; schedules follow the new wall time.
    ClockStepped {
        seconds: i64,
    },
}

impl EngineEvent {
    /// Severity for notifications: 0 debug, 1 info, 2 warning, 3 error.
    pub fn level(&self) -> u8 {
        match self {
            EngineEvent::Delivered { .. } | EngineEvent::CycleStarted { .. } => 0,
            EngineEvent::Started { .. }
            | EngineEvent::Stopped
            | EngineEvent::CycleCompleted { .. }
            | EngineEvent::ChatPaused { .. }
            | EngineEvent::ChatHeld { .. } => 1,
            EngineEvent::AccountPaused { .. }
            | EngineEvent::TargetDisabled { .. }
            | EngineEvent::BadContent { .. }
            | EngineEvent::JournalUp { .. }
            | EngineEvent::ClockStepped { .. } => 2,
            EngineEvent::AccountStopped { .. }
            | EngineEvent::StoreFailed { .. }
            | EngineEvent::JournalDown { .. } => 3,
        }
    }
}

/// Where engine events go. Must not block: implementations queue and return.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &EngineEvent);
}

/// Writes events as structured log lines.
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, event: &EngineEvent) {
        match event {
            EngineEvent::Delivered {
                broadcaster,
                account,
                target,
                random_id,
                outcome,
                latency,
            } => {
                tracing::info!(
                    broadcaster = %broadcaster, account = %account, target = %target,
                    random_id, outcome = outcome.status(), latency_ms = latency.as_millis() as u64,
                    detail = ?outcome, "delivery"
                );
            }
            EngineEvent::ClockStepped { seconds } => tracing::warn!(
                seconds,
                "the wall clock was set {} by {} s; waits between sends keep their remaining \
                 time (monotonic clock), schedules follow the new wall time",
                if *seconds < 0 { "back" } else { "forward" },
                seconds.unsigned_abs()
            ),
            e if e.level() >= 3 => tracing::error!(event = ?e, "engine"),
            e if e.level() == 2 => tracing::warn!(event = ?e, "engine"),
            e if e.level() == 1 => tracing::info!(event = ?e, "engine"),
            e => tracing::debug!(event = ?e, "engine"),
        }
    }
}

/// Fans one event out to several sinks.
pub struct FanoutSink(pub Vec<std::sync::Arc<dyn EventSink>>);

impl EventSink for FanoutSink {
    fn emit(&self, event: &EngineEvent) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}
