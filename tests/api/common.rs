//! Test harness: the real server on port 0, a real HTTP client, a clock tests move.
// Shared by two test binaries (embedded and PostgreSQL), each using a subset.
#![allow(dead_code)]

pub use crate::support::{Api, ServerProcess, Tokens, SET, SETTINGS};
use chrono::{TimeZone, Utc};
use cloudpc_partners::auth::TokenKind;
use cloudpc_partners::clock::ManualClock;
pub use cloudpc_partners::config::{ServeConfig, Span};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use uuid::Uuid;

pub const TENANT_A: Uuid = Uuid::from_u128(0xaaaaaaaa_0000_4000_8000_000000000001);
pub const TENANT_B: Uuid = Uuid::from_u128(0xbbbbbbbb_0000_4000_8000_000000000002);

/// Which database a test binary runs its tests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL schema for one test, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    schema: String,
}

impl TestDatabase {
    /// A new schema on `DATABASE_URL`'s server. Without `DATABASE_URL`, `None` (the
    /// test is skipped, with a notice), except under CI, where that is a failure.
    pub async fn create() -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var("DATABASE_URL") else {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the PostgreSQL tests: set DATABASE_URL=postgres://…");
            }
            skip_notice();
            return None;
        };
        let schema = format!("cpt_{}", Uuid::new_v4().simple());
        let client = pg_client(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
        Some(TestDatabase {
            url,
            admin_url,
            schema,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, schema) = (self.admin_url.clone(), self.schema.clone());
        // Drop runs inside the test's runtime; clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(client) = pg_client(&url).await {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A client of the PostgreSQL server at `url`, its connection driven in the background.
pub async fn pg_client(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Says once, on the real stderr (past the test harness's capture), that the
/// PostgreSQL tests did not run.
fn skip_notice() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** PostgreSQL tests SKIPPED: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test) ***\n"
        );
    });
}

/// The server on this binary's backend, or `return` from the test when that backend
/// is unavailable here (PostgreSQL without `DATABASE_URL`, outside CI). With an
/// argument, it adjusts the configuration first.
macro_rules! test_server {
    () => {
        match $crate::common::TestServer::start().await {
            Some(server) => server,
            None => return,
        }
    };
    ($adjust:expr) => {
        match $crate::common::TestServer::start_with($adjust).await {
            Some(server) => server,
            None => return,
        }
    };
}

pub struct TestServer {
    pub server: Option<cloudpc_partners::Server>,
    pub origin: String,
    pub clock: Arc<ManualClock>,
    pub config: ServeConfig,
    pub tokens: Tokens,
    pub client: reqwest::Client,
    /// Kept alive for the test: dropping them removes the schema and data dir.
    pub _database: Option<TestDatabase>,
    pub _dir: tempfile::TempDir,
}

impl TestServer {
    /// The server on this binary's backend; `None` when that backend is unavailable
    /// here (PostgreSQL without `DATABASE_URL`, outside CI).
    pub async fn start() -> Option<Self> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let database = match crate::BACKEND {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create().await?),
        };
        let mut config = ServeConfig::for_data_dir(dir.path());
        config.database = database.as_ref().map(|d| d.url.clone());
        // Most tests create more records than one app may write per window; the
        // throttling tests switch it back on.
        config.throttling.off = true;
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
        ));
        let server = cloudpc_partners::start(&config, clock.clone())
            .await
            .unwrap();
        let tokens = Tokens::for_data_dir(&config.data_dir);
        // Over HTTPS, trust the development CA the server created, as a user would.
        let mut client = crate::support::http_client_builder();
        if config.tls.tls_dev {
            let ca = std::fs::read(config.data_dir.join("tls/dev-ca.pem")).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        }
        let client = client.build().unwrap();
        Some(TestServer {
            origin: server.url(),
            server: Some(server),
            clock,
            config,
            tokens,
            client,
            _database: database,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// A typed client for the caller `token` names.
    pub fn api(&self, token: &str) -> Api {
        Api::new(self.client.clone(), &self.origin, token)
    }

    pub fn mint(&self, tenant: Uuid, kind: TokenKind) -> String {
        self.tokens.mint(tenant, kind, self.clock_now())
    }

    fn clock_now(&self) -> i64 {
        use cloudpc_partners::clock::Clock;
        self.clock.now().timestamp()
    }

    /// A delegated token with CloudPC.ReadWrite.All.
    pub fn admin(&self, tenant: Uuid) -> String {
        self.tokens.admin(tenant, self.clock_now())
    }

    /// A delegated token with CloudPC.Read.All only.
    pub fn reader(&self, tenant: Uuid) -> String {
        self.tokens.reader(tenant, self.clock_now())
    }

    /// A partner credential for `partner_id` in `tenant`.
    pub fn partner(&self, tenant: Uuid, partner_id: Uuid) -> String {
        self.tokens.partner(tenant, partner_id, self.clock_now())
    }

    pub async fn heartbeat(&self, token: &str) -> Response {
        self.request(Method::POST, "/partner/v1/heartbeat", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn sync(&self, token: &str, body: Option<Value>) -> Response {
        let r = self.request(Method::POST, "/partner/v1/sync", token);
        match body {
            Some(b) => r.json(&b),
            None => r,
        }
        .send()
        .await
        .unwrap()
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// The body of an anonymous GET (probes, metrics, `$metadata`, the page).
    pub async fn text(&self, path: &str) -> String {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Every page of a collection, following `@odata.nextLink` from `path` to the end.
    pub async fn pages(&self, path: &str, token: &str) -> Vec<Value> {
        self.api(token).pages(path).await
    }

    /// Creates a partner connection and returns its JSON.
    pub async fn create(&self, token: &str, partner_id: Uuid, enabled: bool) -> Value {
        self.api(token).create(partner_id, enabled).await
    }

    /// Creates a partner connection and returns its id.
    pub async fn create_id(&self, token: &str, partner_id: Uuid, enabled: bool) -> String {
        let v = self.create(token, partner_id, enabled).await;
        v["id"].as_str().unwrap().to_owned()
    }

    /// On PostgreSQL, waits until the server has folded the count changes its
    /// triggers appended into the running totals (it does so every second).
    pub async fn await_counts_folded(&self) {
        let Some(db) = &self._database else { return };
        let client = pg_client(&db.url).await.unwrap();
        for _ in 0..100 {
            let left: i64 = client
                .query_one("SELECT COUNT(*) FROM partner_count_changes", &[])
                .await
                .unwrap()
                .get(0);
            if left == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the count changes were not folded within 5 s");
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

/// Asserts a Graph error response and returns its `error` object.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let request_id = res
        .headers()
        .get("request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: Value = res.json().await.unwrap();
    let err = body["error"].clone();
    assert_eq!(err["code"], code, "code in {body}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.len() > 10),
        "message in {body}"
    );
    assert_eq!(err["innerError"]["request-id"], request_id.as_str());
    assert!(err["innerError"]["date"].as_str().unwrap().ends_with('Z'));
    assert!(err["innerError"]["client-request-id"].is_string());
    err
}

/// The message of a Graph error, after asserting status and code.
pub async fn error_message(res: Response, status: StatusCode, code: &str) -> String {
    assert_error(res, status, code).await["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn token_from_cli(data_dir: &std::path::Path, tenant: Uuid) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args(["token", "--tenant", &tenant.to_string(), "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `migrate-data --from FROM --to TO`, run to its end.
pub fn migrate_data(from: &str, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
        .args(["migrate-data", "--from", from, "--to", to])
        .output()
        .unwrap()
}
