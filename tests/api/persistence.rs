//! Data survives a restart, and an acknowledged write survives `kill -9`.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;
use uuid::Uuid;

#[tokio::test]
async fn data_survives_a_clean_restart() {
    let mut s = test_server!();
    let tok = s.admin(TENANT_A);
    let created = s.create(&tok, Uuid::new_v4(), true).await;
    s.stop().await;

    let config = s.config.clone();
    let restarted = cloudpc_partners::start(&config, s.clock.clone())
        .await
        .unwrap();
    let url = format!(
        "http://{}{SET}/{}",
        restarted.addr,
        created["id"].as_str().unwrap()
    );
    let got: Value = s
        .client
        .get(&url)
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["partnerId"], created["partnerId"]);
    restarted.shutdown().await.unwrap();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ServerProcess::spawn(dir.path(), &[]);
    let base = child.base.clone();
    let key = dir.path().join("signing-keys").join("key-1.pem");
    assert!(key.exists(), "the signing key is created on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let tok = token_from_cli(dir.path(), TENANT_A);
    let client = crate::support::http_client();
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let res = client
            .post(format!("{base}{SET}"))
            .bearer_auth(&tok)
            .json(&json!({"partnerId": Uuid::new_v4(), "enableConnection": i % 2 == 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        acknowledged.push(v["id"].as_str().unwrap().to_owned());
    }
    let last = format!("{base}{SET}/{}", acknowledged[1]);
    let res = client
        .patch(&last)
        .bearer_auth(&tok)
        .json(&json!({"enableConnection": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    child.kill_9();

    let child = ServerProcess::spawn(dir.path(), &[]);
    let base = child.base.clone();
    let count = client
        .get(format!("{base}{SET}/$count"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "40");
    for id in &acknowledged {
        let res = client
            .get(format!("{base}{SET}/{id}"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{id} lost");
    }
    let v: Value = client
        .get(format!("{base}{SET}/{}", acknowledged[1]))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["enableConnection"], true, "acknowledged PATCH lost");
    // The same data dir means the same key: the old token still works (checked above).
    drop(child);
}

#[tokio::test]
async fn serve_drains_and_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ServerProcess::spawn(dir.path(), &[]);
    let base = child.base.clone();
    let client = crate::support::http_client();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let tok = token_from_cli(dir.path(), TENANT_A);
    Api::new(client.clone(), &base, &tok)
        .create(Uuid::new_v4(), true)
        .await;
    let status = child.terminate();
    assert!(status.success(), "exit status {status:?}");

    // A clean stop leaves everything in the database file itself: a copy of that
    // file alone (no -wal beside it) holds the record.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("cloudpc-partners.db"),
        copy.path().join("alone.db"),
    )
    .unwrap();
    let conn = rusqlite::Connection::open(copy.path().join("alone.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM external_partners", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn serve_without_flags_works_in_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    // Only the port is chosen (8080 may be taken); the data dir is the default, relative one.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDPC_PARTNERS_DATA_DIR")
        .stderr(std::process::Stdio::null());
    let server = ServerProcess::start(cmd).expect("the server starts");
    let base = server.base.clone();
    let data = dir.path().join("cloudpc-partners-data");
    assert!(data.join("signing-keys/key-1.pem").exists());
    assert!(data.join("cloudpc-partners.db").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args(["token", "--tenant", &TENANT_A.to_string()])
        .current_dir(dir.path())
        .env_remove("CLOUDPC_PARTNERS_DATA_DIR")
        .output()
        .unwrap();
    let tok = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let res = crate::support::http_client()
        .get(format!("{base}{SET}"))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_in_memory_database_reads_what_it_wrote() {
    for flags in [&["--in-memory"][..], &["--database", "sqlite::memory:"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let throwaways = || temp_dirs_named("cloudpc-partners-");
        let before = throwaways();
        let mut server = ServerProcess::spawn(dir.path(), flags);
        let tok = token_from_cli(dir.path(), TENANT_A);
        let api = Api::new(crate::support::http_client(), &server.base, &tok);
        let created = api.create(Uuid::new_v4(), true).await;
        let id = created["id"].as_str().unwrap();
        assert_eq!(api.get(id).await["id"], id, "{flags:?}");
        assert_eq!(api.count(None).await, 1, "{flags:?}");
        assert_eq!(
            api.list("$filter=connectionStatus eq 'available'").await["value"][0]["id"],
            id
        );
        assert!(
            !dir.path().join("cloudpc-partners.db").exists(),
            "nothing in the data dir"
        );
        // The throwaway database goes with a clean stop. (Other tests' servers may
        // make and remove their own meanwhile: only new ones that stay count.)
        let pid = server.child.id();
        assert!(server.terminate().success());
        let left: Vec<_> = throwaways()
            .difference(&before)
            .filter(|p| {
                p.to_string_lossy()
                    .contains(&format!("cloudpc-partners-{pid}-"))
            })
            .cloned()
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// `--in-memory` without `--data-dir` writes nothing outside its throwaway
/// directories, and what a `kill -9` leaves behind is swept by the next start.
#[test]
fn an_in_memory_server_leaves_nothing_behind_even_killed() {
    let cwd = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--in-memory"])
            .current_dir(cwd.path())
            .env_remove("DATABASE_URL")
            .env_remove("CLOUDPC_PARTNERS_DATA_DIR")
            .stderr(std::process::Stdio::null());
        ServerProcess::start(cmd).expect("an in-memory server starts")
    };
    let owned_by = |pid: u32| temp_dirs_named(&format!("cloudpc-partners-{pid}-"));
    let mut first = start();
    let pid = first.child.id();
    let dirs = owned_by(pid);
    // The database's and the data dir (keys, certificates).
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    first.kill_9();
    assert_eq!(owned_by(pid).len(), 2, "a killed process cannot clean up");
    let mut second = start();
    assert!(owned_by(pid).is_empty(), "the next start sweeps them");
    assert!(second.terminate().success());
    assert!(owned_by(second.child.id()).is_empty());
    let written: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(
        written.is_empty(),
        "written in the working directory: {written:?}"
    );
}

/// One process owns an embedded database (its pending heartbeats, budgets and kept
/// records live in its memory): a second server on the same data dir is refused at
/// start-up, saying why and what to do instead.
#[tokio::test]
async fn a_second_server_on_the_same_embedded_database_is_refused() {
    let s = test_server!();
    let err = match cloudpc_partners::start(&s.config, s.clock.clone()).await {
        Ok(_) => panic!("a second server started on the same SQLite file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("in use by another cloudpc-partners process"),
        "{err}"
    );
    assert!(err.contains("PostgreSQL"), "{err}");

    // The lock follows the file, not the path: a symbolic link to it, or to its
    // folder, meets the same lock.
    let links = tempfile::tempdir().unwrap();
    let db = s.config.data_dir.join("cloudpc-partners.db");
    let file_link = links.path().join("db-link.sqlite");
    std::os::unix::fs::symlink(&db, &file_link).unwrap();
    let dir_link = links.path().join("dir-link");
    std::os::unix::fs::symlink(&s.config.data_dir, &dir_link).unwrap();
    for other in [
        format!("sqlite:{}", file_link.display()),
        format!("sqlite:{}/cloudpc-partners.db", dir_link.display()),
        format!(
            "sqlite:{}/../{}/cloudpc-partners.db",
            s.config.data_dir.display(),
            s.config.data_dir.file_name().unwrap().to_string_lossy()
        ),
    ] {
        let mut config = cloudpc_partners::config::ServeConfig::for_data_dir(links.path());
        config.database = Some(other.clone());
        let err = match cloudpc_partners::start(&config, s.clock.clone()).await {
            Ok(_) => panic!("a second server started on the same SQLite file as {other}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("in use by another cloudpc-partners process"),
            "{other}: {err}"
        );
    }
}

/// The entries of the system's temporary directory whose names start with `prefix`.
fn temp_dirs_named(prefix: &str) -> std::collections::HashSet<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}
