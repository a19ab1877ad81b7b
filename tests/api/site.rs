//! The status page and the OpenAPI document, as served: what a browser and a tool
//! get before they hold any token. (The page's behaviour is driven in Chromium by
//! `tests/browser`; the document is held to the live server by `tests/openapi`.)

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn the_page_is_served_without_a_token_and_locked_to_its_own_origin() {
    let s = test_server!();
    let res = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("data-dev=\"false\""));
    assert!(html.contains("href=\"/openapi.json\""));
    // Nothing of any tenant is in the page itself: it asks the APIs with a token.
    assert!(!html.contains("externalPartners\""));
    for (path, kind) in [
        ("/status/app.js", "text/javascript"),
        ("/status/app.css", "text/css"),
    ] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
}

#[tokio::test]
async fn the_page_knows_when_the_stand_in_controls_are_on() {
    let s = test_server!(|c| c.dev.enabled = true);
    let html = s.text("/").await;
    assert!(html.contains("data-dev=\"true\""));
}

#[tokio::test]
async fn other_methods_on_the_page_are_405() {
    let s = test_server!();
    for path in ["/", "/openapi.json", "/status/app.js"] {
        let res = s.client.post(s.url(path)).send().await.unwrap();
        assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    }
}

async fn document(s: &TestServer) -> Value {
    let res = s.client.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_document_describes_what_this_process_serves() {
    let s = test_server!();
    let doc = document(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], s.origin.as_str());
    let paths = doc["paths"].as_object().unwrap();
    let set = "/beta/deviceManagement/virtualEndpoint/externalPartners";
    for path in [
        set.to_owned(),
        format!("{set}/$count"),
        format!("{set}/{{id}}"),
        format!("{set}/{{id}}/deployAgent"),
        "/beta/$batch".into(),
        "/partner/v1/heartbeat".into(),
        "/partner/v1/deployments/{activityId}/results".into(),
    ] {
        assert!(paths.contains_key(&path), "{path}");
    }
    assert!(
        !paths.keys().any(|p| p.starts_with("/dev/")),
        "no dev API without --dev"
    );
    // Both views, from the description: the old one says status, the new one
    // connectionStatus, and the old one is marked deprecated.
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["microsoft.graph.cloudPcExternalPartner"]["properties"]["connectionStatus"]
            .is_object()
    );
    assert!(
        schemas["microsoft.graph.cloudPcExternalPartnerSetting"]["properties"]["status"]
            .is_object()
    );
    assert_eq!(
        doc["paths"]["/beta/deviceManagement/virtualEndpoint/externalPartnerSettings"]["get"]
            ["deprecated"],
        true
    );
    assert_eq!(
        schemas["microsoft.graph.cloudPcExternalPartnerStatus"]["enum"],
        serde_json::json!(["notAvailable", "available", "healthy", "unhealthy"])
    );
    let list = &doc["paths"][set]["get"];
    let options: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for o in [
        "$filter",
        "$select",
        "$orderby",
        "$top",
        "$skip",
        "$skiptoken",
        "$count",
    ] {
        assert!(options.contains(&o), "{o}");
    }
    assert_eq!(
        list["responses"]["401"]["$ref"],
        "#/components/responses/Error401"
    );
}

#[tokio::test]
async fn without_the_old_view_the_document_leaves_it_out() {
    let s = test_server!(|c| c.no_legacy_settings = true);
    let doc = document(&s).await;
    assert!(doc["paths"]
        .get("/beta/deviceManagement/virtualEndpoint/externalPartnerSettings")
        .is_none());
    assert!(doc["components"]["schemas"]
        .get("microsoft.graph.cloudPcExternalPartnerSetting")
        .is_none());
}

#[tokio::test]
async fn in_dev_mode_the_document_adds_the_controls() {
    let s = test_server!(|c| c.dev.enabled = true);
    let doc = document(&s).await;
    for path in [
        "/dev/v1/clock",
        "/dev/v1/faults",
        "/dev/v1/journal",
        "/{tenant}/oauth2/v2.0/token",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

#[tokio::test]
async fn a_query_string_the_dev_api_cannot_read_is_graphs_400() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    let tok = s.admin(TENANT_A);
    for path in [
        "/dev/v1/journal?top=1&top=2",
        "/dev/v1/reset?scope=all&scope=all",
    ] {
        let method = if path.contains("reset") {
            Method::POST
        } else {
            Method::GET
        };
        let res = s.request(method, path, &tok).send().await.unwrap();
        let msg = error_message(res, StatusCode::BAD_REQUEST, "BadRequest").await;
        assert!(msg.contains("duplicate field"), "{path}: {msg}");
    }
}

#[tokio::test]
async fn the_page_and_the_document_stay_out_of_the_journal() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    let tok = s.admin(TENANT_A);
    for path in ["/", "/openapi.json", "/status/app.js"] {
        s.client.get(s.url(path)).send().await.unwrap();
    }
    let journal: Value = s
        .get("/dev/v1/journal?tenant=all", &tok)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(journal["value"], serde_json::json!([]), "{journal}");
}

/// The document of a server with every switch on, as a snapshot holds it: the
/// origin and version, which change with the run and the release, left out.
async fn full_document() -> Option<(TestServer, Value)> {
    let s = TestServer::start_with(|c| c.dev.enabled = true).await?;
    let mut doc = document(&s).await;
    doc["servers"][0]["url"] = "ORIGIN".into();
    doc["info"]["version"] = "VERSION".into();
    Some((s, doc))
}

/// A path of the document with its parameters filled in.
fn concrete(path: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    path.replace("{id}", &id)
        .replace("{activityId}", &id)
        .replace("{tenant}", &TENANT_A.to_string())
        .replace("{kid}", "no-such-key")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let Some((s, doc)) = full_document().await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 30, "{}", paths.len());
    for (path, item) in paths {
        let url = concrete(path);
        let methods: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for m in &methods {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let res = s.request(method, &url, &tok).send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            // Routed: neither the method's 405 nor the answer for an unknown path
            // (what the operation itself says of its input may be any error).
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}: {body}");
            assert!(
                !body.contains("Resource not found for the segment")
                    && !body.contains("No resource at"),
                "{m} {path}: {status} {body}"
            );
        }
        // Any other method: 405, with the documented methods as the Allow list.
        let res = s.request(Method::PUT, &url, &tok).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "PUT {path}");
        let mut allow: Vec<String> = res.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        let mut documented = methods.clone();
        allow.sort();
        documented.sort();
        assert_eq!(allow, documented, "Allow of {path}");
    }
}

#[tokio::test]
async fn every_reference_resolves_and_every_operation_id_is_unique() {
    let Some((_s, doc)) = full_document().await else {
        return;
    };
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for r in found {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "{ids:?}");
    // Every tag an operation names is listed, and only those.
    let listed: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut named: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["tags"][0].as_str().unwrap())
        .collect();
    named.sort();
    named.dedup();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(named, listed_sorted);
}

/// The document as committed in `tests/api/openapi.snapshot.json`. A change to it is
/// a change to the API's contract: review the diff, then write the new one with
/// `UPDATE_SNAPSHOTS=1 cargo test --test api openapi`.
#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let Some((_s, doc)) = full_document().await else {
        return;
    };
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.snapshot.json");
    let now = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    if pinned != now {
        let first = pinned
            .lines()
            .zip(now.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(pinned.lines().count().min(now.lines().count()));
        panic!(
            "the OpenAPI document differs from {} from line {}:\n  pinned: {}\n  served: {}\nIf the change is meant, write the new one with UPDATE_SNAPSHOTS=1 cargo test --test api openapi",
            path.display(),
            first + 1,
            pinned.lines().nth(first).unwrap_or("(end)"),
            now.lines().nth(first).unwrap_or("(end)"),
        );
    }
}
