//! `/api/v1/message-sets`: message sets with their stored versions; update from the source;
//! restore an older version. A new current version is handed to the engine, which uses it
//! from each broadcaster's next cycle (never mid-cycle).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use smb_domain::MessageSet;
use smb_engine::Control;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageText {
    pub text: String,
    pub active: bool,
    pub priority: u8,
    /// A/B label (`variant = "A"`); absent for a plain message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A message set and its current content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSetInfo {
    pub name: String,
    /// The current stored version (`null`: the configuration's texts, never versioned).
    pub version: Option<i64>,
    pub updated_at: Option<String>,
    pub source: Option<String>,
    pub broadcasters: Vec<String>,
    pub messages: Vec<MessageText>,
}

/// One stored version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSetVersionInfo {
    pub version: i64,
    pub created_at: String,
    /// What changed against the previous version.
    pub summary: String,
    pub source: String,
    pub messages: Vec<MessageText>,
}

/// What an update or a restore did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSetChange {
    pub name: String,
    /// False when the content was already current (no new version).
    pub changed: bool,
    pub version: Option<i64>,
    pub summary: String,
}

fn texts(set: &[smb_domain::Message]) -> Vec<MessageText> {
    set.iter()
        .map(|m| MessageText {
            text: m.text.clone(),
            active: m.active,
            priority: m.priority,
            variant: m.variant.clone(),
        })
        .collect()
}

fn known(s: &AppState, name: &str) -> ApiResult<()> {
    if s.catalog().message_sets.contains_key(name) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no message set named `{name}`: GET /api/v1/message-sets lists them"
        )))
    }
}

pub(crate) async fn info(s: &AppState, name: &str) -> ApiResult<MessageSetInfo> {
    known(s, name)?;
    let stored = s.store.current_message_set(name).await?;
    let c = s.catalog();
    let broadcasters = c
        .broadcasters
        .iter()
        .filter(|b| b.message_set == name)
        .map(|b| b.name.clone())
        .collect();
    Ok(match stored {
        Some(v) => MessageSetInfo {
            name: name.into(),
            version: Some(v.version),
            updated_at: Some(v.created_at.to_string()),
            source: Some(v.source),
            broadcasters,
            messages: texts(&v.messages),
        },
        None => MessageSetInfo {
            name: name.into(),
            version: None,
            updated_at: None,
            source: None,
            broadcasters,
            messages: c
                .message_sets
                .get(name)
                .map(|m| texts(&m.messages))
                .unwrap_or_default(),
        },
    })
}

/// The current texts of set `name`: the store's newest version, else the configured ones —
/// what the daemon sends from its next cycle on.
pub(crate) async fn current(s: &AppState, name: &str) -> ApiResult<MessageSet> {
    known(s, name)?;
    let messages = match s.store.current_message_set(name).await? {
        Some(v) => v.messages,
        None => s
            .catalog()
            .message_sets
            .get(name)
            .map(|m| m.messages.clone())
            .unwrap_or_default(),
    };
    Ok(MessageSet::new(name, messages))
}

/// Every message set of the configuration.
#[utoipa::path(get, path = "/api/v1/message-sets", tag = "message-sets", responses((status = 200, body = [MessageSetInfo])))]
pub async fn list_message_sets(State(s): State<AppState>) -> ApiResult<Json<Vec<MessageSetInfo>>> {
    let names: Vec<String> = s.catalog().message_sets.keys().cloned().collect();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        out.push(info(&s, &n).await?);
    }
    Ok(Json(out))
}

/// One message set with its current texts.
#[utoipa::path(get, path = "/api/v1/message-sets/{name}", tag = "message-sets",
    params(("name" = String, Path, description = "message set name")),
    responses((status = 200, body = MessageSetInfo), (status = 404, body = ErrorBody)))]
pub async fn get_message_set(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<MessageSetInfo>> {
    info(&s, &name).await.map(Json)
}

/// Every stored version of a set, newest first.
#[utoipa::path(get, path = "/api/v1/message-sets/{name}/versions", tag = "message-sets",
    params(("name" = String, Path, description = "message set name")),
    responses((status = 200, body = [MessageSetVersionInfo]), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<MessageSetVersionInfo>>> {
    known(&s, &name)?;
    let versions = s.store.message_set_history(&name).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| MessageSetVersionInfo {
                version: v.version,
                created_at: v.created_at.to_string(),
                summary: v.summary,
                source: v.source,
                messages: texts(&v.messages),
            })
            .collect(),
    ))
}

/// Fetches the set from its source now; a changed content becomes a new version.
#[utoipa::path(post, path = "/api/v1/message-sets/{name}/update", tag = "message-sets", security(("bearer" = [])),
    params(("name" = String, Path, description = "message set name")),
    responses((status = 200, body = MessageSetChange), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the set has no source: its texts come from the configuration", body = ErrorBody),
        (status = 503, description = "the source failed; the current version is kept", body = ErrorBody)))]
pub async fn update_message_set(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<MessageSetChange>> {
    known(&s, &name)?;
    // A set without a source is the set's state, not the server's failure: 409, not a 5xx
    // (issue 19: schemathesis counts every 5xx as a server error). A daemon without any
    // sources has a set with none.
    let no_source = || {
        ApiError::Conflict(format!(
            "message set `{name}` has no source (Google Sheet, CSV URL or file); its texts come from the configuration"
        ))
    };
    let res = match s.sources.clone() {
        Some(updater) => updater.update(&name).await.ok_or_else(no_source)?,
        None => return Err(no_source()),
    };
    let u = res.map_err(ApiError::Unavailable)?;
    if u.changed {
        s.driver.control(Control::ReplaceMessages(u.messages)).await;
    }
    Ok(Json(MessageSetChange {
        name,
        changed: u.changed,
        version: u.version,
        summary: u.summary,
    }))
}

/// Makes an older version current again (as a new version); used from the next cycle on.
#[utoipa::path(post, path = "/api/v1/message-sets/{name}/versions/{version}/restore", tag = "message-sets", security(("bearer" = [])),
    params(("name" = String, Path, description = "message set name"), ("version" = i64, Path, description = "version to restore")),
    responses((status = 200, body = MessageSetChange), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore_version(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<MessageSetChange>> {
    known(&s, &name)?;
    let Some(old) = s.store.message_set_version(&name, version).await? else {
        return Err(ApiError::NotFound(format!(
            "message set `{name}` has no version {version}"
        )));
    };
    let new = s
        .store
        .restore_message_set(&name, version, s.clock.now())
        .await?;
    let (current, summary) = match new {
        Some(v) => {
            s.driver
                .control(Control::ReplaceMessages(MessageSet::new(
                    name.clone(),
                    old.messages,
                )))
                .await;
            (Some(v), format!("restored version {version}"))
        }
        None => (
            s.store.current_message_set(&name).await?.map(|v| v.version),
            format!("version {version} is already the current content"),
        ),
    };
    Ok(Json(MessageSetChange {
        name,
        changed: new.is_some(),
        version: current,
        summary,
    }))
}
