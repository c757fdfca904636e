//! The `Outcome` transition: what a gateway answer does to the cycle, the account and the
//! target (DESIGN's error table, by [`ErrorClass`]).

use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{AccountStop, ErrorClass, SendError};

use super::Planner;
use super::state::{ActiveCycle, CycleState, Retry, RunState, add, pause};
use super::vocabulary::{Delivery, Effect};
use crate::ports::{Outcome, SentMessage};

impl Planner {
    pub(super) fn outcome(
        &mut self,
        d: Delivery,
        result: Result<SentMessage, SendError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let recheck_after = self.settings.recheck_after;
        self.post_finished(&d, result.is_ok(), now);
        let chat = self
            .broadcasters
            .get(d.broadcaster)
            .and_then(|s| s.targets.get(d.target_index))
            .map(|t| t.chat.clone());
        let Some(slot) = self.broadcasters.get_mut(d.broadcaster) else {
            return;
        };
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        if ac.cycle != d.cycle || ac.in_flight != Some(d.target_index) {
            return;
        }
        ac.in_flight = None;
        let stale_retried = ac.in_flight_stale_retried;
        // The account that sent it (the broadcaster's own, or a backup).
        let account = d.account;
        let err = match result {
            Ok(sent) => {
                ac.sent += 1;
                let b = d.broadcaster;
                self.failures.remove(&d.target);
                fx.push(Effect::Record {
                    delivery: d,
                    outcome: Outcome::Sent {
                        message_id: sent.message_id,
                    },
                });
                self.settle(b, now, fx);
                return;
            }
            Err(e) => e,
        };
        let class = err.class();
        let code = err.code().to_owned();
        // Attempted: only this account retries it (its random_id de-duplicates only there).
        let retry = |not_before: Timestamp, attempt: u32, stale_retried: bool| Retry {
            index: d.target_index,
            not_before,
            attempt,
            random_id: d.random_id,
            stale_retried,
            account: Some(account),
            unknown: false,
        };
        let failed = |detail: String| Outcome::Failed {
            class,
            code: code.clone(),
            detail,
        };
        match class {
            ErrorClass::AccountPause => {
                let (until, paused) =
                    pause(&mut self.accounts[account], &err, d.random_id as u64, now);
                defer(
                    ac,
                    fx,
                    &d,
                    retry(until, d.attempt, stale_retried),
                    class,
                    code,
                );
                fx.push(paused);
            }
            ErrorClass::ChatPause => {
                let wait = err.retry_after().unwrap_or(Duration::ZERO);
                let until = add(now, wait + Duration::from_secs(1));
                if let Some(chat) = chat {
                    self.chats
                        .entry(chat)
                        .or_default()
                        .told
                        .insert(account, until);
                }
                defer(
                    ac,
                    fx,
                    &d,
                    retry(until, d.attempt, stale_retried),
                    class,
                    code,
                );
                fx.push(Effect::PauseChat {
                    account: d.account_name.clone(),
                    target: d.target.clone(),
                    until,
                    seconds: wait.as_secs(),
                });
            }
            ErrorClass::StalePeer if !stale_retried => {
                defer(ac, fx, &d, retry(now, d.attempt, true), class, code);
                fx.push(Effect::RefreshPeer {
                    account: d.account_name.clone(),
                    target: d.target.clone(),
                });
            }
            ErrorClass::TargetDead
                if err.forbids_media()
                    && d.content.text_without_media
                    && d.content.media.is_some() =>
            {
                // The chat allows text: send this delivery (same random_id: nothing was
                // posted) and the next ones there without the attachment.
                self.text_only.insert(d.target.clone());
                defer(
                    ac,
                    fx,
                    &d,
                    retry(now, d.attempt, stale_retried),
                    class,
                    code,
                );
            }
            ErrorClass::TargetDead | ErrorClass::StalePeer => {
                ac.failed += 1;
                let recheck_at = add(now, recheck_after);
                let why = err.refusal_reason().unwrap_or_else(|| code.clone());
                let reason = format!("{why} (account {})", d.account_name);
                self.disabled.insert(d.target.clone(), Some(recheck_at));
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                fx.push(Effect::DisableTarget {
                    target: d.target.clone(),
                    reason,
                    recheck_at: Some(recheck_at),
                });
            }
            ErrorClass::BadContent => {
                ac.failed += 1;
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                fx.push(Effect::BadContent {
                    broadcaster: d.broadcaster_name.clone(),
                    code,
                });
            }
            ErrorClass::Other => {
                ac.failed += 1;
                fx.push(Effect::Record {
                    delivery: d.clone(),
                    outcome: failed(err.to_string()),
                });
                let limit = d.content.disable_after_failures;
                let count = self.failures.entry(d.target.clone()).or_insert(0);
                *count += 1;
                if limit > 0 && *count >= limit {
                    let n = *count;
                    self.failures.remove(&d.target);
                    let recheck_at = add(now, recheck_after);
                    self.disabled.insert(d.target.clone(), Some(recheck_at));
                    let raw = match &err {
                        SendError::Rpc { value: Some(v), .. } => format!("{code}_{v}"),
                        _ => code,
                    };
                    fx.push(Effect::DisableTarget {
                        target: d.target.clone(),
                        reason: format!(
                            "{raw}: failed {n} times in a row with this error, which SendMessageBot does not know (account {})",
                            d.account_name
                        ),
                        recheck_at: Some(recheck_at),
                    });
                }
            }
            ErrorClass::AccountDead => {
                // The message was not sent; keep it deferred so a re-activated account
                // resumes the cycle where it stopped.
                defer(
                    ac,
                    fx,
                    &d,
                    retry(now, d.attempt, stale_retried),
                    class,
                    code.clone(),
                );
                let reason = AccountStop::Telegram(code);
                self.accounts[account].stopped = Some(reason.clone());
                for &b in &self.accounts[account].broadcasters {
                    self.broadcasters[b].run = RunState::AccountStopped(reason.clone());
                }
                fx.push(Effect::StopAccount {
                    account: d.account_name.clone(),
                    reason,
                });
            }
            ErrorClass::Transient => {
                let attempt = d.attempt + 1;
                let slot = &mut self.broadcasters[d.broadcaster];
                let CycleState::Active(ac) = &mut slot.cycle else {
                    return;
                };
                if attempt > slot.pacing.max_retries {
                    ac.failed += 1;
                    fx.push(Effect::Record {
                        delivery: d.clone(),
                        outcome: failed(format!(
                            "{err}; gave up after {} retries",
                            slot.pacing.max_retries
                        )),
                    });
                } else {
                    let until = add(now, slot.pacing.retry_backoff(attempt, d.random_id as u64));
                    defer(
                        ac,
                        fx,
                        &d,
                        retry(until, attempt, stale_retried),
                        class,
                        code,
                    );
                }
            }
        }
        self.settle(d.broadcaster, now, fx);
    }
}

/// Keeps a delivery for another try at `retry.not_before` (the same `random_id`: nothing was
/// posted, so Telegram drops a duplicate) and records it deferred with the error's class and
/// code.
fn defer(
    ac: &mut ActiveCycle,
    fx: &mut Vec<Effect>,
    d: &Delivery,
    retry: Retry,
    class: ErrorClass,
    code: String,
) {
    let until = retry.not_before;
    ac.retries.push(retry);
    fx.push(Effect::Record {
        delivery: d.clone(),
        outcome: Outcome::Deferred { until, class, code },
    });
}
