//! The web side of SendMessageBot: a REST API under `/api/v1` (OpenAPI document generated
//! from the handlers, Swagger UI compiled in), a server-rendered dashboard, `/healthz`,
//! `/readyz`, and whatever the daemon merges in (`/metrics`); [`server`] serves them with time and
//! connection limits.
//!
//! Start reading at [`router`]. Handlers are verbs in their resource module under [`api`];
//! the dashboard ([`pages`]) reads through the same functions. Changes go through the running
//! driver ([`smb_engine::DriverHandle::control`]), so they take effect at once and the planner
//! persists what must survive a restart.
#![forbid(unsafe_code)]

pub mod api;
mod auth;
pub mod error;
pub mod i18n;
mod pages;
pub mod server;
pub mod settings;
pub mod state;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use utoipa_swagger_ui::SwaggerUi;

pub use api::check::{CheckMemory, Preflight};
pub use error::{ApiError, ErrorBody};
pub use server::{LimitError, ServerLimits};
pub use settings::{DEFAULT_WEB_BIND, Lang, WebSettings, WebSettingsError, WebToken};
pub use state::{
    AccountEntry, AppState, BroadcasterEntry, Catalog, SourceUpdate, SourceUpdater, WebContext,
};

/// The whole web application: API, docs, dashboard, health, and `extra` (e.g. `/metrics`),
/// behind the token check of [`WebSettings`].
pub fn router(ctx: WebContext, settings: &WebSettings, extra: Router) -> Router {
    let state = AppState::new(
        ctx,
        settings.token.clone(),
        settings.token_for_everything(),
        settings.lang,
    );
    let (api, mut spec) = api::router().split_for_parts();
    api::document_common_responses(&mut spec);
    let pages = Router::new()
        .route("/", get(pages::overview))
        .route("/broadcasters", get(pages::broadcasters_page))
        .route("/targets", get(pages::targets_page))
        .route("/targets/check", get(pages::check_page))
        .route("/deliveries", get(pages::deliveries_page))
        .route("/messages", get(pages::messages_page))
        .route("/variants", get(pages::variants_page))
        .route("/accounts", get(pages::accounts_page))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/assets/app.css", get(pages::app_css))
        .route("/assets/app.js", get(pages::app_js));
    api.merge(pages)
        .with_state(state.clone())
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", spec))
        .merge(extra)
        .fallback(not_found)
        .layer(axum::middleware::map_response(plain_errors_as_json))
        .layer(axum::middleware::from_fn_with_state(
            state,
            auth::require_token,
        ))
}

/// axum's own rejections (a malformed JSON body, a path segment that is not a number, a wrong
/// method) answer in plain text; the API promises one shape, so they are rewritten into it.
async fn plain_errors_as_json(resp: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !status.is_client_error() || !plain {
        return resp;
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes).trim().to_string();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "invalid",
    };
    let message = if detail.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    } else {
        detail
    };
    (status, axum::Json(ErrorBody { code, message })).into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "nothing at {}: the API is under /api/v1 (docs at /api/v1/docs/)",
        uri.path()
    ))
}
