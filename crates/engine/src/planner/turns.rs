//! Send turns outside the planner's cycles (test sends) and wall-clock steps: the same
//! pacing rules as the planner's own sends.

use jiff::{SignedDuration, Timestamp};
use smb_domain::SendError;

use super::Planner;
use super::state::{CycleState, add, pause};
use super::vocabulary::{AccountId, BroadcasterId, Effect, Hold};

impl Planner {
    /// Why `account` may not send right now (unknown, stopped, paused by Telegram), if so.
    pub fn account_blocked(&self, account: &str, now: Timestamp) -> Option<String> {
        let Some(a) = self.account_id(account).map(|i| &self.accounts[i]) else {
            return Some(format!("account `{account}` is not configured"));
        };
        if let Some(reason) = &a.stopped {
            return Some(format!("account `{account}` is stopped: {reason}"));
        }
        match a.paused_until {
            Some(p) if p > now => Some(format!(
                "account `{account}` is paused by Telegram until {p}"
            )),
            _ => None,
        }
    }

    /// Applies a FLOOD_WAIT that `account` met outside the planner's own sends (a test send):
    /// its broadcasters send nothing before it ends. Returns the effect that records it.
    pub fn pause_account(
        &mut self,
        account: &str,
        err: &SendError,
        key: u64,
        now: Timestamp,
    ) -> Option<Effect> {
        let i = self.account_id(account)?;
        Some(pause(&mut self.accounts[i], err, key, now).1)
    }

    /// Why `account` may not send at `now`, if so: the pacing rule for sends outside the
    /// planner's cycles (test sends), the same as for its own sends.
    pub fn send_hold(&self, account: AccountId, now: Timestamp) -> Option<Hold> {
        let Some(a) = self.accounts.get(account) else {
            return Some(Hold::Stopped(format!(
                "account #{account} is not configured"
            )));
        };
        if let Some(reason) = &a.stopped {
            return Some(Hold::Stopped(format!(
                "account `{}` is stopped: {reason}",
                a.name
            )));
        }
        if let Some(p) = a.paused_until
            && p > now
        {
            return Some(Hold::Paused(p));
        }
        (a.next_send_at > now).then_some(Hold::Gap(a.next_send_at))
    }

    /// Takes the account's next send turn for a send outside the cycles (a test send) when it
    /// may send at `now`: its next send, whichever broadcaster it serves, is then at least
    /// `delay_between_chats` (+ jitter) away. `key` chooses the jitter.
    pub fn claim_send(&mut self, account: AccountId, now: Timestamp, key: u64) -> Result<(), Hold> {
        if let Some(hold) = self.send_hold(account, now) {
            return Err(hold);
        }
        let a = &mut self.accounts[account];
        a.last_gap = a.jitter.extra(a.gap, key);
        a.next_send_at = add(now, a.last_gap);
        Ok(())
    }

    /// A send of `account` (for `broadcaster`, when it is one of the planner's) reached the
    /// gateway at `at`, after its journal write: the gap to the next send counts from here,
    /// so a slow journal write never brings two gateway calls closer than the gap.
    pub fn send_started(
        &mut self,
        account: AccountId,
        broadcaster: Option<BroadcasterId>,
        at: Timestamp,
    ) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.next_send_at = a.next_send_at.max(add(at, a.last_gap));
        }
        if let Some(b) = broadcaster.and_then(|b| self.broadcasters.get_mut(b)) {
            b.next_send_at = b.next_send_at.max(add(at, b.last_gap));
        }
    }

    /// Moves every pacing deadline (gaps, Telegram pauses, retries, cycle delays, re-checks)
    /// by `by`: the driver calls it when the wall clock stepped by `by`, so each wait keeps
    /// the time it had left — no stall after a step back, no burst after a step forward.
    /// Schedules (start hour, quiet hours) are not deadlines: they are read from the wall
    /// clock at each poll.
    pub fn shift_timers(&mut self, by: SignedDuration) {
        let shift = |t: &mut Timestamp| *t = t.checked_add(by).unwrap_or(*t);
        for a in &mut self.accounts {
            shift(&mut a.next_send_at);
            if let Some(p) = &mut a.paused_until {
                shift(p);
            }
        }
        for b in &mut self.broadcasters {
            shift(&mut b.next_send_at);
            match &mut b.cycle {
                CycleState::Idle { starts_at, .. } => shift(starts_at),
                CycleState::Active(ac) => {
                    for r in &mut ac.retries {
                        shift(&mut r.not_before);
                    }
                }
            }
        }
        for recheck in self.disabled.values_mut().flatten() {
            shift(recheck);
        }
        self.shift_posts(by);
    }
}
