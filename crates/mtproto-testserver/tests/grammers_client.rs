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
    client
        .invoke(&send(peer, "after the flood", 80))
        .await
        .expect("the rule hit once");

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
