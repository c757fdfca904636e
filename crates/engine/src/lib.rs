//! The broadcast engine: a pure planner and the async driver that carries out its effects.
//!
//! Start reading at [`planner::Planner::handle`]: every decision about what to send when is
//! made there, without IO. [`driver`] runs one task per account and talks to the ports.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod driver;
#[expect(
    missing_docs,
    reason = "issue 13: the planner split documents Planner::handle and every Effect; drop this then"
)]
pub mod planner;
#[expect(
    missing_docs,
    reason = "issue 13: 105 items of the Store/Gateway surface, being retyped (status enums, no default writes); document them there"
)]
pub mod ports;
pub mod preflight;
pub mod reach;
pub mod reach_loop;
pub mod simulation;
pub mod test_send;
pub mod testing;

pub use driver::{
    Driver, DriverHandle, DriverSettings, JournalState, TestSend, TestSendError, TestSendResult,
    restore_planner,
};
pub use planner::{
    AccountSpec, BroadcasterSpec, BroadcasterView, ChatFacts, ChatHoldView, ChatSetup, Content,
    Control, DEFAULT_BACKUP_AFTER, DEFAULT_DISABLE_AFTER_FAILURES, DEFAULT_REMOVED_POSTS_FLAG,
    Delivery, Effect, Event, Planner, PlannerSettings,
};
pub use ports::*;
pub use reach::{PostReach, REACH_IDS_PER_CALL, Reach, ReachBatch, ReachItem, ReachPacer};
pub use reach_loop::{ReachCollector, ReachJournal, ReachLoopSettings, ReachRound, SendPaused};
pub use simulation::{Step, next_sends, planned_sends, rule_holds, simulate};
pub use test_send::{TestPlan, TestRefusal, TestSubject, plan_test_send, test_label};
