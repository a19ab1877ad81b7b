//! JSON batching: `POST /beta/$batch` runs each item as the same call made directly.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const REL_SET: &str = "/deviceManagement/virtualEndpoint/externalPartners";

async fn batch(s: &TestServer, token: &str, body: Value) -> reqwest::Response {
    s.post_json("/beta/$batch", token, &body).await
}

async fn responses(s: &TestServer, token: &str, body: Value) -> Vec<Value> {
    let res = batch(s, token, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["responses"].as_array().unwrap().clone()
}

fn by_id<'a>(rs: &'a [Value], id: &str) -> &'a Value {
    rs.iter().find(|r| r["id"] == id).unwrap()
}

#[tokio::test]
async fn a_batch_runs_each_item_as_a_direct_call() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let existing = s.create(&tok, Uuid::new_v4(), true).await;
    let id = existing["id"].as_str().unwrap();
    let etag = existing["@odata.etag"].as_str().unwrap();
    let rs = responses(
        &s,
        &tok,
        json!({"requests": [
            {"id": "create", "method": "POST", "url": REL_SET,
             "headers": {"Content-Type": "application/json"},
             "body": {"partnerId": Uuid::new_v4(), "enableConnection": false}},
            {"id": "list", "method": "GET", "dependsOn": ["create"],
             "url": format!("{}?$filter=enableConnection eq false&$select=id,enableConnection&$count=true&$top=1", REL_SET.trim_start_matches('/'))},
            {"id": "count", "method": "GET", "url": format!("{REL_SET}/$count"), "dependsOn": ["create"]},
            {"id": "patch", "method": "PATCH", "url": format!("{REL_SET}/{id}/"),
             "headers": {"content-type": "application/json", "If-Match": etag},
             "body": {"enableConnection": false}},
            // What else an item holds is ignored, as Graph ignores it (msgraph-core
            // for Python writes `depends_on`).
            {"id": "missing", "method": "GET", "url": format!("{REL_SET}/{}", Uuid::new_v4()),
             "depends_on": ["create"], "atomicityGroup": "g"},
        ]}),
    )
    .await;
    assert_eq!(
        rs.iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["create", "list", "count", "patch", "missing"]
    );
    let created = by_id(&rs, "create");
    assert_eq!(created["status"], 201);
    let location = created["headers"]["Location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/beta{REL_SET}/", s.origin)),
        "{location}"
    );
    assert!(created["headers"]["Content-Type"]
        .as_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(created["headers"]["ETag"].is_string());
    assert_eq!(created["body"]["enableConnection"], false);

    let list = by_id(&rs, "list");
    assert_eq!(list["status"], 200);
    assert_eq!(list["body"]["@odata.count"], 1);
    assert_eq!(list["body"]["value"].as_array().unwrap().len(), 1);

    // A non-JSON body comes back base64-encoded, as Graph sends binary bodies.
    let count = by_id(&rs, "count");
    assert_eq!(count["status"], 200);
    assert_eq!(count["body"], "Mg==", "base64 of 2");

    let patched = by_id(&rs, "patch");
    assert_eq!(patched["status"], 200, "{patched}");
    assert_eq!(patched["body"]["connectionStatus"], "notAvailable");

    let missing = by_id(&rs, "missing");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["body"]["error"]["code"], "ResourceNotFound");
    assert!(missing["body"]["error"]["innerError"]["request-id"].is_string());

    // The writes happened, as direct calls.
    assert_eq!(s.api(&tok).count(None).await, 2);
    assert_eq!(s.api(&tok).get(id).await["enableConnection"], false);
}

#[tokio::test]
async fn dependents_of_a_failed_request_get_424() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let rs = responses(
        &s,
        &tok,
        json!({"requests": [
            {"id": "1", "method": "POST", "url": REL_SET, "headers": {"Content-Type": "application/json"},
             "body": {"partnerId": "not a guid", "enableConnection": true}},
            {"id": "2", "method": "GET", "url": REL_SET, "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": REL_SET, "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": REL_SET},
        ]}),
    )
    .await;
    assert_eq!(by_id(&rs, "1")["status"], 400);
    assert_eq!(by_id(&rs, "1")["body"]["error"]["code"], "BadRequest");
    for id in ["2", "3"] {
        let r = by_id(&rs, id);
        assert_eq!(r["status"], 424, "{r}");
        assert_eq!(r["body"]["error"]["code"], "FailedDependency");
    }
    assert_eq!(by_id(&rs, "4")["status"], 200);
}

#[tokio::test]
async fn each_item_is_authorized_with_the_batch_token() {
    let s = test_server!();
    let reader = s.reader(TENANT_A);
    let rs = responses(
        &s,
        &reader,
        json!({"requests": [
            {"id": "read", "method": "GET", "url": REL_SET},
            {"id": "write", "method": "POST", "url": REL_SET, "headers": {"Content-Type": "application/json"},
             "body": {"partnerId": Uuid::new_v4(), "enableConnection": true}},
        ]}),
    )
    .await;
    assert_eq!(by_id(&rs, "read")["status"], 200);
    assert_eq!(by_id(&rs, "write")["status"], 403);
    assert_eq!(
        by_id(&rs, "write")["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
    // Another tenant's records stay invisible inside a batch too.
    let other = s.admin(TENANT_B);
    let theirs = s.create(&other, Uuid::new_v4(), true).await;
    let rs = responses(
        &s,
        &reader,
        json!({"requests": [{"id": "1", "method": "GET", "url": format!("{REL_SET}/{}", theirs["id"].as_str().unwrap())}]}),
    )
    .await;
    assert_eq!(rs[0]["status"], 404);
}

#[tokio::test]
async fn batch_items_count_against_throttling() {
    let s = test_server!(|c| {
        c.throttling.off = false;
        c.throttling.writes = 2;
    });
    let tok = s.admin(TENANT_A);
    let requests: Vec<Value> = (0..4)
        .map(|i| {
            json!({"id": i.to_string(), "method": "POST", "url": REL_SET,
            "headers": {"Content-Type": "application/json"},
            "body": {"partnerId": Uuid::new_v4(), "enableConnection": true}})
        })
        .collect();
    let rs = responses(&s, &tok, json!({ "requests": requests })).await;
    let statuses: Vec<u64> = rs.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 201, 429, 429]);
    assert!(rs[2]["headers"]["Retry-After"].is_string());
    assert_eq!(rs[2]["body"]["error"]["code"], "TooManyRequests");
}

#[tokio::test]
async fn an_invalid_envelope_is_a_400_for_the_whole_batch() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let item = |id: &str| json!({"id": id, "method": "GET", "url": REL_SET});
    let cases = [
        (json!({}), "no 'requests'"),
        (
            json!({"requests": (0..21).map(|i| item(&i.to_string())).collect::<Vec<_>>()}),
            "at most 20",
        ),
        (json!({"requests": [item("1"), item("1")]}), "unique"),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": REL_SET, "dependsOn": ["2"]}]}),
            "'2'",
        ),
        (
            json!({"requests": [
            {"id": "1", "method": "GET", "url": REL_SET, "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": REL_SET, "dependsOn": ["1"]}]}),
            "cycle",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v2/me"}]}),
            "relative",
        ),
        (
            json!({"requests": [{"id": "1", "method": "HEAD", "url": REL_SET}]}),
            "'HEAD'",
        ),
        (
            json!({"requests": [item("1")], "atomic": true}),
            "unknown property 'atomic'",
        ),
        (
            json!({"requests": [{"id": 1, "method": "GET", "url": REL_SET}]}),
            "'requests[0].id' must be a string, not a number",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": REL_SET, "headers": []}]}),
            "'requests[0].headers' must be an object, not an array",
        ),
    ];
    for (body, needle) in cases {
        let msg = error_message(
            batch(&s, &tok, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // Malformed JSON and a missing token are answered like any request's.
    let res = s
        .request(Method::POST, "/beta/$batch", &tok)
        .header("content-type", "application/json")
        .body("{\"requests\": [")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    let res = s
        .client
        .post(s.url("/beta/$batch"))
        .json(&json!({"requests": [item("1")]}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
    let res = s.get("/beta/$batch", &tok).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
}

/// Items run through the Graph routes alone: `$batch` itself, the partner API, the
/// dev API and the token endpoint are not there to reach, however the url is spelt.
#[tokio::test]
async fn batch_items_reach_only_the_graph_api() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let nested = json!({"requests": [{"id": "1", "method": "POST", "url": "/$batch"}]});
    let msg = error_message(
        batch(&s, &tok, nested).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("another batch"), "{msg}");
    let urls = [
        "/./$batch",
        "/x/../$batch",
        "/../beta/$batch",
        "/%2e%2e/beta/$batch",
        "/../partner/v1/heartbeat",
        "/../dev/v1/clock",
        "/../openapi.json",
        &format!("/../{TENANT_A}/oauth2/v2.0/token"),
    ];
    let requests: Vec<Value> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| json!({"id": i.to_string(), "method": "GET", "url": url}))
        .collect();
    let rs = responses(&s, &tok, json!({ "requests": requests })).await;
    for (i, url) in urls.iter().enumerate() {
        let r = by_id(&rs, &i.to_string());
        let status = r["status"].as_u64().unwrap();
        assert!(
            status == 400 || status == 404,
            "{url} was answered {status}: {r}"
        );
        let code = r["body"]["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "BadRequest" || code == "ResourceNotFound" || code == "NotFound",
            "{url}: {r}"
        );
    }
}

/// The largest batch (20 items, each the largest page: 999 connections) is held as
/// its answers' bytes: the server's peak memory grows by a small multiple of what it
/// sends, measured through /proc.
#[test]
fn the_largest_batch_stays_within_its_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    let connections: Vec<Value> = (0..999)
        .map(|_| json!({"partnerId": Uuid::new_v4(), "lastHeartbeat": "-10s"}))
        .collect();
    std::fs::write(
        &seed,
        json!({"tenants": [{"id": TENANT_A, "connections": connections}]}).to_string(),
    )
    .unwrap();
    let server = ServerProcess::spawn(dir.path(), &["--dev", "--seed", seed.to_str().unwrap()]);
    let token = token_from_cli(dir.path(), TENANT_A);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sent, before, after) = rt.block_on(async {
        let client = crate::support::http_client();
        let items: Vec<Value> = (0..20)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("{REL_SET}?$top=999")}))
            .collect();
        let call = || async {
            let res = client
                .post(format!("{}/beta/$batch", server.base))
                .bearer_auth(&token)
                .json(&json!({ "requests": items }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let v: Value = res.json().await.unwrap();
            for r in v["responses"].as_array().unwrap() {
                assert_eq!(r["status"], 200);
                assert_eq!(r["body"]["value"].as_array().unwrap().len(), 999);
            }
            v.to_string().len()
        };
        // The page once directly, to warm every cache and pool; then the batch.
        let page = client
            .get(format!("{}/beta{REL_SET}?$top=999", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let before = server.memory_mib();
        let sent = call().await;
        (sent, before, server.memory_mib())
    });
    let sent_mib = sent as f64 / (1 << 20) as f64;
    let growth = after.1 - before.1;
    println!(
        "a batch of 20 pages of 999: {sent_mib:.1} MiB sent; peak RSS {:.1} -> {:.1} MiB (+{growth:.1})",
        before.1, after.1
    );
    // Documented bound: the answers' bytes, the envelope and one item's page in
    // flight, within 4 times what is sent.
    assert!(
        growth < 4.0 * sent_mib + 8.0,
        "peak grew by {growth:.1} MiB"
    );
}
