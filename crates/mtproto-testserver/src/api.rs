//! The Telegram API methods the server answers, dispatched on the request's constructor id.
//!
//! Requests are decoded with grammers-tl-types' `deserializable-functions`; a function's
//! `deserialize` does not read its constructor id, so dispatch reads it first. Answers are
//! serialized through `tl::enums::*` so they carry their constructor ids.

use std::collections::HashSet;
use std::time::Duration;

use grammers_tl_types::{self as tl, Identifiable, Serializable, functions as f};

use crate::chaos::Imposed;
use crate::fixture::ChatKind;
use crate::wire::{RawQuery, decode};
use crate::world::{
    DC_ID, EntityRecord, FaultHit, MediaRecord, StoredMedia, World, access_hash_for, now_unix,
};

pub(crate) const MAX_TEXT: usize = 4096;
pub(crate) const MAX_CAPTION: usize = 1024;
/// The most items of an album (messages.sendMultiMedia: MULTI_MEDIA_TOO_LONG above).
const MAX_ALBUM: usize = 10;
/// Telegram's published 2048-bit safe prime for SRP (g = 3); grammers checks it.
const SRP_P: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";

/// What goes back for one request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Wrapped in rpc_result.
    Result(Vec<u8>),
    /// rpc_error with this code and message.
    Error(i32, String),
    /// Sent as its own top-level message (pong).
    Raw(Vec<u8>),
    /// Nothing (msgs_ack).
    Nothing,
}

/// When the fault plan closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropConnection {
    No,
    /// Close before carrying out the request.
    Before,
    /// Carry out the request, then close without answering.
    After,
}

#[derive(Debug)]
pub(crate) struct Handled {
    pub answer: Answer,
    pub delay: Duration,
    pub drop: DropConnection,
    /// The wait this answer tells the client (a send's FLOOD_WAIT_X / SLOWMODE_WAIT_X); it
    /// counts once the answer is written (crate::chaos).
    pub imposes: Option<Imposed>,
}

pub(crate) type Reply = Result<Vec<u8>, (i32, String)>;

/// The RPC error code Telegram uses for an error name.
pub(crate) fn code_for(name: &str) -> i32 {
    let has_value = name
        .rsplit('_')
        .next()
        .is_some_and(|t| t.parse::<u32>().is_ok());
    if has_value && name.contains("_WAIT_") {
        420
    } else if has_value && name.contains("_MIGRATE_") {
        // PHONE_MIGRATE_4, USER_MIGRATE_4, …: "use DC 4", as Telegram says it.
        303
    } else if name.starts_with("AUTH_KEY")
        || name.starts_with("SESSION_")
        || name.starts_with("USER_DEACTIVATED")
    {
        401
    } else if matches!(name, "CHAT_WRITE_FORBIDDEN" | "CHAT_GUEST_SEND_FORBIDDEN")
        || (name.starts_with("CHAT_SEND_") && name.ends_with("_FORBIDDEN"))
    {
        403
    } else if matches!(name, "RANDOM_ID_DUPLICATE" | "INTERNAL" | "RPC_CALL_FAIL") {
        500
    } else {
        400
    }
}

pub(crate) fn err(name: &str) -> (i32, String) {
    (code_for(name), name.to_owned())
}

struct Ctx<'w> {
    world: &'w mut World,
    key_id: [u8; 8],
    user: Option<i64>,
    /// Set by the fault plan once a request has been matched against it.
    hit: Option<FaultHit>,
    /// (user, chat) of a send, once its chat is known.
    send: Option<(i64, i64)>,
}

/// A send's `reply_to` as (reply_to_msg_id, top_msg_id): a forum topic is addressed by
/// replying to its first message with `top_msg_id` set.
fn reply_of(r: &Option<tl::enums::InputReplyTo>) -> Option<(i32, Option<i32>)> {
    match r {
        Some(tl::enums::InputReplyTo::Message(m)) => Some((m.reply_to_msg_id, m.top_msg_id)),
        _ => None,
    }
}

impl Ctx<'_> {
    fn me(&self) -> Result<i64, (i32, String)> {
        self.user.ok_or_else(|| err("AUTH_KEY_UNREGISTERED"))
    }

    /// Runs the fault plan once per request; returns the error it imposes, if any.
    fn faults(&mut self, method: &str, chat: Option<i64>, topic: Option<i32>) -> Option<String> {
        let hit = self.world.faults_for(method, self.user, chat, topic);
        let error = hit.error.clone();
        self.hit = Some(hit);
        error
    }
}

fn ctor(body: &[u8]) -> u32 {
    body.get(0..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Handles one request message from the client whose key is `key_id`.
pub(crate) fn handle(world: &mut World, key_id: [u8; 8], msg_id: i64, body: &[u8]) -> Handled {
    let user = world.user_of_key(&key_id);
    let mut ctx = Ctx {
        world,
        key_id,
        user,
        hit: None,
        send: None,
    };
    let mut body = body.to_vec();
    // Unwrap the generic wrappers around the real query.
    loop {
        let unwrapped = match ctor(&body) {
            f::InvokeWithLayer::<RawQuery>::CONSTRUCTOR_ID => {
                decode::<f::InvokeWithLayer<RawQuery>>(&body).map(|q| q.query.0)
            }
            f::InitConnection::<RawQuery>::CONSTRUCTOR_ID => {
                decode::<f::InitConnection<RawQuery>>(&body).map(|q| q.query.0)
            }
            f::InvokeWithoutUpdates::<RawQuery>::CONSTRUCTOR_ID => {
                decode::<f::InvokeWithoutUpdates<RawQuery>>(&body).map(|q| q.query.0)
            }
            _ => break,
        };
        match unwrapped {
            Ok(inner) => body = inner,
            Err(e) => {
                return Handled {
                    answer: Answer::Error(400, format!("INPUT_REQUEST_INVALID: {e}")),
                    delay: Duration::ZERO,
                    drop: DropConnection::No,
                    imposes: None,
                };
            }
        }
    }
    let id = ctor(&body);
    let method = tl::name_for_id(id);
    ctx.world.count_call(method);

    // Service messages: no faults, no auth.
    match id {
        tl::types::MsgsAck::CONSTRUCTOR_ID => {
            return Handled {
                answer: Answer::Nothing,
                delay: Duration::ZERO,
                drop: DropConnection::No,
                imposes: None,
            };
        }
        f::PingDelayDisconnect::CONSTRUCTOR_ID | f::Ping::CONSTRUCTOR_ID => {
            let ping_id = if id == f::Ping::CONSTRUCTOR_ID {
                decode::<f::Ping>(&body).map(|p| p.ping_id)
            } else {
                decode::<f::PingDelayDisconnect>(&body).map(|p| p.ping_id)
            }
            .unwrap_or(0);
            let pong = tl::enums::Pong::Pong(tl::types::Pong { msg_id, ping_id }).to_bytes();
            return Handled {
                answer: Answer::Raw(pong),
                delay: Duration::ZERO,
                drop: DropConnection::No,
                imposes: None,
            };
        }
        _ => {}
    }

    let chaos = ctx.world.chaos.on_request();
    if chaos.drop_before {
        return Handled {
            answer: Answer::Nothing,
            delay: Duration::ZERO,
            drop: DropConnection::Before,
            imposes: None,
        };
    }

    let is_send = matches!(
        id,
        f::messages::SendMessage::CONSTRUCTOR_ID
            | f::messages::SendMedia::CONSTRUCTOR_ID
            | f::messages::SendMultiMedia::CONSTRUCTOR_ID
    );
    let mut fault_error = None;
    if !is_send {
        fault_error = ctx.faults(method, None, None);
    }
    let mut drop = DropConnection::No;
    let reply: Reply = match fault_error.as_deref() {
        Some("DROP") => {
            drop = DropConnection::Before;
            Err((0, String::new()))
        }
        Some(e) if e != "DROP_AFTER" => Err(err(e)),
        other => {
            if other == Some("DROP_AFTER") {
                drop = DropConnection::After;
            }
            let r = dispatch(&mut ctx, id, &body);
            if is_send {
                // The send path ran the fault plan itself (it needs the chat).
                if let Some(FaultHit { error: Some(e), .. }) = &ctx.hit {
                    match e.as_str() {
                        "DROP" => drop = DropConnection::Before,
                        "DROP_AFTER" => drop = DropConnection::After,
                        _ => {}
                    }
                }
            }
            r
        }
    };
    if chaos.drop_after && drop == DropConnection::No {
        drop = DropConnection::After;
    }
    let delay = ctx.hit.map_or(ctx.world.latency, |h| h.delay) + chaos.spike;
    let imposes = match (&reply, ctx.send) {
        (Err((_, name)), Some((user, chat))) => Imposed::of_error(user, chat, name),
        _ => None,
    };
    let answer = match reply {
        Ok(bytes) => Answer::Result(bytes),
        Err((code, name)) => Answer::Error(code, name),
    };
    Handled {
        answer,
        delay,
        drop,
        imposes,
    }
}

fn dispatch(ctx: &mut Ctx, id: u32, body: &[u8]) -> Reply {
    let bad = |e: crate::wire::WireError| (400, format!("INPUT_REQUEST_INVALID: {e}"));
    match id {
        f::help::GetConfig::CONSTRUCTOR_ID => Ok(config()),
        f::updates::GetState::CONSTRUCTOR_ID => {
            ctx.me()?;
            Ok(tl::enums::updates::State::State(tl::types::updates::State {
                pts: ctx.world.pts,
                qts: 0,
                date: now_unix(),
                seq: 0,
                unread_count: 0,
            })
            .to_bytes())
        }
        f::updates::GetDifference::CONSTRUCTOR_ID => {
            ctx.me()?;
            Ok(
                tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
                    date: now_unix(),
                    seq: 0,
                })
                .to_bytes(),
            )
        }
        f::users::GetUsers::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::users::GetUsers>(body).map_err(bad)?;
            let users: Vec<tl::enums::User> = req
                .id
                .iter()
                .filter_map(|u| match u {
                    tl::enums::InputUser::UserSelf => ctx.world.user_tl(me, me),
                    tl::enums::InputUser::User(u) => ctx.world.user_tl(u.user_id, me),
                    _ => None,
                })
                .collect();
            Ok(users.to_bytes())
        }
        f::messages::GetDialogs::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            decode::<f::messages::GetDialogs>(body).map_err(bad)?;
            Ok(dialogs(ctx.world, me))
        }
        f::contacts::ResolveUsername::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::contacts::ResolveUsername>(body).map_err(bad)?;
            resolve(ctx.world, me, &req.username)
        }
        f::upload::SaveFilePart::CONSTRUCTOR_ID => {
            ctx.me()?;
            let req = decode::<f::upload::SaveFilePart>(body).map_err(bad)?;
            *ctx.world.uploads.entry(req.file_id).or_default() += req.bytes.len() as u64;
            Ok(true.to_bytes())
        }
        f::upload::SaveBigFilePart::CONSTRUCTOR_ID => {
            ctx.me()?;
            let req = decode::<f::upload::SaveBigFilePart>(body).map_err(bad)?;
            *ctx.world.uploads.entry(req.file_id).or_default() += req.bytes.len() as u64;
            Ok(true.to_bytes())
        }
        f::messages::SendMessage::CONSTRUCTOR_ID => {
            let req = decode::<f::messages::SendMessage>(body).map_err(bad)?;
            send_message(ctx, req)
        }
        f::messages::SendMultiMedia::CONSTRUCTOR_ID => {
            let req = decode::<f::messages::SendMultiMedia>(body).map_err(bad)?;
            send_multi_media(ctx, req)
        }
        f::messages::UploadMedia::CONSTRUCTOR_ID => {
            ctx.me()?;
            let req = decode::<f::messages::UploadMedia>(body).map_err(bad)?;
            if !matches!(req.peer, tl::enums::InputPeer::PeerSelf) {
                chat_of(ctx.world, &req.peer)?;
            }
            let (media_id, _) = input_media(ctx.world, &req.media)?;
            ctx.world
                .media_tl(media_id)
                .map(|m| m.to_bytes())
                .ok_or_else(|| err("MEDIA_INVALID"))
        }
        f::messages::EditMessage::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::EditMessage>(body).map_err(bad)?;
            crate::posts::edit(ctx.world, me, &req)
        }
        f::messages::DeleteMessages::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::DeleteMessages>(body).map_err(bad)?;
            crate::posts::delete_basic(ctx.world, me, &req.id)
        }
        f::channels::DeleteMessages::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::channels::DeleteMessages>(body).map_err(bad)?;
            crate::posts::delete_channel(ctx.world, me, &req.channel, &req.id)
        }
        f::messages::UpdatePinnedMessage::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::UpdatePinnedMessage>(body).map_err(bad)?;
            crate::posts::pin(ctx.world, me, &req)
        }
        f::messages::GetMessages::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetMessages>(body).map_err(bad)?;
            Ok(crate::posts::get_basic(ctx.world, me, &req.id))
        }
        f::channels::GetMessages::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::channels::GetMessages>(body).map_err(bad)?;
            crate::posts::get_channel(ctx.world, me, &req.channel, &req.id)
        }
        f::messages::Search::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::Search>(body).map_err(bad)?;
            crate::search::search(ctx.world, me, &req)
        }
        f::messages::GetMessagesViews::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetMessagesViews>(body).map_err(bad)?;
            crate::reach::views(ctx.world, me, &req)
        }
        f::messages::GetMessagesReactions::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetMessagesReactions>(body).map_err(bad)?;
            crate::reach::reactions(ctx.world, me, &req)
        }
        f::channels::GetFullChannel::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::channels::GetFullChannel>(body).map_err(bad)?;
            crate::chats::full_channel(ctx.world, me, &req.channel)
        }
        f::messages::GetFullChat::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetFullChat>(body).map_err(bad)?;
            crate::chats::full_chat(ctx.world, me, req.chat_id)
        }
        f::messages::GetChats::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetChats>(body).map_err(bad)?;
            Ok(crate::chats::chats(ctx.world, me, &req.id))
        }
        f::channels::GetParticipant::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::channels::GetParticipant>(body).map_err(bad)?;
            crate::chats::participant(ctx.world, me, &req.channel, &req.participant)
        }
        f::messages::GetForumTopicsById::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let req = decode::<f::messages::GetForumTopicsById>(body).map_err(bad)?;
            crate::chats::forum_topics(ctx.world, me, &req.peer, &req.topics)
        }
        f::messages::SendMedia::CONSTRUCTOR_ID => {
            let req = decode::<f::messages::SendMedia>(body).map_err(bad)?;
            send_media(ctx, req)
        }
        f::auth::SendCode::CONSTRUCTOR_ID => {
            let req = decode::<f::auth::SendCode>(body).map_err(bad)?;
            if req.api_id == 0 || req.api_hash.is_empty() {
                return Err(err("API_ID_INVALID"));
            }
            let hash = crate::world::to_hex(&rand::random::<[u8; 8]>());
            ctx.world.logins.insert(
                hash.clone(),
                crate::world::PendingLogin {
                    phone: normalize_phone(&req.phone_number),
                },
            );
            Ok(tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
                r#type: tl::enums::auth::SentCodeType::App(tl::types::auth::SentCodeTypeApp {
                    length: ctx.world.login_code.len() as i32,
                }),
                phone_code_hash: hash,
                next_type: None,
                timeout: None,
            })
            .to_bytes())
        }
        f::auth::SignIn::CONSTRUCTOR_ID => {
            let req = decode::<f::auth::SignIn>(body).map_err(bad)?;
            sign_in(ctx, req)
        }
        f::account::GetPassword::CONSTRUCTOR_ID => get_password(ctx),
        f::auth::CheckPassword::CONSTRUCTOR_ID => {
            let req = decode::<f::auth::CheckPassword>(body).map_err(bad)?;
            check_password(ctx, req)
        }
        f::auth::ImportBotAuthorization::CONSTRUCTOR_ID => {
            let req = decode::<f::auth::ImportBotAuthorization>(body).map_err(bad)?;
            let bot = ctx
                .world
                .users
                .values()
                .find(|u| u.spec.bot_token.as_deref() == Some(req.bot_auth_token.as_str()))
                .map(|u| u.spec.id)
                .ok_or_else(|| err("ACCESS_TOKEN_INVALID"))?;
            authorize(ctx, bot)
        }
        f::auth::LogOut::CONSTRUCTOR_ID => {
            let me = ctx.me()?;
            let key_id = ctx.key_id;
            if let Some(k) = ctx.world.keys.get_mut(&key_id)
                && k.user == Some(me)
            {
                k.user = None;
            }
            Ok(tl::enums::auth::LoggedOut::Out(tl::types::auth::LoggedOut {
                future_auth_token: None,
            })
            .to_bytes())
        }
        _ => Err((400, "METHOD_NOT_SUPPORTED_BY_TEST_SERVER".to_owned())),
    }
}

fn config() -> Vec<u8> {
    let now = now_unix();
    // An empty dc_options list: grammers would otherwise overwrite the loopback address it was
    // given with the addresses in this list.
    tl::enums::Config::Config(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: false,
        blocked_mode: false,
        force_try_ipv6: false,
        date: now,
        expires: now + 3600,
        test_mode: true,
        this_dc: DC_ID,
        dc_options: Vec::new(),
        dc_txt_domain_name: String::new(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".to_owned(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: MAX_CAPTION as i32,
        message_length_max: MAX_TEXT as i32,
        webfile_dc_id: DC_ID,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    })
    .to_bytes()
}

fn dialogs(world: &World, me: i64) -> Vec<u8> {
    let mut dialogs = Vec::new();
    let mut messages = Vec::new();
    let mut chats = Vec::new();
    for (id, rec) in &world.chats {
        if !rec.is_member(me) {
            continue;
        }
        let (Some(peer), Some(chat)) = (world.peer_tl(*id), world.chat_tl(*id, me)) else {
            continue;
        };
        let top = rec.next_message_id - 1;
        dialogs.push(tl::enums::Dialog::Dialog(tl::types::Dialog {
            pinned: false,
            unread_mark: false,
            view_forum_as_messages: false,
            peer,
            top_message: top,
            read_inbox_max_id: top,
            read_outbox_max_id: top,
            unread_count: 0,
            unread_mentions_count: 0,
            unread_reactions_count: 0,
            unread_poll_votes_count: 0,
            notify_settings: tl::enums::PeerNotifySettings::Settings(
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
                },
            ),
            pts: (rec.spec.kind != ChatKind::Group).then_some(1),
            draft: None,
            folder_id: None,
            ttl_period: None,
        }));
        let last = world.ledger.iter().rev().find(|e| e.chat == id.to_string());
        let (text, date, from) = match last {
            Some(e) => (e.text.clone(), now_unix(), Some(e.account)),
            None => (String::new(), rec.created, None),
        };
        if let Some(m) = world.message_tl(top, *id, from, from == Some(me), date, &text, None, None)
        {
            messages.push(m);
        }
        chats.push(chat);
    }
    let users: Vec<_> = world.user_tl(me, me).into_iter().collect();
    tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
        dialogs,
        messages,
        chats,
        users,
    })
    .to_bytes()
}

fn resolve(world: &World, me: i64, username: &str) -> Reply {
    let name = username.trim_start_matches('@');
    if let Some(c) = world.chats.values().find(|c| {
        c.spec
            .username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(name))
    }) {
        let id = c.spec.id;
        return Ok(
            tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
                peer: world
                    .peer_tl(id)
                    .ok_or_else(|| err("USERNAME_NOT_OCCUPIED"))?,
                chats: world.chat_tl(id, me).into_iter().collect(),
                users: Vec::new(),
            })
            .to_bytes(),
        );
    }
    if let Some(u) = world.users.values().find(|u| {
        u.spec
            .username
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) {
        let id = u.spec.id;
        return Ok(
            tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
                peer: tl::types::PeerUser { user_id: id }.into(),
                chats: Vec::new(),
                users: world.user_tl(id, me).into_iter().collect(),
            })
            .to_bytes(),
        );
    }
    Err(err("USERNAME_NOT_OCCUPIED"))
}

/// Finds the chat an InputPeer names, checking the access hash.
pub(crate) fn chat_of(world: &World, peer: &tl::enums::InputPeer) -> Result<i64, (i32, String)> {
    match peer {
        tl::enums::InputPeer::Chat(c) => {
            let id = -c.chat_id;
            match world.chats.get(&id) {
                Some(rec) if rec.spec.kind == ChatKind::Group => Ok(id),
                _ => Err(err("PEER_ID_INVALID")),
            }
        }
        tl::enums::InputPeer::Channel(c) => world
            .channel(c.channel_id, c.access_hash)
            .ok_or_else(|| err("CHANNEL_INVALID")),
        _ => Err(err("PEER_ID_INVALID")),
    }
}

/// The membership and permission checks Telegram makes before accepting a post.
pub(crate) fn may_post(world: &World, me: i64, chat: i64) -> Result<(), (i32, String)> {
    let rec = world
        .chats
        .get(&chat)
        .ok_or_else(|| err("PEER_ID_INVALID"))?;
    let s = &rec.spec;
    if s.migrated_to.is_some() {
        // Telegram refuses the deactivated group by its id; the chat object (messages.getChats,
        // getFullChat, the dialogs) carries `migrated_to` with the new supergroup.
        return Err(err("PEER_ID_INVALID"));
    }
    if s.banned.contains(&me) {
        return Err(err("USER_BANNED_IN_CHANNEL"));
    }
    if !rec.is_member(me) {
        return Err(match (s.kind, &s.username) {
            (ChatKind::Group, _) => err("CHAT_ID_INVALID"),
            (_, None) => err("CHANNEL_PRIVATE"),
            (_, Some(_)) => err("CHAT_GUEST_SEND_FORBIDDEN"),
        });
    }
    if s.read_only {
        return Err(err("CHAT_WRITE_FORBIDDEN"));
    }
    if s.kind == ChatKind::Channel && !s.admins.contains(&me) {
        return Err(err("CHAT_ADMIN_REQUIRED"));
    }
    Ok(())
}

/// The forum checks of a send: a topic of a forum must exist (TOPIC_ID_INVALID) and be open
/// (TOPIC_CLOSED, admins excepted). General (no topic, or topic 1) is always open. A topic of
/// a chat that is not a forum is only a reply there: not checked.
fn may_post_into(
    world: &World,
    me: i64,
    chat: i64,
    topic: Option<i32>,
) -> Result<(), (i32, String)> {
    let Some(rec) = world.chats.get(&chat) else {
        return Ok(());
    };
    let s = &rec.spec;
    let Some(topic) = topic.filter(|t| *t > 1 && s.forum) else {
        return Ok(());
    };
    match s.topics.iter().find(|t| t.id == topic) {
        None => Err(err("TOPIC_ID_INVALID")),
        Some(t) if t.closed && !s.admins.contains(&me) => Err(err("TOPIC_CLOSED")),
        Some(_) => Ok(()),
    }
}

pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

pub(crate) fn entity_records(
    text: &str,
    entities: &Option<Vec<tl::enums::MessageEntity>>,
) -> Result<Vec<EntityRecord>, (i32, String)> {
    let len = utf16_len(text) as i64;
    let mut out = Vec::new();
    for e in entities.iter().flatten() {
        let (offset, length) = (e.offset(), e.length());
        if offset < 0 || length <= 0 || i64::from(offset) + i64::from(length) > len {
            return Err(err("ENTITY_BOUNDS_INVALID"));
        }
        let name = tl::name_for_id(ctor(&e.to_bytes()));
        let name = name
            .strip_prefix("inputMessageEntity")
            .or_else(|| name.strip_prefix("messageEntity"))
            .unwrap_or(name);
        let mut rec = EntityRecord {
            kind: snake(name),
            offset,
            length,
            url: None,
            user_id: None,
            language: None,
            document_id: None,
        };
        match e {
            tl::enums::MessageEntity::TextUrl(t) => rec.url = Some(t.url.clone()),
            tl::enums::MessageEntity::MentionName(m) => rec.user_id = Some(m.user_id),
            tl::enums::MessageEntity::InputMessageEntityMentionName(m) => match &m.user_id {
                tl::enums::InputUser::User(u) => rec.user_id = Some(u.user_id),
                _ => return Err(err("ENTITY_MENTION_USER_INVALID")),
            },
            tl::enums::MessageEntity::Pre(p) if !p.language.is_empty() => {
                rec.language = Some(p.language.clone());
            }
            tl::enums::MessageEntity::CustomEmoji(c) => rec.document_id = Some(c.document_id),
            _ => {}
        }
        out.push(rec);
    }
    Ok(out)
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The common part of sendMessage and sendMedia: checks, the fault plan, then acceptance.
fn pre_send(
    ctx: &mut Ctx,
    method: &str,
    peer: &tl::enums::InputPeer,
    reply_to: Option<(i32, Option<i32>)>,
) -> Result<(i64, i64), (i32, String)> {
    let me = ctx.me()?;
    let chat = chat_of(ctx.world, peer)?;
    ctx.send = Some((me, chat));
    // Told waits first: a send inside one is a violation whatever else it would meet.
    ctx.world.chaos.on_send(me, chat).map_err(|e| err(&e))?;
    may_post(ctx.world, me, chat)?;
    may_post_into(ctx.world, me, chat, reply_to.and_then(|(_, top)| top))?;
    if method != "messages.sendMessage"
        && let Some(rec) = ctx.world.chats.get(&chat)
        && rec.spec.media_banned
        && !rec.spec.admins.contains(&me)
    {
        return Err(err("CHAT_SEND_MEDIA_FORBIDDEN"));
    }
    match ctx
        .faults(method, Some(chat), reply_to.and_then(|(_, top)| top))
        .as_deref()
    {
        None | Some("DROP_AFTER") => Ok((me, chat)),
        // DROP is turned into a closed connection by the caller; the answer is never sent.
        Some("DROP") => Err((0, String::new())),
        Some(e) => Err(err(e)),
    }
}

fn send_message(ctx: &mut Ctx, req: f::messages::SendMessage) -> Reply {
    let reply_to = reply_of(&req.reply_to);
    let (me, chat) = pre_send(ctx, "messages.sendMessage", &req.peer, reply_to)?;
    if req.message.trim().is_empty() {
        return Err(err("MESSAGE_EMPTY"));
    }
    if utf16_len(&req.message) > MAX_TEXT {
        return Err(err("MESSAGE_TOO_LONG"));
    }
    let entities = entity_records(&req.message, &req.entities)?;
    let id = ctx
        .world
        .accept(
            me,
            chat,
            req.random_id,
            &req.message,
            entities,
            None,
            reply_to,
        )
        .map_err(|e| err(&e))?;
    Ok(
        tl::enums::Updates::UpdateShortSentMessage(tl::types::UpdateShortSentMessage {
            out: true,
            id,
            pts: ctx.world.pts,
            pts_count: 1,
            date: now_unix(),
            media: None,
            entities: req.entities.clone(),
            ttl_period: None,
        })
        .to_bytes(),
    )
}

fn send_media(ctx: &mut Ctx, req: f::messages::SendMedia) -> Reply {
    let reply_to = reply_of(&req.reply_to);
    let (me, chat) = pre_send(ctx, "messages.sendMedia", &req.peer, reply_to)?;
    if utf16_len(&req.message) > MAX_CAPTION {
        return Err(err("MEDIA_CAPTION_TOO_LONG"));
    }
    let entities = entity_records(&req.message, &req.entities)?;
    let (media_id, record) = input_media(ctx.world, &req.media)?;
    let id = ctx
        .world
        .accept(
            me,
            chat,
            req.random_id,
            &req.message,
            entities,
            Some(record),
            reply_to,
        )
        .map_err(|e| err(&e))?;
    let w = &*ctx.world;
    let media = w.media_tl(media_id);
    let message = w
        .message_tl(
            id,
            chat,
            Some(me),
            true,
            now_unix(),
            &req.message,
            media,
            req.entities.clone(),
        )
        .ok_or_else(|| err("PEER_ID_INVALID"))?;
    let is_channel = w
        .chats
        .get(&chat)
        .is_some_and(|c| c.spec.kind != ChatKind::Group);
    let new = if is_channel {
        tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
            message,
            pts: w.pts,
            pts_count: 1,
        })
    } else {
        tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
            message,
            pts: w.pts,
            pts_count: 1,
        })
    };
    Ok(tl::enums::Updates::Updates(tl::types::Updates {
        updates: vec![
            tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                id,
                random_id: req.random_id,
            }),
            new,
        ],
        users: w.user_tl(me, me).into_iter().collect(),
        chats: w.chat_tl(chat, me).into_iter().collect(),
        date: now_unix(),
        seq: 0,
    })
    .to_bytes())
}

/// The media of a send, an upload or an album item: an upload is stored as new media, a
/// reference must name stored media of its kind (MEDIA_INVALID otherwise). Answers the
/// stored media's id and the ledger's record of it.
fn input_media(
    world: &mut World,
    media: &tl::enums::InputMedia,
) -> Result<(i64, MediaRecord), (i32, String)> {
    let uploaded =
        |world: &World, file: &tl::enums::InputFile| -> Result<(i64, String, i64), (i32, String)> {
            let (id, name) = match file {
                tl::enums::InputFile::File(f) => (f.id, f.name.clone()),
                tl::enums::InputFile::Big(f) => (f.id, f.name.clone()),
                tl::enums::InputFile::StoryDocument(_) => return Err(err("MEDIA_INVALID")),
            };
            let size = world
                .uploads
                .get(&id)
                .copied()
                .ok_or_else(|| err("FILE_PARTS_INVALID"))?;
            Ok((id, name, size as i64))
        };
    Ok(match media {
        tl::enums::InputMedia::UploadedPhoto(p) => {
            let (file_id, name, size) = uploaded(world, &p.file)?;
            let id = world.store_media(StoredMedia {
                access_hash: access_hash_for(file_id),
                file_reference: file_id.to_le_bytes().to_vec(),
                document: false,
                mime_type: "image/jpeg".to_owned(),
                name,
                size,
            });
            (
                id,
                MediaRecord {
                    kind: "photo".to_owned(),
                    file_id: id,
                    reused: false,
                },
            )
        }
        tl::enums::InputMedia::UploadedDocument(d) => {
            let (file_id, name, size) = uploaded(world, &d.file)?;
            let id = world.store_media(StoredMedia {
                access_hash: access_hash_for(file_id),
                file_reference: file_id.to_le_bytes().to_vec(),
                document: true,
                mime_type: d.mime_type.clone(),
                name,
                size,
            });
            (
                id,
                MediaRecord {
                    kind: "document".to_owned(),
                    file_id: id,
                    reused: false,
                },
            )
        }
        tl::enums::InputMedia::Photo(p) => {
            let tl::enums::InputPhoto::Photo(p) = &p.id else {
                return Err(err("MEDIA_INVALID"));
            };
            match world.media.get(&p.id) {
                Some(m) if !m.document && m.access_hash == p.access_hash => {
                    if m.file_reference != p.file_reference {
                        return Err(err("FILE_REFERENCE_EXPIRED"));
                    }
                }
                _ => return Err(err("MEDIA_INVALID")),
            }
            (
                p.id,
                MediaRecord {
                    kind: "photo".to_owned(),
                    file_id: p.id,
                    reused: true,
                },
            )
        }
        tl::enums::InputMedia::Document(d) => {
            let tl::enums::InputDocument::Document(d) = &d.id else {
                return Err(err("MEDIA_INVALID"));
            };
            match world.media.get(&d.id) {
                Some(m) if m.document && m.access_hash == d.access_hash => {
                    if m.file_reference != d.file_reference {
                        return Err(err("FILE_REFERENCE_EXPIRED"));
                    }
                }
                _ => return Err(err("MEDIA_INVALID")),
            }
            (
                d.id,
                MediaRecord {
                    kind: "document".to_owned(),
                    file_id: d.id,
                    reused: true,
                },
            )
        }
        _ => return Err(err("MEDIA_INVALID")),
    })
}

fn send_multi_media(ctx: &mut Ctx, req: f::messages::SendMultiMedia) -> Reply {
    let reply_to = reply_of(&req.reply_to);
    let (me, chat) = pre_send(ctx, "messages.sendMultiMedia", &req.peer, reply_to)?;
    if req.multi_media.len() > MAX_ALBUM {
        return Err(err("MULTI_MEDIA_TOO_LONG"));
    }
    if req.multi_media.len() < 2 {
        // One item is a plain messages.sendMedia.
        return Err(err("MEDIA_INVALID"));
    }
    let mut items = Vec::new();
    let mut documents = None;
    for item in &req.multi_media {
        let tl::enums::InputSingleMedia::Media(item) = item;
        // Telegram wants an album's media uploaded first (messages.uploadMedia): references.
        let document = match &item.media {
            tl::enums::InputMedia::Photo(_) => false,
            tl::enums::InputMedia::Document(_) => true,
            _ => return Err(err("MEDIA_INVALID")),
        };
        if *documents.get_or_insert(document) != document {
            // Documents go with documents only.
            return Err(err("MEDIA_INVALID"));
        }
        if utf16_len(&item.message) > MAX_CAPTION {
            return Err(err("MEDIA_CAPTION_TOO_LONG"));
        }
        let entities = entity_records(&item.message, &item.entities)?;
        let (_, record) = input_media(ctx.world, &item.media)?;
        items.push((item, entities, record));
    }
    let mut ids = HashSet::new();
    if !items.iter().all(|(i, ..)| ids.insert(i.random_id)) {
        return Err(err("RANDOM_ID_INVALID"));
    }
    if items.iter().any(|(i, ..)| ctx.world.seen(me, i.random_id)) {
        ctx.world.count_duplicate();
        return Err(err("RANDOM_ID_DUPLICATE"));
    }
    ctx.world
        .admit(me, chat, items[0].0.random_id)
        .map_err(|e| err(&e))?;
    let group = ctx.world.new_group_id();
    let mut updates = Vec::new();
    let mut news = Vec::new();
    for (item, entities, record) in items {
        let id = ctx
            .world
            .record(
                me,
                chat,
                item.random_id,
                &item.message,
                entities,
                Some(record),
                reply_to,
                Some(group),
            )
            .map_err(|e| err(&e))?;
        updates.push(tl::enums::Update::MessageId(tl::types::UpdateMessageId {
            id,
            random_id: item.random_id,
        }));
        news.push(id);
    }
    let w = &*ctx.world;
    let is_channel = w
        .chats
        .get(&chat)
        .is_some_and(|c| c.spec.kind != ChatKind::Group);
    for id in news {
        let message = w
            .post_tl(chat, id, me)
            .ok_or_else(|| err("PEER_ID_INVALID"))?;
        updates.push(if is_channel {
            tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
                message,
                pts: w.pts,
                pts_count: 1,
            })
        } else {
            tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message,
                pts: w.pts,
                pts_count: 1,
            })
        });
    }
    Ok(tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users: w.user_tl(me, me).into_iter().collect(),
        chats: w.chat_tl(chat, me).into_iter().collect(),
        date: now_unix(),
        seq: 0,
    })
    .to_bytes())
}

fn normalize_phone(p: &str) -> String {
    p.chars().filter(char::is_ascii_digit).collect()
}

fn authorize(ctx: &mut Ctx, user: i64) -> Reply {
    let key_id = ctx.key_id;
    ctx.world.bind(&key_id, user);
    ctx.world.passwords.remove(&key_id);
    let user_tl = ctx
        .world
        .user_tl(user, user)
        .ok_or_else(|| err("USER_ID_INVALID"))?;
    Ok(
        tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
            setup_password_required: false,
            otherwise_relogin_days: None,
            tmp_sessions: None,
            future_auth_token: None,
            user: user_tl,
        })
        .to_bytes(),
    )
}

fn sign_in(ctx: &mut Ctx, req: f::auth::SignIn) -> Reply {
    let login = ctx
        .world
        .logins
        .get(&req.phone_code_hash)
        .ok_or_else(|| err("PHONE_CODE_EXPIRED"))?;
    if login.phone != normalize_phone(&req.phone_number) {
        return Err(err("PHONE_NUMBER_INVALID"));
    }
    let phone = login.phone.clone();
    if req.phone_code.as_deref() != Some(ctx.world.login_code.as_str()) {
        return Err(err("PHONE_CODE_INVALID"));
    }
    ctx.world.logins.remove(&req.phone_code_hash);
    let user = ctx
        .world
        .users
        .values()
        .find(|u| {
            u.spec
                .phone
                .as_deref()
                .is_some_and(|p| normalize_phone(p) == phone)
        })
        .map(|u| (u.spec.id, u.spec.password.is_some()));
    match user {
        None => Ok(tl::enums::auth::Authorization::SignUpRequired(
            tl::types::auth::AuthorizationSignUpRequired {
                terms_of_service: None,
            },
        )
        .to_bytes()),
        Some((id, true)) => {
            let key_id = ctx.key_id;
            ctx.world.passwords.insert(
                key_id,
                crate::world::PendingPassword {
                    user: id,
                    srp_id: 0,
                    secure_random: Vec::new(),
                },
            );
            Err((401, "SESSION_PASSWORD_NEEDED".to_owned()))
        }
        Some((id, false)) => authorize(ctx, id),
    }
}

fn srp_p() -> Vec<u8> {
    (0..SRP_P.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&SRP_P[i..i + 2], 16).ok())
        .collect()
}

/// Salts are derived from the user id so a test can recompute them; SRP's `g_b` only has to
/// be a valid group element, because the server checks the client's M1 by computing it
/// with the same `a` (the secure_random it hands out) and the password it knows.
fn srp_params(user: i64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let salt1 = [user.to_le_bytes().to_vec(), vec![1; 8]].concat();
    let salt2 = [user.to_le_bytes().to_vec(), vec![2; 8]].concat();
    let mut g_b = vec![0u8; 256];
    g_b[0] = 0x42;
    g_b[255] = 0x07;
    (salt1, salt2, g_b)
}

fn get_password(ctx: &mut Ctx) -> Reply {
    let key_id = ctx.key_id;
    let user = match (ctx.world.passwords.get(&key_id), ctx.user) {
        (Some(p), _) => p.user,
        (None, Some(u)) => u,
        (None, None) => return Err(err("AUTH_KEY_UNREGISTERED")),
    };
    let has_password = ctx
        .world
        .users
        .get(&user)
        .is_some_and(|u| u.spec.password.is_some());
    let (salt1, salt2, g_b) = srp_params(user);
    let secure_random: Vec<u8> = rand::random::<[u8; 32]>().to_vec();
    let srp_id: i64 = rand::random();
    ctx.world.passwords.insert(
        key_id,
        crate::world::PendingPassword {
            user,
            srp_id,
            secure_random: secure_random.clone(),
        },
    );
    let algo = tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
        tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
            salt1,
            salt2,
            g: 3,
            p: srp_p(),
        },
    );
    Ok(
        tl::enums::account::Password::Password(tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password,
            current_algo: has_password.then(|| algo.clone()),
            srp_b: has_password.then(|| g_b.clone()),
            srp_id: has_password.then_some(srp_id),
            hint: None,
            email_unconfirmed_pattern: None,
            new_algo: algo,
            new_secure_algo: tl::enums::SecurePasswordKdfAlgo::Unknown,
            secure_random,
            pending_reset_date: None,
            login_email_pattern: None,
        })
        .to_bytes(),
    )
}

fn check_password(ctx: &mut Ctx, req: f::auth::CheckPassword) -> Reply {
    let key_id = ctx.key_id;
    let tl::enums::InputCheckPasswordSrp::Srp(srp) = req.password else {
        return Err(err("PASSWORD_HASH_INVALID"));
    };
    let pending = ctx
        .world
        .passwords
        .get(&key_id)
        .ok_or_else(|| err("SRP_ID_INVALID"))?;
    if pending.srp_id != srp.srp_id || pending.secure_random.is_empty() {
        return Err(err("SRP_ID_INVALID"));
    }
    let user = pending.user;
    let password = ctx
        .world
        .users
        .get(&user)
        .and_then(|u| u.spec.password.clone())
        .ok_or_else(|| err("PASSWORD_HASH_INVALID"))?;
    let (salt1, salt2, g_b) = srp_params(user);
    let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
        &salt1,
        &salt2,
        &srp_p(),
        &3,
        g_b,
        pending.secure_random.clone(),
        password.as_bytes(),
    );
    if srp.m1 != m1 || srp.a != g_a {
        return Err(err("PASSWORD_HASH_INVALID"));
    }
    authorize(ctx, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_follow_telegram() {
        assert_eq!(code_for("FLOOD_WAIT_30"), 420);
        assert_eq!(code_for("SLOWMODE_WAIT_5"), 420);
        assert_eq!(code_for("AUTH_KEY_UNREGISTERED"), 401);
        assert_eq!(code_for("CHAT_WRITE_FORBIDDEN"), 403);
        assert_eq!(code_for("CHANNEL_PRIVATE"), 400);
        assert_eq!(code_for("RANDOM_ID_DUPLICATE"), 500);
    }

    #[test]
    fn entity_kinds_are_snake_case() {
        assert_eq!(snake("TextUrl"), "text_url");
        assert_eq!(snake("Bold"), "bold");
    }
}
