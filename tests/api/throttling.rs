//! Throttling: per app per tenant budgets and a partner budget, 429 with Retry-After,
//! recovery after the window, and a switch to turn it off.

use crate::common::*;
use chrono::Duration;
use cloudpc_partners::auth::TokenKind;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// Small budgets, so a test can spend them.
fn small_budgets(c: &mut ServeConfig) {
    c.throttling.off = false;
    c.throttling.requests = 6;
    c.throttling.writes = 3;
    c.throttling.partner_requests = 4;
}

#[tokio::test]
async fn reads_past_the_budget_get_429_with_retry_after_then_recover() {
    let s = test_server!(small_budgets);
    let tok = s.admin(TENANT_A);
    for _ in 0..6 {
        assert_eq!(s.get(SET, &tok).await.status(), StatusCode::OK);
    }
    let res = s.get(SET, &tok).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let msg = error_message(res, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    assert!(msg.contains("retry after"), "{msg}");

    // Another app in the same tenant, and the same app in another tenant, have their own budgets.
    let other_app = cloudpc_partners::auth::mint_local_token(
        s.tokens.keys(),
        &cloudpc_partners::auth::MintRequest {
            tenant: TENANT_A,
            kind: TokenKind::Delegated {
                scopes: vec!["CloudPC.ReadWrite.All".into()],
            },
            app_id: Some("another-app".into()),
            lifetime: std::time::Duration::from_secs(3600),
            now: 1_795_428_000,
        },
    )
    .unwrap();
    assert_eq!(s.get(SET, &other_app).await.status(), StatusCode::OK);
    assert_eq!(
        s.get(SET, &s.admin(TENANT_B)).await.status(),
        StatusCode::OK
    );

    // After waiting as told, the call goes through.
    s.advance(Duration::seconds(retry as i64));
    assert_eq!(s.get(SET, &tok).await.status(), StatusCode::OK);
    // A full window refills the whole budget.
    s.advance(Duration::seconds(20));
    for _ in 0..6 {
        assert_eq!(s.get(SET, &tok).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn writes_have_their_own_smaller_budget() {
    let s = test_server!(small_budgets);
    let tok = s.admin(TENANT_A);
    for _ in 0..3 {
        s.create(&tok, Uuid::new_v4(), true).await;
    }
    let res = s
        .post_json(
            SET,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    // Reads still pass: 3 writes used 3 of the 6 requests.
    assert_eq!(s.get(SET, &tok).await.status(), StatusCode::OK);
    assert_eq!(
        s.get(&format!("{SET}/$count"), &tok)
            .await
            .text()
            .await
            .unwrap(),
        "3",
        "the throttled create stored nothing"
    );
}

#[tokio::test]
async fn partner_calls_have_a_budget_per_connection() {
    let s = test_server!(small_budgets);
    let admin = s.admin(TENANT_A);
    let (p1, p2) = (Uuid::new_v4(), Uuid::new_v4());
    s.create(&admin, p1, true).await;
    s.create(&admin, p2, true).await;
    let t1 = s.partner(TENANT_A, p1);
    for _ in 0..4 {
        assert_eq!(s.heartbeat(&t1).await.status(), StatusCode::NO_CONTENT);
    }
    let res = s.heartbeat(&t1).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    assert_eq!(
        s.heartbeat(&s.partner(TENANT_A, p2)).await.status(),
        StatusCode::NO_CONTENT
    );
    // Partner calls do not spend the admin's Graph budget.
    assert_eq!(s.get(SET, &admin).await.status(), StatusCode::OK);
    s.advance(Duration::seconds(20));
    assert_eq!(s.heartbeat(&t1).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn no_throttling_means_no_limit() {
    let s = test_server!(|c| {
        c.throttling.off = true;
        c.throttling.requests = 1;
    });
    let tok = s.admin(TENANT_A);
    for _ in 0..30 {
        assert_eq!(s.get(SET, &tok).await.status(), StatusCode::OK);
    }
}
