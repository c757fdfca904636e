//! The follow-ups to our own posts (issue 15: `post_mode = "replace" | "edit"`, `pin`),
//! carried out on the account loops through the [`FollowUps`] port.
//!
//! Order, so that a crash never leaves a chat without a current post of ours:
//! 1. the delivery written pending, then its Telegram call (the post, or the edit of our
//!    previous post);
//! 2. once Telegram answered with the post's id: its follow-ups written `pending` in the
//!    journal with a record of the post ([`FollowUpAction::Post`]), then the delivery's
//!    outcome;
//! 3. on the account's next turns, before its next send: pin the new post, then unpin or
//!    delete the previous one, each result journalled.
//!
//! A crash before 2 re-runs the delivery (same random_id; an edit repeats as "not
//! modified"); a crash after 2 leaves the follow-ups pending, and [`restore`] queues them
//! again at the next start, with the post's id known even when the delivery's outcome was
//! lost (its re-send answers RANDOM_ID_DUPLICATE, which carries no id). A crash inside 1,
//! after Telegram took the post but before 2, is the one case where the post's id is never
//! learnt: that post stays (docs/posts.md). Each one is harmless when repeated (the port's contract). The
//! follow-ups of an account take its send turns ([`Planner::claim_send`]): paced by
//! `delay_between_chats` and held by its Telegram pauses like sends.
//!
//! Fallbacks (docs/posts.md): an edit refused for its post (MESSAGE_EDIT_TIME_EXPIRED, not
//! the author …) posts anew and deletes the old post; an edit of a post that is gone
//! (MESSAGE_ID_INVALID) posts anew with nothing to delete; a delete, pin or unpin Telegram
//! refuses (MESSAGE_DELETE_FORBIDDEN, CHAT_ADMIN_REQUIRED, PIN_RESTRICTED …) leaves the old
//! post (or pin) as it is and is counted as `refused` with the error in `stats`; it never
//! disables the chat.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use smb_domain::{ErrorClass, PostMode, SendError, TargetRef};

use super::{Shared, Write, lock, record, send_content};
use crate::planner::{Control, Delivery, Event, Hold, Planner};
use crate::ports::{
    EditRequest, EngineEvent, FollowUp, FollowUpAction, FollowUpResult, FollowUps, OurPost,
    PostCheck, PostState, SendRequest, SentMessage, Store, StoreError,
};

/// A transient error (a lost connection, a timeout) is tried again this many times in all,
/// then the follow-up is given up as `refused`.
const MAX_TRIES: u32 = 5;

/// A follow-up waiting for its account's turn.
pub(super) struct Queued {
    row: FollowUp,
    target: TargetRef,
    tries: u32,
}

/// The follow-ups still pending in the journal, queued on the accounts that carry them out.
/// One whose account is no longer configured, or whose target no longer parses, stays
/// pending (logged).
pub(super) async fn restore(
    planner: &Planner,
    store: &dyn Store,
) -> Result<Vec<Mutex<VecDeque<Queued>>>, StoreError> {
    let queues: Vec<Mutex<VecDeque<Queued>>> = (0..planner.account_count())
        .map(|_| Mutex::new(VecDeque::new()))
        .collect();
    for row in store.pending_follow_ups().await? {
        // An edit is the delivery itself: a pending one is re-done when its delivery is.
        if matches!(row.action, FollowUpAction::Edit | FollowUpAction::Post) {
            continue;
        }
        let (Some(account), Ok(target)) = (
            planner.account_id(&row.account),
            TargetRef::parse(&row.target),
        ) else {
            tracing::warn!(broadcaster = %row.broadcaster, account = %row.account, target = %row.target, action = row.action.as_str(), "a pending follow-up's account or target is no longer configured; it stays pending");
            continue;
        };
        queue(&queues[account]).push_back(Queued {
            row,
            target,
            tries: 0,
        });
    }
    Ok(queues)
}

fn queue(q: &Mutex<VecDeque<Queued>>) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
    q.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a delivery does about our previous post in its chat.
pub(super) struct Plan {
    /// The port, when the broadcaster asks for follow-ups and the gateway offers them.
    port: Option<Arc<dyn FollowUps>>,
    mode: PostMode,
    pin: bool,
    broadcaster: Arc<str>,
    account: Arc<str>,
    cycle: u64,
    target: TargetRef,
    /// Our previous post in the chat (an earlier cycle's), when the journal knows it.
    previous: Option<OurPost>,
}

impl Plan {
    /// Reads our previous post for a broadcaster with `post_mode` other than `new` or
    /// `pin`; nothing for the others. A failed read is logged and the delivery posts as
    /// `new` (nothing is deleted that is not known).
    pub(super) async fn for_delivery(shared: &Shared, d: &Delivery) -> Plan {
        let wants = d.content.post_mode != PostMode::New || d.content.pin;
        let port = shared.follow_ups.get().filter(|_| wants).cloned();
        let previous = match &port {
            Some(_) => match shared
                .store
                .previous_post(&d.broadcaster_name, &d.target.key(), d.cycle)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, error = %e.report(), "our previous post could not be read; this cycle posts as post_mode = \"new\"");
                    None
                }
            },
            None => None,
        };
        let previous = match (&port, previous) {
            (Some(port), Some(prev)) => survives(shared, d, port.as_ref(), prev).await,
            (_, previous) => previous,
        };
        Plan {
            port,
            mode: d.content.post_mode,
            pin: d.content.pin,
            broadcaster: d.broadcaster_name.clone(),
            account: d.account_name.clone(),
            cycle: d.cycle,
            target: d.target.clone(),
            previous,
        }
    }

    fn row(&self, action: FollowUpAction, account: &str, message_id: i64) -> FollowUp {
        FollowUp {
            broadcaster: self.broadcaster.to_string(),
            cycle: self.cycle,
            target: self.target.key(),
            account: account.to_owned(),
            action,
            message_id,
            album: Vec::new(),
        }
    }
}

/// The survival check (issue 15): before posting into a chat where we have a previous post,
/// ONE batched `alive` call for the chat, by the account that posted it (ids are per account
/// in a basic group). A post found gone was removed by the chat's admins (we never delete our
/// newest post): it is counted in the store ([`Store::record_post_check`]), and the delivery
/// goes on as if there were no previous post (nothing to edit, delete or unpin). A live post
/// starts the chat's count again. When the count reaches the broadcaster's
/// `removed_posts_flag` the chat is flagged: [`EngineEvent::PostsRemoved`] (the log, the
/// notifications) and, with `disable_when_removed`, the target disabled. A check Telegram
/// could not answer (a wait, a lost connection) keeps the previous post as it is (logged).
async fn survives(
    shared: &Shared,
    d: &Delivery,
    port: &dyn FollowUps,
    prev: OurPost,
) -> Option<OurPost> {
    let ids = [prev.message_id];
    let call = port.alive(&prev.account, &d.target, &ids);
    let states = match tokio::time::timeout(shared.settings.send_timeout, call).await {
        Ok(Ok(states)) => states,
        Ok(Err(e)) => {
            tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, message_id = prev.message_id, error = %e, "could not check whether our previous post is still there; taken as live");
            return Some(prev);
        }
        Err(_) => {
            tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, message_id = prev.message_id, "the check of our previous post timed out; taken as live");
            return Some(prev);
        }
    };
    let removed = states
        .iter()
        .any(|(id, state)| *id == prev.message_id && *state == PostState::Gone);
    let check = PostCheck {
        broadcaster: d.broadcaster_name.to_string(),
        target: d.target.key(),
        message_id: prev.message_id,
        removed,
        flag_after: d.content.removed_posts_flag,
        at: shared.now(),
    };
    match shared.store.record_post_check(&check).await {
        Ok(r) => {
            if removed {
                tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, message_id = prev.message_id, removed_in_row = r.removed_in_row, "our previous post was removed by the chat's admins");
            }
            if r.newly_flagged {
                flag(shared, d, r.removed_in_row).await;
            }
        }
        Err(e) => {
            tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, error = %e.report(), "the survival check of our previous post could not be recorded");
        }
    }
    (!removed).then_some(prev)
}

/// The chat is flagged "our posts are being removed": told (notifications), and disabled
/// when the broadcaster asks for it (`disable_when_removed`).
async fn flag(shared: &Shared, d: &Delivery, removed_in_row: u32) {
    let disable = d.content.disable_when_removed;
    shared.sink.emit(&EngineEvent::PostsRemoved {
        broadcaster: d.broadcaster_name.to_string(),
        target: d.target.to_string(),
        removed_in_row,
        disabled: disable,
    });
    if !disable {
        return;
    }
    let reason = format!(
        "{REMOVED_REASON}{removed_in_row} of our posts in a row were removed by the chat's admins (disable_when_removed = true, broadcaster {})",
        d.broadcaster_name
    );
    let (fx, now) = {
        let (mut planner, now) = shared.lock_now();
        let event = Event::Control(Control::DisableTarget(d.target.clone(), reason));
        (planner.handle(event, now), now)
    };
    for e in fx {
        super::apply(shared, e, now).await;
    }
}

/// The start of the reason a target disabled by `disable_when_removed` carries (the
/// dashboard and `stats` read it).
const REMOVED_REASON: &str = "our posts are being removed: ";

/// What became of the edit a delivery tried (`post_mode = "edit"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edit {
    /// No edit was tried: a plain send.
    NotTried,
    /// Our previous post now reads this cycle's text: it is the current post.
    Done,
    /// The previous post was gone (MESSAGE_ID_INVALID): posted anew, nothing to delete.
    Gone,
    /// Telegram refused the edit (the window passed …): posted anew; the old one is deleted.
    Refused,
}

/// The delivery's Telegram call: the edit of our previous post when the broadcaster edits
/// and that post is this account's, else (or when the edit falls back) the send.
pub(super) async fn edit_or_send(
    shared: &Shared,
    d: &Delivery,
    plan: &Plan,
    edited: &mut Edit,
    album: &mut Vec<i64>,
) -> Result<SentMessage, SendError> {
    if let (Some(port), PostMode::Edit, Some(prev)) = (&plan.port, plan.mode, &plan.previous)
        && prev.account == *d.account_name
    {
        let request = EditRequest {
            account: &d.account_name,
            target: &d.target,
            message_id: prev.message_id,
            text: &d.text,
            format: d.content.format,
            caption: d.content.has_media(),
            link_preview: d.content.link_preview,
        };
        let call = tokio::time::timeout(shared.settings.send_timeout, port.edit(request)).await;
        let res = call.unwrap_or_else(|_| Err(SendError::Transient("edit timed out".into())));
        let row = plan.row(FollowUpAction::Edit, &d.account_name, prev.message_id);
        let result = match &res {
            Ok(_) => {
                *edited = Edit::Done;
                FollowUpResult::Done
            }
            Err(e) if e.is_post_gone() => {
                *edited = Edit::Gone;
                FollowUpResult::Gone
            }
            Err(e) if e.class() == ErrorClass::BadContent => {
                *edited = Edit::Refused;
                FollowUpResult::Refused {
                    code: e.code().to_owned(),
                }
            }
            // A wait, a chat's refusal, a lost connection: the delivery's own outcome, as a
            // send's would be (retried, paused, or the chat disabled).
            Err(e) => return Err(e.clone()),
        };
        journal(shared, row, result).await;
        if *edited == Edit::Done {
            // The edit changes the caption; an album stays the album it was.
            album.clone_from(&prev.album);
            return Ok(SentMessage {
                message_id: Some(prev.message_id),
            });
        }
        tracing::info!(broadcaster = %d.broadcaster_name, target = %d.target, message_id = prev.message_id, edit = ?edited, "the edit fell back: posting anew");
    }
    let request = SendRequest {
        account: &d.account_name,
        target: &d.target,
        text: &d.text,
        format: d.content.format,
        media: d.content.media.as_deref(),
        link_preview: d.content.link_preview,
        random_id: d.random_id,
        variant: d.variant.as_deref(),
    };
    send_content(shared, request, &d.content.album, album).await
}

/// A post Telegram answered as already sent (RANDOM_ID_DUPLICATE: a re-send after a crash
/// that lost the first answer) carries no id; with follow-ups to do, our newest post in the
/// chat with this text, newer than the previous one, is looked up (one call), so the new post
/// becomes the current one and the previous one is deleted or unpinned as usual. Not found,
/// or the look-up failed: the answer stays without an id (logged).
pub(super) async fn learn_id(
    shared: &Shared,
    d: &Delivery,
    plan: &Plan,
    res: Result<SentMessage, SendError>,
) -> Result<SentMessage, SendError> {
    let (Ok(SentMessage { message_id: None }), Some(port)) = (&res, &plan.port) else {
        return res;
    };
    // Ids compare only within one account's view of a basic group.
    let after = plan
        .previous
        .as_ref()
        .filter(|p| p.account == *d.account_name)
        .map(|p| p.message_id);
    let call = port.find_own_post(&d.account_name, &d.target, &d.text, d.content.format, after);
    match tokio::time::timeout(shared.settings.send_timeout, call).await {
        Ok(Ok(Some(id))) => {
            tracing::info!(broadcaster = %d.broadcaster_name, target = %d.target, message_id = id, "found our post that Telegram answered as already sent");
            Ok(SentMessage {
                message_id: Some(id),
            })
        }
        Ok(Ok(None)) => {
            tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, "Telegram answered our post as already sent and it was not found among our newest posts there; it is not deleted or pinned by later cycles");
            res
        }
        Ok(Err(e)) => {
            tracing::warn!(broadcaster = %d.broadcaster_name, target = %d.target, error = %e, "our post Telegram answered as already sent could not be looked up");
            res
        }
        Err(_) => res,
    }
}

/// Journals an edit with its result (written and recorded at once: the delivery's own
/// pending row is what a restart re-does).
async fn journal(shared: &Shared, row: FollowUp, result: FollowUpResult) {
    let at = shared.now();
    record(
        shared,
        Write::FollowUps {
            rows: vec![row.clone()],
            at,
        },
    )
    .await;
    record(shared, Write::FollowUpDone { row, result, at }).await;
}

/// After a delivery's post (`new_id`, the new post or the edited one): journals its
/// follow-ups as pending and queues them on the accounts that carry them out.
pub(super) async fn after_post(
    shared: &Shared,
    plan: &Plan,
    new_id: i64,
    album: Vec<i64>,
    edited: Edit,
    now: Timestamp,
) {
    if plan.port.is_none() {
        return;
    }
    let mut post = plan.row(FollowUpAction::Post, &plan.account, new_id);
    post.album = album;
    let mut rows = vec![post];
    if plan.pin && edited != Edit::Done {
        rows.push(plan.row(FollowUpAction::Pin, &plan.account, new_id));
    }
    if let Some(prev) = plan.previous.as_ref().filter(|p| p.message_id != new_id) {
        let delete = match plan.mode {
            PostMode::Replace => true,
            // Posted anew although the broadcaster edits: the old post goes, unless it was
            // gone already.
            PostMode::Edit => edited != Edit::Gone,
            PostMode::New => false,
        };
        if delete {
            // An album goes whole: every item the journal knows.
            let mut row = plan.row(FollowUpAction::Delete, &prev.account, prev.message_id);
            row.album.clone_from(&prev.album);
            rows.push(row);
        } else if plan.pin && edited != Edit::Gone {
            rows.push(plan.row(FollowUpAction::Unpin, &prev.account, prev.message_id));
        }
    }
    record(
        shared,
        Write::FollowUps {
            rows: rows.clone(),
            at: now,
        },
    )
    .await;
    let planner = lock(shared);
    for row in rows.into_iter().skip(1) {
        let Some(account) = planner.account_id(&row.account) else {
            tracing::warn!(account = %row.account, "the account of our previous post is no longer configured; its follow-up stays pending");
            continue;
        };
        queue(&shared.queues[account]).push_back(Queued {
            row,
            target: plan.target.clone(),
            tries: 0,
        });
    }
    drop(planner);
    for w in &shared.wakers {
        w.notify_one();
    }
}

/// True when `account` has no follow-up waiting (an account loop of `--once` ends only then).
pub(super) fn none_queued(shared: &Shared, account: usize) -> bool {
    shared.follow_ups.get().is_none() || queue(&shared.queues[account]).is_empty()
}

/// What [`next`] did.
pub(super) enum Turn {
    /// A follow-up was carried out (or given up): look again.
    Ran,
    /// Follow-ups wait for the account's turn: until then.
    Wait(Timestamp),
    /// Nothing to do now (none queued, no port, or the account is stopped): go on to sends.
    Idle,
}

/// Carries out `account`'s next queued follow-up when the account may send now.
pub(super) async fn next(shared: &Shared, account: usize) -> Turn {
    let Some(port) = shared.follow_ups.get().cloned() else {
        return Turn::Idle;
    };
    let head = {
        let q = queue(&shared.queues[account]);
        match q.front() {
            Some(f) => (f.row.clone(), f.target.clone()),
            None => return Turn::Idle,
        }
    };
    let (row, target) = head;
    {
        let (mut planner, now) = shared.lock_now();
        let key = row.message_id.unsigned_abs();
        match planner.claim_send(account, now, key) {
            Ok(()) => {}
            Err(Hold::Gap(t) | Hold::Paused(t)) => return Turn::Wait(t),
            Err(Hold::Stopped(why)) => {
                // They stay pending in the journal: the next start carries them out.
                drop(planner);
                let n = std::mem::take(&mut *queue(&shared.queues[account])).len();
                tracing::warn!(account, follow_ups = n, reason = %why, "the account is stopped; its follow-ups stay pending until the next start");
                return Turn::Idle;
            }
        }
    }
    let call = async {
        match row.action {
            FollowUpAction::Delete => {
                let mut ids = Vec::with_capacity(1 + row.album.len());
                ids.push(row.message_id);
                ids.extend_from_slice(&row.album);
                port.delete(&row.account, &target, &ids)
                    .await
                    .map(|n| n > 0)
            }
            FollowUpAction::Pin => port
                .pin(&row.account, &target, row.message_id, true)
                .await
                .map(|_| true),
            FollowUpAction::Unpin => port
                .unpin(&row.account, &target, row.message_id)
                .await
                .map(|_| true),
            // Never queued (the delivery does it; a post record is no action).
            FollowUpAction::Edit | FollowUpAction::Post => Ok(true),
        }
    };
    let res = tokio::time::timeout(shared.settings.send_timeout, call)
        .await
        .unwrap_or_else(|_| Err(SendError::Transient("follow-up timed out".into())));
    let now = {
        let (mut planner, now) = shared.lock_now();
        planner.send_started(account, None, now);
        now
    };
    let result = match res {
        Ok(true) => FollowUpResult::Done,
        Ok(false) => FollowUpResult::Gone,
        Err(e) if e.is_post_gone() => FollowUpResult::Gone,
        Err(e) if e.is_not_modified() => FollowUpResult::Done,
        Err(e) if e.class() == ErrorClass::AccountPause => {
            tracing::info!(account = %row.account, action = row.action.as_str(), error = %e, "a follow-up met a Telegram wait; it is done after it");
            let key = row.message_id.unsigned_abs();
            let pause = lock(shared).pause_account(&row.account, &e, key, now);
            if let Some(effect) = pause {
                super::apply(shared, effect, now).await;
            }
            return Turn::Ran;
        }
        Err(e) if e.class() == ErrorClass::AccountDead => {
            // The account's next send meets the same error and stops it; the follow-up stays
            // pending in the journal for the next start.
            tracing::warn!(account = %row.account, action = row.action.as_str(), error = %e, "a follow-up failed: the account cannot work; it stays pending");
            queue(&shared.queues[account]).pop_front();
            return Turn::Ran;
        }
        Err(e) if e.class() == ErrorClass::Transient => {
            let mut q = queue(&shared.queues[account]);
            let give_up = match q.front_mut() {
                Some(f) => {
                    f.tries += 1;
                    f.tries >= MAX_TRIES
                }
                None => true,
            };
            if !give_up {
                tracing::info!(account = %row.account, action = row.action.as_str(), error = %e, "a follow-up failed for now; tried again at the account's next turn");
                return Turn::Ran;
            }
            FollowUpResult::Refused {
                code: e.code().to_owned(),
            }
        }
        Err(e) => FollowUpResult::Refused {
            code: e.code().to_owned(),
        },
    };
    if let FollowUpResult::Refused { code } = &result {
        tracing::warn!(broadcaster = %row.broadcaster, account = %row.account, target = %target, action = row.action.as_str(), message_id = row.message_id, code = %code, "Telegram refused a follow-up to our post; the old post (or pin) stays (docs/posts.md)");
    }
    queue(&shared.queues[account]).pop_front();
    record(
        shared,
        Write::FollowUpDone {
            row,
            result,
            at: now,
        },
    )
    .await;
    Turn::Ran
}
