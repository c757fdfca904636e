//! Google Sheets and CSV sources against loopback doubles. The Google double checks what the
//! real token endpoint checks: the JWT's RS256 signature (with the public half of a key made
//! by the test), its issuer, scope and audience; the Sheets double checks the bearer token.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use rsa::pkcs8::EncodePrivateKey;
use rsa::sha2::Sha256;
use rsa::{Generate, PrivateKey, PublicKey};
use serde_json::{Value, json};
use smb_sources::fetch::SHEETS_SCOPE;
use smb_sources::{Fetcher, SheetRef, Source, SourceError, SourcesSettings};

const EMAIL: &str = "price-bot@smb-test.iam.gserviceaccount.com";

struct TestKey {
    pem: String,
    public: PublicKey,
}

/// One key per test binary: RSA key generation is slow in debug builds.
fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = PrivateKey::generate();
        let der = private.to_pkcs8_der().expect("encode the test key");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        TestKey {
            pem,
            public: private.to_public_key(),
        }
    })
}

#[derive(Default)]
struct Google {
    token_uri: String,
    expires_in: u64,
    issued: Vec<String>,
    revoked: HashSet<String>,
    jwt_errors: Vec<String>,
    /// (spreadsheet, range or "meta", bearer token, status answered)
    calls: Vec<(String, String, String, u16)>,
    busy_left: u32,
}

type Shared = Arc<Mutex<Google>>;

fn b64url(s: &str) -> Result<Vec<u8>, String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(s).map_err(|e| e.to_string())
}

fn check_jwt(g: &Google, assertion: &str) -> Result<(), String> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, claims, sig] = parts.as_slice() else {
        return Err("not three parts".into());
    };
    let header: Value = serde_json::from_slice(&b64url(head)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    test_key()
        .public
        .pkcs1v15_verify::<Sha256>(format!("{head}.{claims}").as_bytes(), &b64url(sig)?)
        .map_err(|e| format!("bad signature: {e}"))?;
    let c: Value = serde_json::from_slice(&b64url(claims)?).map_err(|e| e.to_string())?;
    if c["iss"] != EMAIL {
        return Err(format!("iss {}", c["iss"]));
    }
    if c["scope"] != SHEETS_SCOPE {
        return Err(format!("scope {}", c["scope"]));
    }
    if c["aud"] != g.token_uri.as_str() {
        return Err(format!("aud {}", c["aud"]));
    }
    let (iat, exp) = (
        c["iat"].as_i64().unwrap_or(0),
        c["exp"].as_i64().unwrap_or(0),
    );
    if !(1..=3600).contains(&(exp - iat)) {
        return Err(format!("lifetime {}", exp - iat));
    }
    Ok(())
}

async fn token(State(s): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut g = s.lock().unwrap();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if let Err(e) = check_jwt(&g, form.get("assertion").map_or("", String::as_str)) {
        g.jwt_errors.push(e.clone());
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": e})),
        )
            .into_response();
    }
    let t = format!("tok-{}", g.issued.len() + 1);
    g.issued.push(t.clone());
    Json(json!({"access_token": t, "expires_in": g.expires_in, "token_type": "Bearer"}))
        .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

fn authorized(g: &Google, token: &str) -> bool {
    g.issued.iter().any(|t| t == token) && !g.revoked.contains(token)
}

async fn meta(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut g = s.lock().unwrap();
    let tok = bearer(&headers);
    let ok = authorized(&g, &tok);
    g.calls
        .push((id, "meta".into(), tok, if ok { 200 } else { 401 }));
    if !ok {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"sheets": [
        {"properties": {"sheetId": 0, "title": "Лист1"}},
        {"properties": {"sheetId": 42, "title": "Прайс 'B2B'"}}
    ]}))
    .into_response()
}

fn good_values(range: &str) -> Value {
    json!({
        "range": format!("{}1:E7", range.trim_end_matches("A:E")),
        "majorDimension": "ROWS",
        "values": [
            ["Сообщение", "Статус", "Приоритет", "Дата создания", "Дата обновления"],
            ["Опт: iPhone 16 — 71 000 ₽", "активно", "9", "2025-01-10"],
            [],
            ["Опт: AirPods — 15 500 ₽", "неактивно", "5"],
            ["", "активно", "10"],
            ["Опт: MacBook\nвторая строка", "Да", 3, "", "2025-02-01"]
        ]
    })
}

async fn values(
    State(s): State<Shared>,
    Path((id, range)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut g = s.lock().unwrap();
    let tok = bearer(&headers);
    let answer = |g: &mut Google, status: u16| {
        g.calls
            .push((id.clone(), range.clone(), tok.clone(), status));
    };
    if !authorized(&g, &tok) {
        answer(&mut g, 401);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}})),
        )
            .into_response();
    }
    match id.as_str() {
        "SHEET_403_000" => {
            answer(&mut g, 403);
            (
                StatusCode::FORBIDDEN,
                Json(json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})),
            )
                .into_response()
        }
        "SHEET_OFF_000" => {
            answer(&mut g, 403);
            (
                StatusCode::FORBIDDEN,
                Json(json!({"error": {"code": 403, "message": "Google Sheets API has not been used in project 123 before or it is disabled.", "status": "PERMISSION_DENIED", "details": [{"reason": "SERVICE_DISABLED"}]}})),
            )
                .into_response()
        }
        "SHEET_429_000" if g.busy_left > 0 => {
            g.busy_left -= 1;
            answer(&mut g, 429);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "7")],
                Json(json!({"error": {"code": 429}})),
            )
                .into_response()
        }
        "SHEET_BAD_000" => {
            answer(&mut g, 200);
            Json(json!({"range": "Лист1!A1:E3", "values": [["Текст", "Статус", "Приоритет"], ["ok", "да", "2"], ["x", "да", "высокий"]]}))
                .into_response()
        }
        "SHEET_NA_000" => {
            answer(&mut g, 200);
            Json(json!({"range": "Лист1!A1:C3", "values": [["Текст", "Статус", "Приоритет"], ["ok", "да", "2"], ["#N/A", "да", "9"]]}))
                .into_response()
        }
        "SHEET_NA_PRIO_000" => {
            answer(&mut g, 200);
            Json(json!({"range": "Лист1!A4:C5", "values": [["ok", "да", "2"], ["Прайс", "да", "#ДЕЛ/0!"]]}))
                .into_response()
        }
        "SHEET_LOAD_000" => {
            answer(&mut g, 200);
            Json(json!({"range": "Лист1!A1:C3", "values": [["Текст", "Статус"], ["ok", "да"], ["Loading...", ""]]}))
                .into_response()
        }
        "SHEET_BIN_000" => {
            answer(&mut g, 200);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"values\": [[1, 2], \"not a row\"]}",
            )
                .into_response()
        }
        _ => {
            answer(&mut g, 200);
            Json(good_values(&range)).into_response()
        }
    }
}

struct GoogleDouble {
    state: Shared,
    settings: SourcesSettings,
    _dir: tempfile::TempDir,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn google(expires_in: u64) -> GoogleDouble {
    let state: Shared = Arc::new(Mutex::new(Google {
        expires_in,
        busy_left: 2,
        ..Default::default()
    }));
    let router = Router::new()
        .route("/token", post(token))
        .route("/other-token", post(token))
        .route("/v4/spreadsheets/{id}", get(meta))
        .route("/v4/spreadsheets/{id}/values/{range}", get(values))
        .with_state(state.clone());
    let addr = serve(router).await;
    let token_uri = format!("http://{addr}/token");
    state.lock().unwrap().token_uri = token_uri.clone();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("credentials.json");
    let key = json!({
        "type": "service_account",
        "project_id": "smb-test",
        "private_key_id": "k1",
        "private_key": test_key().pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    });
    std::fs::write(&key_path, key.to_string()).unwrap();
    let settings = SourcesSettings {
        credentials_file: Some(key_path),
        sheets_api: format!("http://{addr}"),
        export_base: format!("http://{addr}"),
        timeout: None,
        max_attempts: 4,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        ..SourcesSettings::default()
    };
    GoogleDouble {
        state,
        settings,
        _dir: dir,
    }
}

fn sheet(id: &str, gid: Option<u64>) -> Source {
    Source::GoogleSheet(SheetRef { id: id.into(), gid })
}

#[tokio::test]
async fn a_sheet_is_read_through_the_service_account_with_a_verified_jwt() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let got = fetcher
        .fetch(&sheet("SHEET_OK_000", Some(42)))
        .await
        .unwrap();
    let rows: Vec<(usize, &str, bool, u8)> = got
        .rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.message.text.as_str(),
                r.message.active,
                r.message.priority,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "Опт: iPhone 16 — 71 000 ₽", true, 9),
            (4, "Опт: AirPods — 15 500 ₽", false, 5),
            (6, "Опт: MacBook\nвторая строка", true, 3)
        ]
    );
    assert_eq!(got.rows[0].created.as_deref(), Some("2025-01-10"));
    assert_eq!(got.rows[2].updated.as_deref(), Some("2025-02-01"));
    // A second fetch reuses the cached token.
    fetcher.fetch(&sheet("SHEET_OK_000", None)).await.unwrap();
    let st = g.state.lock().unwrap();
    assert!(st.jwt_errors.is_empty(), "{:?}", st.jwt_errors);
    assert_eq!(st.issued, ["tok-1"]);
    let ranges: Vec<&str> = st.calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(ranges, ["meta", "'Прайс ''B2B'''!A:E", "A:E"]);
    assert!(st.calls.iter().all(|c| c.2 == "tok-1" && c.3 == 200));
}

#[tokio::test]
async fn a_403_says_to_share_the_sheet_with_the_service_account() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_403_000", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::PermissionDenied { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(EMAIL) && text.contains("Share") && text.contains("SHEET_403_000"),
        "{text}"
    );
    assert!(!err.is_transient());
    let err = fetcher
        .fetch(&sheet("SHEET_OFF_000", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::ApiDisabled { .. }), "{err:?}");
    assert!(
        err.to_string().contains("enable \"Google Sheets API\""),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_wait_google_asked_for() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let start = tokio::time::Instant::now();
    let got = fetcher.fetch(&sheet("SHEET_429_000", None)).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(got.rows.len(), 3);
    assert!(waited >= Duration::from_secs(14), "waited only {waited:?}");
    let statuses: Vec<u16> = g.state.lock().unwrap().calls.iter().map(|c| c.3).collect();
    assert_eq!(statuses, [429, 429, 200]);
}

/// Issue 19: a long Retry-After made `messages update` silent for minutes. The hook hears of
/// each wait, with its length and cause, before the wait begins.
#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_tells_the_wait_before_waiting() {
    let g = google(3600).await;
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let fetcher = Fetcher::new(g.settings.clone())
        .unwrap()
        .on_wait(move |w| sink.lock().unwrap().push(w.clone()));
    fetcher.fetch(&sheet("SHEET_429_000", None)).await.unwrap();
    let heard = heard.lock().unwrap();
    let shape: Vec<(u32, u32, Duration, bool)> = heard
        .iter()
        .map(|w| (w.attempt, w.max_attempts, w.wait, w.asked_by_server))
        .collect();
    let max = g.settings.max_attempts;
    assert_eq!(
        shape,
        [
            (1, max, Duration::from_secs(7), true),
            (2, max, Duration::from_secs(7), true)
        ]
    );
    assert!(heard.iter().all(|w| w.reason.contains("429")), "{heard:?}");
}

#[tokio::test(start_paused = true)]
async fn a_429_that_lasts_gives_up_and_is_transient() {
    let mut g = google(3600).await;
    g.state.lock().unwrap().busy_left = 100;
    g.settings.max_attempts = 3;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_429_000", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::RateLimited { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_expired_token_is_replaced() {
    // Google says the token lives 10 s; the client renews tokens that close to expiry.
    let g = google(10).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    fetcher.fetch(&sheet("SHEET_OK_000", None)).await.unwrap();
    fetcher.fetch(&sheet("SHEET_OK_000", None)).await.unwrap();
    let st = g.state.lock().unwrap();
    assert_eq!(st.issued, ["tok-1", "tok-2"]);
    let used: Vec<&str> = st.calls.iter().map(|c| c.2.as_str()).collect();
    assert_eq!(used, ["tok-1", "tok-2"]);
    assert!(st.jwt_errors.is_empty(), "{:?}", st.jwt_errors);
}

#[tokio::test]
async fn a_token_google_no_longer_accepts_is_refreshed_once() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    fetcher.fetch(&sheet("SHEET_OK_000", None)).await.unwrap();
    g.state.lock().unwrap().revoked.insert("tok-1".into());
    fetcher.fetch(&sheet("SHEET_OK_000", None)).await.unwrap();
    let st = g.state.lock().unwrap();
    let calls: Vec<(&str, u16)> = st.calls.iter().map(|c| (c.2.as_str(), c.3)).collect();
    assert_eq!(calls, [("tok-1", 200), ("tok-1", 401), ("tok-2", 200)]);
}

#[tokio::test]
async fn a_wrong_audience_is_refused_by_the_token_endpoint() {
    let mut g = google(3600).await;
    let other = g
        .state
        .lock()
        .unwrap()
        .token_uri
        .replace("/token", "/other-token");
    g.settings.token_uri = Some(other);
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_OK_000", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Token { .. }), "{err:?}");
    assert!(err.to_string().contains(EMAIL), "{err}");
    let st = g.state.lock().unwrap();
    assert!(
        st.jwt_errors.iter().all(|e| e.starts_with("aud")),
        "{:?}",
        st.jwt_errors
    );
    assert!(!st.jwt_errors.is_empty());
}

#[tokio::test]
async fn malformed_rows_and_answers_are_refused_with_the_row() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_BAD_000", None))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Google Sheet SHEET_BAD_000: row 3") && err.contains("C3"),
        "{err}"
    );
    let err = fetcher
        .fetch(&sheet("SHEET_BIN_000", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn a_bad_key_file_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, json!({"installed": {"client_id": "x"}}).to_string()).unwrap();
    let settings = SourcesSettings {
        credentials_file: Some(path),
        ..SourcesSettings::default()
    };
    let fetcher = Fetcher::new(settings).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_OK_000", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("service_account"), "{err}");
}

// ---- CSV ------------------------------------------------------------------------------------

const PUBLISHED: &str = "\u{feff}Сообщение,Статус,Приоритет,Создано,Обновлено\r\n\
\"Розница: iPhone 16 — 74 990 ₽\r\nгарантия год, \"\"официальная\"\"\",активно,8,,\r\n\
,,,,\r\n\
Скидка 5%,нет,,,\r\n\
Аксессуары,да,,,\r\n";

#[derive(Default)]
struct CsvState {
    flaky_left: u32,
    hits: Vec<String>,
}

async fn csv_double() -> (SocketAddr, Arc<Mutex<CsvState>>) {
    let state = Arc::new(Mutex::new(CsvState {
        flaky_left: 1,
        hits: Vec::new(),
    }));
    let csv = |body: &'static str| ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body);
    let router = Router::new()
        .route(
            "/spreadsheets/d/e/{pubid}/pub",
            get(
                move |Path(_): Path<String>, Query(q): Query<HashMap<String, String>>| async move {
                    assert_eq!(q.get("output").map(String::as_str), Some("csv"));
                    csv(PUBLISHED)
                },
            ),
        )
        .route(
            "/spreadsheets/d/{id}/export",
            get(
                |Path(id): Path<String>,
                 Query(q): Query<HashMap<String, String>>,
                 State(s): State<Arc<Mutex<CsvState>>>| async move {
                    s.lock().unwrap().hits.push(format!(
                        "{id}?{}",
                        q.get("gid").cloned().unwrap_or_default()
                    ));
                    if id.starts_with("PRIVATE") {
                        Redirect::temporary("/ServiceLogin").into_response()
                    } else if id.starts_with("LABELLED") {
                        ([(header::CONTENT_TYPE, "text/csv")], LOGIN_PAGE).into_response()
                    } else {
                        ([(header::CONTENT_TYPE, "text/csv")], "a,да,2\nb,нет\n").into_response()
                    }
                },
            ),
        )
        .route(
            "/ServiceLogin",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html>Sign in</html>",
                )
            }),
        )
        .route(
            "/flaky.csv",
            get(|State(s): State<Arc<Mutex<CsvState>>>| async move {
                let mut st = s.lock().unwrap();
                if st.flaky_left > 0 {
                    st.flaky_left -= 1;
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                ([(header::CONTENT_TYPE, "text/csv")], "only text\n").into_response()
            }),
        )
        .route(
            "/page.csv",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html></html>") }),
        )
        .route(
            "/login2.csv",
            get(|| async { ([(header::CONTENT_TYPE, "text/csv")], LOGIN_PAGE) }),
        )
        .with_state(state.clone());
    (serve(router).await, state)
}

/// A saved Google sign-in page, as a user saved it (QA finding F20): 6 lines of HTML.
const LOGIN_PAGE: &str = "\u{feff}  <!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\n<title>Google</title>\n</head><body>\n<div id=\"initialView\">Войдите в аккаунт Google</div>\n</body>\n</html>\n";

fn csv_settings(addr: SocketAddr) -> SourcesSettings {
    SourcesSettings {
        export_base: format!("http://{addr}"),
        timeout: None,
        backoff: Duration::from_secs(1),
        ..SourcesSettings::default()
    }
}

#[tokio::test]
async fn csv_with_bom_crlf_quoted_multiline_cells_and_empty_trailing_columns() {
    let (addr, _) = csv_double().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let got = fetcher
        .fetch(&Source::Csv(format!(
            "http://{addr}/spreadsheets/d/e/2PACX-1vQabc/pub?output=csv"
        )))
        .await
        .unwrap();
    let rows: Vec<(usize, &str, bool, u8)> = got
        .rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.message.text.as_str(),
                r.message.active,
                r.message.priority,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                2,
                "Розница: iPhone 16 — 74 990 ₽\nгарантия год, \"официальная\"",
                true,
                8
            ),
            (4, "Скидка 5%", false, 5),
            (5, "Аксессуары", true, 5)
        ]
    );
}

#[tokio::test]
async fn a_sheet_without_credentials_is_read_through_its_csv_export() {
    let (addr, state) = csv_double().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let url = "https://docs.google.com/spreadsheets/d/PUBLIC_SHEET_1/edit#gid=77";
    let got = fetcher.fetch(&Source::parse(url).unwrap()).await.unwrap();
    assert_eq!(
        got.rows
            .iter()
            .map(|r| r.message.active)
            .collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(state.lock().unwrap().hits, ["PUBLIC_SHEET_1?77"]);
    let err = fetcher
        .fetch(&sheet("PRIVATE_SHEET_1", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotPublic { .. }), "{err:?}");
    assert!(err.to_string().contains("Anyone with the link"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_csv_server_error_is_retried_and_html_is_not_csv() {
    let (addr, _) = csv_double().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let got = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/flaky.csv")))
        .await
        .unwrap();
    assert_eq!(got.rows[0].message.text, "only text");
    let err = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/page.csv?key=SECRET")))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
    assert!(!err.to_string().contains("SECRET"), "{err}");
}

/// QA finding F20: an HTML page labelled text/csv (or saved as `.csv`) became messages.
/// The body is looked at whatever the label says.
#[tokio::test]
async fn f20_an_html_page_labelled_csv_is_refused() {
    let (addr, _) = csv_double().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let err = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/login2.csv")))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("CSV http://{addr}/login2.csv")),
        "{msg}"
    );
    assert!(msg.contains("the URL gives an HTML page, not CSV"), "{msg}");
    assert!(msg.contains("Publish to web"), "{msg}");
    // A Google export answering a sign-in page as text/csv: not shared.
    let err = fetcher
        .fetch(&sheet("LABELLED_SHEET_1", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotPublic { .. }), "{err:?}");
    assert!(err.to_string().contains("Anyone with the link"), "{err}");
    // A saved page in a `.csv` file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("saved_page.csv"), LOGIN_PAGE).unwrap();
    let fetcher = Fetcher::new(SourcesSettings {
        base_dir: PathBuf::from(dir.path()),
        ..SourcesSettings::default()
    })
    .unwrap();
    let err = fetcher
        .fetch(&Source::parse("saved_page.csv").unwrap())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("file saved_page.csv"), "{msg}");
    assert!(msg.contains("the file is an HTML page"), "{msg}");
    assert!(msg.contains("download the sheet as CSV"), "{msg}");
}

#[tokio::test]
async fn a_text_file_source_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b2b.txt"),
        "Первое\n---\nВторое\nв две строки\n",
    )
    .unwrap();
    let settings = SourcesSettings {
        base_dir: PathBuf::from(dir.path()),
        ..SourcesSettings::default()
    };
    let fetcher = Fetcher::new(settings).unwrap();
    let got = fetcher
        .fetch(&Source::parse("b2b.txt").unwrap())
        .await
        .unwrap();
    assert_eq!(got.unit, "line");
    assert_eq!(
        got.rows
            .iter()
            .map(|r| (r.row, r.message.text.as_str()))
            .collect::<Vec<_>>(),
        [(1, "Первое"), (3, "Второе\nв две строки")]
    );
    let err = fetcher
        .fetch(&Source::parse("missing.txt").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.txt"), "{err}");
}

#[tokio::test]
async fn spreadsheet_errors_are_refused_with_their_cell_and_loading_is_transient() {
    let g = google(3600).await;
    let fetcher = Fetcher::new(g.settings.clone()).unwrap();
    let err = fetcher
        .fetch(&sheet("SHEET_NA_000", None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Google Sheet SHEET_NA_000: row 3, column A")
            && text.contains("cell A3")
            && text.contains("`#N/A`"),
        "{text}"
    );
    assert!(!err.is_transient());
    let err = fetcher
        .fetch(&sheet("SHEET_NA_PRIO_000", None))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 5, column C") && err.contains("`#ДЕЛ/0!`") && err.contains("priority"),
        "{err}"
    );
    let err = fetcher
        .fetch(&sheet("SHEET_LOAD_000", None))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Calculating { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains("cell A3 still reads `Loading...`"),
        "{err}"
    );
}

// ---- CSV as real users export it ------------------------------------------------------------

/// Excel / LibreOffice "CSV" in a Russian locale: `;` between columns, BOM, CRLF, comma
/// decimals left unquoted, a quoted cell holding `;` and a line break, status `нет`.
const RU_EXCEL: &str = "\u{feff}Сообщение;Статус;Приоритет;Создано;Обновлено\r\n\
Опт: iPhone 16 — 71 000,50 ₽, AirPods — 15 500 ₽;активно;9;01.02.2025;\r\n\
\"Прайс; опт\r\nот 5 штук\";да;7,0;;\r\n\
Скидка 5,5% до пятницы;нет;10;;\r\n\
;;;;\r\n";

/// Tab-separated values without a header.
const TSV: &str = "Прайс 1\tда\t3\r\nПрайс 2, опт\tнет\t\r\n";

/// A plain list of texts in a `;` locale: commas inside the texts, no status column.
const RU_LIST: &str = "Скидка 5%, только сегодня\r\n\"Цена; опт\"\r\n";

#[derive(Default)]
struct Exports {
    /// The body of `/switch.csv`.
    switch: Vec<u8>,
}

type ExportState = Arc<Mutex<Exports>>;

async fn exports() -> (SocketAddr, ExportState) {
    let state: ExportState = Arc::default();
    let csv = |body: Vec<u8>| ([(header::CONTENT_TYPE, "text/csv")], body).into_response();
    let router = Router::new()
        .route("/ru.csv", get(move || async move { csv(RU_EXCEL.into()) }))
        .route("/list.csv", get(move || async move { csv(TSV.into()) }))
        .route(
            "/ru-list.csv",
            get(move || async move { csv(RU_LIST.into()) }),
        )
        .route(
            "/errors.csv",
            get(move || async move {
                csv("Текст;Статус;Приоритет\nОк;#ЗНАЧ!;5\n".into())
            }),
        )
        .route(
            "/loading.csv",
            get(move || async move {
                csv("Сообщение,Статус\nЗагрузка...,да\n".into())
            }),
        )
        .route(
            "/cp1251.csv",
            get(move || async move {
                // "Прайс" in Windows-1251, as Excel's plain "CSV" saves it in a Russian locale.
                csv(b"Text;Status\r\n\xcf\xf0\xe0\xe9\xf1;1\r\n".to_vec())
            }),
        )
        .route(
            "/ambiguous.csv",
            get(move || async move { csv("x,y\nz;w\nq\tr\n".into()) }),
        )
        .route(
            "/switch.csv",
            get(move |State(s): State<ExportState>| async move {
                csv(s.lock().unwrap().switch.clone())
            }),
        )
        .with_state(state.clone());
    (serve(router).await, state)
}

fn rows_of(got: &smb_sources::Fetched) -> Vec<(usize, &str, bool, u8)> {
    got.rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.message.text.as_str(),
                r.message.active,
                r.message.priority,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_semicolon_export_is_read_as_columns_with_its_header_and_inactive_rows() {
    let (addr, _) = exports().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let got = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/ru.csv")))
        .await
        .unwrap();
    assert_eq!(
        rows_of(&got),
        [
            (
                2,
                "Опт: iPhone 16 — 71 000,50 ₽, AirPods — 15 500 ₽",
                true,
                9
            ),
            (3, "Прайс; опт\nот 5 штук", true, 7),
            (4, "Скидка 5,5% до пятницы", false, 10)
        ]
    );
    assert_eq!(
        got.notes,
        ["columns separated by `;` (a comma-decimal locale's CSV)"]
    );

    // The same export saved as a file: a `.csv` file source is read as CSV.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prices.CSV"), RU_EXCEL).unwrap();
    let fetcher = Fetcher::new(SourcesSettings {
        base_dir: dir.path().to_path_buf(),
        ..csv_settings(addr)
    })
    .unwrap();
    let from_file = fetcher
        .fetch(&Source::parse("prices.CSV").unwrap())
        .await
        .unwrap();
    assert_eq!(from_file.unit, "row");
    assert_eq!(rows_of(&from_file), rows_of(&got));
}

#[tokio::test]
async fn tabs_and_plain_lists_are_told_apart_and_the_no_status_rule_is_said() {
    let (addr, _) = exports().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let got = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/list.csv")))
        .await
        .unwrap();
    assert_eq!(
        rows_of(&got),
        [(1, "Прайс 1", true, 3), (2, "Прайс 2, опт", false, 5)]
    );
    assert_eq!(got.notes, ["columns separated by tabs"]);

    let got = fetcher
        .fetch(&Source::Csv(format!("http://{addr}/ru-list.csv")))
        .await
        .unwrap();
    assert_eq!(
        rows_of(&got),
        [
            (1, "Скидка 5%, только сегодня", true, 5),
            (2, "Цена; опт", true, 5)
        ]
    );
    assert!(
        got.notes
            .iter()
            .any(|n| n == smb_sources::rows::NOTE_NO_STATUS),
        "{:?}",
        got.notes
    );
}

#[tokio::test]
async fn bad_exports_are_refused_with_the_reason() {
    let (addr, _) = exports().await;
    let fetcher = Fetcher::new(csv_settings(addr)).unwrap();
    let fetch = |path: &str| {
        let source = Source::Csv(format!("http://{addr}/{path}"));
        let fetcher = &fetcher;
        async move { fetcher.fetch(&source).await }
    };
    let err = fetch("errors.csv").await.unwrap_err().to_string();
    assert!(
        err.contains("row 2, column B") && err.contains("`#ЗНАЧ!`") && err.contains("status"),
        "{err}"
    );
    let err = fetch("loading.csv").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("`Загрузка...`"), "{err}");
    // QA finding 19: converted with a note instead of refused (it was refused before).
    let cp1251 = fetch("cp1251.csv").await.unwrap();
    assert_eq!(cp1251.rows[0].message.text, "Прайс");
    assert!(
        cp1251
            .notes
            .iter()
            .any(|n| n.contains("read as Windows-1251")),
        "{:?}",
        cp1251.notes
    );
    let err = fetch("ambiguous.csv").await.unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot tell whether columns are separated"),
        "{err}"
    );
}

/// Serves an endless chunked CSV body to every request: only a reader that stops ends.
async fn endless_csv() -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let rows = "Прайс,да,5\n".repeat(1000);
                let chunk = format!("{:x}\r\n{rows}\r\n", rows.len());
                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    addr
}

#[tokio::test]
async fn oversized_sources_are_refused_while_reading_and_the_old_version_is_kept() {
    use smb_engine::TextFormat;
    use smb_sources::{ContentRules, SetSource, VersionStore, update_set};
    let (addr, state) = exports().await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(SourcesSettings {
        base_dir: dir.path().to_path_buf(),
        ..csv_settings(addr)
    })
    .unwrap();
    let store = smb_store::SqliteStore::open(
        &format!("sqlite://{}", dir.path().join("smb.db").display()),
        smb_store::SqliteSettings::default(),
    )
    .await
    .unwrap();
    let set = SetSource {
        set: "b2b".into(),
        source: Source::Csv(format!("http://{addr}/switch.csv")),
        rules: ContentRules {
            format: TextFormat::Plain,
            media: false,
        },
    };
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    state.lock().unwrap().switch = "Сообщение,Статус\nПрайс v1,да\n".into();
    update_set(&fetcher, &store, &set, false, now)
        .await
        .unwrap();

    // 6 MB with its Content-Length: refused before the body is read.
    let mut big = "Сообщение,Статус\n".as_bytes().to_vec();
    while big.len() < 6_000_000 {
        big.extend_from_slice("Прайс на сегодня, опт и розница,да\n".as_bytes());
    }
    state.lock().unwrap().switch = big.clone();
    let err = update_set(&fetcher, &store, &set, false, now)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("larger than 5 MB")
            && err.to_string().contains("SOURCE_MAX_BYTES"),
        "{err}"
    );
    assert!(!err.is_transient());
    let (version, messages) = store.current("b2b").await.unwrap().unwrap();
    assert_eq!((version, messages[0].text.as_str()), (1, "Прайс v1"));

    // An endless chunked body: reading stops at the limit.
    let endless = endless_csv().await;
    let err = fetcher
        .fetch(&Source::Csv(format!("http://{endless}/prices.csv")))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");

    // The same for files; and too many rows.
    std::fs::write(dir.path().join("big.csv"), &big).unwrap();
    let err = fetcher
        .fetch(&Source::parse("big.csv").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    let few = Fetcher::new(SourcesSettings {
        max_rows: 3,
        ..csv_settings(addr)
    })
    .unwrap();
    state.lock().unwrap().switch = "a,да\nb,да\nc,да\nd,да\n".into();
    let err = few.fetch(&set.source).await.unwrap_err().to_string();
    assert!(
        err.contains("3 messages (4 read)") && err.contains("SOURCE_MAX_ROWS"),
        "{err}"
    );
}
