//! The REST API under `/api/v1`, and `/healthz`, `/readyz`: every route is registered through
//! `utoipa_axum::routes!`, so the OpenAPI document (`/api/v1/openapi.json`) is generated from
//! the same handlers the router serves.

pub mod accounts;
pub mod broadcasters;
pub mod check;
pub mod deliveries;
pub mod messages;
pub mod stats;
pub mod targets;
pub mod test_send;
pub mod variants;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SendMessageBot API",
        version = "1",
        description = "Look at and steer a running `sendmessagebot run`. Every change (POST) needs \
            `Authorization: Bearer WEB_TOKEN`; off loopback, every request does. Errors are \
            `{\"code\", \"message\"}`."
    ),
    modifiers(&BearerAuth),
    // The enums of query parameters (`value_type`) are referenced, not collected from the
    // handlers: registered here, or the `$ref`s would point nowhere.
    components(schemas(
        ErrorBody,
        deliveries::OutcomeFilter,
        deliveries::ExportFormat,
        deliveries::TimeFilter,
        targets::TargetStatusFilter
    )),
    tags(
        (name = "stats", description = "figures, as `stats --json`"),
        (name = "broadcasters", description = "state, cycle progress, pause / resume / start / stop, test send"),
        (name = "targets", description = "targets, their status, target lists"),
        (name = "message-sets", description = "texts and their versions"),
        (name = "deliveries", description = "the delivery journal"),
        (name = "accounts", description = "Telegram accounts"),
        (name = "health", description = "for supervisors"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API routes with their OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(stats::get_stats))
        .routes(routes!(stats::get_rate))
        .routes(routes!(variants::get_variants))
        .routes(routes!(broadcasters::list_broadcasters))
        .routes(routes!(broadcasters::get_broadcaster))
        .routes(routes!(broadcasters::pause_broadcaster))
        .routes(routes!(broadcasters::resume_broadcaster))
        .routes(routes!(broadcasters::start_broadcaster))
        .routes(routes!(broadcasters::stop_broadcaster))
        .routes(routes!(test_send::test_send))
        .routes(routes!(targets::list_targets))
        .routes(routes!(targets::enable_target))
        .routes(routes!(targets::disable_target))
        .routes(routes!(check::get_check))
        .routes(routes!(check::start_check))
        .routes(routes!(targets::list_target_lists))
        .routes(routes!(targets::add_target))
        .routes(routes!(messages::list_message_sets))
        .routes(routes!(messages::get_message_set))
        .routes(routes!(messages::list_versions))
        .routes(routes!(messages::update_message_set))
        .routes(routes!(messages::restore_version))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::export_deliveries))
        .routes(routes!(accounts::list_accounts))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The OpenAPI document, without a running daemon (for docs and tests).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = router().into_openapi();
    document_common_responses(&mut doc);
    doc
}

/// Adds to every operation the error answers that come from the layers around the handlers
/// rather than from the handler itself, so the document lists every status a client can get
/// (schemathesis checks it; issue 19):
/// - 401 from the token check (off loopback every request needs the token);
/// - 400 when a query string, path parameter or JSON body does not parse into its type;
/// - 404 for an operation with path parameters (nothing under that name);
/// - 413 / 415 for an operation with a body (over axum's 2 MB limit, not `application/json`);
/// - 414 / 431 from the HTTP server (a request line or head over its limits, see [`crate::server`]).
///
/// An operation that documents a status itself keeps its own description.
pub fn document_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Content, Ref, RefOr};
    let error = |what: &str| {
        RefOr::T(
            utoipa::openapi::ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let path_params = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter().any(|p| {
                    matches!(p, RefOr::T(p)
                        if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path))
                })
            });
            let body = op.request_body.is_some();
            let mut add = |status: &str, what: &str| {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(what));
            };
            add(
                "401",
                "no or a wrong `Authorization: Bearer WEB_TOKEN` (changes always need it; off loopback every request does)",
            );
            if params || body {
                add(
                    "400",
                    "a query string, path parameter or JSON body that does not parse into its type",
                );
            }
            if path_params {
                add("404", "nothing under that name");
            }
            if body {
                add("413", "the body is larger than 2 MB");
                add(
                    "415",
                    "the body is not sent as `Content-Type: application/json`",
                );
            }
            add(
                "414",
                "the request line (path and query) is longer than the server takes",
            );
            add(
                "431",
                "the request head (headers) is larger than the server takes",
            );
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store answers reads and the delivery journal takes writes: the daemon can serve. 503
/// while the journal is down (nothing is sent then), with the cause.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    if let smb_engine::JournalState::Down { reason, .. } = s.driver.journal() {
        return Err(crate::error::ApiError::Unavailable(format!(
            "the delivery journal does not take writes, nothing is sent: {reason}"
        )));
    }
    s.store.check_file().map_err(|e| {
        crate::error::ApiError::Unavailable(format!("the delivery journal is not usable: {e}"))
    })?;
    s.store.target_rows().await.map_err(|e| {
        crate::error::ApiError::Unavailable(format!("the database does not answer: {e}"))
    })?;
    Ok(Json(Health { status: "ready" }))
}
