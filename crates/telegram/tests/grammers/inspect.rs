//! Forum topics, upgraded groups and the pre-flight look at a chat (`Gateway::inspect`) through
//! a real grammers client against the MTProto test server.

use crate::common::*;
use smb_domain::{ErrorClass, TargetRef};
use smb_engine::{ChatInfo, Gateway, SendRequest, TextFormat, TopicState};
use smb_mtproto_testserver::{ChatKind, ChatSpec, Fixture, TestServer};

const FORUM: i64 = -1_001_000_000_100;
const SLOW: i64 = -1_001_000_000_101;
const OPEN_MARKET: i64 = -1_001_000_000_102;
const CLOSED_CLUB: i64 = -1_001_000_000_103;
const STRICT: i64 = -1_001_000_000_104;
const READ_ONLY: i64 = -1_001_000_000_105;
const READERS: i64 = -1_002_000_000_100;
const UPGRADED: i64 = -1_001_000_000_200;

fn fixture() -> Fixture {
    fixture_20()
        .chat(
            ChatSpec::new(FORUM, "Gadgets forum", ChatKind::Supergroup)
                .username("gadgets_forum")
                .members(&[ACC1])
                .topic(123, "Prices")
                .closed_topic(9, "Archive"),
        )
        .chat(
            ChatSpec::new(SLOW, "Slow wholesale", ChatKind::Supergroup)
                .username("slow_wholesale")
                .members(&[ACC1])
                .slow_mode(600)
                .media_banned(),
        )
        .chat(
            ChatSpec::new(OPEN_MARKET, "Open market", ChatKind::Supergroup).username("open_market"),
        )
        .chat(ChatSpec::new(
            CLOSED_CLUB,
            "Closed club",
            ChatKind::Supergroup,
        ))
        .chat(
            ChatSpec::new(STRICT, "Strict market", ChatKind::Supergroup)
                .members(&[ACC1])
                .banned(&[ACC1]),
        )
        .chat(
            ChatSpec::new(READ_ONLY, "Announcements only", ChatKind::Supergroup)
                .members(&[ACC1])
                .read_only(),
        )
        .chat(ChatSpec::new(READERS, "Readers", ChatKind::Channel).members(&[ACC1]))
}

fn t(s: &str) -> TargetRef {
    TargetRef::parse(s).expect("valid target")
}

fn request<'a>(target: &'a TargetRef, random_id: i64) -> SendRequest<'a> {
    SendRequest {
        account: "acc1",
        target,
        text: "Price list",
        format: TextFormat::Plain,
        media: None,
        link_preview: false,
        random_id,
        variant: None,
    }
}

#[tokio::test]
async fn a_post_goes_into_its_topic_and_a_forum_without_one_into_general() {
    let server = TestServer::start(fixture()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);

    let topic = t("https://t.me/gadgets_forum/123");
    gw.send(request(&topic, 1)).await.expect("into topic 123");
    let general = t("@gadgets_forum");
    gw.send(request(&general, 2)).await.expect("into General");
    let closed = t("t.me/gadgets_forum/9");
    let err = gw.send(request(&closed, 3)).await.expect_err("closed");
    assert_eq!(
        (err.code(), err.class()),
        ("TOPIC_CLOSED", ErrorClass::TargetDead)
    );
    let got: Vec<(String, Option<i32>, i64)> = server
        .ledger()
        .iter()
        .map(|e| (e.chat.clone(), e.topic, e.random_id))
        .collect();
    assert_eq!(
        got,
        [
            (FORUM.to_string(), Some(123), 1),
            (FORUM.to_string(), None, 2)
        ]
    );
}

#[tokio::test]
async fn inspect_tells_membership_rights_slow_mode_topics_title_and_migration() {
    let server = TestServer::start(fixture()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let look = |target: &str| {
        let target = t(target);
        let gw = &gw;
        async move {
            gw.inspect("acc1", &target)
                .await
                .unwrap_or_else(|e| panic!("{target}: {e}"))
        }
    };
    let open = |title: &str| ChatInfo {
        title: Some(title.to_owned()),
        member: true,
        can_write: true,
        can_send_media: true,
        ..ChatInfo::default()
    };

    assert_eq!(look(&super_id(0).to_string()).await, open("Market 0"));
    assert_eq!(look("-4000").await, open("Group 0"));
    assert_eq!(look(&channel_id(0).to_string()).await, open("News 0"));
    assert_eq!(
        look("@slow_wholesale").await,
        ChatInfo {
            slow_mode_seconds: Some(600),
            can_send_media: false,
            refusal: Some("CHAT_SEND_MEDIA_FORBIDDEN".into()),
            ..open("Slow wholesale")
        }
    );
    assert_eq!(
        look("@gadgets_forum").await,
        ChatInfo {
            forum: true,
            ..open("Gadgets forum")
        },
        "no topic: General"
    );
    assert_eq!(
        look("@gadgets_forum/123").await,
        ChatInfo {
            forum: true,
            topic: Some(TopicState::Open),
            ..open("Gadgets forum")
        }
    );
    assert_eq!(
        look("@gadgets_forum/9").await,
        ChatInfo {
            forum: true,
            topic: Some(TopicState::Closed),
            can_write: false,
            can_send_media: false,
            refusal: Some("TOPIC_CLOSED".into()),
            ..open("Gadgets forum")
        }
    );
    let missing = look("@gadgets_forum/55").await;
    assert_eq!(
        (missing.topic, missing.refusal.as_deref()),
        (Some(TopicState::Missing), Some("TOPIC_ID_INVALID"))
    );
    let not_forum = look(&format!("{}/5", super_id(0))).await;
    assert_eq!(
        (not_forum.topic, not_forum.can_write),
        (Some(TopicState::NotForum), true)
    );

    // Not a member: a public chat by name, a private one by id (not among the dialogs).
    assert_eq!(
        look("@open_market").await,
        ChatInfo::unreachable("USER_NOT_PARTICIPANT")
    );
    assert_eq!(
        look(&CLOSED_CLUB.to_string()).await,
        ChatInfo::unreachable("PEER_ID_INVALID")
    );
    assert_eq!(
        look(&STRICT.to_string()).await,
        ChatInfo {
            can_write: false,
            can_send_media: false,
            refusal: Some("USER_BANNED_IN_CHANNEL".into()),
            ..open("Strict market")
        }
    );
    assert_eq!(
        look(&READ_ONLY.to_string()).await,
        ChatInfo {
            can_write: false,
            can_send_media: false,
            refusal: Some("CHAT_WRITE_FORBIDDEN".into()),
            ..open("Announcements only")
        }
    );
    assert_eq!(
        look(&READERS.to_string()).await,
        ChatInfo {
            can_write: false,
            can_send_media: false,
            refusal: Some("CHAT_ADMIN_REQUIRED".into()),
            ..open("Readers")
        }
    );
    let problem = look(&READERS.to_string()).await.problem().expect("words");
    assert!(problem.starts_with("CHAT_ADMIN_REQUIRED: "), "{problem}");

    // An upgraded basic group names its new supergroup.
    server
        .migrate_group(
            -4001,
            ChatSpec::new(UPGRADED, "Group 1", ChatKind::Supergroup),
        )
        .expect("migrates");
    let upgraded = ChatInfo {
        migrated_to: Some(UPGRADED),
        ..open("Group 1")
    };
    assert_eq!(look("-4001").await, upgraded, "the new chat, and its id");
    assert_eq!(look("-4001").await, upgraded, "again, from the peer cache");
    // Looking sends nothing.
    assert!(server.ledger().is_empty());
}

#[tokio::test]
async fn sends_to_an_upgraded_group_follow_it_to_its_new_id() {
    let server = TestServer::start(fixture()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    let group = t("-4001");
    gw.send(request(&group, 1))
        .await
        .expect("a basic group still");
    server
        .migrate_group(
            -4001,
            ChatSpec::new(UPGRADED, "Group 1", ChatKind::Supergroup),
        )
        .expect("migrates");
    gw.send(request(&group, 2))
        .await
        .expect("followed to the supergroup");
    gw.send(request(&group, 3)).await.expect("again");
    let got: Vec<(String, i64)> = server
        .ledger()
        .iter()
        .map(|e| (e.chat.clone(), e.random_id))
        .collect();
    assert_eq!(
        got,
        [
            ("-4001".to_string(), 1),
            (UPGRADED.to_string(), 2),
            (UPGRADED.to_string(), 3)
        ]
    );
    // Asked once; the new id is remembered (and survives a restart in the peer cache).
    assert_eq!(server.calls("messages.getFullChat"), 1);
    drop(gw);
    let gw = gateway(&store, &["acc1"]);
    gw.send(request(&group, 4)).await.expect("after a restart");
    assert_eq!(server.calls("messages.getFullChat"), 1);
    assert_eq!(
        server.ledger().last().map(|e| e.chat.clone()),
        Some(UPGRADED.to_string())
    );
    // A group that was not upgraded keeps its PEER_ID_INVALID.
    let unknown = t("-4999");
    let err = gw
        .send(request(&unknown, 5))
        .await
        .expect_err("no such group");
    assert_eq!(err.code(), "PEER_ID_INVALID");
}
