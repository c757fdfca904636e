//! The `Poll` transition: which broadcaster of an account sends next, when a cycle starts
//! and ends, and the `Send` effect with its pacing.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::{HoldReason, TargetRef, mix64};

use super::Planner;
use super::state::{ActiveCycle, CycleState, Pick, Retry, RunState, add};
use super::vocabulary::{AccountId, BroadcasterId, Content, Delivery, Effect};
use crate::ports::Outcome;

impl Planner {
    pub(super) fn next_random_id(&mut self) -> i64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let v = mix64(self.rng) as i64;
        if v == 0 { 1 } else { v }
    }

    pub(super) fn is_disabled(&self, t: &TargetRef, now: Timestamp) -> bool {
        match self.disabled.get(t) {
            None => false,
            Some(None) => true,
            Some(Some(recheck)) => *recheck > now,
        }
    }

    /// Moves a broadcaster's cursor past targets that need nothing, and completes its cycle
    /// when nothing is left.
    pub(super) fn settle(&mut self, b: BroadcasterId, now: Timestamp, fx: &mut Vec<Effect>) {
        let once = self.settings.once;
        self.skip_where_no_backup(b, now, fx);
        let slot = &self.broadcasters[b];
        let CycleState::Active(ac) = &slot.cycle else {
            return;
        };
        let mut cursor = ac.cursor;
        while cursor < slot.targets.len()
            && (ac.handled.contains(&cursor) || self.is_disabled(&slot.targets[cursor], now))
        {
            cursor += 1;
        }
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        ac.cursor = cursor;
        if cursor >= slot.targets.len() && ac.retries.is_empty() && ac.in_flight.is_none() {
            fx.push(Effect::CompleteCycle {
                broadcaster: slot.name.clone(),
                cycle: ac.cycle,
                sent: ac.sent,
                failed: ac.failed,
            });
            let next_cycle = ac.cycle + 1;
            let wait = slot
                .pacing
                .jitter
                .apply(slot.pacing.cycle_delay, slot.seed ^ ac.cycle);
            let mut starts_at = add(now, wait);
            // Every target was skipped by its chat's rules: no cycle can post before the
            // first of them reopens, so none starts before then (qa5 F5).
            if ac.sent == 0
                && ac.failed == 0
                && ac.rule_skipped >= slot.targets.len()
                && let Some(reopens) = ac.reopens_at.filter(|t| *t < Timestamp::MAX)
            {
                starts_at = starts_at.max(reopens);
            }
            slot.cycle = CycleState::Idle {
                next_cycle,
                starts_at,
            };
            // A backup finished the cycle of a stopped account: a single-cycle run is done.
            if once && matches!(slot.run, RunState::Running | RunState::AccountStopped(_)) {
                slot.run = RunState::Done;
            }
        }
    }

    /// While a broadcaster's own account is stopped (revoked, banned: only the operator brings
    /// it back), the targets of its active cycle that no backup may post into (not a member,
    /// refused there, or the backup is stopped too) are skipped for this cycle, so the cycle
    /// completes with what the backups posted and the next ones go on (e14: a backup that is a
    /// member of only some chats left the cycle open for ever). Never-attempted targets, and
    /// refused retries not tied to an account; a retry tied to the stopped account (its fate
    /// unknown: it may be in the chat, so no backup may take it) is closed `failed` with
    /// `ACCOUNT_STOPPED` instead of holding the cycle. A flood wait is waited out instead: the
    /// account comes back by itself.
    fn skip_where_no_backup(&mut self, b: BroadcasterId, now: Timestamp, fx: &mut Vec<Effect>) {
        let slot = &self.broadcasters[b];
        let primary = slot.account;
        if slot.backups.is_empty() || self.accounts[primary].stopped.is_none() {
            return;
        }
        let CycleState::Active(ac) = &slot.cycle else {
            return;
        };
        if ac.in_flight.is_some() {
            return;
        }
        // A backup still in its pre-flight check may turn out a member: wait for it (a
        // primary stopped in the first seconds after start skipped chats the backup could post
        // into).
        let reachable = |t: &TargetRef| {
            slot.backups.iter().any(|&a| {
                self.accounts[a].stopped.is_none()
                    && (self.checking.contains(&a) || self.is_member(a, t, now))
            })
        };
        let fresh: Vec<usize> = (ac.cursor..slot.targets.len())
            .filter(|j| {
                !ac.handled.contains(j)
                    && !self.is_disabled(&slot.targets[*j], now)
                    && !reachable(&slot.targets[*j])
            })
            .collect();
        let refused: Vec<usize> = ac
            .retries
            .iter()
            .enumerate()
            .filter(|(_, r)| match r.account {
                None => !reachable(&slot.targets[r.index]),
                // Tied to the stopped account (its fate unknown, or restored after a
                // restart): no other account may retry it, so it closes now instead of holding
                // the cycle until the operator revives the account (qa8: cycle 1 stalled).
                Some(a) => a == primary,
            })
            .map(|(i, _)| i)
            .collect();
        if fresh.is_empty() && refused.is_empty() {
            return;
        }
        let why = format!(
            "account {} is stopped and no backup account may post here (not a member)",
            self.accounts[primary].name
        );
        let why_tied = format!(
            "account {} is stopped; this delivery may already be in the chat, so no other account retries it",
            self.accounts[primary].name
        );
        let account_name = self.accounts[primary].name.clone();
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        let mut skipped: Vec<(usize, Option<Retry>)> =
            fresh.into_iter().map(|j| (j, None)).collect();
        // Highest index first, so each swap_remove leaves the lower ones in place.
        for i in refused.into_iter().rev() {
            let r = ac.retries.swap_remove(i);
            skipped.push((r.index, Some(r)));
        }
        for (j, retry) in skipped {
            ac.handled.insert(j);
            let target = slot.targets[j].clone();
            let tied = retry.as_ref().is_some_and(|r| r.account.is_some());
            let (code, why) = if tied {
                ("ACCOUNT_STOPPED", &why_tied)
            } else {
                ("NO_BACKUP_MEMBER", &why)
            };
            if let Some(r) = retry {
                // Refused on the stopped account: its journal row (deferred) is closed.
                ac.failed += 1;
                let (text, variant) = ac.text_for(&slot.targets, j, slot.seed);
                fx.push(Effect::Record {
                    delivery: Delivery {
                        broadcaster: b,
                        broadcaster_name: slot.name.clone(),
                        account: primary,
                        account_name: account_name.clone(),
                        cycle: ac.cycle,
                        target_index: j,
                        target: target.clone(),
                        text,
                        content: slot.content.clone(),
                        random_id: r.random_id,
                        attempt: r.attempt,
                        variant,
                    },
                    outcome: Outcome::Failed {
                        class: smb_domain::ErrorClass::AccountDead,
                        code: code.into(),
                        detail: why.clone(),
                    },
                });
            }
            fx.push(Effect::ChatHeld {
                broadcaster: slot.name.clone(),
                account: account_name.clone(),
                target,
                reason: HoldReason::Refused {
                    account: account_name.to_string(),
                    why: why.clone(),
                },
                until: now,
                skipped: true,
            });
        }
    }

    /// When broadcaster `b` could next send, and what.
    fn candidate(&self, b: BroadcasterId, now: Timestamp) -> Option<(Timestamp, Pick)> {
        let slot = &self.broadcasters[b];
        if slot.run != RunState::Running {
            return None;
        }
        let (due, pick) = match &slot.cycle {
            CycleState::Idle { starts_at, .. } => (*starts_at, Pick::StartCycle),
            CycleState::Active(ac) => {
                if ac.in_flight.is_some() {
                    return None;
                }
                // A delivery a backup attempted stays with the backup.
                let retry = ac
                    .retries
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.account.is_none_or(|a| a == slot.account))
                    .min_by_key(|(_, r)| r.not_before)
                    .map(|(i, r)| (r.not_before.max(slot.next_send_at), i));
                let cursor = (ac.cursor < slot.targets.len()).then_some(slot.next_send_at);
                match (retry, cursor) {
                    (Some((rt, i)), Some(ct)) if rt <= ct => (rt, Pick::Retry(i)),
                    (_, Some(ct)) => (ct, Pick::Cursor),
                    (Some((rt, i)), None) => (rt, Pick::Retry(i)),
                    (None, None) => return None,
                }
            }
        };
        let due = slot.schedule.next_allowed(due.max(now))?;
        Some((due, pick))
    }

    pub(super) fn poll(&mut self, account: AccountId, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(acc) = self.accounts.get(account) else {
            fx.push(Effect::Wait { until: None });
            return;
        };
        if acc.stopped.is_some() {
            fx.push(Effect::Wait { until: None });
            return;
        }
        if let Some(p) = acc.paused_until
            && p > now
        {
            fx.push(Effect::Wait { until: Some(p) });
            return;
        }
        // A chat's hold moves its target out of the way (skipped, or waiting past `now`);
        // then the account picks again. Each round makes progress, so this bound is never
        // reached in practice; reaching it only means "poll again at once".
        for _ in 0..10_000 {
            if self.poll_once(account, now, fx) {
                return;
            }
        }
        fx.push(Effect::Wait { until: Some(now) });
    }

    /// One pick of [`Planner::poll`]; `false` when a chat's hold changed the cycle and the
    /// account should pick again.
    fn poll_once(&mut self, account: AccountId, now: Timestamp, fx: &mut Vec<Effect>) -> bool {
        // Indexing instead of iterating `acc.broadcasters`: settle() needs `&mut self`, and
        // a copy of the list on every poll would be an allocation on the send path.
        let n = self.accounts[account].broadcasters.len();
        for k in 0..n {
            let b = self.accounts[account].broadcasters[k];
            self.settle(b, now, fx);
        }
        let nb = self.accounts[account].backup_for.len();
        for k in 0..nb {
            let b = self.accounts[account].backup_for[k];
            self.settle(b, now, fx);
        }
        let acc = &self.accounts[account];
        let mut best: Option<(Timestamp, Option<usize>, BroadcasterId, Pick)> = None;
        for k in 0..n {
            let pos = (acc.rr + k) % n;
            let b = acc.broadcasters[pos];
            if let Some((due, pick)) = self.candidate(b, now)
                && best.as_ref().is_none_or(|(t, ..)| due < *t)
            {
                best = Some((due, Some(pos), b, pick));
            }
        }
        // Backup work comes after the account's own at the same moment.
        for &b in &acc.backup_for {
            if let Some((due, pick)) = self.backup_candidate(b, account, now)
                && best.as_ref().is_none_or(|(t, ..)| due < *t)
            {
                best = Some((due, None, b, pick));
            }
        }
        let Some((due, pos, b, pick)) = best else {
            fx.push(Effect::Wait { until: None });
            return true;
        };
        let due = due.max(acc.next_send_at);
        if due > now {
            fx.push(Effect::Wait { until: Some(due) });
            return true;
        }
        if let Some(pos) = pos {
            self.accounts[account].rr = (pos + 1) % n;
        }
        match pick {
            Pick::StartCycle => {
                self.start_cycle(b, now, fx);
                // The first send of the new cycle goes out in the same poll when it can.
                self.settle(b, now, fx);
                let next = if pos.is_some() {
                    self.candidate(b, now)
                } else {
                    self.backup_candidate(b, account, now)
                };
                if let Some((due, pick)) = next
                    && due <= now
                    && !matches!(pick, Pick::StartCycle)
                {
                    self.send_or_hold(b, pick, account, now, fx)
                } else {
                    fx.push(Effect::Wait { until: Some(now) });
                    true
                }
            }
            pick => self.send_or_hold(b, pick, account, now, fx),
        }
    }

    /// Sends `pick` unless its chat holds it back (then applies the hold: `false`).
    fn send_or_hold(
        &mut self,
        b: BroadcasterId,
        pick: Pick,
        account: AccountId,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let CycleState::Active(ac) = &self.broadcasters[b].cycle else {
            return true;
        };
        let (index, unknown) = match pick {
            Pick::Cursor => (ac.cursor, false),
            Pick::Index(i) => (i, false),
            Pick::Retry(r) => (ac.retries[r].index, ac.retries[r].unknown),
            Pick::StartCycle => return true,
        };
        // A delivery that may already be in the chat is finished as it is.
        if !unknown && let Some(hold) = self.chat_hold(b, index, account, now) {
            self.apply_hold(b, pick, account, hold, fx);
            return false;
        }
        self.emit_send(b, pick, account, now, fx);
        true
    }

    fn start_cycle(&mut self, b: BroadcasterId, now: Timestamp, fx: &mut Vec<Effect>) {
        let once = self.settings.once;
        let slot = &mut self.broadcasters[b];
        let CycleState::Idle { next_cycle, .. } = slot.cycle else {
            return;
        };
        if let Some(newer) = slot.pending_messages.take() {
            slot.messages = newer;
        }
        let Some(picked) = slot
            .messages
            .pick_slot(slot.rotation, next_cycle - 1, slot.seed)
        else {
            // Validated at load; an empty set just waits for a new version — except in a
            // single-cycle run, which must end: there it has nothing to do.
            slot.cycle = CycleState::Idle {
                next_cycle,
                starts_at: add(now, slot.pacing.cycle_delay),
            };
            if once && slot.run == RunState::Running {
                slot.run = RunState::Done;
            }
            return;
        };
        let message: Arc<str> = picked[0].text.as_str().into();
        let variants = variant_texts(&picked);
        let slot_round = slot.messages.slot_round(next_cycle - 1);
        fx.push(Effect::StartCycle {
            broadcaster: slot.name.clone(),
            cycle: next_cycle,
            message: message.clone(),
            targets: slot.targets.len(),
        });
        slot.cycle = CycleState::Active(ActiveCycle {
            cycle: next_cycle,
            message,
            variants,
            slot_round,
            cursor: 0,
            handled: HashSet::new(),
            retries: Vec::new(),
            in_flight: None,
            in_flight_stale_retried: false,
            sent: 0,
            failed: 0,
            rule_skipped: 0,
            reopens_at: None,
        });
    }

    fn emit_send(
        &mut self,
        b: BroadcasterId,
        pick: Pick,
        account: AccountId,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let fresh_id = self.next_random_id();
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        let (index, random_id, attempt) = match pick {
            Pick::Retry(i) => {
                let r = ac.retries.swap_remove(i);
                ac.in_flight_stale_retried = r.stale_retried;
                (r.index, r.random_id, r.attempt)
            }
            Pick::Cursor => {
                let i = ac.cursor;
                ac.cursor += 1;
                ac.in_flight_stale_retried = false;
                (i, fresh_id, 0)
            }
            Pick::Index(i) => {
                ac.handled.insert(i);
                ac.in_flight_stale_retried = false;
                (i, fresh_id, 0)
            }
            Pick::StartCycle => return,
        };
        ac.in_flight = Some(index);
        let target = slot.targets[index].clone();
        let content = if slot.content.has_media() && self.text_only.contains(&target) {
            Arc::new(Content {
                media: None,
                album: Vec::new(),
                ..(*slot.content).clone()
            })
        } else {
            slot.content.clone()
        };
        // A target whose re-check time came is tried again; it is active until told otherwise.
        if self.disabled.remove(&target).is_some() {
            fx.push(Effect::EnableTarget {
                target: target.clone(),
            });
        }
        let key = send_key(slot.seed, ac.cycle, index);
        // Jitter only lengthens a gap between chats: the configured delay is the minimum.
        slot.last_gap = slot
            .pacing
            .jitter
            .extra(slot.pacing.delay_between_chats, key);
        slot.next_send_at = add(now, slot.last_gap);
        let acc = &mut self.accounts[account];
        acc.last_gap = acc.jitter.extra(acc.gap, account_key(key));
        acc.next_send_at = add(now, acc.last_gap);
        let chat_target = target.clone();
        let (text, variant) = ac.text_for(&slot.targets, index, slot.seed);
        fx.push(Effect::Send(Delivery {
            broadcaster: b,
            broadcaster_name: slot.name.clone(),
            account,
            account_name: acc.name.clone(),
            cycle: ac.cycle,
            target_index: index,
            target,
            text,
            variant,
            content,
            random_id,
            attempt,
        }));
        self.post_started(&chat_target, account, (b, index), now);
    }
}

/// The jitter key of a broadcaster's send of target `index` in `cycle`: derived from the
/// send alone, so a restarted daemon, `stats` and `run --dry-run` draw the same gap for it.
pub(super) fn send_key(seed: u64, cycle: u64, index: usize) -> u64 {
    seed ^ cycle.rotate_left(20) ^ index as u64
}

/// The jitter key of the account's gap after the send with key `key`.
pub(super) fn account_key(key: u64) -> u64 {
    key ^ 0xACC
}

/// An A/B slot's (label, text) pairs for [`ActiveCycle::variants`]: empty unless the slot
/// holds two or more labelled messages.
pub(super) fn variant_texts(slot: &[&smb_domain::Message]) -> Arc<[(Arc<str>, Arc<str>)]> {
    if slot.len() < 2 {
        return Arc::from(Vec::new());
    }
    slot.iter()
        .filter_map(|m| {
            m.variant
                .as_deref()
                .map(|l| (Arc::from(l), Arc::from(m.text.as_str())))
        })
        .collect::<Vec<_>>()
        .into()
}
