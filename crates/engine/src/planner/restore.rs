//! Restoring what the store remembers after a restart: account pauses and stops, disabled
//! targets, each broadcaster's last cycle, and operator states.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use smb_domain::{DeliveryStatus, OperatorState, TargetRef};

use super::Planner;
use super::send::{account_key, send_key};
use super::state::{ActiveCycle, BroadcasterSlot, CycleState, Retry, RunState, add};
use crate::ports::{JournalPost, StoredAccount, StoredCycle, TargetStatus};

impl Planner {
    /// Applies what the store remembers: account pauses and stops, disabled targets, and each
    /// broadcaster's last cycle, so a restart resumes at the next target of the same cycle.
    ///
    /// A send or a cycle end the journal dates after `now` happened before a wall clock was set
    /// back: it counts as having happened `now` (the gap and the cycle delay run from there,
    /// not from a moment an hour away). Returns how far the journal is ahead of `now`, if it
    /// is, for the caller to warn about.
    pub fn restore(
        &mut self,
        accounts: &HashMap<String, StoredAccount>,
        targets: &HashMap<String, TargetStatus>,
        cycles: &HashMap<String, StoredCycle>,
        now: Timestamp,
    ) -> Option<SignedDuration> {
        let mut ahead = SignedDuration::ZERO;
        let mut seen = |t: Timestamp| {
            ahead = ahead.max(t.duration_since(now));
            t.min(now)
        };
        for a in &mut self.accounts {
            if let Some(s) = accounts.get(&*a.name) {
                a.paused_until = s.paused_until.filter(|t| *t > now);
                a.stopped = s.stopped_reason.clone();
                if let Some(last) = s.last_send_at {
                    a.next_send_at = a.next_send_at.max(add(seen(last), a.gap));
                }
            }
        }
        for (key, status) in targets {
            if let (TargetStatus::Disabled { recheck_at, .. }, Ok(t)) =
                (status, TargetRef::parse(key))
            {
                self.disabled.insert(t, *recheck_at);
            }
        }
        for b in &mut self.broadcasters {
            if let Some(reason) = &self.accounts[b.account].stopped {
                b.run = RunState::AccountStopped(reason.clone());
            }
            let Some(c) = cycles.get(&*b.name) else {
                continue;
            };
            match c.completed_at {
                Some(done) => {
                    let done = seen(done);
                    let starts_at = if self.settings.once && !self.settings.once_after_cycle_delay {
                        now
                    } else {
                        add(
                            done,
                            b.pacing
                                .jitter
                                .apply(b.pacing.cycle_delay, b.seed ^ c.cycle),
                        )
                    };
                    b.cycle = CycleState::Idle {
                        next_cycle: c.cycle + 1,
                        starts_at,
                    };
                }
                None => {
                    let index: HashMap<String, usize> = b
                        .targets
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.key(), i))
                        .collect();
                    let mut ac = ActiveCycle {
                        cycle: c.cycle,
                        message: c.message.as_str().into(),
                        variants: super::send::variant_texts(&b.messages.variants_of(&c.message)),
                        cursor: 0,
                        handled: HashSet::new(),
                        retries: Vec::new(),
                        in_flight: None,
                        in_flight_stale_retried: false,
                        sent: 0,
                        failed: 0,
                        rule_skipped: 0,
                        reopens_at: None,
                    };
                    for d in &c.deliveries {
                        let Some(&i) = index.get(&d.target) else {
                            continue;
                        };
                        ac.handled.insert(i);
                        match d.status {
                            DeliveryStatus::Sent => ac.sent += 1,
                            DeliveryStatus::Failed => ac.failed += 1,
                            // A pending delivery may have reached Telegram: re-send it first,
                            // with the same random_id, so Telegram drops a duplicate.
                            _ => ac.retries.push(Retry {
                                index: i,
                                not_before: if d.status == DeliveryStatus::Pending {
                                    now
                                } else {
                                    d.retry_at.unwrap_or(now)
                                },
                                attempt: d.attempts,
                                random_id: d.random_id,
                                stale_retried: false,
                                // Until `restore_journal` says which account attempted it.
                                account: Some(b.account),
                                unknown: d.status == DeliveryStatus::Pending,
                                account_wait: None,
                            }),
                        }
                    }
                    b.cycle = CycleState::Active(ac);
                }
            }
        }
        (ahead > SignedDuration::ZERO).then_some(ahead)
    }

    /// The jittered gap after each account's and broadcaster's last journalled send, as the
    /// daemon that made it drew it (the key comes from the send: broadcaster, cycle, target),
    /// so the first send after a restart, and `stats`' "next send", keep it. Only lengthens
    /// what [`Planner::restore`] set (the plain gap after the account's last write).
    pub(super) fn restore_gaps(&mut self, rows: &[JournalPost], now: Timestamp) {
        let mut last: HashMap<&str, &JournalPost> = HashMap::new();
        let mut last_of_account: HashMap<&str, &JournalPost> = HashMap::new();
        for r in rows {
            for (map, name) in [
                (&mut last, &*r.broadcaster),
                (&mut last_of_account, &*r.account),
            ] {
                if map.get(name).is_none_or(|l| l.at < r.at) {
                    map.insert(name, r);
                }
            }
        }
        // Parsed once and compared as values: no key string built per target of a 10,000-chat
        // list at start-up.
        let key_of = |b: &BroadcasterSlot, r: &JournalPost| {
            let target = TargetRef::parse(&r.target).ok()?;
            let index = b.targets.iter().position(|t| *t == target)?;
            Some(send_key(b.seed, r.cycle, index))
        };
        for b in &mut self.broadcasters {
            let Some(r) = last.get(&*b.name) else {
                continue;
            };
            if let Some(key) = key_of(b, r) {
                let gap = b.pacing.jitter.extra(b.pacing.delay_between_chats, key);
                b.next_send_at = b.next_send_at.max(add(r.at.min(now), gap));
            }
        }
        for a in &mut self.accounts {
            let Some(r) = last_of_account.get(&*a.name) else {
                continue;
            };
            let Some(b) = self.broadcasters.iter().find(|b| *b.name == *r.broadcaster) else {
                continue;
            };
            if let Some(key) = key_of(b, r) {
                let gap = a.jitter.extra(a.gap, account_key(key));
                a.next_send_at = a.next_send_at.max(add(r.at.min(now), gap));
            }
        }
    }

    /// Applies states an operator set before a restart (paused, stopped); a broadcaster
    /// whose account is stopped keeps that state.
    pub fn restore_states(&mut self, states: &HashMap<String, OperatorState>) {
        for b in &mut self.broadcasters {
            if b.run != RunState::Running {
                continue;
            }
            if let Some(&state) = states.get(&*b.name) {
                b.run = RunState::from(state);
            }
        }
    }
}
