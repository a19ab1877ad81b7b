//! Every bad body gets a Graph error with a precise status and code, and changes nothing.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

async fn count(s: &TestServer, tok: &str) -> String {
    s.get(&format!("{SET}/$count"), tok)
        .await
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn create_rejects_each_bad_body_and_stores_nothing() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let g = Uuid::new_v4().to_string();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"enableConnection": true}), "'partnerId' is required"),
        (json!({"partnerId": g}), "'enableConnection' is required"),
        (
            json!({"partnerId": "abc", "enableConnection": true}),
            "must be a GUID",
        ),
        (
            json!({"partnerId": 42, "enableConnection": true}),
            "'partnerId' must be a string",
        ),
        (
            json!({"partnerId": g, "enableConnection": "yes"}),
            "'enableConnection' must be a Boolean",
        ),
        (
            json!({"partnerId": g, "enableConnection": 1}),
            "'enableConnection' must be a Boolean",
        ),
        (
            json!({"partnerId": g, "enableConnection": null}),
            "cannot be null",
        ),
        (
            json!({"partnerId": null, "enableConnection": true}),
            "cannot be null",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "id": Uuid::new_v4()}),
            "'id' is read-only",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "connectionStatus": "healthy"}),
            "'connectionStatus' is read-only",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "statusDetails": "x"}),
            "'statusDetails' is read-only",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "lastSyncDateTime": "2020-01-01T00:00:00Z"}),
            "'lastSyncDateTime' is read-only",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "color": "blue"}),
            "'color' does not exist on type 'microsoft.graph.cloudPcExternalPartner'",
        ),
        (
            json!({"partnerId": g, "enableConnection": true, "status": "available"}),
            "'status' does not exist",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.user", "partnerId": g, "enableConnection": true}),
            "@odata.type",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.cloudPcExternalPartnerSetting", "partnerId": g, "enableConnection": true}),
            "@odata.type",
        ),
        (
            json!([{"partnerId": g, "enableConnection": true}]),
            "must be a JSON object, not an array",
        ),
        (json!("text"), "must be a JSON object, not a string"),
    ];
    for (body, needle) in cases {
        let msg = error_message(
            s.post_json(SET, &tok, &body).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    assert_eq!(count(&s, &tok).await, "0");
}

#[tokio::test]
async fn malformed_json_empty_body_and_wrong_content_type() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let send = |ct: Option<&'static str>, body: &'static str| {
        let mut r = s.request(Method::POST, SET, &tok).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let msg = error_message(
        send(Some("application/json"), "{\"partnerId\": ")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("not valid JSON"), "{msg}");
    let msg = error_message(
        send(Some("application/json"), "").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("empty"), "{msg}");
    let good = "{\"partnerId\":\"198d7140-80bb-4843-8cc4-811377a49a92\",\"enableConnection\":true}";
    let msg = error_message(
        send(Some("text/plain"), good).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
    )
    .await;
    assert!(msg.contains("text/plain"), "{msg}");
    assert_error(
        send(Some("application/xml"), good).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
    )
    .await;
    assert_error(
        send(None, good).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
    )
    .await;
    // Parameters on the JSON type are fine.
    let res = send(
        Some("application/json; charset=utf-8; odata.metadata=minimal"),
        good,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(count(&s, &tok).await, "1");
}

#[tokio::test]
async fn body_over_4_mib_is_413() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let pad = "x".repeat(4 * 1024 * 1024 + 1);
    let body = format!(
        "{{\"partnerId\":\"{}\",\"enableConnection\":true,\"pad\":\"{pad}\"}}",
        Uuid::new_v4()
    );
    let res = s
        .request(Method::POST, SET, &tok)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge").await;
    // Streamed without a Content-Length, it is cut off at the limit all the same.
    let stream = futures_stream(body);
    let res = s
        .request(Method::POST, SET, &tok)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge").await;
    assert_eq!(count(&s, &tok).await, "0");
}

fn futures_stream(
    body: String,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn duplicate_partner_in_a_tenant_is_409_but_fine_in_another() {
    let s = test_server!();
    let partner = Uuid::new_v4();
    s.create(&s.admin(TENANT_A), partner, true).await;
    let res = s
        .post_json(
            SET,
            &s.admin(TENANT_A),
            &json!({"partnerId": partner, "enableConnection": false}),
        )
        .await;
    let msg = error_message(res, StatusCode::CONFLICT, "Conflict").await;
    assert!(msg.contains(&partner.to_string()), "{msg}");
    // Upper-case spelling of the same GUID is the same partner.
    let res = s
        .post_json(
            SET,
            &s.admin(TENANT_A),
            &json!({"partnerId": partner.to_string().to_uppercase(), "enableConnection": false}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "Conflict").await;
    s.create(&s.admin(TENANT_B), partner, true).await;
    assert_eq!(count(&s, &s.admin(TENANT_A)).await, "1");
}

#[tokio::test]
async fn patch_rejects_each_bad_body_and_changes_nothing() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let created = s.create(&tok, Uuid::new_v4(), true).await;
    let path = format!("{SET}/{}", created["id"].as_str().unwrap());
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "'enableConnection' is required"),
        (json!({"enableConnection": null}), "cannot be null"),
        (json!({"enableConnection": "false"}), "must be a Boolean"),
        (
            json!({"enableConnection": false, "partnerId": Uuid::new_v4()}),
            "'partnerId' is read-only",
        ),
        (
            json!({"enableConnection": false, "id": Uuid::new_v4()}),
            "'id' is read-only",
        ),
        (
            json!({"enableConnection": false, "id": "x"}),
            "'id' must be a GUID",
        ),
        // Read-only values sent back as read are fine (a Kiota round trip); one
        // that is not even of the property's type is not.
        (
            json!({"enableConnection": false, "connectionStatus": "broken"}),
            "'connectionStatus' must be one of",
        ),
        (
            json!({"enableConnection": false, "nickname": "x"}),
            "'nickname' does not exist",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.entity", "enableConnection": false}),
            "@odata.type",
        ),
        (json!(null), "must be a JSON object"),
    ];
    for (body, needle) in cases {
        let msg = error_message(
            s.patch_json(&path, &tok, &body).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
    )
    .await;
    let res = s
        .request(Method::PATCH, &path, &tok)
        .header("content-type", "application/json")
        .body("{enableConnection:false}")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    let res = s
        .request(Method::PATCH, &format!("{path}?$select=id"), &tok)
        .json(&json!({"enableConnection": false}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;

    let after = s.api(&tok).get(created["id"].as_str().unwrap()).await;
    assert_eq!(
        after,
        created
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("@odata.context".into(), after["@odata.context"].clone());
                Value::Object(o)
            })
            .unwrap()
    );
}

/// One rule for every request body, whichever API reads it: a key holding `@` is an
/// OData annotation and carries no data, so it is ignored; any other key nothing
/// reads is a 400 that names it.
#[tokio::test]
async fn every_body_ignores_annotations_and_names_an_unknown_field() {
    let s = test_server!(|c| c.dev.enabled = true);
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    let partner = s.partner(TENANT_A, partner_id);
    let set = "/beta/deviceManagement/virtualEndpoint/externalPartners";
    let annotated = [
        (
            set.to_owned(),
            admin.clone(),
            json!({"partnerId": Uuid::new_v4(), "enableConnection": true, "@odata.context": "x", "partnerId@odata.type": "#String"}),
        ),
        (
            "/partner/v1/heartbeat".to_owned(),
            partner.clone(),
            json!({"@odata.type": "#heartbeat"}),
        ),
        (
            "/partner/v1/sync".to_owned(),
            partner.clone(),
            json!({"@odata.type": "#sync"}),
        ),
        (
            "/dev/v1/clock".to_owned(),
            admin.clone(),
            json!({"advance": "1m", "@odata.type": "#clock"}),
        ),
        (
            "/dev/v1/seed".to_owned(),
            admin.clone(),
            json!({"connections": [{"partnerId": Uuid::new_v4(), "@note": "x"}], "@odata.type": "#seed"}),
        ),
    ];
    for (path, tok, body) in annotated {
        let res = s.post_json(&path, &tok, &body).await;
        assert!(res.status().is_success(), "{path} {body}: {}", res.status());
    }
    let unknown = [
        (
            set.to_owned(),
            admin.clone(),
            json!({"partnerId": Uuid::new_v4(), "enableConnection": true, "colour": 1}),
            "'colour' does not exist",
        ),
        (
            format!("{set}/{id}/deployAgent"),
            admin.clone(),
            json!({"cloudPcIds": [Uuid::new_v4()], "colour": 1}),
            "'colour' is not a parameter",
        ),
        (
            "/partner/v1/heartbeat".to_owned(),
            partner.clone(),
            json!({"colour": 1}),
            "'colour' is not understood here; give no fields",
        ),
        (
            "/partner/v1/sync".to_owned(),
            partner.clone(),
            json!({"colour": 1}),
            "'colour' is not understood here; give syncDateTime",
        ),
        (
            format!("/partner/v1/deployments/{}/results", Uuid::new_v4()),
            partner.clone(),
            json!({"results": [], "colour": 1}),
            "'colour' is not understood",
        ),
        (
            "/dev/v1/clock".to_owned(),
            admin.clone(),
            json!({"advance": "1m", "colour": 1}),
            "'colour' is not understood",
        ),
        (
            "/dev/v1/seed".to_owned(),
            admin.clone(),
            json!({"connections": [{"partnerId": Uuid::new_v4(), "colour": 1}]}),
            "'connections[0].colour' is not understood",
        ),
        (
            "/dev/v1/faults".to_owned(),
            admin.clone(),
            json!({"errorRate": 0.5, "colour": 1}),
            "'colour' is not understood",
        ),
        (
            "/dev/v1/partners".to_owned(),
            admin.clone(),
            json!({"partnerId": partner_id, "colour": 1}),
            "'colour' is not understood",
        ),
    ];
    for (path, tok, body, needle) in unknown {
        let msg = error_message(
            s.post_json(&path, &tok, &body).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{path} {body}: {msg}");
    }
}
