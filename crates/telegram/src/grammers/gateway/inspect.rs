//! `Gateway::inspect` on grammers: what one account may do in one chat, asked without
//! posting. Basic groups: `messages.getFullChat` (title, default rights, `migrated_to` of an
//! upgraded group). Channels and supergroups: `channels.getFullChannel` (title, slow mode,
//! forum, default and personal rights) and `channels.getParticipant` for ourselves
//! (membership, a ban). A target's topic: `messages.getForumTopicsByID`.
//!
//! Every refusal is given as the Telegram error a send would get, so the engine can treat a
//! check like a refused send (`SendError::refusal_reason`).

use grammers_tl_types as tl;
use smb_domain::{SendError, TargetRef};
use smb_engine::{ChatInfo, TopicState};

use super::{Account, GrammersGateway};
use crate::grammers::client::CallError;
use crate::grammers::peers::channel_chat_id;

/// Answers that mean "this account cannot reach this chat" rather than "cannot ask now".
fn unreachable(code: &str) -> bool {
    matches!(
        code,
        "USER_NOT_PARTICIPANT"
            | "PEER_ID_INVALID"
            | "CHANNEL_PRIVATE"
            | "CHANNEL_INVALID"
            | "CHAT_ID_INVALID"
            | "CHAT_FORBIDDEN"
            | "USERNAME_NOT_OCCUPIED"
            | "USERNAME_INVALID"
    )
}

fn rpc_name(e: &CallError) -> Option<&str> {
    match e {
        CallError::Rpc { name, code, .. } if code.abs() < 500 => Some(name),
        _ => None,
    }
}

/// What a rights set forbids: (text, media).
fn forbids(rights: Option<&tl::enums::ChatBannedRights>) -> (bool, bool) {
    match rights {
        Some(tl::enums::ChatBannedRights::Rights(r)) => (
            r.send_messages || r.send_plain,
            r.send_messages || r.send_media || (r.send_photos && r.send_docs),
        ),
        None => (false, false),
    }
}

/// Writing rights from membership, admin status and the banned-rights sets, with the error a
/// send would get (the first that applies).
fn rights(
    info: &mut ChatInfo,
    admin: bool,
    personal: Option<&tl::enums::ChatBannedRights>,
    default: Option<&tl::enums::ChatBannedRights>,
) {
    let (p_text, p_media) = forbids(personal);
    let (d_text, d_media) = if admin {
        (false, false)
    } else {
        forbids(default)
    };
    info.refusal = if !info.member {
        Some("USER_NOT_PARTICIPANT")
    } else if p_text {
        Some("USER_BANNED_IN_CHANNEL")
    } else if d_text {
        Some("CHAT_WRITE_FORBIDDEN")
    } else if p_media || d_media {
        Some("CHAT_SEND_MEDIA_FORBIDDEN")
    } else {
        None
    }
    .map(str::to_owned);
    info.can_write = info.member && !p_text && !d_text;
    info.can_send_media = info.can_write && !p_media && !d_media;
}

impl GrammersGateway {
    pub(super) async fn inspect_target(
        &self,
        account: &str,
        target: &TargetRef,
    ) -> Result<ChatInfo, SendError> {
        let a = self.account(account)?;
        a.client.before_call()?;
        let peer = match self.peer(account, a, target).await {
            Ok(p) => p,
            Err(e) if unreachable(e.code()) => return Ok(ChatInfo::unreachable(e.code())),
            Err(e) => return Err(e),
        };
        let (mut info, mut admin) = match &peer {
            tl::enums::InputPeer::Chat(c) => group(a, c.chat_id).await?,
            tl::enums::InputPeer::Channel(c) => channel(a, c).await?,
            _ => return Ok(ChatInfo::unreachable("PEER_ID_INVALID")),
        };
        // An upgraded basic group: sends follow it to the supergroup, so that is what to look
        // at; `migrated_to` tells the operator which id to write instead.
        if let Some(new_id) = info.migrated_to
            && let Some(tl::enums::InputPeer::Channel(c)) =
                self.follow_migration(account, a, target).await
        {
            (info, admin) = channel(a, &c).await?;
            info.migrated_to = Some(new_id);
        } else if let (smb_domain::Chat::Id(old), tl::enums::InputPeer::Channel(_)) =
            (&target.chat, &peer)
            && target.is_basic_group()
        {
            info.migrated_to = a.peers.lock().await.cache.migrated.get(old).copied();
        }
        if let Some(topic) = target.topic
            && info.member
        {
            let state = if info.forum {
                topic_state(a, peer, topic).await?
            } else {
                TopicState::NotForum
            };
            info.topic = Some(state);
            let refusal = match state {
                TopicState::Closed if !admin => Some("TOPIC_CLOSED"),
                TopicState::Missing => Some("TOPIC_ID_INVALID"),
                _ => None,
            };
            if let Some(r) = refusal
                && info.can_write
            {
                info.can_write = false;
                info.can_send_media = false;
                info.refusal = Some(r.to_owned());
            }
        }
        Ok(info)
    }
}

/// A basic group. Returns the info and whether we are an admin there.
async fn group(a: &Account, chat_id: i64) -> Result<(ChatInfo, bool), SendError> {
    let full = match a
        .client
        .invoke(&tl::functions::messages::GetFullChat { chat_id })
        .await
    {
        Ok(tl::enums::messages::ChatFull::Full(f)) => f,
        Err(e) => match rpc_name(&e) {
            Some(name) if unreachable(name) => return Ok((ChatInfo::unreachable(name), false)),
            _ => return Err(e.into()),
        },
    };
    let chat = full.chats.iter().find(|c| c.id() == chat_id);
    Ok(match chat {
        Some(tl::enums::Chat::Chat(c)) => {
            let migrated_to = c.migrated_to.as_ref().and_then(|m| match m {
                tl::enums::InputChannel::Channel(x) => Some(channel_chat_id(x.channel_id)),
                _ => None,
            });
            let mut info = ChatInfo {
                title: Some(c.title.clone()),
                member: !c.left,
                migrated_to,
                ..ChatInfo::default()
            };
            let admin = c.creator || c.admin_rights.is_some();
            if c.deactivated || migrated_to.is_some() {
                // Telegram answers a send to an upgraded group with PEER_ID_INVALID.
                info.refusal = Some("PEER_ID_INVALID".to_owned());
            } else {
                rights(&mut info, admin, None, c.default_banned_rights.as_ref());
            }
            (info, admin)
        }
        Some(tl::enums::Chat::Forbidden(c)) => (
            ChatInfo {
                title: Some(c.title.clone()),
                refusal: Some("CHAT_FORBIDDEN".to_owned()),
                ..ChatInfo::default()
            },
            false,
        ),
        _ => (ChatInfo::unreachable("CHAT_ID_INVALID"), false),
    })
}

/// A channel or supergroup. Returns the info and whether we are an admin there.
async fn channel(
    a: &Account,
    c: &tl::types::InputPeerChannel,
) -> Result<(ChatInfo, bool), SendError> {
    let input: tl::enums::InputChannel = tl::types::InputChannel {
        channel_id: c.channel_id,
        access_hash: c.access_hash,
    }
    .into();
    let full = match a
        .client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input.clone(),
        })
        .await
    {
        Ok(tl::enums::messages::ChatFull::Full(f)) => f,
        Err(e) => match rpc_name(&e) {
            Some(name) if unreachable(name) => return Ok((ChatInfo::unreachable(name), false)),
            _ => return Err(e.into()),
        },
    };
    let slow_mode_seconds = match &full.full_chat {
        tl::enums::ChatFull::ChannelFull(f) => f
            .slowmode_seconds
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s > 0),
        _ => None,
    };
    let Some(ch) = full.chats.iter().find_map(|x| match x {
        tl::enums::Chat::Channel(ch) if ch.id == c.channel_id => Some(ch),
        _ => None,
    }) else {
        return Ok((ChatInfo::unreachable("CHANNEL_INVALID"), false));
    };
    // Membership from Telegram's participant record, not the cached `left` flag.
    let participant = a
        .client
        .invoke(&tl::functions::channels::GetParticipant {
            channel: input,
            participant: tl::enums::InputPeer::PeerSelf,
        })
        .await;
    let (member, personal, not_member_code) = match participant {
        Ok(tl::enums::channels::ChannelParticipant::Participant(p)) => match p.participant {
            tl::enums::ChannelParticipant::Banned(b) => (!b.left, Some(b.banned_rights), None),
            tl::enums::ChannelParticipant::Left(_) => (false, None, None),
            _ => (true, ch.banned_rights.clone(), None),
        },
        Err(e) => match rpc_name(&e) {
            Some(name @ ("USER_NOT_PARTICIPANT" | "CHANNEL_PRIVATE")) => {
                (false, None, Some(name.to_owned()))
            }
            _ => return Err(e.into()),
        },
    };
    let post_rights = |r: &tl::enums::ChatAdminRights| match r {
        tl::enums::ChatAdminRights::Rights(r) => r.post_messages,
    };
    let admin = ch.creator
        || ch
            .admin_rights
            .as_ref()
            .is_some_and(|r| !ch.broadcast || post_rights(r));
    let mut info = ChatInfo {
        title: Some(ch.title.clone()),
        member,
        slow_mode_seconds,
        forum: ch.forum,
        ..ChatInfo::default()
    };
    if ch.broadcast {
        // Only admins with the right to post write in a broadcast channel.
        info.can_write = member && admin;
        info.can_send_media = info.can_write;
        info.refusal = match (member, admin) {
            (false, _) => Some("USER_NOT_PARTICIPANT".to_owned()),
            (true, false) => Some("CHAT_ADMIN_REQUIRED".to_owned()),
            _ => None,
        };
    } else {
        rights(
            &mut info,
            admin,
            personal.as_ref(),
            ch.default_banned_rights.as_ref(),
        );
    }
    if let Some(code) = not_member_code {
        info.refusal = Some(code);
    }
    Ok((info, admin))
}

async fn topic_state(
    a: &Account,
    peer: tl::enums::InputPeer,
    topic: i32,
) -> Result<TopicState, SendError> {
    match a
        .client
        .invoke(&tl::functions::messages::GetForumTopicsById {
            peer,
            topics: vec![topic],
        })
        .await
    {
        Ok(tl::enums::messages::ForumTopics::Topics(t)) => Ok(t
            .topics
            .iter()
            .find_map(|x| match x {
                tl::enums::ForumTopic::Topic(x) if x.id == topic => Some(if x.closed {
                    TopicState::Closed
                } else {
                    TopicState::Open
                }),
                _ => None,
            })
            .unwrap_or(TopicState::Missing)),
        Err(e) if e.is("CHANNEL_FORUM_MISSING") => Ok(TopicState::NotForum),
        Err(e) if e.is("TOPIC_ID_INVALID") => Ok(TopicState::Missing),
        Err(e) => Err(e.into()),
    }
}
