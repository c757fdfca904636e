//! Issue 15's follow-ups through the grammers gateway against the MTProto test server: edit
//! in place, delete, pin/unpin, albums (sendMultiMedia, de-duplicated by the items'
//! random_ids) and survival (`alive`, one getMessages call per chat), with Telegram's errors.

use crate::common::*;
use smb_domain::{ErrorClass, RefusalScope, SendError, TargetRef};
use smb_engine::{
    AlbumItem, AlbumRequest, EditRequest, Edited, FollowUps, Gateway, PinChange, PostState,
    SendRequest, TextFormat,
};
use smb_mtproto_testserver::{ChatKind, ChatSpec, Fixture, TestServer, UserSpec};

const ADMIN: i64 = 3001;
/// A supergroup acc1 and acc2 are members of; ADMIN is its admin.
const MARKET: i64 = -1_001_000_000_100;
/// A supergroup where acc1 is an admin.
const OWN: i64 = -1_001_000_000_101;
/// A supergroup whose members may pin.
const OPEN_PINS: i64 = -1_001_000_000_102;
/// A basic group (messages.deleteMessages / messages.getMessages by bare ids).
const GROUP: i64 = -5000;
/// A second basic group, so bare ids must not be mixed up between groups.
const GROUP2: i64 = -5001;

fn fixture() -> Fixture {
    Fixture::default()
        .user(UserSpec::new(ACC1, "Seller One"))
        .user(UserSpec::new(ACC2, "Seller Two"))
        .user(UserSpec::new(ADMIN, "Chat Admin"))
        .chat(
            ChatSpec::new(MARKET, "Market", ChatKind::Supergroup)
                .members(&[ACC1, ACC2])
                .admins(&[ADMIN]),
        )
        .chat(
            ChatSpec::new(OWN, "Own", ChatKind::Supergroup)
                .members(&[ACC1])
                .admins(&[ACC1]),
        )
        .chat(
            ChatSpec::new(OPEN_PINS, "Open pins", ChatKind::Supergroup)
                .members(&[ACC1])
                .members_may_pin(),
        )
        .chat(
            ChatSpec::new(GROUP, "Group", ChatKind::Group)
                .members(&[ACC1])
                .admins(&[ADMIN]),
        )
        .chat(ChatSpec::new(GROUP2, "Group 2", ChatKind::Group).members(&[ACC1]))
}

fn t(chat: i64) -> TargetRef {
    TargetRef::parse(&chat.to_string()).expect("valid target")
}

struct World {
    server: TestServer,
    gw: smb_telegram::grammers::GrammersGateway,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let server = TestServer::start(fixture()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    seed_session(&server, &store, "acc1", ACC1);
    seed_session(&server, &store, "acc2", ACC2);
    let gw = gateway(&store, &["acc1", "acc2"]);
    World { server, gw, dir }
}

async fn post(gw: &impl Gateway, account: &str, chat: i64, text: &str, random_id: i64) -> i64 {
    let target = t(chat);
    gw.send(SendRequest {
        account,
        target: &target,
        text,
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

async fn edit(gw: &impl FollowUps, chat: i64, id: i64, text: &str) -> Result<Edited, SendError> {
    let target = t(chat);
    gw.edit(EditRequest {
        account: "acc1",
        target: &target,
        message_id: id,
        text,
        format: TextFormat::Markdown,
        caption: false,
        link_preview: false,
    })
    .await
}

fn id32(id: i64) -> i32 {
    i32::try_from(id).unwrap()
}

#[tokio::test]
async fn an_edit_changes_the_post_in_place_once_and_expires_with_the_window() {
    let w = world().await;
    let id = post(&w.gw, "acc1", MARKET, "Price: 100", 1).await;

    assert_eq!(
        edit(&w.gw, MARKET, id, "Price: **90**").await.unwrap(),
        Edited::Changed
    );
    let m = w.server.message(MARKET, id32(id)).unwrap();
    assert_eq!(m.text, "Price: 90");
    assert_eq!(m.entities.len(), 1);
    assert_eq!(m.entities[0].kind, "bold");
    assert!(m.edit_date.is_some());
    // The same edit again (a repeat after a crash): MESSAGE_NOT_MODIFIED, answered as done.
    assert_eq!(
        edit(&w.gw, MARKET, id, "Price: **90**").await.unwrap(),
        Edited::Unchanged
    );
    // Still one live post, no new message.
    assert_eq!(w.server.live_posts(MARKET, ACC1), vec![id32(id)]);
    assert_eq!(w.server.ledger_len(), 1);

    // The window passes: a non-admin can no longer edit.
    w.server.set_edit_window(0);
    let e = edit(&w.gw, MARKET, id, "Price: 80").await.unwrap_err();
    assert_eq!(e.code(), "MESSAGE_EDIT_TIME_EXPIRED");
    assert_eq!(e.class(), ErrorClass::BadContent);
    assert_eq!(e.scope(), Some(RefusalScope::Message));
    assert_eq!(
        w.server.message(MARKET, id32(id)).unwrap().text,
        "Price: 90"
    );
    // An admin of the chat has no window.
    let own = post(&w.gw, "acc1", OWN, "Own price", 2).await;
    assert_eq!(
        edit(&w.gw, OWN, own, "Own price, new").await.unwrap(),
        Edited::Changed
    );
    // A basic group is edited through the same call.
    w.server.set_edit_window(172_800);
    let g = post(&w.gw, "acc1", GROUP, "Group price", 3).await;
    assert_eq!(
        edit(&w.gw, GROUP, g, "Group price, new").await.unwrap(),
        Edited::Changed
    );
    assert_eq!(
        w.server.message(GROUP, id32(g)).unwrap().text,
        "Group price, new"
    );
    assert_eq!(w.server.calls("messages.editMessage"), 5);
}

#[tokio::test]
async fn an_edit_of_a_post_that_is_gone_or_not_ours_is_refused_by_name() {
    let w = world().await;
    let ours = post(&w.gw, "acc1", MARKET, "ours", 1).await;
    let theirs = post(&w.gw, "acc2", MARKET, "theirs", 2).await;

    let e = edit(&w.gw, MARKET, theirs, "mine now").await.unwrap_err();
    assert_eq!(e.code(), "MESSAGE_AUTHOR_REQUIRED");
    assert_eq!(e.scope(), Some(RefusalScope::Message));

    w.server
        .delete_as_admin(MARKET, ADMIN, &[id32(ours)])
        .unwrap();
    let e = edit(&w.gw, MARKET, ours, "again").await.unwrap_err();
    assert_eq!(e.code(), "MESSAGE_ID_INVALID");
    assert!(e.is_post_gone());
    assert!(e.refusal_reason().unwrap().contains("gone"));
    let e = edit(&w.gw, MARKET, 999_999, "never there")
        .await
        .unwrap_err();
    assert!(e.is_post_gone());
    // A text Telegram refuses is refused for the edit too.
    let long = "x".repeat(4097);
    let e = edit(&w.gw, MARKET, theirs + 100, &long).await.unwrap_err();
    assert!(e.is_post_gone(), "{e}");
    let fresh = post(&w.gw, "acc1", MARKET, "fresh", 3).await;
    let e = edit(&w.gw, MARKET, fresh, &long).await.unwrap_err();
    assert_eq!(e.code(), "MESSAGE_TOO_LONG");
}

#[tokio::test]
async fn delete_removes_our_posts_once_and_refuses_someone_elses() {
    let w = world().await;
    let a = post(&w.gw, "acc1", MARKET, "old", 1).await;
    let b = post(&w.gw, "acc1", MARKET, "new", 2).await;
    let theirs = post(&w.gw, "acc2", MARKET, "theirs", 3).await;
    let market = t(MARKET);

    assert_eq!(w.gw.delete("acc1", &market, &[a]).await.unwrap(), 1);
    assert_eq!(w.server.live_posts(MARKET, ACC1), vec![id32(b)]);
    assert_eq!(
        w.server.message(MARKET, id32(a)).unwrap().deleted_by,
        Some(ACC1)
    );
    // Again (after a crash): nothing left to delete, not an error.
    assert_eq!(w.gw.delete("acc1", &market, &[a]).await.unwrap(), 0);
    // Someone else's post: refused, and nothing of the call is deleted.
    let e =
        w.gw.delete("acc1", &market, &[b, theirs])
            .await
            .unwrap_err();
    assert_eq!(e.code(), "MESSAGE_DELETE_FORBIDDEN");
    assert_eq!(e.scope(), Some(RefusalScope::Message));
    assert_eq!(w.server.live_posts(MARKET, ACC1), vec![id32(b)]);
    assert_eq!(w.server.live_posts(MARKET, ACC2), vec![id32(theirs)]);
    assert_eq!(w.server.calls("channels.deleteMessages"), 3);

    // A basic group: bare ids through messages.deleteMessages, the other group untouched.
    let g1 = post(&w.gw, "acc1", GROUP, "group post", 4).await;
    let g2 = post(&w.gw, "acc1", GROUP2, "group 2 post", 5).await;
    assert_ne!(g1, g2, "basic groups share one id sequence, as on Telegram");
    assert_eq!(w.gw.delete("acc1", &t(GROUP), &[g1]).await.unwrap(), 1);
    assert!(w.server.live_posts(GROUP, ACC1).is_empty());
    assert_eq!(w.server.live_posts(GROUP2, ACC1), vec![id32(g2)]);
    assert_eq!(w.server.calls("messages.deleteMessages"), 1);
}

#[tokio::test]
async fn alive_finds_the_post_an_admin_deleted_in_one_call_per_chat() {
    let w = world().await;
    let a = post(&w.gw, "acc1", MARKET, "first", 1).await;
    let b = post(&w.gw, "acc1", MARKET, "second", 2).await;
    let g1 = post(&w.gw, "acc1", GROUP, "first", 3).await;
    let g2 = post(&w.gw, "acc1", GROUP, "second", 4).await;

    assert_eq!(w.server.delete_as_admin(MARKET, ADMIN, &[id32(a)]), Ok(1));
    assert_eq!(w.server.delete_as_admin(GROUP, ADMIN, &[id32(g2)]), Ok(1));
    edit(&w.gw, MARKET, b, "second, edited").await.unwrap();

    let live = PostState::Live {
        edited: false,
        pinned: false,
    };
    let states = w.gw.alive("acc1", &t(MARKET), &[a, b]).await.unwrap();
    assert_eq!(
        states,
        vec![
            (a, PostState::Gone),
            (
                b,
                PostState::Live {
                    edited: true,
                    pinned: false
                }
            )
        ]
    );
    assert_eq!(w.server.calls("channels.getMessages"), 1);
    let states = w.gw.alive("acc1", &t(GROUP), &[g1, g2]).await.unwrap();
    assert_eq!(states, vec![(g1, live), (g2, PostState::Gone)]);
    assert_eq!(w.server.calls("messages.getMessages"), 1);
    // Nothing asked, nothing called.
    assert!(
        w.gw.alive("acc1", &t(MARKET), &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.server.calls("channels.getMessages"), 1);
}

#[tokio::test]
async fn pin_and_unpin_change_the_state_once_and_need_the_right() {
    let w = world().await;
    let own = t(OWN);
    let id = post(&w.gw, "acc1", OWN, "current price", 1).await;

    assert_eq!(
        w.gw.pin("acc1", &own, id, true).await.unwrap(),
        PinChange::Changed
    );
    let m = w.server.message(OWN, id32(id)).unwrap();
    assert!(m.pinned && m.pinned_silently);
    assert_eq!(
        w.gw.alive("acc1", &own, &[id]).await.unwrap(),
        vec![(
            id,
            PostState::Live {
                edited: false,
                pinned: true
            }
        )]
    );
    // Pinned already (a repeat after a crash): CHAT_NOT_MODIFIED, answered as done.
    assert_eq!(
        w.gw.pin("acc1", &own, id, true).await.unwrap(),
        PinChange::Unchanged
    );
    assert_eq!(
        w.gw.unpin("acc1", &own, id).await.unwrap(),
        PinChange::Changed
    );
    assert!(!w.server.message(OWN, id32(id)).unwrap().pinned);
    assert_eq!(
        w.gw.unpin("acc1", &own, id).await.unwrap(),
        PinChange::Unchanged
    );
    assert_eq!(w.server.calls("messages.updatePinnedMessage"), 4);

    // No pin right in a chat where we are a plain member.
    let market = t(MARKET);
    let m = post(&w.gw, "acc1", MARKET, "price", 2).await;
    let e = w.gw.pin("acc1", &market, m, true).await.unwrap_err();
    assert_eq!(e.code(), "CHAT_ADMIN_REQUIRED");
    assert_eq!(e.scope(), Some(RefusalScope::Chat));
    assert!(!w.server.message(MARKET, id32(m)).unwrap().pinned);
    // A chat whose members may pin.
    let open = t(OPEN_PINS);
    let o = post(&w.gw, "acc1", OPEN_PINS, "price", 3).await;
    assert_eq!(
        w.gw.pin("acc1", &open, o, false).await.unwrap(),
        PinChange::Changed
    );
    let s = w.server.message(OPEN_PINS, id32(o)).unwrap();
    assert!(s.pinned && !s.pinned_silently);
    // A post that is gone cannot be pinned; deleting unpins.
    w.gw.delete("acc1", &open, &[o]).await.unwrap();
    assert!(!w.server.message(OPEN_PINS, id32(o)).unwrap().pinned);
    let e = w.gw.pin("acc1", &open, o, true).await.unwrap_err();
    assert_eq!(e.code(), "MESSAGE_ID_INVALID");
}

fn files(dir: &std::path::Path, names: &[&str]) -> Vec<std::path::PathBuf> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.join(n);
            std::fs::write(&p, vec![i as u8 + 1; 2000 + i]).unwrap();
            p
        })
        .collect()
}

async fn album(
    gw: &impl FollowUps,
    chat: i64,
    caption: &str,
    paths: &[std::path::PathBuf],
    first_id: i64,
) -> Result<smb_engine::SentAlbum, SendError> {
    let target = t(chat);
    let items: Vec<AlbumItem<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| AlbumItem {
            media: p,
            random_id: first_id + i as i64,
        })
        .collect();
    gw.send_album(AlbumRequest {
        account: "acc1",
        target: &target,
        caption,
        format: TextFormat::Markdown,
        items: &items,
    })
    .await
}

#[tokio::test]
async fn an_album_arrives_as_one_grouped_post_once_and_its_uploads_are_reused() {
    let w = world().await;
    let photos = files(w.dir.path(), &["a.jpg", "b.jpg", "c.png"]);

    let sent = album(&w.gw, MARKET, "**Catalogue**", &photos, 100)
        .await
        .unwrap();
    let ids = sent.message_ids.clone().expect("new posts");
    assert_eq!(ids.len(), 3);
    let group = sent.grouped_id.expect("a grouped_id");
    let ledger = w.server.ledger();
    assert_eq!(ledger.len(), 3);
    for (n, e) in ledger.iter().enumerate() {
        assert_eq!(e.grouped_id, Some(group));
        assert_eq!(e.random_id, 100 + n as i64);
        assert_eq!(i64::from(e.message_id), ids[n]);
        assert_eq!(e.media.as_ref().unwrap().kind, "photo");
    }
    // The caption on the first item only, with its entities.
    assert_eq!(ledger[0].text, "Catalogue");
    assert_eq!(ledger[0].entities[0].kind, "bold");
    assert!(ledger[1].text.is_empty() && ledger[2].text.is_empty());
    let states = w.gw.alive("acc1", &t(MARKET), &ids).await.unwrap();
    assert!(
        states
            .iter()
            .all(|(_, s)| matches!(s, PostState::Live { .. }))
    );

    // Re-sent with the same random_ids (after a crash): Telegram drops it.
    let again = album(&w.gw, MARKET, "**Catalogue**", &photos, 100)
        .await
        .unwrap();
    assert_eq!(again.message_ids, None);
    assert_eq!(w.server.duplicates(), 1);
    assert_eq!(w.server.ledger_len(), 3);
    assert_eq!(w.server.live_posts(MARKET, ACC1).len(), 3);

    // Each file went up once; the next album (another chat) reuses the stored media.
    assert_eq!(w.server.calls("upload.saveFilePart"), 3);
    assert_eq!(w.server.calls("messages.uploadMedia"), 3);
    let other = album(&w.gw, GROUP, "", &photos, 200).await.unwrap();
    assert_eq!(other.message_ids.unwrap().len(), 3);
    assert_eq!(w.server.calls("upload.saveFilePart"), 3);
    assert_eq!(w.server.calls("messages.uploadMedia"), 3);
    let grouped: Vec<_> = w
        .server
        .ledger()
        .iter()
        .filter(|e| e.chat == GROUP.to_string())
        .map(|e| (e.grouped_id, e.media.as_ref().unwrap().reused))
        .collect();
    assert_eq!(grouped, vec![(other.grouped_id, true); 3]);
}

#[tokio::test]
async fn albums_telegram_refuses_are_refused_by_name() {
    let w = world().await;
    let names: Vec<String> = (0..11).map(|i| format!("p{i}.jpg")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let eleven = files(w.dir.path(), &refs);
    let e = album(&w.gw, MARKET, "too many", &eleven, 1)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "MULTI_MEDIA_TOO_LONG");
    assert_eq!(e.scope(), Some(RefusalScope::Message));
    let e = album(&w.gw, MARKET, "one", &eleven[..1], 20)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "MEDIA_INVALID");
    let mixed = files(w.dir.path(), &["x.jpg", "price.pdf"]);
    let e = album(&w.gw, MARKET, "mixed", &mixed, 30).await.unwrap_err();
    assert_eq!(e.code(), "MEDIA_INVALID");
    assert!(e.refusal_reason().unwrap().contains("album"));
    let long = "y".repeat(1025);
    let e = album(&w.gw, MARKET, &long, &eleven[..2], 40)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "MEDIA_CAPTION_TOO_LONG");
    assert_eq!(w.server.ledger_len(), 0);
    // Ten documents are fine.
    let docs: Vec<String> = (0..10).map(|i| format!("d{i}.pdf")).collect();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let ten = files(w.dir.path(), &refs);
    let sent = album(&w.gw, MARKET, "docs", &ten, 50).await.unwrap();
    assert_eq!(sent.message_ids.unwrap().len(), 10);
    assert!(
        w.server
            .ledger()
            .iter()
            .all(|e| e.media.as_ref().unwrap().kind == "document")
    );
}
