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
