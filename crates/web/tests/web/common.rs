//! A web app over a real SQLite store and a driver on the sandbox gateway (not running: the
//! tests steer it through the API and read what it wrote).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use smb_domain::{Jitter, Message, MessageSet, Pacing, Rotation, Schedule, TargetRef};
use smb_engine::planner::{AccountSpec, BroadcasterSpec, Content, Planner, PlannerSettings};
use smb_engine::{Driver, DriverSettings, LogSink, SystemClock};
use smb_store::{SqliteSettings, SqliteStore};
use smb_telegram::{SimGateway, SimSettings};
use smb_web::{
    AccountEntry, BroadcasterEntry, Catalog, Lang, SourceUpdater, WebContext, WebSettings, WebToken,
};
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789";

pub struct App {
    pub router: Router,
    pub store: SqliteStore,
    /// The dashboard's check memory (a daemon hands it to the app of its next round).
    pub check: smb_web::CheckMemory,
    pub _dir: tempfile::TempDir,
}

pub fn targets(list: &[&str]) -> Vec<TargetRef> {
    list.iter().map(|t| TargetRef::parse(t).unwrap()).collect()
}

pub async fn app(token: Option<&str>, bind: &str, sources: Option<Arc<dyn SourceUpdater>>) -> App {
    app_at(tempfile::tempdir().unwrap(), token, bind, sources).await
}

pub fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("web.db").display())
}

/// An app over the database in `dir` (which may hold state from before: a restart).
pub async fn app_at(
    dir: tempfile::TempDir,
    token: Option<&str>,
    bind: &str,
    sources: Option<Arc<dyn SourceUpdater>>,
) -> App {
    app_with_faults(dir, token, bind, sources, Vec::new()).await
}

/// [`app_at`] with the sandbox's fault rules (what its sends and the pre-flight check see).
pub async fn app_with_faults(
    dir: tempfile::TempDir,
    token: Option<&str>,
    bind: &str,
    sources: Option<Arc<dyn SourceUpdater>>,
    faults: Vec<smb_telegram::FaultRule>,
) -> App {
    app_with_check(
        dir,
        token,
        bind,
        sources,
        faults,
        smb_web::CheckMemory::default(),
    )
    .await
}

/// [`app_with_faults`] with the check memory of an earlier app (a reload).
pub async fn app_with_check(
    dir: tempfile::TempDir,
    token: Option<&str>,
    bind: &str,
    sources: Option<Arc<dyn SourceUpdater>>,
    faults: Vec<smb_telegram::FaultRule>,
    check: smb_web::CheckMemory,
) -> App {
    let store = SqliteStore::open(&db_url(&dir), SqliteSettings::default())
        .await
        .unwrap();
    let prod = targets(&["-1001000000001", "@shop_one", "@shop_two"]);
    let test = targets(&["@my_test_group"]);
    let set = |name: &str, texts: &[&str]| {
        MessageSet::new(name, texts.iter().map(|t| Message::new(*t)).collect())
    };
    let b2b = set("b2b", &["b2b first", "b2b second"]);
    let gus = set("gus", &["gus only"]);
    let spec = |name: &str, account: &str, messages: &MessageSet| BroadcasterSpec {
        name: name.into(),
        account: account.into(),
        targets: prod.clone(),
        messages: messages.clone(),
        rotation: Rotation::Sequential,
        pacing: Pacing::default(),
        schedule: Schedule::always(),
        content: Content::default(),
    };
    let accounts = ["acc1", "acc2"]
        .iter()
        .map(|a| AccountSpec {
            name: (*a).into(),
            delay_between_chats: Duration::from_secs(15),
            jitter: Jitter(0.0),
        })
        .collect();
    let planner = Planner::new(
        accounts,
        vec![spec("b2b", "acc1", &b2b), spec("gus", "acc2", &gus)],
        PlannerSettings::default(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let gateway = Arc::new(
        SimGateway::new(SimSettings {
            keep_in_memory: true,
            faults,
            ..Default::default()
        })
        .unwrap(),
    );
    let store_arc: Arc<dyn smb_engine::Store> = Arc::new(store.clone());
    let driver = Driver::restore(
        planner,
        store_arc,
        gateway.clone(),
        Arc::new(SystemClock),
        Arc::new(LogSink),
        DriverSettings::default(),
    )
    .await
    .unwrap();
    let entry = |name: &str, account: &str, test: Option<&str>| BroadcasterEntry {
        name: name.into(),
        account: account.into(),
        target_list: "prod".into(),
        test_list: test.map(Into::into),
        message_set: name.into(),
        content: Content::default(),
    };
    let catalog = Catalog {
        broadcasters: vec![
            entry("b2b", "acc1", Some("test")),
            entry("gus", "acc2", None),
        ],
        target_lists: BTreeMap::from([("prod".to_string(), prod), ("test".to_string(), test)]),
        accounts: vec![
            AccountEntry {
                name: "acc1".into(),
                kind: "sandbox".into(),
                authorized: Some(true),
            },
            AccountEntry {
                name: "acc2".into(),
                kind: "sandbox".into(),
                authorized: None,
            },
        ],
        message_sets: BTreeMap::from([("b2b".to_string(), b2b), ("gus".to_string(), gus)]),
        timezone: Some(jiff::tz::TimeZone::get("Europe/Moscow").unwrap()),
        variants_min_sample: 10,
    };
    let ctx = WebContext {
        store: store.clone(),
        driver: driver.handle(),
        catalog,
        sources,
        clock: Arc::new(SystemClock),
        preflight: Some(smb_web::Preflight {
            gateway,
            pause: Duration::ZERO,
        }),
        check: check.clone(),
    };
    let settings = WebSettings {
        bind: bind.parse().unwrap(),
        token: token.map(|t| WebToken::new(t).unwrap()),
        lang: Lang::En,
    };
    settings.check().unwrap();
    App {
        router: smb_web::router(ctx, &settings, Router::new()),
        store,
        check,
        _dir: dir,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts an error reply: status, the `code`, and that a message is there.
    pub fn error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let j = self.json();
        assert_eq!(j["code"], code, "{}", self.body);
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post(
    router: &Router,
    uri: &str,
    token: Option<&str>,
    json: Option<serde_json::Value>,
) -> Reply {
    let mut b = Request::post(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match json {
        Some(j) => {
            b = b.header("content-type", "application/json");
            Body::from(j.to_string())
        }
        None => Body::empty(),
    };
    send(router, b.body(body).unwrap()).await
}
