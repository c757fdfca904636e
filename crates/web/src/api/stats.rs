//! `/api/v1/stats`: the figures of `stats --json` (the same `smb_store::Stats`), and the send
//! rate per minute.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// RFC 3339 time: count only what changed since then (all time when absent or empty).
    #[param(value_type = Option<crate::api::deliveries::TimeFilter>)]
    pub since: Option<String>,
}

/// Figures per broadcaster and account; the same JSON as `sendmessagebot stats --json`.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats", params(StatsQuery),
    responses((status = 200, description = "the `stats --json` document (totals, broadcasters, accounts, disabled_targets)", body = Object),
        (status = 422, body = ErrorBody)))]
pub async fn get_stats(
    State(s): State<AppState>,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Json<smb_store::Stats>> {
    let since = crate::api::deliveries::time("since", &q.since)?;
    Ok(Json(s.store.stats(since, s.clock.now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateQuery {
    /// How many whole minutes, ending now: 1–1440 (default 1440, 24 h).
    #[param(minimum = 1, maximum = 1440)]
    pub minutes: Option<usize>,
}

/// Sent messages per minute, oldest minute first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendRate {
    /// Start of the first minute.
    pub from: String,
    pub minutes: usize,
    /// All broadcasters together.
    pub total: Vec<u64>,
    pub broadcasters: BTreeMap<String, Vec<u64>>,
}

pub(crate) async fn rate(s: &AppState, minutes: usize) -> ApiResult<SendRate> {
    let now = s.clock.now();
    let broadcasters = s.store.sends_per_minute(now, minutes).await?;
    let mut total = vec![0u64; minutes];
    for series in broadcasters.values() {
        for (t, v) in total.iter_mut().zip(series) {
            *t += v;
        }
    }
    let first = now.as_second().div_euclid(60) - (minutes as i64 - 1);
    let from = Timestamp::from_second(first * 60)
        .unwrap_or(now)
        .to_string();
    Ok(SendRate {
        from,
        minutes,
        total,
        broadcasters,
    })
}

/// Send rate per minute over the last 24 hours (or `minutes`).
#[utoipa::path(get, path = "/api/v1/stats/rate", tag = "stats", params(RateQuery),
    responses((status = 200, body = SendRate), (status = 422, body = ErrorBody)))]
pub async fn get_rate(
    State(s): State<AppState>,
    Query(q): Query<RateQuery>,
) -> ApiResult<Json<SendRate>> {
    let minutes = q.minutes.unwrap_or(1440);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::Invalid("minutes must be 1–1440".into()));
    }
    rate(&s, minutes).await.map(Json)
}
