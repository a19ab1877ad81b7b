//! How one process lends its PostgreSQL connections: writes may take every one of
//! them, reads and writes share a pool of one, a full pool answers 503 with a code
//! after the acquire timeout, and connections the server cuts are opened again.
//! Each server names its connections (`application_name` in the URL), so a test sees
//! only its own in `pg_stat_activity`.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A server on a fresh schema whose connections are named `name`, with `pool_size`
/// connections and the given acquire timeout.
async fn named_server(name: &str, pool_size: u32, acquire: Duration) -> Option<TestServer> {
    TestServer::start_with(|c| {
        // The schema's URL already has a query (`options`).
        c.database = c
            .database
            .take()
            .map(|url| format!("{url}&application_name={name}"));
        c.postgres.pool_size = pool_size;
        c.postgres.acquire_timeout = Span(acquire);
    })
    .await
}

/// The server's database URL, without its connection name (for other sessions).
fn unnamed(s: &TestServer, name: &str) -> String {
    s.config
        .database
        .clone()
        .unwrap()
        .replace(&format!("&application_name={name}"), "")
}

/// The server's backends, by state and what they wait on.
async fn backends(admin: &tokio_postgres::Client, name: &str) -> Vec<(String, String)> {
    admin
        .query(
            "SELECT coalesce(state, ''), coalesce(wait_event_type, '') \
             FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap()
}

/// With every partner row locked by another session, a PATCH per connection waits
/// on its lock: all `pool_size` of them at once, not only the connections reads
/// leave free. A GET then finds no connection and gets a 503 with its code after the
/// acquire timeout; once the locks go, every PATCH is stored.
#[tokio::test]
async fn writes_take_every_connection_and_a_full_pool_answers_503() {
    let name = format!("cpt-pool-{}", Uuid::new_v4().simple());
    let Some(s) = named_server(&name, 4, Duration::from_millis(800)).await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(s.create_id(&tok, Uuid::new_v4(), false).await);
    }

    // Another session holds every row.
    let (mut locker, connection) =
        tokio_postgres::connect(&unnamed(&s, &name), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute("SELECT 1 FROM external_partners FOR UPDATE")
        .await
        .unwrap();

    let patches: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, url, tok) = (s.client.clone(), s.url(&format!("{SET}/{id}")), tok.clone());
            tokio::spawn(async move {
                client
                    .patch(url)
                    .bearer_auth(tok)
                    .json(&json!({"enableConnection": true}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let admin = pg_client(&admin_url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let waiting = backends(&admin, &name)
            .await
            .iter()
            .filter(|(_, wait)| wait == "Lock")
            .count();
        if waiting == 4 || Instant::now() > deadline {
            break waiting;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting, 4, "every connection should carry a waiting write");
    assert_eq!(
        backends(&admin, &name).await.len(),
        4,
        "never more than the pool"
    );

    let started = Instant::now();
    let res = s.get(&format!("{SET}/{}", ids[0]), &tok).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable").await;
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );

    tx.rollback().await.unwrap();
    for patch in patches {
        assert_eq!(patch.await.unwrap(), StatusCode::OK);
    }
    for id in &ids {
        let got = s.api(&tok).get(id).await;
        assert_eq!(got["enableConnection"], true);
    }
}

/// One connection serves reads and writes in turn: many of each at once all succeed,
/// and the server never opens a second connection.
#[tokio::test]
async fn a_pool_of_one_serves_reads_and_writes_together() {
    let name = format!("cpt-pool-{}", Uuid::new_v4().simple());
    let Some(s) = named_server(&name, 1, Duration::from_secs(5)).await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), false).await;
    let requests: Vec<_> = (0..60)
        .map(|i| {
            let api = s.api(&tok);
            let id = id.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => {
                        api.set_enabled(&id, i % 2 == 0).await;
                    }
                    1 => {
                        api.get(&id).await;
                    }
                    _ => {
                        api.create(Uuid::new_v4(), true).await;
                    }
                }
            })
        })
        .collect();
    for r in requests {
        r.await.unwrap();
    }
    assert_eq!(s.api(&tok).count(None).await, 21);
    let admin = pg_client(&admin_url()).await.unwrap();
    assert_eq!(backends(&admin, &name).await.len(), 1);
}

/// Connections the server ends (a restart, an administrator) are noticed and opened
/// again: after every backend of this server is terminated, reads and writes succeed.
#[tokio::test]
async fn connections_the_server_cut_are_opened_again() {
    let name = format!("cpt-pool-{}", Uuid::new_v4().simple());
    let Some(s) = named_server(&name, 3, Duration::from_secs(5)).await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), false).await;
    s.api(&tok).get(&id).await;
    s.api(&tok).list("?$top=5").await;
    let admin = pg_client(&admin_url()).await.unwrap();
    let before = backends(&admin, &name).await.len();
    assert!(before >= 2, "a read and a write connection: {before}");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !backends(&admin, &name).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give each connection's driver a moment to read the server's goodbye.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let api = s.api(&tok);
    assert_eq!(api.get(&id).await["id"], id.as_str());
    assert_eq!(api.set_enabled(&id, true).await["enableConnection"], true);
    api.create(Uuid::new_v4(), true).await;
    assert_eq!(api.count(None).await, 2);
    assert!(!backends(&admin, &name).await.is_empty());
}
