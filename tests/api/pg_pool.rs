//! How one process lends its PostgreSQL connections: waiting writes hold at most a
//! quarter of them, writes queued behind them share commits and answer each for itself, or
//! 503 with a code after the acquire timeout; reads and writes share a pool of one;
//! connections the server cuts are opened again.
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

/// With every partner row locked by another session, writes wait on their locks on
/// a quarter of the pool (2 of 8 connections) and no more: reads still get an answer at once,
/// and the writes queued behind the waiting ones get a 503 with its code after the
/// acquire timeout, unstored. Once the locks go, the writes that waited are stored.
#[tokio::test]
async fn waiting_writes_hold_a_quarter_of_the_pool_and_the_queue_behind_them_answers_503() {
    let name = format!("cpt-pool-{}", Uuid::new_v4().simple());
    let Some(s) = named_server(&name, 8, Duration::from_millis(800)).await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let mut ids = Vec::new();
    for _ in 0..6 {
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
                let res = client
                    .patch(url)
                    .bearer_auth(tok)
                    .json(&json!({"enableConnection": true}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body: serde_json::Value = res.json().await.unwrap();
                (status, body)
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
        if waiting == 2 || Instant::now() > deadline {
            break waiting;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        waiting, 2,
        "a quarter of the pool should carry a waiting write"
    );

    // Reads keep their connections while writes wait.
    let started = Instant::now();
    assert_eq!(s.api(&tok).get(&ids[0]).await["enableConnection"], false);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );

    // The four queued writes give up after the acquire timeout; hold the locks
    // until they have.
    let deadline = Instant::now() + Duration::from_secs(10);
    while patches.iter().filter(|p| p.is_finished()).count() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waiting = backends(&admin, &name)
        .await
        .iter()
        .filter(|(_, wait)| wait == "Lock")
        .count();
    assert_eq!(waiting, 2, "never more writes waiting than committers");
    assert!(
        backends(&admin, &name).await.len() <= 4,
        "never more than the pool"
    );

    tx.rollback().await.unwrap();
    let mut stored = 0;
    for (patch, id) in patches.into_iter().zip(&ids) {
        let (status, body) = patch.await.unwrap();
        let now = s.api(&tok).get(id).await["enableConnection"].clone();
        match status {
            StatusCode::OK => {
                stored += 1;
                assert_eq!(now, true, "a 200 is stored");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
                assert_eq!(now, false, "a 503 is not stored");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(stored, 2);
}

/// Writes that queue behind a busy committer share transactions, and each still gets
/// the answer it would have had alone: of one partner created many times at once,
/// one 201 and the rest 409; of many PATCHes carrying one ETag, one 200 and the rest
/// 412; every distinct create stored.
#[tokio::test]
async fn grouped_writes_each_get_their_own_answer() {
    let name = format!("cpt-pool-{}", Uuid::new_v4().simple());
    // Two connections: one committer, so concurrent writes queue and group.
    let Some(s) = named_server(&name, 2, Duration::from_secs(5)).await else {
        return;
    };
    let tok = s.admin(TENANT_A);
    let created = s
        .post_json(
            SET,
            &tok,
            &json!({"partnerId": Uuid::new_v4(), "enableConnection": false}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let target: serde_json::Value = created.json().await.unwrap();
    let target = target["id"].as_str().unwrap().to_owned();

    for round in 0..3 {
        let twin = Uuid::new_v4();
        let etag = if round == 0 {
            etag.clone()
        } else {
            s.get(&format!("{SET}/{target}"), &tok).await.headers()["etag"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let requests = (0..60).map(|i| {
            let req = match i % 3 {
                0 => s
                    .request(reqwest::Method::POST, SET, &tok)
                    .json(&json!({"partnerId": twin, "enableConnection": true})),
                1 => s
                    .request(reqwest::Method::PATCH, &format!("{SET}/{target}"), &tok)
                    .header("If-Match", &etag)
                    .json(&json!({"enableConnection": round % 2 == 0})),
                _ => s
                    .request(reqwest::Method::POST, SET, &tok)
                    .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": true})),
            };
            async move {
                let res = req.send().await.unwrap();
                let status = res.status();
                let body: serde_json::Value = res.json().await.unwrap();
                (i % 3, status, body)
            }
        });
        let answers = futures_util::future::join_all(requests).await;
        let mut tally = std::collections::BTreeMap::new();
        for (kind, status, body) in answers {
            let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
            match (kind, status.as_u16(), code.as_str()) {
                (0, 201, "") | (0, 409, "Conflict") => {}
                (1, 200, "") | (1, 412, "PreconditionFailed") => {}
                (2, 201, "") => {}
                other => panic!("unexpected answer {other:?}: {body}"),
            }
            *tally.entry((kind, status.as_u16())).or_insert(0) += 1;
        }
        let expected = [
            ((0, 201), 1),
            ((0, 409), 19),
            ((1, 200), 1),
            ((1, 412), 19),
            ((2, 201), 20),
        ];
        assert_eq!(tally, expected.into_iter().collect(), "round {round}");
        let now = s.api(&tok).get(&target).await;
        assert_eq!(now["enableConnection"], round % 2 == 0);
    }
    assert_eq!(s.api(&tok).count(None).await, 1 + 3 * 21);
    let admin = pg_client(&admin_url()).await.unwrap();
    assert!(
        backends(&admin, &name).await.len() <= 2,
        "never more than the pool"
    );
    // Some writes did share a commit (the sum of the group sizes exceeds their count).
    let metrics = s.text("/metrics").await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(
        value("postgres_group_commit_batch_size_sum")
            > value("postgres_group_commit_batch_size_count"),
        "{metrics}"
    );
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
