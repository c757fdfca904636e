//! Versioned updates: a failed or empty fetch never replaces the current set, equal content
//! makes no version, restore brings an old one back; and a daemon on tokio's paused clock uses a
//! new version only from the next cycle.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, SendError, TargetRef};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::{
    Clock, Driver, DriverSettings, Gateway, LogSink, SendRequest, SentMessage, StoreError,
    TextFormat, TokioClock,
};
use smb_sources::{
    ContentRules, Fetcher, SetSource, Source, SourceError, SourcesSettings, UpdateError,
    UpdateOutcome, VersionStore, apply_stored_versions, refresh_loop, update_set,
};
use smb_store::{SqliteSettings, SqliteStore};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn fetcher(dir: &Path) -> Fetcher {
    Fetcher::new(SourcesSettings {
        base_dir: dir.to_path_buf(),
        timeout: None,
        ..SourcesSettings::default()
    })
    .unwrap()
}

fn file_set(name: &str, file: &str, format: TextFormat) -> SetSource {
    SetSource {
        set: name.into(),
        source: Source::parse(file).unwrap(),
        rules: ContentRules {
            format,
            media: false,
        },
    }
}

async fn sqlite(dir: &Path) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join("smb.db").display());
    SqliteStore::open(&url, SqliteSettings::default())
        .await
        .unwrap()
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn texts(v: &[Message]) -> Vec<&str> {
    v.iter().map(|m| m.text.as_str()).collect()
}

#[tokio::test]
async fn a_failed_or_invalid_fetch_keeps_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let f = fetcher(dir.path());
    let set = file_set("b2b", "b2b.txt", TextFormat::Html);
    std::fs::write(dir.path().join("b2b.txt"), "<b>Опт</b> v1\n---\nвторое").unwrap();
    let r = update_set(&f, &store, &set, false, at(0)).await.unwrap();
    assert!(
        matches!(r.outcome, UpdateOutcome::Updated { version: 1, .. }),
        "{:?}",
        r.outcome
    );

    // Markup that does not parse: refused, with the line.
    std::fs::write(dir.path().join("b2b.txt"), "ok\n---\n<b>broken").unwrap();
    let err = update_set(&f, &store, &set, false, at(1))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 3") && text.contains("current version is kept"),
        "{text}"
    );
    // The source is gone: refused.
    std::fs::remove_file(dir.path().join("b2b.txt")).unwrap();
    let err = update_set(&f, &store, &set, false, at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Source {
                error: SourceError::File { .. },
                ..
            }
        ),
        "{err:?}"
    );

    let cur = store.current_message_set("b2b").await.unwrap().unwrap();
    assert_eq!(
        (cur.version, texts(&cur.messages)),
        (1, vec!["<b>Опт</b> v1", "второе"])
    );
    assert_eq!(cur.source, "file b2b.txt");
}

#[tokio::test]
async fn an_empty_set_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let f = fetcher(dir.path());
    let set = file_set("gus", "gus.txt", TextFormat::Plain);
    std::fs::write(dir.path().join("gus.txt"), "Гусь v1").unwrap();
    update_set(&f, &store, &set, false, at(0)).await.unwrap();
    std::fs::write(dir.path().join("gus.txt"), "\n---\n  \n").unwrap();
    let err = update_set(&f, &store, &set, false, at(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Source {
                error: SourceError::NoActive { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--allow-empty"), "{err}");
    assert_eq!(
        store
            .current_message_set("gus")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    let r = update_set(&f, &store, &set, true, at(2)).await.unwrap();
    assert!(
        matches!(r.outcome, UpdateOutcome::Updated { version: 2, .. }),
        "{:?}",
        r.outcome
    );
    assert!(
        store
            .current_message_set("gus")
            .await
            .unwrap()
            .unwrap()
            .messages
            .is_empty()
    );
}

#[tokio::test]
async fn an_unchanged_source_makes_no_version_and_restore_brings_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let f = fetcher(dir.path());
    let set = file_set("b2c", "b2c.txt", TextFormat::Plain);
    std::fs::write(dir.path().join("b2c.txt"), "one\n---\ntwo").unwrap();
    update_set(&f, &store, &set, false, at(0)).await.unwrap();
    let again = update_set(&f, &store, &set, false, at(1)).await.unwrap();
    assert_eq!(again.outcome, UpdateOutcome::Unchanged { version: Some(1) });
    assert_eq!(store.message_set_history("b2c").await.unwrap().len(), 1);

    std::fs::write(dir.path().join("b2c.txt"), "one\n---\nthree").unwrap();
    let r = update_set(&f, &store, &set, false, at(2)).await.unwrap();
    let UpdateOutcome::Updated {
        version: 2,
        summary,
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(summary, "+1 new, −1 removed; 2 messages, 2 active");

    assert_eq!(
        store.restore_message_set("b2c", 1, at(3)).await.unwrap(),
        Some(3)
    );
    let history = store.message_set_history("b2c").await.unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(history[0].summary, "restored version 1");
    assert_eq!(texts(&history[0].messages), ["one", "two"]);

    // The daemon starts from the newest stored version, not the configured texts.
    let mut specs = vec![spec(MessageSet::new(
        "b2c",
        vec![Message::new("configured")],
    ))];
    let applied = apply_stored_versions(&store, &mut specs).await.unwrap();
    assert_eq!(applied, [("b2c".to_string(), 3)]);
    assert_eq!(texts(&specs[0].messages.messages), ["one", "two"]);
}

// ---- the daemon -----------------------------------------------------------------------------

fn spec(messages: MessageSet) -> BroadcasterSpec {
    BroadcasterSpec {
        name: messages.name.clone(),
        account: "acc1".into(),
        targets: ["-1001", "-1002", "-1003"]
            .iter()
            .map(|t| TargetRef::parse(t).unwrap())
            .collect(),
        messages,
        rotation: Rotation::Sequential,
        pacing: Pacing {
            delay_between_chats: Duration::from_secs(10),
            cycle_delay: Duration::from_secs(60),
            jitter: Jitter(0.0),
            max_retries: 3,
            retry_delay: Duration::from_secs(60),
        },
        schedule: Schedule::always(),
        content: Content::default(),
    }
}

/// Per set: (version, messages, stored at).
type Versions = HashMap<String, Vec<(i64, Vec<Message>, Timestamp)>>;

#[derive(Default)]
struct MemoryVersions(Mutex<Versions>);

#[async_trait]
impl VersionStore for MemoryVersions {
    async fn current(&self, set: &str) -> Result<Option<(i64, Vec<Message>)>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(set)
            .and_then(|v| v.last())
            .map(|(n, m, _)| (*n, m.clone())))
    }
    async fn save(
        &self,
        set: &str,
        messages: &[Message],
        _: &str,
        _: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let mut all = self.0.lock().unwrap();
        let versions = all.entry(set.to_string()).or_default();
        if versions.last().is_some_and(|(_, m, _)| m == messages) {
            return Ok(None);
        }
        let n = versions.len() as i64 + 1;
        versions.push((n, messages.to_vec(), at));
        Ok(Some(n))
    }
}

struct Recorder {
    clock: Arc<TokioClock>,
    sent: mpsc::UnboundedSender<(Timestamp, String, String)>,
}

#[async_trait]
impl Gateway for Recorder {
    async fn send(&self, r: SendRequest<'_>) -> Result<SentMessage, SendError> {
        let _ = self
            .sent
            .send((self.clock.now(), r.target.to_string(), r.text.to_string()));
        Ok(SentMessage {
            message_id: Some(1),
        })
    }
    async fn refresh_peer(&self, _: &str, _: &TargetRef) -> Result<(), SendError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_daemon_switches_to_a_new_version_only_at_the_next_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b2b.txt");
    std::fs::write(&file, "v1").unwrap();
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let versions = Arc::new(MemoryVersions::default());
    let fetcher = Arc::new(fetcher(dir.path()));
    let set = file_set("b2b", "b2b.txt", TextFormat::Plain);
    update_set(&fetcher, versions.as_ref(), &set, false, clock.now())
        .await
        .unwrap();

    let mut specs = vec![spec(MessageSet::new(
        "b2b",
        vec![Message::new("configured")],
    ))];
    let applied = apply_stored_versions(versions.as_ref(), &mut specs)
        .await
        .unwrap();
    assert_eq!(applied, [("b2b".to_string(), 1)]);
    let account = AccountSpec {
        name: "acc1".into(),
        delay_between_chats: Duration::from_secs(10),
        jitter: Jitter(0.0),
    };
    let planner = Planner::new(vec![account], specs, PlannerSettings::default(), start).unwrap();
    let (tx, mut sent) = mpsc::unbounded_channel();
    let gateway = Arc::new(Recorder {
        clock: clock.clone(),
        sent: tx,
    });
    let driver = Driver::restore(
        planner,
        Arc::new(smb_engine::testing::MemoryStore::default()),
        gateway,
        clock.clone(),
        Arc::new(LogSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    let handle = driver.handle();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(driver.run(shutdown.clone()));

    let mut log = Vec::new();
    log.push(sent.recv().await.unwrap());
    // Cycle 1 has started with v1; the sheet changes now, and the refresh picks it up mid-cycle.
    std::fs::write(&file, "v2").unwrap();
    let refresh = tokio::spawn(refresh_loop(
        fetcher.clone(),
        versions.clone(),
        vec![set.clone()],
        applied,
        Duration::from_secs(15),
        clock.clone(),
        handle,
        shutdown.clone(),
    ));
    for _ in 0..3 {
        log.push(sent.recv().await.unwrap());
    }
    // Cycle 2 runs on v2. The source breaks now: later refreshes fail and v2 stays.
    std::fs::remove_file(&file).unwrap();
    for _ in 0..5 {
        log.push(sent.recv().await.unwrap());
    }
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    refresh.await.unwrap();

    let got: Vec<(&str, &str)> = log
        .iter()
        .map(|(_, t, m)| (t.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("-1001", "v1"),
            ("-1002", "v1"),
            ("-1003", "v1"),
            ("-1001", "v2"),
            ("-1002", "v2"),
            ("-1003", "v2"),
            ("-1001", "v2"),
            ("-1002", "v2"),
            ("-1003", "v2"),
        ]
    );
    let v2_at = versions.0.lock().unwrap()["b2b"][1].2;
    assert!(
        log[0].0 <= v2_at && v2_at < log[2].0,
        "v2 arrived at {v2_at}, cycle 1 ran {} – {}",
        log[0].0,
        log[2].0
    );
    assert_eq!(versions.0.lock().unwrap()["b2b"].len(), 2);
}

/// A sheet still calculating (`Loading...`) is a transient failure: the daemon keeps the
/// current version and tries that set again after a minute, not after GOOGLE_UPDATE_INTERVAL.
#[tokio::test(start_paused = true)]
async fn a_sheet_still_calculating_is_tried_again_after_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.csv");
    std::fs::write(&file, "Сообщение;Статус\nПрайс v1;да\n").unwrap();
    let start: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let versions = Arc::new(MemoryVersions::default());
    let fetcher = Arc::new(fetcher(dir.path()));
    let set = file_set("b2b", "prices.csv", TextFormat::Plain);
    update_set(&fetcher, versions.as_ref(), &set, false, clock.now())
        .await
        .unwrap();
    let mut specs = vec![spec(MessageSet::new("b2b", vec![Message::new("x")]))];
    let applied = apply_stored_versions(versions.as_ref(), &mut specs)
        .await
        .unwrap();
    let account = AccountSpec {
        name: "acc1".into(),
        delay_between_chats: Duration::from_secs(10),
        jitter: Jitter(0.0),
    };
    let planner = Planner::new(vec![account], specs, PlannerSettings::default(), start).unwrap();
    let (tx, _sent) = mpsc::unbounded_channel();
    let driver = Driver::restore(
        planner,
        Arc::new(smb_engine::testing::MemoryStore::default()),
        Arc::new(Recorder {
            clock: clock.clone(),
            sent: tx,
        }),
        clock.clone(),
        Arc::new(LogSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    let handle = driver.handle();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(driver.run(shutdown.clone()));

    // The sheet recalculates: its cells read `Загрузка...` for a while.
    std::fs::write(&file, "Сообщение;Статус\nЗагрузка...;да\n").unwrap();
    let refresh = tokio::spawn(refresh_loop(
        fetcher.clone(),
        versions.clone(),
        vec![set.clone()],
        applied,
        Duration::from_secs(3600),
        clock.clone(),
        handle,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(versions.0.lock().unwrap()["b2b"].len(), 1, "v1 is kept");
    std::fs::write(&file, "Сообщение;Статус\nПрайс v2;да\n").unwrap();
    while versions.0.lock().unwrap()["b2b"].len() < 2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    refresh.await.unwrap();
    let all = versions.0.lock().unwrap();
    let (n, messages, at) = &all["b2b"][1];
    assert_eq!((*n, messages[0].text.as_str()), (2, "Прайс v2"));
    let after = at.duration_since(start).as_secs_f64();
    assert!(
        (60.0..120.0).contains(&after),
        "v2 was fetched {after} s after the failed refresh; the interval is an hour"
    );
}

/// The message and every `source()` below it, as `{:#}` of anyhow prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(&format!(": {s}"));
        next = s.source();
    }
    out
}

#[tokio::test]
async fn an_update_error_printed_its_reason_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let f = fetcher(dir.path());
    // A directory where the file should be: the reading error is the reason.
    std::fs::create_dir(dir.path().join("b2b.txt")).unwrap();
    let set = file_set("b2b", "b2b.txt", TextFormat::Plain);
    let err = update_set(&f, &store, &set, false, at(0))
        .await
        .unwrap_err();
    let UpdateError::Source { error, .. } = &err else {
        panic!("{err:?}");
    };
    let reason = error.to_string();
    let full = chain(&err);
    assert!(full.starts_with("message set `b2b`: "), "{full}");
    assert_eq!(full.matches(&reason).count(), 1, "{full}");
}
