//! `POST /api/v1/test-send`: the seed's "test broadcasters" — one message of a broadcaster's
//! set to its test list. It goes through `DriverHandle::test_send`: journalled like any send
//! (under `test:NAME`, apart from the broadcaster's cycles) and paced like one — the answer
//! comes when the account's turns came and the sends are done; concurrent requests queue.
//! Refused while the account is stopped or paused by Telegram for longer than a minute.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use smb_engine::{Outcome, TestSendError, TestSubject, plan_test_send};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct TestSendRequest {
    /// The broadcaster whose account, message set and test list are used.
    pub broadcaster: String,
    /// 1-based position in the set's current texts (default: the first active one).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "whole_number")]
    pub message: Option<usize>,
}

/// A JSON integer, also when written `2.0` (JSON Schema's `integer` takes it; serde's `usize`
/// alone does not).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(u) = n.as_u64() {
        return usize::try_from(u)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("message {n} is too large")));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=1e15).contains(&f) => Ok(Some(f as usize)),
        _ => Err(serde::de::Error::custom(format!(
            "message {n}: expected a whole number from 1"
        ))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSendTarget {
    pub target: String,
    pub random_id: i64,
    /// `sent` or `failed`.
    pub outcome: String,
    pub error_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSendResponse {
    /// The name the journal uses for these deliveries.
    pub label: String,
    pub account: String,
    pub test_list: String,
    pub text: String,
    pub results: Vec<TestSendTarget>,
}

/// Sends one message of the broadcaster's set to its test list, one chat per account turn
/// (`delay_between_chats`), and answers when done.
#[utoipa::path(post, path = "/api/v1/test-send", tag = "broadcasters", security(("bearer" = [])),
    request_body = TestSendRequest,
    responses((status = 200, body = TestSendResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, description = "the account is stopped, or paused by Telegram for longer than 60 s (the message says until when)", body = ErrorBody)))]
pub async fn test_send(
    State(s): State<AppState>,
    Json(req): Json<TestSendRequest>,
) -> ApiResult<Json<TestSendResponse>> {
    let (entry, test_list) = {
        let c = s.catalog();
        let Some(b) = c.broadcasters.iter().find(|b| b.name == req.broadcaster) else {
            return Err(ApiError::NotFound(format!(
                "no broadcaster named `{}`",
                req.broadcaster
            )));
        };
        let targets = b.test_list.as_ref().map(|l| {
            let targets = c.target_lists.get(l).cloned().unwrap_or_default();
            (l.clone(), targets)
        });
        (b.clone(), targets)
    };
    // The set's current texts: the store's newest version, else the configured ones.
    let set = super::messages::current(&s, &entry.message_set).await?;
    let subject = TestSubject {
        broadcaster: &entry.name,
        account: &entry.account,
        test_list: test_list.as_ref().map(|(l, t)| (l.as_str(), t.as_slice())),
        messages: &set,
        content: &entry.content,
    };
    let plan =
        plan_test_send(&subject, req.message).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let (label, text) = (plan.send.label.clone(), plan.send.text.clone());
    let results = s.driver.test_send(plan.send).await.map_err(|e| match e {
        TestSendError::Blocked(why) => ApiError::Unavailable(why),
        TestSendError::Store(e) => ApiError::from(e),
    })?;
    Ok(Json(TestSendResponse {
        label,
        account: entry.account,
        test_list: plan.test_list,
        text,
        results: results
            .into_iter()
            .map(|r| TestSendTarget {
                target: r.target.key(),
                random_id: r.random_id,
                outcome: r.outcome.status().to_string(),
                error_code: match r.outcome {
                    Outcome::Failed { code, .. } | Outcome::Deferred { code, .. } => Some(code),
                    Outcome::Sent { .. } => None,
                },
            })
            .collect(),
    }))
}
