//! Benchmarks of the real binary against the loopback MTProto test server (issue 18): each
//! subcommand builds a world (test server with N users and their chats, session files, a
//! `sendmessagebot.toml`), runs `sendmessagebot` (or Telethon, or a bare grammers client) as a
//! child process and prints what it measured. None is a test: figures vary with the machine.
//!
//! - `startup`: 100 accounts, 10,000 targets: process start → first message at the server.
//! - `pacing`: 3 accounts, `delay_between_chats` 1 s: gap error p50/p99/max and gaps shorter
//!   than the delay, from the server's timestamps, with jitter 0 % and 10 %.
//! - `memory`: RSS over time while sending, metrics on (nobody scrapes) and off.
//! - `vs-telethon`: CPU per 1,000 deliveries, peak RSS and RSS per connected account of ours,
//!   the seed's Telethon loop and a bare grammers client, alternating runs.
//! - `soak`: the chaos soak (issue 19, [`smb_bench::soak`]): deliveries under dropped
//!   connections, latency spikes, flood-wait storms and slow mode while the daemon is
//!   `kill -9`ed and restarted; prints the counts, exits 1 unless all are clean.
//! - `idle`: idle RSS of ours with N accounts, split into anonymous memory and mapped files,
//!   with its thread count (where the idle footprint goes).
//! - `bare`: (internal) the bare grammers client `vs-telethon` runs as a child.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use smb_mtproto_testserver::{
    ChatKind, ChatSpec, DC_ID, Fixture, LedgerEntry, TestServer, UserSpec,
};
use smb_telegram::grammers::{
    AccountClient, ApiSettings, Identity, SecretString, SessionStore, StoredSession,
};

const API_ID: i32 = 12345;
const API_HASH: &str = "0123456789abcdef0123456789abcdef";
/// `--preflight-every`, written into every generated configuration.
static PREFLIGHT_EVERY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

const TEXT: &str = "Wholesale price list for today: 120 items, delivery in 24 h";

#[derive(Parser)]
struct Args {
    /// The sendmessagebot binary (default: target/release/sendmessagebot next to this one).
    #[arg(long, global = true)]
    bin: Option<PathBuf>,
    /// `[settings] preflight_every` in the generated configuration (e.g. `0s`: no pre-flight
    /// check; unset: the daemon's default, a check of every chat before the first send).
    #[arg(long, global = true)]
    preflight_every: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Startup {
        #[arg(long, default_value_t = 100)]
        accounts: usize,
        #[arg(long, default_value_t = 10_000)]
        targets: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    Pacing {
        #[arg(long, default_value_t = 3)]
        accounts: usize,
        /// Chats per account (sends per account per run).
        #[arg(long, default_value_t = 100)]
        chats: usize,
        #[arg(long, default_value_t = 1000)]
        delay_ms: u64,
    },
    Memory {
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        #[arg(long, default_value_t = 10)]
        accounts: usize,
        #[arg(long, default_value_t = 50)]
        chats: usize,
        /// RSS samples this many seconds apart.
        #[arg(long, default_value_t = 10)]
        every: u64,
    },
    VsTelethon {
        /// Python with Telethon installed (bench/vs-telethon.sh makes a venv).
        #[arg(long)]
        python: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 50)]
        accounts: usize,
        #[arg(long, default_value_t = 200)]
        chats: usize,
    },
    Soak {
        #[arg(long, default_value_t = 10_000)]
        deliveries: usize,
        #[arg(long, default_value_t = 100)]
        kills: usize,
        /// Decides the world, the chaos and the kill schedule (random when absent; printed).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 10)]
        accounts: usize,
        /// Chats per account.
        #[arg(long, default_value_t = 30)]
        chats: usize,
        /// No second broadcaster on any account (by default every third account has one
        /// into the same chats).
        #[arg(long)]
        no_pairs: bool,
        /// Keep the world (config, journal, daemon logs, ledger) in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Idle RSS of ours with N connected accounts (each sent one message), split into
    /// anonymous memory and mapped files, with the thread count; `--hold` keeps it running
    /// that many seconds more to look at it (`/proc/PID/smaps`, `perf`).
    Idle {
        #[arg(long, default_value_t = 1)]
        accounts: usize,
        #[arg(long, default_value_t = 0)]
        hold: u64,
    },
    #[command(hide = true)]
    Bare {
        #[arg(long)]
        job: PathBuf,
    },
}

/// The test server with `accounts` users, `chats` supergroups each (only its own), their
/// session files and a data directory.
struct World {
    server: TestServer,
    dir: tempfile::TempDir,
    /// Per account (acc0…): its user id and its chats' bot-API ids.
    accounts: Vec<(i64, Vec<i64>)>,
}

fn super_id(i: usize) -> i64 {
    -1_001_000_000_000 - i as i64
}

/// Telegram's channel id of a bot-API `-100…` id.
fn channel_id(bot_api: i64) -> i64 {
    -bot_api - 1_000_000_000_000
}

impl World {
    async fn build(accounts: usize, chats: usize) -> anyhow::Result<World> {
        let mut fixture = Fixture::default();
        let mut list = Vec::new();
        for a in 0..accounts {
            let user = 10_000 + a as i64;
            fixture = fixture.user(UserSpec::new(user, &format!("Seller {a}")));
            let ids: Vec<i64> = (0..chats).map(|c| super_id(a * chats + c)).collect();
            for (c, id) in ids.iter().enumerate() {
                fixture = fixture.chat(
                    ChatSpec::new(*id, &format!("Market {a}/{c}"), ChatKind::Supergroup)
                        .members(&[user]),
                );
            }
            list.push((user, ids));
        }
        let server = TestServer::start(fixture).await?;
        let dir = tempfile::tempdir()?;
        let world = World {
            server,
            dir,
            accounts: list,
        };
        let store = SessionStore::new(world.dir.path().join("sessions"), None);
        for (a, (user, _)) in world.accounts.iter().enumerate() {
            let key = world
                .server
                .auth_key(*user)
                .context("fixture user has a key")?;
            let session = StoredSession {
                identity: Some(Identity {
                    user_id: *user,
                    bot: false,
                    first_name: format!("Seller {a}"),
                    username: None,
                }),
                ..StoredSession::for_server(world.addr()?, DC_ID, key)
            };
            store.save(&format!("acc{a}"), &session)?;
        }
        Ok(world)
    }

    fn addr(&self) -> anyhow::Result<SocketAddrV4> {
        match self.server.addr() {
            std::net::SocketAddr::V4(a) => Ok(a),
            std::net::SocketAddr::V6(_) => bail!("the test server listens on 127.0.0.1"),
        }
    }

    fn config(&self, delay: &str, cycle: &str, jitter: &str) -> anyhow::Result<()> {
        let mut t = format!(
            "[settings]\ndelay_between_chats = \"{delay}\"\ncycle_delay = \"{cycle}\"\n\
             jitter = \"{jitter}\"\nretry_delay = \"1s\"\nenable_scheduling = false\n\
             enable_quiet_hours = false\n"
        );
        if let Some(Some(every)) = PREFLIGHT_EVERY.get() {
            t.push_str(&format!("preflight_every = \"{every}\"\n"));
        }
        t.push_str(&format!("[messages.m]\ntexts = [\"{TEXT}\"]\n"));
        for a in 0..self.accounts.len() {
            t.push_str(&format!("[accounts.acc{a}]\n"));
        }
        t.push_str("[targets]\n");
        for (a, (_, ids)) in self.accounts.iter().enumerate() {
            let ids: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
            t.push_str(&format!("t{a} = [{}]\n", ids.join(",")));
        }
        for a in 0..self.accounts.len() {
            t.push_str(&format!(
                "[broadcasters.b{a}]\naccount = \"acc{a}\"\ntargets = \"t{a}\"\nmessages = \"m\"\n"
            ));
        }
        std::fs::write(self.dir.path().join("sendmessagebot.toml"), t)?;
        Ok(())
    }

    fn ours(&self, bin: &Path, args: &[&str], metrics: bool) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(self.dir.path())
            .env("API_ID", API_ID.to_string())
            .env("API_HASH", API_HASH)
            .env("LOG_LEVEL", "warn")
            .env_remove("RUST_LOG")
            .env_remove("SMB_CONFIG")
            .env_remove("SESSION_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if metrics {
            c.env("METRICS_BIND", "127.0.0.1:0");
        }
        c
    }

    fn ledger(&self) -> Vec<LedgerEntry> {
        self.server.ledger()
    }

    /// The Telethon / bare job: every account's session and chats with access hashes.
    fn job(&self, delay: f64, idle: bool) -> anyhow::Result<serde_json::Value> {
        let addr = self.addr()?;
        let mut accounts = Vec::new();
        for (user, ids) in &self.accounts {
            let key = self.server.auth_key(*user).context("key")?;
            let chats: Vec<(i64, i64)> = ids
                .iter()
                .map(|id| (channel_id(*id), self.server.access_hash(*id).unwrap_or(0)))
                .collect();
            accounts.push(serde_json::json!({
                "user": user,
                "session": telethon_session(addr, &key),
                "auth_key": hex(&key),
                "chats": chats,
            }));
        }
        Ok(serde_json::json!({
            "api_id": API_ID, "api_hash": API_HASH, "text": TEXT, "delay": delay, "idle": idle,
            "addr": addr.to_string(), "accounts": accounts,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 256]> {
    let mut out = [0u8; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Telethon's StringSession: '1' + urlsafe_b64(pack('>B4sH256s', dc_id, ip, port, key)).
fn telethon_session(addr: SocketAddrV4, key: &[u8; 256]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = vec![DC_ID as u8];
    raw.extend_from_slice(&addr.ip().octets());
    raw.extend_from_slice(&addr.port().to_be_bytes());
    raw.extend_from_slice(key);
    let mut out = String::from("1");
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(match i <= chunk.len() {
                true => ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char,
                false => '=',
            });
        }
    }
    out
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A `kB` field of `/proc/PID/smaps_rollup` (`Rss:`, `Anonymous:`…).
fn rollup_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn idle(bin: &Path, accounts: usize, hold: u64) -> anyhow::Result<()> {
    let world = World::build(accounts, 1).await?;
    world.config("0s", "1h", "0%")?;
    let mut child = world
        .ours(bin, &["run", "--no-web", "--no-metrics"], false)
        .spawn()?;
    let started = Instant::now();
    while world.ledger().len() < accounts {
        if started.elapsed() > Duration::from_secs(120) {
            terminate(&mut child);
            bail!("{accounts} accounts did not all send within 120 s");
        }
        if let Ok(Some(s)) = child.try_wait() {
            bail!("ended early: {s}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id();
    let mb = |kb: Option<u64>| kb.unwrap_or(0) as f64 / 1024.0;
    println!(
        "idle, {accounts} accounts: RSS {:.1} MB = anonymous {:.1} MB + files {:.1} MB; {} threads (pid {pid})",
        mb(status_kb(pid, "VmRSS:")),
        mb(rollup_kb(pid, "Anonymous:")),
        mb(status_kb(pid, "RssFile:")),
        status_kb(pid, "Threads:").unwrap_or(0),
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
    terminate(&mut child);
    Ok(())
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn at(e: &LedgerEntry) -> jiff::Timestamp {
    e.at.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (quantile(&s, 0.0), quantile(&s, 0.5), quantile(&s, 1.0))
}

fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("sendmessagebot")))
        .unwrap_or_else(|| PathBuf::from("target/release/sendmessagebot"))
}

async fn startup(bin: &Path, accounts: usize, targets: usize, runs: usize) -> anyhow::Result<()> {
    let chats = targets.div_ceil(accounts.max(1));
    let mut times = Vec::new();
    for run in 0..runs {
        let world = World::build(accounts, chats).await?;
        world.config("15s", "20m", "0%")?;
        let started = Instant::now();
        let mut child = world
            .ours(bin, &["run", "--no-web", "--no-metrics"], false)
            .spawn()?;
        let first = loop {
            if !world.ledger().is_empty() {
                break started.elapsed();
            }
            if let Ok(Some(s)) = child.try_wait() {
                bail!("sendmessagebot ended before its first send: {s}");
            }
            if started.elapsed() > Duration::from_secs(120) {
                terminate(&mut child);
                bail!("no send within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        terminate(&mut child);
        println!(
            "run {}: first send after {:.3} s",
            run + 1,
            first.as_secs_f64()
        );
        times.push(first.as_secs_f64());
    }
    let (min, med, max) = spread(&times);
    println!(
        "startup ({accounts} accounts, {} targets): start → first send at the server \
         min {min:.3} s, median {med:.3} s, max {max:.3} s",
        accounts * chats
    );
    Ok(())
}

async fn pacing(bin: &Path, accounts: usize, chats: usize, delay_ms: u64) -> anyhow::Result<()> {
    let delay = delay_ms as f64 / 1000.0;
    for jitter in ["0%", "10%"] {
        let world = World::build(accounts, chats).await?;
        world.config(&format!("{delay_ms}ms"), "1h", jitter)?;
        let status = world
            .ours(bin, &["run", "--once", "--no-web", "--no-metrics"], false)
            .status()?;
        if !status.success() {
            bail!("run --once failed: {status}");
        }
        let ledger = world.ledger();
        let mut by: HashMap<i64, Vec<jiff::Timestamp>> = HashMap::new();
        for e in &ledger {
            by.entry(e.account).or_default().push(at(e));
        }
        let mut errors = Vec::new();
        let mut short = 0usize;
        let mut shortest = f64::INFINITY;
        for times in by.values_mut() {
            times.sort();
            for w in times.windows(2) {
                let gap = (w[1] - w[0]).total(jiff::Unit::Second).unwrap_or(f64::NAN);
                shortest = shortest.min(gap);
                if gap < delay {
                    short += 1;
                }
                errors.push((gap - delay) * 1000.0);
            }
        }
        errors.sort_by(f64::total_cmp);
        println!(
            "pacing (jitter {jitter}, {accounts} accounts × {chats} chats, delay {delay} s, {} gaps): \
             error p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; gaps shorter than the delay: {short} \
             (shortest {shortest:.4} s)",
            errors.len(),
            quantile(&errors, 0.5),
            quantile(&errors, 0.99),
            quantile(&errors, 1.0),
        );
    }
    Ok(())
}

async fn memory(
    bin: &Path,
    minutes: u64,
    accounts: usize,
    chats: usize,
    every: u64,
) -> anyhow::Result<()> {
    for metrics in [true, false] {
        let world = World::build(accounts, chats).await?;
        world.config("100ms", "1s", "0%")?;
        let mut args = vec!["run", "--no-web"];
        if !metrics {
            args.push("--no-metrics");
        }
        let mut child = world.ours(bin, &args, metrics).spawn()?;
        let pid = child.id();
        let started = Instant::now();
        let total = Duration::from_secs(minutes * 60);
        let mut samples: Vec<(f64, f64, usize)> = Vec::new();
        while started.elapsed() < total {
            tokio::time::sleep(Duration::from_secs(every)).await;
            let rss = status_kb(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
            let sent = world.server.ledger().len();
            samples.push((started.elapsed().as_secs_f64(), rss, sent));
        }
        terminate(&mut child);
        // Warm-up: SQLite's page caches and the allocator's arenas fill in the first ~100 s.
        let warm = samples
            .iter()
            .position(|s| s.0 >= 100.0)
            .unwrap_or(0)
            .max(samples.len() / 4)
            .min(samples.len().saturating_sub(1));
        let after: Vec<f64> = samples[warm..].iter().map(|s| s.1).collect();
        let (min, _, max) = spread(&after);
        let label = if metrics {
            "metrics on (not scraped)"
        } else {
            "metrics off"
        };
        println!(
            "memory, {label}: {accounts} accounts × {chats} chats, 100 ms apart, {minutes} min"
        );
        for (t, rss, sent) in &samples {
            println!("  {t:7.0} s  RSS {rss:6.1} MB  {sent:7} sent");
        }
        println!(
            "  after warm-up ({:.0} s): RSS min {min:.1} MB, max {max:.1} MB, spread {:.1} MB",
            samples.get(warm).map_or(0.0, |s| s.0),
            max - min
        );
    }
    Ok(())
}

/// Runs `cmd` under `/usr/bin/time`: (user + system CPU seconds, peak RSS MB).
fn timed(cmd: Command, stdin: Option<&[u8]>) -> anyhow::Result<(f64, f64)> {
    let out = tempfile::NamedTempFile::new()?;
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut t = Command::new("/usr/bin/time");
    t.arg("-f")
        .arg("%U %S %M")
        .arg("-o")
        .arg(out.path())
        .arg(program)
        .args(args);
    if let Some(dir) = cmd.get_current_dir() {
        t.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    t.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = t.spawn().context("/usr/bin/time (apt install time)")?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)?;
    }
    drop(child.stdin.take());
    let status = child.wait()?;
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    let text = std::fs::read_to_string(out.path())?;
    let v: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v.as_slice() {
        [u, s, m] => Ok((u + s, m / 1024.0)),
        _ => bail!("unexpected /usr/bin/time output: {text}"),
    }
}

/// Idle RSS (MB) of a process with `n` connected accounts, each of which sent one message.
async fn idle_rss(world: &World, mut child: Child, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    while world.ledger().len() < n {
        if started.elapsed() > Duration::from_secs(120) {
            terminate(&mut child);
            bail!("{n} accounts did not all send within 120 s");
        }
        if let Ok(Some(s)) = child.try_wait() {
            bail!("ended early: {s}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = status_kb(child.id(), "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    terminate(&mut child);
    Ok(rss)
}

async fn vs_telethon(
    bin: &Path,
    python: &Path,
    runs: usize,
    accounts: usize,
    chats: usize,
) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("telethon/seed_loop.py");
    let me = std::env::current_exe()?;
    let mut cpu: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut peak: HashMap<&str, Vec<f64>> = HashMap::new();
    for run in 0..runs {
        // Alternating: each run gives every contender a fresh world, in the same order.
        for who in ["ours", "telethon", "bare"] {
            let world = World::build(accounts, chats).await?;
            world.config("0s", "1h", "0%")?;
            let job = serde_json::to_vec(&world.job(0.0, false)?)?;
            let job_file = world.dir.path().join("job.json");
            std::fs::write(&job_file, &job)?;
            let (secs, mb) = match who {
                "ours" => timed(
                    world.ours(bin, &["run", "--once", "--no-web", "--no-metrics"], false),
                    None,
                )?,
                "telethon" => {
                    let mut c = Command::new(python);
                    c.arg(&script);
                    timed(c, Some(&job))?
                }
                _ => {
                    let mut c = Command::new(&me);
                    c.arg("bare").arg("--job").arg(&job_file);
                    timed(c, None)?
                }
            };
            let sent = world.ledger().len();
            if sent == 0 {
                bail!("{who} sent nothing");
            }
            let per_1000 = secs / sent as f64 * 1000.0;
            println!(
                "run {} {who:8}: {sent} deliveries, CPU {secs:.3} s ({per_1000:.3} s / 1,000), peak RSS {mb:.1} MB",
                run + 1
            );
            cpu.entry(who).or_default().push(per_1000);
            peak.entry(who).or_default().push(mb);
        }
    }
    // RSS per connected account: idle after each account sent one message.
    let mut idle: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for n in [1usize, 10, 100] {
        for who in ["ours", "telethon", "bare"] {
            let world = World::build(n, 1).await?;
            world.config("0s", "1h", "0%")?;
            let job = serde_json::to_vec(&world.job(0.0, true)?)?;
            let job_file = world.dir.path().join("job.json");
            std::fs::write(&job_file, &job)?;
            let child = match who {
                "ours" => world
                    .ours(bin, &["run", "--no-web", "--no-metrics"], false)
                    .spawn()?,
                "telethon" => {
                    let mut c = Command::new(python)
                        .arg(&script)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .spawn()?;
                    if let Some(mut pipe) = c.stdin.take() {
                        pipe.write_all(&job)?;
                    }
                    c
                }
                _ => Command::new(&me)
                    .arg("bare")
                    .arg("--job")
                    .arg(&job_file)
                    .stdout(Stdio::null())
                    .spawn()?,
            };
            let rss = idle_rss(&world, child, n).await?;
            println!("idle {who:8}: {n:3} accounts connected, RSS {rss:.1} MB");
            idle.entry(who).or_default().push((n, rss));
        }
    }
    println!("\nsummary ({runs} alternating runs, {accounts} accounts × {chats} chats, delay 0):");
    for who in ["ours", "telethon", "bare"] {
        let (a, b, c) = spread(&cpu[who]);
        let (pa, pb, pc) = spread(&peak[who]);
        let rss = &idle[who];
        let per_acc =
            |i: usize, j: usize| (rss[j].1 - rss[i].1) / (rss[j].0 - rss[i].0) as f64 * 1024.0;
        println!(
            "  {who:8} CPU/1,000 min {a:.3} med {b:.3} max {c:.3} s; peak RSS min {pa:.1} med {pb:.1} max {pc:.1} MB; \
             idle RSS 1/10/100 accounts {:.1}/{:.1}/{:.1} MB ({:.0} KB per added account)",
            rss[0].1,
            rss[1].1,
            rss[2].1,
            per_acc(0, 2)
        );
    }
    let ratio =
        |x: &str, y: &str| -> Vec<f64> { cpu[x].iter().zip(&cpu[y]).map(|(a, b)| a / b).collect() };
    for (x, y) in [("telethon", "ours"), ("ours", "bare")] {
        let (a, b, c) = spread(&ratio(x, y));
        println!("  CPU {x}/{y}: min {a:.2} med {b:.2} max {c:.2}");
    }
    Ok(())
}

/// The floor: one grammers client per account (our `AccountClient`, no journal, no planner)
/// sending the text to each chat in turn, all accounts concurrently.
async fn bare(job: &Path) -> anyhow::Result<()> {
    use grammers_tl_types as tl;
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(job)?)?;
    let addr: SocketAddrV4 = job["addr"].as_str().context("addr")?.parse()?;
    let idle = job["idle"].as_bool().unwrap_or(false);
    let dir = tempfile::tempdir()?;
    let store = SessionStore::new(dir.path(), None);
    let api = ApiSettings::new(API_ID, SecretString::from(API_HASH));
    let mut tasks = Vec::new();
    for (a, acc) in job["accounts"]
        .as_array()
        .context("accounts")?
        .iter()
        .enumerate()
    {
        let key = unhex(acc["auth_key"].as_str().context("key")?).context("key")?;
        let user = acc["user"].as_i64().context("user")?;
        let session = StoredSession {
            identity: Some(Identity {
                user_id: user,
                bot: false,
                first_name: format!("Seller {a}"),
                username: None,
            }),
            ..StoredSession::for_server(addr, DC_ID, key)
        };
        let client = AccountClient::with_session(&api, &store, &format!("acc{a}"), session, None);
        let chats: Vec<(i64, i64)> = serde_json::from_value(acc["chats"].clone())?;
        tasks.push(tokio::spawn(async move {
            for (i, (channel_id, access_hash)) in chats.into_iter().enumerate() {
                let request = tl::functions::messages::SendMessage {
                    no_webpage: true,
                    silent: false,
                    background: false,
                    clear_draft: false,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    allow_paid_floodskip: false,
                    peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                        channel_id,
                        access_hash,
                    }),
                    reply_to: None,
                    message: TEXT.to_owned(),
                    random_id: (a as i64) << 32 | i as i64,
                    reply_markup: None,
                    entities: None,
                    schedule_date: None,
                    send_as: None,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_stars: None,
                    suggested_post: None,
                    schedule_repeat_period: None,
                    rich_message: None,
                };
                client.invoke(&request).await?;
            }
            anyhow::Ok(client)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await??);
    }
    if idle {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = PREFLIGHT_EVERY.set(args.preflight_every.clone());
    let bin = args.bin.clone().unwrap_or_else(default_bin);
    if !matches!(args.cmd, Cmd::Bare { .. }) && !bin.exists() {
        bail!(
            "no sendmessagebot at {} (build it, or pass --bin)",
            bin.display()
        );
    }
    match args.cmd {
        Cmd::Startup {
            accounts,
            targets,
            runs,
        } => startup(&bin, accounts, targets, runs).await,
        Cmd::Pacing {
            accounts,
            chats,
            delay_ms,
        } => pacing(&bin, accounts, chats, delay_ms).await,
        Cmd::Memory {
            minutes,
            accounts,
            chats,
            every,
        } => memory(&bin, minutes, accounts, chats, every).await,
        Cmd::VsTelethon {
            python,
            runs,
            accounts,
            chats,
        } => vs_telethon(&bin, &python, runs, accounts, chats).await,
        Cmd::Soak {
            deliveries,
            kills,
            seed,
            accounts,
            chats,
            no_pairs,
            keep,
        } => {
            let seed = seed.unwrap_or_else(rand::random);
            println!("soak seed {seed} (replay: bench/soak.sh --seed {seed})");
            let options = smb_bench::soak::Options {
                deliveries,
                kills,
                accounts,
                chats,
                keep,
                pairs: !no_pairs,
                ..smb_bench::soak::Options::full(bin, seed)
            };
            // The soak runs its own runtime for the test server and blocks on child processes.
            let report =
                tokio::task::spawn_blocking(move || smb_bench::soak::run(&options)).await??;
            println!("{report}");
            if !report.clean() {
                bail!("the soak found problems (seed {seed})");
            }
            Ok(())
        }
        Cmd::Idle { accounts, hold } => idle(&bin, accounts, hold).await,
        Cmd::Bare { job } => bare(&job).await,
    }
}
