//! `/api/v1/broadcasters`: list, one, and the operator's pause / resume / start / stop (the
//! planner persists the state, so it survives a restart).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use smb_domain::RunState;
use smb_engine::Control;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// A broadcaster: its configuration names, its state and its cycle's progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Broadcaster {
    pub name: String,
    pub account: String,
    /// `running`, `paused`, `stopped` (by the operator), `stopped: REASON` (its account was
    /// stopped), or `done` (`run --once`).
    pub state: String,
    /// The current (or last) cycle; 0 before the first.
    pub cycle: u64,
    /// Targets of the cycle already dealt with.
    pub done: usize,
    /// Targets in its list.
    pub total: usize,
    pub target_list: String,
    pub test_list: Option<String>,
    pub message_set: String,
}

pub(crate) fn all(s: &AppState) -> Vec<Broadcaster> {
    with_states(s).into_iter().map(|(b, _)| b).collect()
}

/// Every broadcaster with its run state as a type (for the pages' colours and the
/// actions' checks); [`Broadcaster::state`] is its text.
pub(crate) fn with_states(s: &AppState) -> Vec<(Broadcaster, RunState)> {
    let catalog = s.catalog();
    s.driver
        .views()
        .into_iter()
        .map(|v| {
            let entry = catalog.broadcasters.iter().find(|b| b.name == v.name);
            let b = Broadcaster {
                target_list: entry.map(|e| e.target_list.clone()).unwrap_or_default(),
                test_list: entry.and_then(|e| e.test_list.clone()),
                message_set: entry.map(|e| e.message_set.clone()).unwrap_or_default(),
                name: v.name,
                account: v.account,
                state: v.state.to_string(),
                cycle: v.cycle,
                done: v.done,
                total: v.total,
            };
            (b, v.state)
        })
        .collect()
}

fn one(s: &AppState, name: &str) -> ApiResult<Broadcaster> {
    all(s).into_iter().find(|b| b.name == name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no broadcaster named `{name}`: GET /api/v1/broadcasters lists them"
        ))
    })
}

/// Every broadcaster, in configuration order.
#[utoipa::path(get, path = "/api/v1/broadcasters", tag = "broadcasters",
    responses((status = 200, body = [Broadcaster])))]
pub async fn list_broadcasters(State(s): State<AppState>) -> Json<Vec<Broadcaster>> {
    Json(all(&s))
}

/// One broadcaster.
#[utoipa::path(get, path = "/api/v1/broadcasters/{name}", tag = "broadcasters",
    params(("name" = String, Path, description = "broadcaster name")),
    responses((status = 200, body = Broadcaster), (status = 404, body = ErrorBody)))]
pub async fn get_broadcaster(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Broadcaster>> {
    one(&s, &name).map(Json)
}

/// The four operator actions: check the broadcaster exists, send `control` for it, and answer
/// its new state, or 409 when it did not reach `want` (`verb` words the refusal).
async fn act(
    s: &AppState,
    name: String,
    control: fn(String) -> Control,
    want: RunState,
    verb: &str,
) -> ApiResult<Json<Broadcaster>> {
    one(s, &name)?;
    s.driver.control(control(name.clone())).await;
    let (b, state) = with_states(s)
        .into_iter()
        .find(|(b, _)| b.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no broadcaster named `{name}`")))?;
    if state != want {
        let hint = match state {
            RunState::StoppedByOperator if want == RunState::Running && verb == "resumed" => {
                "; use start"
            }
            RunState::AccountStopped(_) => {
                "; its account was stopped: fix it (see GET /api/v1/accounts) and restart"
            }
            _ => "",
        };
        return Err(ApiError::Conflict(format!(
            "broadcaster `{name}` is {} and cannot be {verb}{hint}",
            b.state
        )));
    }
    Ok(Json(b))
}

/// Holds the broadcaster where it is; `resume` continues the same cycle.
#[utoipa::path(post, path = "/api/v1/broadcasters/{name}/pause", tag = "broadcasters",
    params(("name" = String, Path, description = "broadcaster name")), security(("bearer" = [])),
    responses((status = 200, body = Broadcaster), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pause_broadcaster(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Broadcaster>> {
    act(&s, name, Control::Pause, RunState::Paused, "paused").await
}

/// Continues a paused broadcaster.
#[utoipa::path(post, path = "/api/v1/broadcasters/{name}/resume", tag = "broadcasters",
    params(("name" = String, Path, description = "broadcaster name")), security(("bearer" = [])),
    responses((status = 200, body = Broadcaster), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume_broadcaster(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Broadcaster>> {
    act(&s, name, Control::Resume, RunState::Running, "resumed").await
}

/// Starts a stopped (or paused) broadcaster; between cycles, the next cycle starts at once.
#[utoipa::path(post, path = "/api/v1/broadcasters/{name}/start", tag = "broadcasters",
    params(("name" = String, Path, description = "broadcaster name")), security(("bearer" = [])),
    responses((status = 200, body = Broadcaster), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_broadcaster(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Broadcaster>> {
    act(&s, name, Control::Start, RunState::Running, "started").await
}

/// Stops a broadcaster; its cycle is left as it is.
#[utoipa::path(post, path = "/api/v1/broadcasters/{name}/stop", tag = "broadcasters",
    params(("name" = String, Path, description = "broadcaster name")), security(("bearer" = [])),
    responses((status = 200, body = Broadcaster), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop_broadcaster(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Broadcaster>> {
    act(
        &s,
        name,
        Control::Stop,
        RunState::StoppedByOperator,
        "stopped",
    )
    .await
}
