//! The chaos soak, shortened for CI (issue 19; the full one is `bench/soak.sh`): ~300
//! deliveries through the real binary and grammers against the MTProto test server with
//! seeded dropped connections, latency spikes, flood-wait storms and slow mode, the daemon
//! `kill -9`ed 5 times and restarted. Then: no duplicate post, no skipped target, no send
//! inside a wait the server had told, a clean `PRAGMA integrity_check`, no panic.
//! `SOAK_SEED` replays another seed; definitions in `smb_bench::soak`.

#[test]
fn chaos_soak_posts_once_skips_nothing_and_sends_inside_no_pause() {
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(19);
    eprintln!("SOAK_SEED={seed}");
    let options = smb_bench::soak::Options {
        deliveries: 300,
        kills: 5,
        accounts: 3,
        chats: 10,
        ..smb_bench::soak::Options::full(env!("CARGO_BIN_EXE_sendmessagebot").into(), seed)
    };
    let report = smb_bench::soak::run(&options).expect("the soak ran");
    eprintln!("{report}");
    assert_eq!(report.kills, 5, "{report}");
    assert!(report.posts >= 300, "{report}");
    // Slow mode is learnt by the pre-flight check before sending (issue 14), so the waits the
    // soak must see told are the flood-wait storms'.
    assert!(
        report.flood_waits_told > 0,
        "the chaos told flood waits: {report}"
    );
    assert_eq!(report.duplicate_posts, 0, "{report}");
    assert_eq!(report.unjournalled_posts, 0, "{report}");
    assert_eq!(report.skipped_targets, 0, "{report}");
    assert_eq!(report.sends_inside_a_pause, 0, "{report}");
    assert!(report.integrity.is_empty(), "{report}");
    assert!(report.clean(), "{report}");
}
