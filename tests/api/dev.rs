//! Development mode's controls: the service's clock and resets.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// Each body POSTed to `path` is a 400 `BadRequest` whose message names the problem.
async fn assert_refused<const N: usize>(
    s: &TestServer,
    path: &str,
    tok: &str,
    cases: [(Value, &str); N],
) {
    for (body, needle) in cases {
        let msg = error_message(
            s.post_json(path, tok, &body).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{path} {body}: {msg}");
    }
}

#[tokio::test]
async fn without_dev_mode_there_are_no_controls() {
    let s = test_server!();
    let res = s.get("/dev/v1/clock", &s.admin(TENANT_A)).await;
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
}

#[tokio::test]
async fn moving_the_clock_turns_healthy_unhealthy_without_waiting() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let partner = Uuid::new_v4();
    let id = s.create_id(&tok, partner, true).await;
    assert_eq!(
        s.heartbeat(&s.partner(TENANT_A, partner)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.api(&tok).get(&id).await["connectionStatus"], "healthy");

    let res = s
        .post_json("/dev/v1/clock", &tok, &json!({"advance": "6m"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["offsetSeconds"], 360.0);
    assert_eq!(s.api(&tok).get(&id).await["connectionStatus"], "unhealthy");
    let now: Value = s.get("/dev/v1/clock", &tok).await.json().await.unwrap();
    assert_eq!(now["now"], v["now"]);

    let res = s
        .post_json(
            "/dev/v1/clock",
            &tok,
            &json!({"set": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["now"], "2030-01-01T00:00:00Z");
    let res = s
        .post_json("/dev/v1/clock", &tok, &json!({"reset": true}))
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["offsetSeconds"], 0.0);

    assert_refused(
        &s,
        "/dev/v1/clock",
        &tok,
        [
            (json!({}), "exactly one"),
            (
                json!({"advance": "6m", "set": "2030-01-01T00:00:00Z"}),
                "exactly one",
            ),
            (json!({"advance": "soon"}), "'advance'"),
            (json!({"advance": 5}), "must be a string"),
            (json!({"set": "tomorrow"}), "'set'"),
            (json!({"reset": false}), "must be true"),
            (json!({"rewind": "1h"}), "'rewind'"),
        ],
    )
    .await;
    // The admin token's rule: partners and readers may not move it.
    let res = s
        .post_json(
            "/dev/v1/clock",
            &s.partner(TENANT_A, partner),
            &json!({"advance": "1m"}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "Forbidden").await;
    let res = s
        .post_json(
            "/dev/v1/clock",
            &s.reader(TENANT_A),
            &json!({"advance": "1m"}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    let res = s.client.get(s.url("/dev/v1/clock")).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
}

#[tokio::test]
async fn reset_clears_the_callers_tenant_or_everything() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    let (a, b) = (s.admin(TENANT_A), s.admin(TENANT_B));
    for _ in 0..2 {
        s.create(&a, Uuid::new_v4(), true).await;
    }
    s.create(&b, Uuid::new_v4(), true).await;
    let v: Value = s
        .post_json("/dev/v1/reset", &a, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["deleted"], 2);
    assert_eq!(s.api(&a).count(None).await, 0);
    assert_eq!(
        s.api(&b).count(None).await,
        1,
        "another tenant is untouched"
    );
    let res = s
        .post_json("/dev/v1/reset?scope=everything", &a, &json!({}))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    let v: Value = s
        .post_json("/dev/v1/reset?scope=all", &a, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["deleted"], 1);
    assert_eq!(s.api(&b).count(None).await, 0);
}

#[tokio::test]
async fn seeding_puts_connections_in_every_state() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let g = || Uuid::new_v4().to_string();
    let res = s
        .post_json(
            "/dev/v1/seed",
            &tok,
            &json!({"connections": [
                {"partnerId": g(), "status": "notAvailable"},
                {"partnerId": g(), "status": "available"},
                {"partnerId": g(), "status": "healthy"},
                {"partnerId": g(), "status": "unhealthy", "lastSync": "-2h"},
            ]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let pages = s
        .pages(&format!("{SET}?$orderby=connectionStatus"), &tok)
        .await;
    let statuses: Vec<&str> = pages[0]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["connectionStatus"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["notAvailable", "available", "healthy", "unhealthy"]
    );
    let unhealthy = &pages[0]["value"][3];
    assert!(unhealthy["lastSyncDateTime"].is_string());
    // Seeds are the token's tenant's only.
    assert_eq!(s.api(&s.admin(TENANT_B)).count(None).await, 0);
    // A mistake names the entry; a taken partnerId is a 409; nothing is stored.
    let msg = error_message(
        s.post_json(
            "/dev/v1/seed",
            &tok,
            &json!({"connections": [{"partnerId": g()}, {"partnerId": "x"}]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("connections[1]"), "{msg}");
    let taken = pages[0]["value"][0]["partnerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = s
        .post_json(
            "/dev/v1/seed",
            &tok,
            &json!({"connections": [{"partnerId": g()}, {"partnerId": taken}]}),
        )
        .await;
    let msg = error_message(res, StatusCode::CONFLICT, "Conflict").await;
    assert!(msg.contains(&taken), "{msg}");
    assert_eq!(s.api(&tok).count(None).await, 4);
}

#[test]
fn serve_seed_loads_a_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({"tenants": [
            {"id": TENANT_A, "connections": [{"partnerId": Uuid::new_v4(), "status": "unhealthy"}]},
            {"id": TENANT_B, "connections": [{"partnerId": Uuid::new_v4(), "lastHeartbeat": "-10s"}]},
        ]})
        .to_string(),
    )
    .unwrap();
    let server = ServerProcess::spawn(dir.path(), &["--dev", "--seed", seed.to_str().unwrap()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = crate::support::http_client();
        for (tenant, status) in [(TENANT_A, "unhealthy"), (TENANT_B, "healthy")] {
            let api = Api::new(
                client.clone(),
                &server.base,
                token_from_cli(dir.path(), tenant),
            );
            assert_eq!(api.list("").await["value"][0]["connectionStatus"], status);
        }
    });
    // Started again on the same data with the same file: what is there is kept, and
    // nothing is added twice.
    drop(server);
    let again = ServerProcess::spawn(dir.path(), &["--dev", "--seed", seed.to_str().unwrap()]);
    rt.block_on(async {
        let client = crate::support::http_client();
        for tenant in [TENANT_A, TENANT_B] {
            let api = Api::new(
                client.clone(),
                &again.base,
                token_from_cli(dir.path(), tenant),
            );
            assert_eq!(api.count(None).await, 1);
        }
    });
    drop(again);
    // A bad seed stops the start with a message that says where.
    std::fs::write(&seed, r#"{"tenants": [{"id": "x", "connections": []}]}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dev", "--seed"])
        .arg(&seed)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenants[0].id"));
}

/// Dev mode kept per tenant: one tenant's faults never touch another's requests, a
/// reset clears the tenant's faults, and the controls that reach past the token's
/// tenant need --dev-shared.
#[tokio::test]
async fn each_tenant_controls_only_its_own_stand_in() {
    let s = test_server!(|c| c.dev.enabled = true);
    let (a, b) = (s.admin(TENANT_A), s.admin(TENANT_B));
    let set = "/beta/deviceManagement/virtualEndpoint/externalPartners";
    let res = s
        .post_json(
            "/dev/v1/faults",
            &a,
            &json!({"scope": "all", "errorRate": 1, "errors": [503], "latencyMs": 300}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        s.get(set, &a).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    )
    .await;
    // B meets neither the errors nor the latency; a request without a token neither.
    let started = std::time::Instant::now();
    assert_eq!(s.get(set, &b).await.status(), StatusCode::OK);
    assert_ne!(
        s.heartbeat(&s.partner(TENANT_B, Uuid::new_v4()))
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
    assert_error(
        s.get(set, "").await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    let theirs: Value = s.get("/dev/v1/faults", &b).await.json().await.unwrap();
    assert_eq!(theirs["faults"], Value::Null);
    // A's reset clears A's faults.
    let res = s.post_json("/dev/v1/reset", &a, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.get(set, &a).await.status(), StatusCode::OK);

    // Reaching past the token's tenant is refused without --dev-shared.
    for (method, path) in [
        (Method::POST, "/dev/v1/reset?scope=all"),
        (Method::GET, "/dev/v1/journal?tenant=all"),
        (Method::DELETE, "/dev/v1/journal?tenant=all"),
    ] {
        let res = s.request(method, path, &a).send().await.unwrap();
        let msg = error_message(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
        assert!(msg.contains("--dev-shared"), "{path}: {msg}");
    }
    let other = format!("/dev/v1/journal?tenant={TENANT_B}");
    let res = s.get(&other, &a).await;
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    let own = format!("/dev/v1/journal?tenant={TENANT_A}");
    assert_eq!(s.get(&own, &a).await.status(), StatusCode::OK);
}

/// Faults given at start meet every request in their scope, with a token or not.
#[tokio::test]
async fn start_faults_meet_every_request() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.faults = Some(r#"{"errorRate": 1, "errors": [500]}"#.into());
    });
    let set = "/beta/deviceManagement/virtualEndpoint/externalPartners";
    for tok in [s.admin(TENANT_A), s.admin(TENANT_B), String::new()] {
        assert_error(
            s.get(set, &tok).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
        )
        .await;
    }
    let v: Value = s
        .get("/dev/v1/faults", &s.admin(TENANT_A))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["startFaults"]["errors"], json!([500]));
}

#[tokio::test]
async fn faults_answer_graph_requests_with_retryable_errors_until_cleared() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let set = "/beta/deviceManagement/virtualEndpoint/externalPartners";
    let none: Value = s.get("/dev/v1/faults", &tok).await.json().await.unwrap();
    assert_eq!(none["faults"], Value::Null);

    let res = s
        .post_json(
            "/dev/v1/faults",
            &tok,
            &json!({"errorRate": 1, "errors": [429], "retryAfterSeconds": 7}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["faults"]["scope"], "graph");
    assert_eq!(v["faults"]["errors"], json!([429]));

    let res = s.get(set, &tok).await;
    assert_eq!(res.headers()["retry-after"], "7");
    let msg = error_message(res, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    assert!(msg.contains("/dev/v1/faults"), "{msg}");
    // The partner API is out of the default scope, and the controls and probes
    // are never faulted.
    let partner = s.partner(TENANT_A, Uuid::new_v4());
    assert_ne!(
        s.heartbeat(&partner).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(s.get("/healthz", &tok).await.status(), StatusCode::OK);

    let res = s
        .post_json(
            "/dev/v1/faults",
            &tok,
            &json!({"scope": "all", "errorRate": 1, "errors": [504]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        s.heartbeat(&partner).await,
        StatusCode::GATEWAY_TIMEOUT,
        "GatewayTimeout",
    )
    .await;

    // A dropped connection: no answer at all, and the journal says so.
    let res = s
        .post_json("/dev/v1/faults", &tok, &json!({"dropRate": 1}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent = s.request(Method::GET, set, &tok).send().await;
    assert!(sent.is_err(), "{sent:?}");
    let journal: Value = s
        .get("/dev/v1/journal?top=1", &tok)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(journal["value"][0]["dropped"], true);
    assert_eq!(journal["value"][0]["status"], Value::Null);

    let res = s
        .request(Method::DELETE, "/dev/v1/faults", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get(set, &tok).await.status(), StatusCode::OK);

    assert_refused(
        &s,
        "/dev/v1/faults",
        &tok,
        [
            (json!({}), "nothing to inject"),
            (json!({"errorRate": 1.5}), "0 to 1"),
            (json!({"dropRate": -1}), "dropRate"),
            (json!({"errorRate": 0.6, "dropRate": 0.6}), "together"),
            (json!({"errorRate": 1, "errors": [404]}), "429, 500"),
            (json!({"latencyMs": [50, 10]}), "range"),
            (json!({"errorRate": 1, "scope": "moon"}), "scope"),
            (json!({"errorRate": 1, "shape": "x"}), "'shape'"),
        ],
    )
    .await;
    let res = s
        .request(Method::PUT, "/dev/v1/faults", &tok)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    let res = s
        .post_json(
            "/dev/v1/faults",
            &s.reader(TENANT_A),
            &json!({"errorRate": 1}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
}

#[tokio::test]
async fn the_journal_shows_what_a_partner_sent_to_its_own_tenant() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    let tok = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    s.create_id(&tok, partner_id, true).await;
    let partner = s.partner(TENANT_A, partner_id);
    let res = s
        .request(Method::POST, "/partner/v1/heartbeat", &partner)
        .header("client-request-id", "hb-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let synced = json!({"syncDateTime": "2026-11-23T09:30:00Z"});
    assert_eq!(
        s.sync(&partner, Some(synced.clone())).await.status(),
        StatusCode::NO_CONTENT
    );
    // Someone without a token: no tenant can be told for it.
    let res = s
        .client
        .post(s.url("/partner/v1/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let journal = |query: &'static str, token: String| {
        let s = &s;
        async move {
            let res = s.get(&format!("/dev/v1/journal{query}"), &token).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            let v: Value = res.json().await.unwrap();
            v["value"].as_array().unwrap().clone()
        }
    };
    let sent = journal("?path=/partner/*", tok.clone()).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["path"], "/partner/v1/heartbeat");
    assert_eq!(sent[0]["status"], 204);
    assert_eq!(sent[0]["callerKind"], "partner");
    assert_eq!(sent[0]["partnerId"], partner_id.to_string());
    assert_eq!(sent[0]["clientRequestId"], "hb-1");
    assert_eq!(sent[0]["tenantId"], TENANT_A.to_string());
    assert_eq!(sent[1]["path"], "/partner/v1/sync");
    assert_eq!(sent[1]["body"], synced);
    assert!(sent[1]["sequence"].as_u64() > sent[0]["sequence"].as_u64());
    // Graph writes keep their bodies too, reads do not.
    let creates = journal("?method=POST&path=/beta/*", tok.clone()).await;
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["status"], 201);
    assert_eq!(creates[0]["body"]["partnerId"], partner_id.to_string());

    // Tenants are kept apart unless every tenant is asked for.
    assert!(journal("", s.admin(TENANT_B)).await.is_empty());
    let refused = journal("?tenant=all&status=4xx", s.admin(TENANT_B)).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["callerKind"], "unauthenticated");
    assert_eq!(refused[0]["tenantId"], Value::Null);
    assert_eq!(journal("?since=-1h&top=1", tok.clone()).await.len(), 1);
    // The dev API's own requests are not journaled.
    assert!(journal("?path=/dev/*&tenant=all", tok.clone())
        .await
        .is_empty());

    let res = s
        .request(Method::DELETE, "/dev/v1/journal", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(journal("", tok.clone()).await.is_empty());
    assert_eq!(journal("?tenant=all", tok.clone()).await.len(), 1);

    for (query, needle) in [
        ("?tenant=someone", "tenant"),
        ("?status=2zz", "status"),
        ("?since=yesterday", "since"),
        ("?path=partner", "must start with"),
        ("?top=0", "top"),
    ] {
        let msg = error_message(
            s.get(&format!("/dev/v1/journal{query}"), &tok).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{query}: {msg}");
    }
    let res = s
        .request(Method::POST, "/dev/v1/journal", &tok)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
}

#[tokio::test]
async fn simulated_partners_keep_health_moving_with_the_clock() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let api = s.api(&tok);
    let (stopping, flapping) = (Uuid::new_v4(), Uuid::new_v4());
    let stopping_id = s.create_id(&tok, stopping, true).await;
    let flapping_id = s.create_id(&tok, flapping, true).await;
    let advance = |by: &'static str| {
        let s = &s;
        let tok = tok.clone();
        async move {
            let res = s
                .post_json("/dev/v1/clock", &tok, &json!({"advance": by}))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };

    let res = s
        .post_json(
            "/dev/v1/partners",
            &tok,
            &json!({"partnerId": stopping, "pattern": "stopping", "after": "10m", "syncEvery": "5m"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sim: Value = res.json().await.unwrap();
    assert_eq!(
        (sim["heartbeats"].as_u64(), sim["syncs"].as_u64()),
        (Some(1), Some(1))
    );
    let conn = api.get(&stopping_id).await;
    assert_eq!(conn["connectionStatus"], "healthy");
    assert!(conn["lastSyncDateTime"].is_string(), "{conn}");

    advance("4m").await;
    assert_eq!(api.get(&stopping_id).await["connectionStatus"], "healthy");
    advance("8m").await; // 12 minutes in: stopped at 10, last heartbeat at 4.
    assert_eq!(api.get(&stopping_id).await["connectionStatus"], "unhealthy");

    let res = s
        .post_json(
            "/dev/v1/partners",
            &tok,
            &json!({"partnerId": flapping, "pattern": "flapping", "period": "10m"}),
        )
        .await;
    let flap: Value = res.json().await.unwrap();
    assert_eq!(api.get(&flapping_id).await["connectionStatus"], "healthy");
    advance("10m").await;
    assert_eq!(api.get(&flapping_id).await["connectionStatus"], "unhealthy");
    advance("10m").await;
    assert_eq!(api.get(&flapping_id).await["connectionStatus"], "healthy");

    let listed: Value = s.get("/dev/v1/partners", &tok).await.json().await.unwrap();
    assert_eq!(listed["value"].as_array().unwrap().len(), 2);
    let one: Value = s
        .get(
            &format!("/dev/v1/partners/{}", flap["id"].as_str().unwrap()),
            &tok,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["pattern"], "flapping");
    assert_eq!(one["periodSeconds"], 600);
    assert_eq!(one["up"], true);

    // Tenants are kept apart.
    let other = s.admin(TENANT_B);
    let theirs: Value = s
        .get("/dev/v1/partners", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["value"], json!([]));
    let flap_path = format!("/dev/v1/partners/{}", flap["id"].as_str().unwrap());
    let res = s
        .request(Method::DELETE, &flap_path, &other)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;

    // Bad input.
    let res = s
        .post_json("/dev/v1/partners", &tok, &json!({"partnerId": flapping}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "Conflict").await;
    let msg = error_message(
        s.post_json(
            "/dev/v1/partners",
            &tok,
            &json!({"partnerId": Uuid::new_v4()}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("Create and enable"), "{msg}");
    assert_refused(
        &s,
        "/dev/v1/partners",
        &tok,
        [
            (json!({}), "partnerId"),
            (
                json!({"partnerId": flapping, "pattern": "sleepy"}),
                "sleepy",
            ),
            (
                json!({"partnerId": flapping, "pattern": "stopping"}),
                "'after'",
            ),
            (
                json!({"partnerId": flapping, "syncEvery": "soon"}),
                "syncEvery",
            ),
        ],
    )
    .await;
    let res = s.get("/dev/v1/partners/not-a-guid", &tok).await;
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    let res = s
        .request(Method::PUT, "/dev/v1/partners", &tok)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;

    let res = s
        .request(Method::DELETE, &flap_path, &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = s
        .request(Method::DELETE, &flap_path, &tok)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    // A reset stops the tenant's simulations with its connections.
    let res = s.post_json("/dev/v1/reset", &tok, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let listed: Value = s.get("/dev/v1/partners", &tok).await.json().await.unwrap();
    assert_eq!(listed["value"], json!([]));
}

#[tokio::test]
async fn the_token_endpoint_mints_tokens_the_graph_api_accepts() {
    let s = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    let tenant = TENANT_A;
    let config: Value = s
        .client
        .get(s.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_url = config["token_endpoint"].as_str().unwrap().to_owned();
    assert_eq!(token_url, s.url(&format!("/{tenant}/oauth2/v2.0/token")));
    let request = |form: &[(&str, &str)]| s.client.post(&token_url).form(form).send();
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", "my-admin-tool"),
        ("client_secret", "anything"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let res = request(&ok).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let minted: Value = res.json().await.unwrap();
    assert_eq!(minted["token_type"], "Bearer");
    let token = minted["access_token"].as_str().unwrap();
    let res = s
        .get(
            "/beta/deviceManagement/virtualEndpoint/externalPartners",
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let without = |key: &str| -> Vec<(&str, &str)> {
        ok.iter().copied().filter(|(k, _)| *k != key).collect()
    };
    for (form, status, error) in [
        (
            without("client_secret"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            without("client_id"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (without("scope"), StatusCode::BAD_REQUEST, "invalid_scope"),
        (
            vec![("grant_type", "password"), ("client_id", "x")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
    ] {
        let res = request(&form).await.unwrap();
        assert_eq!(res.status(), status, "{form:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS"));
    }
    // A tenant may be named by a domain: it stands for one stable GUID.
    let res = request_at(&s, "/contoso.onmicrosoft.com/oauth2/v2.0/token", &ok).await;
    assert_eq!(res.status(), StatusCode::OK);
    let minted: Value = res.json().await.unwrap();
    let named = cloudpc_partners::auth::tenant_for_domain("contoso.onmicrosoft.com");
    let token = minted["access_token"].as_str().unwrap();
    let created = s.api(token).create(uuid::Uuid::new_v4(), true).await;
    assert!(created["id"].is_string());
    assert_eq!(
        s.api(&s.admin(named)).count(None).await,
        1,
        "the domain's tenant is the GUID tenant_for_domain gives"
    );
    // Client credentials need one tenant, as in Entra; a name that is no domain is refused.
    for (path, code) in [
        ("/common/oauth2/v2.0/token", 50059),
        ("/organizations/oauth2/v2.0/token", 50059),
        ("/contoso/oauth2/v2.0/token", 900023),
    ] {
        let res = request_at(&s, path, &ok).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
        assert_eq!(body["error_codes"], json!([code]), "{path}");
    }
    // Client secrets never reach the journal.
    let journal: Value = s
        .get(
            "/dev/v1/journal?path=*/oauth2/*&tenant=all",
            &s.admin(TENANT_A),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = journal["value"].as_array().unwrap();
    assert_eq!(entries.len(), 9);
    assert!(entries.iter().all(|e| e["body"].is_null()));
}

async fn request_at(s: &TestServer, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    s.client.post(s.url(path)).form(form).send().await.unwrap()
}

/// Older libraries' v1 endpoint (`resource=`), and MSAL's instance discovery.
#[tokio::test]
async fn the_v1_endpoint_and_instance_discovery_answer_as_entra_does() {
    let s = test_server!(|c| c.dev.enabled = true);
    let v1 = [
        ("grant_type", "client_credentials"),
        ("client_id", "old-tool"),
        ("client_secret", "anything"),
        ("resource", "https://graph.microsoft.com"),
    ];
    let res = request_at(&s, &format!("/{TENANT_A}/oauth2/token"), &v1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let minted: Value = res.json().await.unwrap();
    // v1 answers its numbers as strings.
    assert_eq!(minted["expires_in"], "3599");
    assert!(minted["expires_on"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert_eq!(minted["resource"], "https://graph.microsoft.com");
    let token = minted["access_token"].as_str().unwrap();
    let res = s
        .get(
            "/beta/deviceManagement/virtualEndpoint/externalPartners",
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let without_resource: Vec<_> = v1
        .iter()
        .copied()
        .filter(|(k, _)| *k != "resource")
        .collect();
    let res = request_at(&s, &format!("/{TENANT_A}/oauth2/token"), &without_resource).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("'resource'"));

    let v1_config: Value = s
        .client
        .get(s.url(&format!("/{TENANT_A}/.well-known/openid-configuration")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1_config["issuer"],
        format!("https://sts.windows.net/{TENANT_A}/")
    );
    assert_eq!(
        v1_config["token_endpoint"],
        s.url(&format!("/{TENANT_A}/oauth2/token"))
    );
    let common: Value = s
        .client
        .get(s.url("/common/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(common["issuer"], s.url("/{tenantid}/v2.0"));

    let discovery = s
        .client
        .get(s.url("/common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                &format!("https://login.microsoftonline.com/{TENANT_A}/oauth2/v2.0/authorize"),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);
    let discovery: Value = discovery.json().await.unwrap();
    assert_eq!(
        discovery["tenant_discovery_endpoint"],
        s.url(&format!(
            "/{TENANT_A}/v2.0/.well-known/openid-configuration"
        ))
    );
    let host = s.origin.trim_start_matches("http://");
    assert_eq!(discovery["metadata"][0]["preferred_network"], host);
    let res = s
        .client
        .get(s.url("/common/discovery/instance?api-version=1.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn without_dev_mode_there_is_no_token_endpoint() {
    let s = test_server!();
    let res = s
        .client
        .post(s.url(&format!("/{TENANT_A}/oauth2/v2.0/token")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
}

/// Dev mode hands whoever reaches it the clock, faults, journal and tokens: it is
/// refused on a non-loopback address unless a flag says so.
#[tokio::test]
async fn dev_mode_refuses_a_non_loopback_address_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cloudpc_partners::config::ServeConfig::for_data_dir(dir.path());
    config.in_memory = true;
    config.dev.enabled = true;
    config.listen = "0.0.0.0:0".into();
    let clock = std::sync::Arc::new(cloudpc_partners::clock::SystemClock);
    let err = match cloudpc_partners::start(&config, clock.clone()).await {
        Ok(_) => panic!("dev mode started on 0.0.0.0 without --dev-allow-remote"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("--dev-allow-remote"), "{err}");
    config.dev.dev_allow_remote = true;
    let server = cloudpc_partners::start(&config, clock).await.unwrap();
    server.shutdown().await.unwrap();
}

/// A heartbeat answered 204 shows in the next read, even with the dev clock moved
/// back before the connection was enabled.
#[tokio::test]
async fn a_heartbeat_shows_whatever_the_dev_clock_says() {
    let s = test_server!(|c| c.dev.enabled = true);
    let tok = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let created = s.create(&tok, partner_id, true).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let res = s
        .post_json("/dev/v1/clock", &tok, &json!({"advance": "-2h"}))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "advance takes no sign"
    );
    let res = s
        .post_json(
            "/dev/v1/clock",
            &tok,
            &json!({"set": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let got = s.api(&tok).get(&id).await;
    assert_eq!(got["connectionStatus"], "healthy", "{got}");
}

/// A tenant is bound to the first client secret its token is asked for with, so
/// tests sharing a stand-in cannot take each other's tenants; `--dev-shared` lifts it.
#[tokio::test]
async fn a_tenant_is_bound_to_its_first_client_secret() {
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "some-app"),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]
    };
    let tenant = Uuid::new_v4();
    let path = format!("/{tenant}/oauth2/v2.0/token");
    let s = test_server!(|c| c.dev.enabled = true);
    assert_eq!(
        request_at(&s, &path, &form("mine")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        request_at(&s, &path, &form("mine")).await.status(),
        StatusCode::OK
    );
    let res = request_at(&s, &path, &form("theirs")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    let v1 = format!("/{tenant}/oauth2/token");
    let mut v1_form = form("theirs");
    v1_form[3] = ("resource", "https://graph.microsoft.com");
    assert_eq!(
        request_at(&s, &v1, &v1_form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let other = format!("/{}/oauth2/v2.0/token", Uuid::new_v4());
    assert_eq!(
        request_at(&s, &other, &form("theirs")).await.status(),
        StatusCode::OK
    );

    let shared = test_server!(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
    });
    for secret in ["mine", "theirs"] {
        assert_eq!(
            request_at(&shared, &path, &form(secret)).await.status(),
            StatusCode::OK
        );
    }
}
