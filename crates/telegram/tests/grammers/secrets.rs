//! No secret (api_hash, auth key bytes, bot token, passphrase, 2FA password, proxy password)
//! appears in any log line or error: everything runs with every target at TRACE level, grammers
//! included, and the captured output is searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common::*;
use smb_domain::TargetRef;
use smb_engine::{Gateway, SendRequest, TextFormat};
use smb_mtproto_testserver::{FaultRule, TestServer, UserSpec};
use smb_telegram::grammers::{AccountHealth, Login, ProxyUrl, SecretString, check_account};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PASSPHRASE: &str = "pass-phrase-SECRET-1";
const PASSWORD: &str = "pw-SECRET-2";
const BOT_TOKEN: &str = "5005:TOKEN-SECRET-3";
const PROXY_PASSWORD: &str = "proxy-SECRET-4";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn trace_logs_and_errors_hold_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut errors: Vec<String> = Vec::new();

    let fixture = fixture_20()
        .user(
            UserSpec::new(3003, "Guarded")
                .phone("+15550003")
                .password(PASSWORD),
        )
        .user(UserSpec::new(5005, "Bot").bot_token(BOT_TOKEN));
    let server = TestServer::start(fixture).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), Some(PASSPHRASE));

    // Login by code with 2FA, a wrong password first.
    let login =
        Login::with_session(&api(), &store, "guarded", fresh(&server), None).expect("login");
    let req = code_then_password(&login, &server, "+15550003").await;
    let e = login
        .check_password(req, &SecretString::from("not-it"))
        .await
        .expect_err("wrong");
    errors.push(format!("{e} {e:?}"));
    let smb_telegram::grammers::LoginError::InvalidPassword { retry } = e else {
        panic!("{e:?}")
    };
    login
        .check_password(retry, &SecretString::from(PASSWORD))
        .await
        .expect("logged in");
    drop(login);

    // A bot, with a bad token first.
    let login = Login::with_session(&api(), &store, "bot", fresh(&server), None).expect("login");
    let e = login
        .bot_sign_in(&SecretString::from("5005:nope"))
        .await
        .expect_err("bad token");
    errors.push(format!("{e} {e:?}"));
    login
        .bot_sign_in(&SecretString::from(BOT_TOKEN))
        .await
        .expect("bot in");
    drop(login);

    // Sending, with an error on the way.
    seed_session(&server, &store, "acc1", ACC1);
    let gw = gateway(&store, &["acc1", "guarded"]);
    errors.push(format!("{gw:?}"));
    let target = TargetRef::parse(&super_id(0).to_string()).expect("target");
    let req = |random_id| SendRequest {
        account: "acc1",
        target: &target,
        text: "**bold** text",
        format: TextFormat::Markdown,
        media: None,
        link_preview: false,
        random_id,
        variant: None,
    };
    gw.send(req(1)).await.expect("sent");
    server.add_fault(FaultRule::error("FLOOD_WAIT_5").times(1));
    let e = gw.send(req(2)).await.expect_err("flood");
    errors.push(format!("{e} {e:?}"));
    gw.save_sessions().expect("saved");

    // A session file opened with the wrong passphrase.
    let e = crate::common::store(dir.path(), Some("other"))
        .load("acc1")
        .expect_err("wrong passphrase");
    errors.push(format!("{e} {e:?}"));

    // An unreachable proxy with credentials: the error must not carry them.
    let proxy =
        ProxyUrl::parse(&format!("socks5://user:{PROXY_PASSWORD}@127.0.0.1:9")).expect("url");
    errors.push(format!("{proxy:?} {}", proxy.display()));
    let health = check_account(&api(), &store, "acc1", Some(&proxy)).await;
    assert!(
        matches!(health, AccountHealth::Unreachable(_)),
        "{health:?}"
    );
    errors.push(format!("{health:?} {}", health.advice("acc1")));
    errors.push(format!("{:?}", api()));

    let logs = String::from_utf8(capture.0.lock().expect("capture lock").clone()).expect("utf8");
    assert!(logs.contains("TRACE"), "the capture works at trace level");
    assert!(
        logs.contains("messages.sendMessage"),
        "grammers' own logs are captured"
    );
    let everything = format!("{logs}\n{}", errors.join("\n"));
    let key = server.auth_key(ACC1).expect("key");
    let key_debug = format!("{:?}", &key[..6]);
    let secrets = [
        API_HASH.to_owned(),
        PASSPHRASE.to_owned(),
        PASSWORD.to_owned(),
        BOT_TOKEN.to_owned(),
        "TOKEN-SECRET".to_owned(),
        PROXY_PASSWORD.to_owned(),
        hex(&key[..16]),
        key_debug.trim_end_matches(']').to_owned(),
    ];
    for s in &secrets {
        assert!(
            !everything.contains(s.as_str()),
            "secret `{s}` leaked:\n{everything}"
        );
    }
}
