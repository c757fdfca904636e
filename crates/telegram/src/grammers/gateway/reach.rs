//! Reach of our posts on real Telegram (issue 17): messages.getMessagesViews (views,
//! forwards, replies) and messages.getMessagesReactions (reaction counts, which Telegram
//! answers as `updateMessageReactions`), one pair of calls per batch of at most
//! [`REACH_IDS_PER_CALL`] ids in one chat. Peers come from the gateway's cache like a send's.

use std::collections::HashMap;

use async_trait::async_trait;
use grammers_tl_types as tl;
use smb_domain::{SendError, TargetRef};
use smb_engine::{PostReach, REACH_IDS_PER_CALL, Reach};

use super::{GrammersGateway, rpc};

fn count(n: Option<i32>) -> Option<u64> {
    n.map(|n| u64::try_from(n).unwrap_or(0))
}

/// The reaction totals per message id in an answer of messages.getMessagesReactions.
fn reaction_totals(updates: &tl::enums::Updates) -> HashMap<i32, u64> {
    let list = match updates {
        tl::enums::Updates::Updates(u) => &u.updates[..],
        tl::enums::Updates::Combined(u) => &u.updates[..],
        _ => &[],
    };
    list.iter()
        .filter_map(|u| match u {
            tl::enums::Update::MessageReactions(r) => {
                let tl::enums::MessageReactions::Reactions(m) = &r.reactions;
                let total = m
                    .results
                    .iter()
                    .map(|c| {
                        let tl::enums::ReactionCount::Count(c) = c;
                        u64::try_from(c.count).unwrap_or(0)
                    })
                    .sum();
                Some((r.msg_id, total))
            }
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Reach for GrammersGateway {
    async fn reach(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<PostReach>, SendError> {
        let ids: Vec<i32> = message_ids
            .iter()
            .map(|id| i32::try_from(*id).map_err(|_| rpc("MESSAGE_ID_INVALID")))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let a = self.account(account)?;
        a.client.before_call()?;
        let peer = self.peer(account, a, target).await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(REACH_IDS_PER_CALL) {
            let views = a
                .client
                .invoke(&tl::functions::messages::GetMessagesViews {
                    peer: peer.clone(),
                    id: chunk.to_vec(),
                    increment: false,
                })
                .await;
            let views = match views {
                Ok(v) => Ok(v),
                Err(e) => Err(SendError::from(e)),
            };
            let reactions = match &views {
                Ok(_) => a
                    .client
                    .invoke(&tl::functions::messages::GetMessagesReactions {
                        peer: peer.clone(),
                        id: chunk.to_vec(),
                    })
                    .await
                    .map_err(SendError::from),
                Err(e) => Err(e.clone()),
            };
            let (views, reactions) = match (views, reactions) {
                (Ok(v), Ok(r)) => (v, r),
                (Err(e), _) | (_, Err(e)) => {
                    if e.code() == "PEER_ID_INVALID" || e.code() == "CHANNEL_INVALID" {
                        self.forget(account, a, target).await;
                    }
                    return Err(e);
                }
            };
            let tl::enums::messages::MessageViews::Views(views) = views;
            let totals = reaction_totals(&reactions);
            for (i, &id) in chunk.iter().enumerate() {
                let v = views.views.get(i).map(|v| {
                    let tl::enums::MessageViews::Views(v) = v;
                    v
                });
                let replies = v.and_then(|v| v.replies.as_ref()).map(|r| {
                    let tl::enums::MessageReplies::Replies(r) = r;
                    u64::try_from(r.replies).unwrap_or(0)
                });
                let gone = v.is_none_or(|v| {
                    v.views.is_none() && v.forwards.is_none() && v.replies.is_none()
                });
                out.push(PostReach {
                    message_id: i64::from(id),
                    views: v.and_then(|v| count(v.views)),
                    forwards: v.and_then(|v| count(v.forwards)),
                    reactions: totals.get(&id).copied().unwrap_or(0),
                    replies: replies.unwrap_or(0),
                    gone,
                });
            }
        }
        Ok(out)
    }
}
