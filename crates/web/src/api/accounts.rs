//! `/api/v1/accounts`: each account with its state (authorized, paused until, stopped reason).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub name: String,
    /// `user`, `bot` or `sandbox`.
    pub kind: String,
    /// Its session is logged in (`null`: not known to this daemon).
    pub authorized: Option<bool>,
    /// A Telegram flood wait: nothing is sent from it before this time.
    pub paused_until: Option<String>,
    /// Why it was stopped (revoked session, ban, PEER_FLOOD); `accounts login` fixes it.
    pub stopped_reason: Option<String>,
    pub last_error: Option<String>,
    pub sent: u64,
    pub failed: u64,
    pub flood_waits: u64,
    pub broadcasters: Vec<String>,
}

pub(crate) async fn all(s: &AppState) -> ApiResult<Vec<Account>> {
    let stats = s.store.stats(None, s.clock.now()).await?;
    let c = s.catalog();
    Ok(c.accounts
        .iter()
        .map(|a| {
            let st = stats.accounts.get(&a.name).cloned().unwrap_or_default();
            Account {
                name: a.name.clone(),
                kind: a.kind.clone(),
                authorized: a.authorized,
                paused_until: st.paused_until,
                stopped_reason: st.stopped_reason.map(|r| r.to_string()),
                last_error: st.last_error,
                sent: st.counts.sent,
                failed: st.counts.failed,
                flood_waits: st.flood_waits,
                broadcasters: c
                    .broadcasters
                    .iter()
                    .filter(|b| b.account == a.name)
                    .map(|b| b.name.clone())
                    .collect(),
            }
        })
        .collect())
}

/// Every configured account.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", responses((status = 200, body = [Account])))]
pub async fn list_accounts(State(s): State<AppState>) -> ApiResult<Json<Vec<Account>>> {
    all(&s).await.map(Json)
}
