//! The broadcast engine: a pure planner and the async driver that carries out its effects.
//!
//! Start reading at [`planner::Planner::handle`]: every decision about what to send when is
//! made there, without IO. [`driver`] runs one task per account and talks to the ports.
#![forbid(unsafe_code)]

pub mod driver;
pub mod planner;
pub mod ports;
pub mod testing;

pub use driver::{
    Driver, DriverHandle, DriverSettings, JournalState, TestSend, TestSendError, TestSendResult,
    restore_planner,
};
pub use planner::{
    AccountSpec, BroadcasterSpec, BroadcasterView, ChatHoldView, ChatInfo, ChatSetup, Content,
    Control, DEFAULT_BACKUP_AFTER, DEFAULT_DISABLE_AFTER_FAILURES, Delivery, Effect, Event,
    Planner, PlannerSettings,
};
pub use ports::*;
