//! Shared set-up for the grammers tests: a test server with a fixture, session files that
//! point at it, and the gateway's settings.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smb_mtproto_testserver::{ChatKind, ChatSpec, DC_ID, Fixture, TestServer, UserSpec};
use smb_telegram::grammers::{
    AccountConfig, ApiSettings, GrammersGateway, Identity, JsonPeerCacheStore, KdfParams, Login,
    PasswordRequest, SecretString, SessionStore, SignIn, StoredSession,
};

pub const API_HASH: &str = "0123456789abcdef0123456789abcdef";
pub const ACC1: i64 = 1001;
pub const ACC2: i64 = 1002;

pub fn api() -> ApiSettings {
    let mut api = ApiSettings::new(12345, SecretString::from(API_HASH));
    api.call_timeout = Duration::from_secs(10);
    api
}

pub fn v4(addr: SocketAddr) -> std::net::SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("the test server listens on 127.0.0.1"),
    }
}

pub fn store(dir: &Path, passphrase: Option<&str>) -> SessionStore {
    SessionStore::new(dir, passphrase.map(SecretString::from))
        .with_kdf(KdfParams::insecure_for_tests())
}

/// The session a new login starts from: the server's address and a fresh key.
pub fn fresh(server: &TestServer) -> StoredSession {
    StoredSession::for_server(v4(server.addr()), DC_ID, server.new_auth_key())
}

/// Asks for a code for `phone` and signs in with it; the account has 2FA, so the password
/// is asked next.
pub async fn code_then_password(
    login: &Login,
    server: &TestServer,
    phone: &str,
) -> PasswordRequest {
    let code = login.request_code(phone).await.expect("code sent");
    let SignIn::PasswordNeeded(request) = login
        .sign_in(&code, &server.login_code())
        .await
        .expect("step")
    else {
        panic!("2FA expected")
    };
    request
}

/// A session file for `user`, as a completed login leaves it.
pub fn seed_session(server: &TestServer, store: &SessionStore, account: &str, user: i64) {
    let key = server.auth_key(user).expect("fixture user has a key");
    let session = StoredSession {
        identity: Some(Identity {
            user_id: user,
            bot: false,
            first_name: account.into(),
            username: None,
        }),
        ..StoredSession::for_server(v4(server.addr()), DC_ID, key)
    };
    store.save(account, &session).expect("session saved");
}

/// Two accounts; 20 chats acc1 is in: 5 basic groups, 10 supergroups (the odd ones public),
/// 5 channels where acc1 is an admin. acc2 is in the first supergroup only.
pub fn fixture_20() -> Fixture {
    let mut f = Fixture::default()
        .user(
            UserSpec::new(ACC1, "Seller One")
                .username("seller_one")
                .phone("+15550001"),
        )
        .user(
            UserSpec::new(ACC2, "Seller Two")
                .phone("+15550002")
                .password("correct horse"),
        );
    for i in 0..5 {
        f = f.chat(
            ChatSpec::new(-(4000 + i), &format!("Group {i}"), ChatKind::Group).members(&[ACC1]),
        );
    }
    for i in 0..10 {
        let mut c = ChatSpec::new(super_id(i), &format!("Market {i}"), ChatKind::Supergroup)
            .members(&[ACC1]);
        if i % 2 == 1 {
            c = c.username(&format!("market_{i}"));
        }
        if i == 0 {
            c = c.members(&[ACC2]);
        }
        f = f.chat(c);
    }
    for i in 0..5 {
        f = f.chat(
            ChatSpec::new(channel_id(i), &format!("News {i}"), ChatKind::Channel)
                .members(&[ACC1])
                .admins(&[ACC1]),
        );
    }
    f
}

pub fn super_id(i: i64) -> i64 {
    -1_001_000_000_000 - i
}

pub fn channel_id(i: i64) -> i64 {
    -1_002_000_000_000 - i
}

/// The 20 targets of `fixture_20`, as the operator would write them.
pub fn targets_20() -> Vec<String> {
    let mut t: Vec<String> = (0..5).map(|i| (-(4000 + i)).to_string()).collect();
    for i in 0..10 {
        t.push(if i % 2 == 1 {
            format!("@market_{i}")
        } else {
            super_id(i).to_string()
        });
    }
    t.extend((0..5).map(|i| channel_id(i).to_string()));
    t
}

pub fn gateway(store: &SessionStore, accounts: &[&str]) -> GrammersGateway {
    let configs: Vec<AccountConfig> = accounts.iter().map(|a| AccountConfig::new(a)).collect();
    GrammersGateway::connect(
        &api(),
        store,
        &configs,
        Arc::new(JsonPeerCacheStore::new(store.dir())),
    )
}
