//! Several `run` servers on one PostgreSQL database (issue 16, part 2; docs/postgres.md,
//! "Leases and fencing"): the lease keeper that decides which accounts this server drives,
//! and what a round of `run` drives under it.
//!
//! The unit of a lease is a **group**: accounts joined by `backup_accounts` (a backup posts
//! for its broadcaster and is paced with its own broadcasters by one planner, so they must be
//! driven by one server). A group's lease is named by its first account in byte order; a
//! group of one account is that account. Broadcasters belong to their account's group.
//!
//! The keeper, every `LEASE_TTL`/3: writes this server's heartbeat, renews what it holds,
//! drops what it failed to renew in time (deadline: the last successful renewal's start +
//! TTL − TTL/4, on the monotonic clock), gives surplus back (more than `ceil(groups / live
//! servers)`: first the round stops driving it, then the lease is released), and takes free
//! or expired leases up to that share. What it wants driven is published on a watch channel;
//! `run` rebuilds its round (as a reload does: planner restored from the journal) whenever
//! that changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smb_store::PgStore;
use smb_store::postgres::leases::Lease;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// Accounts grouped by `backup_accounts`, each group named by its lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    /// lease name → its accounts, sorted.
    pub leases: BTreeMap<String, Vec<String>>,
    /// account → its lease.
    pub of_account: HashMap<String, String>,
    /// broadcaster → its lease.
    pub of_broadcaster: HashMap<String, String>,
}

/// The groups of `settings`: every configured account, joined with the backups of each
/// broadcaster it posts for.
pub fn groups(settings: &Settings) -> Groups {
    // Union-find over account names.
    let mut parent: BTreeMap<String, String> = settings
        .accounts
        .iter()
        .map(|a| (a.name.clone(), a.name.clone()))
        .collect();
    fn root(parent: &mut BTreeMap<String, String>, a: &str) -> String {
        let mut r = a.to_owned();
        while let Some(p) = parent.get(&r).filter(|p| **p != r) {
            r = p.clone();
        }
        r
    }
    for b in &settings.broadcasters {
        parent
            .entry(b.spec.account.clone())
            .or_insert_with(|| b.spec.account.clone());
        for backup in &b.backup_accounts {
            parent
                .entry(backup.clone())
                .or_insert_with(|| backup.clone());
            let (x, y) = (
                root(&mut parent, &b.spec.account),
                root(&mut parent, backup),
            );
            // The smaller name is the root: a group is named by its first account.
            if x < y {
                parent.insert(y, x);
            } else if y < x {
                parent.insert(x, y);
            }
        }
    }
    let names: Vec<String> = parent.keys().cloned().collect();
    let mut out = Groups::default();
    for a in names {
        let lease = root(&mut parent, &a);
        out.leases.entry(lease.clone()).or_default().push(a.clone());
        out.of_account.insert(a, lease);
    }
    for b in &settings.broadcasters {
        if let Some(lease) = out.of_account.get(&b.spec.account) {
            out.of_broadcaster
                .insert(b.spec.name.clone(), lease.clone());
        }
    }
    out
}

/// `settings` with only the broadcasters and accounts of the leases in `held`.
pub fn only_held(settings: &Settings, groups: &Groups, held: &BTreeSet<String>) -> Settings {
    let mut s = settings.clone();
    let ours = |account: &str| {
        groups
            .of_account
            .get(account)
            .is_some_and(|l| held.contains(l))
    };
    s.broadcasters.retain(|b| ours(&b.spec.account));
    s.accounts.retain(|a| ours(&a.name));
    s.account_info.retain(|a| ours(&a.name));
    s
}

/// The lease keeper of one server (see the module docs). Clones share it.
#[derive(Clone)]
pub struct Keeper {
    store: PgStore,
    server: String,
    groups: Arc<Mutex<Groups>>,
    /// The leases to drive; `None` until the first pass of the keeper.
    wanted: watch::Receiver<Option<BTreeSet<String>>>,
    /// What the running round drives (empty between rounds).
    driving: Arc<watch::Sender<BTreeSet<String>>>,
}

impl Keeper {
    /// Arms the store's fence for `settings`' groups and starts the keeper's task, which ends
    /// with `stop`.
    pub fn start(store: PgStore, settings: &Settings, stop: CancellationToken) -> Keeper {
        let cluster = settings.sections.cluster.clone();
        let groups = Arc::new(Mutex::new(groups(settings)));
        arm(&store, &cluster.server_id, &lock(&groups));
        let (wanted_tx, wanted) = watch::channel(None);
        let (driving, driving_rx) = watch::channel(BTreeSet::new());
        let task = Task {
            store: store.clone(),
            server: cluster.server_id.clone(),
            ttl: cluster.lease_ttl,
            groups: groups.clone(),
            wanted: Arc::new(wanted_tx),
            driving: driving_rx,
            state: Arc::new(Mutex::new(State::default())),
        };
        tokio::spawn(task.run(stop));
        tracing::info!(server = %cluster.server_id, lease_ttl_ms = cluster.lease_ttl.as_millis() as u64, "cluster: taking leases");
        Keeper {
            store,
            server: cluster.server_id,
            groups,
            wanted,
            driving: Arc::new(driving),
        }
    }

    /// A reload's new configuration: its groups are fenced and leased from now on.
    pub fn reconfigure(&self, settings: &Settings) {
        let g = groups(settings);
        arm(&self.store, &self.server, &g);
        *lock(&self.groups) = g;
    }

    /// The groups leased now.
    pub fn groups(&self) -> Groups {
        lock(&self.groups).clone()
    }

    /// The leases to drive, once the keeper has made its first pass; `None` if `stop` came
    /// first.
    pub async fn wanted(&self, stop: &CancellationToken) -> Option<BTreeSet<String>> {
        let mut rx = self.wanted.clone();
        loop {
            if let Some(w) = rx.borrow_and_update().clone() {
                return Some(w);
            }
            tokio::select! {
                r = rx.changed() => r.ok()?,
                () = stop.cancelled() => return None,
            }
        }
    }

    /// Waits until the wanted leases differ from `held` (or `stop`).
    pub async fn changed_from(&self, held: &BTreeSet<String>, stop: &CancellationToken) {
        let mut rx = self.wanted.clone();
        loop {
            if rx.borrow_and_update().as_ref().is_some_and(|w| w != held) {
                return;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { stop.cancelled().await; return },
                () = stop.cancelled() => return,
            }
        }
    }

    /// What the round now drives (empty when none runs): surplus leases are released only
    /// once they are out of it.
    pub fn driving(&self, held: BTreeSet<String>) {
        self.driving.send_replace(held);
    }

    /// A clean stop: every lease freed for the other servers at once.
    pub async fn leave(&self) {
        if let Err(e) = self.store.leave_cluster(&self.server).await {
            tracing::warn!(error = %e.report(), "cluster: the leases were not freed at exit; they expire after LEASE_TTL");
        }
    }
}

fn lock(g: &Mutex<Groups>) -> std::sync::MutexGuard<'_, Groups> {
    g.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arm(store: &PgStore, server: &str, g: &Groups) {
    store
        .fence()
        .arm(server, g.of_account.clone(), g.of_broadcaster.clone());
}

/// What the keeper holds, shared with its deadline watchdog.
#[derive(Default)]
struct State {
    /// Held leases and the instant by which each must be renewed again.
    held: BTreeMap<String, (Lease, Instant)>,
    /// Held leases being given back: out of `wanted`, released once out of `driving`.
    releasing: BTreeSet<String>,
}

impl State {
    fn wanted(&self) -> BTreeSet<String> {
        self.held
            .keys()
            .filter(|l| !self.releasing.contains(*l))
            .cloned()
            .collect()
    }
}

/// The keeper's task.
struct Task {
    store: PgStore,
    server: String,
    ttl: Duration,
    groups: Arc<Mutex<Groups>>,
    wanted: Arc<watch::Sender<Option<BTreeSet<String>>>>,
    driving: watch::Receiver<BTreeSet<String>>,
    state: Arc<Mutex<State>>,
}

fn publish(tx: &watch::Sender<Option<BTreeSet<String>>>, wanted: BTreeSet<String>) {
    tx.send_if_modified(|w| {
        if w.as_ref() == Some(&wanted) {
            return false;
        }
        *w = Some(wanted);
        true
    });
}

fn state(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops every held lease whose renewal deadline has passed, whatever the keeper's pass is
/// waiting for (a database that does not answer): the fence closes and the round is told.
fn drop_late(store: &PgStore, st: &Mutex<State>, tx: &watch::Sender<Option<BTreeSet<String>>>) {
    let now = Instant::now();
    let mut s = state(st);
    let late: Vec<String> = s
        .held
        .iter()
        .filter(|(_, (_, deadline))| *deadline <= now)
        .map(|(k, _)| k.clone())
        .collect();
    if late.is_empty() {
        return;
    }
    for l in &late {
        tracing::warn!(lease = %l, "cluster: lease not renewed in time; its accounts stop here before it can expire");
        store.fence().drop_lease(l);
        s.held.remove(l);
        s.releasing.remove(l);
    }
    let wanted = s.wanted();
    drop(s);
    publish(tx, wanted);
}

impl Task {
    /// How long before a lease can expire this server stops driving it when renewals fail.
    fn margin(&self) -> Duration {
        self.ttl / 4
    }

    async fn run(self, stop: CancellationToken) {
        // The watchdog: deadlines are kept even while a pass waits on the database.
        let (store, st, tx, tick) = (
            self.store.clone(),
            self.state.clone(),
            self.wanted.clone(),
            self.ttl / 20,
        );
        let watch_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(tick) => drop_late(&store, &st, &tx),
                    () = watch_stop.cancelled() => return,
                }
            }
        });
        let mut driving = self.driving.clone();
        loop {
            self.pass().await;
            let releasing = !state(&self.state).releasing.is_empty();
            // Every TTL/3, and at once when the round let go of a lease being released.
            tokio::select! {
                () = tokio::time::sleep(self.ttl / 3) => {}
                r = driving.changed(), if releasing => {
                    if r.is_err() { return }
                }
                () = stop.cancelled() => return,
            }
        }
    }

    fn drop_lease(&self, lease: &str) {
        self.store.fence().drop_lease(lease);
        let mut s = state(&self.state);
        s.held.remove(lease);
        s.releasing.remove(lease);
    }

    async fn pass(&self) {
        let alive = match self.store.heartbeat(&self.server, self.ttl).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e.report(), "cluster: heartbeat failed");
                None
            }
        };
        let leases: Vec<String> = lock(&self.groups).leases.keys().cloned().collect();
        let mine: Vec<Lease> = {
            let mut s = state(&self.state);
            // Leases of groups no longer configured (a reload) are given back.
            let gone: Vec<String> = s
                .held
                .keys()
                .filter(|l| !leases.contains(l))
                .cloned()
                .collect();
            s.releasing.extend(gone);
            s.held.values().map(|(l, _)| l.clone()).collect()
        };
        // Renew.
        if !mine.is_empty() {
            let asked = Instant::now();
            match self.store.renew_leases(&self.server, &mine, self.ttl).await {
                Ok(renewed) => {
                    for l in mine {
                        if renewed.contains(&l) {
                            let deadline = asked + self.ttl - self.margin();
                            if let Some(h) = state(&self.state).held.get_mut(&l.account)
                                && h.0 == l
                            {
                                h.1 = deadline;
                            }
                        } else {
                            tracing::warn!(lease = %l.account, epoch = l.epoch, "cluster: lease lost to another server; its accounts stop here");
                            self.drop_lease(&l.account);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.report(), "cluster: lease renewal failed");
                }
            }
        }
        drop_late(&self.store, &self.state, &self.wanted);
        // Give back what the round no longer drives.
        let driving = self.driving.borrow().clone();
        let release: Vec<(String, Option<Lease>)> = {
            let s = state(&self.state);
            s.releasing
                .iter()
                .filter(|l| !driving.contains(*l))
                .map(|l| (l.clone(), s.held.get(l).map(|(x, _)| x.clone())))
                .collect()
        };
        for (name, lease) in release {
            // The fence closes first: nothing is written under it from here on.
            self.drop_lease(&name);
            if let Some(lease) = lease {
                match self.store.release_lease(&self.server, &lease).await {
                    Ok(_) => {
                        tracing::info!(lease = %name, epoch = lease.epoch, "cluster: lease given back");
                    }
                    Err(e) => {
                        tracing::warn!(lease = %name, error = %e.report(), "cluster: giving a lease back failed; it expires after LEASE_TTL");
                    }
                }
            }
        }
        // Balance: at most the fair share, taking free or expired leases up to it.
        if let Some(alive) = alive {
            let share = leases.len().div_ceil(alive);
            let (keeping, held): (Vec<String>, Vec<String>) = {
                let s = state(&self.state);
                (
                    s.wanted().into_iter().collect(),
                    s.held.keys().cloned().collect(),
                )
            };
            if keeping.len() > share {
                let mut s = state(&self.state);
                for surplus in keeping.iter().skip(share) {
                    tracing::info!(lease = %surplus, share, alive, "cluster: giving a lease back to balance the servers");
                    s.releasing.insert(surplus.clone());
                }
            } else if held.len() < share {
                let free: Vec<String> = leases
                    .iter()
                    .filter(|l| !held.contains(*l))
                    .cloned()
                    .collect();
                let asked = Instant::now();
                match self
                    .store
                    .take_leases(&self.server, &free, share - held.len(), self.ttl)
                    .await
                {
                    Ok(taken) => {
                        let mut s = state(&self.state);
                        for l in taken {
                            tracing::info!(lease = %l.account, epoch = l.epoch, "cluster: lease taken");
                            self.store.fence().hold(&l);
                            let deadline = asked + self.ttl - self.margin();
                            s.held.insert(l.account.clone(), (l, deadline));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e.report(), "cluster: taking leases failed"),
                }
            }
        }
        let wanted = state(&self.state).wanted();
        publish(&self.wanted, wanted);
    }
}
