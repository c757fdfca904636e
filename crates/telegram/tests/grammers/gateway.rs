//! The grammers gateway, with a real grammers client, against the MTProto test server on
//! loopback: sends with entities and media, peer resolution and caching, and every error
//! class the engine acts on.

use std::time::Duration;

use crate::common::*;
use smb_domain::{ErrorClass, SendError, TargetRef};
use smb_engine::{Gateway, SendRequest, SentMessage, TextFormat};
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, TestServer};

fn request<'a>(
    account: &'a str,
    target: &'a TargetRef,
    text: &'a str,
    random_id: i64,
) -> SendRequest<'a> {
    SendRequest {
        account,
        target,
        text,
        format: TextFormat::Plain,
        media: None,
        link_preview: false,
        random_id,
        variant: None,
    }
}

fn t(s: &str) -> TargetRef {
    TargetRef::parse(s).expect("valid target")
}

#[tokio::test]
async fn twenty_chats_with_entities_and_a_photo() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let photo = dir.path().join("price.jpg");
    std::fs::write(&photo, vec![0xffu8; 3000]).expect("photo written");
    let gw = gateway(&store, &["acc1"]);

    // `__today__`: the Markdown our users write is Telethon's (`_x_` is literal there).
    let text = "**Price list** for __today__: [shop](https://example.com/shop)";
    for (n, target) in targets_20().iter().enumerate() {
        let target = t(target);
        let mut req = request("acc1", &target, text, 1000 + n as i64);
        req.format = TextFormat::Markdown;
        let sent = gw
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(sent.message_id.is_some(), "{target}");
        let mut req = request("acc1", &target, "Catalogue attached", 2000 + n as i64);
        req.media = Some(&photo);
        let sent = gw
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{target} photo: {e}"));
        assert!(sent.message_id.is_some(), "{target}");
    }

    let ledger = server.ledger();
    assert_eq!(ledger.len(), 40);
    let texts: Vec<_> = ledger.iter().filter(|e| e.media.is_none()).collect();
    assert_eq!(texts.len(), 20);
    for e in &texts {
        assert_eq!(e.text, "Price list for today: shop");
        let kinds: Vec<(&str, i32, i32)> = e
            .entities
            .iter()
            .map(|x| (x.kind.as_str(), x.offset, x.length))
            .collect();
        assert_eq!(
            kinds,
            [("bold", 0, 10), ("italic", 15, 5), ("text_url", 22, 4)],
            "{}",
            e.chat
        );
        assert_eq!(
            e.entities[2].url.as_deref(),
            Some("https://example.com/shop")
        );
    }
    // Every chat got each message exactly once, under the journal's random_id.
    let mut chats: Vec<_> = texts.iter().map(|e| e.chat.clone()).collect();
    chats.sort();
    chats.dedup();
    assert_eq!(chats.len(), 20);
    assert!(texts.iter().all(|e| (1000..1020).contains(&e.random_id)));
    // The photo went up once and was reused by reference 19 times.
    let photos: Vec<_> = ledger.iter().filter_map(|e| e.media.as_ref()).collect();
    assert_eq!(photos.len(), 20);
    assert_eq!(photos.iter().filter(|m| !m.reused).count(), 1);
    assert!(photos.iter().all(|m| m.kind == "photo"));
    assert_eq!(server.calls("upload.saveFilePart"), 1);
    // Peers: one dialogs scan, which also gave the @names: no resolveUsername at all.
    assert_eq!(server.calls("messages.getDialogs"), 1);
    assert_eq!(server.calls("contacts.resolveUsername"), 0);

    // A restart reads the persisted peer cache: no rescan, no resolve.
    drop(gw);
    let gw = gateway(&store, &["acc1"]);
    for (n, target) in targets_20().iter().enumerate() {
        let target = t(target);
        gw.send(request("acc1", &target, "again", 3000 + n as i64))
            .await
            .expect("sent");
    }
    assert_eq!(server.calls("messages.getDialogs"), 1);
    assert_eq!(server.calls("contacts.resolveUsername"), 0);
}

/// Issue 11's examples through grammers: line breaks and entities as sent, a `__` inside a
/// link as written, a mention without a numeric id refused before anything reaches Telegram.
#[tokio::test]
async fn markdown_and_html_arrive_with_their_line_breaks_and_entities() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let target = t(&super_id(0).to_string());
    let send = |text: &'static str, format: TextFormat, random_id: i64| {
        let gw = &gw;
        let target = &target;
        async move {
            let mut req = request("acc1", target, text, random_id);
            req.format = format;
            gw.send(req).await
        }
    };
    send(
        "**Прайс**\r\niPhone 16 — 71 000 ₽\r\nAirPods — 15 500 ₽\n\nЗаказ: [менеджер](tg://user?id=777000)",
        TextFormat::Markdown,
        1,
    )
    .await
    .expect("price list sent");
    send(
        "Прайс: https://example.com/files/price__list_v2.pdf",
        TextFormat::Markdown,
        2,
    )
    .await
    .expect("link sent");
    send(
        "<b>Прайс</b> 🔥\n<pre><code class=\"language-text\">A — 1 ₽</code></pre>",
        TextFormat::Html,
        3,
    )
    .await
    .expect("html sent");
    let err = send(
        "[менеджеру](tg://user?id=@price_manager)",
        TextFormat::Markdown,
        4,
    )
    .await
    .expect_err("a mention needs a numeric id");
    assert_eq!(err.class(), ErrorClass::BadContent);
    assert_eq!(err.code(), smb_domain::FORMAT_INVALID);

    let ledger = server.ledger();
    type Arrived<'a> = (
        &'a str,
        Vec<(&'a str, i32, i32, Option<i64>, Option<&'a str>)>,
    );
    let got: Vec<Arrived> = ledger
        .iter()
        .map(|e| {
            (
                e.text.as_str(),
                e.entities
                    .iter()
                    .map(|x| {
                        (
                            x.kind.as_str(),
                            x.offset,
                            x.length,
                            x.user_id,
                            x.language.as_deref(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Прайс\niPhone 16 — 71 000 ₽\nAirPods — 15 500 ₽\n\nЗаказ: менеджер",
                vec![
                    ("bold", 0, 5, None, None),
                    ("mention_name", 54, 8, Some(777000), None)
                ]
            ),
            (
                "Прайс: https://example.com/files/price__list_v2.pdf",
                vec![]
            ),
            (
                "Прайс 🔥\nA — 1 ₽",
                vec![
                    ("bold", 0, 5, None, None),
                    ("pre", 9, 7, None, Some("text"))
                ]
            ),
        ]
    );
}

#[tokio::test]
async fn resend_with_the_same_random_id_is_already_sent() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let target = t(&super_id(0).to_string());

    let first = gw
        .send(request("acc1", &target, "once", 42))
        .await
        .expect("sent");
    assert!(first.message_id.is_some());
    let again = gw
        .send(request("acc1", &target, "once", 42))
        .await
        .expect("duplicate is ok");
    assert_eq!(again, SentMessage { message_id: None });
    assert_eq!(server.ledger().len(), 1);
    assert_eq!(server.duplicates(), 1);
}

#[tokio::test]
async fn waits_come_back_with_their_seconds() {
    let mut fixture = fixture_20();
    fixture.chats.push(
        ChatSpec::new(-1_003_000_000_000, "Slow", ChatKind::Supergroup)
            .members(&[ACC1])
            .slow_mode(60),
    );
    let server = TestServer::start(fixture).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let market = t(&super_id(0).to_string());

    let slow = t("-1003000000000");
    gw.send(request("acc1", &slow, "first", 2))
        .await
        .expect("first post");
    let e = gw
        .send(request("acc1", &slow, "second", 3))
        .await
        .expect_err("slow mode");
    let SendError::Rpc {
        name,
        value: Some(v),
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(name, "SLOWMODE_WAIT");
    assert!((59..=60).contains(v), "{v}");
    assert_eq!(e.class(), ErrorClass::ChatPause);
    server.add_fault(FaultRule::error("FLOOD_WAIT_37").times(1));
    let e = gw
        .send(request("acc1", &market, "hi", 1))
        .await
        .expect_err("flood wait");
    assert_eq!(e, SendError::rpc("FLOOD_WAIT", Some(37)));
    assert_eq!(e.class(), ErrorClass::AccountPause);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(37)));
    // Like Telegram, the server holds the account to the wait it told: a send inside it is
    // refused again with the time left, although the scripted rule is spent.
    let e = gw
        .send(request("acc1", &market, "hi", 1))
        .await
        .expect_err("still inside the told wait");
    let SendError::Rpc {
        name,
        value: Some(left),
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(name, "FLOOD_WAIT");
    assert!((1..=37).contains(left), "{left}");
}

#[tokio::test]
async fn forbidden_chats_are_target_dead() {
    let mut fixture = fixture_20();
    fixture.chats.push(
        ChatSpec::new(-1_003_000_000_001, "Read only", ChatKind::Supergroup)
            .members(&[ACC1])
            .read_only(),
    );
    fixture.chats.push(
        ChatSpec::new(-1_003_000_000_002, "Banned", ChatKind::Supergroup)
            .username("banned_here")
            .members(&[ACC1])
            .banned(&[ACC1]),
    );
    let server = TestServer::start(fixture).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);

    let e = gw
        .send(request("acc1", &t("@banned_here"), "x", 2))
        .await
        .expect_err("banned");
    assert_eq!(
        (e.code(), e.class()),
        ("USER_BANNED_IN_CHANNEL", ErrorClass::TargetDead)
    );
    // The @name was resolved once (no dialogs scan had happened yet) and cached.
    gw.send(request("acc1", &t("@banned_here"), "x", 2))
        .await
        .expect_err("banned");
    assert_eq!(server.calls("contacts.resolveUsername"), 1);
    let e = gw
        .send(request("acc1", &t("-1003000000001"), "x", 1))
        .await
        .expect_err("read only");
    assert_eq!(
        (e.code(), e.class()),
        ("CHAT_WRITE_FORBIDDEN", ErrorClass::TargetDead)
    );
    server.add_fault(FaultRule::error("CHANNEL_PRIVATE").chat(&super_id(3).to_string()));
    let e = gw
        .send(request("acc1", &t(&super_id(3).to_string()), "x", 3))
        .await
        .expect_err("private");
    assert_eq!(
        (e.code(), e.class()),
        ("CHANNEL_PRIVATE", ErrorClass::TargetDead)
    );
    // A chat the account is not in is not among its dialogs: a stale peer, re-resolved once.
    let e = gw
        .send(request("acc1", &t("-1009999999999"), "x", 4))
        .await
        .expect_err("unknown");
    assert_eq!(
        (e.code(), e.class()),
        ("PEER_ID_INVALID", ErrorClass::StalePeer)
    );
    assert_eq!(
        gw.refresh_peer("acc1", &t("-1009999999999")).await,
        Err(SendError::rpc("PEER_ID_INVALID", None))
    );
    assert!(server.ledger().is_empty());
}

#[tokio::test]
async fn a_revoked_session_stops_that_account_only() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    seed_session(&server, &store, "acc2", ACC2);
    let gw = gateway(&store, &["acc1", "acc2"]);
    let market = t(&super_id(0).to_string());
    gw.send(request("acc1", &market, "before", 1))
        .await
        .expect("acc1 sends");

    server.revoke(ACC1);
    let e = gw
        .send(request("acc1", &market, "after", 2))
        .await
        .expect_err("revoked");
    assert_eq!(
        (e.code(), e.class()),
        ("AUTH_KEY_UNREGISTERED", ErrorClass::AccountDead)
    );
    gw.send(request("acc2", &market, "acc2 goes on", 3))
        .await
        .expect("acc2 unaffected");

    server.add_fault(FaultRule::error("PEER_FLOOD").account("1002"));
    let e = gw
        .send(request("acc2", &market, "spam?", 4))
        .await
        .expect_err("peer flood");
    assert_eq!(
        (e.code(), e.class()),
        ("PEER_FLOOD", ErrorClass::AccountDead)
    );
}

#[tokio::test]
async fn an_account_without_a_usable_session_does_not_stop_the_others() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    std::fs::write(store.path("acc3").expect("path"), b"SMBSESS\0garbage").expect("write");
    let gw = gateway(&store, &["acc1", "acc2", "acc3"]);
    let broken: Vec<(&str, String)> = gw
        .unavailable()
        .iter()
        .map(|(a, e)| (a.as_str(), e.reason(a)))
        .collect();
    assert_eq!(
        broken,
        [
            (
                "acc2",
                "no session: run `sendmessagebot accounts login acc2`".to_owned()
            ),
            (
                "acc3",
                "session damaged: run `sendmessagebot accounts login acc3`".to_owned()
            ),
        ]
    );
    let market = t(&super_id(0).to_string());
    let e = gw
        .send(request("acc2", &market, "no session", 1))
        .await
        .expect_err("no session");
    assert_eq!(e.class(), ErrorClass::AccountDead, "{e:?}");
    gw.send(request("acc1", &market, "acc1 sends", 2))
        .await
        .expect("acc1 unaffected");
}

#[tokio::test]
async fn dropped_connections_are_transient_and_recovered() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let market = t(&super_id(0).to_string());
    gw.send(request("acc1", &market, "warm up", 1))
        .await
        .expect("sent");

    // Closed before Telegram carried it out, once: the gateway reconnects and sends again.
    server.add_fault(FaultRule::error("DROP").times(1));
    gw.send(request("acc1", &market, "lost once", 2))
        .await
        .expect("resent on a new connection");
    // Twice in a row: transient, for the engine to retry later.
    server.add_fault(FaultRule::error("DROP").times(2));
    let e = gw
        .send(request("acc1", &market, "lost twice", 3))
        .await
        .expect_err("dropped");
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
    gw.send(request("acc1", &market, "lost twice", 3))
        .await
        .expect("the engine's retry succeeds");

    // Closed after Telegram carried it out: the resend with the same random_id is a
    // duplicate, reported as sent, and the chat has the message once.
    server.add_fault(FaultRule::error("DROP_AFTER").times(1));
    let sent = gw
        .send(request("acc1", &market, "crash window", 4))
        .await
        .expect("resent");
    assert_eq!(sent.message_id, None);
    assert_eq!(server.duplicates(), 1);

    // The server closing every connection (a network blip) between two sends.
    server.drop_connections();
    gw.send(request("acc1", &market, "after the blip", 5))
        .await
        .expect("reconnects");

    let ids: Vec<i64> = server.ledger().iter().map(|e| e.random_id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

/// The first try was carried out but its answer lost with the connection, and the second try
/// met a flood wait: the gateway reports the refusal as `Unconfirmed` (the first try may be
/// in the chat), with the wait, so the engine obeys it; the chat has the message once.
#[tokio::test]
async fn a_flood_wait_answered_to_the_second_try_comes_back_unconfirmed() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let market = t(&super_id(0).to_string());
    gw.send(request("acc1", &market, "warm up", 1))
        .await
        .expect("sent");
    server.add_fault(FaultRule::error("DROP_AFTER").times(1));
    server.add_fault(FaultRule::error("FLOOD_WAIT_30").times(1));
    let e = gw
        .send(request("acc1", &market, "answer lost", 2))
        .await
        .expect_err("the second try is refused");
    assert_eq!(
        e,
        SendError::Unconfirmed(Box::new(SendError::rpc("FLOOD_WAIT", Some(30))))
    );
    assert_eq!(e.class(), ErrorClass::Transient, "its fate is unknown");
    let ids: Vec<i64> = server.ledger().iter().map(|e| e.random_id).collect();
    assert_eq!(ids, [1, 2], "the first try is in the chat, once");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_transient() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let mut api = api();
    api.call_timeout = Duration::from_millis(300);
    let gw = smb_telegram::grammers::GrammersGateway::connect(
        &api,
        &store,
        &[smb_telegram::grammers::AccountConfig::new("acc1")],
        std::sync::Arc::new(smb_telegram::grammers::NoPeerCacheStore),
    );
    let market = t(&super_id(0).to_string());
    gw.send(request("acc1", &market, "fast", 1))
        .await
        .expect("sent");
    server.add_fault(FaultRule::default().delay_ms(5_000).times(1));
    let e = gw
        .send(request("acc1", &market, "slow", 2))
        .await
        .expect_err("timeout");
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}
