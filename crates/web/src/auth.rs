//! Who may do what: every change (a non-GET request) needs the bearer token, and when the
//! server listens beyond loopback every request does, except `/healthz`, `/readyz`, the
//! login page and its stylesheet and script (static files built into the binary, the same for
//! everyone: nothing in them is secret, and without them the login page is unstyled). The dashboard logs in once through `/login`, which keeps the token in an
//! HttpOnly, SameSite=Strict cookie; a change made with that cookie must also carry the
//! `X-SMB-Dashboard` header, which a cross-site form cannot send (CORS stays off), so the
//! cookie alone cannot be used to forge a change.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie set by `/login`.
pub const COOKIE: &str = "smb_token";
/// The header the dashboard's script adds to its changes.
pub const DASHBOARD_HEADER: &str = "x-smb-dashboard";

/// Paths that never need the token. The assets are `include_str!` files with no data in them.
fn open_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/login" | "/assets/app.css" | "/assets/app.js"
    )
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// True when the request carries the token in a form accepted for this method.
pub(crate) fn authorized(s: &AppState, headers: &HeaderMap, mutating: bool) -> bool {
    let Some(token) = &s.token else { return false };
    if bearer(headers).is_some_and(|b| token.matches(b)) {
        return true;
    }
    let from_dashboard = headers.contains_key(DASHBOARD_HEADER);
    cookie(headers, COOKIE).is_some_and(|c| token.matches(c)) && (!mutating || from_dashboard)
}

pub(crate) async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD);
    if open_path(path) || !(mutating || s.token_for_everything) {
        return next.run(req).await;
    }
    if authorized(&s, req.headers(), mutating) {
        return next.run(req).await;
    }
    let page = !mutating && !path.starts_with("/api/") && path != "/metrics";
    if page {
        return Redirect::to("/login").into_response();
    }
    let message = match &s.token {
        None => {
            "changes need WEB_TOKEN: set it in .env (at least 16 characters), restart the daemon, and send \
                 `Authorization: Bearer TOKEN` (the dashboard: log in at /login)"
        }
        Some(_) => {
            "missing or wrong token: send `Authorization: Bearer TOKEN` with WEB_TOKEN's value \
                    (the dashboard: log in at /login)"
        }
    };
    let mut resp = ApiError::Unauthorized(message.into()).into_response();
    debug_assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    resp
}
