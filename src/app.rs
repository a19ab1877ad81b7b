//! Assembles the service: configuration → store → router, and runs it.

use crate::auth::{Authenticator, KeySource};
use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::connections::Connections;
use crate::model::HealthPolicy;
use crate::state::AppState;
use crate::store::{self, DatabaseUrl};
use crate::throttle::Throttle;
use crate::{graph, http};
use anyhow::Context;
use axum::http::{header, HeaderName, Method};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Builds the application state from configuration.
pub async fn build_state(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let keys = match &config.tokens.jwks_file {
        Some(path) => KeySource::from_jwks_file(
            path,
            config.tokens.issuer.clone().unwrap_or_default(),
            config.tokens.audience.clone().unwrap_or_default(),
        )?,
        None => KeySource::Local {
            secret: crate::auth::load_or_create_local_secret(&config.data_dir)?,
        },
    };
    let heartbeat_timeout = chrono::Duration::from_std(config.heartbeats.timeout.get())
        .context("--heartbeat-timeout is too large")?;
    let url = DatabaseUrl::parse(config.database.as_deref(), &config.data_dir)?;
    let store = store::open(&url, &config.postgres.settings()).await?;
    Ok(AppState {
        connections: Arc::new(Connections::new(
            store,
            HealthPolicy { heartbeat_timeout },
            config.heartbeats.partner_cache_ttl.get(),
            clock.clone(),
        )),
        throttle: Arc::new(Throttle::new(config.throttling.limits(), clock.clone())),
        auth: Arc::new(Authenticator::new(keys)),
        clock,
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
        .layer(axum::middleware::from_fn(http::context::request_context))
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
        .connections
        .spawn_heartbeat_flusher(config.heartbeats.flush_interval.get(), flusher_stopped);
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
