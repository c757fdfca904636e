//! Engine benchmark: N accounts × M targets through the real driver, the sandbox gateway
//! (zero latency) and the durable SQLite journal; then, in the same run, the raw durable
//! insert rate of SQLite (one row per transaction, same pragmas) for the same number of
//! rows. Prints deliveries per second, peak RSS and the engine/raw ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use jiff::Timestamp;
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, TargetRef};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::{Driver, DriverSettings, EngineEvent, EventSink, SystemClock};
use smb_store::{SqliteSettings, SqliteStore};
use smb_telegram::{SimGateway, SimSettings};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    /// Rows for the raw SQLite baseline (default: as many as the engine's deliveries).
    #[arg(long)]
    raw_rows: Option<usize>,
    /// Stop the raw baseline after this many seconds (its rate is what is compared).
    #[arg(long, default_value_t = 180)]
    raw_max_secs: u64,
    /// Where the databases go (default: a temporary directory on the same disk as /tmp).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: &EngineEvent) {}
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let now = Timestamp::now();
    let zero = Pacing {
        delay_between_chats: Duration::ZERO,
        cycle_delay: Duration::ZERO,
        jitter: Jitter(0.0),
        max_retries: 3,
        retry_delay: Duration::from_secs(1),
    };
    let accounts: Vec<AccountSpec> = (0..args.accounts)
        .map(|a| AccountSpec {
            name: format!("acc{a}"),
            delay_between_chats: Duration::ZERO,
            jitter: Jitter(0.0),
        })
        .collect();
    let broadcasters: Vec<BroadcasterSpec> = (0..args.accounts)
        .map(|a| BroadcasterSpec {
            name: format!("b{a}"),
            account: format!("acc{a}"),
            targets: (0..args.targets)
                .map(|t| TargetRef::id(-1_001_000_000_000 - t as i64))
                .collect(),
            messages: MessageSet::new(format!("m{a}"), vec![Message::new("price list")]),
            rotation: Rotation::Sequential,
            pacing: zero,
            schedule: Schedule::always(),
            content: Content::default(),
        })
        .collect();
    let planner = Planner::new(
        accounts,
        broadcasters,
        PlannerSettings {
            once: true,
            seed: 1,
            ..Default::default()
        },
        now,
    )?;
    let db = dir.join("engine.db");
    let store = Arc::new(
        SqliteStore::open(
            &format!("sqlite://{}", db.display()),
            SqliteSettings::default(),
        )
        .await?,
    );
    let gateway = Arc::new(SimGateway::new(SimSettings::default())?);
    let driver = Driver::restore(
        planner,
        store.clone(),
        gateway.clone(),
        Arc::new(SystemClock),
        Arc::new(NullSink),
        DriverSettings::default(),
    )
    .await?;
    let deliveries = args.accounts * args.targets;
    println!(
        "engine: {} accounts × {} targets = {deliveries} deliveries, SQLite WAL synchronous=FULL at {}",
        args.accounts,
        args.targets,
        db.display()
    );
    let t = Instant::now();
    driver.run(CancellationToken::new()).await?;
    let engine_secs = t.elapsed().as_secs_f64();
    let accepted = gateway.accepted_count() as usize;
    anyhow::ensure!(
        accepted == deliveries,
        "sandbox accepted {accepted} of {deliveries}"
    );
    let stats = store.stats(None, Timestamp::now()).await?;
    anyhow::ensure!(
        stats.totals.sent as usize == deliveries,
        "journal shows {} sent",
        stats.totals.sent
    );
    let engine_rate = deliveries as f64 / engine_secs;
    let rss = peak_rss_mb();
    println!(
        "engine: {engine_secs:.1} s, {engine_rate:.0} deliveries/s (each: pending write + send + outcome write), peak RSS {rss:.0} MB"
    );
    drop((store, gateway));

    let rows = args.raw_rows.unwrap_or(deliveries);
    let raw_db = dir.join("raw.db");
    let opts = SqliteConnectOptions::new()
        .filename(&raw_db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    sqlx::query(
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, broadcaster TEXT NOT NULL, cycle INTEGER NOT NULL,
         target TEXT NOT NULL, account TEXT NOT NULL, random_id INTEGER NOT NULL, message TEXT NOT NULL,
         status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (broadcaster, cycle, target))",
    )
    .execute(&mut conn)
    .await?;
    let t = Instant::now();
    let budget = Duration::from_secs(args.raw_max_secs);
    let mut done = 0usize;
    for i in 0..rows {
        if i % 256 == 0 && t.elapsed() > budget {
            break;
        }
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO deliveries (broadcaster, cycle, target, account, random_id, message, status, created_at, updated_at)
             VALUES (?, 1, ?, ?, ?, 'price list', 'sent', 0, 0)",
        )
        .bind(format!("b{}", i / args.targets.max(1)))
        .bind((-1_001_000_000_000i64 - (i % args.targets.max(1)) as i64).to_string())
        .bind(format!("acc{}", i / args.targets.max(1)))
        .bind(i as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done += 1;
    }
    let raw_secs = t.elapsed().as_secs_f64();
    let raw_rate = done as f64 / raw_secs;
    let cut = if done < rows {
        format!(
            " (stopped at the {} s budget; {rows} asked)",
            args.raw_max_secs
        )
    } else {
        String::new()
    };
    println!(
        "raw SQLite: {done} rows, one per transaction, same pragmas: {raw_secs:.1} s, {raw_rate:.0} rows/s{cut}"
    );
    println!(
        "ratio engine/raw: {:.2} (goal ≥ 0.5); peak RSS {rss:.0} MB (goal < 300 MB)",
        engine_rate / raw_rate
    );
    Ok(())
}
