//! `bench/fuzz`: runs every input surface of SendMessageBot on mutated inputs for a set time
//! and prints, per target, how many inputs ran and what they found (panics, broken round
//! trips, slow runs, unbounded allocations). Findings are written to `--out` (default
//! `target/fuzz`) as `TARGET/KIND-HASH` files holding the input.
//!
//! Why not cargo-fuzz: it needs a nightly toolchain and a sanitizer build of the whole
//! dependency tree (sqlx, rustls, grammers); CI stays on stable 1.95. This is a mutation
//! fuzzer on stable: each target starts from a seed corpus of valid inputs plus a dictionary of
//! the grammar's tokens, mutates (bit flips, interesting bytes, inserts, deletes, repeats,
//! splices, tokens), and keeps an input in its corpus when it gives an answer not seen before
//! (the error's text with digits blanked: a cheap stand-in for coverage). Each target is a
//! `fn(&[u8])`, so a cargo-fuzz wrapper is one line per target where nightly is available.
//!
//! Usage: `bench/fuzz [--seconds N] [--seed S] [--out DIR] [TARGET…]` (all targets by default;
//! `--list` names them).
#![allow(clippy::print_stdout)]
// The counting allocator below is the one `unsafe`: a `GlobalAlloc` must be an `unsafe impl`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "fuzz/targets.rs"]
mod targets;

/// Counts live heap bytes and the peak since the last reset, so a run that allocates without
/// bound is seen (and reported) instead of taking the machine down.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The largest input a mutation makes.
const MAX_INPUT: usize = 64 * 1024;
/// A run that takes longer is a finding (debug build; parsers take microseconds).
const SLOW: Duration = Duration::from_secs(2);
/// A run stuck this long is a hang: the input is saved and the process exits.
const HANG: Duration = Duration::from_secs(30);
/// More heap than this during one run is an unbounded allocation.
const MAX_HEAP: usize = 64 * 1024 * 1024;
/// The most inputs a target's corpus keeps.
const MAX_CORPUS: usize = 4096;

/// One input surface: a name, a function over the bytes that panics on a broken invariant and
/// otherwise returns a short description of the answer (for corpus feedback), valid seeds and
/// the tokens of its grammar.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> String,
    pub seeds: Vec<Vec<u8>>,
    pub dict: &'static [&'static str],
}

#[derive(Debug, Default)]
pub struct Report {
    pub runs: u64,
    pub panics: u64,
    pub slow: u64,
    pub big: u64,
    pub corpus: usize,
    pub slowest: Duration,
    pub peak_heap: usize,
    /// (kind, first line of the message, input) of each distinct finding.
    pub findings: Vec<(&'static str, String, Vec<u8>)>,
}

struct Mutator {
    rng: StdRng,
}

const INTERESTING: &[u8] = b"\0\x01\x7f\x80\xff\n\r\t \"'\\[]{}()<>=#:/?&@%-_.,*`~|+0159";

impl Mutator {
    fn mutate(&mut self, corpus: &[Vec<u8>], dict: &[&str]) -> Vec<u8> {
        let r = &mut self.rng;
        let mut d = corpus[r.random_range(0..corpus.len())].clone();
        for _ in 0..r.random_range(1..=5) {
            let len = d.len();
            match r.random_range(0..10) {
                0 if len > 0 => {
                    let i = r.random_range(0..len);
                    d[i] ^= 1 << r.random_range(0..8);
                }
                1 if len > 0 => {
                    let i = r.random_range(0..len);
                    d[i] = INTERESTING[r.random_range(0..INTERESTING.len())];
                }
                2 => {
                    let i = r.random_range(0..=len);
                    let n = r.random_range(1..=8);
                    let bytes: Vec<u8> = (0..n).map(|_| r.random()).collect();
                    d.splice(i..i, bytes);
                }
                3 if len > 0 => {
                    let a = r.random_range(0..len);
                    let b = (a + r.random_range(1..=16)).min(len);
                    d.drain(a..b);
                }
                4 if len > 0 => {
                    // Repeats a piece many times: deep nesting, long runs, big numbers.
                    let a = r.random_range(0..len);
                    let b = (a + r.random_range(1..=8)).min(len);
                    let piece = d[a..b].to_vec();
                    let times = [2, 10, 100, 1000][r.random_range(0..4)];
                    let at = r.random_range(0..=len);
                    let rep: Vec<u8> = piece
                        .iter()
                        .copied()
                        .cycle()
                        .take(piece.len() * times)
                        .collect();
                    d.splice(at..at, rep);
                }
                5 | 6 if !dict.is_empty() => {
                    let tok = dict[r.random_range(0..dict.len())].as_bytes();
                    let i = r.random_range(0..=len);
                    d.splice(i..i, tok.iter().copied());
                }
                7 => {
                    let other = &corpus[r.random_range(0..corpus.len())];
                    if !other.is_empty() {
                        let a = r.random_range(0..other.len());
                        let b = r.random_range(a..=other.len());
                        let i = r.random_range(0..=len);
                        d.splice(i..i, other[a..b].iter().copied());
                    }
                }
                8 if len > 1 => {
                    let cut = r.random_range(0..len);
                    d.truncate(cut);
                }
                _ if len > 0 => {
                    // A UTF-8 character the parsers must not split.
                    let c = ['é', 'я', '€', '😀', '\u{200d}', '\u{feff}', '\u{fffd}']
                        [r.random_range(0..7)];
                    let i = r.random_range(0..=len);
                    let mut buf = [0u8; 4];
                    d.splice(i..i, c.encode_utf8(&mut buf).bytes());
                }
                _ => d.push(r.random()),
            }
        }
        d.truncate(MAX_INPUT);
        d
    }
}

/// What a run's answer says, with digits blanked (positions and counts vary without meaning).
fn signature(answer: &str) -> String {
    answer
        .chars()
        .take(120)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-text panic)".into())
}

/// Runs `t` on its seeds, then on mutations until `deadline` or `max_runs`.
pub fn fuzz(
    t: &Target,
    seed: u64,
    deadline: Instant,
    max_runs: u64,
    current: &Mutex<(&'static str, Vec<u8>)>,
    ticks: &AtomicUsize,
) -> Report {
    let mut m = Mutator {
        rng: StdRng::seed_from_u64(seed),
    };
    let mut corpus: Vec<Vec<u8>> = t.seeds.clone();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut seen_answers = HashSet::new();
    let mut seen_findings = HashSet::new();
    let mut rep = Report::default();
    let mut queue: Vec<Vec<u8>> = t.seeds.clone();
    while rep.runs < max_runs && Instant::now() < deadline {
        let input = queue.pop().unwrap_or_else(|| m.mutate(&corpus, t.dict));
        if let Ok(mut c) = current.lock() {
            *c = (t.name, input.clone());
        }
        ticks.fetch_add(1, Ordering::Relaxed);
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| (t.run)(&input)));
        let took = started.elapsed();
        let heap = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        rep.runs += 1;
        rep.slowest = rep.slowest.max(took);
        rep.peak_heap = rep.peak_heap.max(heap);
        let mut finding = |kind: &'static str, what: String, rep: &mut Report| {
            let key = format!("{kind}:{}", signature(&what));
            if seen_findings.insert(key) {
                rep.findings.push((kind, what, input.clone()));
            }
        };
        match outcome {
            Ok(answer) => {
                if corpus.len() < MAX_CORPUS && seen_answers.insert(signature(&answer)) {
                    corpus.push(input.clone());
                }
            }
            Err(p) => {
                rep.panics += 1;
                finding("panic", panic_text(p.as_ref()), &mut rep);
            }
        }
        if took >= SLOW {
            rep.slow += 1;
            finding(
                "slow",
                format!("{} ms for {} bytes", took.as_millis(), input.len()),
                &mut rep,
            );
        }
        if heap >= MAX_HEAP {
            rep.big += 1;
            finding(
                "alloc",
                format!("{} MiB for {} bytes", heap >> 20, input.len()),
                &mut rep,
            );
        }
    }
    rep.corpus = corpus.len();
    rep
}

fn save(out: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let dir = out.join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

struct Args {
    seconds: f64,
    seed: u64,
    out: PathBuf,
    only: Vec<String>,
    list: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 10.0,
        seed: 1,
        out: PathBuf::from("target/fuzz"),
        only: Vec::new(),
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                a.seconds = value("--seconds")?
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or("--seconds takes a positive number")?;
            }
            "--seed" => {
                a.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed takes a whole number")?;
            }
            "--out" => a.out = PathBuf::from(value("--out")?),
            "--list" => a.list = true,
            "-h" | "--help" => {
                return Err(
                    "usage: bench/fuzz [--seconds N (per target, default 10)] [--seed S] [--out DIR] [--list] [TARGET…]"
                        .into(),
                );
            }
            t => a.only.push(t.to_string()),
        }
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let all = targets::all();
    if a.list {
        for t in &all {
            println!("{}", t.name);
        }
        return;
    }
    for o in &a.only {
        if !all.iter().any(|t| t.name == o) {
            let names: Vec<&str> = all.iter().map(|t| t.name).collect();
            eprintln!("no target `{o}`: the targets are {}", names.join(", "));
            std::process::exit(2);
        }
    }
    // Panics are findings, counted and saved; their default printing would drown the table.
    std::panic::set_hook(Box::new(|_| {}));
    let current: Arc<Mutex<(&'static str, Vec<u8>)>> = Arc::new(Mutex::new(("", Vec::new())));
    let progress = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    {
        // The hang watchdog: the same run for HANG seconds saves its input and stops the process.
        let (current, progress, done, out) = (
            current.clone(),
            progress.clone(),
            done.clone(),
            a.out.clone(),
        );
        std::thread::spawn(move || {
            let mut last = (usize::MAX, Instant::now());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let mark = progress.load(Ordering::Relaxed);
                if mark != last.0 {
                    last = (mark, Instant::now());
                } else if last.1.elapsed() >= HANG {
                    if let Ok(c) = current.lock() {
                        let p = save(&out, c.0, "hang", &c.1);
                        eprintln!("HANG in {}: input saved to {}", c.0, p.display());
                    }
                    std::process::exit(3);
                }
            }
        });
    }
    println!(
        "{:<18} {:>9} {:>7} {:>5} {:>5} {:>7} {:>10} {:>9}",
        "target", "runs", "panics", "slow", "alloc", "corpus", "slowest_ms", "peak_KiB"
    );
    let mut total_findings = 0;
    let mut lines = Vec::new();
    for (i, t) in all.iter().enumerate() {
        if !a.only.is_empty() && !a.only.iter().any(|o| o == t.name) {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
        let rep = fuzz(
            t,
            a.seed.wrapping_add(i as u64),
            deadline,
            u64::MAX,
            &current,
            &progress,
        );
        println!(
            "{:<18} {:>9} {:>7} {:>5} {:>5} {:>7} {:>10} {:>9}",
            t.name,
            rep.runs,
            rep.panics,
            rep.slow,
            rep.big,
            rep.corpus,
            rep.slowest.as_millis(),
            rep.peak_heap / 1024
        );
        let _ = std::io::stdout().flush();
        for (kind, what, input) in &rep.findings {
            total_findings += 1;
            let p = save(&a.out, t.name, kind, input);
            lines.push(format!(
                "{} {kind}: {} (input: {})",
                t.name,
                what.lines().next().unwrap_or(""),
                p.display()
            ));
        }
    }
    done.store(true, Ordering::Relaxed);
    for l in &lines {
        println!("{l}");
    }
    println!("findings: {total_findings}");
    if total_findings > 0 {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target takes its seeds and a few thousand mutations without a finding (the
    /// findings of the long runs are regression tests in the crates that own the parsers; this
    /// keeps the harness itself working in CI).
    #[test]
    fn every_target_survives_a_short_deterministic_run() {
        let current = Mutex::new(("", Vec::new()));
        for (i, t) in targets::all().iter().enumerate() {
            let far = Instant::now() + Duration::from_secs(3600);
            let rep = fuzz(t, 7 + i as u64, far, 300, &current, &AtomicUsize::new(0));
            assert_eq!(rep.runs, 300, "{}", t.name);
            let panics: Vec<_> = rep
                .findings
                .iter()
                .filter(|f| f.0 == "panic")
                .map(|f| (f.1.clone(), String::from_utf8_lossy(&f.2).into_owned()))
                .collect();
            assert!(panics.is_empty(), "{}: {panics:?}", t.name);
            assert!(!t.seeds.is_empty(), "{} has no seeds", t.name);
        }
    }

    #[test]
    fn the_mutator_stays_within_the_input_limit_and_changes_its_input() {
        let mut m = Mutator {
            rng: StdRng::seed_from_u64(3),
        };
        let corpus = vec![b"@shop_one".to_vec()];
        let mut changed = 0;
        for _ in 0..2000 {
            let d = m.mutate(&corpus, &["t.me/"]);
            assert!(d.len() <= MAX_INPUT);
            changed += usize::from(d != corpus[0]);
        }
        assert!(changed > 1900, "{changed}");
    }
}
