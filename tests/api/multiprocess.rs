//! Several stateless server processes over one PostgreSQL database, and moving an
//! embedded deployment's data into PostgreSQL.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

struct Pair {
    _a: ServerProcess,
    _b: ServerProcess,
    url_a: String,
    url_b: String,
    _db: TestDatabase,
    dir: tempfile::TempDir,
}

/// Two server processes started at once on one fresh schema (migrations race).
async fn pair() -> Option<Pair> {
    let db = TestDatabase::create().await?;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--database",
        db.url.as_str(),
        "--heartbeat-flush-interval",
        "100ms",
        "--no-throttling",
    ];
    let (d1, d2) = (dir.path().to_owned(), dir.path().to_owned());
    let a1 = args.map(str::to_owned);
    let a2 = a1.clone();
    // Started concurrently, so both apply migrations at the same moment.
    let ta = std::thread::spawn(move || {
        ServerProcess::spawn(&d1, &a1.iter().map(String::as_str).collect::<Vec<_>>())
    });
    let tb = std::thread::spawn(move || {
        ServerProcess::spawn(&d2, &a2.iter().map(String::as_str).collect::<Vec<_>>())
    });
    let (a, b) = (ta.join().unwrap(), tb.join().unwrap());
    Some(Pair {
        url_a: a.base.clone(),
        url_b: b.base.clone(),
        _a: a,
        _b: b,
        _db: db,
        dir,
    })
}

#[tokio::test]
async fn a_create_on_one_process_is_read_on_the_other() {
    let Some(p) = pair().await else { return };
    let tok = token_from_cli(p.dir.path(), TENANT_A);
    let client = crate::support::http_client();
    let res = client
        .post(format!("{}{SET}", p.url_a))
        .bearer_auth(&tok)
        .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let res = client
        .get(format!("{}{SET}/{id}", p.url_b))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let etag_b = res.headers()["etag"].to_str().unwrap().to_owned();
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["partnerId"], created["partnerId"]);
    assert_eq!(read["@odata.etag"], created["@odata.etag"]);

    // An update through B with A's ETag succeeds once; the stale ETag then fails on A.
    let res = client
        .patch(format!("{}{SET}/{id}", p.url_b))
        .bearer_auth(&tok)
        .header("If-Match", &etag_b)
        .json(&json!({"enableConnection": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .patch(format!("{}{SET}/{id}", p.url_a))
        .bearer_auth(&tok)
        .header("If-Match", &etag_b)
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PRECONDITION_FAILED, "PreconditionFailed").await;
}

#[tokio::test]
async fn a_heartbeat_on_one_process_makes_the_partner_healthy_on_the_other() {
    let Some(p) = pair().await else { return };
    let admin = token_from_cli(p.dir.path(), TENANT_A);
    let partner_id = Uuid::new_v4();
    let client = crate::support::http_client();
    let created: Value = client
        .post(format!("{}{SET}", p.url_a))
        .bearer_auth(&admin)
        .json(&json!({"partnerId": partner_id, "enableConnection": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args([
            "token",
            "--tenant",
            &TENANT_A.to_string(),
            "--partner",
            &partner_id.to_string(),
            "--data-dir",
        ])
        .arg(p.dir.path())
        .output()
        .unwrap();
    let partner = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let res = client
        .post(format!("{}/partner/v1/heartbeat", p.url_a))
        .bearer_auth(&partner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // B sees it within A's flush interval (100 ms here); allow generous slack.
    let started = Instant::now();
    loop {
        let v: Value = client
            .get(format!("{}{SET}/{id}", p.url_b))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["connectionStatus"] == "healthy" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "B never saw the heartbeat: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = client
        .get(format!(
            "{}{SET}/$count?$filter=connectionStatus eq 'healthy'",
            p.url_b
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(n, "1");
}

#[tokio::test]
async fn concurrent_creates_of_one_partner_give_one_201_and_409s() {
    let Some(p) = pair().await else { return };
    let tok = token_from_cli(p.dir.path(), TENANT_A);
    let client = crate::support::http_client();
    for _round in 0..3 {
        let partner_id = Uuid::new_v4();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let url = format!("{}{SET}", if i % 2 == 0 { &p.url_a } else { &p.url_b });
            let (client, tok) = (client.clone(), tok.clone());
            tasks.push(tokio::spawn(async move {
                let res = client
                    .post(url)
                    .bearer_auth(tok)
                    .json(&json!({"partnerId": partner_id, "enableConnection": true}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body: Value = res.json().await.unwrap();
                (status, body)
            }));
        }
        let mut created = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => created += 1,
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "Conflict"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(created, 1);
    }
}

#[tokio::test]
async fn migrate_data_moves_an_embedded_deployment_to_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // An embedded deployment with some history.
    let child = ServerProcess::spawn(dir.path(), &["--no-throttling"]);
    let base = child.base.clone();
    let tok = token_from_cli(dir.path(), TENANT_A);
    let other = token_from_cli(dir.path(), TENANT_B);
    let client = crate::support::http_client();
    let mut before = Vec::new();
    for (i, t) in [&tok, &tok, &tok, &other].into_iter().enumerate() {
        let v: Value = client
            .post(format!("{base}{SET}"))
            .bearer_auth(t)
            .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": i != 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        before.push(v);
    }
    let patched: Value = client
        .patch(format!("{base}{SET}/{}", before[0]["id"].as_str().unwrap()))
        .bearer_auth(&tok)
        .json(&json!({"enableConnection": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An agent configured on the third and deployed to one Cloud PC.
    let api = Api::new(client.clone(), &base, &tok);
    let agent_id = before[2]["id"].as_str().unwrap().to_owned();
    let configure = client
        .post(format!("{base}{SET}/{agent_id}/configureAgent"))
        .bearer_auth(&tok)
        .json(&json!({"agentSetting": {"agentUrl": "https://p.example/a.msi", "agentSha256": "a".repeat(64)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(configure.status(), StatusCode::NO_CONTENT);
    let deployed: Value = client
        .post(format!("{base}{SET}/{agent_id}/deployAgent"))
        .bearer_auth(&tok)
        .json(&json!({"cloudPcIds": [Uuid::new_v4()]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results_path = format!(
        "{base}{SET}/{agent_id}/retrieveDeployAgentActionResults(activityId='{}',cloudPcId='')",
        deployed["value"].as_str().unwrap()
    );
    let results_before = api.follow(&results_path).await;
    let reports_before = api
        .follow(&format!("{base}{SET}/{agent_id}/retrieveActionReports()"))
        .await;
    drop(child);

    let sqlite = format!(
        "sqlite:{}",
        dir.path().join("cloudpc-partners.db").display()
    );
    let run = || migrate_data(&sqlite, &db.url);
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "read 4 records: copied 4, skipped 0 already present"
    );
    // Running it again copies nothing twice.
    let out = run();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "read 4 records: copied 0, skipped 4 already present"
    );

    // The same data dir (same key) on PostgreSQL serves the same records, ETags included.
    let child = ServerProcess::spawn(dir.path(), &["--database", &db.url]);
    let base = child.base.clone();
    let list: Value = client
        .get(format!("{base}{SET}"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["value"].as_array().unwrap().len(), 3);
    let got: Value = client
        .get(format!("{base}{SET}/{}", before[0]["id"].as_str().unwrap()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "id",
        "partnerId",
        "enableConnection",
        "connectionStatus",
        "@odata.etag",
    ] {
        assert_eq!(got[key], patched[key], "{key}");
    }
    let n = client
        .get(format!("{base}{SET}/$count"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(n, "1");
    // The agent side came along: setting, results and reports.
    let api = Api::new(client.clone(), &base, &tok);
    assert_eq!(
        api.get(&agent_id).await["agentSetting"]["agentUrl"],
        "https://p.example/a.msi"
    );
    let moved = |path: &str| {
        path.replacen(
            &results_path[..results_path.find("/beta").unwrap()],
            &base,
            1,
        )
    };
    assert_eq!(
        api.follow(&moved(&results_path)).await["value"],
        results_before["value"]
    );
    assert_eq!(
        api.follow(&format!("{base}{SET}/{agent_id}/retrieveActionReports()"))
            .await["value"],
        reports_before["value"]
    );
    drop(child);

    // Wrong arguments are refused with a clear message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args(["migrate-data", "--from", "/nope.db", "--to", &db.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:PATH"));
}

/// With N processes over one database a caller's budget is the configured one, not
/// N times it: each process leases tokens from the shared bucket. Writes are sent
/// round-robin across the processes, quicker than the window refills them.
#[tokio::test]
async fn processes_share_one_throttling_budget() {
    for processes in [2, 3] {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "--database",
            db.url.as_str(),
            "--throttle-window",
            "60s",
            "--throttle-writes",
            "120",
        ];
        let servers: Vec<ServerProcess> = (0..processes)
            .map(|_| ServerProcess::spawn(dir.path(), &args))
            .collect();
        let tok = token_from_cli(dir.path(), TENANT_A);
        let client = crate::support::http_client();
        let mut created = 0;
        let mut refused = 0;
        for i in 0..360 {
            let base = &servers[i % processes].base;
            let res = client
                .post(format!("{base}{SET}"))
                .bearer_auth(&tok)
                .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": true}))
                .send()
                .await
                .unwrap();
            match res.status() {
                StatusCode::CREATED => created += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(res.headers().contains_key("retry-after"));
                    refused += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
        // 120 in the window, ±10 %; a little more refills while the test runs.
        assert!(
            (108..=140).contains(&created),
            "{processes} processes admitted {created} writes against a budget of 120 ({refused} refused)"
        );
    }
}
