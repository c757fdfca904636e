//! Regression tests for what schemathesis found when it ran against `/api/v1/openapi.json`
//! (issue 19): every answer the API gives is in the document, every request the document
//! allows is served, and every error — the HTTP server's own included — is `{code, message}`.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use smb_web::{SourceUpdate, SourceUpdater};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TOKEN, app, get, post, send};

fn spec() -> Value {
    serde_json::to_value(smb_web::api::openapi()).unwrap()
}

fn param<'a>(spec: &'a Value, path: &str, name: &str) -> &'a Value {
    spec["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

fn has_param(spec: &Value, path: &str, name: &str) -> bool {
    spec["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == name)
}

/// The schema of a parameter, with a `$ref` to a component followed.
fn schema_of(_spec: &Value, p: &Value) -> Value {
    p["schema"].clone()
}

/// The `enum` a schema allows, through `$ref`s and `oneOf`/`anyOf`/`allOf` (an optional value
/// is `oneOf: [null, $ref]`).
fn enum_of(spec: &Value, s: &Value) -> Value {
    if let Some(e) = s.get("enum") {
        return e.clone();
    }
    if let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return enum_of(spec, &spec["components"]["schemas"][name]);
    }
    for k in ["oneOf", "anyOf", "allOf"] {
        if let Some(a) = s[k].as_array() {
            for x in a {
                let e = enum_of(spec, x);
                if !e.is_null() {
                    return e;
                }
            }
        }
    }
    Value::Null
}

#[test]
fn undocumented_400_415_413_414_431_401_are_documented_everywhere_they_can_happen() {
    let v = spec();
    for (path, item) in v["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let r = &op["responses"];
            let has = |s: &str| {
                r[s]["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/ErrorBody"
            };
            for s in ["401", "414", "431"] {
                assert!(has(s), "{method} {path} lacks {s}");
            }
            let params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            let body = op.get("requestBody").is_some();
            if params || body {
                assert!(has("400"), "{method} {path} lacks 400");
            }
            if body {
                assert!(has("413") && has("415"), "{method} {path} lacks 413/415");
            }
            let in_path = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
            if in_path {
                assert!(has("404"), "{method} {path} lacks 404");
            }
        }
    }
}

#[tokio::test]
async fn undocumented_400_and_415_still_answer_json_with_their_status() {
    let a = app(Some(TOKEN), "127.0.0.1:0", None).await;
    let r = &a.router;
    get(r, "/api/v1/stats/rate?minutes=-1")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid");
    post(r, "/api/v1/test-send", Some(TOKEN), None)
        .await
        .error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let req = Request::post("/api/v1/test-send")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from("\0"))
        .unwrap();
    send(r, req).await.error(StatusCode::BAD_REQUEST, "invalid");
    let big = format!("{{\"target\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let req = Request::post("/api/v1/target-lists/prod/targets")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    send(r, req)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn page_beyond_int32_is_refused_and_the_document_says_so() {
    let v = spec();
    let page = schema_of(&v, param(&v, "/api/v1/deliveries", "page"));
    assert_eq!(page["minimum"], 1);
    assert_eq!(page["maximum"], 2_147_483_647);
    let per_page = schema_of(&v, param(&v, "/api/v1/deliveries", "per_page"));
    assert_eq!(
        (per_page["minimum"].clone(), per_page["maximum"].clone()),
        (json!(1), json!(500))
    );
    let minutes = schema_of(&v, param(&v, "/api/v1/stats/rate", "minutes"));
    assert_eq!(
        (minutes["minimum"].clone(), minutes["maximum"].clone()),
        (json!(1), json!(1440))
    );

    let a = app(Some(TOKEN), "127.0.0.1:0", None).await;
    let r = &a.router;
    get(r, "/api/v1/deliveries?page=2147483648")
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let last = get(r, "/api/v1/deliveries?page=2147483647&per_page=500")
        .await
        .json();
    assert_eq!(last["page"], 2_147_483_647);
    assert_eq!(last["items"], json!([]));
}

#[test]
fn ignored_format_and_pages_are_documented_only_where_they_are_used() {
    let v = spec();
    assert!(!has_param(&v, "/api/v1/deliveries", "format"));
    assert!(!has_param(&v, "/api/v1/deliveries/export", "page"));
    assert!(!has_param(&v, "/api/v1/deliveries/export", "per_page"));
    let format = param(&v, "/api/v1/deliveries/export", "format");
    assert_eq!(
        enum_of(&v, &format["schema"]),
        json!(["", "csv", "csv-excel", "json"]),
        "{format}"
    );
}

#[tokio::test]
async fn enums_missing_from_the_document_are_there_and_each_value_is_served() {
    let v = spec();
    let outcome = param(&v, "/api/v1/deliveries", "outcome");
    assert_eq!(
        enum_of(&v, &outcome["schema"]),
        json!(["", "pending", "sent", "failed", "deferred"]),
        "{outcome}"
    );
    let status = param(&v, "/api/v1/targets", "status");
    assert_eq!(
        enum_of(&v, &status["schema"]),
        json!(["active", "disabled"]),
        "{status}"
    );
    // Times: an RFC 3339 date-time or "" (an empty form field), nothing else.
    let time = &v["components"]["schemas"]["TimeFilter"]["oneOf"];
    assert_eq!(time[0]["format"], "date-time", "{time}");
    assert_eq!(time[1]["enum"], json!([""]), "{time}");
    for p in ["from", "to"] {
        assert_eq!(
            param(&v, "/api/v1/deliveries", p)["schema"]["$ref"],
            "#/components/schemas/TimeFilter"
        );
    }
    assert_eq!(
        param(&v, "/api/v1/stats", "since")["schema"]["$ref"],
        "#/components/schemas/TimeFilter"
    );

    let a = app(Some(TOKEN), "127.0.0.1:0", None).await;
    let r = &a.router;
    for o in ["", "pending", "sent", "failed", "deferred"] {
        let reply = get(r, &format!("/api/v1/deliveries?outcome={o}")).await;
        assert_eq!(reply.status, StatusCode::OK, "outcome={o}: {}", reply.body);
    }
    for f in ["", "csv", "json"] {
        let reply = get(r, &format!("/api/v1/deliveries/export?format={f}")).await;
        assert_eq!(reply.status, StatusCode::OK, "format={f}: {}", reply.body);
    }
    for st in ["active", "disabled"] {
        let reply = get(r, &format!("/api/v1/targets?status={st}")).await;
        assert_eq!(reply.status, StatusCode::OK, "status={st}: {}", reply.body);
    }
    // An unknown list is the documented 404.
    let listed = &v["paths"]["/api/v1/targets"]["get"]["responses"]["404"];
    assert!(listed.is_object());
    get(r, "/api/v1/targets?list=")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    // A blank that is not "" is not a time (it was taken as "no filter").
    for q in [
        "/api/v1/stats?since=%20",
        "/api/v1/deliveries?to=%20",
        "/api/v1/deliveries/export?from=%20",
    ] {
        get(r, q)
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    for q in ["/api/v1/stats?since=", "/api/v1/deliveries?to=&from="] {
        assert_eq!(get(r, q).await.status, StatusCode::OK, "{q}");
    }
    // A date-time the document allows (lower-case separators, an offset) is taken.
    let reply = get(r, "/api/v1/stats?since=2026-01-01t10:00:00%2B03:00").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn disable_with_a_null_body_is_the_documented_optional_reason() {
    let a = app(Some(TOKEN), "127.0.0.1:0", None).await;
    let r = &a.router;
    let t = post(
        r,
        "/api/v1/targets/@shop_one/disable",
        Some(TOKEN),
        Some(Value::Null),
    )
    .await
    .json();
    assert_eq!(t["status"], "disabled");
    assert_eq!(t["reason"], "disabled by the operator");
    let v = spec();
    let body = &v["components"]["schemas"]["DisableBody"]["properties"]["reason"];
    assert_eq!(body["maxLength"], 500, "{body}");
}

struct OnlyB2b;

#[async_trait]
impl SourceUpdater for OnlyB2b {
    async fn update(&self, set: &str) -> Option<Result<SourceUpdate, String>> {
        (set == "b2b").then(|| Err("the sheet answered 500".to_string()))
    }
}

#[tokio::test]
async fn a_set_without_a_source_is_a_conflict_not_a_server_error() {
    let a = app(Some(TOKEN), "127.0.0.1:0", Some(Arc::new(OnlyB2b))).await;
    let r = &a.router;
    post(r, "/api/v1/message-sets/gus/update", Some(TOKEN), None)
        .await
        .error(StatusCode::CONFLICT, "conflict");
    post(r, "/api/v1/message-sets/b2b/update", Some(TOKEN), None)
        .await
        .error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let v = spec();
    assert!(
        v["paths"]["/api/v1/message-sets/{name}/update"]["post"]["responses"]["409"].is_object()
    );
}

/// One raw request to a real server; the whole answer (the server closes after an error).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything; that is fine.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{text}"));
    let status: u16 = head[9..12].parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[tokio::test]
async fn uri_too_long_headers_too_large_and_bad_http_answer_json_not_an_empty_body() {
    let a = app(Some(TOKEN), "127.0.0.1:0", None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(smb_web::server::serve(
        listener,
        a.router.clone(),
        smb_web::ServerLimits::default(),
        "web",
        stop.clone(),
    ));

    let long = format!(
        "GET /api/v1/deliveries?broadcaster={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "b".repeat(70_000)
    );
    let (status, body) = raw(addr, long.as_bytes()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (414, json!("uri_too_long")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("request line"));

    let mut many = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (status, body) = raw(addr, many.as_bytes()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (431, json!("headers_too_large")),
        "{body}"
    );

    let huge = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "v".repeat(500_000)
    );
    let (status, body) = raw(addr, huge.as_bytes()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (431, json!("headers_too_large")),
        "{body}"
    );

    let (status, body) = raw(addr, b"NOT HTTP AT ALL\r\n\r\n").await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("invalid")),
        "{body}"
    );

    // An ordinary request on the same server is untouched.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("{\"status\":\"ok\"}"), "{out}");

    stop.cancel();
    let _ = server.await;
}

/// Every `$ref` in the document points at a component (the enums of query parameters were
/// referenced but not registered).
#[test]
fn every_reference_in_the_document_resolves() {
    fn walk(v: &Value, spec: &Value, bad: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.trim_start_matches("#/components/schemas/");
                    if spec["components"]["schemas"][name].is_null() {
                        bad.push(r.clone());
                    }
                }
                m.values().for_each(|x| walk(x, spec, bad));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, spec, bad)),
            _ => {}
        }
    }
    let v = spec();
    let mut bad = Vec::new();
    walk(&v, &v, &mut bad);
    assert!(bad.is_empty(), "{bad:?}");
}

/// JSON Schema's `integer` takes `2.0`; the test send's `message` was refused with 422.
#[test]
fn a_whole_number_written_with_a_fraction_is_a_valid_message_index() {
    use smb_web::api::test_send::TestSendRequest;
    let r: TestSendRequest =
        serde_json::from_str(r#"{"broadcaster": "b2b", "message": 2.0}"#).unwrap();
    assert_eq!(r.message, Some(2));
    let r: TestSendRequest = serde_json::from_str(r#"{"broadcaster": "b2b"}"#).unwrap();
    assert_eq!(r.message, None);
    for bad in ["2.5", "-1", "\"2\"", "1e300"] {
        let body = format!(r#"{{"broadcaster": "b2b", "message": {bad}}}"#);
        assert!(
            serde_json::from_str::<TestSendRequest>(&body).is_err(),
            "{bad}"
        );
    }
}
