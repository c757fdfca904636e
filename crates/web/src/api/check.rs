//! The pre-flight check from the dashboard: `POST /api/v1/targets/check` starts
//! [`smb_engine::preflight::check_targets`] over the running daemon's (account, target) pairs
//! in the background (the same function as `targets check` and the daemon's own check);
//! `GET /api/v1/targets/check` answers with its progress and the rows of the last run.
//!
//! One run at a time; the last result is kept in memory until the next run (a restart
//! forgets it: the check asks Telegram, it is not history).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;
use smb_domain::HoldReason;
use smb_domain::TargetRef;
use smb_engine::Gateway;
use smb_engine::preflight::{self, CheckOptions};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// What the daemon gives the dashboard to run the check with.
#[derive(Clone)]
pub struct Preflight {
    /// The daemon's gateway (grammers, or the sandbox).
    pub gateway: Arc<dyn Gateway>,
    /// Pause between two chats of one account (500 ms against Telegram, zero in the sandbox);
    /// accounts are checked at the same time.
    pub pause: Duration,
}

/// One (account, target) of the check: the one row type of `targets check --json` too.
pub use smb_engine::preflight::CheckedTarget;

/// The dashboard's check, running or the last result; shared by every app the daemon builds
/// (a reload keeps it). std's Mutex, never held across an await.
#[derive(Clone, Default)]
pub struct CheckMemory(Arc<std::sync::Mutex<CheckRun>>);

impl CheckMemory {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, CheckRun> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The check's state: running or not, progress, the rows so far (or of the last run).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct CheckRun {
    pub running: bool,
    /// Pairs checked so far.
    pub done: usize,
    /// Pairs in this run.
    pub total: usize,
    /// RFC 3339; null before the first run.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the run ended early (the journal could not be read).
    pub error: Option<String>,
    /// How many rows cannot be posted to (`blocked` or `unchecked`).
    pub blocked: usize,
    pub rows: Vec<CheckedTarget>,
    /// Targets the running planner holds back now by their chat's rules or slow mode (read
    /// at each request, not part of the check).
    pub held: Vec<HeldTarget>,
}

/// A target held back by its chat's rules (`min_gap`, `days`, `hours`, `max_per_day`) or
/// slow mode: which rule, and the next moment a post is allowed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldTarget {
    pub target: String,
    /// The rule that holds it, in English (e.g. `chat rule hours 9-21: outside the window`,
    /// `chat rule min_gap 24h`, `slow mode 600 s: …`).
    pub reason: String,
    /// RFC 3339 to the second.
    pub until: String,
    /// The reason, typed, for the page's language (not serialised).
    #[serde(skip)]
    #[schema(ignore)]
    pub why: HoldReason,
    /// `until` as a moment (not serialised).
    #[serde(skip)]
    #[schema(ignore)]
    pub until_at: Timestamp,
}

/// What is held back now: the journal's record of the daemon's holds, the list `stats` shows
/// (also right after a start, before the planner met those targets again). A journal that
/// cannot be read gives an empty list (logged): the page still shows the check.
pub(crate) async fn held(s: &AppState) -> Vec<HeldTarget> {
    match s.store.held_targets(s.clock.now()).await {
        Ok(rows) => rows
            .into_iter()
            .map(|h| HeldTarget {
                target: h.target,
                reason: h.reason,
                until: h.until,
                why: h.why,
                until_at: h.until_at,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "the held targets could not be read");
            Vec::new()
        }
    }
}

impl CheckRun {
    fn push(&mut self, row: CheckedTarget) {
        if row.blocks() {
            self.blocked += 1;
        }
        self.done += 1;
        self.rows.push(row);
    }
}

/// The pairs of the running daemon's broadcasters: each one's account, and each of its
/// `backup_accounts`, with its target list (targets added from the dashboard included), by
/// account — the pairs `targets check` and the daemon's own check ask.
pub(crate) fn pairs(s: &AppState) -> Vec<(String, TargetRef)> {
    catalog_pairs(&s.catalog())
}

fn catalog_pairs(catalog: &crate::state::Catalog) -> Vec<(String, TargetRef)> {
    let empty: Vec<TargetRef> = Vec::new();
    let lists = catalog.broadcasters.iter().flat_map(|b| {
        preflight::posting_lists(
            &b.account,
            b.backup_accounts.iter().map(String::as_str),
            catalog.target_lists.get(&b.target_list).unwrap_or(&empty),
        )
    });
    preflight::pairs_of(lists, None)
}

/// The current state (a copy).
pub(crate) async fn current(s: &AppState) -> CheckRun {
    let mut run = s.check.lock().clone();
    run.held = held(s).await;
    run
}

fn stamp(t: Timestamp) -> String {
    smb_domain::rfc3339_seconds(t)
}

/// Progress and rows of the running check, or of the last one.
#[utoipa::path(get, path = "/api/v1/targets/check", tag = "targets",
    responses((status = 200, body = CheckRun)))]
pub async fn get_check(State(s): State<AppState>) -> Json<CheckRun> {
    Json(current(&s).await)
}

/// Starts the pre-flight check of every (account, target) of the running broadcasters: asks
/// Telegram about each chat (member, rights, slow mode, topic) without posting. Answers at
/// once with the run's state; poll `GET /api/v1/targets/check`. 409 while a run is
/// going; 503 when the daemon has no gateway to ask.
#[utoipa::path(post, path = "/api/v1/targets/check", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = CheckRun), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn start_check(State(s): State<AppState>) -> ApiResult<Json<CheckRun>> {
    let Some(pf) = s.preflight.clone() else {
        return Err(ApiError::Unavailable(
            "this daemon has no Telegram gateway to ask; run the check with `sendmessagebot targets check`".into(),
        ));
    };
    let pairs = pairs(&s);
    let started = {
        let mut run = s.check.lock();
        if run.running {
            return Err(ApiError::Conflict(format!(
                "a check is running ({} of {} done); wait for it",
                run.done, run.total
            )));
        }
        *run = CheckRun {
            running: true,
            total: pairs.len(),
            started_at: Some(stamp(s.clock.now())),
            ..CheckRun::default()
        };
        run.clone()
    };
    let state = s.clone();
    tokio::spawn(async move {
        let options = CheckOptions {
            pause: pf.pause,
            ..CheckOptions::default()
        };
        let progress_state = state.clone();
        let result = preflight::check_targets(
            pf.gateway.as_ref(),
            &state.store,
            &pairs,
            &options,
            move |_, _, row| {
                progress_state.check.lock().push(CheckedTarget::from(row));
            },
        )
        .await;
        let mut run = state.check.lock();
        run.running = false;
        run.finished_at = Some(stamp(state.clock.now()));
        match result {
            // Accounts are checked at the same time, so rows came in as each was answered;
            // the finished list is in the pairs' order (by account, then list order).
            Ok(rows) => run.rows = rows.iter().map(CheckedTarget::from).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the pre-flight check stopped");
                run.error = Some(format!("the check stopped: {e}"));
            }
        }
    });
    Ok(Json(started))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BroadcasterEntry, Catalog};

    /// qa5/h14: the dashboard's check asked only the broadcasters' own accounts, so a backup's
    /// membership (where it may post) was never shown there.
    #[test]
    fn the_check_asks_the_backup_accounts_too() {
        let t = |s: &str| TargetRef::parse(s).expect("target");
        let catalog = Catalog {
            broadcasters: vec![BroadcasterEntry {
                name: "b2b".into(),
                account: "acc1".into(),
                backup_accounts: vec!["acc3".into()],
                target_list: "prod".into(),
                test_list: None,
                message_set: "b2b".into(),
                content: Default::default(),
            }],
            target_lists: [("prod".to_string(), vec![t("@shop_a"), t("@shop_b")])].into(),
            ..Catalog::default()
        };
        let pairs: Vec<(String, String)> = catalog_pairs(&catalog)
            .into_iter()
            .map(|(a, t)| (a, t.key()))
            .collect();
        let want: Vec<(String, String)> = [
            ("acc1", "@shop_a"),
            ("acc1", "@shop_b"),
            ("acc3", "@shop_a"),
            ("acc3", "@shop_b"),
        ]
        .iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect();
        assert_eq!(pairs, want);
    }
}
