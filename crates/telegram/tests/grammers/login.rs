//! Login through the library API the CLI drives, against the MTProto test server: by code,
//! with a 2FA password, as a bot; the errors a user can run into; and what `accounts list`,
//! `accounts check` and `accounts logout` report afterwards.

use crate::common::*;
use smb_domain::TargetRef;
use smb_engine::{Gateway, SendRequest, TextFormat};
use smb_mtproto_testserver::{DC_ID, TestServer, UserSpec};
use smb_telegram::grammers::{
    AccountHealth, Login, LoginError, SecretString, SignIn, check_account, list_accounts, logout,
};

#[tokio::test]
async fn login_by_code_then_send() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), Some("passphrase"));

    let login = Login::with_session(&api(), &store, "acc1", fresh(&server), None).expect("login");
    assert!(!login.is_authorized().await.expect("asks"));
    let code = login.request_code("+15550001").await.expect("code sent");
    let e = login.sign_in(&code, "99999").await.expect_err("wrong code");
    assert!(matches!(e, LoginError::InvalidCode), "{e:?}");
    assert!(e.to_string().contains("request a new code"));
    let code = login.request_code("+15550001").await.expect("code sent");
    let SignIn::Done(info) = login
        .sign_in(&code, &server.login_code())
        .await
        .expect("signs in")
    else {
        panic!("no 2FA on this account")
    };
    assert_eq!(
        (info.user_id, info.username.as_deref(), info.bot),
        (ACC1, Some("seller_one"), false)
    );
    drop(login);

    // The session file now carries the login: the gateway can send with it.
    let gw = gateway(&store, &["acc1"]);
    let target = TargetRef::parse(&super_id(0).to_string()).expect("target");
    gw.send(SendRequest {
        account: "acc1",
        target: &target,
        text: "logged in",
        format: TextFormat::Plain,
        media: None,
        link_preview: true,
        random_id: 9,
        variant: None,
    })
    .await
    .expect("sent");
    assert_eq!(server.ledger()[0].account, ACC1);

    let listed = list_accounts(&store).expect("lists");
    assert_eq!(listed.len(), 1);
    let summary = listed[0].session.as_ref().expect("readable");
    assert_eq!(summary.identity.as_ref().map(|i| i.user_id), Some(ACC1));
    assert_eq!(summary.home_dc, DC_ID);

    let health = check_account(&api(), &store, "acc1", None).await;
    assert!(
        matches!(&health, AccountHealth::Ok(i) if i.user_id == ACC1),
        "{health:?}"
    );
    server.revoke(ACC1);
    let health = check_account(&api(), &store, "acc1", None).await;
    assert!(
        matches!(&health, AccountHealth::Dead { code } if code == "AUTH_KEY_UNREGISTERED"),
        "{health:?}"
    );
    assert!(
        health
            .advice("acc1")
            .contains("sendmessagebot accounts login acc1")
    );
    assert!(matches!(
        check_account(&api(), &store, "nobody", None).await,
        AccountHealth::NoSession
    ));

    assert!(
        logout(&api(), &store, "acc1", None)
            .await
            .expect("logged out")
    );
    assert!(store.load("acc1").expect("reads").is_none());
}

#[tokio::test]
async fn login_with_a_2fa_password() {
    let server = TestServer::start(fixture_20()).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    let login = Login::with_session(&api(), &store, "acc2", fresh(&server), None).expect("login");
    let request = code_then_password(&login, &server, "+15550002").await;
    let e = login
        .check_password(request, &SecretString::from("wrong horse"))
        .await
        .expect_err("wrong password");
    let LoginError::InvalidPassword { retry } = e else {
        panic!("{e:?}")
    };
    let info = login
        .check_password(retry, &SecretString::from("correct horse"))
        .await
        .expect("right");
    assert_eq!(info.user_id, ACC2);
    assert_eq!(
        store
            .load("acc2")
            .expect("reads")
            .and_then(|s| s.identity)
            .map(|i| i.user_id),
        Some(ACC2)
    );
}

#[tokio::test]
async fn unknown_phone_needs_sign_up_and_bots_use_tokens() {
    let fixture = fixture_20().user(
        UserSpec::new(5005, "Report Bot")
            .username("report_bot")
            .bot_token("5005:AAbbCC"),
    );
    let server = TestServer::start(fixture).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);

    let login = Login::with_session(&api(), &store, "newbie", fresh(&server), None).expect("login");
    let code = login.request_code("+15559999").await.expect("code sent");
    let e = login
        .sign_in(&code, &server.login_code())
        .await
        .expect_err("no such account");
    assert!(matches!(e, LoginError::SignUpRequired), "{e:?}");
    assert!(e.to_string().contains("official Telegram app"));

    let login = Login::with_session(&api(), &store, "bot", fresh(&server), None).expect("login");
    let e = login
        .bot_sign_in(&SecretString::from("5005:wrong"))
        .await
        .expect_err("bad token");
    assert!(matches!(e, LoginError::BotTokenInvalid), "{e:?}");
    let info = login
        .bot_sign_in(&SecretString::from("5005:AAbbCC"))
        .await
        .expect("bot in");
    assert_eq!((info.user_id, info.bot), (5005, true));
}
