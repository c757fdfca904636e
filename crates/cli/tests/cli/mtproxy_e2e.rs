//! The real binary through an MTProto proxy: the MTProto test server and a test MTProxy
//! (plain, `dd` and `ee` secrets) run in this process; the account's session names made-up DC
//! addresses (TEST-NET 192.0.2.N), so the only way to the server is the bridge and the proxy.
//! `accounts login` by code, `run --once` with a text near the limit in multi-byte characters
//! and a 48 KB document, a connection dropped mid-run, and a wrong secret reported by `check
//! --online`, `accounts login` and `run` as "check PROXY_SECRET" within the proxy timeout
//! (`SMB_MTPROXY_TIMEOUT_MS`, shortened here).
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::server::FAST_NO_PREFLIGHT as FAST;
use common::{API_HASH, text};

use rand::{Rng, RngCore};
use smb_mtproto_testserver::mtproxy::{ProxyMode, TestMtproxy};
use smb_mtproto_testserver::{ChatKind, ChatSpec, DC_ID, FaultRule, Fixture, TestServer, UserSpec};
use smb_telegram::grammers::{Identity, SessionStore, StoredSession};
use smb_telegram::mtproxy::{MtproxySecret, SecretKind};

const ACC1: i64 = 1001;
const KEY: [u8; 16] = *b"0123456789abcdef";
const DOMAIN: &str = "www.example.com";
/// The DC a login is sent to by PHONE_MIGRATE (home is DC_ID).
const OTHER_DC: i32 = 4;
const COMMAND_LIMIT: Duration = Duration::from_secs(45);

fn super_id(i: i64) -> i64 {
    -1_001_000_000_000 - i
}

fn fixture() -> Fixture {
    let mut f = Fixture {
        login_code: "24680".to_owned(),
        ..Fixture::default()
    }
    .user(UserSpec::new(ACC1, "Seller One").phone("+15550001"));
    for i in 0..3 {
        f = f.chat(
            ChatSpec::new(super_id(i), &format!("Market {i}"), ChatKind::Supergroup)
                .members(&[ACC1]),
        );
    }
    f
}

fn mode_of(secret: &MtproxySecret) -> ProxyMode {
    match secret.kind() {
        SecretKind::Plain => ProxyMode::Plain,
        SecretKind::Padded => ProxyMode::Padded,
        SecretKind::FakeTls { domain } => ProxyMode::FakeTls {
            domain: domain.clone(),
        },
    }
}

struct World {
    server: TestServer,
    proxy: TestMtproxy,
    dir: tempfile::TempDir,
    // Declared last: dropped after the server and the proxy.
    rt: tokio::runtime::Runtime,
}

impl World {
    /// The server and a proxy configured with `secret`.
    fn start(secret: &MtproxySecret) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(TestServer::start(fixture())).expect("server");
        let proxy = rt
            .block_on(TestMtproxy::start(
                *secret.key(),
                mode_of(secret),
                (1..=5).map(|id| (id, server.addr())),
            ))
            .expect("proxy");
        World {
            server,
            proxy,
            dir: tempfile::tempdir().expect("tempdir"),
            rt,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn port(&self) -> u16 {
        self.proxy.addr().port()
    }

    /// A session as a key exchange (and, with `identity`, a login) leaves it, except that
    /// every DC address is made up: only the bridge can reach the server.
    fn seed(&self, key: [u8; 256], identity: Option<Identity>) {
        let SocketAddr::V4(addr) = self.server.addr() else {
            panic!("the test server listens on 127.0.0.1");
        };
        let mut session = StoredSession::for_server(addr, DC_ID, key);
        for d in &mut session.dc_options {
            // The test server knows the key on whichever DC the client thinks it talks to.
            if d.id == OTHER_DC {
                d.auth_key = Some(key);
            }
            d.ipv4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, d.id as u8), 443);
            d.ipv6 = SocketAddrV6::new(
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d.id as u16),
                443,
                0,
                0,
            );
        }
        session.identity = identity;
        SessionStore::new(self.path().join("sessions"), None)
            .save("acc1", &session)
            .expect("seed session");
    }

    fn seed_logged_in(&self) {
        let key = self.server.auth_key(ACC1).expect("key");
        self.seed(key, Some(common::identity(ACC1, "acc1")));
    }

    /// `[accounts.acc1]` with `proxy` (a TOML line or nothing), three chats, a long text and a
    /// document.
    fn config(&self, proxy: &str) {
        let mut doc = vec![0u8; 48 * 1024];
        rand::rng().fill_bytes(&mut doc);
        std::fs::write(self.path().join("list.bin"), doc).expect("document");
        let chats: Vec<String> = (0..3).map(|i| format!("\"{}\"", super_id(i))).collect();
        std::fs::write(
            self.path().join("sendmessagebot.toml"),
            format!(
                r#"{FAST}
[accounts.acc1]
phone = "+15550001"
{proxy}
[targets]
t = [{}]
one = ["{}"]
[messages.long]
texts = ["{}"]
[messages.doc]
media = "list.bin"
texts = ["Прайс-лист на сегодня"]
[broadcasters.long]
account = "acc1"
targets = "t"
messages = "long"
[broadcasters.doc]
account = "acc1"
targets = "one"
messages = "doc"
"#,
                chats.join(", "),
                super_id(0),
                long_text()
            ),
        )
        .expect("config");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = common::command(self.path(), args);
        c.env("API_ID", "12345")
            .env("API_HASH", API_HASH)
            .env("WEB_BIND", "127.0.0.1:0")
            .env("SMB_MTPROXY_TIMEOUT_MS", "1500")
            .env_remove("SESSION_PASSPHRASE")
            .env_remove("PROXY_PROTOCOL")
            .env_remove("PROXY_ADDR")
            .env_remove("PROXY_PORT")
            .env_remove("PROXY_SECRET");
        c
    }

    fn run_with(&self, cmd: Command, stdin: Option<&str>) -> Output {
        common::run_with(cmd, stdin, COMMAND_LIMIT).unwrap_or_else(|out| {
            panic!(
                "sendmessagebot did not finish in {COMMAND_LIMIT:?}\n{}",
                text(&out)
            )
        })
    }
}

/// 4090 characters of Cyrillic, CJK and symbols (about 11 KB of UTF-8): as long a text as
/// the configuration accepts (4096), in the widest characters it can hold.
fn long_text() -> String {
    let mut rng = rand::rng();
    let mut t = String::from("Цены: ");
    while t.chars().count() < 4090 {
        t.push(match rng.random_range(0..4) {
            0 => char::from_u32(rng.random_range(0x0430..0x0450)).expect("Cyrillic"),
            1 => '€',
            _ => char::from_u32(rng.random_range(0x4e00..0x9fff)).expect("CJK"),
        });
    }
    t
}

/// `check`, login by code, `run --once` and `accounts list` through the proxy; `env` adds
/// variables (the seed's PROXY_*) to every command.
fn login_and_run(w: &World, secret: &MtproxySecret, env: &[(&str, String)]) {
    let command = |args: &[&str]| {
        let mut c = w.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    };
    let mut outputs = Vec::new();
    let out = w.run_with(command(&["check"]), None);
    assert!(out.status.success(), "check: {}", text(&out));
    outputs.push(text(&out));

    let key = w.server.new_auth_key();
    w.seed(key, None);
    let code = w.server.login_code();
    let out = w.run_with(
        command(&["accounts", "login", "acc1"]),
        Some(&format!("{code}\n")),
    );
    assert!(out.status.success(), "login: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("acc1 logged in as Seller One"),
        "{}",
        text(&out)
    );
    assert_eq!(w.server.user_of_key(&key), Some(ACC1));
    outputs.push(text(&out));

    let out = w.run_with(
        command(&["run", "--once", "--no-metrics", "--ignore-quiet-hours"]),
        None,
    );
    assert!(out.status.success(), "run: {}", text(&out));
    outputs.push(text(&out));
    let ledger = w.server.ledger();
    let mut long: Vec<&str> = ledger
        .iter()
        .filter(|e| e.text.starts_with("Цены: "))
        .map(|e| e.chat.as_str())
        .collect();
    long.sort_unstable();
    let mut want: Vec<String> = (0..3).map(|i| super_id(i).to_string()).collect();
    want.sort();
    assert_eq!(long, want, "the long text reached each chat once");
    assert!(
        ledger
            .iter()
            .filter(|e| e.text.starts_with("Цены: "))
            .all(|e| e.text.chars().count() == 4090)
    );
    let docs: Vec<_> = ledger.iter().filter(|e| e.media.is_some()).collect();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0].text, "Прайс-лист на сегодня");
    let seen = w.proxy.dcs_seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|dc| *dc == DC_ID),
        "{seen:?}"
    );

    let out = w.run_with(command(&["accounts", "list"]), None);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains(&format!("mtproxy://127.0.0.1:{}", w.port())),
        "{listed}"
    );
    outputs.push(text(&out));
    let hex = secret.to_hex();
    for out in outputs {
        assert!(!out.contains(&hex), "the secret in {out}");
    }
}

#[test]
fn plain_secret_from_an_mtproxy_link() {
    let secret = MtproxySecret::plain(KEY);
    let w = World::start(&secret);
    w.config(&format!(
        "proxy = \"mtproxy://127.0.0.1:{}?secret={}\"",
        w.port(),
        secret.to_hex()
    ));
    login_and_run(&w, &secret, &[]);
}

#[test]
fn padded_secret_from_a_tg_link() {
    let secret = MtproxySecret::padded(KEY);
    let w = World::start(&secret);
    w.config(&format!(
        "proxy = \"tg://proxy?server=127.0.0.1&port={}&secret={}\"",
        w.port(),
        secret.to_hex()
    ));
    login_and_run(&w, &secret, &[]);
}

#[test]
fn fake_tls_secret_from_the_seed_variables() {
    let secret = MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee");
    let w = World::start(&secret);
    w.config("");
    login_and_run(
        &w,
        &secret,
        &[
            ("PROXY_ENABLED", "true".to_owned()),
            ("PROXY_PROTOCOL", "mtproto".to_owned()),
            ("PROXY_ADDR", "127.0.0.1".to_owned()),
            ("PROXY_PORT", w.port().to_string()),
            ("PROXY_SECRET", secret.to_hex()),
        ],
    );
}

#[test]
fn a_connection_dropped_mid_run_is_recovered() {
    let secret = MtproxySecret::padded(KEY);
    let w = World::start(&secret);
    w.config(&format!(
        "proxy = \"https://t.me/proxy?server=127.0.0.1&port={}&secret={}\"",
        w.port(),
        secret.to_hex()
    ));
    w.seed_logged_in();
    // The second send never arrives: the server closes the connection, so the proxy closes
    // the bridge's, and grammers must dial through the bridge again.
    w.server.add_fault(
        FaultRule::error("DROP")
            .account(&ACC1.to_string())
            .after(1)
            .times(1),
    );
    let out = w.run_with(w.command(&["run", "--once", "--no-metrics"]), None);
    assert!(out.status.success(), "{}", text(&out));
    let ledger = w.server.ledger();
    let mut chats: Vec<String> = ledger
        .iter()
        .filter(|e| e.media.is_none())
        .map(|e| e.chat.clone())
        .collect();
    chats.sort();
    let mut want: Vec<String> = (0..3).map(|i| super_id(i).to_string()).collect();
    want.sort();
    assert_eq!(chats, want, "every chat once despite the drop");
    assert!(
        w.proxy.dcs_seen().len() >= 2,
        "a second handshake through the proxy"
    );
}

#[test]
fn a_wrong_or_bad_secret_is_reported() {
    let secret = MtproxySecret::plain(KEY);
    let w = World::start(&secret);
    let mut wrong = KEY;
    wrong[0] ^= 1;
    let wrong = MtproxySecret::plain(wrong);

    // A secret that is not one: `check` says why, offline.
    w.config(&format!(
        "proxy = \"mtproxy://127.0.0.1:{}?secret=abc\"",
        w.port()
    ));
    let out = w.run_with(w.command(&["check"]), None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("accounts.acc1.proxy"), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("secret"),
        "{}",
        text(&out)
    );

    // A well-formed secret the proxy does not take: every online command says so in time.
    w.config(&format!(
        "proxy = \"mtproxy://127.0.0.1:{}?secret={}\"",
        w.port(),
        wrong.to_hex()
    ));
    w.seed_logged_in();
    let check_secret = "proxy did not answer — check PROXY_SECRET";
    for args in [&["check", "--online"][..], &["accounts", "check"][..]] {
        let started = Instant::now();
        let out = w.run_with(w.command(args), None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(check_secret),
            "{args:?}: {}",
            text(&out)
        );
        assert!(started.elapsed() < Duration::from_secs(15), "{args:?}");
    }
    let out = w.run_with(w.command(&["run", "--once", "--no-metrics"]), None);
    assert!(text(&out).contains(check_secret), "run: {}", text(&out));
    assert!(w.server.ledger().is_empty());

    w.seed(w.server.new_auth_key(), None);
    let started = Instant::now();
    let out = w.run_with(w.command(&["accounts", "login", "acc1"]), Some("24680\n"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(check_secret), "login: {}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(w.proxy.refused() >= 3);
    let _ = &w.rt;
}

#[test]
fn a_login_moved_to_another_dc_goes_through_the_proxy() {
    let secret = MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee");
    let w = World::start(&secret);
    w.config(&format!(
        "proxy = \"mtproxy://127.0.0.1:{}?secret={}\"",
        w.port(),
        secret.to_hex()
    ));
    let key = w.server.new_auth_key();
    w.seed(key, None);
    // Telegram sends a phone to its home DC: grammers reconnects to DC 4's (made-up) address,
    // which only the bridge can map to a DC id for the proxy.
    w.server.add_fault(
        FaultRule::error(&format!("PHONE_MIGRATE_{OTHER_DC}"))
            .method("auth.sendCode")
            .times(1),
    );
    let out = w.run_with(
        w.command(&["accounts", "login", "acc1"]),
        Some(&format!("{}\n", w.server.login_code())),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("DC {OTHER_DC}")),
        "{}",
        text(&out)
    );
    assert_eq!(w.server.user_of_key(&key), Some(ACC1));
    let seen = w.proxy.dcs_seen();
    assert!(
        seen.contains(&DC_ID) && seen.contains(&OTHER_DC),
        "{seen:?}"
    );
    // Sending from the new home DC, still through the proxy.
    let out = w.run_with(w.command(&["run", "--once", "--no-metrics"]), None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.server.ledger().len(), 4);
}

/// Issue 19: a wrong fake-TLS (`ee`) secret. The TCP connection succeeds, so the cause is the
/// secret, never "check PROXY_ADDR and PROXY_PORT" — both when the proxy answers a ServerHello
/// we cannot verify and when it answers nothing at all. `run --once` names the cause in its
/// deliveries (not a bare NETWORK) and gives up after a bounded number of connections.
#[test]
fn a_wrong_fake_tls_secret_is_named_as_the_secret_not_the_address() {
    let secret = MtproxySecret::fake_tls(KEY, DOMAIN).expect("ee");
    let w = World::start(&secret);
    let mut wrong = KEY;
    wrong[0] ^= 1;
    let wrong = MtproxySecret::fake_tls(wrong, DOMAIN).expect("ee");
    w.config(&format!(
        "proxy = \"mtproxy://127.0.0.1:{}?secret={}\"",
        w.port(),
        wrong.to_hex()
    ));
    w.seed_logged_in();
    for silent in [false, true] {
        if silent {
            w.proxy.stay_silent_on_wrong_tls();
        }
        for args in [&["check", "--online"][..], &["accounts", "check"][..]] {
            let out = w.run_with(w.command(args), None);
            let t = text(&out);
            assert_eq!(out.status.code(), Some(1), "silent={silent} {args:?}: {t}");
            assert!(
                t.contains("check PROXY_SECRET") && !t.contains("PROXY_ADDR and PROXY_PORT"),
                "silent={silent} {args:?}: {t}"
            );
            assert!(!t.contains(&wrong.to_hex()), "the secret in {t}");
        }
        let before = w.proxy.refused();
        let out = w.run_with(w.command(&["run", "--once", "--no-metrics"]), None);
        let t = text(&out);
        assert!(
            t.contains("check PROXY_SECRET") && !t.contains("PROXY_ADDR and PROXY_PORT"),
            "silent={silent} run: {t}"
        );
        assert!(!t.contains(&wrong.to_hex()), "the secret in {t}");
        assert!(
            t.contains("PROXY_SECRET_REFUSED"),
            "silent={silent} run: {t}"
        );
        let attempts = w.proxy.refused() - before;
        assert!(
            (1..=6).contains(&attempts),
            "silent={silent}: run --once made {attempts} connections through a proxy that refuses the secret: {t}"
        );
        assert!(w.server.ledger().is_empty());
    }
    let _ = &w.rt;
}
