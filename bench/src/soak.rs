//! The chaos soak (issue 19): deliveries through the real binary (`sendmessagebot run`, the
//! grammers gateway, session files) against the MTProto test server with seeded chaos —
//! connections closed mid-RPC, latency spikes, flood-wait storms — and slow-mode chats, while
//! the daemon is `kill -9`ed at random moments and restarted. At the end the server's ledger is
//! checked against the journal and the counts are returned ([`Report`]).
//!
//! Definitions (what [`Report::clean`] requires to be zero):
//! - **duplicate post**: a message in the server's ledger beyond the first for one
//!   (chat, broadcaster, cycle). A ledger entry is mapped to (broadcaster, cycle, target) by its
//!   `random_id` through the journal's `deliveries`; a re-send the server dropped as
//!   `RANDOM_ID_DUPLICATE` is not in the ledger and is no post (counted as `server_dedupes`).
//! - **unjournalled post**: a ledger entry whose `random_id` has no journal row (sent blind).
//! - **skipped target**: a (cycle, target) due — the target is in the broadcaster's list and
//!   not disabled by a refusal — with no post and no recorded terminal refusal (a `failed`
//!   delivery). Only the chats built to refuse (read-only) may be disabled; any other
//!   disabled target is counted in `wrongly_disabled`.
//! - **send inside a pause**: the server refused a send with `FLOOD_WAIT_X` (the account) or
//!   `SLOWMODE_WAIT_X` (that chat), the answer reached the client's socket, and a send came
//!   before the X seconds were over ([`smb_mtproto_testserver::Violation`]). When it came from
//!   a later process (a kill in between) it counts only if the journal held the pause (its
//!   `pauses` row covers the send); a wait whose answer died with the process before it was
//!   journalled is counted apart (`waits_lost_with_a_kill`): nothing can journal an answer
//!   it never processed.
//! - the journal passes `PRAGMA integrity_check`; no daemon panicked or ended by itself.
//!
//! One seed decides the world, the chaos plan and the kill schedule (kill points are counts
//! of posts plus a random delay), so a failing run can be replayed with its seed; the
//! interleaving of requests still depends on timing.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use smb_mtproto_testserver::{
    Chaos, ChatKind, ChatSpec, DC_ID, Fixture, TestServer, UserSpec, WaitKind,
};
use smb_telegram::grammers::{Identity, SessionStore, StoredSession};
use sqlx::Row;

const API_ID: &str = "12345";
const API_HASH: &str = "0123456789abcdef0123456789abcdef";
/// Without a new post for this long the soak gives up (a hang is a finding too).
const STALL: Duration = Duration::from_secs(180);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `sendmessagebot` binary.
    pub bin: PathBuf,
    /// Posts to reach before the last daemon is stopped.
    pub deliveries: usize,
    /// `kill -9`s of the daemon (each followed by a restart).
    pub kills: usize,
    pub seed: u64,
    pub accounts: usize,
    /// Chats per account (one of them read-only, some in slow mode).
    pub chats: usize,
    /// Every third account also runs a second broadcaster into the same chats (two posts
    /// per cycle into each slow-mode chat from one account).
    pub pairs: bool,
    /// Keep the world here (config, sessions, journal, daemon logs, ledger) instead of a
    /// temporary directory that is removed.
    pub keep: Option<PathBuf>,
}

impl Options {
    /// The full soak: 10,000 deliveries, 100 kills, 10 accounts × 30 chats.
    pub fn full(bin: PathBuf, seed: u64) -> Options {
        Options {
            bin,
            deliveries: 10_000,
            kills: 100,
            seed,
            accounts: 10,
            chats: 30,
            pairs: true,
            keep: None,
        }
    }
}

/// The counts of one soak.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub kills: usize,
    /// Messages the server accepted.
    pub posts: usize,
    /// Journal rows (deliveries planned and started).
    pub journal_deliveries: usize,
    /// Deliveries that ended in a terminal refusal.
    pub refusals: usize,
    pub cycles: usize,
    /// Cycles still open after the final `run --once`.
    pub unfinished_cycles: usize,
    pub duplicate_posts: usize,
    pub unjournalled_posts: usize,
    /// Posts whose text is not their cycle's message.
    pub wrong_text: usize,
    pub skipped_targets: usize,
    pub wrongly_disabled: usize,
    pub sends_inside_a_pause: usize,
    pub waits_lost_with_a_kill: usize,
    pub flood_waits_told: u64,
    pub slow_mode_waits_told: u64,
    pub server_dedupes: u64,
    pub drops_before: u64,
    pub drops_after: u64,
    pub spikes: u64,
    pub storms: u64,
    pub panics: usize,
    /// Daemons that ended without being killed or stopped.
    pub unexpected_exits: usize,
    /// `PRAGMA integrity_check` problems (empty: ok).
    pub integrity: Vec<String>,
    pub elapsed: Duration,
    /// The first few examples of every failure, for the reader.
    pub examples: Vec<String>,
}

impl Report {
    /// No duplicate, no skip, no send inside a pause, no panic, a clean journal.
    pub fn clean(&self) -> bool {
        self.duplicate_posts == 0
            && self.unjournalled_posts == 0
            && self.wrong_text == 0
            && self.skipped_targets == 0
            && self.wrongly_disabled == 0
            && self.unfinished_cycles == 0
            && self.sends_inside_a_pause == 0
            && self.panics == 0
            && self.unexpected_exits == 0
            && self.integrity.is_empty()
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < 20 {
            self.examples.push(text);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak seed {}: {} posts ({} journal deliveries, {} refusals, {} cycles) with {} kills in {:.0} s",
            self.seed,
            self.posts,
            self.journal_deliveries,
            self.refusals,
            self.cycles,
            self.kills,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  duplicate posts {}, skipped targets {}, sends inside a pause {}, integrity check {}",
            self.duplicate_posts,
            self.skipped_targets,
            self.sends_inside_a_pause,
            if self.integrity.is_empty() {
                "ok".to_owned()
            } else {
                self.integrity.join("; ")
            }
        )?;
        writeln!(
            f,
            "  unjournalled posts {}, wrong texts {}, wrongly disabled targets {}, unfinished cycles {}, panics {}, unexpected exits {}",
            self.unjournalled_posts,
            self.wrong_text,
            self.wrongly_disabled,
            self.unfinished_cycles,
            self.panics,
            self.unexpected_exits
        )?;
        write!(
            f,
            "  chaos: {} drops before, {} drops after (re-sends dropped by random_id {}), {} latency spikes, {} flood-wait storms; waits told: {} flood, {} slow mode; lost with a kill before journalled: {}",
            self.drops_before,
            self.drops_after,
            self.server_dedupes,
            self.spikes,
            self.storms,
            self.flood_waits_told,
            self.slow_mode_waits_told,
            self.waits_lost_with_a_kill
        )?;
        for e in &self.examples {
            write!(f, "\n  ! {e}")?;
        }
        Ok(())
    }
}

fn user_of(a: usize) -> i64 {
    10_000 + a as i64
}

fn chat_of(a: usize, c: usize, chats: usize) -> i64 {
    -1_001_000_000_000 - (a * chats + c) as i64
}

/// Chat `c` of an account: the last one refuses (read-only), every 7th from the 4th is in
/// slow mode for 1 or 2 s.
fn read_only(c: usize, chats: usize) -> bool {
    c + 1 == chats
}

fn slow_mode(c: usize) -> Option<u32> {
    (c % 7 == 3).then_some(1 + (c / 7 % 2) as u32)
}

/// The world: server, directory, and per broadcaster its target list.
struct World {
    server: TestServer,
    dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    lists: HashMap<String, Vec<String>>,
    refusing: HashSet<String>,
    accounts: usize,
}

impl World {
    fn build(o: &Options, rt: &tokio::runtime::Runtime) -> anyhow::Result<World> {
        let mut fixture = Fixture::default();
        let mut lists = HashMap::new();
        let mut refusing = HashSet::new();
        let mut config = String::from(
            // The default pre-flight check is on: slow mode is learnt in advance, so a told
            // SLOWMODE_WAIT is the exception; flood-wait storms still tell waits.
            "[settings]\ndelay_between_chats = \"10ms\"\ncycle_delay = \"50ms\"\n\
             retry_delay = \"200ms\"\njitter = \"10%\"\nenable_scheduling = false\n\
             enable_quiet_hours = false\n\
             [messages.m0]\ntexts = [\"Price list A1\", \"Price list A2\", \"Price list A3\"]\n\
             [messages.m1]\ntexts = [\"Catalogue B1\", \"Catalogue B2\"]\n\
             [messages.x]\ntexts = [\"Second broadcaster\"]\n",
        );
        let mut targets = String::from("[targets]\n");
        let mut broadcasters = String::new();
        for a in 0..o.accounts {
            let user = user_of(a);
            fixture = fixture.user(UserSpec::new(user, &format!("Seller {a}")));
            let mut list = Vec::new();
            for c in 0..o.chats {
                let id = chat_of(a, c, o.chats);
                let mut spec = ChatSpec::new(id, &format!("Market {a}/{c}"), ChatKind::Supergroup)
                    .members(&[user]);
                if read_only(c, o.chats) {
                    spec = spec.read_only();
                    refusing.insert(id.to_string());
                } else if let Some(s) = slow_mode(c) {
                    spec = spec.slow_mode(s);
                }
                fixture = fixture.chat(spec);
                list.push(id.to_string());
            }
            let quoted: Vec<String> = list.iter().map(|t| format!("\"{t}\"")).collect();
            targets.push_str(&format!("t{a} = [{}]\n", quoted.join(", ")));
            config.push_str(&format!("[accounts.acc{a}]\n"));
            broadcasters.push_str(&format!(
                "[broadcasters.b{a}]\naccount = \"acc{a}\"\ntargets = \"t{a}\"\nmessages = \"m{}\"\nrotation = \"{}\"\n",
                a % 2,
                if a % 2 == 0 { "sequential" } else { "random" }
            ));
            lists.insert(format!("b{a}"), list.clone());
            // Every third account has a second broadcaster into the same chats: two posts
            // per cycle into slow-mode chats.
            if o.pairs && a % 3 == 0 {
                broadcasters.push_str(&format!(
                    "[broadcasters.x{a}]\naccount = \"acc{a}\"\ntargets = \"t{a}\"\nmessages = \"x\"\n"
                ));
                lists.insert(format!("x{a}"), list);
            }
        }
        config.push_str(&targets);
        config.push_str(&broadcasters);

        let server = rt.block_on(TestServer::start(fixture))?;
        let (temp, dir) = match &o.keep {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::tempdir()?;
                let d = t.path().to_owned();
                (Some(t), d)
            }
        };
        std::fs::write(dir.join("sendmessagebot.toml"), config)?;
        std::fs::create_dir_all(dir.join("soak-logs"))?;
        let addr = match server.addr() {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => bail!("the test server listens on 127.0.0.1"),
        };
        save_sessions(&server, &dir, addr, o.accounts)?;
        server.write_ledger_to(&dir.join("soak-logs/ledger.jsonl"))?;
        Ok(World {
            server,
            dir,
            temp,
            lists,
            refusing,
            accounts: o.accounts,
        })
    }

    fn command(&self, bin: &Path, args: &[&str], log: &Path) -> anyhow::Result<Command> {
        let log = std::fs::File::create(log)?;
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(&self.dir)
            .env("API_ID", API_ID)
            .env("API_HASH", API_HASH)
            .env("LOG_LEVEL", "warn")
            .env("LOG_FILE", "")
            .env_remove("RUST_LOG")
            .env_remove("SMB_CONFIG")
            .env_remove("SESSION_PASSPHRASE")
            .env_remove("SESSION_NAME")
            .env_remove("PHONE")
            .env_remove("PROXY_ENABLED")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(c)
    }
}

fn save_sessions(
    server: &TestServer,
    dir: &Path,
    addr: SocketAddrV4,
    accounts: usize,
) -> anyhow::Result<()> {
    let store = SessionStore::new(dir.join("sessions"), None);
    for a in 0..accounts {
        let key = server
            .auth_key(user_of(a))
            .context("fixture user has a key")?;
        let session = StoredSession {
            identity: Some(Identity {
                user_id: user_of(a),
                bot: false,
                first_name: format!("Seller {a}"),
                username: None,
            }),
            ..StoredSession::for_server(addr, DC_ID, key)
        };
        store.save(&format!("acc{a}"), &session)?;
    }
    Ok(())
}

/// The chaos plan of a soak: rare enough that the daemon makes progress, frequent enough that
/// every kind happens many times in 300 posts.
fn chaos(seed: u64) -> Chaos {
    Chaos {
        seed,
        drop_before: 0.01,
        drop_after: 0.01,
        spike: 0.02,
        spike_ms: (100, 1500),
        storm: 0.01,
        storm_ms: 300,
        flood_secs: (1, 3),
    }
}

/// Sends SIGTERM and waits for the process (at most a minute, then SIGKILL).
fn terminate(child: &mut Child) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    bail!("the daemon did not stop within 60 s of SIGTERM")
}

/// Runs one soak.
pub fn run(o: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let w = World::build(o, &rt)?;
    let mut rng = StdRng::seed_from_u64(o.seed);
    w.server.set_chaos(Some(chaos(rng.random())));
    let mut report = Report {
        seed: o.seed,
        ..Report::default()
    };
    // Kill points: a count of posts to wait for, then a random delay; several points may fall
    // together (the later ones then kill during start-up).
    let mut points: Vec<(usize, u64)> = (0..o.kills)
        .map(|_| (rng.random_range(0..o.deliveries), rng.random_range(0..400)))
        .collect();
    points.sort_unstable();
    let mut epoch = 0u64;
    let log_of = |epoch: u64| w.dir.join(format!("soak-logs/run-{epoch:03}.log"));
    let spawn = |epoch: u64, args: &[&str]| -> anyhow::Result<Child> {
        w.server.set_epoch(epoch);
        Ok(w.command(&o.bin, args, &log_of(epoch))?.spawn()?)
    };
    let run_args = ["run", "--no-web", "--no-metrics"];
    // Waits for `posts` posts; false when the daemon ended by itself first.
    let wait_for = |child: &mut Child, posts: usize| -> anyhow::Result<bool> {
        let mut last = (w.server.ledger_len(), Instant::now());
        while w.server.ledger_len() < posts {
            if child.try_wait()?.is_some() {
                return Ok(false);
            }
            let now = w.server.ledger_len();
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > STALL {
                bail!(
                    "seed {}: no post for {STALL:?} at {now} posts (logs in {})",
                    o.seed,
                    w.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(true)
    };
    for (posts, extra_ms) in points {
        epoch += 1;
        let mut child = spawn(epoch, &run_args)?;
        if wait_for(&mut child, posts)? {
            // Dying at an arbitrary moment is the point: this wait is input, not a sync.
            std::thread::sleep(Duration::from_millis(extra_ms));
        }
        match child.try_wait()? {
            Some(status) => {
                report.unexpected_exits += 1;
                report.example(format!(
                    "daemon run {epoch} ended by itself ({status}); see {}",
                    log_of(epoch).display()
                ));
            }
            None => {
                child.kill()?;
                child.wait()?;
                report.kills += 1;
            }
        }
    }
    // The rest of the deliveries, then a graceful stop and a last `--once` that completes the
    // interrupted cycles.
    epoch += 1;
    let mut child = spawn(epoch, &run_args)?;
    if !wait_for(&mut child, o.deliveries)? {
        report.unexpected_exits += 1;
        report.example(format!(
            "daemon run {epoch} ended by itself; see {}",
            log_of(epoch).display()
        ));
    }
    terminate(&mut child)?;
    epoch += 1;
    let mut once = spawn(epoch, &["run", "--once", "--no-web", "--no-metrics"])?;
    let status = once.wait()?;
    if !status.success() {
        report.unexpected_exits += 1;
        report.example(format!(
            "the final `run --once` failed ({status}); see {}",
            log_of(epoch).display()
        ));
    }

    check(&w, &rt, &mut report)?;
    for e in 1..=epoch {
        let text = std::fs::read_to_string(log_of(e)).unwrap_or_default();
        let panics = text.matches("panicked").count();
        if panics > 0 {
            report.panics += panics;
            report.example(format!("a panic in {}", log_of(e).display()));
        }
    }
    report.elapsed = started.elapsed();
    if !report.clean() {
        report.example(format!(
            "replay: bench/soak.sh --deliveries {} --kills {} --seed {} (world in {})",
            o.deliveries,
            o.kills,
            o.seed,
            w.dir.display()
        ));
        if o.keep.is_none() {
            // Keep the evidence of a failing run.
            if let Some(t) = w.temp {
                let kept = t.keep();
                report.example(format!("kept {}", kept.display()));
            }
        }
    }
    Ok(report)
}

/// A journal row of `deliveries`.
struct Delivery {
    broadcaster: String,
    cycle: i64,
    target: String,
    status: String,
    message: String,
}

/// Checks the ledger against the journal and the told waits against the journalled pauses.
fn check(w: &World, rt: &tokio::runtime::Runtime, r: &mut Report) -> anyhow::Result<()> {
    let db = w.dir.join("data/sendmessagebot.db");
    let ledger = w.server.ledger();
    let chaos = w.server.chaos_report();
    r.posts = ledger.len();
    r.server_dedupes = w.server.duplicates();
    r.drops_before = chaos.drops_before;
    r.drops_after = chaos.drops_after;
    r.spikes = chaos.spikes;
    r.storms = chaos.storms;
    r.flood_waits_told = chaos.flood_waits_told;
    r.slow_mode_waits_told = chaos.slow_mode_waits_told;

    let (deliveries, by_random_id, cycles, disabled, pauses) = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .with_context(|| format!("open {}", db.display()))?;
        let d = sqlx::query(
            "SELECT broadcaster, cycle, target, random_id, status, message FROM deliveries",
        )
        .fetch_all(&pool)
        .await?;
        let mut deliveries = Vec::new();
        let mut by_random_id = HashMap::new();
        for row in &d {
            let random_id: i64 = row.try_get(3)?;
            by_random_id.insert(random_id, deliveries.len());
            deliveries.push(Delivery {
                broadcaster: row.try_get(0)?,
                cycle: row.try_get(1)?,
                target: row.try_get(2)?,
                status: row.try_get(4)?,
                message: row.try_get(5)?,
            });
        }
        let c = sqlx::query("SELECT broadcaster, cycle, message, completed_at FROM cycles")
            .fetch_all(&pool)
            .await?;
        let mut cycles = Vec::new();
        for row in &c {
            cycles.push((
                row.try_get::<String, _>(0)?,
                row.try_get::<i64, _>(1)?,
                row.try_get::<String, _>(2)?,
                row.try_get::<Option<i64>, _>(3)?,
            ));
        }
        let t = sqlx::query("SELECT target FROM targets WHERE status = 'disabled'")
            .fetch_all(&pool)
            .await?;
        let disabled: HashSet<String> = t
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        let p = sqlx::query("SELECT account, target, kind, until, at FROM pauses")
            .fetch_all(&pool)
            .await?;
        let mut pauses = Vec::new();
        for row in &p {
            pauses.push((
                row.try_get::<String, _>(0)?,
                row.try_get::<Option<String>, _>(1)?,
                row.try_get::<String, _>(2)?,
                row.try_get::<i64, _>(3)?,
                row.try_get::<i64, _>(4)?,
            ));
        }
        pool.close().await;
        anyhow::Ok((deliveries, by_random_id, cycles, disabled, pauses))
    })?;
    r.journal_deliveries = deliveries.len();
    r.refusals = deliveries.iter().filter(|d| d.status == "failed").count();
    r.cycles = cycles.len();

    // Posts per (broadcaster, cycle, chat).
    let mut posted: HashMap<(String, i64, String), usize> = HashMap::new();
    for e in &ledger {
        let Some(d) = by_random_id.get(&e.random_id).map(|i| &deliveries[*i]) else {
            r.unjournalled_posts += 1;
            r.example(format!("a post without a journal row: {e:?}"));
            continue;
        };
        if d.target != e.chat {
            r.unjournalled_posts += 1;
            r.example(format!(
                "random_id {} journalled for {} posted into {}",
                e.random_id, d.target, e.chat
            ));
            continue;
        }
        if d.message != e.text {
            r.wrong_text += 1;
            r.example(format!(
                "{} cycle {} journalled {:?}, posted {:?}",
                d.broadcaster, d.cycle, d.message, e.text
            ));
        }
        let n = posted
            .entry((d.broadcaster.clone(), d.cycle, e.chat.clone()))
            .or_default();
        *n += 1;
        if *n > 1 {
            r.duplicate_posts += 1;
            r.example(format!(
                "{} cycle {} posted twice into {} (random_id {})",
                d.broadcaster, d.cycle, e.chat, e.random_id
            ));
        }
    }

    let refused: HashSet<(&str, i64, &str)> = deliveries
        .iter()
        .filter(|d| d.status == "failed")
        .map(|d| (d.broadcaster.as_str(), d.cycle, d.target.as_str()))
        .collect();
    for t in &disabled {
        if !w.refusing.contains(t) {
            r.wrongly_disabled += 1;
            r.example(format!("target {t} disabled, though it accepts posts"));
        }
    }
    for (b, c, _message, completed) in &cycles {
        if completed.is_none() {
            r.unfinished_cycles += 1;
            r.example(format!("{b} cycle {c} not completed after `run --once`"));
            continue;
        }
        let Some(list) = w.lists.get(b) else {
            r.example(format!("a cycle of unknown broadcaster {b}"));
            continue;
        };
        for t in list {
            let done = posted.contains_key(&(b.clone(), *c, t.clone()))
                || refused.contains(&(b.as_str(), *c, t.as_str()))
                || (disabled.contains(t) && w.refusing.contains(t));
            if !done {
                r.skipped_targets += 1;
                r.example(format!("{b} cycle {c} skipped {t}"));
            }
        }
    }

    // Sends inside a told wait.
    for v in &chaos.violations {
        let account = (0..w.accounts)
            .find(|a| user_of(*a) == v.account)
            .map(|a| format!("acc{a}"))
            .unwrap_or_default();
        let at_ms =
            v.at.parse::<jiff::Timestamp>()
                .map_or(0, |t| t.as_millisecond());
        let (kind, target) = match v.kind {
            WaitKind::FloodWait => ("flood_wait", None),
            WaitKind::SlowMode => ("slowmode", Some(v.chat.to_string())),
        };
        let journalled = pauses.iter().any(|(acc, tgt, k, until, at)| {
            acc == &account && tgt == &target && k == kind && *at <= at_ms && *until > at_ms
        });
        if v.told_epoch == v.epoch || journalled {
            r.sends_inside_a_pause += 1;
            r.example(format!(
                "{account} sent into {} at {} inside a {}-s {kind} told at {} (until {}; process {} of {}; journalled: {journalled})",
                v.chat, v.at, v.seconds, v.told_at, v.until, v.epoch, v.told_epoch
            ));
        } else {
            r.waits_lost_with_a_kill += 1;
        }
    }

    r.integrity = rt.block_on(smb_store::maintenance::integrity_problems(
        &db,
        smb_store::maintenance::Thoroughness::Full,
    ))?;
    Ok(())
}
