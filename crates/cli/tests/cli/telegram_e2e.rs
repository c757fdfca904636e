//! The real binary on the real Telegram path (grammers gateway, session files, login) against
//! the MTProto test server, started in this process on 127.0.0.1: login by code, 2FA and bot
//! token; `run --once` over 20 chats with entities and a photo; flood wait, slow mode,
//! forbidden chats, a revoked account, dropped connections; `kill -9` at random moments; and
//! a TRACE-level run whose output holds no secret.
//!
//! Sessions are pre-seeded the way a key exchange would leave them (the test server cannot do
//! one: it lacks Telegram's RSA key): a session file pointing at the server with a key it issued.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::server::FAST_NO_PREFLIGHT as FAST;
use common::{API_HASH, hex, text};
use rand::{Rng, SeedableRng};
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, LedgerEntry, UserSpec};
use sqlx::Row;
const ACC1: i64 = 1001;
const ACC2: i64 = 1002;
const ACC3: i64 = 1003;
const BOT: i64 = 5005;
const PASSWORD: &str = "pw-SECRET-two-factor";
const BOT_TOKEN: &str = "5005:AAH-bot-TOKEN-SECRET";
const PASSPHRASE: &str = "session-PASSPHRASE-SECRET";
/// The longest any one command may take before the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

fn super_id(i: i64) -> i64 {
    -1_001_000_000_000 - i
}

fn channel_id(i: i64) -> i64 {
    -1_002_000_000_000 - i
}

fn group_id(i: i64) -> i64 {
    -(4000 + i)
}

/// The 20 chats of `acc1`, as the operator writes them: 5 groups, 10 supergroups (the odd
/// ones by @username), 5 channels where acc1 is an admin.
fn targets_20() -> Vec<String> {
    let mut t: Vec<String> = (0..5).map(|i| group_id(i).to_string()).collect();
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

/// The bot-API id of each of `targets_20` (the ledger's `chat`).
fn chat_ids_20() -> Vec<String> {
    let mut t: Vec<String> = (0..5).map(|i| group_id(i).to_string()).collect();
    t.extend((0..10).map(|i| super_id(i).to_string()));
    t.extend((0..5).map(|i| channel_id(i).to_string()));
    t
}

/// acc1 is in all 20 chats; acc2 in the ten supergroups; acc3 in the first three.
fn fixture() -> Fixture {
    let mut f = Fixture {
        login_code: "24680".to_owned(),
        ..Fixture::default()
    }
    .user(
        UserSpec::new(ACC1, "Seller One")
            .username("seller_one")
            .phone("+15550001"),
    )
    .user(
        UserSpec::new(ACC2, "Seller Two")
            .phone("+15550002")
            .password(PASSWORD),
    )
    .user(UserSpec::new(ACC3, "Seller Three").phone("+15550003"))
    .user(UserSpec::new(BOT, "Price Bot").bot_token(BOT_TOKEN));
    for i in 0..5 {
        f = f.chat(
            ChatSpec::new(group_id(i), &format!("Group {i}"), ChatKind::Group).members(&[ACC1]),
        );
    }
    for i in 0..10 {
        let mut c = ChatSpec::new(super_id(i), &format!("Market {i}"), ChatKind::Supergroup)
            .members(&[ACC1, ACC2]);
        if i % 2 == 1 {
            c = c.username(&format!("market_{i}"));
        }
        if i < 3 {
            c = c.members(&[ACC3]);
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

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// One test's world: the server and a working directory (`common::server`).
type World = common::server::ServerWorld;

impl World {
    /// Runs the binary to completion (at most COMMAND_LIMIT), with `stdin` as its input.
    fn run_with(&self, cmd: Command, stdin: Option<&str>) -> Output {
        self.run_within(cmd, stdin, COMMAND_LIMIT)
    }

    /// Runs and requires exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn query(&self, sql: &'static str) -> Vec<sqlx::sqlite::SqliteRow> {
        let db = self.path().join("data/sendmessagebot.db");
        self.rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("open the journal");
            let rows = sqlx::query(sql).fetch_all(&pool).await.expect("query");
            pool.close().await;
            rows
        })
    }

    fn stopped_reasons(&self) -> HashMap<String, Option<String>> {
        self.query("SELECT account, stopped_reason FROM accounts")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}

fn at(e: &LedgerEntry) -> jiff::Timestamp {
    e.at.parse().expect("RFC 3339 time in the ledger")
}

fn of(ledger: &[LedgerEntry], user: i64) -> Vec<LedgerEntry> {
    ledger
        .iter()
        .filter(|e| e.account == user)
        .cloned()
        .collect()
}

#[test]
fn login_by_code_with_2fa_and_as_a_bot_then_list_check_logout() {
    let mut w = World::start(fixture());
    w.passphrase = Some(PASSPHRASE);
    w.config(&format!(
        "{FAST}\n[accounts.acc1]\nphone = \"+15550001\"\n[accounts.acc2]\n[accounts.bot1]\nkind = \"bot\"\n\
         [targets]\nt = [\"{}\"]\n[messages.m]\ntexts = [\"hi\"]\n\
         [broadcasters.b]\naccount = \"acc1\"\ntargets = \"t\"\nmessages = \"m\"\n",
        super_id(0)
    ));
    let k1 = w.seed_fresh("acc1");
    let k2 = w.seed_fresh("acc2");
    let k3 = w.seed_fresh("bot1");

    // A wrong code: a clear error, exit 1.
    let out = w.run_with(w.command(&["accounts", "login", "acc1"]), Some("99999\n"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("login code is wrong"), "{}", text(&out));

    // By code on stdin; the phone from the configuration.
    let code = w.server.login_code();
    let out = w.run_with(
        w.command(&["accounts", "login", "acc1"]),
        Some(&format!("{code}\n")),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("acc1 logged in as Seller One (@seller_one), DC 2")
            && stdout.contains("(encrypted)"),
        "{stdout}"
    );
    assert_eq!(w.server.user_of_key(&k1), Some(ACC1));

    // By code from a file, with a 2FA password from a variable.
    let code_file = w.path().join("code.txt");
    std::fs::write(&code_file, format!("{code}\n")).expect("code file");
    let mut cmd = w.command(&[
        "accounts",
        "login",
        "acc2",
        "--phone",
        "+15550002",
        "--code-file",
        "code.txt",
        "--password-env",
        "ACC2_2FA",
    ]);
    cmd.env("ACC2_2FA", "not-the-password");
    let out = w.run_with(cmd, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("2FA password is wrong"),
        "{}",
        text(&out)
    );
    let mut cmd = w.command(&[
        "accounts",
        "login",
        "acc2",
        "--phone",
        "+15550002",
        "--code-file",
        "code.txt",
        "--password-env",
        "ACC2_2FA",
    ]);
    cmd.env("ACC2_2FA", PASSWORD);
    let out = w.run_with(cmd, None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.server.user_of_key(&k2), Some(ACC2));

    // A bot by token; scripted without a token it says what to pass.
    let out = w.run(&["accounts", "login", "bot1"]);
    assert!(text(&out).contains("--bot-token-env"), "{}", text(&out));
    let mut cmd = w.command(&["accounts", "login", "bot1", "--bot-token-env", "BOT1_TOKEN"]);
    cmd.env("BOT1_TOKEN", BOT_TOKEN);
    let out = w.run_with(cmd, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("[bot]"), "{}", text(&out));
    assert_eq!(w.server.user_of_key(&k3), Some(BOT));

    // Already logged in: nothing to do.
    let again = w.ok(&["accounts", "login", "acc1"]);
    assert!(again.contains("already logged in"), "{again}");

    // Session files: private and sealed.
    for name in ["acc1", "acc2", "bot1"] {
        let path = w.path().join(format!("sessions/{name}.session"));
        let bytes = std::fs::read(&path).expect("session file");
        assert_eq!(&bytes[..10], b"SMBSESS\0\x01\x01", "{name}: sealed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    let listed: serde_json::Value =
        serde_json::from_str(&w.ok(&["accounts", "list", "--json"])).expect("json");
    let rows: Vec<(String, String, String, i64)> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["authorized"].as_str().unwrap_or_default().to_owned(),
                r["telegram"].as_str().unwrap_or_default().to_owned(),
                r["dc"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "acc1".into(),
                "yes".into(),
                "Seller One @seller_one".into(),
                2
            ),
            ("acc2".into(), "yes".into(), "Seller Two".into(), 2),
            ("bot1".into(), "yes".into(), "Price Bot".into(), 2),
        ]
    );
    let check = w.ok(&["accounts", "check"]);
    assert_eq!(check.matches('✓').count(), 3, "{check}");

    // A revoked session: check says what to do and exits 1.
    w.server.revoke(ACC2);
    let out = w.run(&["accounts", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("✗ acc2: Telegram no longer accepts this session (AUTH_KEY_UNREGISTERED): run `sendmessagebot accounts login acc2`"),
        "{}",
        text(&out)
    );

    // A wrong passphrase is a clear error, never a crash.
    let mut cmd = w.command(&["accounts", "check"]);
    cmd.env("SESSION_PASSPHRASE", "not-it");
    let out = w.run_with(cmd, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("SESSION_PASSPHRASE is wrong"),
        "{}",
        text(&out)
    );

    let out = w.ok(&["accounts", "logout", "acc1"]);
    assert!(out.contains("acc1 logged out"), "{out}");
    assert!(!w.path().join("sessions/acc1.session").exists());
    assert_eq!(w.server.calls("auth.logOut"), 1);
}

#[test]
fn run_once_posts_20_chats_with_entities_a_photo_and_waits_out_slow_mode() {
    let w = World::start(
        fixture().chat(
            ChatSpec::new(super_id(20), "Slow market", ChatKind::Supergroup)
                .members(&[ACC1])
                .slow_mode(2),
        ),
    );
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    std::fs::write(
        w.path().join("price.png"),
        b"\x89PNG\r\n\x1a\nnot really a png",
    )
    .expect("photo");
    let mut slow = vec![super_id(20).to_string()];
    slow.extend(targets_20().into_iter().take(3));
    let photo_chats: Vec<String> = (0..3).map(|i| super_id(i).to_string()).collect();
    let mut promo = vec![super_id(20).to_string()];
    promo.extend(targets_20());
    w.config(&format!(
        r#"{FAST}
[accounts.acc1]
[accounts.acc2]
[targets]
promo = {}
slow = {}
photo = {}
[messages.promo]
format = "markdown"
texts = ["**Wholesale** prices: [catalogue](https://example.com/c), code `B2B`"]
[messages.short]
texts = ["second broadcaster"]
[messages.photo]
media = "price.png"
texts = ["Price list for today"]
[broadcasters.promo]
account = "acc1"
targets = "promo"
messages = "promo"
[broadcasters.slow]
account = "acc1"
targets = "slow"
messages = "short"
[broadcasters.photo]
account = "acc2"
targets = "photo"
messages = "photo"
"#,
        list(&promo),
        list(&slow),
        list(&photo_chats)
    ));
    let started = Instant::now();
    w.ok(&["run", "--once", "--no-metrics"]);
    eprintln!("run --once took {:?}", started.elapsed());

    let ledger = w.server.ledger();
    let promo_posts: Vec<&LedgerEntry> = ledger
        .iter()
        .filter(|e| e.text.starts_with("Wholesale"))
        .collect();
    let mut chats: Vec<String> = promo_posts.iter().map(|e| e.chat.clone()).collect();
    chats.sort();
    let mut want = chat_ids_20();
    want.push(super_id(20).to_string());
    want.sort();
    assert_eq!(chats, want, "every chat got the promo exactly once");
    for e in &promo_posts {
        assert_eq!(e.text, "Wholesale prices: catalogue, code B2B");
        let kinds: Vec<(&str, i32, i32, Option<&str>)> = e
            .entities
            .iter()
            .map(|x| (x.kind.as_str(), x.offset, x.length, x.url.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bold", 0, 9, None),
                ("text_url", 18, 9, Some("https://example.com/c")),
                ("code", 34, 3, None),
            ],
            "entities intact in {}",
            e.chat
        );
    }

    let photos = of(&ledger, ACC2);
    assert_eq!(photos.len(), 3);
    let media: Vec<(&str, bool)> = photos
        .iter()
        .map(|e| {
            let m = e.media.as_ref().expect("a photo");
            (m.kind.as_str(), m.reused)
        })
        .collect();
    assert_eq!(
        media,
        [("photo", false), ("photo", true), ("photo", true)],
        "uploaded once, then reused"
    );

    // Slow mode: the second post into the slow chat waited its 2 s; acc1 went on elsewhere.
    let slow_chat = super_id(20).to_string();
    let in_slow: Vec<&LedgerEntry> = ledger.iter().filter(|e| e.chat == slow_chat).collect();
    assert_eq!(in_slow.len(), 2);
    let (first, second) = (at(in_slow[0]), at(in_slow[1]));
    assert!(
        second.duration_since(first) >= jiff::SignedDuration::from_millis(1900),
        "slow mode honoured: {first} → {second}"
    );
    let between = of(&ledger, ACC1)
        .iter()
        .filter(|e| at(e) > first && at(e) < second)
        .count();
    assert!(
        between >= 5,
        "only the chat waited, not the account ({between} posts meanwhile)"
    );
    let slow_pauses = w.query("SELECT COUNT(*) FROM pauses WHERE target IS NOT NULL");
    assert!(slow_pauses[0].get::<i64, _>(0) >= 1);
    assert_eq!(w.server.duplicates(), 0);
}

#[test]
fn flood_wait_pauses_only_that_account_and_a_forbidden_chat_is_disabled() {
    let w = World::start(
        fixture().chat(
            ChatSpec::new(super_id(30), "Read only", ChatKind::Supergroup)
                .members(&[ACC1])
                .read_only(),
        ),
    );
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    // acc1's 4th send is refused with a 3 s flood wait.
    w.server.add_fault(
        FaultRule::error("FLOOD_WAIT_3")
            .account(&ACC1.to_string())
            .after(3)
            .times(1),
    );
    let mut t1 = targets_20();
    t1.push(super_id(30).to_string());
    let t2: Vec<String> = (0..10).map(|i| super_id(i).to_string()).collect();
    w.config(&format!(
        r#"{FAST}
[accounts.acc1]
[accounts.acc2]
delay_between_chats = "400ms"
[targets]
one = {}
two = {}
[messages.m]
texts = ["price list"]
[broadcasters.b1]
account = "acc1"
targets = "one"
messages = "m"
[broadcasters.b2]
account = "acc2"
targets = "two"
messages = "m"
"#,
        list(&t1),
        list(&t2)
    ));
    w.ok(&["run", "--once", "--no-metrics"]);

    let ledger = w.server.ledger();
    let acc1 = of(&ledger, ACC1);
    assert_eq!(acc1.len(), 20, "every chat but the read-only one");
    let refused_after = at(&acc1[2]);
    let resumed = at(&acc1[3]);
    let waited = resumed.duration_since(refused_after);
    assert!(
        waited >= jiff::SignedDuration::from_secs(3),
        "no send on acc1 before the 3 s flood wait elapsed (waited {waited})"
    );
    let acc2_meanwhile = of(&ledger, ACC2)
        .iter()
        .filter(|e| at(e) > refused_after && at(e) < resumed)
        .count();
    assert!(
        acc2_meanwhile >= 3,
        "acc2 went on during acc1's wait ({acc2_meanwhile})"
    );
    assert_eq!(of(&ledger, ACC2).len(), 10);

    let listed: serde_json::Value =
        serde_json::from_str(&w.ok(&["targets", "list", "--json"])).expect("json");
    let forbidden = super_id(30).to_string();
    let row = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["target"] == forbidden.as_str() && r["list"] == "one")
        .expect("the read-only chat is listed");
    assert_eq!(row["status"], "disabled", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .is_some_and(|r| r.contains("CHAT_WRITE_FORBIDDEN")),
        "{row}"
    );
    let active = listed
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["status"] == "active")
        .count();
    assert_eq!(active, 30, "nothing else was disabled");
    let flood = w.query("SELECT account, seconds FROM pauses WHERE target IS NULL");
    assert_eq!(flood.len(), 1);
    assert_eq!(flood[0].get::<String, _>(0), "acc1");
}

#[test]
fn a_revoked_or_missing_session_stops_that_account_only_and_dropped_connections_recover() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    w.server.revoke(ACC2);
    // The 3rd send never arrives; the 6th is carried out but its answer is lost.
    let me = ACC1.to_string();
    w.server
        .add_fault(FaultRule::error("DROP").account(&me).after(2).times(1));
    w.server.add_fault(
        FaultRule::error("DROP_AFTER")
            .account(&me)
            .after(5)
            .times(1),
    );
    let t2: Vec<String> = (0..3).map(|i| super_id(i).to_string()).collect();
    w.config(&format!(
        r#"{FAST}
[accounts.acc1]
[accounts.acc2]
[accounts.acc3]
[targets]
one = {}
two = {}
[messages.m]
texts = ["price list"]
[broadcasters.b1]
account = "acc1"
targets = "one"
messages = "m"
[broadcasters.b2]
account = "acc2"
targets = "two"
messages = "m"
[broadcasters.b3]
account = "acc3"
targets = "two"
messages = "m"
"#,
        list(&targets_20()),
        list(&t2)
    ));
    let out = w.run(&["run", "--once", "--no-metrics"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("account acc3 will not send"),
        "{}",
        text(&out)
    );

    let ledger = w.server.ledger();
    let mut chats: Vec<String> = of(&ledger, ACC1).iter().map(|e| e.chat.clone()).collect();
    chats.sort();
    let mut want = chat_ids_20();
    want.sort();
    assert_eq!(chats, want, "acc1 posted everywhere once despite the drops");
    assert!(
        w.server.duplicates() >= 1,
        "the re-send after the lost answer was dropped as a duplicate"
    );
    assert!(of(&ledger, ACC2).is_empty());
    let stopped = w.stopped_reasons();
    assert_eq!(
        stopped.get("acc2").cloned().flatten().as_deref(),
        Some("AUTH_KEY_UNREGISTERED")
    );
    assert_eq!(
        stopped.get("acc3").cloned().flatten().as_deref(),
        Some("no session: run `sendmessagebot accounts login acc3`")
    );
    assert_eq!(stopped.get("acc1").cloned().flatten(), None);

    // Logging acc2 in again clears its stop; the next run finishes its cycle.
    w.seed_fresh("acc2");
    let code = w.server.login_code();
    let mut cmd = w.command(&[
        "accounts",
        "login",
        "acc2",
        "--phone",
        "+15550002",
        "--password-env",
        "PW",
    ]);
    cmd.env("PW", PASSWORD);
    let out = w.run_with(cmd, Some(&format!("{code}\n")));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sends again"), "{}", text(&out));
    w.ok(&["run", "--once", "--no-metrics"]);
    assert_eq!(of(&w.server.ledger(), ACC2).len(), 3);
}

#[test]
fn kill_9_at_random_moments_never_duplicates_or_skips_through_the_real_path() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    // Numeric targets only, so the ledger's chat ids are the journal's target keys.
    let t1: Vec<String> = chat_ids_20();
    let t2: Vec<String> = (0..10).map(|i| super_id(i).to_string()).collect();
    w.config(&format!(
        r#"
[settings]
# The send path meets the refusals itself: no pre-flight check.
preflight_every = "0s"
delay_between_chats = "15ms"
cycle_delay = "30ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[accounts.acc1]
[accounts.acc2]
[targets]
one = {}
two = {}
[messages.a]
texts = ["a first", "a second", "a third"]
[messages.b]
texts = ["b only"]
[broadcasters.b1]
account = "acc1"
targets = "one"
messages = "a"
[broadcasters.b2]
account = "acc2"
targets = "two"
messages = "b"
"#,
        list(&t1),
        list(&t2)
    ));
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills = 22;
    for _ in 0..kills {
        let mut cmd = w.command(&["run", "--no-metrics"]);
        cmd.env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child: Child = cmd.spawn().expect("start sendmessagebot");
        // Dying at an arbitrary moment is the point: this wait is the input, not a sync.
        std::thread::sleep(Duration::from_millis(rng.random_range(80..600)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    w.ok(&["run", "--once", "--no-metrics"]);

    let ledger = w.server.ledger();
    assert!(!ledger.is_empty());
    let (deliveries, cycles) =
        common::read_journal(&w.rt, &w.path().join("data/sendmessagebot.db"));
    let completed = common::check_ledger_against_journal(
        &ledger,
        &deliveries,
        &cycles,
        |b| if b == "b1" { &t1 } else { &t2 },
        common::Words {
            entry: "a post",
            sent: "posted",
            messages: "posts",
        },
    );
    assert!(
        completed >= 2,
        "each broadcaster completed a cycle ({completed})"
    );
    eprintln!(
        "{kills} kills, {} posts, {} re-sends dropped by random_id, {completed} completed cycles, 0 duplicates, 0 gaps",
        ledger.len(),
        w.server.duplicates()
    );
}

#[test]
fn a_trace_level_run_prints_no_secret() {
    let mut w = World::start(fixture());
    w.passphrase = Some(PASSPHRASE);
    let k1 = w.seed_fresh("acc1");
    let kb = w.seed_fresh("bot1");
    w.seed_logged_in("acc2", ACC2);
    let k2 = w.server.auth_key(ACC2).expect("key");
    w.config(&format!(
        r#"{FAST}
[accounts.acc1]
phone = "+15550001"
[accounts.acc2]
[accounts.bot1]
kind = "bot"
[targets]
t = ["{}", "{}"]
[messages.m]
format = "html"
texts = ["<b>price</b> list"]
[broadcasters.b1]
account = "acc1"
targets = "t"
messages = "m"
[broadcasters.b2]
account = "acc2"
targets = "t"
messages = "m"
"#,
        super_id(0),
        super_id(1)
    ));
    let trace = |mut c: Command| {
        c.env("LOG_LEVEL", "trace").env("LOG_CONSOLE", "true");
        c
    };
    let mut outputs: Vec<String> = Vec::new();
    let code = w.server.login_code();
    let out = w.run_with(
        trace(w.command(&["accounts", "login", "acc1"])),
        Some(&format!("{code}\n")),
    );
    assert!(out.status.success(), "{}", text(&out));
    outputs.push(text(&out));
    let mut cmd = trace(w.command(&["accounts", "login", "bot1", "--bot-token-env", "TOKEN"]));
    cmd.env("TOKEN", BOT_TOKEN);
    let out = w.run_with(cmd, None);
    assert!(out.status.success(), "{}", text(&out));
    outputs.push(text(&out));
    // A wrong 2FA password and a wrong bot token reach error paths too.
    w.seed_fresh("acc2");
    let mut cmd = trace(w.command(&[
        "accounts",
        "login",
        "acc2",
        "--phone",
        "+15550002",
        "--password-env",
        "PW",
    ]));
    cmd.env("PW", format!("{PASSWORD}-wrong"));
    let out = w.run_with(cmd, Some(&format!("{code}\n")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    outputs.push(text(&out));
    w.seed_logged_in("acc2", ACC2);
    let out = w.run_with(trace(w.command(&["run", "--once", "--no-metrics"])), None);
    assert!(out.status.success(), "{}", text(&out));
    outputs.push(text(&out));
    let out = w.run_with(trace(w.command(&["accounts", "check"])), None);
    outputs.push(text(&out));
    outputs.push(std::fs::read_to_string(w.path().join("logs/bot.log")).unwrap_or_default());
    let all = outputs.join("\n");
    assert!(
        all.contains("TRACE") || all.contains("trace"),
        "trace output was captured"
    );
    assert!(
        all.len() > 10_000,
        "a trace run says a lot ({} bytes)",
        all.len()
    );
    let wrong_password = format!("{PASSWORD}-wrong");
    let mut secrets: Vec<(String, String)> = vec![
        ("api_hash".into(), API_HASH.into()),
        ("passphrase".into(), PASSPHRASE.into()),
        ("bot token".into(), BOT_TOKEN.into()),
        (
            "bot token secret part".into(),
            "AAH-bot-TOKEN-SECRET".into(),
        ),
        ("2FA password".into(), wrong_password),
    ];
    for (name, key) in [("acc1 key", k1), ("bot key", kb), ("acc2 key", k2)] {
        secrets.push((format!("{name} (hex)"), hex(&key[..16])));
        secrets.push((
            format!("{name} (hex, upper)"),
            hex(&key[..16]).to_uppercase(),
        ));
        let dbg: Vec<String> = key[..12].iter().map(|b| b.to_string()).collect();
        secrets.push((format!("{name} (bytes)"), dbg.join(", ")));
    }
    for (name, secret) in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "the {name} appears in the output"
        );
    }
}

#[test]
fn an_mtproto_proxy_without_a_secret_is_refused_and_socks5_credentials_never_shown() {
    let w = World::start(fixture());
    w.seed_logged_in("acc1", ACC1);
    w.seed_logged_in("acc2", ACC2);
    // Nothing listens on port 9: the SOCKS5 connection is refused at once.
    w.config(&format!(
        r#"{FAST}
[accounts.acc1]
proxy = "socks5://proxyuser:proxy-PASSWORD-SECRET@127.0.0.1:9"
[accounts.acc2]
[targets]
t = ["{}"]
[messages.m]
texts = ["hi"]
[broadcasters.b]
account = "acc2"
targets = "t"
messages = "m"
"#,
        super_id(0)
    ));
    let mtproto = |args: &[&str]| {
        let mut c = w.command(args);
        c.env("PROXY_ENABLED", "true")
            .env("PROXY_PROTOCOL", "mtproto")
            .env("PROXY_ADDR", "127.0.0.1")
            .env("PROXY_PORT", "443");
        w.run_with(c, None)
    };
    for args in [&["check"][..], &["run", "--once", "--no-metrics"][..]] {
        let out = mtproto(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        // MTProto proxies are supported (tests/mtproxy_e2e.rs), but not without a secret.
        assert!(
            text(&out).contains("the proxy link has no secret (PROXY_SECRET)"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert!(
        w.server.ledger().is_empty(),
        "nothing was sent without the proxy"
    );

    let out = w.run(&["accounts", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("✗ acc1: cannot reach Telegram"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("✓ acc2"), "{}", text(&out));
    let listed = w.ok(&["accounts", "list"]);
    assert!(listed.contains("socks5://127.0.0.1:9"), "{listed}");
    for out in [text(&out), listed] {
        assert!(!out.contains("proxy-PASSWORD-SECRET"), "{out}");
        assert!(!out.contains("proxyuser"), "{out}");
    }
}
