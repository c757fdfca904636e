//! Issue 17's reach through the grammers gateway against the MTProto test server: views and
//! forwards of channel posts (messages.getMessagesViews), reactions
//! (messages.getMessagesReactions), replies; one pair of calls per chat; a flood wait comes
//! back as the error.

use crate::common::*;
use smb_domain::TargetRef;
use smb_engine::{Gateway, PostReach, Reach, SendRequest, TextFormat};
use smb_mtproto_testserver::reach::PostFigures;
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, TestServer, UserSpec};

/// A channel acc1 posts into (as its admin): views and forwards exist.
const NEWS: i64 = -1_001_000_000_200;
/// A supergroup: no views, replies and reactions only.
const MARKET: i64 = -1_001_000_000_201;

fn t(chat: i64) -> TargetRef {
    TargetRef::parse(&chat.to_string()).expect("valid target")
}

async fn world() -> (
    TestServer,
    smb_telegram::grammers::GrammersGateway,
    tempfile::TempDir,
) {
    let fixture = Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One"))
        .chat(
            ChatSpec::new(NEWS, "News", ChatKind::Channel)
                .members(&[ACC1])
                .admins(&[ACC1]),
        )
        .chat(ChatSpec::new(MARKET, "Market", ChatKind::Supergroup).members(&[ACC1]));
    let server = TestServer::start(fixture).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1"]);
    (server, gw, dir)
}

async fn post(gw: &impl Gateway, chat: i64, random_id: i64) -> i64 {
    gw.send(SendRequest {
        account: "acc1",
        target: &t(chat),
        text: "Прайс",
        format: TextFormat::Plain,
        media: None,
        link_preview: false,
        random_id,
        variant: None,
    })
    .await
    .unwrap_or_else(|e| panic!("send to {chat}: {e}"))
    .message_id
    .expect("a new message")
}

fn figures(views: u32, forwards: u32, reactions: u32, replies: u32) -> PostFigures {
    PostFigures {
        views,
        forwards,
        reactions,
        replies,
    }
}

#[tokio::test]
async fn reach_reads_what_the_chat_counted_in_one_batch_per_chat() {
    let (server, gw, _dir) = world().await;
    let a = post(&gw, NEWS, 1).await;
    let b = post(&gw, NEWS, 2).await;
    let g = post(&gw, MARKET, 3).await;
    server.set_reach(NEWS, a as i32, figures(120, 4, 9, 2));
    server.set_reach(NEWS, b as i32, figures(30, 0, 1, 0));
    server.set_reach(MARKET, g as i32, figures(500, 7, 3, 5));

    let got = gw.reach("acc1", &t(NEWS), &[a, b, 999_999]).await.unwrap();
    assert_eq!(
        got,
        vec![
            PostReach {
                message_id: a,
                views: Some(120),
                forwards: Some(4),
                reactions: 9,
                replies: 2,
                gone: false,
            },
            PostReach {
                message_id: b,
                views: Some(30),
                forwards: Some(0),
                reactions: 1,
                replies: 0,
                gone: false,
            },
            // Never there: Telegram answers an empty messageViews.
            PostReach {
                message_id: 999_999,
                gone: true,
                ..PostReach::default()
            },
        ]
    );
    // A group counts no views or forwards (whatever a test set), only replies and reactions.
    let got = gw.reach("acc1", &t(MARKET), &[g]).await.unwrap();
    assert_eq!(
        got,
        vec![PostReach {
            message_id: g,
            views: None,
            forwards: None,
            reactions: 3,
            replies: 5,
            gone: false,
        }]
    );
    // One call of each per chat, whatever the number of posts.
    assert_eq!(server.calls("messages.getMessagesViews"), 2);
    assert_eq!(server.calls("messages.getMessagesReactions"), 2);
    // A post deleted since is gone.
    server.delete_as_admin(NEWS, ACC1, &[b as i32]).unwrap();
    let got = gw.reach("acc1", &t(NEWS), &[b]).await.unwrap();
    assert!(got[0].gone, "{got:?}");
}

#[tokio::test]
async fn a_flood_wait_on_a_reach_call_comes_back_with_its_wait() {
    let (server, gw, _dir) = world().await;
    let a = post(&gw, NEWS, 1).await;
    server.add_fault(
        FaultRule::error("FLOOD_WAIT_30")
            .method("messages.getMessagesViews")
            .times(1),
    );
    let e = gw.reach("acc1", &t(NEWS), &[a]).await.unwrap_err();
    assert_eq!(e.code(), "FLOOD_WAIT");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(30)));
    // Sends are not touched by the rule, and the next reach call goes through.
    post(&gw, NEWS, 2).await;
    assert!(!gw.reach("acc1", &t(NEWS), &[a]).await.unwrap()[0].gone);
}
