//! `/api/v1/targets` and `/api/v1/target-lists`: targets with their status and reason,
//! enable / disable, and adding a target to a list (validated as in the configuration, kept
//! in the store, and given to the running broadcasters of that list at once).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use smb_domain::{TargetRef, TargetState};
use smb_engine::Control;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// A target with where it is used and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Target {
    /// Canonical form: `-100…` or `@name`.
    pub target: String,
    pub lists: Vec<String>,
    pub broadcasters: Vec<String>,
    /// `active` or `disabled`.
    #[schema(value_type = String)]
    pub status: TargetState,
    /// Why it is disabled (a Telegram error, or the operator's words).
    pub reason: Option<String>,
    pub since: Option<String>,
    /// When a target disabled by an error is tried again (`None`: disabled by the operator).
    pub recheck_at: Option<String>,
    /// Added at run time (dashboard or API), not in the configuration file.
    pub added: bool,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    /// A basic group upgraded to a supergroup: the new `-100…` id its posts go to.
    pub migrated_to: Option<String>,
    /// An upgraded group's old id (`-N`); its deliveries count in `sent` / `failed` here.
    pub alias: Option<String>,
    /// Accounts this (active) target refused while the others go on posting there: each
    /// skips it until `recheck_at`. Empty when none (and for a disabled target, whose
    /// `reason` names the accounts).
    pub refused_accounts: Vec<RefusedAccount>,
    /// Our posts the chat's admins removed in a row, found by the survival check before
    /// posting (issue 15); a live post sets it back to 0.
    pub removed_in_row: u32,
    /// Our posts the chat's admins removed in all.
    pub removed_total: u64,
    /// "Our posts are being removed": `removed_in_row` reached the broadcaster's
    /// `removed_posts_flag`. The operator decides.
    pub posts_removed: bool,
}

/// One account a target refused (a send's Telegram error, or the daemon's pre-flight check).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefusedAccount {
    pub account: String,
    /// Telegram's error name (`CHAT_WRITE_FORBIDDEN`, …), or `PRE_FLIGHT_CHECK`.
    pub code: String,
    /// Why, in English words.
    pub reason: String,
    /// When the account looks at the target again (RFC 3339, UTC, to the second).
    pub recheck_at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetQuery {
    /// Only targets of this list (404 when there is no such list).
    pub list: Option<String>,
    /// `active` or `disabled`.
    #[param(value_type = Option<TargetStatusFilter>)]
    pub status: Option<String>,
}

/// The values the `status` filter takes.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetStatusFilter {
    Active,
    Disabled,
}

/// A target list: its targets and the broadcasters that post to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetList {
    pub name: String,
    pub targets: Vec<String>,
    pub broadcasters: Vec<String>,
    pub test_of: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableBody {
    /// Shown beside the target, at most 500 characters; "disabled by the operator" when
    /// absent or blank.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddTargetBody {
    /// `-1001234567890`, `-123456`, `@name`, `name`, `https://t.me/name` or `t.me/name`.
    /// Per-chat rules (`min_gap`, `days`, `hours`, `max_per_day`, `topic`) are not taken
    /// here: they are written in `[targets]` of the configuration (docs/chats.md).
    // A JSON value, so that a table with rules (`{"chat": …, "min_gap": …}`) is answered in
    // words rather than with serde's "invalid type: map" (QA finding F13).
    #[schema(value_type = String)]
    pub target: serde_json::Value,
    /// Other keys of the body: rule keys written beside `target` (`{"target": "@x",
    /// "min_gap": "1h"}`) are refused like a table with rules instead of being dropped.
    #[serde(flatten)]
    #[schema(ignore)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The refusal of rule keys (`rules`) in an add request: where rules are written instead.
fn rules_refused(rules: &[&str]) -> ApiError {
    ApiError::Invalid(format!(
        "`target` takes a chat only (\"@name\", \"-100…\", a t.me link), not {}: per-chat rules \
         ({}) are set in [targets] of the configuration file — {{ chat = \"@name\", min_gap = \"24h\" }}, \
         see docs/chats.md — and applied with `sendmessagebot reload`; add the chat here without \
         rules, or write it there with them",
        rules
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        RULE_KEYS.join(", ")
    ))
}

/// The keys of a configuration table target (docs/chats.md) besides `chat`.
const RULE_KEYS: &[&str] = &["topic", "min_gap", "days", "hours", "max_per_day"];

/// The target text of an add request: a string, or a table that names only its `chat` (a
/// table as `[targets]` writes it, without rules). Rules are refused with where they go.
fn target_text(v: &serde_json::Value) -> ApiResult<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(m) => {
            let rules: Vec<&str> = m
                .keys()
                .filter(|k| k.as_str() != "chat")
                .map(String::as_str)
                .collect();
            match (m.get("chat"), rules.is_empty()) {
                (Some(Value::String(chat)), true) => Ok(chat.clone()),
                (_, false) => Err(rules_refused(&rules)),
                (_, true) => Err(ApiError::Invalid(
                    "`target`: a table needs `chat` as a string (\"@name\", \"-100…\", a t.me link)"
                        .into(),
                )),
            }
        }
        _ => Err(ApiError::Invalid(
            "`target` is a string: \"@name\", \"-100…\" or a t.me link".into(),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetAdded {
    pub list: String,
    pub target: String,
    /// Broadcasters of this list that got it (they post to it from their current cycle on).
    pub broadcasters: Vec<String>,
}

pub(crate) async fn all(s: &AppState) -> ApiResult<Vec<Target>> {
    let rows = s.store.target_rows().await?;
    let counts = s.store.target_counts(None).await?;
    let migrations = s.store.chat_migrations().await?;
    // Read before the catalog is taken: its guard is not held across an await.
    let refusals = s.store.account_refusals(jiff::Timestamp::now()).await?;
    let survival = smb_engine::Store::chat_survival(&s.store).await?;
    let added: Vec<(String, String)> = s
        .store
        .added_targets()
        .await?
        .into_iter()
        .map(|a| (a.list, a.target))
        .collect();
    let catalog = s.catalog();
    let mut by_key: BTreeMap<String, Target> = BTreeMap::new();
    for (list, targets) in &catalog.target_lists {
        let users: Vec<String> = catalog
            .broadcasters
            .iter()
            .filter(|b| b.target_list == *list || b.test_list.as_deref() == Some(list))
            .map(|b| b.name.clone())
            .collect();
        for t in targets {
            let key = t.key();
            let e = by_key.entry(key.clone()).or_insert_with(|| Target {
                target: key.clone(),
                lists: Vec::new(),
                broadcasters: Vec::new(),
                status: TargetState::Active,
                reason: None,
                since: None,
                recheck_at: None,
                added: false,
                sent: 0,
                failed: 0,
                last_error: None,
                migrated_to: None,
                alias: None,
                refused_accounts: Vec::new(),
                removed_in_row: 0,
                removed_total: 0,
                posts_removed: false,
            });
            e.lists.push(list.clone());
            e.added |= added.iter().any(|(l, k)| l == list && *k == key);
            for u in &users {
                if !e.broadcasters.contains(u) {
                    e.broadcasters.push(u.clone());
                }
            }
        }
    }
    for r in rows {
        if let Some(e) = by_key.get_mut(&r.target) {
            e.status = r.status;
            e.reason = r.reason;
            e.since = Some(r.since);
            e.recheck_at = r.recheck_at;
        }
    }
    // Per-account refusals (QA F2: they were invisible here); a disabled target's reason
    // already says who was refused.
    for r in refusals {
        if let Some(e) = by_key.get_mut(&r.target)
            && e.status == TargetState::Active
        {
            e.refused_accounts.push(RefusedAccount {
                account: r.account,
                code: r.code,
                reason: r.reason,
                recheck_at: smb_domain::rfc3339_seconds(r.until),
            });
        }
    }
    for c in survival {
        if let Some(e) = by_key.get_mut(&c.target) {
            e.removed_in_row = c.removed_in_row;
            e.removed_total = c.removed_total;
            e.posts_removed = c.flagged;
        }
    }
    for (key, c) in &counts {
        if let Some(e) = by_key.get_mut(key) {
            e.sent = c.sent;
            e.failed = c.failed;
            e.last_error = c.last_error.clone();
        }
    }
    for m in migrations {
        if let Some(e) = by_key.get_mut(&m.old) {
            e.migrated_to = Some(m.new.clone());
        }
        if let Some(e) = by_key.get_mut(&m.new) {
            if let Some(c) = counts.get(&m.old) {
                e.sent += c.sent;
                e.failed += c.failed;
            }
            e.alias = Some(m.old);
        }
    }
    Ok(by_key.into_values().collect())
}

fn parse(raw: &str) -> ApiResult<TargetRef> {
    TargetRef::parse(raw).map_err(|e| ApiError::Invalid(e.to_string()))
}

fn not_listed(key: &str) -> ApiError {
    ApiError::NotFound(format!(
        "{key} is in no target list: add it with POST /api/v1/target-lists/LIST/targets"
    ))
}

/// 404 unless `t` is in a list (from the catalog, without the store's reads of [`all`]).
fn listed(s: &AppState, t: &TargetRef) -> ApiResult<()> {
    if s.catalog().target_lists.values().any(|l| l.contains(t)) {
        Ok(())
    } else {
        Err(not_listed(&t.key()))
    }
}

async fn one(s: &AppState, t: &TargetRef) -> ApiResult<Target> {
    let key = t.key();
    all(s)
        .await?
        .into_iter()
        .find(|x| x.target == key)
        .ok_or_else(|| not_listed(&key))
}

/// Every target of every list, with its status, reason and delivery counts.
#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", params(TargetQuery),
    responses((status = 200, body = [Target]), (status = 404, description = "no target list of that name", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_targets(
    State(s): State<AppState>,
    Query(q): Query<TargetQuery>,
) -> ApiResult<Json<Vec<Target>>> {
    let status = q
        .status
        .as_deref()
        .map(|st| {
            st.parse::<TargetState>().map_err(|_| {
                ApiError::Invalid(format!("status `{st}`: use `active` or `disabled`"))
            })
        })
        .transpose()?;
    if let Some(l) = &q.list
        && !s.catalog().target_lists.contains_key(l)
    {
        return Err(ApiError::NotFound(format!("no target list named `{l}`")));
    }
    let out = all(&s)
        .await?
        .into_iter()
        .filter(|t| q.list.as_ref().is_none_or(|l| t.lists.contains(l)))
        .filter(|t| status.is_none_or(|st| t.status == st))
        .collect();
    Ok(Json(out))
}

/// Makes a disabled target active again.
#[utoipa::path(post, path = "/api/v1/targets/{target}/enable", tag = "targets", security(("bearer" = [])),
    params(("target" = String, Path, description = "the target in any accepted form (URL-encode `/`)")),
    responses((status = 200, body = Target), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enable_target(
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Target>> {
    let t = parse(&raw)?;
    listed(&s, &t)?;
    s.driver.control(Control::EnableTarget(t.clone())).await;
    one(&s, &t).await.map(Json)
}

/// Disables a target (no broadcaster posts to it until it is enabled).
#[utoipa::path(post, path = "/api/v1/targets/{target}/disable", tag = "targets", security(("bearer" = [])),
    params(("target" = String, Path, description = "the target in any accepted form (URL-encode `/`)")),
    request_body(content = Option<DisableBody>, description = "optional reason"),
    responses((status = 200, body = Target), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn disable_target(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    // No body, `null` and `{}` all mean "no reason given" (the document says the body may be
    // absent or null).
    body: Option<Json<Option<DisableBody>>>,
) -> ApiResult<Json<Target>> {
    let t = parse(&raw)?;
    listed(&s, &t)?;
    let reason = body
        .and_then(|Json(b)| b)
        .and_then(|b| b.reason)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "disabled by the operator".into());
    if reason.chars().count() > 500 {
        return Err(ApiError::Invalid(
            "the reason is longer than 500 characters".into(),
        ));
    }
    s.driver
        .control(Control::DisableTarget(t.clone(), reason))
        .await;
    one(&s, &t).await.map(Json)
}

/// Every target list.
#[utoipa::path(get, path = "/api/v1/target-lists", tag = "targets", responses((status = 200, body = [TargetList])))]
pub async fn list_target_lists(State(s): State<AppState>) -> Json<Vec<TargetList>> {
    let c = s.catalog();
    Json(
        c.target_lists
            .iter()
            .map(|(name, targets)| TargetList {
                name: name.clone(),
                targets: targets.iter().map(|t| t.key()).collect(),
                broadcasters: c
                    .broadcasters
                    .iter()
                    .filter(|b| b.target_list == *name)
                    .map(|b| b.name.clone())
                    .collect(),
                test_of: c
                    .broadcasters
                    .iter()
                    .filter(|b| b.test_list.as_deref() == Some(name))
                    .map(|b| b.name.clone())
                    .collect(),
            })
            .collect(),
    )
}

/// Adds a target to a list: stored (kept across restarts) and posted to by the list's
/// broadcasters from their current cycle on.
#[utoipa::path(post, path = "/api/v1/target-lists/{list}/targets", tag = "targets", security(("bearer" = [])),
    params(("list" = String, Path, description = "target list name")),
    request_body = AddTargetBody,
    responses((status = 201, body = TargetAdded), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_target(
    State(s): State<AppState>,
    Path(list): Path<String>,
    Json(body): Json<AddTargetBody>,
) -> ApiResult<(StatusCode, Json<TargetAdded>)> {
    let beside: Vec<&str> = body
        .rest
        .keys()
        .map(String::as_str)
        .filter(|k| RULE_KEYS.contains(k))
        .collect();
    if !beside.is_empty() {
        return Err(rules_refused(&beside));
    }
    let raw = target_text(&body.target)?;
    let t = parse(&raw)?;
    let key = t.key();
    let broadcasters: Vec<String> = {
        let c = s.catalog();
        let Some(targets) = c.target_lists.get(&list) else {
            return Err(ApiError::NotFound(format!(
                "no target list named `{list}`: GET /api/v1/target-lists lists them"
            )));
        };
        if targets.contains(&t) {
            return Err(ApiError::Conflict(format!(
                "{key} is already in list `{list}`"
            )));
        }
        c.broadcasters
            .iter()
            .filter(|b| b.target_list == list)
            .map(|b| b.name.clone())
            .collect()
    };
    s.store
        .add_list_target(&list, &key, raw.trim(), s.clock.now())
        .await?;
    {
        let mut c = s.catalog_mut();
        if let Some(targets) = c.target_lists.get_mut(&list)
            && !targets.contains(&t)
        {
            targets.push(t.clone());
        }
    }
    for b in &broadcasters {
        s.driver
            .control(Control::AddTarget {
                broadcaster: b.clone(),
                target: t.clone(),
            })
            .await;
    }
    Ok((
        StatusCode::CREATED,
        Json(TargetAdded {
            list,
            target: key,
            broadcasters,
        }),
    ))
}
