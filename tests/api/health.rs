//! Connection health driven by the partner API: heartbeats, syncs, the status rules,
//! and `$filter`/`$orderby` on the derived status.

use crate::common::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

async fn entity(s: &TestServer, tok: &str, id: &str) -> Value {
    s.get(&format!("{SET}/{id}"), tok)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn status_follows_heartbeats_through_every_transition() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let created = s.create(&admin, partner_id, true).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let partner = s.partner(TENANT_A, partner_id);
    assert_eq!(created["connectionStatus"], "available");

    // Read right after the heartbeat's response, on the same process: healthy.
    assert_eq!(s.heartbeat(&partner).await.status(), StatusCode::NO_CONTENT);
    let v = entity(&s, &admin, &id).await;
    assert_eq!(v["connectionStatus"], "healthy");
    assert!(v["statusDetails"]
        .as_str()
        .unwrap()
        .contains("2026-11-23T10:00:00Z"));
    assert_eq!(
        v["lastSyncDateTime"],
        Value::Null,
        "heartbeats do not set lastSyncDateTime"
    );

    // Healthy up to the timeout, unhealthy past it.
    s.advance(Duration::minutes(5));
    assert_eq!(entity(&s, &admin, &id).await["connectionStatus"], "healthy");
    s.advance(Duration::seconds(1));
    let v = entity(&s, &admin, &id).await;
    assert_eq!(v["connectionStatus"], "unhealthy");
    let details = v["statusDetails"].as_str().unwrap();
    assert!(
        details.starts_with("No heartbeat since 2026-11-23T10:00:00Z (timeout 5m)"),
        "{details}"
    );

    // A new heartbeat recovers it.
    s.heartbeat(&partner).await;
    assert_eq!(entity(&s, &admin, &id).await["connectionStatus"], "healthy");

    // Disabled: notAvailable, and the partner is refused.
    let v: Value = s
        .patch_json(
            &format!("{SET}/{id}"),
            &admin,
            &json!({"enableConnection": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["connectionStatus"], "notAvailable");
    let msg = error_message(
        s.heartbeat(&partner).await,
        StatusCode::FORBIDDEN,
        "connectionDisabled",
    )
    .await;
    assert!(msg.contains("disabled"), "{msg}");
    let res = s.sync(&partner, None).await;
    assert_error(res, StatusCode::FORBIDDEN, "connectionDisabled").await;

    // Re-enabled: back to available although the last heartbeat is recent.
    s.advance(Duration::seconds(10));
    let v: Value = s
        .patch_json(
            &format!("{SET}/{id}"),
            &admin,
            &json!({"enableConnection": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["connectionStatus"], "available");
    s.advance(Duration::minutes(30));
    assert_eq!(
        entity(&s, &admin, &id).await["connectionStatus"],
        "available"
    );
    s.heartbeat(&partner).await;
    assert_eq!(entity(&s, &admin, &id).await["connectionStatus"], "healthy");
}

#[tokio::test]
async fn heartbeat_timeout_is_configurable() {
    let s = test_server!(|c| c.heartbeats.timeout = Span::secs(90));
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
    s.advance(Duration::seconds(91));
    let v = entity(&s, &admin, &id).await;
    assert_eq!(v["connectionStatus"], "unhealthy");
    assert!(v["statusDetails"]
        .as_str()
        .unwrap()
        .contains("(timeout 90s)"));
}

#[tokio::test]
async fn sync_sets_last_sync_time_only_forward() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    let partner = s.partner(TENANT_A, partner_id);

    assert_eq!(
        s.sync(&partner, None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        entity(&s, &admin, &id).await["lastSyncDateTime"],
        "2026-11-23T10:00:00Z"
    );
    assert_eq!(
        entity(&s, &admin, &id).await["connectionStatus"],
        "available",
        "a sync is not a heartbeat"
    );

    s.advance(Duration::hours(1));
    let res = s
        .sync(
            &partner,
            Some(json!({"syncDateTime": "2026-11-23T10:45:00.250Z"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        entity(&s, &admin, &id).await["lastSyncDateTime"],
        "2026-11-23T10:45:00.250Z"
    );
    // An older report does not move it back.
    s.sync(
        &partner,
        Some(json!({"syncDateTime": "2026-11-23T10:30:00+00:00"})),
    )
    .await;
    assert_eq!(
        entity(&s, &admin, &id).await["lastSyncDateTime"],
        "2026-11-23T10:45:00.250Z"
    );

    // Filterable like any timestamp.
    let v: Value = s
        .get(
            &format!("{SET}?$filter=lastSyncDateTime ge 2026-11-23T10:45:00Z"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let v: Value = s
        .get(
            &format!("{SET}?$filter=lastSyncDateTime gt 2026-11-23T10:45:00.250Z"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_partner_calls_are_refused_precisely() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    let partner = s.partner(TENANT_A, partner_id);

    // No record for this partner in that tenant (or in any).
    let msg = error_message(
        s.heartbeat(&s.partner(TENANT_B, partner_id)).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    assert!(msg.contains(&partner_id.to_string()), "{msg}");
    assert_error(
        s.sync(&s.partner(TENANT_A, Uuid::new_v4()), None).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;

    // An admin token cannot call the partner API; no token is a 401.
    let msg = error_message(
        s.heartbeat(&admin).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    assert!(msg.contains("partner credential"), "{msg}");
    let res = s
        .client
        .post(s.url("/partner/v1/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken").await;

    // Bad sync bodies.
    for (body, needle) in [
        (
            json!({"syncDateTime": "2026-11-23T12:00:00Z"}),
            "in the future",
        ),
        (json!({"syncDateTime": "last tuesday"}), "not a date-time"),
        (json!({"syncDateTime": "2026-11-23T09:00:00"}), "time zone"),
        (json!({"syncDateTime": 1700000000}), "must be a string"),
        (
            json!({"syncTime": "2026-11-23T09:00:00Z"}),
            "'syncTime' is not understood",
        ),
        (json!([1]), "JSON object"),
    ] {
        let msg = error_message(
            s.sync(&partner, Some(body.clone())).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let res = s
        .request(Method::POST, "/partner/v1/sync", &partner)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    let res = s
        .request(Method::POST, "/partner/v1/sync", &partner)
        .header("content-type", "text/plain")
        .body("2026")
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
        .request(Method::POST, "/partner/v1/heartbeat", &partner)
        .json(&json!({"cpu": 3}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    let res = s
        .request(Method::GET, "/partner/v1/heartbeat", &partner)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    let huge = format!("{{\"syncDateTime\":\"{}\"}}", "x".repeat(4 * 1024 * 1024));
    let res = s
        .request(Method::POST, "/partner/v1/sync", &partner)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge").await;
    // None of that changed anything.
    let v = entity(&s, &admin, &id).await;
    assert_eq!(v["lastSyncDateTime"], Value::Null);
    assert_eq!(v["connectionStatus"], "available");
}

#[tokio::test]
async fn deleted_connection_refuses_its_partner_at_once() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    let partner = s.partner(TENANT_A, partner_id);
    assert_eq!(s.heartbeat(&partner).await.status(), StatusCode::NO_CONTENT);
    s.api(&admin).delete(&id).await;
    assert_error(
        s.heartbeat(&partner).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
}

#[tokio::test]
async fn heartbeats_survive_a_clean_shutdown() {
    let mut s = test_server!(|c| c.heartbeats.flush_interval = Span::secs(3600));
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
    s.stop().await; // the flush interval never came; shutdown flushes
    let restarted = cloudpc_partners::start(&s.config, s.clock.clone())
        .await
        .unwrap();
    let url = format!("http://{}{SET}/{id}", restarted.addr);
    let v: Value = s
        .client
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["connectionStatus"], "healthy");
    restarted.shutdown().await.unwrap();
}

/// 250 connections in four states, paged 100 at a time.
#[tokio::test]
async fn filter_and_orderby_on_derived_status_agree_across_pages() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let mut expected: std::collections::HashMap<String, &str> = Default::default();
    let mut partners = Vec::new();
    for i in 0..250 {
        let partner_id = Uuid::new_v4();
        let enabled = i % 5 != 0;
        let id = s.create_id(&admin, partner_id, enabled).await;
        partners.push((id, partner_id, i));
    }
    // Old heartbeats for i % 5 == 1, then time passes, then fresh ones for i % 5 == 2 or 3.
    for (_, p, i) in &partners {
        if i % 5 == 1 {
            assert_eq!(
                s.heartbeat(&s.partner(TENANT_A, *p)).await.status(),
                StatusCode::NO_CONTENT
            );
        }
    }
    s.advance(Duration::minutes(6));
    for (_, p, i) in &partners {
        if i % 5 == 2 || i % 5 == 3 {
            s.heartbeat(&s.partner(TENANT_A, *p)).await;
        }
    }
    for (id, _, i) in &partners {
        expected.insert(
            id.clone(),
            match i % 5 {
                0 => "notAvailable",
                1 => "unhealthy",
                2 | 3 => "healthy",
                _ => "available",
            },
        );
    }

    for (status, n) in [
        ("unhealthy", 50),
        ("healthy", 100),
        ("available", 50),
        ("notAvailable", 50),
    ] {
        let path = format!("{SET}?$filter=connectionStatus eq '{status}'&$top=999&$count=true");
        let mut seen = Vec::new();
        for v in s.pages(&path, &admin).await {
            assert_eq!(v["@odata.count"], n, "{status}");
            for item in v["value"].as_array().unwrap() {
                assert_eq!(item["connectionStatus"], status);
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
        }
        let mut want: Vec<String> = expected
            .iter()
            .filter(|(_, s)| **s == status)
            .map(|(id, _)| id.clone())
            .collect();
        want.sort();
        seen.sort();
        assert_eq!(seen, want, "{status}");
        let count = s
            .get(
                &format!("{SET}/$count?$filter=connectionStatus eq '{status}'"),
                &admin,
            )
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(count, n.to_string());
    }

    // Sorted by status (enum order, descending) across three pages, no overlap or gap.
    let pages = s
        .pages(
            &format!("{SET}?$orderby=connectionStatus desc&$select=id,connectionStatus"),
            &admin,
        )
        .await;
    let order: Vec<(String, String)> = pages
        .iter()
        .flat_map(|v| v["value"].as_array().unwrap())
        .map(|item| {
            (
                item["id"].as_str().unwrap().to_owned(),
                item["connectionStatus"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(pages.len(), 3);
    assert_eq!(order.len(), 250);
    let rank = |s: &str| {
        ["notAvailable", "available", "healthy", "unhealthy"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(order.windows(2).all(|w| rank(&w[0].1) >= rank(&w[1].1)));
    for (id, status) in &order {
        assert_eq!(expected[id], status.as_str());
    }
    let unique: std::collections::HashSet<_> = order.iter().map(|o| o.0.clone()).collect();
    assert_eq!(unique.len(), 250);

    // Time alone moves healthy to unhealthy, in filters too.
    s.advance(Duration::minutes(6));
    let n = s
        .get(
            &format!("{SET}/$count?$filter=connectionStatus eq 'unhealthy'"),
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(n, "150");

    // The metrics recorder is process-wide and other tests' servers share it, so
    // only the series' presence is checked here; the counts are checked above.
    let metrics = s.text("/metrics").await;
    for status in ["notAvailable", "available", "healthy", "unhealthy"] {
        assert!(
            metrics.contains(&format!(
                "cloudpc_partners_connections{{status=\"{status}\"}}"
            )),
            "{metrics}"
        );
    }
    assert!(metrics.contains("heartbeats_received_total"));
    assert!(metrics.contains("heartbeat_flush_batch_size"));
}

#[tokio::test]
async fn a_patch_right_after_a_heartbeat_answers_with_the_fresh_status() {
    let s = test_server!(|c| c.heartbeats.flush_interval = Span::secs(3600));
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
    // Enabling an enabled connection changes nothing but must not hide the heartbeat.
    let v: Value = s
        .patch_json(
            &format!("{SET}/{id}"),
            &admin,
            &json!({"enableConnection": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["connectionStatus"], "healthy");
}

/// Counts by class come from running totals the database keeps on every write; after
/// creates, heartbeats, disables, re-enables and deletes, at moments that cut through
/// a second of heartbeats, every count equals the rows a listing returns.
#[tokio::test]
async fn counts_agree_with_the_rows_after_every_kind_of_write() {
    let s = test_server!();
    let admin = s.admin(TENANT_A);
    let other = s.admin(TENANT_B);
    let mut partners = Vec::new();
    for i in 0..24 {
        let partner_id = Uuid::new_v4();
        let id = s.create_id(&admin, partner_id, i % 6 != 0).await;
        partners.push((id, partner_id));
    }
    // Another tenant's connections never reach this tenant's counts.
    for _ in 0..3 {
        let p = Uuid::new_v4();
        s.create_id(&other, p, true).await;
        s.heartbeat(&s.partner(TENANT_B, p)).await;
    }
    s.await_counts_folded().await;
    // Heartbeats spread over a few seconds, some of them 250 ms apart.
    for (i, (_, p)) in partners.iter().enumerate() {
        if i % 3 != 2 {
            s.heartbeat(&s.partner(TENANT_A, *p)).await;
        }
        s.advance(Duration::milliseconds(250));
    }
    for (i, (id, _)) in partners.iter().enumerate() {
        match i % 8 {
            1 => {
                s.api(&admin).set_enabled(id, false).await;
            }
            4 => s.api(&admin).delete(id).await,
            _ => {}
        }
    }
    // Totals folded (PostgreSQL) plus changes not yet folded must still add up.
    s.await_counts_folded().await;
    // Re-enable one that was disabled: available again until its next heartbeat.
    let res = s
        .patch_json(
            &format!("{SET}/{}", partners[9].0),
            &admin,
            &json!({"enableConnection": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let filters = [
        "",
        "enableConnection eq true",
        "enableConnection eq false",
        "connectionStatus eq 'healthy'",
        "connectionStatus eq 'unhealthy'",
        "connectionStatus eq 'available'",
        "connectionStatus ne 'notAvailable'",
        "connectionStatus in ('healthy', 'available') or enableConnection eq false",
    ];
    // Five minutes on, the heartbeat timeout cuts through the run of heartbeats at
    // several points, some inside a second and one on a second.
    s.advance(Duration::milliseconds(300_000 - 24 * 250));
    for step in [0, 125, 250, 375, 1_000, 2_300, 7_000] {
        s.advance(Duration::milliseconds(step));
        let mut seen = 0;
        for f in filters {
            let (count_path, list_path) = if f.is_empty() {
                (format!("{SET}/$count"), format!("{SET}?$top=999"))
            } else {
                (
                    format!("{SET}/$count?$filter={f}"),
                    format!("{SET}?$top=999&$filter={f}"),
                )
            };
            let res = s
                .request(Method::GET, &count_path, &admin)
                .header("ConsistencyLevel", "eventual")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{f}");
            let counted: usize = res.text().await.unwrap().parse().unwrap();
            let listed: usize = s
                .pages(&list_path, &admin)
                .await
                .iter()
                .map(|p| p["value"].as_array().unwrap().len())
                .sum();
            assert_eq!(counted, listed, "{f} at +{step} ms");
            seen += listed;
        }
        assert!(seen > 0);
    }
}

/// Reads by id may be answered from memory between writes (SQLite): every kind of
/// write is still seen by the next read, the heartbeat flush (which moves a
/// connection's stored heartbeat without any client request) included.
#[tokio::test]
async fn a_read_by_id_always_shows_the_last_write() {
    let s = test_server!(|c| c.heartbeats.flush_interval =
        cloudpc_partners::config::Span(std::time::Duration::from_millis(20)));
    let admin = s.admin(TENANT_A);
    let partner_id = Uuid::new_v4();
    let id = s.create_id(&admin, partner_id, true).await;
    let path = format!("{SET}/{id}");
    let read = || async {
        let res = s.get(&path, &admin).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()
    };
    for _ in 0..3 {
        assert_eq!(read().await["connectionStatus"], "available");
    }
    s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
    // Across the flush: the pending heartbeat moves from memory to the row.
    for _ in 0..20 {
        assert_eq!(read().await["connectionStatus"], "healthy");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    s.api(&admin).set_enabled(&id, false).await;
    let v = read().await;
    assert_eq!(v["enableConnection"], false);
    assert_eq!(v["connectionStatus"], "notAvailable");
    s.api(&admin).delete(&id).await;
    assert_error(
        s.get(&path, &admin).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
}
