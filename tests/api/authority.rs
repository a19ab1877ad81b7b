//! Production validation that follows an issuer (`--authority`), tested with two
//! processes' worth of servers: one in dev mode is "Entra" (over HTTPS with its
//! development CA), the other in production mode follows its keys.

use crate::common::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// The harness clock's start, in Unix seconds.
const TEST_NOW: i64 = 1_795_428_000;

/// The issuer: dev mode over HTTPS, its clock the harness's.
async fn issuer(listen: Option<String>) -> Option<TestServer> {
    TestServer::start_with(|c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
        c.tls.tls_dev = true;
        if let Some(addr) = listen {
            c.listen = addr;
        }
    })
    .await
}

/// A production instance following `authority` (the issuer's origin), trusting the
/// issuer's development CA.
async fn follower(origin: &str, ca: &std::path::Path, allowed: Vec<Uuid>) -> Option<TestServer> {
    let (origin, ca) = (origin.to_owned(), ca.to_owned());
    TestServer::start_with(move |c| {
        c.tokens.authority = Some(format!("{origin}/common/v2.0"));
        c.tokens.authority_ca = Some(ca);
        c.tokens.audience = vec![
            "https://graph.microsoft.com".into(),
            "00000003-0000-0000-c000-000000000000".into(),
        ];
        c.tokens.allowed_tenants = allowed;
    })
    .await
}

fn ca_of(s: &TestServer) -> std::path::PathBuf {
    s.config.data_dir.join("tls/dev-ca.pem")
}

/// Waits until the follower has loaded the issuer's keys.
async fn ready(s: &TestServer) {
    for _ in 0..200 {
        let res = s.client.get(s.url("/readyz")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the follower never loaded the issuer's keys");
}

fn claims(tenant: Uuid, iss: &str) -> Value {
    json!({
        "aud": "https://graph.microsoft.com",
        "iss": iss,
        "tid": tenant.to_string(),
        "exp": TEST_NOW + 3600,
        "nbf": TEST_NOW - 10,
        "scp": "CloudPC.ReadWrite.All",
        "appid": "app-1",
    })
}

/// How many times the follower fetched the issuer's key set, from the issuer's journal.
async fn key_fetches(issuer: &TestServer) -> usize {
    let journal: Value = issuer
        .get(
            "/dev/v1/journal?tenant=all&path=*/discovery/v2.0/keys",
            &issuer.admin(TENANT_A),
        )
        .await
        .json()
        .await
        .unwrap();
    journal["value"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_production_instance_follows_the_issuers_keys_through_a_rollover() {
    let Some(issuer) = issuer(None).await else {
        return;
    };
    let Some(prod) = follower(&issuer.origin, &ca_of(&issuer), vec![]).await else {
        return;
    };
    ready(&prod).await;
    let v1 = issuer.admin(TENANT_A);
    assert_eq!(prod.get(SET, &v1).await.status(), StatusCode::OK);
    // The v2 form of the issuer for the same tenant passes too.
    let v2 = issuer.tokens.sign(&claims(
        TENANT_A,
        &format!("{}/{TENANT_A}/v2.0", issuer.origin),
    ));
    assert_eq!(prod.get(SET, &v2).await.status(), StatusCode::OK);

    // A rollover on the issuer: tokens with the new key are accepted without a
    // restart, and the old ones still are.
    let res = issuer.post_json("/dev/v1/keys", &v1, &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rolled = Tokens::for_data_dir(&issuer.config.data_dir).admin(TENANT_A, TEST_NOW);
    assert_eq!(prod.get(SET, &rolled).await.status(), StatusCode::OK);
    assert_eq!(prod.get(SET, &v1).await.status(), StatusCode::OK);

    // The forgeries fail as they must.
    let key = issuer.tokens.keys().current().unwrap();
    let wrong_iss = issuer
        .tokens
        .sign(&claims(TENANT_A, "https://sts.windows.net/someone-else/"));
    let mut expired = claims(TENANT_A, &format!("https://sts.windows.net/{TENANT_A}/"));
    expired["exp"] = json!(TEST_NOW - 3600);
    let expired = issuer.tokens.sign(&expired);
    let mut wrong_aud = claims(TENANT_A, &format!("https://sts.windows.net/{TENANT_A}/"));
    wrong_aud["aud"] = json!("api://another-app");
    let wrong_aud = issuer.tokens.sign(&wrong_aud);
    let published = issuer.tokens.keys().jwks();
    let mut hs = Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(key.kid.clone());
    let confused = encode(
        &hs,
        &claims(TENANT_A, &format!("https://sts.windows.net/{TENANT_A}/")),
        &EncodingKey::from_secret(published["keys"][0]["n"].as_str().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    for (token, needle) in [
        (wrong_iss, "issuer"),
        (expired, "expired"),
        (wrong_aud, "audience"),
        (confused, "RS256"),
    ] {
        let msg = error_message(
            prod.get(SET, &token).await,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
        )
        .await;
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

#[tokio::test]
async fn unknown_kids_cannot_make_the_service_hammer_the_issuer() {
    let Some(issuer) = issuer(None).await else {
        return;
    };
    let Some(prod) = follower(&issuer.origin, &ca_of(&issuer), vec![]).await else {
        return;
    };
    ready(&prod).await;
    let before = key_fetches(&issuer).await;
    let key = issuer.tokens.keys().current().unwrap();
    let body = claims(TENANT_A, &format!("https://sts.windows.net/{TENANT_A}/"));
    let forged: Vec<String> = (0..1000)
        .map(|_| {
            let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
            h.kid = Some(Uuid::new_v4().simple().to_string());
            encode(&h, &body, key.encoding()).unwrap()
        })
        .collect();
    for chunk in forged.chunks(50) {
        let answers = futures_util::future::join_all(chunk.iter().map(|t| prod.get(SET, t))).await;
        for res in answers {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let during = key_fetches(&issuer).await - before;
    // One refresh for the first unknown kid; the rest wait out the rate limit.
    assert!(
        during <= 1,
        "{during} key-set fetches for 1,000 unknown kids"
    );
}

#[tokio::test]
async fn known_keys_keep_working_while_the_issuer_is_down() {
    let Some(mut issuer) = issuer(None).await else {
        return;
    };
    let Some(prod) = follower(&issuer.origin, &ca_of(&issuer), vec![]).await else {
        return;
    };
    ready(&prod).await;
    let token = issuer.admin(TENANT_A);
    issuer.stop().await;
    assert_eq!(prod.get(SET, &token).await.status(), StatusCode::OK);
    let res = prod.client.get(prod.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_instance_started_before_its_issuer_answers_503_then_becomes_ready() {
    // An address for the issuer that nothing listens on yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ca_home = tempfile::tempdir().unwrap();
    // The issuer's CA is made ahead, in the data dir the issuer will use.
    cloudpc_partners::tls::development_certificate(ca_home.path()).unwrap();
    let ca = ca_home.path().join("tls/dev-ca.pem");
    let Some(prod) = follower(&format!("https://{addr}"), &ca, vec![]).await else {
        return;
    };
    let res = prod.client.get(prod.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let some_token = Tokens::for_data_dir(ca_home.path()).admin(TENANT_A, TEST_NOW);
    let msg = error_message(
        prod.get(SET, &some_token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    )
    .await;
    assert!(msg.contains("--authority"), "{msg}");

    // The issuer comes up, on that address, with that CA: the follower becomes ready.
    let home = ca_home.path().to_owned();
    let issuer = TestServer::start_with(move |c| {
        c.dev.enabled = true;
        c.dev.dev_shared = true;
        c.tls.tls_dev = true;
        c.listen = addr.to_string();
        c.data_dir = home;
    })
    .await
    .unwrap();
    ready(&prod).await;
    assert_eq!(
        prod.get(SET, &issuer.admin(TENANT_A)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn tenants_outside_the_allowed_list_get_401_with_the_reason() {
    let Some(issuer) = issuer(None).await else {
        return;
    };
    let Some(prod) = follower(&issuer.origin, &ca_of(&issuer), vec![TENANT_A]).await else {
        return;
    };
    ready(&prod).await;
    assert_eq!(
        prod.get(SET, &issuer.admin(TENANT_A)).await.status(),
        StatusCode::OK
    );
    let msg = error_message(
        prod.get(SET, &issuer.admin(TENANT_B)).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(
        msg.contains("not allowed") && msg.contains(&TENANT_B.to_string()),
        "{msg}"
    );
}
