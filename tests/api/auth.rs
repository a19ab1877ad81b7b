//! Authentication (401) versus authorization (403), token kinds, production JWKS mode,
//! and tenant isolation.

use crate::common::*;
use cloudpc_partners::auth::TokenKind;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

/// The harness clock's start, in Unix seconds.
const TEST_NOW: i64 = 1_795_428_000;

fn claims(tenant: Uuid, aud: &str, exp_offset: i64) -> serde_json::Value {
    let now = TEST_NOW;
    json!({
        "aud": aud,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant.to_string(),
        "exp": now + exp_offset,
        "nbf": now - 10,
        "scp": "CloudPC.ReadWrite.All",
        "appid": "app-1",
    })
}

#[tokio::test]
async fn missing_or_bad_tokens_are_401_with_a_challenge() {
    let s = test_server!();
    let url = s.url(SET);
    let res = s.client.get(&url).send().await.unwrap();
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_error(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;

    let expired = s
        .tokens
        .sign(&claims(TENANT_A, "https://graph.microsoft.com", -3600));
    let wrong_aud = s
        .tokens
        .sign(&claims(TENANT_A, "api://something-else", 3600));
    // Another RSA key under the local key's kid: the signature does not verify.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let other =
        EncodingKey::from_rsa_pem(&std::fs::read(fixtures.join("test-rsa-key.pem")).unwrap())
            .unwrap();
    let mut local_kid = Header::new(jsonwebtoken::Algorithm::RS256);
    local_kid.kid = Some(s.tokens.keys().current().unwrap().kid.clone());
    let wrong_key = encode(
        &local_kid,
        &claims(TENANT_A, "https://graph.microsoft.com", 3600),
        &other,
    )
    .unwrap();
    let mut no_tid = claims(TENANT_A, "https://graph.microsoft.com", 3600);
    no_tid.as_object_mut().unwrap().remove("tid");
    let no_tid = s.tokens.sign(&no_tid);
    let mut bad_iss = claims(TENANT_A, "https://graph.microsoft.com", 3600);
    bad_iss["iss"] = json!(format!("https://sts.windows.net/{TENANT_B}/"));
    let bad_iss = s.tokens.sign(&bad_iss);

    for (header, needle) in [
        ("Bearer".to_string(), "empty"),
        ("Bearer not.a.jwt".to_string(), "malformed"),
        ("Basic dXNlcjpwYXNz".to_string(), "'Basic'"),
        (format!("Bearer {expired}"), "expired"),
        (format!("Bearer {wrong_aud}"), "audience"),
        (format!("Bearer {wrong_key}"), "signature"),
        (format!("Bearer {no_tid}"), "tid"),
        (format!("Bearer {bad_iss}"), "issuer"),
    ] {
        let res = s
            .client
            .get(&url)
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        let msg = error_message(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
        assert!(msg.contains(needle), "{header}: {msg}");
    }
}

#[tokio::test]
async fn read_permission_reads_but_cannot_write() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let created = s.create(&admin, Uuid::new_v4(), true).await;
    let path = format!("{SET}/{}", created["id"].as_str().unwrap());
    let reader = s.reader(TENANT_A);
    assert_eq!(s.get(SET, &reader).await.status(), StatusCode::OK);
    assert_eq!(s.get(&path, &reader).await.status(), StatusCode::OK);
    assert_eq!(
        s.get(&format!("{SET}/$count"), &reader).await.status(),
        StatusCode::OK
    );

    let res = s
        .post_json(
            SET,
            &reader,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    let msg = error_message(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    assert!(msg.contains("CloudPC.ReadWrite.All"), "{msg}");
    let res = s
        .patch_json(&path, &reader, &json!({"enableConnection": false}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    let res = s
        .request(Method::DELETE, &path, &reader)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    // Authorization comes before body validation: a 403, not a 400.
    let res = s.post_json(SET, &reader, &json!({"bogus": 1})).await;
    assert_error(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
}

#[tokio::test]
async fn token_without_cloudpc_permission_is_403() {
    let s = test_server!();
    let tok = s.mint(
        TENANT_A,
        TokenKind::Delegated {
            scopes: vec!["User.Read".into()],
        },
    );
    let msg = error_message(
        s.get(SET, &tok).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    assert!(msg.contains("User.Read"), "{msg}");
    // A delegated token naming the permission as a role does not count (and vice versa).
    let tok = s.mint(TENANT_A, TokenKind::Application { roles: vec![] });
    assert_error(
        s.get(SET, &tok).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
}

#[tokio::test]
async fn application_tokens_use_roles() {
    let s = test_server!();
    let rw = s.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.ReadWrite.All".into()],
        },
    );
    let ro = s.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.Read.All".into()],
        },
    );
    s.create(&rw, Uuid::new_v4(), true).await;
    assert_eq!(s.get(SET, &ro).await.status(), StatusCode::OK);
    let res = s
        .post_json(
            SET,
            &ro,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    let msg = error_message(res, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    assert!(msg.contains("Roles"), "{msg}");
}

#[tokio::test]
async fn personal_accounts_and_partner_credentials_are_refused() {
    let s = test_server!();
    let consumer = Uuid::parse_str("9188040d-6c67-4c5b-b112-36a304b66dad").unwrap();
    let msg = error_message(
        s.get(SET, &s.admin(consumer)).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    assert!(msg.contains("Personal Microsoft accounts"), "{msg}");
    let partner = s.mint(
        TENANT_A,
        TokenKind::Partner {
            partner_id: Uuid::new_v4(),
        },
    );
    let msg = error_message(
        s.get(SET, &partner).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    assert!(msg.contains("partner API"), "{msg}");
}

#[tokio::test]
async fn tenants_are_kept_apart() {
    let s = test_server!();
    let a = s.admin(TENANT_A);
    let b = s.admin(TENANT_B);
    let created = s.create(&a, Uuid::new_v4(), true).await;
    let path = format!("{SET}/{}", created["id"].as_str().unwrap());

    assert_error(
        s.get(&path, &b).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    assert_error(
        s.patch_json(&path, &b, &json!({"enableConnection": false}))
            .await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    assert_error(
        s.request(Method::DELETE, &path, &b).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    let theirs = s.api(&b);
    assert_eq!(theirs.list("").await["value"].as_array().unwrap().len(), 0);
    assert_eq!(theirs.count(None).await, 0);
    let id = created["id"].as_str().unwrap();
    let filtered = theirs.list(&format!("$filter=id eq '{id}'")).await;
    assert_eq!(filtered["value"].as_array().unwrap().len(), 0);
    // Untouched for its owner.
    assert_eq!(s.api(&a).get(id).await["enableConnection"], true);
}

#[tokio::test]
async fn production_mode_validates_rs256_against_jwks() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let s = test_server!(|c| {
        c.tokens.jwks_file = Some(fixtures.join("test-jwks.json"));
        c.tokens.issuer = Some("https://login.microsoftonline.com/{tenantid}/v2.0".into());
        c.tokens.audience = vec!["api://cloudpc-partners".into()];
    });
    let pem = std::fs::read(fixtures.join("test-rsa-key.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let mut c = claims(TENANT_A, "api://cloudpc-partners", 3600);
    c["iss"] = json!(format!("https://login.microsoftonline.com/{TENANT_A}/v2.0"));
    let good = encode(&header, &c, &key).unwrap();
    assert_eq!(s.get(SET, &good).await.status(), StatusCode::OK);

    let mut unknown_kid = header.clone();
    unknown_kid.kid = Some("rotated-away".into());
    let bad = encode(&unknown_kid, &c, &key).unwrap();
    assert_error(
        s.get(SET, &bad).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    // Local tokens are not accepted in production mode.
    let local = s.admin(TENANT_A);
    assert_error(
        s.get(SET, &local).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
}

#[tokio::test]
async fn numeric_dates_with_fractions_are_compared_and_ambiguous_credentials_refused() {
    let s = test_server!();
    let sign = |c: &serde_json::Value| s.tokens.sign(c);
    let get = |token: String| {
        let (s, url) = (&s, s.url(SET));
        async move { s.client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    // A fractional exp in the future is valid; a fractional nbf in the future is not.
    let mut ok = claims(TENANT_A, "https://graph.microsoft.com", 3600);
    ok["exp"] = json!(TEST_NOW as f64 + 3600.5);
    ok["nbf"] = json!(TEST_NOW as f64 - 10.25);
    assert_eq!(get(sign(&ok)).await.status(), StatusCode::OK);
    let mut early = ok.clone();
    early["nbf"] = json!(TEST_NOW as f64 + 600.5);
    let msg = error_message(
        get(sign(&early)).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(msg.contains("not yet valid"), "{msg}");
    let mut late = ok.clone();
    late["exp"] = json!(TEST_NOW as f64 - 600.5);
    let msg = error_message(
        get(sign(&late)).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(msg.contains("expired"), "{msg}");
    // Present but not a number: refused, never treated as absent.
    for (claim, value) in [
        ("nbf", json!("soon")),
        ("exp", json!("later")),
        ("exp", json!(null)),
    ] {
        let mut bad = ok.clone();
        bad[claim] = value;
        let msg = error_message(
            get(sign(&bad)).await,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
        )
        .await;
        assert!(msg.contains(claim), "{claim}: {msg}");
    }
    // Two Authorization headers: which one counts would be ambiguous.
    let token = s.admin(TENANT_A);
    let res = s
        .client
        .get(s.url(SET))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {}", s.admin(TENANT_B)))
        .send()
        .await
        .unwrap();
    let msg = error_message(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
    assert!(msg.contains("more than one"), "{msg}");
}

/// A token endpoint token checks out the standard way: the key set from the OpenID
/// configuration's `jwks_uri`, by `kid`, RS256; and its claims are Entra's Graph
/// access-token claims.
#[tokio::test]
async fn local_tokens_verify_against_the_published_key_set_and_carry_entras_claims() {
    let s = test_server!(|c| c.dev.enabled = true);
    let config: serde_json::Value = s
        .client
        .get(s.url(&format!(
            "/{TENANT_A}/v2.0/.well-known/openid-configuration"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks: jsonwebtoken::jwk::JwkSet = s
        .client
        .get(config["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let minted: serde_json::Value = s
        .client
        .post(config["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "my-admin-tool"),
            ("client_secret", "s"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.x5t, header.kid);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    assert!(jwk.common.x509_chain.as_ref().is_some_and(|c| c.len() == 1));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["https://graph.microsoft.com"]);
    v.set_issuer(&[format!("https://sts.windows.net/{TENANT_A}/")]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .unwrap()
        .claims;
    for name in [
        "aud",
        "iss",
        "iat",
        "nbf",
        "exp",
        "app_displayname",
        "appid",
        "appidacr",
        "idp",
        "idtyp",
        "oid",
        "roles",
        "sub",
        "tid",
        "uti",
        "ver",
    ] {
        assert!(claims.get(name).is_some(), "{name} in {claims}");
    }
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], "my-admin-tool");
    assert_eq!(claims["roles"], json!(["CloudPC.ReadWrite.All"]));
    // The same app is the same principal each time.
    let again = s.tokens.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.ReadWrite.All".into()],
        },
        TEST_NOW,
    );
    let again = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&again)
        .unwrap()
        .claims;
    assert_ne!(again["uti"], claims["uti"]);

    // A signed-in user's token names the user.
    let user = s.admin(TENANT_A);
    let user = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&user)
        .unwrap()
        .claims;
    assert_eq!(user["idtyp"], "user");
    for name in ["upn", "name", "scp", "oid", "sub"] {
        assert!(user.get(name).is_some(), "{name} in {user}");
    }
}

/// The classic forgeries fail: no signature, the published key used as an HMAC
/// secret, the old HS256 local tokens, a key nobody published.
#[tokio::test]
async fn forged_tokens_are_refused() {
    use base64::Engine;
    let s = test_server!(|c| c.dev.enabled = true);
    let url = s.url(SET);
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let good = claims(TENANT_A, "https://graph.microsoft.com", 3600);
    let kid = s.tokens.keys().current().unwrap().kid.clone();
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&good)
    );
    // HS/RS confusion: the published public key (its JWK text, and its modulus) as
    // an HMAC secret.
    let jwks = s.tokens.keys().jwks();
    let mut hs = Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let confused: Vec<String> = [
        jwks["keys"][0].to_string(),
        jwks["keys"][0]["n"].as_str().unwrap().to_owned(),
    ]
    .iter()
    .map(|secret| {
        encode(
            &hs,
            &good,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    })
    .collect();
    let old_local = encode(
        &Header::default(),
        &good,
        &EncodingKey::from_secret(b"the secret an earlier version kept in signing-key").unwrap(),
    )
    .unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let stranger =
        EncodingKey::from_rsa_pem(&std::fs::read(fixtures.join("test-rsa-key.pem")).unwrap())
            .unwrap();
    let mut unknown = Header::new(jsonwebtoken::Algorithm::RS256);
    unknown.kid = Some("never-published".into());
    let unknown = encode(&unknown, &good, &stranger).unwrap();
    for (token, needle) in [
        (none, "'none'"),
        (confused[0].clone(), "RS256"),
        (confused[1].clone(), "RS256"),
        (old_local, "no longer accepted"),
        (unknown, "unknown 'kid'"),
    ] {
        let res = s.client.get(&url).bearer_auth(&token).send().await.unwrap();
        let msg = error_message(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

/// A rollover rehearsed: a new key signs, the old one is still accepted until it is
/// withdrawn, then its tokens are refused.
#[tokio::test]
async fn a_key_rollover_keeps_old_tokens_until_the_key_is_withdrawn() {
    let s = test_server!(|c| c.dev.enabled = true);
    let admin = s.admin(TENANT_A);
    let old_kid = s.tokens.keys().current().unwrap().kid.clone();
    let listed: serde_json::Value = s.get("/dev/v1/keys", &admin).await.json().await.unwrap();
    assert_eq!(listed["value"][0]["kid"], old_kid.as_str());
    assert_eq!(listed["value"][0]["current"], true);

    let res = s.post_json("/dev/v1/keys", &admin, &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let new: serde_json::Value = res.json().await.unwrap();
    let new_kid = new["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    // New tokens carry the new key (as `token` mints them, reading the data dir anew);
    // the old token still works.
    let fresh = Tokens::for_data_dir(&s.config.data_dir).admin(TENANT_A, TEST_NOW);
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
        Some(new_kid.as_str())
    );
    assert_eq!(s.get(SET, &fresh).await.status(), StatusCode::OK);
    assert_eq!(s.get(SET, &admin).await.status(), StatusCode::OK);
    let published: serde_json::Value = s
        .client
        .get(s.url(&format!("/{TENANT_A}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(published["keys"].as_array().unwrap().len(), 2);

    // The current key cannot be withdrawn; an unknown one is not there.
    let res = s
        .request(Method::DELETE, &format!("/dev/v1/keys/{new_kid}"), &fresh)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "Conflict").await;
    let res = s
        .request(Method::DELETE, "/dev/v1/keys/nope", &fresh)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    let res = s
        .request(Method::DELETE, &format!("/dev/v1/keys/{old_kid}"), &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Withdrawn: the old key's tokens are refused, even one verified a moment ago.
    let msg = error_message(
        s.get(SET, &admin).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(msg.contains("unknown 'kid'"), "{msg}");
    assert_eq!(s.get(SET, &fresh).await.status(), StatusCode::OK);
}

/// `token` refuses a permission this service does not know, unless told to mint it
/// anyway (to test how a client meets a 403).
#[test]
fn the_token_command_refuses_unknown_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
            .args(["token", "--tenant", &TENANT_A.to_string(), "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env_remove("CLOUDPC_PARTNERS_SCOPES")
            .output()
            .unwrap()
    };
    let refused = run(&["--scopes", "CloudPC.Read.All User.Read"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("'User.Read'") && err.contains("--any-scope"),
        "{err}"
    );
    assert!(run(&["--scopes", "User.Read", "--any-scope"])
        .status
        .success());
    assert!(run(&["--scopes", "CloudPC.Read.All,CloudPC.ReadWrite.All"])
        .status
        .success());
}
