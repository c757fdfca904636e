//! The `Outcome` transition: what a gateway answer does to the cycle, the account and the
//! target (DESIGN's error table, by [`ErrorClass`]).

use std::time::Duration;

use jiff::Timestamp;
use smb_domain::{AccountStop, ErrorClass, SendError};

use super::Planner;
use super::state::{ActiveCycle, CycleState, Retry, RunState, WAIT_MARGIN, add, pause};
use super::vocabulary::{Delivery, Effect};
use crate::ports::{Outcome, SentMessage};

impl Planner {
    /// A gateway answer for delivery `d`: a sent message counts and clears the target's
    /// failure streak; an error is handled by its [`ErrorClass`] (see [`Planner::failed`]).
    /// An answer for a delivery that is no longer in flight (another cycle, or the slot was
    /// reset) changes nothing but the chat's post bookkeeping. Either way the cycle is then
    /// settled (next turn, or completion).
    pub(super) fn outcome(
        &mut self,
        d: Delivery,
        result: Result<SentMessage, SendError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        self.post_finished(&d, result.is_ok(), now);
        let Some(stale_retried) = self.land(&d) else {
            return;
        };
        let b = d.broadcaster;
        match result {
            Ok(sent) => self.sent(d, &sent, fx),
            Err(err) => self.failed(&d, &err, stale_retried, now, fx),
        }
        self.settle(b, now, fx);
    }

    /// The answer lands only on the delivery in flight of the same cycle: clears it and
    /// gives whether its stale peer was already refreshed once; `None` for a late answer.
    fn land(&mut self, d: &Delivery) -> Option<bool> {
        let slot = self.broadcasters.get_mut(d.broadcaster)?;
        let CycleState::Active(ac) = &mut slot.cycle else {
            return None;
        };
        if ac.cycle != d.cycle || ac.in_flight != Some(d.target_index) {
            return None;
        }
        ac.in_flight = None;
        Some(ac.in_flight_stale_retried)
    }

    /// Sent: counted, the target's run of unknown errors ends, recorded with its message id.
    fn sent(&mut self, d: Delivery, sent: &SentMessage, fx: &mut Vec<Effect>) {
        if let CycleState::Active(ac) = &mut self.broadcasters[d.broadcaster].cycle {
            ac.sent += 1;
        }
        self.failures.remove(&d.target);
        fx.push(Effect::Record {
            delivery: d,
            outcome: Outcome::Sent {
                message_id: sent.message_id,
            },
        });
    }

    /// The error table, by class: a wait Telegram told (account or chat) defers the delivery to
    /// its end; a stale peer is refreshed and retried once; a chat that refuses media gets
    /// the text alone when the content allows it; a refused target is disabled until its
    /// recheck; bad content is reported; an unknown error disables the target after
    /// `disable_after_failures` in a row; a dead account stops with its broadcasters; a
    /// transient error is retried with backoff up to `max_retries`.
    fn failed(
        &mut self,
        d: &Delivery,
        err: &SendError,
        stale_retried: bool,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        // A refusal of the second try after a lost connection: the first try may be in the
        // chat, so the delivery counts as tried (a retry stays with this account), and a wait
        // or stop the refusal tells is obeyed as if the first try had met it. Other refusals
        // are retried as transient errors, and the retry meets them again.
        if let SendError::Unconfirmed(refusal) = err
            && matches!(
                refusal.class(),
                ErrorClass::AccountPause | ErrorClass::ChatPause | ErrorClass::AccountDead
            )
        {
            let tried = Delivery {
                attempt: d.attempt + 1,
                ..d.clone()
            };
            return self.failed(&tried, refusal, stale_retried, now, fx);
        }
        match err.class() {
            ErrorClass::AccountPause => self.wait_account(d, err, stale_retried, now, fx),
            ErrorClass::ChatPause => self.wait_chat(d, err, stale_retried, now, fx),
            ErrorClass::StalePeer if !stale_retried => {
                self.defer(d, retry(d, now, d.attempt, true), err, fx);
                fx.push(Effect::RefreshPeer {
                    account: d.account_name.clone(),
                    target: d.target.clone(),
                });
            }
            ErrorClass::TargetDead
                if err.forbids_media() && d.content.text_without_media && d.content.has_media() =>
            {
                // The chat allows text: send this delivery (same random_id: nothing was
                // posted) and the next ones there without the attachment.
                self.text_only.insert(d.target.clone());
                self.defer(d, retry(d, now, d.attempt, stale_retried), err, fx);
            }
            ErrorClass::TargetDead | ErrorClass::StalePeer => self.refused(d, err, now, fx),
            ErrorClass::BadContent => {
                self.count_failed(d, failed(err, err.to_string()), fx);
                fx.push(Effect::BadContent {
                    broadcaster: d.broadcaster_name.clone(),
                    code: err.code().to_owned(),
                });
            }
            ErrorClass::Other => self.unknown_error(d, err, now, fx),
            ErrorClass::AccountDead => self.stop_account(d, err, stale_retried, now, fx),
            ErrorClass::Transient => self.transient(d, err, stale_retried, now, fx),
        }
    }

    /// Telegram told the account to wait: the account pauses until then and the delivery
    /// waits for it (same account, same `random_id`).
    fn wait_account(
        &mut self,
        d: &Delivery,
        err: &SendError,
        stale_retried: bool,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let (until, paused) = pause(&mut self.accounts[d.account], err, d.random_id as u64, now);
        let retry = refused_retry(d, until, stale_retried);
        // Untied: a backup may take it before the account's wait ends.
        let account_wait = retry.account.is_none().then_some(d.account);
        self.defer(
            d,
            Retry {
                account_wait,
                ..retry
            },
            err,
            fx,
        );
        fx.push(paused);
    }

    /// Telegram told this account to wait in this chat (slow mode): remembered for the chat
    /// (one second added), the delivery waits for it, the operator is told.
    fn wait_chat(
        &mut self,
        d: &Delivery,
        err: &SendError,
        stale_retried: bool,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let chat = self
            .broadcasters
            .get(d.broadcaster)
            .and_then(|s| s.targets.get(d.target_index))
            .map(|t| t.chat.clone());
        let wait = err.retry_after().unwrap_or(Duration::ZERO);
        let until = add(now, wait + WAIT_MARGIN);
        if let Some(chat) = chat {
            self.chats
                .entry(chat)
                .or_default()
                .told
                .insert(d.account, until);
        }
        self.defer(d, retry(d, until, d.attempt, stale_retried), err, fx);
        fx.push(Effect::PauseChat {
            account: d.account_name.clone(),
            target: d.target.clone(),
            until,
            seconds: wait.as_secs(),
        });
    }

    /// The target refused the account (or its peer stays stale after a refresh): failed.
    /// When another account posting there has not been refused, only this account skips the
    /// target until `recheck_after` from now (a ban of one account must not silence the
    /// others); otherwise the target is disabled until then, with Telegram's reason.
    fn refused(&mut self, d: &Delivery, err: &SendError, now: Timestamp, fx: &mut Vec<Effect>) {
        let code = err.code().to_owned();
        let recheck_at = add(now, self.settings.recheck_after);
        let why = err.refusal_reason().unwrap_or_else(|| code.clone());
        self.count_failed(d, failed(err, err.to_string()), fx);
        if self.another_poster(&d.target, d.account, now) {
            self.refuse_here(&d.target, d.account, recheck_at, code.clone(), why.clone());
            // Not a chat hold: the refusal is its own record (stats' "refused for one
            // account"), the same whether a send or a pre-flight check found it (QA F2b).
            let reason = smb_domain::HoldReason::Refused {
                account: d.account_name.to_string(),
                why,
            };
            fx.push(Effect::RefusedHere {
                account: d.account_name.clone(),
                target: d.target.clone(),
                reason,
                code,
                until: recheck_at,
                renewed: false,
            });
            return;
        }
        // Every posting account is refused now: one reason naming them all (QA F8).
        let mut accounts = self.refused_accounts(&d.target, now);
        if !accounts.iter().any(|a| **a == *d.account_name) {
            accounts.push(d.account_name.clone());
        }
        accounts.sort();
        let reason = match accounts.as_slice() {
            [one] => format!("{why} (account {one})"),
            many => format!("{why} (accounts {})", many.join(", ")),
        };
        self.disabled.insert(d.target.clone(), Some(recheck_at));
        fx.push(Effect::DisableTarget {
            target: d.target.clone(),
            reason,
            recheck_at: Some(recheck_at),
        });
    }

    /// An error SendMessageBot does not know: failed; after `disable_after_failures` of them
    /// in a row (0: never) the target is disabled until its recheck and the count restarts.
    fn unknown_error(
        &mut self,
        d: &Delivery,
        err: &SendError,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let code = err.code().to_owned();
        self.count_failed(d, failed(err, err.to_string()), fx);
        let limit = d.content.disable_after_failures;
        let count = self.failures.entry(d.target.clone()).or_insert(0);
        *count += 1;
        if limit > 0 && *count >= limit {
            let n = *count;
            self.failures.remove(&d.target);
            let recheck_at = add(now, self.settings.recheck_after);
            self.disabled.insert(d.target.clone(), Some(recheck_at));
            let raw = match err {
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

    /// Telegram stopped the account: the message was not sent, so it stays deferred and a
    /// re-activated account resumes the cycle where it stopped; the account and every
    /// broadcaster on it stop with Telegram's code.
    fn stop_account(
        &mut self,
        d: &Delivery,
        err: &SendError,
        stale_retried: bool,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        self.defer(d, refused_retry(d, now, stale_retried), err, fx);
        let reason = AccountStop::Telegram(err.code().to_owned());
        self.accounts[d.account].stopped = Some(reason.clone());
        for &b in &self.accounts[d.account].broadcasters {
            self.broadcasters[b].run = RunState::AccountStopped(reason.clone());
        }
        fx.push(Effect::StopAccount {
            account: d.account_name.clone(),
            reason,
        });
    }

    /// A transient error: retried after the pacing's backoff for this attempt, up to
    /// `max_retries`; then failed with "gave up after N retries".
    fn transient(
        &mut self,
        d: &Delivery,
        err: &SendError,
        stale_retried: bool,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let attempt = d.attempt + 1;
        let pacing = &self.broadcasters[d.broadcaster].pacing;
        let max_retries = pacing.max_retries;
        if attempt > max_retries {
            let detail = format!("{err}; gave up after {max_retries} retries");
            self.count_failed(d, failed(err, detail), fx);
        } else {
            let until = add(now, pacing.retry_backoff(attempt, d.random_id as u64));
            self.defer(d, retry(d, until, attempt, stale_retried), err, fx);
        }
    }

    /// Counts a failed delivery in its cycle and records `outcome` for it.
    fn count_failed(&mut self, d: &Delivery, outcome: Outcome, fx: &mut Vec<Effect>) {
        if let CycleState::Active(ac) = &mut self.broadcasters[d.broadcaster].cycle {
            ac.failed += 1;
        }
        fx.push(Effect::Record {
            delivery: d.clone(),
            outcome,
        });
    }

    /// [`defer`] in the delivery's active cycle, with the error's class and code.
    fn defer(&mut self, d: &Delivery, retry: Retry, err: &SendError, fx: &mut Vec<Effect>) {
        if let CycleState::Active(ac) = &mut self.broadcasters[d.broadcaster].cycle {
            defer(ac, fx, d, retry, err.class(), err.code().to_owned());
        }
    }
}

/// Another try of `d` at `not_before`: attempted, so only the account that sent it retries
/// it (its `random_id` de-duplicates only there).
fn retry(d: &Delivery, not_before: Timestamp, attempt: u32, stale_retried: bool) -> Retry {
    Retry {
        index: d.target_index,
        not_before,
        attempt,
        random_id: d.random_id,
        stale_retried,
        account: Some(d.account),
        unknown: false,
        account_wait: None,
    }
}

/// A retry of a delivery Telegram refused for the whole account (a flood wait, a stopped
/// account): nothing was posted, so it is not tied to that account — the account sends it
/// after its wait, or a backup takes it meanwhile (QA: a backup could never finish the cycle,
/// and the broadcaster stood still while its account was stopped). A delivery whose fate is
/// unknown (network) stays with the account that tried it: only there does its `random_id`
/// de-duplicate. Tied again after a restart (the journal's row names the account).
///
/// A delivery tried before (`attempt > 0`: an earlier try ended in a network or server error,
/// its fate unknown — it may be in the chat) stays tied to its account even when this try was
/// refused: a backup would post a second copy under its own de-duplication (e14: the retry of
/// an answer lost on the wire met AUTH_KEY_UNREGISTERED and moved to the backup).
fn refused_retry(d: &Delivery, not_before: Timestamp, stale_retried: bool) -> Retry {
    Retry {
        account: (d.attempt > 0).then_some(d.account),
        ..retry(d, not_before, d.attempt, stale_retried)
    }
}

/// The `Failed` outcome of `err`, with `detail` for the operator.
fn failed(err: &SendError, detail: String) -> Outcome {
    Outcome::Failed {
        class: err.class(),
        code: err.code().to_owned(),
        detail,
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
