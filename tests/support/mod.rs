//! What the integration tests and the benchmarks share: starting the real binary,
//! minting tokens with a data dir's key, and a typed client with one method per
//! endpoint that returns parsed values.
// Included by several test and bench binaries, each using a subset.
#![allow(dead_code)]

use cloudpc_partners::auth::{
    mint_local_token, MintRequest, SigningKeys, TokenKind, READ_ALL, READ_WRITE_ALL,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

/// An HTTP client, with the process's TLS provider installed first (reqwest takes
/// the process default, and panics without one).
pub fn http_client() -> reqwest::Client {
    http_client_builder()
        .build()
        .expect("an HTTP client with default settings builds")
}

/// A client builder, with the process's TLS provider installed first.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    cloudpc_partners::tls::install_crypto_provider();
    reqwest::Client::builder()
}

pub const SET: &str = "/beta/deviceManagement/virtualEndpoint/externalPartners";
pub const SETTINGS: &str = "/beta/deviceManagement/virtualEndpoint/externalPartnerSettings";

/// A server process; killed when dropped, even by a panic.
pub struct ServerProcess {
    pub child: Child,
    /// `http://ADDR`, from the first line the server prints.
    pub base: String,
}

impl ServerProcess {
    /// `serve` on a free port with `data_dir` and `extra` flags. Its stderr goes to a
    /// log file in the data dir, shown if it fails to start.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn_binary(
            Path::new(env!("CARGO_BIN_EXE_cloudpc-partners")),
            data_dir,
            extra,
        )
    }

    /// `spawn` with another build of the binary (a benchmark's "before").
    pub fn spawn_binary(binary: &Path, data_dir: &Path, extra: &[&str]) -> Self {
        let log_path = data_dir.join(format!("server-{}.log", Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("server log file");
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            // The database is what `extra` says, never one inherited from the environment.
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stderr(log);
        Self::start(cmd).unwrap_or_else(|| {
            panic!(
                "server did not start; its stderr:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        })
    }

    /// Runs a prepared `serve` command and waits for its `listening on` line; `None`
    /// if it exits without one.
    pub fn start(mut cmd: Command) -> Option<Self> {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("server stdout"))
            .read_line(&mut line)
            .expect("read the server's first line");
        match line.trim().strip_prefix("listening on ") {
            Some(base) => Some(ServerProcess {
                base: base.to_owned(),
                child,
            }),
            None => {
                let _ = child.wait();
                None
            }
        }
    }

    /// SIGKILL now: no chance to flush anything.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits: the server drains and exits.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal_term();
        self.child.wait().expect("wait for the server")
    }

    /// SIGTERM, without waiting for the exit.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// (current RSS, peak RSS) in MiB, from /proc.
    pub fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mints tokens with the local keys of a data dir, as `cloudpc-partners token` does.
#[derive(Clone)]
pub struct Tokens {
    keys: std::sync::Arc<SigningKeys>,
}

impl Tokens {
    pub fn for_data_dir(dir: &Path) -> Self {
        Tokens {
            keys: std::sync::Arc::new(
                SigningKeys::load_or_create(dir).expect("local signing keys"),
            ),
        }
    }

    /// The keys themselves, for tests that mint with other settings.
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// Signs `claims` of a test's own with the current local key, as the service does
    /// (RS256, its `kid` in the header).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let key = self.keys.current().expect("a current key");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, key.encoding()).expect("sign")
    }

    /// A token issued at `now` (Unix seconds), valid for an hour.
    pub fn mint(&self, tenant: Uuid, kind: TokenKind, now: i64) -> String {
        mint_local_token(
            &self.keys,
            &MintRequest {
                tenant,
                kind,
                app_id: None,
                lifetime: Duration::from_secs(3600),
                now,
            },
        )
        .expect("mint a token")
    }

    /// A delegated token with CloudPC.ReadWrite.All.
    pub fn admin(&self, tenant: Uuid, now: i64) -> String {
        let scopes = vec![READ_WRITE_ALL.into()];
        self.mint(tenant, TokenKind::Delegated { scopes }, now)
    }

    /// A delegated token with CloudPC.Read.All only.
    pub fn reader(&self, tenant: Uuid, now: i64) -> String {
        let scopes = vec![READ_ALL.into()];
        self.mint(tenant, TokenKind::Delegated { scopes }, now)
    }

    /// A partner credential for `partner_id` in `tenant`.
    pub fn partner(&self, tenant: Uuid, partner_id: Uuid, now: i64) -> String {
        self.mint(tenant, TokenKind::Partner { partner_id }, now)
    }
}

/// A typed client for one caller: one method per endpoint. The value-returning
/// methods assert success; the status-returning ones leave judging to the caller.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    /// `http://ADDR`
    pub origin: String,
    pub token: String,
}

impl Api {
    pub fn new(
        client: reqwest::Client,
        origin: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Api {
            client,
            origin: origin.into(),
            token: token.into(),
        }
    }

    /// The same client acting with another token.
    pub fn as_caller(&self, token: impl Into<String>) -> Api {
        Api {
            token: token.into(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn ok_json(res: reqwest::Response, expected: StatusCode) -> Value {
        let status = res.status();
        let body = res.text().await.expect("response body");
        assert_eq!(status, expected, "{body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    /// `POST …/externalPartners`: the created entity.
    pub async fn create(&self, partner_id: Uuid, enabled: bool) -> Value {
        let res = self
            .client
            .post(self.url(SET))
            .bearer_auth(&self.token)
            .json(&json!({"partnerId": partner_id, "enableConnection": enabled}))
            .send()
            .await
            .expect("create");
        Self::ok_json(res, StatusCode::CREATED).await
    }

    /// `GET …/externalPartners/{id}`
    pub async fn get(&self, id: &str) -> Value {
        let res = self
            .client
            .get(self.url(&format!("{SET}/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get");
        Self::ok_json(res, StatusCode::OK).await
    }

    /// `GET …/externalPartners?{query}`: one page.
    pub async fn list(&self, query: &str) -> Value {
        let res = self
            .client
            .get(self.url(&format!("{SET}?{query}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("list");
        Self::ok_json(res, StatusCode::OK).await
    }

    /// `GET` of a link the service wrote (`@odata.nextLink`, `Location`).
    pub async fn follow(&self, url: &str) -> Value {
        let res = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("follow a link");
        Self::ok_json(res, StatusCode::OK).await
    }

    /// Every page of a collection, following `@odata.nextLink` from `path` to the end.
    pub async fn pages(&self, path: &str) -> Vec<Value> {
        let mut url = self.url(path);
        let mut out = Vec::new();
        loop {
            let page = self.follow(&url).await;
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            out.push(page);
            match next {
                Some(next) => url = next,
                None => return out,
            }
        }
    }

    /// `GET …/externalPartners/$count?$filter=…`
    pub async fn count(&self, filter: Option<&str>) -> u64 {
        self.try_count(filter)
            .await
            .expect("$count answers a number")
    }

    /// Like [`count`](Self::count), `None` on any failure (for load generators).
    pub async fn try_count(&self, filter: Option<&str>) -> Option<u64> {
        let mut req = self
            .client
            .get(self.url(&format!("{SET}/$count")))
            .bearer_auth(&self.token);
        if let Some(f) = filter {
            req = req.query(&[("$filter", f)]);
        }
        let res = req.send().await.ok()?;
        if res.status() != StatusCode::OK {
            return None;
        }
        res.text().await.ok()?.parse().ok()
    }

    /// `PATCH …/externalPartners/{id}` with `enableConnection`: the updated entity.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Value {
        let res = self
            .client
            .patch(self.url(&format!("{SET}/{id}")))
            .bearer_auth(&self.token)
            .json(&json!({"enableConnection": enabled}))
            .send()
            .await
            .expect("patch");
        Self::ok_json(res, StatusCode::OK).await
    }

    /// `DELETE …/externalPartners/{id}`
    pub async fn delete(&self, id: &str) {
        let res = self
            .client
            .delete(self.url(&format!("{SET}/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    /// `POST /partner/v1/heartbeat` (with a partner credential).
    pub async fn heartbeat(&self) -> reqwest::Result<StatusCode> {
        self.client
            .post(self.url("/partner/v1/heartbeat"))
            .bearer_auth(&self.token)
            .send()
            .await
            .map(|r| r.status())
    }

    /// `POST /partner/v1/sync` (with a partner credential).
    pub async fn sync(&self, body: Option<Value>) -> reqwest::Result<StatusCode> {
        let req = self
            .client
            .post(self.url("/partner/v1/sync"))
            .bearer_auth(&self.token);
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
        .await
        .map(|r| r.status())
    }
}
