//! Development mode's controls: the service's clock and resets.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn without_dev_mode_there_are_no_controls() {
    let s = test_server!();
    let res = s.get("/dev/v1/clock", &s.admin(TENANT_A)).await;
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
}

#[tokio::test]
async fn moving_the_clock_turns_healthy_unhealthy_without_waiting() {
    let s = test_server!(|c| c.dev = true);
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

    for (body, needle) in [
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
    ] {
        let msg = error_message(
            s.post_json("/dev/v1/clock", &tok, &body).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
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
    let s = test_server!(|c| c.dev = true);
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
