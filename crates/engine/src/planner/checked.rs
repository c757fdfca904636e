//! The daemon's pre-flight check, as the planner sees it: which (account, target) pairs to
//! look at, and what a finished check does — a target no posting account can write to is
//! disabled with the reason before the cycle reaches it, and re-enabled when a later check
//! passes. An operator's disable is never touched.

use std::collections::BTreeMap;

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
        let mut lists: Vec<(&str, &[TargetRef])> = Vec::new();
        for b in &self.broadcasters {
            lists.push((&self.accounts[b.account].name, &b.targets));
            for &a in &b.backups {
                lists.push((&self.accounts[a].name, &b.targets));
            }
        }
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
    /// on but refused one account (a broadcaster's own or a backup) is skipped by that
    /// account alone until `recheck_at`; a pair found writable again is released. Pairs not
    /// checked change nothing.
    pub(super) fn targets_checked(
        &mut self,
        rows: &[TargetCheck],
        recheck_at: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let find = |account: &str, target: &TargetRef| {
            rows.iter()
                .find(|r| &*r.account == account && &r.target == target)
        };
        let mut verdicts: BTreeMap<String, (TargetRef, Option<String>)> = BTreeMap::new();
        // (account, target, refusal) for every checked pair of a poster or a backup.
        let mut pairs: Vec<(AccountId, TargetRef, Option<String>)> = Vec::new();
        for b in &self.broadcasters {
            let media = b.content.media.is_some() && !b.content.text_without_media;
            let accounts =
                std::iter::once((b.account, true)).chain(b.backups.iter().map(|&a| (a, false)));
            for (a, own) in accounts {
                let account = &self.accounts[a].name;
                for t in &b.targets {
                    let Some(row) = find(account, t) else {
                        continue;
                    };
                    let refused = row
                        .text_refused
                        .clone()
                        .or_else(|| media.then(|| row.media_refused.clone()).flatten());
                    pairs.push((a, t.clone(), refused.clone()));
                    if !own {
                        continue;
                    }
                    let entry = verdicts
                        .entry(t.key())
                        .or_insert_with(|| (t.clone(), refused.clone()));
                    // One writable poster keeps the target on.
                    if refused.is_none() {
                        entry.1 = None;
                    }
                }
            }
        }
        for (a, target, refused) in pairs {
            let stays_on = verdicts
                .get(&target.key())
                .is_some_and(|(_, refused)| refused.is_none());
            match refused {
                // A target no poster can write to is disabled below, as a whole.
                Some(_) if !stays_on => {}
                Some(why) => {
                    let account = self.accounts[a].name.clone();
                    let why = format!("{CHECK_REASON}{why}");
                    let known = self.refused_here(&target, a);
                    self.refuse_here(
                        &target,
                        a,
                        recheck_at,
                        "PRE_FLIGHT_CHECK".into(),
                        why.clone(),
                    );
                    let reason = smb_domain::HoldReason::Refused {
                        account: account.to_string(),
                        why,
                    };
                    // Told once, not again at every daily check that finds the same.
                    if !known {
                        fx.push(Effect::RefusedHere {
                            account,
                            target,
                            reason,
                            until: recheck_at,
                        });
                    }
                }
                None => self.allow_here(&target, a),
            }
        }
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
}
