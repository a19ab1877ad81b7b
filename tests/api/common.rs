//! Test harness: the real server on port 0, a real HTTP client, a clock tests move.

use chrono::{TimeZone, Utc};
use cloudpc_partners::auth::{
    load_or_create_local_secret, mint_local_token, MintRequest, TokenKind,
};
use cloudpc_partners::clock::ManualClock;
use cloudpc_partners::config::ServeConfig;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const TENANT_A: Uuid = Uuid::from_u128(0xaaaaaaaa_0000_4000_8000_000000000001);
pub const TENANT_B: Uuid = Uuid::from_u128(0xbbbbbbbb_0000_4000_8000_000000000002);
pub const SET: &str = "/beta/deviceManagement/virtualEndpoint/externalPartners";
pub const SETTINGS: &str = "/beta/deviceManagement/virtualEndpoint/externalPartnerSettings";

pub struct TestServer {
    pub server: Option<cloudpc_partners::Server>,
    pub origin: String,
    pub clock: Arc<ManualClock>,
    pub config: ServeConfig,
    pub secret: Vec<u8>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::for_data_dir(dir.path());
        // Most tests create more records than one app may write per window; the
        // throttling tests switch it back on.
        config.no_throttling = true;
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
        ));
        let server = cloudpc_partners::start(&config, clock.clone())
            .await
            .unwrap();
        let secret = load_or_create_local_secret(&config.data_dir).unwrap();
        TestServer {
            origin: format!("http://{}", server.addr),
            server: Some(server),
            clock,
            config,
            secret,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    pub fn mint(&self, tenant: Uuid, kind: TokenKind) -> String {
        mint_local_token(
            &self.secret,
            &MintRequest {
                tenant,
                kind,
                app_id: None,
                lifetime: Duration::from_secs(3600),
                now: self.clock_now(),
            },
        )
        .unwrap()
    }

    fn clock_now(&self) -> i64 {
        use cloudpc_partners::clock::Clock;
        self.clock.now().timestamp()
    }

    /// A delegated token with CloudPC.ReadWrite.All.
    pub fn admin(&self, tenant: Uuid) -> String {
        self.mint(
            tenant,
            TokenKind::Delegated {
                scopes: vec!["CloudPC.ReadWrite.All".into()],
            },
        )
    }

    /// A delegated token with CloudPC.Read.All only.
    pub fn reader(&self, tenant: Uuid) -> String {
        self.mint(
            tenant,
            TokenKind::Delegated {
                scopes: vec!["CloudPC.Read.All".into()],
            },
        )
    }

    /// A partner credential for `partner_id` in `tenant`.
    pub fn partner(&self, tenant: Uuid, partner_id: Uuid) -> String {
        self.mint(tenant, TokenKind::Partner { partner_id })
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

    /// Creates a partner connection and returns its JSON.
    pub async fn create(&self, token: &str, partner_id: Uuid, enabled: bool) -> Value {
        let res = self
            .post_json(
                SET,
                token,
                &json!({"partnerId": partner_id, "enableConnection": enabled}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
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
