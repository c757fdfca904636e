//! What the handlers share: the store, the running driver, and the catalog — the names the
//! configuration gave (broadcasters, target lists, accounts, message sets) that the engine's
//! views do not carry.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use smb_domain::{MessageSet, TargetRef};
use smb_engine::{Clock, Content, DriverHandle};
use smb_store::SqliteStore;

use crate::settings::{Lang, WebToken};

/// A broadcaster with the names it was configured with.
#[derive(Debug, Clone)]
pub struct BroadcasterEntry {
    pub name: String,
    pub account: String,
    pub target_list: String,
    pub test_list: Option<String>,
    pub message_set: String,
    pub content: Content,
}

/// An account as configured, and whether its session is logged in (`None`: not known).
#[derive(Debug, Clone)]
pub struct AccountEntry {
    pub name: String,
    /// `user`, `bot` or `sandbox`.
    pub kind: String,
    pub authorized: Option<bool>,
}

/// What the configuration (plus targets added at run time) names.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub broadcasters: Vec<BroadcasterEntry>,
    pub target_lists: BTreeMap<String, Vec<TargetRef>>,
    pub accounts: Vec<AccountEntry>,
    /// Each set's content as configured (the store's newest version, when there is one, wins).
    pub message_sets: BTreeMap<String, MessageSet>,
    /// The schedule's time zone: times on the pages are shown in it (`None`: UTC).
    pub timezone: Option<jiff::tz::TimeZone>,
    /// `[settings] min_sample` (issue 17): measured posts per variant before `auto_winner`
    /// decides; the variants report says whether a result reached it.
    pub variants_min_sample: usize,
}

impl Catalog {
    /// The time zone pages show times in.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        self.timezone.clone().unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// What an update of a message set from its source did.
#[derive(Debug, Clone)]
pub struct SourceUpdate {
    /// The current version after the update (`None`: nothing stored).
    pub version: Option<i64>,
    pub changed: bool,
    pub summary: String,
    pub messages: MessageSet,
}

/// Fetches a message set from its source (Google Sheet, CSV, file) and stores a new version
/// when it changed. The daemon provides it when sources are configured.
#[async_trait]
pub trait SourceUpdater: Send + Sync {
    /// `None` when `set` has no source; `Some(Err(message))` when the fetch or the checks failed
    /// (the current version is kept).
    async fn update(&self, set: &str) -> Option<Result<SourceUpdate, String>>;
}

/// What `run` hands to the web server.
pub struct WebContext {
    pub store: SqliteStore,
    pub driver: DriverHandle,
    pub catalog: Catalog,
    pub sources: Option<Arc<dyn SourceUpdater>>,
    pub clock: Arc<dyn Clock>,
    /// The gateway the dashboard's pre-flight check asks (`None`: the check answers 503).
    pub preflight: Option<crate::api::check::Preflight>,
    /// The dashboard's last check, kept by the daemon across reloads (a reload builds a new
    /// app; the last result stays until a new check finishes).
    pub check: crate::api::check::CheckMemory,
}

/// The shared part of [`AppState`] (its fields are the crate's own).
pub struct Inner {
    pub(crate) store: SqliteStore,
    pub(crate) driver: DriverHandle,
    // std's RwLock: read by every request, written when a target is added; never held across
    // an await.
    catalog: RwLock<Catalog>,
    pub(crate) sources: Option<Arc<dyn SourceUpdater>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) preflight: Option<crate::api::check::Preflight>,
    /// The dashboard's pre-flight check: running or the last result (std's Mutex, never
    /// held across an await).
    pub(crate) check: crate::api::check::CheckMemory,
    pub(crate) token: Option<WebToken>,
    pub(crate) token_for_everything: bool,
    pub(crate) lang: Lang,
}

/// The router's state.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

impl AppState {
    pub(crate) fn new(
        ctx: WebContext,
        token: Option<WebToken>,
        token_for_everything: bool,
        lang: Lang,
    ) -> Self {
        AppState(Arc::new(Inner {
            store: ctx.store,
            driver: ctx.driver,
            catalog: RwLock::new(ctx.catalog),
            sources: ctx.sources,
            clock: ctx.clock,
            preflight: ctx.preflight,
            check: ctx.check,
            token,
            token_for_everything,
            lang,
        }))
    }

    pub(crate) fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.0.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn catalog_mut(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.0.catalog.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
