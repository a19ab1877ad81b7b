//! The Graph surface: create, list, get, update, delete, $count, both views, $metadata,
//! representations and headers.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const SEED_PARTNER: &str = "198d7140-80bb-4843-8cc4-811377a49a92";

#[tokio::test]
async fn create_returns_the_seed_shape_with_location() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let res = s
        .post_json(
            SET,
            &tok,
            &json!({
                "@odata.type": "#microsoft.graph.cloudPcExternalPartner",
                "partnerId": SEED_PARTNER,
                "enableConnection": true
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["odata-version"], "4.0");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json;odata.metadata=minimal"));
    let body: Value = res.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "@odata.type",
            "@odata.etag",
            "id",
            "partnerId",
            "enableConnection",
            "lastSyncDateTime",
            "connectionStatus",
            "statusDetails",
            "agentSetting"
        ]
    );
    // No agent until configureAgent sets one.
    assert_eq!(body["agentSetting"], Value::Null);
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/beta/$metadata#deviceManagement/virtualEndpoint/externalPartners/$entity",
            s.origin
        )
    );
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.cloudPcExternalPartner"
    );
    assert_eq!(body["partnerId"], SEED_PARTNER);
    assert_eq!(body["enableConnection"], true);
    assert_eq!(body["lastSyncDateTime"], Value::Null);
    assert_eq!(body["connectionStatus"], "available");
    assert!(body["statusDetails"]
        .as_str()
        .unwrap()
        .contains("available"));
    let id = body["id"].as_str().unwrap();
    assert!(Uuid::try_parse(id).is_ok());
    assert_eq!(location, format!("{}{SET}/{id}", s.origin));

    // The Location can be read back.
    let got: Value = s
        .client
        .get(&location)
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, body);
}

#[tokio::test]
async fn disabled_connection_is_not_available() {
    let s = test_server!();
    let body = s.create(&s.admin(TENANT_A), Uuid::new_v4(), false).await;
    assert_eq!(body["connectionStatus"], "notAvailable");
    assert!(body["statusDetails"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn list_get_patch_delete_round_trip() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let a = s.create(&tok, Uuid::new_v4(), true).await;
    s.advance(chrono::Duration::seconds(1));
    let b = s.create(&tok, Uuid::new_v4(), false).await;

    let list: Value = s.get(SET, &tok).await.json().await.unwrap();
    assert_eq!(
        list["@odata.context"],
        format!(
            "{}/beta/$metadata#deviceManagement/virtualEndpoint/externalPartners",
            s.origin
        )
    );
    let ids: Vec<&Value> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert_eq!(ids, [&a["id"], &b["id"]], "creation order by default");
    assert!(list.get("@odata.nextLink").is_none());
    assert!(list.get("@odata.count").is_none());
    for item in list["value"].as_array().unwrap() {
        assert_eq!(
            item["@odata.type"],
            "#microsoft.graph.cloudPcExternalPartner"
        );
        assert!(item.get("@odata.context").is_none());
    }

    let path = format!("{SET}/{}", b["id"].as_str().unwrap());
    let res = s
        .patch_json(&path, &tok, &json!({"enableConnection": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["enableConnection"], true);
    assert_eq!(patched["connectionStatus"], "available");
    assert_eq!(patched["id"], b["id"]);
    assert_eq!(patched["partnerId"], b["partnerId"]);

    let got: Value = s.get(&path, &tok).await.json().await.unwrap();
    assert_eq!(got, patched);

    let res = s.request(Method::DELETE, &path, &tok).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        s.get(&path, &tok).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    let res = s.request(Method::DELETE, &path, &tok).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
}

#[tokio::test]
async fn count_endpoint_is_plain_text_and_filters() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    for enabled in [true, true, false] {
        s.create(&tok, Uuid::new_v4(), enabled).await;
    }
    let res = s.get(&format!("{SET}/$count"), &tok).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(res.text().await.unwrap(), "3");
    let res = s
        .get(
            &format!("{SET}/$count?$filter=enableConnection eq false"),
            &tok,
        )
        .await;
    assert_eq!(res.text().await.unwrap(), "1");
    let res = s
        .get(
            &format!("{SETTINGS}/$count?$filter=status eq 'available'"),
            &tok,
        )
        .await;
    assert_eq!(res.text().await.unwrap(), "2");
}

#[tokio::test]
async fn settings_view_is_the_same_records_saying_status_with_deprecation_headers() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let created = s.create(&tok, Uuid::new_v4(), true).await;
    let id = created["id"].as_str().unwrap();

    let res = s.get(&format!("{SETTINGS}/{id}"), &tok).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["deprecation"], "@1739836800");
    assert_eq!(res.headers()["sunset"], "Tue, 31 Mar 2026 00:00:00 GMT");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.cloudPcExternalPartnerSetting"
    );
    assert_eq!(body["status"], "available");
    assert!(body.get("connectionStatus").is_none());
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/externalPartnerSettings/$entity"));

    // The seed page's PATCH example, through the old view, is seen by the new one.
    let res = s
        .patch_json(
            &format!("{SETTINGS}/{id}"),
            &tok,
            &json!({"@odata.type": "#microsoft.graph.cloudPcExternalPartnerSetting", "enableConnection": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("deprecation"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "notAvailable");
    let new_view: Value = s
        .get(&format!("{SET}/{id}"), &tok)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(new_view["connectionStatus"], "notAvailable");
    assert!(s
        .get(&format!("{SET}/{id}"), &tok)
        .await
        .headers()
        .get("deprecation")
        .is_none());

    // Created through the old view, listed through the new one.
    let res = s
        .post_json(
            SETTINGS,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/externalPartnerSettings/"));
    let n = s
        .get(&format!("{SET}/$count"), &tok)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(n, "2");
}

#[tokio::test]
async fn legacy_settings_can_be_switched_off() {
    let s = test_server!(|c| c.no_legacy_settings = true);
    let res = s.get(SETTINGS, &s.admin(TENANT_A)).await;
    // As Graph answers for a set its schema no longer has.
    let msg = error_message(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    assert!(msg.contains("'externalPartnerSettings'"), "{msg}");
    let csdl = s.text("/beta/$metadata").await;
    assert!(!csdl.contains("cloudPcExternalPartnerSetting"));
}

#[tokio::test]
async fn metadata_is_csdl_for_the_types_and_enum() {
    let s = test_server!();
    let res = s.client.get(s.url("/beta/$metadata")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    let csdl = res.text().await.unwrap();
    for needle in [
        "<EntityType Name=\"cloudPcExternalPartner\" BaseType=\"graph.entity\">",
        "<EntityType Name=\"cloudPcExternalPartnerSetting\"",
        "<EnumType Name=\"cloudPcExternalPartnerStatus\">",
        "<Member Name=\"unhealthy\" Value=\"3\" />",
        "<Property Name=\"lastSyncDateTime\" Type=\"Edm.DateTimeOffset\" />",
        "<Property Name=\"partnerId\" Type=\"Edm.String\" Nullable=\"false\" />",
        "Name=\"externalPartners\" Type=\"Collection(graph.cloudPcExternalPartner)\" ContainsTarget=\"true\"",
    ] {
        assert!(csdl.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_graph_errors() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    // Graph's answer for a segment its schema lacks: 400 naming that segment.
    for (path, segment) in [
        ("/beta/deviceManagement/virtualEndpoint/nothing", "nothing"),
        (
            "/beta/deviceManagemnt/virtualEndpoint/externalPartners",
            "deviceManagemnt",
        ),
        (&format!("{SET}/{}/more", Uuid::new_v4()), "more"),
        (
            "/v1.0/deviceManagement/virtualEndpoint/externalPartners",
            "externalPartners",
        ),
    ] {
        let msg = error_message(
            s.get(path, &tok).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(
            msg.starts_with(&format!("Resource not found for the segment '{segment}'.")),
            "{path}: {msg}"
        );
    }
    // Outside Graph's version roots: 404.
    assert_error(
        s.get("/nothing", &tok).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    // A trailing slash names the same resource.
    let res = s.get(&format!("{SET}/"), &tok).await;
    assert_eq!(res.status(), StatusCode::OK);
    for (method, path, allow) in [
        (Method::PUT, SET.to_string(), "GET, POST"),
        (Method::DELETE, SET.to_string(), "GET, POST"),
        (
            Method::POST,
            format!("{SET}/{}", Uuid::new_v4()),
            "GET, PATCH, DELETE",
        ),
        (
            Method::PUT,
            format!("{SET}/{}", Uuid::new_v4()),
            "GET, PATCH, DELETE",
        ),
        (Method::POST, format!("{SET}/$count"), "GET"),
        (Method::PATCH, format!("{SETTINGS}/$count"), "GET"),
    ] {
        let res = s.request(method.clone(), &path, &tok).send().await.unwrap();
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    }
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_not_found() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    for id in [
        Uuid::new_v4().to_string(),
        "not-a-guid".into(),
        "%27x%27".into(),
    ] {
        let path = format!("{SET}/{id}");
        assert_error(
            s.get(&path, &tok).await,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
        )
        .await;
        let res = s
            .patch_json(&path, &tok, &json!({"enableConnection": true}))
            .await;
        assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    }
    // Each view words the 404 as its own type and set, whether the key is no GUID
    // (refused before any read) or names nothing (refused by the use case).
    let settings = SET.replace("externalPartners", "externalPartnerSettings");
    for (set, ty) in [
        (SET.to_owned(), "cloudPcExternalPartner with"),
        (settings, "cloudPcExternalPartnerSetting with"),
    ] {
        for id in [Uuid::new_v4().to_string(), "not-a-guid".into()] {
            for res in [
                s.get(&format!("{set}/{id}"), &tok).await,
                s.request(Method::DELETE, &format!("{set}/{id}"), &tok)
                    .send()
                    .await
                    .unwrap(),
            ] {
                let msg = error_message(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
                assert!(msg.contains(ty) && msg.contains(&id), "{set}: {msg}");
            }
        }
    }
    let call = format!("{SET}/{}/retrieveActionReports()", Uuid::new_v4());
    let msg = error_message(
        s.get(&call, &tok).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    assert!(msg.contains("cloudPcExternalPartner with"), "{msg}");
}

#[tokio::test]
async fn every_response_carries_request_ids_and_odata_version() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let res = s
        .request(Method::GET, SET, &tok)
        .header("client-request-id", "my-trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["client-request-id"], "my-trace-42");
    let rid = res.headers()["request-id"].to_str().unwrap();
    assert!(Uuid::try_parse(rid).is_ok());
    assert_eq!(res.headers()["odata-version"], "4.0");

    // Without one, client-request-id is the request-id; errors echo it too.
    let res = s.client.get(s.url(SET)).send().await.unwrap();
    assert_eq!(
        res.headers()["client-request-id"],
        res.headers()["request-id"]
    );
    let res = s
        .client
        .get(s.url(SET))
        .header("client-request-id", "abc")
        .send()
        .await
        .unwrap();
    let err = assert_error(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
    assert_eq!(err["innerError"]["client-request-id"], "abc");
}

#[tokio::test]
async fn cors_exposes_graph_headers_to_browsers() {
    let s = test_server!();
    let res = s
        .client
        .request(Method::OPTIONS, s.url(SET))
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let res = s
        .request(Method::GET, SET, &s.admin(TENANT_A))
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "etag",
        "location",
        "request-id",
        "client-request-id",
        "retry-after",
        "www-authenticate",
    ] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
}

#[tokio::test]
async fn operational_endpoints_answer() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    s.get(SET, &tok).await;
    assert_eq!(
        s.client
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.client
            .get(s.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = s.text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/beta/deviceManagement/virtualEndpoint/externalPartners\""));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn etags_guard_against_lost_updates() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let res = s
        .post_json(
            SET,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["@odata.etag"], etag.as_str());
    let path = format!("{SET}/{}", created["id"].as_str().unwrap());
    let res = s.get(&path, &tok).await;
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    let list = s.api(&tok).list("").await;
    assert_eq!(list["value"][0]["@odata.etag"], etag.as_str());

    // Matching If-Match: applied, new ETag.
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("If-Match", &etag)
        .json(&json!({"enableConnection": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);

    // Stale If-Match: 412, nothing changed.
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("If-Match", &etag)
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PRECONDITION_FAILED, "PreconditionFailed").await;
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("If-Match", "\"garbage\"")
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PRECONDITION_FAILED, "PreconditionFailed").await;
    let res = s
        .request(Method::DELETE, &path, &tok)
        .header("If-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PRECONDITION_FAILED, "PreconditionFailed").await;
    let now: Value = s.get(&path, &tok).await.json().await.unwrap();
    assert_eq!(now["enableConnection"], false);
    assert_eq!(now["@odata.etag"], new_etag.as_str());

    // If-Match: * and no If-Match behave as before.
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("If-Match", "*")
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.patch_json(&path, &tok, &json!({"enableConnection": false}))
            .await
            .status(),
        StatusCode::OK
    );
    // If-Match on a missing entity is a 404, not a 412.
    let missing = format!("{SET}/{}", Uuid::new_v4());
    let res = s
        .request(Method::PATCH, &missing, &tok)
        .header("If-Match", "W/\"1\"")
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    let current = s.get(&path, &tok).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = s
        .request(Method::DELETE, &path, &tok)
        .header("If-Match", &current)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}
