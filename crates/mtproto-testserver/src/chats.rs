//! What a client can ask about a chat without posting: full chat info (slow mode, default
//! rights, title, migration), membership (`channels.getParticipant`) and forum topics.
//!
//! Answers follow Telegram's shapes and error names: a private channel the user is not in is
//! CHANNEL_PRIVATE, a public one USER_NOT_PARTICIPANT; a basic group the user is not in comes
//! back as `chatForbidden`; a basic group that was upgraded comes back deactivated with
//! `migrated_to`; topics of a chat that is not a forum are CHANNEL_FORUM_MISSING.

use grammers_tl_types::{self as tl, Serializable};

use crate::api::{Reply, chat_of, err};
use crate::fixture::ChatKind;
use crate::world::World;

fn notify_settings() -> tl::enums::PeerNotifySettings {
    tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    }
    .into()
}

/// The bot-API id of the channel or supergroup an InputChannel names (access hash checked).
pub(crate) fn channel_of(
    world: &World,
    channel: &tl::enums::InputChannel,
) -> Result<i64, (i32, String)> {
    match channel {
        tl::enums::InputChannel::Channel(c) => world
            .channel(c.channel_id, c.access_hash)
            .ok_or_else(|| err("CHANNEL_INVALID")),
        _ => Err(err("CHANNEL_INVALID")),
    }
}

/// Telegram lets a non-member look at a public chat only; a private one is CHANNEL_PRIVATE.
fn visible(world: &World, me: i64, chat: i64) -> Result<(), (i32, String)> {
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("CHANNEL_INVALID"))?;
    if rec.is_member(me) || rec.spec.banned.contains(&me) || rec.spec.username.is_some() {
        Ok(())
    } else {
        Err(err("CHANNEL_PRIVATE"))
    }
}

/// channels.getFullChannel: slow mode, the group it was migrated from, and the channel object
/// (title, forum, default and personal banned rights, admin rights).
pub(crate) fn full_channel(world: &World, me: i64, channel: &tl::enums::InputChannel) -> Reply {
    let id = channel_of(world, channel)?;
    visible(world, me, id)?;
    let rec = world.chats.get(&id).ok_or_else(|| err("CHANNEL_INVALID"))?;
    let migrated_from = world
        .chats
        .values()
        .find(|c| c.spec.migrated_to == Some(id))
        .map(|c| c.bare_id());
    let full = tl::types::ChannelFull {
        can_view_participants: false,
        can_set_username: false,
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: false,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id: rec.bare_id(),
        about: String::new(),
        participants_count: Some(rec.spec.members.len() as i32),
        admins_count: Some(rec.spec.admins.len() as i32),
        kicked_count: None,
        banned_count: None,
        online_count: None,
        read_inbox_max_id: rec.next_message_id - 1,
        read_outbox_max_id: rec.next_message_id - 1,
        unread_count: 0,
        chat_photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
        notify_settings: notify_settings(),
        exported_invite: None,
        bot_info: Vec::new(),
        migrated_from_chat_id: migrated_from,
        migrated_from_max_id: migrated_from.map(|_| 1),
        pinned_msg_id: None,
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id: None,
        location: None,
        slowmode_seconds: rec.spec.slow_mode.map(|s| s as i32),
        slowmode_next_send_date: None,
        stats_dc: None,
        pts: world.pts,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    };
    Ok(
        tl::enums::messages::ChatFull::Full(tl::types::messages::ChatFull {
            full_chat: full.into(),
            chats: world.chat_tl(id, me).into_iter().collect(),
            users: Vec::new(),
        })
        .to_bytes(),
    )
}

/// A basic group as `viewer` sees it: the chat, or `chatForbidden` when not in it.
fn group_tl(world: &World, id: i64, viewer: i64) -> Option<tl::enums::Chat> {
    let rec = world.chats.get(&id)?;
    if rec.is_member(viewer) {
        world.chat_tl(id, viewer)
    } else {
        world.chat_forbidden_tl(id)
    }
}

/// messages.getFullChat: a basic group (deactivated with `migrated_to` once upgraded; the new
/// supergroup comes along in `chats`, as Telegram sends it).
pub(crate) fn full_chat(world: &World, me: i64, chat_id: i64) -> Reply {
    let id = -chat_id;
    let rec = world
        .chats
        .get(&id)
        .filter(|r| r.spec.kind == ChatKind::Group)
        .ok_or_else(|| err("CHAT_ID_INVALID"))?;
    let member = rec.is_member(me);
    let participants = if member {
        rec.spec
            .members
            .iter()
            .chain(&rec.spec.admins)
            .map(|u| {
                tl::types::ChatParticipant {
                    user_id: *u,
                    inviter_id: 0,
                    date: rec.created,
                    rank: None,
                }
                .into()
            })
            .collect()
    } else {
        Vec::new()
    };
    let full = tl::types::ChatFull {
        can_set_username: false,
        has_scheduled: false,
        translations_disabled: false,
        has_welcome_messages: false,
        id: chat_id,
        about: String::new(),
        participants: tl::types::ChatParticipants {
            chat_id,
            participants,
            version: 1,
        }
        .into(),
        chat_photo: None,
        notify_settings: notify_settings(),
        exported_invite: None,
        bot_info: None,
        pinned_msg_id: None,
        folder_id: None,
        call: None,
        ttl_period: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        available_reactions: None,
        reactions_limit: None,
    };
    let mut chats: Vec<tl::enums::Chat> = group_tl(world, id, me).into_iter().collect();
    if member && let Some(to) = rec.spec.migrated_to {
        chats.extend(world.chat_tl(to, me));
    }
    Ok(
        tl::enums::messages::ChatFull::Full(tl::types::messages::ChatFull {
            full_chat: full.into(),
            chats,
            users: world.user_tl(me, me).into_iter().collect(),
        })
        .to_bytes(),
    )
}

/// messages.getChats: basic groups by their positive ids; unknown ids are left out.
pub(crate) fn chats(world: &World, me: i64, ids: &[i64]) -> Vec<u8> {
    let chats = ids
        .iter()
        .filter(|id| {
            world
                .chats
                .get(&-**id)
                .is_some_and(|r| r.spec.kind == ChatKind::Group)
        })
        .filter_map(|id| group_tl(world, -id, me))
        .collect();
    tl::enums::messages::Chats::Chats(tl::types::messages::Chats { chats }).to_bytes()
}

/// channels.getParticipant: the user's membership of a channel or supergroup.
pub(crate) fn participant(
    world: &World,
    me: i64,
    channel: &tl::enums::InputChannel,
    who: &tl::enums::InputPeer,
) -> Reply {
    let id = channel_of(world, channel)?;
    let user = match who {
        tl::enums::InputPeer::PeerSelf => me,
        tl::enums::InputPeer::User(u) => u.user_id,
        _ => return Err(err("PARTICIPANT_ID_INVALID")),
    };
    let rec = world.chats.get(&id).ok_or_else(|| err("CHANNEL_INVALID"))?;
    let s = &rec.spec;
    let participant: tl::enums::ChannelParticipant = if s.banned.contains(&user) {
        tl::types::ChannelParticipantBanned {
            left: false,
            peer: tl::types::PeerUser { user_id: user }.into(),
            kicked_by: 0,
            date: rec.created,
            banned_rights: tl::types::ChatBannedRights {
                view_messages: false,
                send_messages: true,
                send_media: true,
                send_stickers: true,
                send_gifs: true,
                send_games: true,
                send_inline: true,
                embed_links: true,
                send_polls: true,
                change_info: true,
                invite_users: true,
                pin_messages: true,
                manage_topics: true,
                send_photos: true,
                send_videos: true,
                send_roundvideos: true,
                send_audios: true,
                send_voices: true,
                send_docs: true,
                send_plain: true,
                edit_rank: false,
                send_reactions: true,
                manage_linked_peers: false,
                until_date: 0,
            }
            .into(),
            rank: None,
        }
        .into()
    } else if rec.is_member(user) && user == me {
        tl::types::ChannelParticipantSelf {
            via_request: false,
            user_id: user,
            inviter_id: 0,
            date: rec.created,
            subscription_until_date: None,
            rank: None,
        }
        .into()
    } else if rec.is_member(user) {
        tl::types::ChannelParticipant {
            user_id: user,
            date: rec.created,
            subscription_until_date: None,
            rank: None,
        }
        .into()
    } else if user == me && s.username.is_none() {
        return Err(err("CHANNEL_PRIVATE"));
    } else {
        return Err(err("USER_NOT_PARTICIPANT"));
    };
    Ok(tl::enums::channels::ChannelParticipant::Participant(
        tl::types::channels::ChannelParticipant {
            participant,
            chats: world.chat_tl(id, me).into_iter().collect(),
            users: world.user_tl(user, me).into_iter().collect(),
        },
    )
    .to_bytes())
}

/// messages.getForumTopicsByID: each asked topic, open or closed; an unknown one as
/// `forumTopicDeleted`.
pub(crate) fn forum_topics(
    world: &World,
    me: i64,
    peer: &tl::enums::InputPeer,
    topics: &[i32],
) -> Reply {
    let id = chat_of(world, peer)?;
    visible(world, me, id)?;
    let rec = world.chats.get(&id).ok_or_else(|| err("CHANNEL_INVALID"))?;
    if !rec.spec.forum {
        return Err(err("CHANNEL_FORUM_MISSING"));
    }
    let peer_tl = world.peer_tl(id).ok_or_else(|| err("CHANNEL_INVALID"))?;
    let found: Vec<tl::enums::ForumTopic> = topics
        .iter()
        .map(|t| match rec.spec.topics.iter().find(|x| x.id == *t) {
            Some(x) => tl::types::ForumTopic {
                my: false,
                closed: x.closed,
                pinned: false,
                short: false,
                hidden: false,
                title_missing: false,
                id: x.id,
                date: rec.created,
                peer: peer_tl.clone(),
                title: x.title.clone(),
                icon_color: 0x6F_B9F0,
                icon_emoji_id: None,
                top_message: x.id,
                read_inbox_max_id: x.id,
                read_outbox_max_id: x.id,
                unread_count: 0,
                unread_mentions_count: 0,
                unread_reactions_count: 0,
                unread_poll_votes_count: 0,
                from_id: tl::types::PeerUser { user_id: me }.into(),
                notify_settings: notify_settings(),
                draft: None,
            }
            .into(),
            None => tl::types::ForumTopicDeleted { id: *t }.into(),
        })
        .collect();
    Ok(
        tl::enums::messages::ForumTopics::Topics(tl::types::messages::ForumTopics {
            order_by_create_date: false,
            count: found.len() as i32,
            topics: found,
            messages: Vec::new(),
            chats: world.chat_tl(id, me).into_iter().collect(),
            users: Vec::new(),
            pts: world.pts,
        })
        .to_bytes(),
    )
}
