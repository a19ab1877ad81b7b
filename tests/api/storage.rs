//! Storage trouble. A full disk: what is acknowledged is stored, what cannot be
//! stored is a 503 with Retry-After, reads go on, readiness says so, and a full log
//! never fails a request. A database outage: readiness names its cause at once.
//! Needs root to mount a small tmpfs; elsewhere it is skipped with a notice (CI runs
//! as root, so it runs there).

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Command, Stdio};
use uuid::Uuid;

/// A 3 MiB tmpfs, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the full-disk test: it needs root to mount a tmpfs");
            }
            eprintln!("*** full-disk test SKIPPED: cannot mount a tmpfs (needs root) ***");
            return None;
        }
        Some(SmallDisk { path, _dir: dir })
    }

    /// Fills what is left with a file; returns it, to be removed to free the space.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let one = [0u8; 1];
        while f.write_all(&one).is_ok() {}
        filler
    }
}

impl SmallDisk {
    /// From now on nothing on it can be written.
    fn remount_read_only(&self) {
        let done = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(done.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_a_503_nothing_acknowledged_is_lost_and_reads_go_on() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let data = disk.path.join("data");
    // The log goes to the same disk, so it fills too.
    let log = std::fs::File::create(disk.path.join("server.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-throttling",
        "--heartbeat-flush-interval",
        "100ms",
        "--data-dir",
    ])
    .arg(&data)
    .env_remove("DATABASE_URL")
    .env("RUST_LOG", "info")
    .stderr(log);
    let server = ServerProcess::start(cmd).expect("the server starts");
    let tok = token_from_cli(&data, TENANT_A);
    let client = crate::support::http_client();
    let api = Api::new(client.clone(), &server.base, &tok);
    let partner = Uuid::new_v4();
    let stored = api.create(partner, true).await;
    let id = stored["id"].as_str().unwrap().to_owned();
    let cred =
        Tokens::for_data_dir(&data).partner(TENANT_A, partner, chrono::Utc::now().timestamp());
    let beat = Api::new(client.clone(), &server.base, &cred);
    assert_eq!(beat.heartbeat().await.unwrap(), StatusCode::NO_CONTENT);

    let filler = disk.fill();
    // Writes cannot be stored: 503 with Retry-After, never a 2xx.
    let res = client
        .post(format!("{}{SET}", server.base))
        .bearer_auth(&tok)
        .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable").await;
    let res = client
        .post(format!("{}/partner/v1/sync", server.base))
        .bearer_auth(&cred)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable").await;
    // Readiness says so; reads (and liveness) go on, with the log's disk full too.
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("writes are failing"));
    assert_eq!(
        client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(api.get(&id).await["id"], id.as_str());
    // A heartbeat that cannot be flushed is refused rather than held in memory.
    let _ = beat.heartbeat().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        beat.heartbeat().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(api.list("").await["value"].as_array().unwrap().len(), 1);

    // Space again: readiness and heartbeats come back by themselves (the flusher's
    // next write or probe), writes work, and what was acknowledged is there.
    std::fs::remove_file(filler).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(beat.heartbeat().await.unwrap(), StatusCode::NO_CONTENT);
    let again = api.create(Uuid::new_v4(), false).await;
    assert_eq!(again["enableConnection"], false);
    assert_eq!(
        client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(api.count(None).await, 2);
}

/// Concurrent writes share commits (group commit on the embedded database), yet each
/// answers for itself: a duplicate in the same batch is a 409 without undoing the
/// others, and every 201 is stored.
#[tokio::test]
async fn concurrent_writes_share_commits_and_answer_each_for_itself() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let partners: Vec<Uuid> = (0..40).map(|i| Uuid::from_u128(1000 + (i % 30))).collect();
    let answers = futures_util::future::join_all(partners.iter().map(|p| {
        let req = s
            .client
            .post(s.url(SET))
            .bearer_auth(&tok)
            .json(&json!({"partnerId": p, "enableConnection": true}));
        async move { req.send().await.unwrap().status() }
    }))
    .await;
    let created = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = answers
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (30, 10), "{answers:?}");
    assert_eq!(s.api(&tok).count(None).await, 30);
    let metrics = s.text("/metrics").await;
    assert!(
        metrics.contains("sqlite_group_commit_batch_size"),
        "{metrics}"
    );
}

/// Under writes that never pause, with reads beside them, the write-ahead log is still
/// copied into the database file and reused: it stays near SQLite's 4 MB mark rather
/// than growing with every write (a checkpointer that ran beside the writer never
/// finished under such load, and the log grew without bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_under_constant_writes() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let writers = (0..8).map(|w| {
        let api = s.api(&tok);
        async move {
            for i in 0..400u128 {
                api.create(Uuid::from_u128((w << 32) | i), true).await;
            }
        }
    });
    let readers = (0..2).map(|_| {
        let api = s.api(&tok);
        async move {
            for _ in 0..400 {
                api.list("$top=5").await;
            }
        }
    });
    futures_util::future::join(
        futures_util::future::join_all(writers),
        futures_util::future::join_all(readers),
    )
    .await;
    assert_eq!(s.api(&tok).count(None).await, 3_200);
    let wal = s
        .config
        .data_dir
        .join(format!("{}-wal", cloudpc_partners::store::SQLITE_FILE));
    let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(len < 12 * 1024 * 1024, "the log is {len} bytes");
}

/// A PostgreSQL outage: `/readyz` answers 503 within about a second and names the
/// cause (connection refused), where the pool alone says only "timed out" after
/// its acquire timeout. The outage is made by cutting a forwarder between the
/// service and the database.
#[tokio::test]
async fn a_database_outage_is_named_and_readyz_answers_at_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let forwarder = listener.local_addr().unwrap();
    let pipes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
    let accepting = {
        let pipes = pipes.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                pipes.lock().unwrap().push(pipe.abort_handle());
            }
        })
    };
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(forwarder.port())).unwrap();
    let s = test_server!(|c| c.database = Some(url.to_string()));
    let tok = s.admin(TENANT_A);
    s.create(&tok, Uuid::new_v4(), true).await;
    let ready = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // The outage: nothing listens any more, and every open connection is cut.
    accepting.abort();
    let _ = accepting.await;
    for pipe in pipes.lock().unwrap().drain(..) {
        pipe.abort();
    }
    let started = std::time::Instant::now();
    let res = s.client.get(s.url("/readyz")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = res.text().await.unwrap();
    assert!(body.starts_with("database unreachable: "), "{body}");
    assert!(body.to_lowercase().contains("refused"), "{body}");
    // The pool's acquire timeout is 5 s; the probe answers well before it.
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    // Clients get a 503 to retry, never a 500.
    let res = s.get(SET, &tok).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// `migrate-data` reads a source on a read-only mount as it is, and a conflict in the
/// target names the partner and both ids.
#[tokio::test]
async fn migrate_data_reads_a_read_only_source_and_names_a_conflict() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    // An embedded deployment, stopped cleanly (nothing left in its -wal file).
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &[]);
    let tok = token_from_cli(dir.path(), TENANT_A);
    let api = Api::new(crate::support::http_client(), &server.base, &tok);
    let taken = Uuid::new_v4();
    let here = api.create(taken, true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.create(Uuid::new_v4(), true).await;
    assert!(server.terminate().success());
    for name in ["cloudpc-partners.db", "cloudpc-partners.db-wal"] {
        let from = dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, disk.path.join(name)).unwrap();
        }
    }
    disk.remount_read_only();
    let from = format!("sqlite:{}", disk.path.join("cloudpc-partners.db").display());
    let migrate = || migrate_data(&from, &db.url);
    // The same partner already in the target under another id.
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ServerProcess::spawn(target_dir.path(), &["--database", &db.url]);
    let there = Api::new(
        crate::support::http_client(),
        &target.base,
        token_from_cli(target_dir.path(), TENANT_A),
    )
    .create(taken, true)
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(target.terminate().success());
    let out = migrate();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("partnerId {taken}")), "{err}");
    assert!(err.contains(&here) && err.contains(&there), "{err}");
    // Resolved in the target: the copy goes through, from the read-only source.
    let client = pg_client(&db.url).await.unwrap();
    client
        .execute("DELETE FROM external_partners WHERE id = $1", &[&there])
        .await
        .unwrap();
    let out = migrate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "read 2 records: copied 2, skipped 0 already present"
    );
}
