//! Chaos for soak runs, and the waits the server told its clients.
//!
//! [`Chaos`] is a seeded plan of random trouble on top of the fixed fault plan: connections
//! closed mid-RPC (before the request is carried out, or after it, losing the answer), latency
//! spikes, and flood-wait storms (for a while every send is refused with `FLOOD_WAIT_X`). One
//! seed gives one sequence of decisions, so a failing soak can be replayed (the interleaving of
//! requests across connections still depends on timing).
//!
//! Independently of chaos the server keeps every wait it *told* a client: a `FLOOD_WAIT_X`
//! (the account) or `SLOWMODE_WAIT_X` (the account in that chat) answered to a send counts
//! from the moment the answer was written to the socket, so an answer that was lost (closed
//! connection) imposes nothing. A send arriving inside a told wait is a [`Violation`]: the
//! client posted inside a pause. Telegram would refuse it; so does the server (`FLOOD_WAIT`
//! with the time left; slow mode answers as it always does).

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The seeded chaos plan (every probability in 0.0..=1.0; all zero: no chaos).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// Seeds every decision below.
    pub seed: u64,
    /// Per request (any method but acks and pings): the connection is closed before the
    /// request is carried out.
    #[serde(default)]
    pub drop_before: f64,
    /// Per request: the request is carried out, then the connection is closed before the
    /// answer (a send is accepted but the client never hears of it).
    #[serde(default)]
    pub drop_after: f64,
    /// Per request: the answer is held back for a latency spike.
    #[serde(default)]
    pub spike: f64,
    /// Milliseconds of a spike, drawn uniformly from this range (inclusive).
    #[serde(default)]
    pub spike_ms: (u64, u64),
    /// Per send outside a storm: a flood-wait storm starts.
    #[serde(default)]
    pub storm: f64,
    /// How long a storm lasts, in milliseconds: every send in it is refused with
    /// `FLOOD_WAIT_X`.
    #[serde(default)]
    pub storm_ms: u64,
    /// The X of a storm's `FLOOD_WAIT_X`, in seconds, drawn from this range (inclusive).
    #[serde(default)]
    pub flood_secs: (u32, u32),
}

/// What chaos did to one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChaosHit {
    pub drop_before: bool,
    pub drop_after: bool,
    pub spike: Duration,
}

/// Counts of what chaos did, and the violations seen (with or without chaos).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaosReport {
    pub drops_before: u64,
    pub drops_after: u64,
    pub spikes: u64,
    pub storms: u64,
    /// Sends refused with `FLOOD_WAIT_X` by a storm.
    pub storm_refusals: u64,
    /// Flood waits (any source) whose answer reached the client's socket.
    pub flood_waits_told: u64,
    /// Slow-mode waits whose answer reached the client's socket.
    pub slow_mode_waits_told: u64,
    pub violations: Vec<Violation>,
}

/// Which wait a send ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// `FLOOD_WAIT_X`: the account may not send anywhere.
    FloodWait,
    /// `SLOWMODE_WAIT_X`: the account may not send into that chat.
    SlowMode,
}

/// A wait the server imposed, as the handler hands it to the connection's writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Imposed {
    pub user: i64,
    /// The chat of a slow-mode wait; `None` for a flood wait (the whole account).
    pub chat: Option<i64>,
    pub kind: WaitKind,
    pub seconds: u64,
}

impl Imposed {
    /// The wait an error answered to `user`'s send into `chat` imposes, if it is one.
    pub fn of_error(user: i64, chat: i64, error: &str) -> Option<Imposed> {
        let (kind, rest) = if let Some(rest) = error.strip_prefix("FLOOD_WAIT_") {
            (WaitKind::FloodWait, rest)
        } else if let Some(rest) = error.strip_prefix("SLOWMODE_WAIT_") {
            (WaitKind::SlowMode, rest)
        } else {
            return None;
        };
        let seconds = rest.parse().ok()?;
        Some(Imposed {
            user,
            chat: (kind == WaitKind::SlowMode).then_some(chat),
            kind,
            seconds,
        })
    }
}

/// A send that arrived while a wait the server had told its account was still running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The sending user.
    pub account: i64,
    /// The chat's bot-API id.
    pub chat: i64,
    pub kind: WaitKind,
    /// The wait's length in seconds as told.
    pub seconds: u64,
    /// Wall-clock moments (RFC 3339): the answer written, the wait's end, the offending send.
    pub told_at: String,
    pub until: String,
    pub at: String,
    /// The server's epoch ([`crate::TestServer::set_epoch`]) when the wait was told and when
    /// the send came: a soak bumps it at every restart of the client.
    pub told_epoch: u64,
    pub epoch: u64,
}

#[derive(Debug, Clone)]
struct Told {
    seconds: u64,
    until: Instant,
    told_at: jiff::Timestamp,
    epoch: u64,
}

/// The chaos plan's state and the told waits.
#[derive(Debug)]
pub(crate) struct ChaosState {
    plan: Option<(Chaos, StdRng)>,
    storm_until: Option<Instant>,
    told: HashMap<(i64, Option<i64>), Told>,
    pub epoch: u64,
    pub report: ChaosReport,
}

impl ChaosState {
    pub fn new(plan: Option<Chaos>) -> Self {
        ChaosState {
            plan: plan.map(|c| {
                let rng = StdRng::seed_from_u64(c.seed);
                (c, rng)
            }),
            storm_until: None,
            told: HashMap::new(),
            epoch: 0,
            report: ChaosReport::default(),
        }
    }

    pub fn set_plan(&mut self, plan: Option<Chaos>) {
        self.plan = plan.map(|c| {
            let rng = StdRng::seed_from_u64(c.seed);
            (c, rng)
        });
        self.storm_until = None;
    }

    /// Chaos for one request (not an ack or a ping).
    pub fn on_request(&mut self) -> ChaosHit {
        let Some((c, rng)) = &mut self.plan else {
            return ChaosHit::default();
        };
        let mut hit = ChaosHit::default();
        let r: f64 = rng.random();
        if r < c.drop_before {
            hit.drop_before = true;
            self.report.drops_before += 1;
            return hit;
        }
        if r < c.drop_before + c.drop_after {
            hit.drop_after = true;
            self.report.drops_after += 1;
        }
        if rng.random::<f64>() < c.spike {
            let (lo, hi) = c.spike_ms;
            hit.spike = Duration::from_millis(rng.random_range(lo.min(hi)..=hi.max(lo)));
            self.report.spikes += 1;
        }
        hit
    }

    /// Checks `user`'s send into `chat` against the told waits (recording a violation) and the
    /// storm. `Err` is the error the send gets.
    pub fn on_send(&mut self, user: i64, chat: i64) -> Result<(), String> {
        let now = Instant::now();
        let mut refusal = None;
        for key in [(user, None), (user, Some(chat))] {
            let Some(t) = self.told.get(&key) else {
                continue;
            };
            if now >= t.until {
                continue;
            }
            let kind = if key.1.is_none() {
                WaitKind::FloodWait
            } else {
                WaitKind::SlowMode
            };
            let left = t.until - now;
            let wall = jiff::Timestamp::now();
            self.report.violations.push(Violation {
                account: user,
                chat,
                kind,
                seconds: t.seconds,
                told_at: t.told_at.to_string(),
                until: (wall + left).to_string(),
                at: wall.to_string(),
                told_epoch: t.epoch,
                epoch: self.epoch,
            });
            if kind == WaitKind::FloodWait {
                let secs = left.as_secs_f64().ceil().max(1.0) as u64;
                refusal = Some(format!("FLOOD_WAIT_{secs}"));
            }
        }
        if let Some(r) = refusal {
            return Err(r);
        }
        let Some((c, rng)) = &mut self.plan else {
            return Ok(());
        };
        let in_storm = self.storm_until.is_some_and(|u| now < u);
        if !in_storm && c.storm > 0.0 && rng.random::<f64>() < c.storm {
            self.storm_until = Some(now + Duration::from_millis(c.storm_ms));
            self.report.storms += 1;
        }
        if self.storm_until.is_some_and(|u| now < u) {
            let (lo, hi) = c.flood_secs;
            let secs = rng.random_range(lo.min(hi).max(1)..=hi.max(lo).max(1));
            self.report.storm_refusals += 1;
            return Err(format!("FLOOD_WAIT_{secs}"));
        }
        Ok(())
    }

    /// The answer imposing `wait` reached the client's socket now.
    pub fn told(&mut self, wait: Imposed) {
        match wait.kind {
            WaitKind::FloodWait => self.report.flood_waits_told += 1,
            WaitKind::SlowMode => self.report.slow_mode_waits_told += 1,
        }
        let until = Instant::now() + Duration::from_secs(wait.seconds);
        let key = (wait.user, wait.chat);
        // A later, shorter wait never shortens one already told.
        if self.told.get(&key).is_some_and(|t| t.until >= until) {
            return;
        }
        self.told.insert(
            key,
            Told {
                seconds: wait.seconds,
                until,
                told_at: jiff::Timestamp::now(),
                epoch: self.epoch,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_wait_it_imposes() {
        assert_eq!(
            Imposed::of_error(7, -100, "FLOOD_WAIT_3"),
            Some(Imposed {
                user: 7,
                chat: None,
                kind: WaitKind::FloodWait,
                seconds: 3
            })
        );
        assert_eq!(
            Imposed::of_error(7, -100, "SLOWMODE_WAIT_2"),
            Some(Imposed {
                user: 7,
                chat: Some(-100),
                kind: WaitKind::SlowMode,
                seconds: 2
            })
        );
        assert_eq!(Imposed::of_error(7, -100, "CHAT_WRITE_FORBIDDEN"), None);
        assert_eq!(Imposed::of_error(7, -100, "FLOOD_WAIT_x"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_inside_a_told_wait_is_a_violation_and_refused() {
        let mut s = ChaosState::new(None);
        s.epoch = 4;
        s.told(Imposed::of_error(7, -100, "FLOOD_WAIT_3").unwrap());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(s.on_send(7, -200), Err("FLOOD_WAIT_2".to_owned()));
        assert_eq!(s.on_send(8, -200), Ok(()), "another account is free");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(s.on_send(7, -200), Ok(()), "the wait is over");
        assert_eq!(s.report.violations.len(), 1);
        let v = &s.report.violations[0];
        assert_eq!((v.account, v.chat, v.kind), (7, -200, WaitKind::FloodWait));
        assert_eq!((v.seconds, v.told_epoch, v.epoch), (3, 4, 4));
        assert_eq!(s.report.flood_waits_told, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_mode_binds_only_its_chat() {
        let mut s = ChaosState::new(None);
        s.told(Imposed::of_error(7, -100, "SLOWMODE_WAIT_2").unwrap());
        assert_eq!(s.on_send(7, -200), Ok(()));
        assert_eq!(s.report.violations.len(), 0);
        // Slow mode itself is answered by the chat's own check; here it is only recorded.
        assert_eq!(s.on_send(7, -100), Ok(()));
        assert_eq!(s.report.violations.len(), 1);
        assert_eq!(s.report.violations[0].kind, WaitKind::SlowMode);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(s.on_send(7, -100), Ok(()));
        assert_eq!(s.report.violations.len(), 1);
    }

    #[test]
    fn one_seed_gives_one_sequence_of_decisions() {
        let plan = Chaos {
            seed: 19,
            drop_before: 0.1,
            drop_after: 0.1,
            spike: 0.2,
            spike_ms: (10, 500),
            ..Chaos::default()
        };
        let run = || {
            let mut s = ChaosState::new(Some(plan.clone()));
            (0..200).map(|_| s.on_request()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|h| h.drop_before));
        assert!(a.iter().any(|h| h.drop_after));
        assert!(a.iter().any(|h| !h.spike.is_zero()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_storm_refuses_every_send_while_it_lasts() {
        let mut s = ChaosState::new(Some(Chaos {
            seed: 1,
            storm: 1.0,
            storm_ms: 1000,
            flood_secs: (1, 1),
            ..Chaos::default()
        }));
        assert_eq!(s.on_send(7, -100), Err("FLOOD_WAIT_1".to_owned()));
        assert_eq!(s.on_send(8, -200), Err("FLOOD_WAIT_1".to_owned()));
        assert_eq!(s.report.storms, 1);
        assert_eq!(s.report.storm_refusals, 2);
        // Not told (the answers never reached a socket here): no violation.
        assert!(s.report.violations.is_empty());
    }
}
