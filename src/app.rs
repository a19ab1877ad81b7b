//! Assembles the service: configuration → store → router, and runs it.

use crate::auth::{Authenticator, Caller, KeySource};
use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::graph::{self, GraphError};
use crate::model::{derive_status, HealthPolicy, PartnerRecord, StatusReport};
use crate::partner::directory::PartnerDirectory;
use crate::partner::heartbeats::HeartbeatBuffer;
use crate::store::{PostgresStore, SqliteStore, StatusClock, Store};
use crate::throttle::Throttle;
use anyhow::Context;
use axum::http::{header, HeaderMap, HeaderName, Method};
use axum::Router;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The embedded database's file name inside the data dir.
pub const SQLITE_FILE: &str = "cloudpc-partners.db";

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub clock: Arc<dyn Clock>,
    pub health: HealthPolicy,
    pub legacy_settings: bool,
    pub throttle: Arc<Throttle>,
    pub heartbeats: Arc<HeartbeatBuffer>,
    pub partners: Arc<PartnerDirectory>,
}

impl AppState {
    /// Authenticates the request's bearer token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, GraphError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(self
            .auth
            .authenticate(header, self.clock.now().timestamp())?)
    }

    /// The connection's health at `now`.
    pub fn status_of(&self, rec: &PartnerRecord, now: DateTime<Utc>) -> StatusReport {
        derive_status(rec, now, &self.health)
    }

    /// What the store needs to evaluate `connectionStatus` in SQL at `now`; the same
    /// instant as `status_of` renders, so filters and representations agree.
    pub fn status_clock(&self, now: DateTime<Utc>) -> StatusClock {
        StatusClock {
            fresh_since: self.health.fresh_since(now),
        }
    }
}

/// Opens the store the configuration names.
pub async fn open_store(config: &ServeConfig) -> anyhow::Result<Arc<dyn Store>> {
    match config.database.as_deref() {
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
            let path = config.data_dir.join(SQLITE_FILE);
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open embedded database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let store = SqliteStore::open(std::path::Path::new(path))
                .await
                .with_context(|| format!("cannot open SQLite database {path}"))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PostgresStore::connect(url, &config.pg_settings())
                .await
                .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
            Ok(Arc::new(store))
        }
        Some(url) => anyhow::bail!(
            "unsupported database URL '{}': use postgres://…, sqlite:PATH, or leave --database out for the embedded database",
            redact(url)
        ),
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Builds the application state from configuration.
pub async fn build_state(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let keys = match &config.jwks_file {
        Some(path) => KeySource::from_jwks_file(
            path,
            config.issuer.clone().unwrap_or_default(),
            config.audience.clone().unwrap_or_default(),
        )?,
        None => KeySource::Local {
            secret: crate::auth::load_or_create_local_secret(&config.data_dir)?,
        },
    };
    let heartbeat_timeout = chrono::Duration::from_std(config.heartbeat_timeout)
        .context("--heartbeat-timeout is too large")?;
    let store = open_store(config).await?;
    Ok(AppState {
        heartbeats: Arc::new(HeartbeatBuffer::new(store.clone())),
        partners: Arc::new(PartnerDirectory::new(config.partner_cache_ttl)),
        throttle: Arc::new(Throttle::new(config.throttle_limits(), clock.clone())),
        store,
        auth: Arc::new(Authenticator::new(keys)),
        clock,
        health: HealthPolicy { heartbeat_timeout },
        legacy_settings: !config.no_legacy_settings,
    })
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            HeaderName::from_static("request-id"),
            HeaderName::from_static("client-request-id"),
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("odata-version"),
        ]);
    graph::routes(state.legacy_settings)
        .merge(crate::ops::routes())
        .merge(crate::partner::routes())
        .fallback(graph::not_found)
        .layer(axum::middleware::from_fn(graph::context::request_context))
        .layer(cors)
        .with_state(state)
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    stop_flusher: tokio::sync::watch::Sender<bool>,
    flusher: JoinHandle<()>,
}

impl Server {
    /// Stops accepting, lets in-flight requests finish, writes pending heartbeats,
    /// and waits for all of it to end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await??;
        let _ = self.stop_flusher.send(true);
        self.flusher.await?;
        Ok(())
    }
}

/// Binds, builds and starts serving; returns once the port is open.
pub async fn start(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
    let state = build_state(config, clock).await?;
    crate::ops::prometheus();
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(state.clone());
    let (stop_flusher, flusher_stopped) = tokio::sync::watch::channel(false);
    let flusher = state
        .heartbeats
        .clone()
        .spawn_flusher(config.heartbeat_flush_interval, flusher_stopped);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok(Server {
        addr,
        state,
        shutdown: Some(tx),
        task,
        stop_flusher,
        flusher,
    })
}
