//! `run`'s web server (crate `smb-web`): the dashboard, the REST API and `/metrics` on
//! `WEB_BIND` (default 127.0.0.1:8080; `run --no-web` turns it off). Builds the web catalog
//! from the settings, puts the targets added from the web back into their lists at start, and
//! fetches message sets from their sources when the API asks.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `WEB_BIND` | `127.0.0.1:8080` | address of the dashboard and API (`127.0.0.1:0`: any free port, printed on stderr) |
//! | `WEB_TOKEN` | none | bearer token for every change; required when `WEB_BIND` is not loopback |
//! | `LANG` | — | `ru…` gives Russian dashboard labels, anything else English |
//! | `WEB_HEADER_TIMEOUT`, `WEB_BODY_TIMEOUT`, `WEB_IDLE_TIMEOUT`, `WEB_MAX_CONNECTIONS` | 10, 30, 60, 512 | the server's bounds (`smb_web::server`) |

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use smb_domain::TargetRef;
use smb_engine::{DriverHandle, SystemClock};
use smb_sources::{Fetcher, SetSource, UpdateOutcome};
use smb_store::SqliteStore;
use smb_web::{
    AccountEntry, BroadcasterEntry, Catalog, ServerLimits, SourceUpdate, SourceUpdater, WebContext,
    WebSettings,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Cli;
use crate::config::Settings;
use crate::daemon::Bound;

/// `WEB_BIND`, `WEB_TOKEN`, `LANG`, checked before anything is sent: a bind beyond loopback
/// without a token stops the daemon here. `None` with `--no-web`. The server limits
/// ([`server_limits`]) are checked too, also with `--no-web` (they bound `/metrics` as well).
pub fn web_settings(settings: &Settings, no_web: bool) -> anyhow::Result<Option<WebSettings>> {
    server_limits(settings)?;
    if no_web {
        return Ok(None);
    }
    let web = settings.sections.web.clone();
    web.check()?;
    Ok(Some(web))
}

/// Puts the targets added from the dashboard or the API (kept in the store) into their lists,
/// so the planner built next posts to them as to the configured ones.
pub async fn merge_added_targets(
    settings: &mut Settings,
    store: &dyn smb_store::Journal,
) -> anyhow::Result<()> {
    for a in store
        .added_targets()
        .await
        .context("reading the targets added from the web")?
    {
        let Ok(target) = TargetRef::parse(&a.target) else {
            continue;
        };
        let Some(list) = settings.target_lists.get_mut(&a.list) else {
            tracing::warn!(list = %a.list, target = %a.target, "a target added from the web belongs to a list no longer configured; ignored");
            continue;
        };
        if !list.contains(&target) {
            list.push(target.clone());
        }
        for b in settings
            .broadcasters
            .iter_mut()
            .filter(|b| b.target_list == a.list)
        {
            if !b.spec.targets.contains(&target) {
                b.spec.targets.push(target.clone());
            }
        }
    }
    Ok(())
}

fn catalog(settings: &Settings, sandbox: bool) -> Catalog {
    let mut message_sets = BTreeMap::new();
    for b in &settings.broadcasters {
        message_sets
            .entry(b.spec.messages.name.clone())
            .or_insert_with(|| b.spec.messages.clone());
    }
    Catalog {
        broadcasters: settings
            .broadcasters
            .iter()
            .map(|b| BroadcasterEntry {
                name: b.spec.name.clone(),
                account: b.spec.account.clone(),
                backup_accounts: b.backup_accounts.clone(),
                target_list: b.target_list.clone(),
                test_list: b.test_list.clone(),
                message_set: b.spec.messages.name.clone(),
                content: b.spec.content.clone(),
            })
            .collect(),
        target_lists: settings.target_lists.clone(),
        accounts: settings
            .account_info
            .iter()
            .map(|a| AccountEntry {
                name: a.name.clone(),
                kind: if sandbox {
                    "sandbox".into()
                } else {
                    a.kind.to_string()
                },
                // The sandbox needs no login; a real account's state shows in `accounts list`.
                authorized: sandbox.then_some(true),
            })
            .collect(),
        message_sets,
        timezone: Some(settings.timezone.clone()),
        variants_min_sample: settings.reach.min_sample as usize,
    }
}

/// Fetches a set from its configured source, as `messages update` does.
struct Sources {
    fetcher: Fetcher,
    sets: Vec<SetSource>,
    store: SqliteStore,
}

#[async_trait]
impl SourceUpdater for Sources {
    async fn update(&self, set: &str) -> Option<Result<SourceUpdate, String>> {
        let s = self.sets.iter().find(|s| s.set == set)?;
        let now = jiff::Timestamp::now();
        Some(
            match smb_sources::update_set(&self.fetcher, &self.store, s, false, now).await {
                Ok(r) => Ok(match r.outcome {
                    UpdateOutcome::Updated { version, summary } => SourceUpdate {
                        version: Some(version),
                        changed: true,
                        summary,
                        messages: r.messages,
                    },
                    UpdateOutcome::Unchanged { version } => SourceUpdate {
                        version,
                        changed: false,
                        summary: "no change".into(),
                        messages: r.messages,
                    },
                }),
                Err(e) => Err(format!("{e:#}")),
            },
        )
    }
}

/// The dashboard's application: API, pages and `metrics`, over the catalog of `settings`.
/// Everything that can fail before serving fails here, so a reload that fails here keeps the
/// running socket.
#[expect(
    clippy::too_many_arguments,
    reason = "each is a separate handle the app is built from; a struct would only rename them"
)]
pub fn app(
    cli: &Cli,
    settings: &Settings,
    web: &WebSettings,
    store: &SqliteStore,
    driver: DriverHandle,
    metrics: axum::Router,
    sandbox: bool,
    gateway: Arc<dyn smb_engine::Gateway>,
    check: smb_web::CheckMemory,
) -> anyhow::Result<axum::Router> {
    let sets = crate::commands::messages::set_sources(settings, None)?;
    let sources: Option<Arc<dyn SourceUpdater>> = match sets.is_empty() {
        true => None,
        false => Some(Arc::new(Sources {
            fetcher: crate::commands::messages::fetcher(cli, settings)?,
            sets,
            store: store.clone(),
        })),
    };
    let ctx = WebContext {
        store: store.clone(),
        driver,
        catalog: catalog(settings, sandbox),
        sources,
        clock: Arc::new(SystemClock),
        // The same pause between chats as `targets check` (Telegram answers fast look-ups
        // with FLOOD_WAIT); none in the sandbox.
        preflight: Some(smb_web::Preflight {
            gateway,
            pause: match sandbox {
                true => std::time::Duration::ZERO,
                false => std::time::Duration::from_millis(500),
            },
        }),
        check,
    };
    Ok(smb_web::router(ctx, web, metrics))
}

/// `WEB_HEADER_TIMEOUT`, `WEB_BODY_TIMEOUT`, `WEB_IDLE_TIMEOUT`, `WEB_MAX_CONNECTIONS` (the
/// dashboard's and the `/metrics` server's limits; docs/web.md).
pub fn server_limits(settings: &Settings) -> anyhow::Result<ServerLimits> {
    Ok(ServerLimits::from_env_map(&settings.env)?)
}

/// A running HTTP server (the dashboard or `/metrics`); [`HttpServer::stop`] ends it and gives
/// its socket back.
pub struct HttpServer {
    task: JoinHandle<TcpListener>,
    asked: std::net::SocketAddr,
    stop: CancellationToken,
}

impl HttpServer {
    /// Serves `app` on `socket` with `limits`; `name` ("web", "metrics") marks its log lines.
    pub fn start(
        socket: Bound,
        app: axum::Router,
        limits: ServerLimits,
        name: &'static str,
    ) -> HttpServer {
        let stop = CancellationToken::new();
        let task = tokio::spawn(smb_web::server::serve(
            socket.listener,
            app,
            limits,
            name,
            stop.clone(),
        ));
        HttpServer {
            task,
            asked: socket.asked,
            stop,
        }
    }

    /// Stops accepting and returns the socket for the next round (connections still open
    /// finish on their own for up to 2 s). `None` if the server task ended abnormally.
    pub async fn stop(self) -> Option<Bound> {
        self.stop.cancel();
        let mut task = self.task;
        match tokio::time::timeout(std::time::Duration::from_secs(2), &mut task).await {
            Ok(Ok(listener)) => Some(Bound {
                asked: self.asked,
                listener,
            }),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the server task failed");
                None
            }
            Err(_) => {
                task.abort();
                None
            }
        }
    }
}
