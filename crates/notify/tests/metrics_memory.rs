//! Histogram samples do not pile up when nobody scrapes `/metrics` (`--no-metrics`, or no
//! Prometheus): the live heap, counted by this binary's allocator, stays flat over many
//! deliveries. Its own test binary, with one test, so no other test allocates meanwhile.
// A counting global allocator needs `unsafe impl GlobalAlloc`; the workspace denies
// unsafe code everywhere else (library crates forbid it in their roots).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use smb_engine::SystemClock;
use smb_engine::ports::{EngineEvent, EventSink, Outcome};
use smb_notify::Metrics;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn delivered(i: u64) -> EngineEvent {
    EngineEvent::Delivered {
        broadcaster: "b2b".into(),
        account: format!("acc{}", i % 4),
        target: "@chat".into(),
        random_id: i as i64,
        outcome: Outcome::Sent {
            message_id: Some(i as i64),
        },
        latency: Duration::from_millis(50 + i % 900),
    }
}

#[test]
fn histograms_hold_a_bounded_number_of_samples_without_a_scrape() {
    let metrics = Metrics::new(Arc::new(SystemClock));
    // Warm-up: every label set and bucket exists, the exporter's buffers are at full size.
    for i in 0..5_000 {
        metrics.emit(&delivered(i));
        metrics.record_store_write(Duration::from_micros(300 + i % 5_000));
    }
    let before = LIVE.load(Ordering::Relaxed);
    const N: u64 = 200_000;
    for i in 0..N {
        metrics.emit(&delivered(i));
        metrics.record_store_write(Duration::from_micros(300 + i % 5_000));
    }
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // Keeping every sample held ~16 bytes each (6.5 MB here, measured); folding them every
    // DRAIN_EVERY samples holds a few blocks of at most DRAIN_EVERY samples each.
    assert!(
        grown < 64 * 1024,
        "the heap grew by {grown} bytes over {N} deliveries without a scrape"
    );
    // Nothing was dropped: the folded samples are all in the histogram's count.
    let text = metrics.render();
    let count = text
        .lines()
        .find(|l| l.starts_with("send_latency_seconds_count"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(count, Some(N + 5_000), "{text}");
}
