//! Observability of SendMessageBot: periodic reports to a channel and admin notifications
//! through the Telegram Bot API, signed webhooks, Prometheus metrics, and the rotating log file.
//!
//! Nothing here may slow a send: the engine talks to this crate only through
//! [`smb_engine::ports::EventSink`], whose `emit` queues and returns.
//!
//! Start reading at [`notifier`] (the event sink with its queues and workers) and [`report`]
//! (report data, text and schedule).
#![forbid(unsafe_code)]

pub mod botapi;
pub mod logfile;
pub mod metrics;
pub mod notification;
pub mod notifier;
pub mod report;
pub mod settings;
pub mod webhook;

pub use botapi::{BotApi, BotApiError, install_crypto_provider};
pub use metrics::Metrics;
pub use notification::Notification;
pub use notifier::{
    ChannelStats, DeliveryError, NotificationChannel, Notifier, NotifierHandle, NotifyError,
    TelegramAdmin, test_channels,
};
pub use report::{
    AccountReport, BroadcasterReport, DisabledTarget, ReportData, ReportError, ReportSource,
    Reporter, next_report_at, render_report,
};
pub use settings::{NotifierOptions, NotifyLevel, NotifySettings, Secret, SettingsError};
pub use webhook::Webhook;
