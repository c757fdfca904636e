//! A real grammers client reaching the MTProto test server through the MTProxy bridge and the
//! test MTProxy: all three secret kinds, a large message, a dropped proxy connection, a wrong
//! secret, a DC other than home, and `check_proxy`.
//!
//! grammers is given made-up DC addresses (TEST-NET 192.0.2.N): they work only because every
//! connection goes through the bridge, which maps them to DC ids for the proxy.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool};
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_tl_types as tl;
use rand::{Rng, RngCore};
use smb_mtproto_testserver::mtproxy::{ProxyMode, TestMtproxy};
use smb_mtproto_testserver::{ChatKind, ChatSpec, Fixture, TestServer, UserSpec};
use smb_telegram::mtproxy::{
    MtproxyBridge, MtproxyError, MtproxySecret, MtproxySettings, ProxyTimeouts, check_proxy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: i64 = 1001;
const SHOP: i64 = -1_001_000_000_001;
const KEY: [u8; 16] = *b"0123456789abcdef";
const DOMAIN: &str = "www.example.com";

fn fixture() -> Fixture {
    Fixture::default()
        .user(UserSpec::new(ALICE, "Alice").phone("+15550001"))
        .chat(
            ChatSpec::new(SHOP, "Shop", ChatKind::Supergroup)
                .username("shop_chat")
                .members(&[ALICE]),
        )
}

/// The made-up address grammers dials for DC `id`.
fn dc_v4(id: i32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, id as u8), 443)
}

fn dc_v6(id: i32) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, id as u16),
        443,
        0,
        0,
    )
}

fn dc_addrs() -> Vec<(i32, SocketAddr)> {
    (1..=5)
        .flat_map(|id| [(id, dc_v4(id).into()), (id, dc_v6(id).into())])
        .collect()
}

fn timeouts() -> ProxyTimeouts {
    ProxyTimeouts {
        connect: Duration::from_secs(5),
        first_reply: Duration::from_secs(3),
    }
}

struct World {
    server: TestServer,
    proxy: TestMtproxy,
    bridge: MtproxyBridge,
    client: Client,
}

fn mode_of(secret: &MtproxySecret) -> ProxyMode {
    match secret.kind() {
        smb_telegram::mtproxy::SecretKind::Plain => ProxyMode::Plain,
        smb_telegram::mtproxy::SecretKind::Padded => ProxyMode::Padded,
        smb_telegram::mtproxy::SecretKind::FakeTls { domain } => ProxyMode::FakeTls {
            domain: domain.clone(),
        },
    }
}

/// Server, proxy (configured with `proxy_secret`), bridge (using `client_secret`), client.
async fn world(proxy_secret: MtproxySecret, client_secret: MtproxySecret) -> World {
    let server = TestServer::start(fixture()).await.expect("server");
    let proxy = TestMtproxy::start(
        *proxy_secret.key(),
        mode_of(&proxy_secret),
        (1..=5).map(|id| (id, server.addr())),
    )
    .await
    .expect("proxy");
    let link = format!(
        "mtproxy://127.0.0.1:{}?secret={}",
        proxy.addr().port(),
        client_secret.to_hex()
    );
    let settings = MtproxySettings::parse_link(&link).expect("link");
    let bridge = MtproxyBridge::start(settings, dc_addrs(), timeouts())
        .await
        .expect("bridge");
    let key = server.auth_key(ALICE).expect("key");
    let mut data = SessionData {
        home_dc: 2,
        ..Default::default()
    };
    for id in 1..=5 {
        data.dc_options.insert(
            id,
            DcOption {
                id,
                ipv4: dc_v4(id),
                ipv6: dc_v6(id),
                // The test server knows the key whichever DC the client thinks it talks to.
                auth_key: (id == 2 || id == 4).then_some(key),
            },
        );
    }
    let pool = SenderPool::with_configuration(
        Arc::new(MemorySession::from(data)),
        12345,
        ConnectionParams {
            retry_policy: Box::new(NoRetries),
            proxy_url: Some(bridge.proxy_url()),
            ..Default::default()
        },
    );
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    drop(pool.updates);
    World {
        server,
        proxy,
        bridge,
        client,
    }
}

async fn my_id(client: &Client, dc: i32) -> Result<i64, grammers_mtsender::InvocationError> {
    let users = client
        .invoke_in_dc(
            dc,
            &tl::functions::users::GetUsers {
                id: vec![tl::enums::InputUser::UserSelf],
            },
        )
        .await?;
    Ok(users[0].id())
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
        entities: None,
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

/// 4000 random CJK characters: the longest text the server takes, hard to compress.
fn long_text() -> String {
    let mut rng = rand::rng();
    (0..4000)
        .map(|_| char::from_u32(rng.random_range(0x4e00..0x9fff)).expect("CJK"))
        .collect()
}

async fn sends_through(secret: MtproxySecret) {
    let w = world(secret.clone(), secret).await;
    assert_eq!(my_id(&w.client, 2).await.expect("getUsers"), ALICE);
    let peer = shop_peer(&w.client).await;
    w.client
        .invoke(&send(peer.clone(), "Hello through the proxy", 1))
        .await
        .expect("short send");
    let long = long_text();
    w.client
        .invoke(&send(peer, &long, 2))
        .await
        .expect("long send");
    // A 64 KB incompressible request: one frame over several TLS records for `ee`.
    let mut bytes = vec![0u8; 64 * 1024];
    rand::rng().fill_bytes(&mut bytes);
    let saved = w
        .client
        .invoke(&tl::functions::upload::SaveFilePart {
            file_id: 42,
            file_part: 0,
            bytes,
        })
        .await
        .expect("64 KB part");
    assert!(saved);
    let ledger = w.server.ledger();
    let texts: Vec<&str> = ledger.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["Hello through the proxy", long.as_str()]);
    assert_eq!(w.server.calls("upload.saveFilePart"), 1);
    assert!(
        w.proxy.dcs_seen().iter().all(|dc| *dc == 2),
        "{:?}",
        w.proxy.dcs_seen()
    );
    assert_eq!(w.bridge.last_error(), None);
}

#[tokio::test]
async fn plain_secret() {
    sends_through(MtproxySecret::plain(KEY)).await;
}

#[tokio::test]
async fn padded_secret() {
    sends_through(MtproxySecret::padded(KEY)).await;
}

#[tokio::test]
async fn fake_tls_secret() {
    sends_through(MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee")).await;
}

#[tokio::test]
async fn a_dropped_proxy_connection_is_recovered() {
    let secret = MtproxySecret::padded(KEY);
    let w = world(secret.clone(), secret).await;
    let peer = shop_peer(&w.client).await;
    w.client
        .invoke(&send(peer.clone(), "before", 1))
        .await
        .expect("first send");
    w.proxy.drop_connections();
    // grammers notices the closed connection on its next request and dials again; the one
    // request caught in the break may fail, the next ones must not.
    let mut ok = false;
    for _ in 0..3 {
        if w.client
            .invoke(&send(peer.clone(), "after", 2))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(
        ok,
        "no send succeeded after the proxy dropped its connections"
    );
    let texts: Vec<String> = w.server.ledger().into_iter().map(|e| e.text).collect();
    assert_eq!(texts, ["before", "after"]);
    assert!(w.proxy.dcs_seen().len() >= 2, "a second handshake");
}

#[tokio::test]
async fn a_dc_other_than_home_goes_through_the_proxy() {
    let secret = MtproxySecret::plain(KEY);
    let w = world(secret.clone(), secret).await;
    assert_eq!(my_id(&w.client, 2).await.expect("home"), ALICE);
    assert_eq!(my_id(&w.client, 4).await.expect("DC 4"), ALICE);
    let seen = w.proxy.dcs_seen();
    assert!(seen.contains(&2) && seen.contains(&4), "{seen:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_reported_within_the_timeout() {
    let mut wrong = KEY;
    wrong[0] ^= 1;
    for (right, wrong) in [
        (MtproxySecret::plain(KEY), MtproxySecret::plain(wrong)),
        (MtproxySecret::padded(KEY), MtproxySecret::padded(wrong)),
    ] {
        let w = world(right, wrong).await;
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(20), my_id(&w.client, 2))
            .await
            .expect("grammers gives up once the bridge closes");
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = w.bridge.last_error().expect("the bridge remembers why");
        assert!(matches!(err, MtproxyError::Silent { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("proxy did not answer — check PROXY_SECRET"),
            "{text}"
        );
        assert!(!text.contains("0123456789"), "no secret in {text}");
        assert!(w.proxy.refused() >= 1);
    }
}

#[tokio::test]
async fn a_wrong_fake_tls_secret_is_refused_at_the_handshake() {
    let mut wrong = KEY;
    wrong[15] ^= 0x80;
    let w = world(
        MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee"),
        MtproxySecret::fake_tls(wrong, DOMAIN).expect("ee"),
    )
    .await;
    let result = tokio::time::timeout(Duration::from_secs(20), my_id(&w.client, 2))
        .await
        .expect("fails fast");
    assert!(result.is_err());
    let err = w.bridge.last_error().expect("remembered");
    assert!(matches!(err, MtproxyError::TlsRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("check PROXY_SECRET"));
}

#[tokio::test]
async fn the_bridge_refuses_strangers_and_unknown_targets() {
    let secret = MtproxySecret::plain(KEY);
    let w = world(secret.clone(), secret).await;
    // Wrong credentials.
    let mut s = tokio::net::TcpStream::connect(w.bridge.local_addr())
        .await
        .expect("connect");
    s.write_all(&[5, 1, 2]).await.expect("greet");
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).await.expect("method");
    assert_eq!(reply, [5, 2]);
    s.write_all(&[1, 1, b'x', 1, b'y']).await.expect("auth");
    s.read_exact(&mut reply).await.expect("auth reply");
    assert_eq!(reply, [1, 1]);
    // Right credentials, a target that is not a DC.
    let url = w.bridge.proxy_url();
    let creds = url
        .strip_prefix("socks5://")
        .and_then(|r| r.split_once('@'))
        .map(|(c, _)| c.to_owned())
        .expect("credentials in the URL");
    let (user, pass) = creds.split_once(':').expect("user:pass");
    let mut s = tokio::net::TcpStream::connect(w.bridge.local_addr())
        .await
        .expect("connect");
    s.write_all(&[5, 1, 2]).await.expect("greet");
    s.read_exact(&mut reply).await.expect("method");
    let mut auth = vec![1, user.len() as u8];
    auth.extend(user.bytes());
    auth.push(pass.len() as u8);
    auth.extend(pass.bytes());
    s.write_all(&auth).await.expect("auth");
    s.read_exact(&mut reply).await.expect("auth reply");
    assert_eq!(reply, [1, 0]);
    s.write_all(&[5, 1, 0, 1, 93, 184, 216, 34, 0, 80])
        .await
        .expect("connect request");
    let mut answer = [0u8; 10];
    s.read_exact(&mut answer).await.expect("refusal");
    assert_eq!(answer[1], 0x02, "not allowed by ruleset");
    assert!(w.proxy.dcs_seen().is_empty());
}

/// A stand-in DC that answers the key-exchange probe with resPQ (the test server refuses
/// key exchanges).
async fn fake_dc() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).await.is_err() {
                continue;
            }
            let mut rest = vec![0u8; u32::from_le_bytes(len) as usize - 4];
            if s.read_exact(&mut rest).await.is_err() {
                continue;
            }
            let nonce = rest[4 + 24..4 + 40].to_vec();
            let mut payload = vec![0u8; 8];
            payload.extend(1i64.to_le_bytes());
            payload.extend(36u32.to_le_bytes());
            payload.extend(0x0516_2463u32.to_le_bytes());
            payload.extend(&nonce);
            payload.extend([7u8; 16]);
            let mut frame = ((payload.len() + 12) as u32).to_le_bytes().to_vec();
            frame.extend(0i32.to_le_bytes());
            frame.extend(&payload);
            let crc = crc32fast::hash(&frame);
            frame.extend(crc.to_le_bytes());
            let _ = s.write_all(&frame).await;
        }
    });
    addr
}

#[tokio::test]
async fn check_proxy_tells_a_right_secret_from_a_wrong_one() {
    let dc = fake_dc().await;
    for secret in [
        MtproxySecret::plain(KEY),
        MtproxySecret::padded(KEY),
        MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee"),
    ] {
        let proxy = TestMtproxy::start(KEY, mode_of(&secret), [(2, dc)])
            .await
            .expect("proxy");
        let settings = MtproxySettings {
            host: "localhost".into(),
            port: proxy.addr().port(),
            secret: secret.clone(),
        };
        let ok = check_proxy(&settings, 2, timeouts())
            .await
            .expect("answers");
        assert!(ok.res_pq, "{ok:?}");

        let mut bad_key = KEY;
        bad_key[3] ^= 4;
        let bad = MtproxySettings {
            secret: match secret.kind() {
                smb_telegram::mtproxy::SecretKind::Plain => MtproxySecret::plain(bad_key),
                smb_telegram::mtproxy::SecretKind::Padded => MtproxySecret::padded(bad_key),
                smb_telegram::mtproxy::SecretKind::FakeTls { .. } => {
                    MtproxySecret::fake_tls(bad_key, DOMAIN).expect("ee")
                }
            },
            ..settings
        };
        let started = Instant::now();
        let err = check_proxy(&bad, 2, timeouts())
            .await
            .expect_err("wrong secret");
        assert!(started.elapsed() < Duration::from_secs(8));
        assert!(err.to_string().contains("check PROXY_SECRET"), "{err}");
    }
}

/// Issue 19: a fake-TLS proxy that takes the connection and never answers the hello (what a
/// proxy does with a secret it does not know, when its masking host is silent) was reported
/// as "check PROXY_ADDR and PROXY_PORT" after the whole connect timeout. The connection
/// succeeded: the cause is the secret, said after the first-reply timeout.
#[tokio::test]
async fn a_silent_fake_tls_proxy_is_a_refused_secret_not_an_unreachable_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await.unwrap_or(0) > 0 {}
    });
    let secret = MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee");
    let settings =
        MtproxySettings::new("127.0.0.1", &port.to_string(), &secret.to_hex()).expect("settings");
    let err = check_proxy(
        &settings,
        2,
        ProxyTimeouts {
            connect: Duration::from_secs(30),
            first_reply: Duration::from_millis(300),
        },
    )
    .await
    .expect_err("no answer");
    assert!(matches!(err, MtproxyError::TlsSilent { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("accepted the connection")
            && text.contains("check PROXY_SECRET")
            && !text.contains("PROXY_ADDR"),
        "{text}"
    );
    assert!(err.is_proxy_fault());
    held.abort();
}

#[tokio::test]
async fn check_proxy_says_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let settings = MtproxySettings::new(
        "127.0.0.1",
        &port.to_string(),
        "dd30313233343536373839616263646566",
    )
    .expect("settings");
    let err = check_proxy(&settings, 2, timeouts())
        .await
        .expect_err("refused");
    assert!(matches!(err, MtproxyError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("PROXY_ADDR"));
}
