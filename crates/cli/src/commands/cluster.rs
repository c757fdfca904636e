//! `cluster status [--json]`: the servers of a cluster on one PostgreSQL database and the
//! leases each holds (issue 16, docs/postgres.md "Leases and fencing"). Read from the
//! database, so any machine that reaches it can ask. On SQLite there is one server and no
//! lease: said, exit 0.

use std::collections::BTreeMap;
use std::process::ExitCode;

use crate::Cli;
use crate::config::Overrides;
use crate::context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Servers alive, the accounts each holds, each lease's expiry and epoch.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The sandbox's journal ([sandbox] database_url) instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// As JSON: {"backend", "now", "lease_ttl_ms", "servers": [{"server_id", "alive",
    /// "started_at", "heartbeat_at", "leases": [...]}], "leases": [{"account", "holder",
    /// "epoch", "expires_at", "expires_in_ms", "accounts": [...]}]}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, c: &Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Status(a) => status(cli, a).await,
    }
}

async fn status(cli: &Cli, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let settings = context::settings(cli, &Overrides::default(), true)?;
    let url = match args.sandbox {
        true => &settings.sandbox_database_url,
        false => &settings.database_url,
    };
    if !smb_store::is_postgres_url(url) {
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"backend": "sqlite", "servers": [], "leases": []})
            )?;
        } else {
            outln!(
                "no cluster: the journal is SQLite, driven by one `run` (the data directory's lock); \
                 several servers need a PostgreSQL DATABASE_URL (docs/postgres.md)"
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let journal = context::open_existing_journal(&settings, args.sandbox).await?;
    let Some(pg) = journal.postgres() else {
        anyhow::bail!("the journal at this URL is not PostgreSQL");
    };
    let view = pg.cluster().await?;
    let ttl = settings.sections.cluster.lease_ttl;
    let groups = crate::cluster::groups(&settings);
    let alive = |hb: jiff::Timestamp| {
        view.now.duration_since(hb) < jiff::SignedDuration::try_from(ttl).unwrap_or_default()
    };
    let live =
        |l: &smb_store::postgres::leases::LeaseRow| l.holder.is_some() && l.expires_at > view.now;
    let mut by_server: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in view.leases.iter().filter(|l| live(l)) {
        if let Some(h) = &l.holder {
            by_server.entry(h).or_default().push(&l.account);
        }
    }
    if args.json {
        let servers: Vec<_> = view
            .servers
            .iter()
            .map(|s| {
                serde_json::json!({
                    "server_id": s.server_id,
                    "alive": alive(s.heartbeat_at),
                    "started_at": s.started_at.to_string(),
                    "heartbeat_at": s.heartbeat_at.to_string(),
                    "leases": by_server.get(s.server_id.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let leases: Vec<_> = view
            .leases
            .iter()
            .map(|l| {
                serde_json::json!({
                    "account": l.account,
                    "holder": if live(l) { l.holder.clone() } else { None },
                    "epoch": l.epoch,
                    "expires_at": l.expires_at.to_string(),
                    "expires_in_ms": l.expires_at.duration_since(view.now).as_millis(),
                    "accounts": groups.leases.get(&l.account).cloned().unwrap_or_default(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "backend": "postgres",
                "now": view.now.to_string(),
                "lease_ttl_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
                "servers": servers,
                "leases": leases,
            }))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let alive_count = view
        .servers
        .iter()
        .filter(|s| alive(s.heartbeat_at))
        .count();
    outln!(
        "{} server(s) alive of {} known; {} lease(s), LEASE_TTL {} ms",
        alive_count,
        view.servers.len(),
        view.leases.len(),
        ttl.as_millis()
    )?;
    for s in &view.servers {
        let held = by_server
            .get(s.server_id.as_str())
            .cloned()
            .unwrap_or_default();
        outln!(
            "server {:<28} {:<6} heartbeat {}  holds {}: {}",
            s.server_id,
            if alive(s.heartbeat_at) {
                "alive"
            } else {
                "silent"
            },
            s.heartbeat_at,
            held.len(),
            held.join(", ")
        )?;
    }
    outln!(
        "{:<20} {:<28} {:>6} {:>12}  accounts",
        "lease",
        "holder",
        "epoch",
        "expires in"
    )?;
    for l in &view.leases {
        let holder = match (&l.holder, live(l)) {
            (Some(h), true) => h.clone(),
            (Some(h), false) => format!("(expired: {h})"),
            (None, _) => "(free)".to_owned(),
        };
        let left = l.expires_at.duration_since(view.now).as_millis();
        outln!(
            "{:<20} {:<28} {:>6} {:>10}ms  {}",
            l.account,
            holder,
            l.epoch,
            left.max(0),
            groups
                .leases
                .get(&l.account)
                .map(|a| a.join(", "))
                .unwrap_or_default()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
