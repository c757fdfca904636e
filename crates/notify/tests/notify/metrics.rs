//! `/metrics` text, parsed with a Prometheus text-format parser, against the events emitted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use prometheus_parse::{Sample, Scrape, Value};
use smb_engine::ports::{Clock, EngineEvent, EventSink, Outcome};
use smb_notify::Metrics;

struct ManualClock(Mutex<Timestamp>);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn parse(text: &str) -> Vec<Sample> {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text")
        .samples
}

fn find<'a>(samples: &'a [Sample], metric: &str, labels: &[(&str, &str)]) -> &'a Value {
    &samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?} in {samples:#?}"))
        .value
}

fn delivered(broadcaster: &str, account: &str, outcome: Outcome, latency_ms: u64) -> EngineEvent {
    EngineEvent::Delivered {
        broadcaster: broadcaster.into(),
        account: account.into(),
        target: "@chat".into(),
        random_id: 1,
        outcome,
        latency: Duration::from_millis(latency_ms),
    }
}

#[test]
fn counters_gauges_and_histogram_match_the_events() {
    let now: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(now)));
    let metrics = Metrics::new(clock.clone());
    let sent = || Outcome::Sent {
        message_id: Some(1),
    };
    for _ in 0..3 {
        metrics.emit(&delivered("b2b", "acc1", sent(), 200));
    }
    metrics.emit(&delivered("b2c", "acc2", sent(), 700));
    metrics.emit(&delivered(
        "b2b",
        "acc1",
        Outcome::Failed {
            class: smb_domain::ErrorClass::TargetDead,
            code: "CHAT_WRITE_FORBIDDEN".into(),
            detail: String::new(),
        },
        150,
    ));
    metrics.emit(&EngineEvent::AccountPaused {
        account: "acc2".into(),
        until: now + SignedDuration::from_secs(300),
        seconds: 300,
        code: "FLOOD_WAIT_300".into(),
    });
    metrics.emit(&EngineEvent::AccountPaused {
        account: "acc2".into(),
        until: now + SignedDuration::from_secs(45),
        seconds: 45,
        code: "FLOOD_WAIT_45".into(),
    });
    metrics.emit(&EngineEvent::CycleCompleted {
        broadcaster: "b2b".into(),
        cycle: 1,
        sent: 3,
        failed: 1,
    });
    metrics.record_store_write(Duration::from_millis(2));
    metrics.set_message_set_version("b2b", 7);

    let samples = parse(&metrics.render());
    let sent_labels = [
        ("broadcaster", "b2b"),
        ("account", "acc1"),
        ("outcome", "sent"),
    ];
    assert_eq!(
        find(&samples, "deliveries_total", &sent_labels),
        &Value::Counter(3.0)
    );
    let failed_labels = [
        ("broadcaster", "b2b"),
        ("account", "acc1"),
        ("outcome", "failed"),
    ];
    assert_eq!(
        find(&samples, "deliveries_total", &failed_labels),
        &Value::Counter(1.0)
    );
    assert_eq!(
        find(
            &samples,
            "delivery_failures_total",
            &[("account", "acc1"), ("class", "target_dead")]
        ),
        &Value::Counter(1.0)
    );
    assert_eq!(
        find(&samples, "flood_wait_seconds_total", &[("account", "acc2")]),
        &Value::Counter(345.0)
    );
    assert_eq!(
        find(&samples, "flood_waits_total", &[("account", "acc2")]),
        &Value::Counter(2.0)
    );
    // The last pause (45 s) is the one in force.
    assert_eq!(
        find(&samples, "account_paused", &[("account", "acc2")]),
        &Value::Gauge(1.0)
    );
    assert_eq!(
        find(
            &samples,
            "cycles_completed_total",
            &[("broadcaster", "b2b")]
        ),
        &Value::Counter(1.0)
    );
    assert_eq!(
        find(&samples, "message_set_version", &[("message_set", "b2b")]),
        &Value::Gauge(7.0)
    );

    let Value::Histogram(buckets) = find(&samples, "send_latency_seconds", &[]) else {
        panic!("send_latency_seconds is not a histogram")
    };
    let le = |bound: f64| {
        buckets
            .iter()
            .find(|b| b.less_than == bound)
            .map(|b| b.count)
    };
    assert_eq!(le(0.25), Some(4.0)); // 150, 200, 200, 200 ms
    assert_eq!(le(1.0), Some(5.0)); // + 700 ms
    assert_eq!(le(f64::INFINITY), Some(5.0));
    assert!(matches!(
        find(&samples, "store_write_latency_seconds", &[]),
        Value::Histogram(_)
    ));

    // After the pause ends the gauge reads 0 at the next scrape, without any event.
    *clock.0.lock().unwrap() = now + SignedDuration::from_secs(46);
    let samples = parse(&metrics.render());
    assert_eq!(
        find(&samples, "account_paused", &[("account", "acc2")]),
        &Value::Gauge(0.0)
    );
    // A successful send also clears it.
    metrics.emit(&EngineEvent::AccountPaused {
        account: "acc1".into(),
        until: now + SignedDuration::from_secs(3600),
        seconds: 3600,
        code: "FLOOD_WAIT_3600".into(),
    });
    metrics.emit(&delivered("b2b", "acc1", sent(), 100));
    let samples = parse(&metrics.render());
    assert_eq!(
        find(&samples, "account_paused", &[("account", "acc1")]),
        &Value::Gauge(0.0)
    );
    assert_eq!(
        find(&samples, "deliveries_total", &sent_labels),
        &Value::Counter(4.0)
    );
}

#[test]
fn two_instances_do_not_share_counters() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock(Mutex::new(Timestamp::UNIX_EPOCH)));
    let a = Metrics::new(clock.clone());
    let b = Metrics::new(clock);
    a.emit(&EngineEvent::TargetDisabled {
        target: "@x".into(),
        reason: "CHANNEL_PRIVATE".into(),
    });
    assert_eq!(
        find(&parse(&a.render()), "targets_disabled_total", &[]),
        &Value::Counter(1.0)
    );
    assert!(!b.render().contains("targets_disabled_total"));
}

/// Issue 16: the leases this server holds read as 1, the others of the cluster as 0.
#[test]
fn lease_gauges_say_which_leases_this_server_holds() {
    let metrics = Metrics::new(Arc::new(ManualClock(Mutex::new(Timestamp::UNIX_EPOCH))));
    metrics.set_lease_held("acc1", true);
    metrics.set_lease_held("acc2", false);
    let samples = parse(&metrics.render());
    assert_eq!(
        find(&samples, "lease_held", &[("lease", "acc1")]),
        &Value::Gauge(1.0)
    );
    assert_eq!(
        find(&samples, "lease_held", &[("lease", "acc2")]),
        &Value::Gauge(0.0)
    );
}
