//! Protocol edges every Graph client relies on: HTTPS, 413 for clients that send
//! the whole body first, read-only properties sent back unchanged, `Accept` and
//! `$format`.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use uuid::Uuid;

#[tokio::test]
async fn https_with_a_development_certificate_writes_https_links() {
    let s = test_server!(|c| c.tls.tls_dev = true);
    assert!(s.origin.starts_with("https://"), "{}", s.origin);
    let tok = s.admin(TENANT_A);
    let res = s
        .post_json(
            SET,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/beta/", s.origin)),
        "{location}"
    );
    s.create(&tok, Uuid::new_v4(), true).await;
    let page = s.api(&tok).list("$top=1").await;
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with("https://"), "{next}");
    assert!(page["@odata.context"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    // Plain HTTP on the HTTPS port gets no answer a client could mistake for success.
    let plain = crate::support::http_client()
        .get(s.url(SET).replacen("https://", "http://", 1))
        .bearer_auth(&tok)
        .send()
        .await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));
}

#[test]
fn the_binary_announces_https_and_serves_it_with_the_certificate_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(dir.path(), &["--tls-dev"]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    for file in ["dev-ca.pem", "localhost.pem", "localhost-key.pem"] {
        assert!(dir.path().join("tls").join(file).exists(), "{file}");
    }
}

/// Writes a request whose whole body is sent before anything is read, as Python's
/// httpx does, and returns the status line and body of the answer.
fn send_all_then_read(origin: &str, token: &str, body_len: usize) -> (String, String) {
    let addr = origin.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(body_len));
    let head = format!(
        "POST {SET} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("an answer, not a reset");
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn an_oversized_body_sent_in_full_gets_the_413_error_not_a_reset() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let origin = s.origin.clone();
    let (status, body) =
        tokio::task::spawn_blocking(move || send_all_then_read(&origin, &tok, 6 * 1024 * 1024))
            .await
            .unwrap();
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("\"RequestEntityTooLarge\""), "{body}");
    // Nothing was written.
    assert_eq!(s.api(&s.admin(TENANT_A)).count(None).await, 0);
}

#[tokio::test]
async fn a_patch_may_send_back_read_only_properties_unchanged_but_not_change_them() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let created = s.create(&tok, Uuid::new_v4(), true).await;
    let id = created["id"].as_str().unwrap();
    // What Kiota sends after get → modify → patch: every property it read.
    let mut body = created.clone();
    body["enableConnection"] = json!(false);
    let res = s.patch_json(&format!("{SET}/{id}"), &tok, &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["enableConnection"], false);
    assert_eq!(v["connectionStatus"], "notAvailable");

    // An agent setting never configured comes back from Kiota as an object of
    // nulls, non-nullable fields included: no value, as it was read.
    let mut kiota = v.clone();
    kiota["agentSetting"] = json!({"agentUrl": null, "agentSha256": null, "installParameters": null, "autoDeploymentEnabled": null});
    let res = s.patch_json(&format!("{SET}/{id}"), &tok, &kiota).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The status sentence moves on with every heartbeat: any string is taken.
    let mut sentence = v.clone();
    sentence["statusDetails"] = json!("old words");
    let res = s.patch_json(&format!("{SET}/{id}"), &tok, &sentence).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Changing a read-only one is refused, by name, and changes nothing: the
    // immutable ones and those the service maintains alike.
    for (name, value) in [
        ("partnerId", json!(Uuid::new_v4())),
        ("id", json!(Uuid::new_v4())),
        ("connectionStatus", json!("healthy")),
        ("lastSyncDateTime", json!("2020-01-01T00:00:00Z")),
    ] {
        let mut changed = v.clone();
        changed[name] = value;
        changed["enableConnection"] = json!(true);
        let msg = error_message(
            s.patch_json(&format!("{SET}/{id}"), &tok, &changed).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(&format!("'{name}'")), "{msg}");
        assert!(msg.contains("read-only"), "{msg}");
    }
    assert_eq!(s.api(&tok).get(id).await["enableConnection"], false);
    // Only read-only properties, sent back unchanged: the message says what a PATCH
    // changes.
    let msg = error_message(
        s.patch_json(
            &format!("{SET}/{id}"),
            &tok,
            &json!({"connectionStatus": "notAvailable"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(
        msg.contains("'enableConnection' is required: it is what a PATCH changes"),
        "{msg}"
    );
    // A read-only property of the wrong type is still a type error.
    let mut wrong = v.clone();
    wrong["connectionStatus"] = json!(5);
    let res = s.patch_json(&format!("{SET}/{id}"), &tok, &wrong).await;
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
}

#[tokio::test]
async fn accept_metadata_levels_and_format_json_are_accepted() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    s.create(&tok, Uuid::new_v4(), true).await;
    for accept in [
        "application/json;odata.metadata=none",
        "application/json;odata.metadata=minimal",
        "application/json;odata.metadata=full",
        "application/json",
        "*/*",
    ] {
        let res = s
            .request(Method::GET, SET, &tok)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{accept}");
    }
    let v = s.api(&tok).list("$format=json").await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let res = s.get(&format!("{SET}?$format=xml"), &tok).await;
    let msg = error_message(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    assert!(msg.contains("JSON only"), "{msg}");
}

#[tokio::test]
async fn links_ignore_forwarded_proto_unless_trusted_and_use_the_public_url() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    s.create(&tok, Uuid::new_v4(), true).await;
    let context = |res: reqwest::Response| async move {
        let v: Value = res.json().await.unwrap();
        v["@odata.context"].as_str().unwrap().to_owned()
    };
    // A client's X-Forwarded-Proto is not believed by default.
    let res = s
        .request(Method::GET, SET, &tok)
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert!(context(res).await.starts_with("http://"));

    let s = test_server!(|c| {
        c.public_url = Some("https://graph.example.com".into());
        c.trust_forwarded_proto = true;
    });
    let tok = s.admin(TENANT_A);
    let res = s
        .post_json(
            SET,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": true}),
        )
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://graph.example.com/beta/"),
        "{location}"
    );
    // Whatever Host a client (or a shared cache) sends.
    let res = s
        .request(Method::GET, SET, &tok)
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert!(context(res)
        .await
        .starts_with("https://graph.example.com/beta/$metadata"));
}
