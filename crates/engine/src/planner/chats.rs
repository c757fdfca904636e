//! Chats as a whole: per-chat rules and slow mode across every broadcaster and account that
//! posts there, and backup accounts.
//!
//! The planner remembers our recent posts per chat (sent, or being sent) and decides before
//! each send whether the chat allows it now: a chat's rules outside their window skip the
//! target for this cycle; a chat's slow mode (known from a pre-flight check) keeps the
//! delivery in the cycle until it has passed, so `SLOWMODE_WAIT` is an exception, not the way
//! we learn. A broadcaster whose account is stopped or in a long flood wait hands its
//! not-yet-attempted deliveries to a backup account that is a member of the chat.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use smb_domain::{DeliveryStatus, ErrorClass, HoldReason, TargetRef};

use super::Planner;
use super::state::{
    ChatSlot, CycleState, DAY_MEMORY, POST_MEMORY, Pick, Post, Retry, RunState, add,
};
use super::vocabulary::{
    AccountId, BroadcasterId, ChatFacts, ChatHoldView, ChatSetup, Delivery, Effect, PlannerError,
};
use crate::ports::{JournalPost, Outcome, StoredChatPause, StoredRefusal};

/// Why a delivery may not go out now.
pub(super) struct ChatHold {
    pub(super) until: Timestamp,
    pub(super) reason: HoldReason,
    /// Rules skip the target for this cycle; slow mode only delays it.
    pub(super) skip: bool,
    /// The code a skipped retry is closed with in the journal (`CHAT_RULES`, or the
    /// Telegram error that refused this account there).
    pub(super) code: String,
}

impl Planner {
    /// Sets per-chat rules and backup accounts (call after [`Planner::new`], before
    /// [`Planner::restore_journal`]). Errors name a backup account or broadcaster that is not
    /// declared.
    pub fn set_chats(&mut self, setup: ChatSetup) -> Result<(), PlannerError> {
        for (chat, rules) in setup.rules {
            self.chats.entry(chat).or_default().rules = rules;
        }
        self.backup_after = setup.backup_after;
        for (name, backups) in setup.backups {
            let Some(b) = self.broadcasters.iter().position(|s| *s.name == *name) else {
                return Err(PlannerError::UnknownBroadcaster(name));
            };
            for acc in backups {
                let Some(&a) = self.by_account_name.get(&acc) else {
                    return Err(PlannerError::UnknownBackup {
                        broadcaster: name.clone(),
                        account: acc,
                    });
                };
                if a == self.broadcasters[b].account || self.broadcasters[b].backups.contains(&a) {
                    continue;
                }
                self.broadcasters[b].backups.push(a);
                self.accounts[a].backup_for.push(b);
            }
        }
        Ok(())
    }

    /// Applies what the journal remembers about chats after [`Planner::restore`]: our recent
    /// posts (a restart does not forget a 24 h gap or a slow mode), and which account
    /// attempted each unfinished delivery (it is retried by that account only).
    pub fn restore_journal(&mut self, rows: &[JournalPost], now: Timestamp) {
        let mut attempted: HashMap<(&str, u64, &str), AccountId> = HashMap::new();
        for r in rows {
            let Some(&account) = self.by_account_name.get(&r.account) else {
                continue;
            };
            if matches!(r.status, DeliveryStatus::Deferred | DeliveryStatus::Pending) {
                attempted.insert((&r.broadcaster, r.cycle, &r.target), account);
            }
            // A pending delivery may be in the chat: it counts as a post.
            if !matches!(r.status, DeliveryStatus::Sent | DeliveryStatus::Pending) {
                continue;
            }
            let Ok(target) = TargetRef::parse(&r.target) else {
                continue;
            };
            let at = r.at.min(now);
            if at < sub(now, POST_MEMORY) {
                continue;
            }
            self.chats.entry(target.chat).or_default().posts.push(Post {
                at,
                account,
                in_flight: None,
            });
        }
        for chat in self.chats.values_mut() {
            chat.posts.sort_by_key(|p| p.at);
        }
        self.restore_gaps(rows, now);
        for b in &mut self.broadcasters {
            let CycleState::Active(ac) = &mut b.cycle else {
                continue;
            };
            for r in &mut ac.retries {
                let key = b.targets[r.index].key();
                if let Some(&a) = attempted.get(&(&*b.name, ac.cycle, key.as_str())) {
                    r.account = Some(a);
                }
            }
        }
    }

    /// Applies the slow-mode waits Telegram told our accounts before a restart
    /// ([`Store::chat_pauses`](crate::ports::Store::chat_pauses)): each holds every
    /// broadcaster of that account in that chat until it ends, as when it was told, whether
    /// or not the chat's slow mode is known. Waits that ended by `now`, and accounts or
    /// targets no longer configured, are left out.
    pub fn restore_chat_pauses(&mut self, pauses: &[StoredChatPause], now: Timestamp) {
        for p in pauses.iter().filter(|p| p.until > now) {
            let (Some(&account), Ok(target)) = (
                self.by_account_name.get(&p.account),
                TargetRef::parse(&p.target),
            ) else {
                continue;
            };
            let told = self
                .chats
                .entry(target.chat)
                .or_default()
                .told
                .entry(account);
            let until = told.or_insert(p.until);
            *until = (*until).max(p.until);
        }
    }

    /// Applies the per-account refusals the store kept
    /// ([`Store::refusals`](crate::ports::Store::refusals)): each account skips its target
    /// until the re-check, as before the restart. Refusals over by `now`, and accounts no
    /// longer configured, are left out.
    pub fn restore_refusals(&mut self, refusals: &[StoredRefusal], now: Timestamp) {
        for r in refusals.iter().filter(|r| r.until > now) {
            let (Some(&account), Ok(target)) = (
                self.by_account_name.get(&*r.account),
                TargetRef::parse(&r.target),
            ) else {
                continue;
            };
            self.refuse_here(&target, account, r.until, r.code.clone(), r.reason.clone());
        }
    }

    /// The accounts `target` refuses at `now` (see [`Planner::refuse_here`]), by name.
    pub(super) fn refused_accounts(
        &self,
        target: &TargetRef,
        now: Timestamp,
    ) -> Vec<std::sync::Arc<str>> {
        let Some(chat) = self.chats.get(&target.chat) else {
            return Vec::new();
        };
        let key = target.key();
        chat.refused
            .iter()
            .filter(|((_, k), (until, _, _))| *k == key && *until > now)
            .map(|((a, _), _)| self.accounts[*a].name.clone())
            .collect()
    }

    /// What a pre-flight check found: slow mode and membership.
    pub(super) fn chat_info(&mut self, info: ChatFacts) {
        let account = self.by_account_name.get(&info.account).copied();
        let chat = self.chats.entry(info.chat).or_default();
        if let Some(s) = info.slowmode_seconds {
            chat.slowmode = (s > 0).then(|| std::time::Duration::from_secs(u64::from(s)));
        }
        if let (Some(a), Some(m)) = (account, info.member) {
            chat.members.insert(a, m);
        }
    }

    /// Targets held back by their chat's rules or slow mode at `now`, with the reason and the
    /// next allowed moment (for `stats`, the dashboard and dry runs).
    pub fn chat_holds(&self, now: Timestamp) -> Vec<ChatHoldView> {
        let mut out: Vec<ChatHoldView> = self
            .chats
            .values()
            .flat_map(|c| c.holds.iter())
            .filter(|(_, (reason, until, _))| *until > now && !is_refusal(reason))
            .map(
                |((target, broadcaster), (reason, until, account))| ChatHoldView {
                    target: target.clone(),
                    broadcaster: broadcaster.clone(),
                    account: account.clone(),
                    reason: reason.clone(),
                    until: *until,
                },
            )
            .collect();
        out.sort_by(|a, b| (&a.target, &a.broadcaster).cmp(&(&b.target, &b.broadcaster)));
        out
    }

    /// Whether target `index` of broadcaster `b` may be posted by `account` at `now`.
    pub(super) fn chat_hold(
        &self,
        b: BroadcasterId,
        index: usize,
        account: AccountId,
        now: Timestamp,
    ) -> Option<ChatHold> {
        let slot = &self.broadcasters[b];
        let target = slot.targets.get(index)?;
        let chat = self.chats.get(&target.chat)?;
        // The target refused this account while others may still post there.
        if let Some((until, code, reason)) = self.refusal(account, target, now) {
            return Some(ChatHold {
                until: *until,
                reason: HoldReason::Refused {
                    account: self.accounts[account].name.to_string(),
                    why: reason.clone(),
                },
                skip: true,
                code: code.clone(),
            });
        }
        // A wait Telegram told this account here holds every broadcaster it serves.
        if let Some(&until) = chat.told.get(&account)
            && until > now
        {
            return Some(ChatHold {
                until,
                reason: HoldReason::Told {
                    account: self.accounts[account].name.to_string(),
                },
                skip: false,
                code: "SLOWMODE_WAIT".into(),
            });
        }
        // Telegram counts slow mode per member: our last post from this account.
        if let Some(slowmode) = chat.slowmode
            && let Some(last) = chat
                .posts
                .iter()
                .filter(|p| p.account == account)
                .map(|p| p.at)
                .max()
        {
            // One second of margin, as after a SLOWMODE_WAIT: Telegram rounds.
            let until = add(last, slowmode + std::time::Duration::from_secs(1));
            if until > now {
                return Some(ChatHold {
                    until,
                    reason: HoldReason::SlowMode {
                        seconds: slowmode.as_secs(),
                        account: self.accounts[account].name.to_string(),
                        last,
                    },
                    skip: false,
                    code: "SLOWMODE_WAIT".into(),
                });
            }
        }
        if chat.rules.is_empty() {
            return None;
        }
        let times: Vec<Timestamp> = chat.posts.iter().map(|p| p.at).collect();
        match chat.rules.next_allowed(now, &slot.schedule.tz, &times) {
            Some((at, Some(why))) if at > now => Some(ChatHold {
                until: at,
                reason: HoldReason::Rule(why),
                skip: true,
                code: "CHAT_RULES".into(),
            }),
            Some(_) => None,
            None => Some(ChatHold {
                until: Timestamp::MAX,
                reason: HoldReason::Never,
                skip: true,
                code: "CHAT_RULES".into(),
            }),
        }
    }

    /// Applies a hold to the pick it stopped: a rule skips the target for this cycle, slow
    /// mode keeps it waiting in the cycle. Each application makes progress (the target leaves
    /// the cursor, or its retry moves past `now`), so the poll loop ends.
    pub(super) fn apply_hold(
        &mut self,
        b: BroadcasterId,
        pick: Pick,
        account: AccountId,
        hold: ChatHold,
        fx: &mut Vec<Effect>,
    ) {
        let fresh_id = self.next_random_id();
        let account_name = self.accounts[account].name.clone();
        let slot = &mut self.broadcasters[b];
        let CycleState::Active(ac) = &mut slot.cycle else {
            return;
        };
        let index = match pick {
            Pick::Cursor => {
                let i = ac.cursor;
                ac.cursor += 1;
                if !hold.skip {
                    ac.retries.push(Retry {
                        index: i,
                        not_before: hold.until,
                        attempt: 0,
                        random_id: fresh_id,
                        stale_retried: false,
                        account: None,
                        unknown: false,
                        account_wait: None,
                    });
                }
                i
            }
            Pick::Index(i) => {
                ac.handled.insert(i);
                if !hold.skip {
                    ac.retries.push(Retry {
                        index: i,
                        not_before: hold.until,
                        attempt: 0,
                        random_id: fresh_id,
                        stale_retried: false,
                        account: None,
                        unknown: false,
                        account_wait: None,
                    });
                }
                i
            }
            Pick::Retry(r) => {
                if !hold.skip {
                    ac.retries[r].not_before = hold.until;
                    ac.retries[r].account_wait = None;
                    ac.retries[r].index
                } else {
                    let retry = ac.retries.swap_remove(r);
                    if let Some(attempted_by) = retry.account {
                        // It has a journal row (deferred): close it with the reason.
                        ac.failed += 1;
                        let delivery = Delivery {
                            broadcaster: b,
                            broadcaster_name: slot.name.clone(),
                            account: attempted_by,
                            account_name: self.accounts[attempted_by].name.clone(),
                            cycle: ac.cycle,
                            target_index: retry.index,
                            target: slot.targets[retry.index].clone(),
                            text: ac.text_for(&slot.targets, retry.index, slot.seed).0,
                            variant: ac.text_for(&slot.targets, retry.index, slot.seed).1,
                            content: slot.content.clone(),
                            random_id: retry.random_id,
                            attempt: retry.attempt,
                        };
                        fx.push(Effect::Record {
                            delivery,
                            outcome: Outcome::Failed {
                                // A per-chat hold, as SLOWMODE_WAIT is; the code says which.
                                class: ErrorClass::ChatPause,
                                code: hold.code.clone(),
                                detail: format!(
                                    "{}; next allowed {}",
                                    hold.reason,
                                    smb_domain::local_minute(hold.until, &jiff::tz::TimeZone::UTC)
                                ),
                            },
                        });
                    }
                    retry.index
                }
            }
            Pick::StartCycle => return,
        };
        if hold.skip && !is_refusal(&hold.reason) {
            ac.rule_skipped += 1;
            ac.reopens_at = Some(ac.reopens_at.map_or(hold.until, |t| t.min(hold.until)));
        }
        let target = slot.targets[index].clone();
        let name = slot.name.clone();
        // A refusal of one account is kept apart (`refused`), not as a hold of the chat.
        if !is_refusal(&hold.reason) {
            self.chats
                .entry(target.chat.clone())
                .or_default()
                .holds
                .insert(
                    (target.key(), name.to_string()),
                    (hold.reason.clone(), hold.until, account_name.to_string()),
                );
        }
        fx.push(Effect::ChatHeld {
            broadcaster: name,
            account: account_name,
            target,
            reason: hold.reason,
            until: hold.until,
            skipped: hold.skip,
        });
    }

    /// A send into `target` starts: it counts as a post there from now on (two broadcasters
    /// on two accounts must not both pass a rule in the same minute).
    pub(super) fn post_started(
        &mut self,
        target: &TargetRef,
        account: AccountId,
        at_send: (BroadcasterId, usize),
        now: Timestamp,
    ) {
        let chat = self.chats.entry(target.chat.clone()).or_default();
        trim_posts(chat, now);
        chat.posts.push(Post {
            at: now,
            account,
            in_flight: Some(at_send),
        });
        let key = target.key();
        chat.holds.retain(|(t, _), _| *t != key);
    }

    /// The outcome of a send that [`Planner::post_started`] counted: a success dates the post
    /// to `now` (no earlier than it reached Telegram); anything else removes it.
    pub(super) fn post_finished(&mut self, d: &Delivery, sent: bool, now: Timestamp) {
        let Some(chat) = self.chats.get_mut(&d.target.chat) else {
            return;
        };
        let key = Some((d.broadcaster, d.target_index));
        if sent {
            for p in chat.posts.iter_mut().filter(|p| p.in_flight == key) {
                p.in_flight = None;
                p.at = p.at.max(now);
            }
            chat.posts.sort_by_key(|p| p.at);
        } else {
            chat.posts.retain(|p| p.in_flight != key);
        }
    }

    /// The broadcaster's own account cannot send for a while: stopped, or in a flood wait
    /// with more than `backup_after` left.
    pub(super) fn primary_unavailable(&self, b: BroadcasterId, now: Timestamp) -> bool {
        let acc = &self.accounts[self.broadcasters[b].account];
        acc.stopped.is_some()
            || acc.paused_until.is_some_and(|p| {
                p > now
                    && p.duration_since(now)
                        > SignedDuration::try_from(self.backup_after).unwrap_or(SignedDuration::MAX)
            })
    }

    /// A backup posts only where the pre-flight check found it a member that may write
    /// (not refused there since).
    pub(super) fn is_member(&self, account: AccountId, target: &TargetRef, now: Timestamp) -> bool {
        self.chats
            .get(&target.chat)
            .is_some_and(|c| c.members.get(&account).copied().unwrap_or(false))
            && self.refusal(account, target, now).is_none()
    }

    /// The refusal holding `account` out of `target` at `now` (see [`Planner::refuse_here`]):
    /// (until, Telegram's code, why). No key is built for a chat without refusals, which is
    /// every chat on the send path but a few.
    fn refusal(
        &self,
        account: AccountId,
        target: &TargetRef,
        now: Timestamp,
    ) -> Option<&(Timestamp, String, String)> {
        let chat = self.chats.get(&target.chat)?;
        if chat.refused.is_empty() {
            return None;
        }
        chat.refused
            .get(&(account, target.key()))
            .filter(|(until, _, _)| *until > now)
    }

    /// Whether an account other than `account` is set to post into `target` (a
    /// broadcaster's own account, not a backup) and has not been refused there: then a
    /// refusal of `account` holds only that account there, not the target.
    pub(super) fn another_poster(
        &self,
        target: &TargetRef,
        account: AccountId,
        now: Timestamp,
    ) -> bool {
        let key = target.key();
        self.broadcasters.iter().any(|b| {
            b.account != account
                && b.targets.iter().any(|t| t.key() == key)
                && self.refusal(b.account, target, now).is_none()
        })
    }

    /// Holds `account` out of `target` until `until`: it refused this account (a send or a
    /// pre-flight check) while another account may still post there.
    pub(super) fn refuse_here(
        &mut self,
        target: &TargetRef,
        account: AccountId,
        until: Timestamp,
        code: String,
        reason: String,
    ) {
        self.chats
            .entry(target.chat.clone())
            .or_default()
            .refused
            .insert((account, target.key()), (until, code, reason));
    }

    /// Until when `target` holds `account` out (see [`Planner::refuse_here`]), over or not.
    pub(super) fn refused_until(
        &self,
        target: &TargetRef,
        account: AccountId,
    ) -> Option<Timestamp> {
        self.chats
            .get(&target.chat)
            .and_then(|c| c.refused.get(&(account, target.key())))
            .map(|(until, _, _)| *until)
    }

    /// A pre-flight check found `account` may write into `target` again: a refusal there is
    /// over (told, so the store forgets it).
    pub(super) fn allow_here(
        &mut self,
        target: &TargetRef,
        account: AccountId,
        fx: &mut Vec<Effect>,
    ) {
        let gone = self
            .chats
            .get_mut(&target.chat)
            .and_then(|c| c.refused.remove(&(account, target.key())));
        if gone.is_some() {
            fx.push(Effect::AllowedHere {
                account: self.accounts[account].name.clone(),
                target: target.clone(),
            });
        }
    }

    /// When backup `account` could next send for broadcaster `b`, and what: only while `b`'s
    /// own account is unavailable, only targets never attempted (or held back by slow mode
    /// before any attempt, or attempted by this backup), only in chats it is a member of.
    pub(super) fn backup_candidate(
        &self,
        b: BroadcasterId,
        account: AccountId,
        now: Timestamp,
    ) -> Option<(Timestamp, Pick)> {
        let slot = &self.broadcasters[b];
        if !matches!(slot.run, RunState::Running | RunState::AccountStopped(_))
            || !self.primary_unavailable(b, now)
        {
            return None;
        }
        let (due, pick) = match &slot.cycle {
            CycleState::Idle { starts_at, .. } => (*starts_at, Pick::StartCycle),
            CycleState::Active(ac) => {
                if ac.in_flight.is_some() {
                    return None;
                }
                let retry = ac
                    .retries
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| match r.account {
                        Some(a) => a == account,
                        None => self.is_member(account, &slot.targets[r.index], now),
                    })
                    // A flood wait told the refused account binds that account, not the
                    // backup (qa5 F1).
                    .map(|(i, r)| {
                        let at = if r.account.is_none()
                            && r.account_wait.is_some_and(|refused| refused != account)
                        {
                            now
                        } else {
                            r.not_before
                        };
                        (at, i)
                    })
                    .min_by_key(|(at, _)| *at)
                    .map(|(at, i)| (at.max(slot.next_send_at), i));
                let fresh = (ac.cursor..slot.targets.len())
                    .find(|&j| {
                        !ac.handled.contains(&j)
                            && !self.is_disabled(&slot.targets[j], now)
                            && self.is_member(account, &slot.targets[j], now)
                    })
                    .map(|j| (slot.next_send_at, j));
                match (retry, fresh) {
                    (Some((rt, i)), Some((ft, _))) if rt <= ft => (rt, Pick::Retry(i)),
                    (_, Some((ft, j))) => (ft, Pick::Index(j)),
                    (Some((rt, i)), None) => (rt, Pick::Retry(i)),
                    (None, None) => return None,
                }
            }
        };
        let due = slot.schedule.next_allowed(due.max(now))?;
        Some((due, pick))
    }

    /// Moves the remembered post times by a wall-clock step (see [`Planner::shift_timers`]).
    pub(super) fn shift_posts(&mut self, by: SignedDuration) {
        for c in self.chats.values_mut() {
            for p in &mut c.posts {
                p.at = p.at.checked_add(by).unwrap_or(p.at);
            }
            for (_, until, _) in c.holds.values_mut() {
                *until = until.checked_add(by).unwrap_or(*until);
            }
            for (until, _, _) in c.refused.values_mut() {
                *until = until.checked_add(by).unwrap_or(*until);
            }
        }
    }
}

/// Forgets the posts no rule can ask about any more, so a chat's memory stays a few entries
/// however long the daemon runs (perf18b: ~55 bytes per delivery, kept for 8 days, grew the
/// heap without end): sends in flight; each account's latest post (slow mode counts per
/// account; `min_gap` looks at the latest post, one of these); with `max_per_day`, the posts of
/// the last [`DAY_MEMORY`] (a local day, DST included); nothing older than [`POST_MEMORY`].
fn trim_posts(chat: &mut ChatSlot, now: Timestamp) {
    let oldest = sub(now, POST_MEMORY);
    let day = chat
        .rules
        .max_per_day
        .is_some()
        .then(|| sub(now, DAY_MEMORY));
    // No allocation on the send path: the list is a few entries, so each post asks the others
    // whether its account posted later. Dropping a post never changes that answer for another.
    let mut i = 0;
    while i < chat.posts.len() {
        let p = &chat.posts[i];
        let latest_of_account = !chat
            .posts
            .iter()
            .any(|q| q.account == p.account && q.at > p.at);
        let keep = p.in_flight.is_some()
            || (p.at >= oldest && (day.is_some_and(|d| p.at >= d) || latest_of_account));
        if keep {
            i += 1;
        } else {
            chat.posts.remove(i);
        }
    }
}

fn sub(t: Timestamp, d: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_sub(d).ok())
        .unwrap_or(Timestamp::MIN)
}

/// A hold that is one account's refusal (kept in `refused`, shown apart from chat holds).
fn is_refusal(reason: &HoldReason) -> bool {
    matches!(reason, HoldReason::Refused { .. })
}
