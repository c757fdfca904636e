//! Reach (issue 17): what happened to our posts after they were sent — views and forwards
//! (channels), reactions and replies — as Telegram counts them. A separate port from
//! [`crate::Gateway`] so a gateway that cannot read reach need not pretend to.

use async_trait::async_trait;
use smb_domain::{SendError, TargetRef};

/// Telegram takes at most this many message ids per messages.getMessagesViews /
/// messages.getMessagesReactions call (larger lists are split into calls of this size).
pub const REACH_IDS_PER_CALL: usize = 100;

/// One post's figures at the moment they were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostReach {
    /// Telegram's message id of our post.
    pub message_id: i64,
    /// Views; `None` where Telegram counts none (groups: only channel posts have views).
    pub views: Option<u64>,
    /// Forwards; `None` where Telegram counts none (groups).
    pub forwards: Option<u64>,
    /// Reactions of every kind, summed.
    pub reactions: u64,
    /// Replies (a group's reply thread, or a channel post's discussion comments).
    pub replies: u64,
    /// The post is gone (deleted, or never there): every figure is 0 / `None`.
    pub gone: bool,
}

/// Reads reach for our posts in one chat.
#[async_trait]
pub trait Reach: Send + Sync {
    /// The figures of `message_ids` in `target`'s chat, as `account` sees them: batched, at
    /// most [`REACH_IDS_PER_CALL`] ids a call (one messages.getMessagesViews and one
    /// messages.getMessagesReactions per batch on Telegram). One entry per id, in the order
    /// asked. A FLOOD_WAIT comes back as the error (`retry_after()` says how long): the
    /// caller pauses reach collection for that account only, never its sends.
    async fn reach(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<PostReach>, SendError>;
}

/// One post due a reach read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachItem {
    /// The delivery the figures are stored with.
    pub key: crate::DeliveryKey,
    /// The account that posted it: reach is read as that account.
    pub account: String,
    /// Telegram's id of the post.
    pub message_id: i64,
}

/// One call of [`Reach::reach`]: posts of one account in one chat, at most
/// [`REACH_IDS_PER_CALL`], to be made at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachBatch {
    /// The account that reads.
    pub account: String,
    /// The chat (topic dropped: reach is per chat).
    pub target: TargetRef,
    /// The posts, oldest first.
    pub items: Vec<ReachItem>,
    /// Not before this moment: an account's batches are `gap` apart.
    pub at: jiff::Timestamp,
}

/// Paces reach reads per account, apart from sends: batches per chat, `gap` between two calls
/// of one account, none while the account is in a send pause, and a FLOOD_WAIT answered to a
/// reach call pauses reach — only reach, only that account — until it ends.
#[derive(Debug, Clone)]
pub struct ReachPacer {
    gap: std::time::Duration,
    next: std::collections::HashMap<String, jiff::Timestamp>,
    paused: std::collections::HashMap<String, jiff::Timestamp>,
}

impl ReachPacer {
    /// A pacer leaving `gap` between two reach calls of one account.
    pub fn new(gap: std::time::Duration) -> Self {
        ReachPacer {
            gap,
            next: Default::default(),
            paused: Default::default(),
        }
    }

    /// Until when reach is paused for `account` by a flood wait, if it is at `now`.
    pub fn paused_until(&self, account: &str, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        self.paused.get(account).copied().filter(|u| *u > now)
    }

    /// A FLOOD_WAIT answered to a reach call of `account`: no reach call of it before `until`.
    pub fn flood_wait(&mut self, account: &str, until: jiff::Timestamp) {
        self.paused.insert(account.to_owned(), until);
    }

    /// Whether `account` may make a reach call at `now`: not in a send pause (`send_paused`,
    /// the planner's), not in a reach pause, and `gap` after its last reach call.
    pub fn may_call(
        &self,
        account: &str,
        now: jiff::Timestamp,
        send_paused: Option<jiff::Timestamp>,
    ) -> bool {
        send_paused.is_none_or(|u| u <= now)
            && self.paused_until(account, now).is_none()
            && self.next.get(account).is_none_or(|n| *n <= now)
    }

    /// Records a reach call of `account` made at `now`.
    pub fn called(&mut self, account: &str, now: jiff::Timestamp) {
        let gap = jiff::SignedDuration::try_from(self.gap).unwrap_or(jiff::SignedDuration::MAX);
        self.next
            .insert(account.to_owned(), now.saturating_add(gap).unwrap_or(now));
    }

    /// `due` grouped into batches per (account, chat), at most [`REACH_IDS_PER_CALL`] posts
    /// each, in the order the posts came (oldest first), each account's batches `gap` apart
    /// from its next free moment. Accounts in a send or reach pause at `now` get none (their
    /// posts come due again at the next round).
    pub fn batches(
        &self,
        due: Vec<ReachItem>,
        now: jiff::Timestamp,
        send_paused: &dyn Fn(&str) -> Option<jiff::Timestamp>,
    ) -> Vec<ReachBatch> {
        let mut groups: Vec<ReachBatch> = Vec::new();
        for item in due {
            if send_paused(&item.account).is_some_and(|u| u > now)
                || self.paused_until(&item.account, now).is_some()
            {
                continue;
            }
            let chat = item.key.target.chat_only();
            match groups.iter_mut().find(|b| {
                b.account == item.account && b.target == chat && b.items.len() < REACH_IDS_PER_CALL
            }) {
                Some(b) => b.items.push(item),
                None => groups.push(ReachBatch {
                    account: item.account.clone(),
                    target: chat,
                    items: vec![item],
                    at: now,
                }),
            }
        }
        let gap = jiff::SignedDuration::try_from(self.gap).unwrap_or(jiff::SignedDuration::MAX);
        let mut free: std::collections::HashMap<String, jiff::Timestamp> = Default::default();
        for b in &mut groups {
            let at = free
                .get(&b.account)
                .copied()
                .or_else(|| self.next.get(&b.account).copied())
                .map_or(now, |t| t.max(now));
            b.at = at;
            free.insert(b.account.clone(), at.saturating_add(gap).unwrap_or(at));
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::{SignedDuration, Timestamp};
    use std::time::Duration;

    fn item(account: &str, chat: &str, id: i64) -> ReachItem {
        ReachItem {
            key: crate::DeliveryKey {
                broadcaster: "b2b".into(),
                cycle: 1,
                target: TargetRef::parse(chat).unwrap(),
            },
            account: account.into(),
            message_id: id,
        }
    }

    #[test]
    fn posts_are_batched_per_account_and_chat_and_paced() {
        let now: Timestamp = "2026-05-02T10:00:00Z".parse().unwrap();
        let p = ReachPacer::new(Duration::from_secs(20));
        let mut due = vec![
            item("acc1", "@chat_one", 1),
            item("acc1", "@chat_two", 2),
            item("acc1", "@chat_one/7", 3),
            item("acc2", "@chat_one", 4),
        ];
        due.extend((0..150).map(|i| item("acc2", "@chat_three", 100 + i)));
        let b = p.batches(due, now, &|_| None);
        let shape: Vec<(&str, String, usize, i64)> = b
            .iter()
            .map(|b| {
                (
                    b.account.as_str(),
                    b.target.key(),
                    b.items.len(),
                    (b.at - now).get_seconds(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                // The topic's post reads with its chat's.
                ("acc1", "@chat_one".to_owned(), 2, 0),
                ("acc1", "@chat_two".to_owned(), 1, 20),
                ("acc2", "@chat_one".to_owned(), 1, 0),
                ("acc2", "@chat_three".to_owned(), 100, 20),
                ("acc2", "@chat_three".to_owned(), 50, 40),
            ]
        );
    }

    #[test]
    fn a_send_pause_or_a_reach_flood_wait_holds_only_that_accounts_reach() {
        let now: Timestamp = "2026-05-02T10:00:00Z".parse().unwrap();
        let later = now + SignedDuration::from_mins(5);
        let mut p = ReachPacer::new(Duration::from_secs(20));
        let due = || vec![item("acc1", "@chat_one", 1), item("acc2", "@chat_one", 2)];
        // acc1 is in a send pause (Telegram told it to wait): no reach call of it.
        let send_paused = |a: &str| (a == "acc1").then_some(later);
        let b = p.batches(due(), now, &send_paused);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].account, "acc2");
        assert!(!p.may_call("acc1", now, send_paused("acc1")));
        assert!(p.may_call("acc2", now, None));
        // A flood wait on acc2's reach call pauses acc2's reach, not acc1's.
        p.flood_wait("acc2", later);
        let b = p.batches(due(), now, &|_| None);
        assert_eq!(
            b.iter().map(|b| b.account.as_str()).collect::<Vec<_>>(),
            ["acc1"]
        );
        assert!(!p.may_call("acc2", now, None));
        assert_eq!(p.paused_until("acc2", now), Some(later));
        // It ends on time.
        assert!(p.may_call("acc2", later, None));
        assert_eq!(p.batches(due(), later, &|_| None).len(), 2);
        // A call made sets the account's next moment `gap` on.
        p.called("acc1", now);
        assert!(!p.may_call("acc1", now + SignedDuration::from_secs(19), None));
        assert!(p.may_call("acc1", now + SignedDuration::from_secs(20), None));
    }
}
