//! What a client does to messages already sent: edit (messages.editMessage), delete
//! (messages.deleteMessages for basic groups, channels.deleteMessages), pin and unpin
//! (messages.updatePinnedMessage) and look them up by id (messages.getMessages,
//! channels.getMessages). Albums are sent in `api.rs` with the other sends.
//!
//! Rules and error names follow Telegram: a message that is gone or was never there is
//! MESSAGE_ID_INVALID for an edit or a pin and is skipped by a delete (which then counts 0);
//! someone else's message is MESSAGE_AUTHOR_REQUIRED to edit and MESSAGE_DELETE_FORBIDDEN to
//! delete (admins may delete); a non-admin's edit after the edit window
//! ([`crate::Fixture::edit_window_secs`], 48 h by default) is MESSAGE_EDIT_TIME_EXPIRED; an
//! edit that changes nothing is MESSAGE_NOT_MODIFIED; a pin without the right (admins, or
//! members of a chat with `members_may_pin`) is CHAT_ADMIN_REQUIRED; pinning what is pinned
//! (unpinning what is not) is CHAT_NOT_MODIFIED. getMessages answers `messageEmpty` for an id
//! that is gone. Not modelled: the service message Telegram adds for a pin.

use grammers_tl_types::{self as tl, Serializable, functions as f};

use crate::api::{MAX_CAPTION, MAX_TEXT, Reply, chat_of, entity_records, err, may_post, utf16_len};
use crate::chats::channel_of;
use crate::fixture::ChatKind;
use crate::world::{World, now_unix};

fn is_channel(world: &World, chat: i64) -> bool {
    world
        .chats
        .get(&chat)
        .is_some_and(|c| c.spec.kind != ChatKind::Group)
}

fn is_admin(world: &World, chat: i64, user: i64) -> bool {
    world
        .chats
        .get(&chat)
        .is_some_and(|c| c.spec.admins.contains(&user))
}

fn updates(world: &World, me: i64, chat: i64, updates: Vec<tl::enums::Update>) -> Vec<u8> {
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users: world.user_tl(me, me).into_iter().collect(),
        chats: world.chat_tl(chat, me).into_iter().collect(),
        date: now_unix(),
        seq: 0,
    })
    .to_bytes()
}

/// messages.editMessage: the text (caption) of one of our messages; its media stays.
pub(crate) fn edit(world: &mut World, me: i64, req: &f::messages::EditMessage) -> Reply {
    let chat = chat_of(world, &req.peer)?;
    may_post(world, me, chat)?;
    let admin = is_admin(world, chat, me);
    let channel_post = world
        .chats
        .get(&chat)
        .is_some_and(|c| c.spec.kind == ChatKind::Channel);
    let window = i64::from(world.edit_window);
    let post = world
        .posts
        .get(&(chat, req.id))
        .filter(|p| p.is_live())
        .ok_or_else(|| err("MESSAGE_ID_INVALID"))?;
    if post.account != me {
        return Err(err("MESSAGE_AUTHOR_REQUIRED"));
    }
    if !admin && !channel_post && i64::from(now_unix()) >= i64::from(post.date) + window {
        return Err(err("MESSAGE_EDIT_TIME_EXPIRED"));
    }
    if req.media.is_some() {
        // Replacing the media is not modelled; SendMessageBot edits text and captions only.
        return Err(err("MEDIA_INVALID"));
    }
    let text = req.message.clone().unwrap_or_else(|| post.text.clone());
    if post.media.is_some() {
        if utf16_len(&text) > MAX_CAPTION {
            return Err(err("MEDIA_CAPTION_TOO_LONG"));
        }
    } else {
        if text.trim().is_empty() {
            return Err(err("MESSAGE_EMPTY"));
        }
        if utf16_len(&text) > MAX_TEXT {
            return Err(err("MESSAGE_TOO_LONG"));
        }
    }
    let entities = match (&req.message, &req.entities) {
        (None, None) => post.entities.clone(),
        _ => entity_records(&text, &req.entities)?,
    };
    if text == post.text && entities == post.entities {
        return Err(err("MESSAGE_NOT_MODIFIED"));
    }
    world.pts += 1;
    let pts = world.pts;
    if let Some(p) = world.posts.get_mut(&(chat, req.id)) {
        p.text = text;
        p.entities = entities;
        p.edit_date = Some(now_unix());
    }
    let message = world
        .post_tl(chat, req.id, me)
        .ok_or_else(|| err("MESSAGE_ID_INVALID"))?;
    let update = if is_channel(world, chat) {
        tl::enums::Update::EditChannelMessage(tl::types::UpdateEditChannelMessage {
            message,
            pts,
            pts_count: 1,
        })
    } else {
        tl::enums::Update::EditMessage(tl::types::UpdateEditMessage {
            message,
            pts,
            pts_count: 1,
        })
    };
    Ok(updates(world, me, chat, vec![update]))
}

fn affected(world: &World, count: i32) -> Vec<u8> {
    tl::enums::messages::AffectedMessages::Messages(tl::types::messages::AffectedMessages {
        pts: world.pts,
        pts_count: count,
    })
    .to_bytes()
}

/// messages.deleteMessages: bare ids of basic-group messages (one id sequence for all basic
/// groups, as Telegram's per-user box); ids of no basic group of `me` are skipped.
pub(crate) fn delete_basic(world: &mut World, me: i64, ids: &[i32]) -> Reply {
    let mut by_chat: Vec<(i64, Vec<i32>)> = Vec::new();
    for id in ids {
        let chat = world
            .posts
            .values()
            .find(|p| {
                p.id == *id
                    && world
                        .chats
                        .get(&p.chat)
                        .is_some_and(|c| c.spec.kind == ChatKind::Group && c.is_member(me))
            })
            .map(|p| p.chat);
        if let Some(chat) = chat {
            match by_chat.iter_mut().find(|(c, _)| *c == chat) {
                Some((_, v)) => v.push(*id),
                None => by_chat.push((chat, vec![*id])),
            }
        }
    }
    // All or nothing, as one request: check every chat's part before deleting any.
    for (chat, ids) in &by_chat {
        let admin = is_admin(world, *chat, me);
        if !admin
            && ids.iter().any(|id| {
                world
                    .posts
                    .get(&(*chat, *id))
                    .is_some_and(|p| p.is_live() && p.account != me)
            })
        {
            return Err(err("MESSAGE_DELETE_FORBIDDEN"));
        }
    }
    let mut count = 0;
    for (chat, ids) in by_chat {
        count += world.delete_messages(me, chat, &ids).map_err(|e| err(&e))?;
    }
    Ok(affected(world, count))
}

/// channels.deleteMessages: our messages (or anyone's, for an admin) of a supergroup or
/// channel.
pub(crate) fn delete_channel(
    world: &mut World,
    me: i64,
    channel: &tl::enums::InputChannel,
    ids: &[i32],
) -> Reply {
    let chat = channel_of(world, channel)?;
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("CHANNEL_INVALID"))?;
    if !rec.is_member(me) {
        return Err(err("CHANNEL_PRIVATE"));
    }
    let count = world.delete_messages(me, chat, ids).map_err(|e| err(&e))?;
    Ok(affected(world, count))
}

/// messages.updatePinnedMessage: pin (silently or not) or unpin one message.
pub(crate) fn pin(world: &mut World, me: i64, req: &f::messages::UpdatePinnedMessage) -> Reply {
    let chat = chat_of(world, &req.peer)?;
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("PEER_ID_INVALID"))?;
    if !rec.is_member(me) {
        return Err(match rec.spec.kind {
            ChatKind::Group => err("CHAT_ID_INVALID"),
            _ => err("CHANNEL_PRIVATE"),
        });
    }
    let admin = rec.spec.admins.contains(&me);
    let may_pin = admin || (rec.spec.members_may_pin && rec.spec.kind != ChatKind::Channel);
    if !may_pin {
        return Err(err("CHAT_ADMIN_REQUIRED"));
    }
    let pinned = !req.unpin;
    let post = world
        .posts
        .get_mut(&(chat, req.id))
        .filter(|p| p.is_live())
        .ok_or_else(|| err("MESSAGE_ID_INVALID"))?;
    if post.pinned == pinned {
        return Err(err("CHAT_NOT_MODIFIED"));
    }
    post.pinned = pinned;
    post.pinned_silently = pinned && req.silent;
    world.pts += 1;
    let pts = world.pts;
    let update = if is_channel(world, chat) {
        let channel_id = world.chats.get(&chat).map_or(0, |c| c.bare_id());
        tl::enums::Update::PinnedChannelMessages(tl::types::UpdatePinnedChannelMessages {
            pinned,
            channel_id,
            messages: vec![req.id],
            pts,
            pts_count: 1,
        })
    } else {
        tl::enums::Update::PinnedMessages(tl::types::UpdatePinnedMessages {
            pinned,
            peer: world.peer_tl(chat).ok_or_else(|| err("PEER_ID_INVALID"))?,
            messages: vec![req.id],
            pts,
            pts_count: 1,
        })
    };
    Ok(updates(world, me, chat, vec![update]))
}

fn wanted(ids: &[tl::enums::InputMessage]) -> Vec<i32> {
    ids.iter()
        .map(|m| match m {
            tl::enums::InputMessage::Id(m) => m.id,
            // Replies, "the pinned one", callback queries: not modelled; answered as gone.
            _ => 0,
        })
        .collect()
}

/// messages.getMessages: basic-group messages by bare id, `messageEmpty` for one that is
/// gone (or in no basic group of `me`).
pub(crate) fn get_basic(world: &World, me: i64, ids: &[tl::enums::InputMessage]) -> Vec<u8> {
    let mut messages = Vec::new();
    let mut chats = Vec::new();
    for id in wanted(ids) {
        let found = world.posts.values().find(|p| {
            p.id == id
                && p.is_live()
                && world
                    .chats
                    .get(&p.chat)
                    .is_some_and(|c| c.spec.kind == ChatKind::Group && c.is_member(me))
        });
        match found.and_then(|p| world.post_tl(p.chat, id, me).map(|m| (p.chat, m))) {
            Some((chat, m)) => {
                messages.push(m);
                if let Some(c) = world.chat_tl(chat, me)
                    && !chats.contains(&c)
                {
                    chats.push(c);
                }
            }
            None => messages.push(empty(id, None)),
        }
    }
    tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
        messages,
        topics: Vec::new(),
        chats,
        users: world.user_tl(me, me).into_iter().collect(),
    })
    .to_bytes()
}

fn empty(id: i32, peer_id: Option<tl::enums::Peer>) -> tl::enums::Message {
    tl::enums::Message::Empty(tl::types::MessageEmpty { id, peer_id })
}

/// channels.getMessages: messages of a supergroup or channel by id, `messageEmpty` for one
/// that is gone.
pub(crate) fn get_channel(
    world: &World,
    me: i64,
    channel: &tl::enums::InputChannel,
    ids: &[tl::enums::InputMessage],
) -> Reply {
    let chat = channel_of(world, channel)?;
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("CHANNEL_INVALID"))?;
    if !rec.is_member(me) && rec.spec.username.is_none() {
        return Err(err("CHANNEL_PRIVATE"));
    }
    let messages: Vec<_> = wanted(ids)
        .into_iter()
        .map(|id| {
            world
                .post_tl(chat, id, me)
                .unwrap_or_else(|| empty(id, world.peer_tl(chat)))
        })
        .collect();
    Ok(
        tl::enums::messages::Messages::ChannelMessages(tl::types::messages::ChannelMessages {
            inexact: false,
            pts: world.pts,
            count: messages.len() as i32,
            offset_id_offset: None,
            messages,
            topics: Vec::new(),
            chats: world.chat_tl(chat, me).into_iter().collect(),
            users: world.user_tl(me, me).into_iter().collect(),
        })
        .to_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{ChatSpec, Fixture, UserSpec};

    const SUPER: i64 = -1_001_000_000_001;

    fn world() -> World {
        let fixture: Fixture = serde_json::from_str(&format!(
            r#"{{"edit_window_secs": 60,
                "users": [{{"id": 1, "first_name": "A"}}, {{"id": 2, "first_name": "B"}},
                          {{"id": 3, "first_name": "Admin"}}],
                "chats": [{{"id": {SUPER}, "title": "S", "members": [1, 2], "admins": [3],
                            "members_may_pin": true}}]}}"#
        ))
        .unwrap();
        World::new(fixture).unwrap()
    }

    #[test]
    fn the_fixture_sets_the_edit_window_and_the_pin_right() {
        let w = world();
        assert_eq!(w.edit_window, 60);
        assert!(w.chats[&SUPER].spec.members_may_pin);
        let default = World::new(
            Fixture::default()
                .user(UserSpec::new(1, "A"))
                .chat(ChatSpec::new(SUPER, "S", ChatKind::Supergroup).members(&[1])),
        )
        .unwrap();
        assert_eq!(default.edit_window, crate::DEFAULT_EDIT_WINDOW_SECS);
        assert!(!default.chats[&SUPER].spec.members_may_pin);
    }

    #[test]
    fn only_the_sender_or_an_admin_deletes_and_a_delete_is_all_or_nothing() {
        let mut w = world();
        let a = w.accept(1, SUPER, 10, "a", Vec::new(), None, None).unwrap();
        let b = w.accept(2, SUPER, 11, "b", Vec::new(), None, None).unwrap();
        assert_eq!(
            w.delete_messages(1, SUPER, &[a, b]),
            Err("MESSAGE_DELETE_FORBIDDEN".to_owned())
        );
        assert!(w.posts[&(SUPER, a)].is_live() && w.posts[&(SUPER, b)].is_live());
        assert_eq!(w.delete_messages(1, SUPER, &[a, 999]), Ok(1));
        assert_eq!(w.delete_messages(1, SUPER, &[a]), Ok(0));
        assert_eq!(w.delete_messages(3, SUPER, &[b]), Ok(1));
        assert_eq!(w.posts[&(SUPER, b)].deleted_by, Some(3));
        assert!(w.post_tl(SUPER, b, 1).is_none());
    }
}
