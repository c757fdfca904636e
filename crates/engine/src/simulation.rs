//! The planner on a virtual clock: what it would send, and when, without IO or waiting.
//!
//! One loop serves `run --dry-run` (the plan of the next cycle, every send succeeding),
//! `stats` (each account's next send) and the planner tests (a scripted Telegram). The clock
//! jumps from one account's wake-up to the next, so a day of pacing takes microseconds.

use std::ops::ControlFlow;
use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::SendError;

use crate::planner::{AccountId, Delivery, Effect, Event, Planner};
use crate::ports::SentMessage;

/// The most polls one simulation makes: a bound for a planner that never finishes (a daemon
/// without `--once`) when the caller set no end.
pub const MAX_POLLS: u64 = 10_000_000;

/// What a simulation saw, in order, for the caller's `visit`.
#[derive(Debug)]
pub enum Step<'a> {
    /// The planner sent `delivery` at `at`, and the scripted Telegram answered `result`.
    Send {
        /// Virtual time of the send.
        at: Timestamp,
        /// The delivery as the planner handed it to the gateway.
        delivery: &'a Delivery,
        /// The scripted answer (a sent message or Telegram's error).
        result: &'a Result<SentMessage, SendError>,
    },
    /// Any other effect of a poll or of an outcome (`Wait` excepted: it drives the clock).
    Effect {
        /// Virtual time of the effect.
        at: Timestamp,
        /// The effect as the planner returned it.
        effect: &'a Effect,
    },
    /// `account` has nothing to do until an operator command: it is not polled again.
    Idle {
        /// The idle account.
        account: AccountId,
        /// Virtual time it went idle.
        at: Timestamp,
    },
}

/// Drives `planner` on a virtual clock from `start`: each account is polled when its last
/// `Wait` said (the earliest first; on a tie the account polled fewer times, then the lower
/// id, so an account that sends with no gap at all — `delay_between_chats` and `cycle_delay`
/// both 0 — cannot keep the others from their turn at that instant), each `Send` is answered
/// at once by `telegram`, and every step goes to `visit`.
///
/// Ends when the planner is finished (`--once`), when no account has anything left to wait
/// for, at the first wake-up after `until`, after [`MAX_POLLS`] polls, or when `visit` breaks.
/// The planner keeps the state it reached, so a caller may send it a control and go on.
pub fn simulate(
    planner: &mut Planner,
    start: Timestamp,
    until: Timestamp,
    mut telegram: impl FnMut(&Delivery, Timestamp) -> Result<SentMessage, SendError>,
    mut visit: impl FnMut(Step<'_>) -> ControlFlow<()>,
) {
    let mut wake: Vec<Option<Timestamp>> = vec![Some(start); planner.account_count()];
    let mut polls: Vec<u64> = vec![0; planner.account_count()];
    for _ in 0..MAX_POLLS {
        if planner.finished() {
            return;
        }
        let Some((account, now)) = wake
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|t| (i, t)))
            .min_by_key(|&(i, t)| (t, polls[i], i))
        else {
            return;
        };
        if now > until {
            return;
        }
        wake[account] = None;
        polls[account] += 1;
        for effect in planner.handle(Event::Poll { account }, now) {
            let flow = match effect {
                Effect::Wait { until } => {
                    wake[account] = until;
                    ControlFlow::Continue(())
                }
                Effect::Send(delivery) => {
                    let result = telegram(&delivery, now);
                    let mut flow = visit(Step::Send {
                        at: now,
                        delivery: &delivery,
                        result: &result,
                    });
                    let answered = planner.handle(Event::Outcome { delivery, result }, now);
                    for effect in &answered {
                        if flow.is_continue() {
                            flow = visit(Step::Effect { at: now, effect });
                        }
                    }
                    wake[account] = Some(now);
                    flow
                }
                other => visit(Step::Effect {
                    at: now,
                    effect: &other,
                }),
            };
            if flow.is_break() {
                return;
            }
        }
        if wake[account].is_none() && visit(Step::Idle { account, at: now }).is_break() {
            return;
        }
    }
}

/// Every send `planner` would make, each one succeeding at once, in time order, until it is
/// finished or idle: what `run --dry-run` prints (build the planner with `once` for one cycle
/// of each broadcaster). `visit` gets the virtual time of each send.
pub fn planned_sends(
    planner: &mut Planner,
    start: Timestamp,
    mut visit: impl FnMut(Timestamp, &Delivery),
) {
    simulate(
        planner,
        start,
        Timestamp::MAX,
        |_, _| Ok(SentMessage { message_id: None }),
        |step| {
            if let Step::Send { at, delivery, .. } = step {
                visit(at, delivery);
            }
            ControlFlow::Continue(())
        },
    );
}

/// The targets the chats' rules leave out of the plan [`planned_sends`] made on `planner`
/// (call it first), by target: with the rule that decides and the next allowed moment.
/// `run --dry-run` lists them under its plan and `stats` as its held targets — one answer
/// from the journal and the current configuration (slow mode only delays a send, which the
/// plan shows; one account's refusal is listed apart).
pub fn rule_holds(planner: &Planner, start: Timestamp) -> Vec<crate::planner::ChatHoldView> {
    planner
        .chat_holds(start)
        .into_iter()
        .filter(|h| h.reason.skips())
        .collect()
}

/// Each account's next send, by account id: when it is due (`start` at the earliest) and for
/// which broadcaster; `None` for an account with nothing to send until an operator command
/// (stopped, every broadcaster paused or stopped, no active target). What `stats` shows.
///
/// Simulated as [`planned_sends`] is, on the planner given (restore it from the store first):
/// a send held by a Telegram pause, a start hour or a cycle delay shows at the moment it goes.
pub fn next_sends(planner: &mut Planner, start: Timestamp) -> Vec<Option<(Timestamp, Arc<str>)>> {
    let n = planner.account_count();
    let mut next: Vec<Option<(Timestamp, Arc<str>)>> = vec![None; n];
    let mut settled = vec![false; n];
    simulate(
        planner,
        start,
        Timestamp::MAX,
        |_, _| Ok(SentMessage { message_id: None }),
        |step| {
            match step {
                Step::Send { at, delivery, .. } if !settled[delivery.account] => {
                    settled[delivery.account] = true;
                    next[delivery.account] = Some((at, delivery.broadcaster_name.clone()));
                }
                Step::Idle { account, .. } => settled[account] = true,
                _ => {}
            }
            match settled.iter().all(|s| *s) {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        },
    );
    next
}
