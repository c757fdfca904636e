//! `/api/v1/variants`: the A/B report of issue 17 — per message set with `variant`-labelled
//! texts, per variant its posts, mean and median views / reactions / replies with a 95 %
//! interval, and Welch's t-test between the two variants (`smb_store::variants`). The same
//! JSON as `sendmessagebot stats --variants --json` (docs/variants.md).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::{AppState, Catalog};

/// The version of the report's layout (bumped only when a field changes meaning or goes away).
pub const VARIANTS_SCHEMA: u64 = 1;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VariantsQuery {
    /// Only this message set (`[messages.NAME]`); every set with A/B variants when absent or
    /// empty.
    pub set: Option<String>,
}

/// The message sets with A/B variants (some text carries a `variant` label), each with the
/// broadcasters posting it.
pub fn variant_sets(catalog: &Catalog) -> BTreeMap<String, Vec<String>> {
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in &catalog.broadcasters {
        let labelled = catalog
            .message_sets
            .get(&b.message_set)
            .is_some_and(|m| m.messages.iter().any(|m| m.variant.is_some()));
        if labelled {
            sets.entry(b.message_set.clone())
                .or_default()
                .push(b.name.clone());
        }
    }
    sets
}

/// The `stats --variants --json` document: `{"schema": 1, "sets": [SetReport…]}`.
pub fn document(reports: &[smb_store::variants::SetReport]) -> serde_json::Value {
    serde_json::json!({ "schema": VARIANTS_SCHEMA, "sets": reports })
}

/// Per message set with A/B variants: each variant's posts, mean and median views,
/// reactions and replies with a 95 % interval, and the test's verdict.
#[utoipa::path(get, path = "/api/v1/variants", tag = "stats", params(VariantsQuery),
    responses((status = 200, description = "`{schema, sets: [{set, broadcasters, variants: [{variant, posts, measured, views, reactions, replies}], compared_on, verdict, min_sample, conclusion, decided}]}`, as `stats --variants --json`; `views`/`reactions`/`replies` are `{mean, median, low, high}` or null", body = Object),
        (status = 404, description = "no message set of that name has A/B variants", body = ErrorBody)))]
pub async fn get_variants(
    State(s): State<AppState>,
    Query(q): Query<VariantsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (mut sets, min_sample) = {
        let c = s.catalog();
        (variant_sets(&c), c.variants_min_sample)
    };
    if let Some(name) = q.set.as_deref().filter(|n| !n.is_empty()) {
        let Some(b) = sets.remove(name) else {
            return Err(ApiError::NotFound(format!(
                "no message set `{name}` with A/B variants; sets with variants: {}",
                if sets.is_empty() {
                    "none".to_owned()
                } else {
                    sets.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )));
        };
        sets = BTreeMap::from([(name.to_owned(), b)]);
    }
    let reports = smb_store::variants::reports(&s.store, &sets, min_sample).await?;
    Ok(Json(document(&reports)))
}
