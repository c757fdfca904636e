//! A real grammers client against the test server: connect with a pre-seeded key, send,
//! log in by code and with 2FA, and see faults and the ledger.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, InvocationError, NoRetries, SenderPool};
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_tl_types as tl;
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, TestServer, UserSpec};

const API_ID: i32 = 12345;
const ALICE: i64 = 1001;
const SHOP: i64 = -1_001_000_000_001;
const GROUP: i64 = -4001;

fn fixture() -> Fixture {
    Fixture::default()
        .user(
            UserSpec::new(ALICE, "Alice")
                .username("alice")
                .phone("+15550001"),
        )
        .user(
            UserSpec::new(1002, "Bob")
                .phone("+15550002")
                .password("hunter2"),
        )
        .chat(
            ChatSpec::new(SHOP, "Shop", ChatKind::Supergroup)
                .username("shop_chat")
                .members(&[ALICE]),
        )
        .chat(ChatSpec::new(GROUP, "Friends", ChatKind::Group).members(&[ALICE]))
}

fn connect(addr: SocketAddr, key: [u8; 256]) -> Client {
    let SocketAddr::V4(v4) = addr else {
        panic!("loopback v4")
    };
    let mut data = SessionData {
        home_dc: 2,
        ..Default::default()
    };
    // Seed every DC the client could touch with the loopback address.
    for id in 1..=5 {
        data.dc_options.insert(
            id,
            DcOption {
                id,
                ipv4: SocketAddrV4::new(*v4.ip(), v4.port()),
                ipv6: SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
                auth_key: (id == 2).then_some(key),
            },
        );
    }
    let session = Arc::new(MemorySession::from(data));
    let pool = SenderPool::with_configuration(
        session,
        API_ID,
        ConnectionParams {
            retry_policy: Box::new(NoRetries),
            ..Default::default()
        },
    );
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    drop(pool.updates);
    client
}

fn send(
    peer: tl::enums::InputPeer,
    text: &str,
    random_id: i64,
) -> tl::functions::messages::SendMessage {
    tl::functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer,
        reply_to: None,
        message: text.to_owned(),
        random_id,
        reply_markup: None,
        entities: Some(vec![
            tl::types::MessageEntityBold {
                offset: 0,
                length: 5,
            }
            .into(),
        ]),
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    }
}

async fn shop_peer(client: &Client) -> tl::enums::InputPeer {
    let tl::enums::contacts::ResolvedPeer::Peer(r) = client
        .invoke(&tl::functions::contacts::ResolveUsername {
            username: "shop_chat".into(),
            referer: None,
        })
        .await
        .expect("resolves");
    let Some(tl::enums::Chat::Channel(c)) = r.chats.first() else {
        panic!("a channel: {r:?}")
    };
    tl::types::InputPeerChannel {
        channel_id: c.id,
        access_hash: c.access_hash.expect("hash"),
    }
    .into()
}

#[tokio::test]
async fn grammers_sends_through_the_test_server() {
    let server = TestServer::start(fixture()).await.expect("starts");
    let client = connect(server.addr(), server.auth_key(ALICE).expect("key"));

    assert!(client.is_authorized().await.expect("getState"));
    let me = client
        .invoke(&tl::functions::users::GetUsers {
            id: vec![tl::enums::InputUser::UserSelf],
        })
        .await
        .expect("getUsers");
    assert_eq!(me[0].id(), ALICE);

    let peer = shop_peer(&client).await;
    let sent = client
        .invoke(&send(peer.clone(), "Hello, shop", 77))
        .await
        .expect("sends");
    assert!(
        matches!(sent, tl::enums::Updates::UpdateShortSentMessage(_)),
        "{sent:?}"
    );
    let group: tl::enums::InputPeer = tl::types::InputPeerChat { chat_id: 4001 }.into();
    client
        .invoke(&send(group, "Hello, group", 78))
        .await
        .expect("sends to the basic group");

    let ledger = server.ledger();
    assert_eq!(ledger.len(), 2);
    assert_eq!(
        (
            ledger[0].chat.as_str(),
            ledger[0].random_id,
            ledger[0].text.as_str()
        ),
        ("-1001000000001", 77, "Hello, shop")
    );
    assert_eq!(ledger[0].entities[0].kind, "bold");
    assert_eq!(ledger[1].chat, "-4001");

    // Same random_id again: Telegram's answer, and no second ledger entry.
    let again = client.invoke(&send(peer.clone(), "Hello, shop", 77)).await;
    assert!(
        matches!(&again, Err(InvocationError::Rpc(e)) if e.name == "RANDOM_ID_DUPLICATE"),
        "{again:?}"
    );
    assert_eq!(server.ledger().len(), 2);
    assert_eq!(server.duplicates(), 1);

    server.add_fault(FaultRule::error("FLOOD_WAIT_42").times(1));
    let flood = client.invoke(&send(peer.clone(), "x", 79)).await;
    assert!(
        matches!(&flood, Err(InvocationError::Rpc(e)) if e.name == "FLOOD_WAIT" && e.value == Some(42) && e.code == 420),
        "{flood:?}"
    );
    // The rule hit once, but like Telegram the server holds the account to the wait it told:
    // a send inside it is refused with the time left.
    let again = client
        .invoke(&send(peer, "inside the flood wait", 80))
        .await;
    assert!(
        matches!(&again, Err(InvocationError::Rpc(e)) if e.name == "FLOOD_WAIT" && e.value.is_some_and(|v| (1..=42).contains(&v))),
        "{again:?}"
    );

    // Big answers come gzip-packed; a dialog list with the messages is enough to exceed 1 KiB.
    let tl::enums::messages::Dialogs::Dialogs(d) = client
        .invoke(&tl::functions::messages::GetDialogs {
            exclude_pinned: false,
            folder_id: None,
            offset_date: 0,
            offset_id: 0,
            offset_peer: tl::enums::InputPeer::Empty,
            limit: 100,
            hash: 0,
        })
        .await
        .expect("dialogs")
    else {
        panic!("full dialog list")
    };
    assert_eq!(d.dialogs.len(), 2);
}

#[tokio::test]
async fn login_by_code_binds_the_key() {
    let server = TestServer::start(fixture()).await.expect("starts");
    let key = server.new_auth_key();
    let client = connect(server.addr(), key);
    assert!(!client.is_authorized().await.expect("answers 401"));
    let token = client
        .request_login_code("+15550001", "hash")
        .await
        .expect("code sent");
    let wrong = client.sign_in(&token, "00000").await;
    assert!(
        matches!(wrong, Err(grammers_client::SignInError::InvalidCode)),
        "{wrong:?}"
    );
    let token = client
        .request_login_code("+15550001", "hash")
        .await
        .expect("code sent");
    let user = client
        .sign_in(&token, &server.login_code())
        .await
        .expect("signs in");
    assert_eq!(user.id().bare_id(), Some(ALICE));
    assert_eq!(server.user_of_key(&key), Some(ALICE));

    let token = client
        .request_login_code("+15559999", "hash")
        .await
        .expect("code sent");
    let unknown = client.sign_in(&token, &server.login_code()).await;
    assert!(
        matches!(unknown, Err(grammers_client::SignInError::SignUpRequired)),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn login_with_two_factor_password() {
    let server = TestServer::start(fixture()).await.expect("starts");
    let key = server.new_auth_key();
    let client = connect(server.addr(), key);
    let token = client
        .request_login_code("+15550002", "hash")
        .await
        .expect("code sent");
    let Err(grammers_client::SignInError::PasswordRequired(pw)) =
        client.sign_in(&token, &server.login_code()).await
    else {
        panic!("2FA expected")
    };
    let wrong = client.check_password(pw, "nope").await;
    let Err(grammers_client::SignInError::InvalidPassword(pw)) = wrong else {
        panic!("{wrong:?}")
    };
    let user = client
        .check_password(pw, "hunter2")
        .await
        .expect("right password");
    assert_eq!(user.id().bare_id(), Some(1002));
    assert_eq!(server.user_of_key(&key), Some(1002));
}

// ---- chats as they are: forums, full info, membership, migration ------------------------

const FORUM: i64 = -1_001_000_000_010;
const SLOW: i64 = -1_001_000_000_011;
const PUBLIC_OTHER: i64 = -1_001_000_000_012;
const PRIVATE_OTHER: i64 = -1_001_000_000_013;
const BANNED_IN: i64 = -1_001_000_000_014;
const NEW_SUPER: i64 = -1_001_000_000_020;

fn chats_fixture() -> Fixture {
    fixture()
        .chat(
            ChatSpec::new(FORUM, "Gadgets forum", ChatKind::Supergroup)
                .username("gadgets_forum")
                .members(&[ALICE])
                .topic(7, "Prices")
                .closed_topic(9, "Archive"),
        )
        .chat(
            ChatSpec::new(SLOW, "Slow wholesale", ChatKind::Supergroup)
                .members(&[ALICE])
                .slow_mode(600)
                .media_banned(),
        )
        .chat(
            ChatSpec::new(PUBLIC_OTHER, "Open market", ChatKind::Supergroup)
                .username("open_market"),
        )
        .chat(ChatSpec::new(
            PRIVATE_OTHER,
            "Closed club",
            ChatKind::Supergroup,
        ))
        .chat(
            ChatSpec::new(BANNED_IN, "Strict market", ChatKind::Supergroup)
                .members(&[ALICE])
                .banned(&[ALICE]),
        )
}

fn channel_peer(server: &TestServer, chat: i64) -> tl::enums::InputPeer {
    tl::types::InputPeerChannel {
        channel_id: -chat - 1_000_000_000_000,
        access_hash: server.access_hash(chat).expect("known chat"),
    }
    .into()
}

fn input_channel(server: &TestServer, chat: i64) -> tl::enums::InputChannel {
    tl::types::InputChannel {
        channel_id: -chat - 1_000_000_000_000,
        access_hash: server.access_hash(chat).expect("known chat"),
    }
    .into()
}

fn in_topic(
    mut req: tl::functions::messages::SendMessage,
    topic: i32,
) -> tl::functions::messages::SendMessage {
    req.reply_to = Some(
        tl::types::InputReplyToMessage {
            reply_to_msg_id: topic,
            top_msg_id: Some(topic),
            reply_to_peer_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            monoforum_peer_id: None,
            todo_item_id: None,
            poll_option: None,
        }
        .into(),
    );
    req
}

fn rpc_name<T: std::fmt::Debug>(r: &Result<T, InvocationError>) -> String {
    match r {
        Err(InvocationError::Rpc(e)) => match e.value {
            Some(v) => format!("{}_{v}", e.name),
            None => e.name.clone(),
        },
        other => panic!("an RPC error expected: {other:?}"),
    }
}

#[tokio::test]
async fn posts_land_in_their_topic_and_a_closed_topic_refuses() {
    let server = TestServer::start(chats_fixture()).await.expect("starts");
    let client = connect(server.addr(), server.auth_key(ALICE).expect("key"));
    let forum = channel_peer(&server, FORUM);

    client
        .invoke(&in_topic(send(forum.clone(), "Price list", 1), 7))
        .await
        .expect("into topic 7");
    client
        .invoke(&send(forum.clone(), "Hello all", 2))
        .await
        .expect("into General");
    let closed = client
        .invoke(&in_topic(send(forum.clone(), "late", 3), 9))
        .await;
    assert_eq!(rpc_name(&closed), "TOPIC_CLOSED");
    let missing = client
        .invoke(&in_topic(send(forum.clone(), "where", 4), 11))
        .await;
    assert_eq!(rpc_name(&missing), "TOPIC_ID_INVALID");
    assert!(server.set_topic_closed(FORUM, 9, false));
    client
        .invoke(&in_topic(send(forum.clone(), "reopened", 5), 9))
        .await
        .expect("topic 9 open again");

    let got: Vec<(String, Option<i32>, i64)> = server
        .ledger()
        .iter()
        .map(|e| (e.chat.clone(), e.topic, e.random_id))
        .collect();
    let forum_id = FORUM.to_string();
    assert_eq!(
        got,
        [
            (forum_id.clone(), Some(7), 1),
            (forum_id.clone(), None, 2),
            (forum_id, Some(9), 5)
        ]
    );

    // The topics as a client reads them: open, open again, and an unknown one deleted.
    assert!(server.set_topic_closed(FORUM, 9, true));
    let tl::enums::messages::ForumTopics::Topics(t) = client
        .invoke(&tl::functions::messages::GetForumTopicsById {
            peer: forum,
            topics: vec![7, 9, 11],
        })
        .await
        .expect("topics");
    let states: Vec<(i32, Option<bool>)> = t
        .topics
        .iter()
        .map(|x| match x {
            tl::enums::ForumTopic::Topic(x) => (x.id, Some(x.closed)),
            tl::enums::ForumTopic::Deleted(x) => (x.id, None),
        })
        .collect();
    assert_eq!(states, [(7, Some(false)), (9, Some(true)), (11, None)]);
    let Some(tl::enums::Chat::Channel(c)) = t.chats.first() else {
        panic!("the forum comes along: {:?}", t.chats)
    };
    assert!(c.forum && c.megagroup);

    // Not a forum: no topics to ask about.
    let no_forum = client
        .invoke(&tl::functions::messages::GetForumTopicsById {
            peer: channel_peer(&server, SHOP),
            topics: vec![7],
        })
        .await;
    assert_eq!(rpc_name(&no_forum), "CHANNEL_FORUM_MISSING");
}

#[tokio::test]
async fn full_chat_info_gives_slow_mode_rights_and_title() {
    let server = TestServer::start(chats_fixture()).await.expect("starts");
    let client = connect(server.addr(), server.auth_key(ALICE).expect("key"));

    let tl::enums::messages::ChatFull::Full(full) = client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input_channel(&server, SLOW),
        })
        .await
        .expect("full channel");
    let tl::enums::ChatFull::ChannelFull(f) = &full.full_chat else {
        panic!("{:?}", full.full_chat)
    };
    assert_eq!(f.slowmode_seconds, Some(600));
    let Some(tl::enums::Chat::Channel(c)) = full.chats.first() else {
        panic!("{:?}", full.chats)
    };
    assert_eq!(c.title, "Slow wholesale");
    assert!(c.slowmode_enabled && !c.left && !c.forum);
    let Some(tl::enums::ChatBannedRights::Rights(r)) = &c.default_banned_rights else {
        panic!("default rights expected: {c:?}")
    };
    assert!(r.send_media && !r.send_messages, "{r:?}");

    // A chat without restrictions has none and no slow mode.
    let tl::enums::messages::ChatFull::Full(full) = client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input_channel(&server, SHOP),
        })
        .await
        .expect("full channel");
    let tl::enums::ChatFull::ChannelFull(f) = &full.full_chat else {
        panic!()
    };
    assert_eq!(f.slowmode_seconds, None);
    let Some(tl::enums::Chat::Channel(c)) = full.chats.first() else {
        panic!()
    };
    assert!(c.default_banned_rights.is_none() && c.banned_rights.is_none());

    // Media refused where media is banned; text goes through.
    client
        .invoke(&tl::functions::upload::SaveFilePart {
            file_id: 99,
            file_part: 0,
            bytes: vec![1, 2, 3],
        })
        .await
        .expect("upload");
    let media = client
        .invoke(&tl::functions::messages::SendMedia {
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: channel_peer(&server, SLOW),
            reply_to: None,
            media: tl::types::InputMediaUploadedPhoto {
                spoiler: false,
                live_photo: false,
                file: tl::types::InputFile {
                    id: 99,
                    parts: 1,
                    name: "p.jpg".into(),
                    md5_checksum: String::new(),
                }
                .into(),
                stickers: None,
                ttl_seconds: None,
                video: None,
            }
            .into(),
            message: "caption".into(),
            random_id: 10,
            reply_markup: None,
            entities: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_stars: None,
            suggested_post: None,
        })
        .await;
    assert_eq!(rpc_name(&media), "CHAT_SEND_MEDIA_FORBIDDEN");
    client
        .invoke(&send(channel_peer(&server, SLOW), "Hello, text", 11))
        .await
        .expect("text is allowed");

    // A basic group: messages.getFullChat with its title.
    let tl::enums::messages::ChatFull::Full(full) = client
        .invoke(&tl::functions::messages::GetFullChat { chat_id: 4001 })
        .await
        .expect("full chat");
    let Some(tl::enums::Chat::Chat(g)) = full.chats.first() else {
        panic!("{:?}", full.chats)
    };
    assert_eq!(
        (g.title.as_str(), g.left, g.deactivated),
        ("Friends", false, false)
    );
    let tl::enums::ChatFull::Full(f) = &full.full_chat else {
        panic!()
    };
    let tl::enums::ChatParticipants::Participants(p) = &f.participants else {
        panic!()
    };
    assert_eq!(p.participants.len(), 1);
}

#[tokio::test]
async fn membership_is_self_banned_not_participant_or_private() {
    let server = TestServer::start(chats_fixture()).await.expect("starts");
    let client = connect(server.addr(), server.auth_key(ALICE).expect("key"));
    let me = |chat| tl::functions::channels::GetParticipant {
        channel: input_channel(&server, chat),
        participant: tl::enums::InputPeer::PeerSelf,
    };
    let tl::enums::channels::ChannelParticipant::Participant(p) =
        client.invoke(&me(SHOP)).await.expect("a member");
    assert!(
        matches!(p.participant, tl::enums::ChannelParticipant::ParticipantSelf(ref s) if s.user_id == ALICE),
        "{:?}",
        p.participant
    );
    let tl::enums::channels::ChannelParticipant::Participant(p) =
        client.invoke(&me(BANNED_IN)).await.expect("banned");
    let tl::enums::ChannelParticipant::Banned(b) = &p.participant else {
        panic!("{:?}", p.participant)
    };
    let tl::enums::ChatBannedRights::Rights(r) = &b.banned_rights;
    assert!(r.send_messages);
    assert_eq!(
        rpc_name(&client.invoke(&me(PUBLIC_OTHER)).await),
        "USER_NOT_PARTICIPANT"
    );
    assert_eq!(
        rpc_name(&client.invoke(&me(PRIVATE_OTHER)).await),
        "CHANNEL_PRIVATE"
    );
    // A private chat one is not in has no full info either; a public one has (left).
    let private = client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input_channel(&server, PRIVATE_OTHER),
        })
        .await;
    assert_eq!(rpc_name(&private), "CHANNEL_PRIVATE");
    let tl::enums::messages::ChatFull::Full(full) = client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input_channel(&server, PUBLIC_OTHER),
        })
        .await
        .expect("a public chat can be looked at");
    assert!(matches!(full.chats.first(), Some(tl::enums::Chat::Channel(c)) if c.left));
}

#[tokio::test]
async fn an_upgraded_group_refuses_its_old_id_and_names_the_new_one() {
    let server = TestServer::start(chats_fixture()).await.expect("starts");
    let client = connect(server.addr(), server.auth_key(ALICE).expect("key"));
    let old: tl::enums::InputPeer = tl::types::InputPeerChat { chat_id: 4001 }.into();
    client
        .invoke(&send(old.clone(), "before", 1))
        .await
        .expect("a basic group still");

    server
        .migrate_group(
            GROUP,
            ChatSpec::new(NEW_SUPER, "Friends", ChatKind::Supergroup),
        )
        .expect("migrates");
    let refused = client.invoke(&send(old, "after", 2)).await;
    assert!(
        matches!(&refused, Err(InvocationError::Rpc(e)) if e.name == "PEER_ID_INVALID" && e.code == 400),
        "{refused:?}"
    );

    // The old group, as the client reads it, names the new supergroup with its access hash.
    let tl::enums::messages::Chats::Chats(c) = client
        .invoke(&tl::functions::messages::GetChats { id: vec![4001] })
        .await
        .expect("chats")
    else {
        panic!("the whole list")
    };
    let Some(tl::enums::Chat::Chat(g)) = c.chats.first() else {
        panic!("{:?}", c.chats)
    };
    assert!(g.deactivated);
    let Some(tl::enums::InputChannel::Channel(to)) = &g.migrated_to else {
        panic!("migrated_to expected: {g:?}")
    };
    assert_eq!(to.channel_id, -NEW_SUPER - 1_000_000_000_000);
    let new: tl::enums::InputPeer = tl::types::InputPeerChannel {
        channel_id: to.channel_id,
        access_hash: to.access_hash,
    }
    .into();
    client
        .invoke(&send(new, "under the new id", 3))
        .await
        .expect("the members came along");
    let tl::enums::messages::ChatFull::Full(full) = client
        .invoke(&tl::functions::channels::GetFullChannel {
            channel: input_channel(&server, NEW_SUPER),
        })
        .await
        .expect("full channel");
    let tl::enums::ChatFull::ChannelFull(f) = &full.full_chat else {
        panic!()
    };
    assert_eq!(f.migrated_from_chat_id, Some(4001));
    let ledger = server.ledger();
    let chats: Vec<&str> = ledger.iter().map(|e| e.chat.as_str()).collect();
    assert_eq!(chats, ["-4001", "-1001000000020"]);
}

#[test]
fn bad_forum_and_migration_fixtures_are_refused() {
    let group_forum = Fixture::default().chat(ChatSpec::new(-5, "G", ChatKind::Group).forum());
    assert!(group_forum.validate().is_err());
    let to_nowhere = Fixture::default()
        .chat(ChatSpec::new(-5, "G", ChatKind::Group).migrated_to(-1_001_000_000_099));
    assert!(to_nowhere.validate().is_err());
    let general = Fixture::default()
        .chat(ChatSpec::new(-1_001_000_000_001, "F", ChatKind::Supergroup).topic(1, "General"));
    assert!(general.validate().is_err());
    let ok = Fixture::default()
        .chat(ChatSpec::new(-1_001_000_000_001, "S", ChatKind::Supergroup))
        .chat(ChatSpec::new(-5, "G", ChatKind::Group).migrated_to(-1_001_000_000_001));
    assert!(ok.validate().is_ok());
}
