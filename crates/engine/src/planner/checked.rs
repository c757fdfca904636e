//! The daemon's pre-flight check, as the planner sees it: which (account, target) pairs to
//! look at, and what a finished check does — a target no posting account can write to is
//! disabled with the reason before the cycle reaches it, and re-enabled when a later check
//! passes. An operator's disable is never touched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use smb_domain::TargetRef;

use super::Planner;
use super::vocabulary::{AccountId, CheckPlan, Effect, TargetCheck};

/// Prefix of the reason of a target the pre-flight check disabled.
pub const CHECK_REASON: &str = "pre-flight check: ";

impl Planner {
    /// The pairs a pre-flight check looks at: every broadcaster's (account, target) and its
    /// backups' (a backup posts only where the check found it a member), once each, by
    /// account then list order; accounts stopped or paused at `now` are left unasked.
    pub fn check_plan(&self, now: Timestamp) -> CheckPlan {
        let lists = self.broadcasters.iter().flat_map(|b| {
            crate::preflight::posting_lists(
                &self.accounts[b.account].name,
                b.backups.iter().map(|&a| &*self.accounts[a].name),
                &b.targets,
            )
        });
        let pairs = crate::preflight::pairs_of(lists, None);
        let mut unavailable = BTreeMap::new();
        for a in &self.accounts {
            if let Some(stop) = &a.stopped {
                unavailable.insert(a.name.to_string(), format!("account stopped: {stop}"));
            } else if let Some(until) = a.paused_until.filter(|u| *u > now) {
                unavailable.insert(a.name.to_string(), format!("account paused until {until}"));
            }
        }
        CheckPlan { pairs, unavailable }
    }

    /// A check's findings per (account, target): a target is disabled when every broadcaster
    /// posting there found it refused for its own account (text refused, or media refused
    /// while its message has media and `send_text_without_media` is off), with re-check at
    /// `recheck_at` (the next check); a target this check (or a refused send) disabled with a
    /// re-check time is enabled again when the check finds it writable. A target that stays
    /// on (or may: an account in `waiting` is still checking) but refused one account — a
    /// broadcaster's own or a backup — is skipped by that account alone until `recheck_at`;
    /// a pair found writable again is released. Pairs not checked change nothing; a target
    /// refused so far that an account in `waiting` posts to is left as it is until that
    /// account's rows come.
    pub(super) fn targets_checked(
        &mut self,
        rows: &[TargetCheck],
        recheck_at: Timestamp,
        waiting: &[Arc<str>],
        fx: &mut Vec<Effect>,
    ) {
        let found: HashMap<(&str, &TargetRef), &TargetCheck> =
            rows.iter().map(|r| ((&*r.account, &r.target), r)).collect();
        let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
        // (account, target, refusal) for every checked pair of a poster or a backup.
        let mut pairs: Vec<(AccountId, TargetRef, Option<String>)> = Vec::new();
        for b in &self.broadcasters {
            let media = b.content.media.is_some() && !b.content.text_without_media;
            let accounts =
                std::iter::once((b.account, true)).chain(b.backups.iter().map(|&a| (a, false)));
            for (a, own) in accounts {
                let account = &self.accounts[a].name;
                let pending = own && waiting.iter().any(|w| w == account);
                for t in &b.targets {
                    let row = found.get(&(&**account, t));
                    let refused = row.and_then(|row| {
                        row.text_refused
                            .clone()
                            .or_else(|| media.then(|| row.media_refused.clone()).flatten())
                    });
                    if row.is_some() {
                        pairs.push((a, t.clone(), refused.clone()));
                    }
                    if !own || (row.is_none() && !pending) {
                        continue;
                    }
                    let v = verdicts.entry(t.key()).or_insert_with(|| Verdict {
                        target: t.clone(),
                        writable: false,
                        refused: None,
                        pending: false,
                    });
                    if row.is_none() {
                        v.pending = true;
                        continue;
                    }
                    match refused {
                        // One writable poster keeps the target on.
                        None => v.writable = true,
                        Some(why) => {
                            v.refused.get_or_insert(why);
                        }
                    }
                }
            }
        }
        for (a, target, refused) in pairs {
            let stays_on = verdicts
                .get(&target.key())
                .is_some_and(|v| v.writable || v.pending);
            match refused {
                // A target no poster can write to is disabled below, as a whole.
                Some(_) if !stays_on => {}
                Some(why) => self.refuse_checked_pair(&target, a, why, recheck_at, fx),
                None => self.allow_here(&target, a, fx),
            }
        }
        let verdicts = verdicts.into_iter().filter_map(|(key, v)| {
            if v.writable {
                Some((key, (v.target, None)))
            } else if v.pending {
                // Refused so far, but an account still checking may find it writable.
                None
            } else {
                v.refused.map(|why| (key, (v.target, Some(why))))
            }
        });
        for (_, (target, refused)) in verdicts {
            match (refused, self.disabled.get(&target)) {
                (Some(why), None) => {
                    self.disabled.insert(target.clone(), Some(recheck_at));
                    fx.push(Effect::DisableTarget {
                        target,
                        reason: format!("{CHECK_REASON}{why}"),
                        recheck_at: Some(recheck_at),
                    });
                }
                (Some(_), Some(Some(_))) => {
                    self.disabled.insert(target, Some(recheck_at));
                }
                (None, Some(Some(_))) => {
                    self.disabled.remove(&target);
                    fx.push(Effect::EnableTarget { target });
                }
                // Operator's disable, or nothing to do.
                (_, Some(None)) | (None, None) => {}
            }
        }
    }

    /// The check found `account` may not write into `target`, which stays on for others:
    /// only that account skips it until `recheck_at`; the operator is told once, not again at
    /// every check that finds the same (those only move the stored re-check time).
    fn refuse_checked_pair(
        &mut self,
        target: &TargetRef,
        a: AccountId,
        why: String,
        recheck_at: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let account = self.accounts[a].name.clone();
        let why = format!("{CHECK_REASON}{why}");
        let known = self.refused_until(target, a);
        if known == Some(recheck_at) {
            return;
        }
        self.refuse_here(
            target,
            a,
            recheck_at,
            "PRE_FLIGHT_CHECK".into(),
            why.clone(),
        );
        fx.push(Effect::RefusedHere {
            account: account.clone(),
            target: target.clone(),
            reason: smb_domain::HoldReason::Refused {
                account: account.to_string(),
                why,
            },
            code: "PRE_FLIGHT_CHECK".into(),
            until: recheck_at,
            renewed: known.is_some(),
        });
    }
}

/// What a check says about one target so far (see [`Planner::targets_checked`]).
struct Verdict {
    target: TargetRef,
    /// A posting account found it writable: it stays (or becomes) enabled.
    writable: bool,
    /// The first refusal found.
    refused: Option<String>,
    /// An account still checking posts here.
    pending: bool,
}
