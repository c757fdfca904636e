//! Reach of posts (issue 17): messages.getMessagesViews (views, forwards, replies) and
//! messages.getMessagesReactions (an `updateMessageReactions` per post), with figures a test
//! sets through [`crate::TestServer::set_reach`].
//!
//! Rules follow Telegram: views and forwards exist only for channel posts (a group's message
//! has none, so they are absent); replies come as `messageReplies`; a post that is gone, or
//! an id never used, answers an empty `messageViews` and no reaction update. Reading reach
//! needs membership of a private chat (CHANNEL_PRIVATE / CHAT_ID_INVALID). `increment` is
//! ignored: a test sets the figures, reading them never changes them.

use grammers_tl_types::{self as tl, Serializable, functions as f};

use crate::api::{Reply, chat_of, err};
use crate::fixture::ChatKind;
use crate::world::{World, now_unix};

/// The figures a test set for one post; the default is nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostFigures {
    pub views: u32,
    pub forwards: u32,
    /// Reactions of every kind together (served as one `👍` count).
    pub reactions: u32,
    pub replies: u32,
}

fn readable(world: &World, me: i64, chat: i64) -> Result<ChatKind, (i32, String)> {
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("PEER_ID_INVALID"))?;
    if !rec.is_member(me) && rec.spec.username.is_none() {
        return Err(err(if rec.spec.kind == ChatKind::Group {
            "CHAT_ID_INVALID"
        } else {
            "CHANNEL_PRIVATE"
        }));
    }
    Ok(rec.spec.kind)
}

fn live(world: &World, chat: i64, id: i32) -> Option<PostFigures> {
    let post = world.posts.get(&(chat, id))?;
    post.is_live()
        .then(|| world.reach.get(&(chat, id)).copied().unwrap_or_default())
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// messages.getMessagesViews.
pub(crate) fn views(world: &World, me: i64, req: &f::messages::GetMessagesViews) -> Reply {
    let chat = chat_of(world, &req.peer)?;
    let kind = readable(world, me, chat)?;
    let channel = kind == ChatKind::Channel;
    let views = req
        .id
        .iter()
        .map(|&id| {
            let Some(fig) = live(world, chat, id) else {
                return tl::types::MessageViews {
                    views: None,
                    forwards: None,
                    replies: None,
                }
                .into();
            };
            tl::types::MessageViews {
                views: channel.then(|| count(fig.views)),
                forwards: channel.then(|| count(fig.forwards)),
                replies: Some(
                    tl::types::MessageReplies {
                        comments: false,
                        replies: count(fig.replies),
                        replies_pts: world.pts,
                        recent_repliers: None,
                        channel_id: None,
                        max_id: None,
                        read_max_id: None,
                    }
                    .into(),
                ),
            }
            .into()
        })
        .collect();
    Ok(
        tl::enums::messages::MessageViews::Views(tl::types::messages::MessageViews {
            views,
            chats: world.chat_tl(chat, me).into_iter().collect(),
            users: Vec::new(),
        })
        .to_bytes(),
    )
}

/// messages.getMessagesReactions: one `updateMessageReactions` per live post.
pub(crate) fn reactions(world: &World, me: i64, req: &f::messages::GetMessagesReactions) -> Reply {
    let chat = chat_of(world, &req.peer)?;
    readable(world, me, chat)?;
    let peer = world.peer_tl(chat).ok_or_else(|| err("PEER_ID_INVALID"))?;
    let updates = req
        .id
        .iter()
        .filter_map(|&id| {
            let fig = live(world, chat, id)?;
            let results = if fig.reactions == 0 {
                Vec::new()
            } else {
                vec![
                    tl::types::ReactionCount {
                        chosen_order: None,
                        reaction: tl::types::ReactionEmoji {
                            emoticon: "👍".into(),
                        }
                        .into(),
                        count: count(fig.reactions),
                    }
                    .into(),
                ]
            };
            Some(
                tl::types::UpdateMessageReactions {
                    peer: peer.clone(),
                    msg_id: id,
                    top_msg_id: None,
                    saved_peer_id: None,
                    reactions: tl::types::MessageReactions {
                        min: false,
                        can_see_list: false,
                        reactions_as_tags: false,
                        results,
                        recent_reactions: None,
                        top_reactors: None,
                    }
                    .into(),
                }
                .into(),
            )
        })
        .collect();
    Ok(tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users: Vec::new(),
        chats: world.chat_tl(chat, me).into_iter().collect(),
        date: now_unix(),
        seq: 0,
    })
    .to_bytes())
}
