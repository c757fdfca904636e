//! The OpenAPI document: it parses as OpenAPI 3.1, and the router and the document name the
//! same operations — every documented operation is routed, and every API route in the source
//! is registered through `utoipa_axum::routes!` with a `#[utoipa::path]`.

use std::collections::BTreeSet;

use crate::common::{TOKEN, app, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};

fn operations(spec: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_document_is_valid_openapi_3_1_with_errors_and_security() {
    let json = serde_json::to_string(&smb_web::api::openapi()).unwrap();
    let spec = oas3::from_json(&json).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(
        v["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in operations(&v) {
        let op = &v["paths"][&path][method.to_lowercase()];
        assert!(
            op["responses"]["200"].is_object() || op["responses"]["201"].is_object(),
            "{method} {path}"
        );
        if method == "POST" {
            assert!(
                op["security"].is_array(),
                "{method} {path} must declare the bearer token"
            );
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} must document 401"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let a = app(Some(TOKEN), "127.0.0.1:8080", None).await;
    let spec = serde_json::to_value(smb_web::api::openapi()).unwrap();
    let ops = operations(&spec);
    assert!(ops.len() >= 24, "{ops:?}");
    for (method, path) in &ops {
        let uri = path
            .replace("{name}", "b2b")
            .replace("{target}", "@shop_one")
            .replace("{list}", "prod")
            .replace("{version}", "1");
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let r = send(&a.router, req).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {}",
            r.body
        );
        assert!(
            !r.body.contains("nothing at"),
            "{method} {uri} is documented but not routed: {}",
            r.body
        );
    }
}

#[test]
fn every_api_route_in_the_source_is_documented() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("lib.rs")];
    for e in std::fs::read_dir(src.join("api")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut documented = BTreeSet::new();
    let mut registered = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let l = line.trim();
            // Plain axum routes would bypass the document: only pages and assets may use them.
            if l.starts_with(".route(\"") {
                let path = l.split('"').nth(1).unwrap();
                assert!(
                    !path.starts_with("/api") && path != "/healthz" && path != "/readyz",
                    "{path} in {f:?} is not documented"
                );
            }
            if l.starts_with(".routes(routes!(") {
                registered += 1;
            }
        }
        let mut rest = text.as_str();
        while let Some(i) = rest.find("#[utoipa::path(") {
            rest = &rest[i..];
            let p = rest.find("path = \"").map(|j| &rest[j + 8..]).unwrap();
            let method = rest["#[utoipa::path(".len()..]
                .split(',')
                .next()
                .unwrap()
                .trim()
                .to_uppercase();
            documented.insert((method, p[..p.find('"').unwrap()].to_string()));
            rest = &rest[1..];
        }
    }
    let spec = operations(&serde_json::to_value(smb_web::api::openapi()).unwrap());
    assert_eq!(
        documented, spec,
        "handlers with #[utoipa::path] vs the served document"
    );
    assert_eq!(
        registered,
        spec.len(),
        "every documented handler is registered with routes!()"
    );
}
