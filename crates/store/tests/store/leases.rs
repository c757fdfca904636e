//! Leases and fencing of several servers on one PostgreSQL database (issue 16, part 2):
//! take, renew, expire and steal with epochs; a write under a stale epoch is refused inside
//! its own transaction and leaves nothing; writes about other leases and about chats still
//! commit beside it. Expiry is made by moving `expires_at` into the past in SQL (the
//! database's clock decides expiry), so nothing here waits for time to pass.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use smb_engine::{Store, TargetStatus};
use smb_store::postgres::leases::{Lease, is_fenced};
use smb_store::{PgSettings, PgStore};
use sqlx::{Connection, PgConnection};

use super::postgres::{fresh_database, server_url};
use super::store_story::pending;

const TTL: Duration = Duration::from_secs(30);

async fn two_servers() -> Option<(String, PgStore, PgStore)> {
    let server = server_url()?;
    let url = fresh_database(&server).await;
    let a = PgStore::open(&url, PgSettings::default()).await.unwrap();
    let b = PgStore::open(&url, PgSettings::default()).await.unwrap();
    Some((url, a, b))
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn lease(account: &str, epoch: i64) -> Lease {
    Lease {
        account: account.into(),
        epoch,
    }
}

/// Moves the expiry of `account`'s lease into the past, as if its holder stopped renewing.
async fn expire(url: &str, account: &str) {
    let mut c = PgConnection::connect(url).await.unwrap();
    sqlx::query("UPDATE leases SET expires_at = 0 WHERE account = $1")
        .bind(account)
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn leases_are_taken_renewed_expired_and_stolen_with_epochs() {
    let Some((url, a, b)) = two_servers().await else {
        return;
    };
    let all = names(&["acc1", "acc2", "acc3"]);
    // A takes its share; B gets only what is left.
    let taken = a.take_leases("A", &all, 2, TTL).await.unwrap();
    assert_eq!(taken, vec![lease("acc1", 1), lease("acc2", 1)]);
    let taken = b.take_leases("B", &all, 10, TTL).await.unwrap();
    assert_eq!(taken, vec![lease("acc3", 1)], "a held lease is never taken");
    // Renewal answers what is still held at its epoch.
    let held = vec![lease("acc1", 1), lease("acc2", 1)];
    assert_eq!(a.renew_leases("A", &held, TTL).await.unwrap(), held);
    assert!(
        a.renew_leases("A", &[lease("acc3", 1)], TTL)
            .await
            .unwrap()
            .is_empty(),
        "another server's lease is not renewed"
    );
    // Expired: B steals it at the next epoch; A's renewal no longer answers it.
    expire(&url, "acc1").await;
    let taken = b.take_leases("B", &all, 10, TTL).await.unwrap();
    assert_eq!(taken, vec![lease("acc1", 2)]);
    assert_eq!(
        a.renew_leases("A", &held, TTL).await.unwrap(),
        vec![lease("acc2", 1)],
        "the stolen lease is lost to A"
    );
    // Released: free at once; a release under an old epoch does nothing.
    assert!(!a.release_lease("A", &lease("acc1", 1)).await.unwrap());
    assert!(a.release_lease("A", &lease("acc2", 1)).await.unwrap());
    let taken = b.take_leases("B", &all, 10, TTL).await.unwrap();
    assert_eq!(taken, vec![lease("acc2", 2)], "epoch + 1 at every take");
    // The cluster as stored.
    assert_eq!(a.heartbeat("A", TTL).await.unwrap(), 1);
    assert_eq!(b.heartbeat("B", TTL).await.unwrap(), 2);
    let view = a.cluster().await.unwrap();
    let holders: Vec<(String, Option<String>, i64)> = view
        .leases
        .iter()
        .map(|l| (l.account.clone(), l.holder.clone(), l.epoch))
        .collect();
    assert_eq!(
        holders,
        vec![
            ("acc1".into(), Some("B".into()), 2),
            ("acc2".into(), Some("B".into()), 2),
            ("acc3".into(), Some("B".into()), 1),
        ]
    );
    assert_eq!(view.servers.len(), 2);
    // A clean stop frees everything of B at once.
    b.leave_cluster("B").await.unwrap();
    let taken = a.take_leases("A", &all, 10, TTL).await.unwrap();
    assert_eq!(
        taken,
        vec![lease("acc1", 3), lease("acc2", 3), lease("acc3", 2)]
    );
    let servers: Vec<String> = a
        .cluster()
        .await
        .unwrap()
        .servers
        .into_iter()
        .map(|s| s.server_id)
        .collect();
    assert_eq!(servers, vec!["A".to_owned()], "B left the cluster");
}

#[tokio::test]
async fn servers_taking_at_once_never_take_the_same_lease() {
    let Some((_, a, b)) = two_servers().await else {
        return;
    };
    let all: Vec<String> = (0..40).map(|i| format!("acc{i:02}")).collect();
    let (x, y) = tokio::join!(
        a.take_leases("A", &all, 40, TTL),
        b.take_leases("B", &all, 40, TTL)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 40, "every lease taken once");
    assert!(x.iter().all(|l| !y.iter().any(|m| m.account == l.account)));
}

/// A fence armed for server `server` on `s`: accounts acc1 and acc2 under their own leases,
/// broadcasters b1 (acc1) and b2 (acc2).
fn arm(s: &PgStore, server: &str) {
    let map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    s.fence().arm(
        server,
        map(&[("acc1", "acc1"), ("acc2", "acc2")]),
        map(&[("b1", "acc1"), ("b2", "acc2")]),
    );
}

#[tokio::test]
async fn a_write_under_a_stale_epoch_is_refused() {
    let Some((url, a, b)) = two_servers().await else {
        return;
    };
    let t0: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    arm(&a, "A");
    arm(&b, "B");
    for l in a
        .take_leases("A", &names(&["acc1", "acc2"]), 2, TTL)
        .await
        .unwrap()
    {
        a.fence().hold(&l);
    }
    // Held: A writes.
    a.start_cycle("b1", 1, "m", t0).await.unwrap();
    a.write_pending(&pending("b1", 1, "@shop_one", 11, t0))
        .await
        .unwrap();
    // B writes nothing under leases it does not hold, without asking the database.
    let e = b.start_cycle("b1", 2, "m", t0).await.unwrap_err();
    assert!(is_fenced(&e), "{e}");
    // acc1's lease expires and B takes it (epoch 2): A's next writes for acc1 / b1 fail.
    expire(&url, "acc1").await;
    let stolen = b.take_leases("B", &names(&["acc1"]), 1, TTL).await.unwrap();
    assert_eq!(stolen, vec![lease("acc1", 2)]);
    b.fence().hold(&stolen[0]);
    let stale = pending("b1", 1, "@shop_two", 12, t0);
    let e = a.write_pending(&stale).await.unwrap_err();
    assert!(is_fenced(&e), "{e}");
    assert!(e.to_string().contains("fenced"), "{e}");
    // In one batch with writes of a lease still held and of a chat: only the stale one fails.
    let mut other = pending("b2", 1, "@shop_three", 13, t0);
    other.account = "acc2".into();
    let (x, y, z) = tokio::join!(
        a.write_pending(&stale),
        a.write_pending(&other),
        a.set_target_status("@shop_four", &TargetStatus::Active)
    );
    assert!(is_fenced(&x.unwrap_err()));
    y.unwrap();
    z.unwrap();
    // B, the holder at epoch 2, writes.
    b.start_cycle("b1", 2, "m", t0).await.unwrap();
    // What reached the journal: A's writes before the steal, the other lease's, never the
    // stale one.
    let mut c = PgConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT broadcaster, target FROM deliveries ORDER BY random_id")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("b1".to_owned(), "@shop_one".to_owned()),
            ("b2".to_owned(), "@shop_three".to_owned())
        ]
    );
    let cycles: Vec<i64> =
        sqlx::query_scalar("SELECT cycle FROM cycles WHERE broadcaster = 'b1' ORDER BY cycle")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(cycles, vec![1, 2]);
    // A lease given up by the fence itself (a renewal deadline missed) refuses at once.
    a.fence().drop_lease("acc2");
    let e = a.write_pending(&other).await.unwrap_err();
    assert!(is_fenced(&e), "{e}");
    // The probe, which reopens the driver's gate, is no account's: it still commits.
    a.probe().await.unwrap();
}
