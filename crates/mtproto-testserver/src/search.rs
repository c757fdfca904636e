//! messages.search, as far as SendMessageBot asks it: a chat's messages from one sender
//! (`from_id`: ourselves, `inputPeerSelf`) above `min_id`, newest first, at most `limit` —
//! how a client finds its own post whose send answered RANDOM_ID_DUPLICATE (no id). The query
//! text, dates, filters and offsets other than `min_id`/`max_id` are not modelled: a search
//! with a non-empty `q` or another sender answers an empty list.

use grammers_tl_types::{self as tl, Serializable, functions as f};

use crate::api::{Reply, chat_of};
use crate::fixture::ChatKind;
use crate::world::World;

pub(crate) fn search(world: &World, me: i64, req: &f::messages::Search) -> Reply {
    let chat = chat_of(world, &req.peer)?;
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| crate::api::err("PEER_ID_INVALID"))?;
    if !rec.is_member(me) {
        return Err(match rec.spec.kind {
            ChatKind::Group => crate::api::err("CHAT_ID_INVALID"),
            _ => crate::api::err("CHANNEL_PRIVATE"),
        });
    }
    let from_me = matches!(req.from_id, Some(tl::enums::InputPeer::PeerSelf));
    let limit = usize::try_from(req.limit.clamp(0, 100)).unwrap_or(0);
    let mut ids: Vec<i32> = if req.q.is_empty() && from_me {
        world
            .posts
            .range((chat, i32::MIN)..=(chat, i32::MAX))
            .map(|(_, p)| p)
            .filter(|p| {
                p.is_live()
                    && p.account == me
                    && p.id > req.min_id
                    && (req.max_id == 0 || p.id < req.max_id)
            })
            .map(|p| p.id)
            .collect()
    } else {
        Vec::new()
    };
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.truncate(limit);
    let messages: Vec<_> = ids
        .iter()
        .filter_map(|id| world.post_tl(chat, *id, me))
        .collect();
    let chats = world.chat_tl(chat, me).into_iter().collect();
    let users = world.user_tl(me, me).into_iter().collect();
    let out = match rec.spec.kind {
        ChatKind::Group => tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages,
            topics: Vec::new(),
            chats,
            users,
        }),
        _ => tl::enums::messages::Messages::ChannelMessages(tl::types::messages::ChannelMessages {
            inexact: false,
            pts: world.pts,
            count: i32::try_from(messages.len()).unwrap_or(i32::MAX),
            offset_id_offset: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        }),
    };
    Ok(out.to_bytes())
}
