//! Several `run` servers on one PostgreSQL database (issue 16, part 2) through the real
//! binary, the grammers gateway and the MTProto test server, whose ledger is the truth: the
//! leases split over three servers; `kill -9` of one at random moments (10 rounds), each time
//! the others take its accounts over within the lease TTL and a restarted one gets some back;
//! a flood wait told just before a kill is honoured by the new holder; a server stopped with
//! SIGSTOP past its lease and woken posts nothing it journalled after waking (its writes are
//! fenced). At the end the ledger holds 0 duplicate posts per (broadcaster, cycle, chat) and
//! no completed cycle skipped a target. `cluster status --json` reads the same leases.
//!
//! Needs `SMB_TEST_POSTGRES_URL` (scripts/test-postgres.sh); under CI it fails without it.
// Helpers outside `#[test]` functions unwrap too (as in postgres_url.rs).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use smb_mtproto_testserver::{ChatKind, ChatSpec, FaultRule, Fixture, UserSpec};
use sqlx::Row;

use crate::common;

const ACCOUNTS: i64 = 6;
const CHATS: i64 = 4;
/// LEASE_TTL of the servers: short, so a takeover takes seconds.
const TTL: Duration = Duration::from_secs(2);

fn user(i: i64) -> i64 {
    3001 + i
}

fn chat(i: i64, j: i64) -> i64 {
    -1_003_000_000_000 - (i * 100 + j)
}

fn targets(i: i64) -> Vec<String> {
    (0..CHATS).map(|j| chat(i, j).to_string()).collect()
}

fn fixture() -> Fixture {
    let mut f = Fixture::default();
    for i in 0..ACCOUNTS {
        f = f.user(UserSpec::new(user(i), &format!("Seller {i}")));
        for j in 0..CHATS {
            f = f.chat(
                ChatSpec::new(chat(i, j), &format!("Market {i}.{j}"), ChatKind::Supergroup)
                    .members(&[user(i)]),
            );
        }
    }
    f
}

fn config() -> String {
    let mut c = String::from(
        r#"[settings]
preflight_every = "0s"
delay_between_chats = "60ms"
cycle_delay = "200ms"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
[messages.m]
texts = ["first", "second", "third"]
[targets]
"#,
    );
    for i in 0..ACCOUNTS {
        let quoted: Vec<String> = targets(i).iter().map(|t| format!("\"{t}\"")).collect();
        c.push_str(&format!("t{i} = [{}]\n", quoted.join(", ")));
    }
    for i in 0..ACCOUNTS {
        c.push_str(&format!(
            "[accounts.acc{i}]\n[broadcasters.b{i}]\naccount = \"acc{i}\"\ntargets = \"t{i}\"\nmessages = \"m\"\n"
        ));
    }
    c
}

/// Lease rows: account → (holder, epoch, expires_at ms), and the database's clock.
type Leases = BTreeMap<String, (Option<String>, i64, i64)>;

struct Cluster {
    w: common::server::ServerWorld,
    url: String,
    /// One directory per server slot (its lock, socket and sessions).
    dirs: Vec<PathBuf>,
    /// The running server of each slot and its SERVER_ID.
    servers: Vec<Option<(Child, String)>>,
    started: u32,
}

impl Cluster {
    fn spawn(&mut self, slot: usize) {
        self.started += 1;
        let id = format!("s{slot}-{}", self.started);
        let dir = &self.dirs[slot];
        let log = std::fs::File::create(dir.join(format!("{id}.log"))).unwrap();
        let mut c = common::command(
            dir,
            &["run", "--no-web", "--no-metrics", "--ignore-quiet-hours"],
        );
        c.env("API_ID", "12345")
            .env("API_HASH", common::API_HASH)
            .env_remove("SESSION_PASSPHRASE")
            .env("DATABASE_URL", &self.url)
            .env("LEASE_TTL", format!("{}ms", TTL.as_millis()))
            .env("SERVER_ID", &id)
            .env("LOG_CONSOLE", "true")
            .stdout(Stdio::null())
            .stderr(log);
        let child = c.spawn().expect("start sendmessagebot");
        self.servers[slot] = Some((child, id));
    }

    fn kill(&mut self, slot: usize) -> String {
        let (mut child, id) = self.servers[slot].take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        id
    }

    fn leases(&self) -> (Leases, i64) {
        self.w.rt.block_on(async {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let now: i64 =
                sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            // Empty until the first server has created the tables.
            let rows = sqlx::query("SELECT account, holder, epoch, expires_at FROM leases")
                .fetch_all(&mut c)
                .await
                .unwrap_or_default();
            let leases = rows
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
                .collect();
            (leases, now)
        })
    }

    /// Live holders: account → holder, for the leases held and not expired.
    fn holders(&self) -> BTreeMap<String, String> {
        let (leases, now) = self.leases();
        leases
            .into_iter()
            .filter_map(|(a, (h, _, exp))| h.filter(|_| exp > now).map(|h| (a, h)))
            .collect()
    }

    /// Waits (at most `limit`) until `ok` holds for the live holders; the time it took.
    fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let h = self.holders();
            if ok(&h) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "{what} did not happen within {limit:?}: {h:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for d in &self.dirs {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    out.push_str(&format!("--- {}\n", e.path().display()));
                    for l in tail.into_iter().rev() {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    fn alive_ids(&self) -> BTreeSet<String> {
        self.servers
            .iter()
            .flatten()
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn query(&self, sql: &'static str) -> Vec<sqlx::postgres::PgRow> {
        self.w.rt.block_on(async {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).fetch_all(&mut c).await.unwrap()
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in self.servers.iter_mut().flatten() {
            let _ = s.0.kill();
            let _ = s.0.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn ms_of(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[test]
fn three_servers_split_the_accounts_take_over_after_kill_9_and_a_stopped_one_is_fenced() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(crate::postgres_url::fresh_pg("cluster")) else {
        return;
    };
    drop(rt);
    let w = common::server::ServerWorld::start(fixture());
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..ACCOUNTS {
        w.seed_logged_in(&format!("acc{i}"), user(i));
    }
    // Three server directories, each with the configuration and its own copy of the sessions.
    let mut dirs = Vec::new();
    for s in 0..3 {
        let dir = w.path().join(format!("server{s}"));
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        std::fs::write(dir.join("sendmessagebot.toml"), config()).unwrap();
        for e in std::fs::read_dir(w.path().join("sessions"))
            .unwrap()
            .flatten()
        {
            std::fs::copy(e.path(), dir.join("sessions").join(e.file_name())).unwrap();
        }
        dirs.push(dir);
    }
    let mut c = Cluster {
        w,
        url,
        dirs,
        servers: vec![None, None, None],
        started: 0,
    };
    for s in 0..3 {
        c.spawn(s);
    }
    // Split: 6 leases, 2 per server.
    c.wait_for(
        "the split of 6 leases over 3 servers",
        Duration::from_secs(30),
        |h| {
            let mut per: BTreeMap<&String, usize> = BTreeMap::new();
            for holder in h.values() {
                *per.entry(holder).or_default() += 1;
            }
            h.len() == 6 && per.len() == 3 && per.values().all(|n| *n == 2)
        },
    );
    // `cluster status --json` reads the same.
    let out = common::command(&c.dirs[0], &["cluster", "status", "--json"])
        .env("DATABASE_URL", &c.url)
        .env("LEASE_TTL", "2s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alive = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["alive"] == true)
        .count();
    assert_eq!(alive, 3, "{status}");
    assert_eq!(status["leases"].as_array().unwrap().len(), 6, "{status}");
    let out = common::command(&c.dirs[0], &["cluster", "status"])
        .env("DATABASE_URL", &c.url)
        .env("LEASE_TTL", "2s")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 server(s) alive"), "{text}");
    for i in 0..ACCOUNTS {
        assert!(text.contains(&format!("acc{i}")), "{text}");
    }

    // Kill rounds.
    // A lease runs at most TTL past the last renewal; the takers' next pass comes within
    // TTL/3; the rest is slack for a loaded machine.
    let takeover_limit = TTL + TTL / 3 + Duration::from_millis(2500);
    let mut takeovers = Vec::new();
    let mut flood: Option<(String, i64)> = None;
    let rounds = 10;
    for round in 0..rounds {
        // The victim: the holder of a random account (a server just restarted may hold none
        // yet while the others give their surplus back).
        let held = c.holders();
        let pick = held
            .values()
            .nth(rng.random_range(0..held.len()))
            .unwrap()
            .clone();
        let slot = c
            .servers
            .iter()
            .position(|s| s.as_ref().is_some_and(|(_, id)| *id == pick))
            .expect("a live holder");
        let victim_id = pick;
        if round == 2 {
            // A flood wait told to one of the victim's accounts just before the kill.
            let held = c.holders();
            let account = held
                .iter()
                .find(|(_, h)| **h == victim_id)
                .map(|(a, _)| a.clone())
                .expect("the victim holds an account");
            let i: i64 = account.trim_start_matches("acc").parse().unwrap();
            c.w.server.add_fault(
                FaultRule::error("FLOOD_WAIT_4")
                    .account(&user(i).to_string())
                    .times(1),
            );
            let started = Instant::now();
            loop {
                let told = c
                    .query(
                        "SELECT account FROM pauses WHERE target IS NULL AND kind = 'flood_wait'",
                    )
                    .iter()
                    .any(|r| r.get::<String, _>(0) == account);
                if told {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "the flood wait was not journalled\n{}",
                    c.logs()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            flood = Some((account, user(i)));
        } else {
            // Dying at an arbitrary moment is the point: this wait is the input, not a sync.
            std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
        }
        c.kill(slot);
        let others = c.alive_ids();
        let took = c.wait_for(
            "the takeover of the killed server's leases",
            takeover_limit,
            |h| h.len() == 6 && h.values().all(|holder| others.contains(holder)),
        );
        takeovers.push(took);
        c.spawn(slot);
    }
    // The restarted ones get their share back.
    c.wait_for(
        "the rebalance after the restarts",
        Duration::from_secs(20),
        |h| {
            let mut per: BTreeMap<&String, usize> = BTreeMap::new();
            for holder in h.values() {
                *per.entry(holder).or_default() += 1;
            }
            h.len() == 6 && per.len() == 3
        },
    );

    // SIGSTOP past the lease: the others take over; then they die, and the woken server,
    // alone, must post nothing it journals after waking while their leases still run.
    let stopped_slot = rng.random_range(0..3usize);
    let stopped_id = c.servers[stopped_slot].as_ref().unwrap().1.clone();
    let stopped_at = now_ms();
    signal(&c.servers[stopped_slot].as_ref().unwrap().0, "-STOP");
    let others: BTreeSet<String> = c
        .alive_ids()
        .into_iter()
        .filter(|id| *id != stopped_id)
        .collect();
    c.wait_for(
        "the takeover from the stopped server",
        takeover_limit,
        |h| h.len() == 6 && h.values().all(|holder| others.contains(holder)),
    );
    for s in 0..3 {
        if s != stopped_slot {
            c.kill(s);
        }
    }
    let (leases, _) = c.leases();
    let fenced_until = leases.values().map(|l| l.2).min().unwrap();
    let woken_at = now_ms();
    signal(&c.servers[stopped_slot].as_ref().unwrap().0, "-CONT");
    // Until the dead servers' leases expire, nothing new may come from the woken one.
    let wait = u64::try_from(fenced_until - now_ms()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(wait));
    let ledger_now = c.w.server.ledger();
    let created: BTreeMap<i64, i64> = c
        .query("SELECT random_id, created_at FROM deliveries")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let fresh_in_window: Vec<_> = ledger_now
        .iter()
        .filter(|e| {
            let at = ms_of(&e.at);
            at >= woken_at
                && at < fenced_until
                && created.get(&e.random_id).is_none_or(|c| *c >= stopped_at)
        })
        .collect();
    assert!(
        fresh_in_window.is_empty(),
        "the woken server posted while fenced: {fresh_in_window:?}\n{}",
        c.logs()
    );
    // It knew: its leases were dropped (not renewed in time, or lost to another server).
    let log = std::fs::read_to_string(c.dirs[stopped_slot].join(format!("{stopped_id}.log")))
        .unwrap_or_default();
    assert!(
        log.contains("lease not renewed in time") || log.contains("lease lost"),
        "the woken server dropped its leases:\n{log}"
    );
    // Then it takes the expired leases itself and goes on.
    c.wait_for(
        "the woken server taking the free leases",
        takeover_limit * 2,
        |h| h.len() == 6 && h.values().all(|holder| *holder == stopped_id),
    );
    std::thread::sleep(Duration::from_secs(1));
    c.kill(stopped_slot);

    // The ledger against the journal.
    let ledger = c.w.server.ledger();
    let deliveries: Vec<common::Delivery> = c
        .query("SELECT broadcaster, cycle, target, random_id, status, message FROM deliveries")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let cycles: Vec<common::Cycle> = c
        .query("SELECT broadcaster, cycle, message, completed_at FROM cycles")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let lists: Vec<Vec<String>> = (0..ACCOUNTS).map(targets).collect();
    let completed = common::check_ledger_against_journal(
        &ledger,
        &deliveries,
        &cycles,
        |b| &lists[b.trim_start_matches('b').parse::<usize>().unwrap()],
        common::Words {
            entry: "a post",
            sent: "posted",
            messages: "posts",
        },
    );
    assert!(completed >= 12, "cycles went on ({completed})");
    // The flood wait held across the takeover.
    let (account, uid) = flood.expect("round 2 set a flood wait");
    let pause = c.query(
        "SELECT account, at, until FROM pauses WHERE target IS NULL AND kind = 'flood_wait'",
    );
    let pause = pause
        .iter()
        .find(|r| r.get::<String, _>(0) == account)
        .unwrap();
    let (at, until): (i64, i64) = (pause.get(1), pause.get(2));
    let during: Vec<_> = ledger
        .iter()
        .filter(|e| e.account == uid && ms_of(&e.at) > at && ms_of(&e.at) < until)
        .collect();
    assert!(
        during.is_empty(),
        "posted during the flood wait: {during:?}"
    );
    assert!(
        ledger
            .iter()
            .any(|e| e.account == uid && ms_of(&e.at) >= until),
        "the account posted again after its wait"
    );
    takeovers.sort();
    eprintln!(
        "{rounds} kills; takeover (kill → every lease held by a live server): median {:?}, max {:?} \
         (LEASE_TTL {TTL:?}); {} posts, {} re-sends dropped by random_id, {completed} completed cycles, \
         0 duplicates, 0 gaps",
        takeovers[takeovers.len() / 2],
        takeovers.last().unwrap(),
        ledger.len(),
        c.w.server.duplicates()
    );
}

/// On SQLite there is one server and no lease: `cluster status` says so (text and JSON), exit 0.
#[test]
fn cluster_status_on_sqlite_says_there_is_one_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sendmessagebot.toml"),
        crate::config_errors::GOOD,
    )
    .unwrap();
    let out = common::command(dir.path(), &["cluster", "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no cluster") && text.contains("SQLite") && text.contains("PostgreSQL"),
        "{text}"
    );
    let out = common::command(dir.path(), &["cluster", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "sqlite");
    assert_eq!(v["leases"], serde_json::json!([]));
    assert!(
        !dir.path().join("data").exists(),
        "no journal is created to say so"
    );
}
