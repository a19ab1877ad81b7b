//! Assembles the service: configuration → store → router, and runs it.

use crate::auth::authority::Authority;
use crate::auth::{Authenticator, KeySource};
use crate::clock::Clock;
use crate::config::{ConnectionConfig, DevConfig, ServeConfig};
use crate::connections::Connections;
use crate::dev::faults::FaultSettings;
use crate::dev::{DevKit, DevState};
use crate::http::extract::ServiceScheme;
use crate::http::limits::RequestTimeout;
use crate::http::slots::Slots;
use crate::model::HealthPolicy;
use crate::ops::MetricsAccess;
use crate::proxy::{HostCertificates, Proxy, ProxySettings, DEFAULT_HOSTS};
use crate::state::AppState;
use crate::store::{self, DatabaseUrl};
use crate::throttle::Throttle;
use crate::{graph, http};
use anyhow::Context;
use axum::http::{header, HeaderName, Method};
use axum::{Extension, Router, ServiceExt};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tower::util::MapRequestLayer;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Builds the application state from configuration, and dev mode's kit when it is on.
pub async fn build_state(
    config: &ServeConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, Option<Arc<DevKit>>)> {
    let kit = match config.dev.enabled {
        true => Some(Arc::new(dev_kit(&config.dev, clock.clone())?)),
        false => None,
    };
    // In dev mode the service runs on the kit's clock, which the dev API moves.
    let clock: Arc<dyn Clock> = match &kit {
        Some(kit) => kit.clock.clone(),
        None => clock,
    };
    let tokens = &config.tokens;
    let keys = match (&tokens.authority, &tokens.jwks_file) {
        (Some(url), _) => KeySource::Authority {
            authority: Arc::new(Authority::new(url, tokens.authority_ca.as_deref())?),
            audiences: tokens.audience.clone(),
            allowed_tenants: tokens.allowed_tenants.clone(),
        },
        (None, Some(path)) => KeySource::from_jwks_file(
            path,
            tokens.issuer.clone().unwrap_or_default(),
            tokens.audience.clone(),
            tokens.allowed_tenants.clone(),
        )?,
        (None, None) => KeySource::Local {
            keys: Arc::new(crate::auth::SigningKeys::load_or_create(&config.data_dir)?),
        },
    };
    let heartbeat_timeout = chrono::Duration::from_std(config.heartbeats.timeout.get())
        .context("--heartbeat-timeout is too large")?;
    let url = database_url(config)?;
    use crate::store::Store as _;
    let store = store::open(&url, &config.postgres.settings()).await?;
    store.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "the database {} does not accept writes ({e}); check that this process may write to it (for the embedded database: the data dir and its files, {})",
            match &url {
                DatabaseUrl::Sqlite(p) => p.display().to_string(),
                DatabaseUrl::Postgres(u) => store::redact(u),
                DatabaseUrl::Memory => "in memory".into(),
            },
            config.data_dir.display()
        )
    })?;
    let throttle = Arc::new(match store.pools().buckets() {
        Some(buckets) => Throttle::shared(
            config.throttling.limits(),
            clock.clone(),
            Arc::new(DatabaseBuckets(buckets)),
        ),
        None => Throttle::new(config.throttling.limits(), clock.clone()),
    });
    let store: Arc<dyn crate::store::Store> = Arc::new(store);
    let state = AppState::new(crate::state::Shared {
        connections: Arc::new(Connections::new(
            store,
            HealthPolicy { heartbeat_timeout },
            config.heartbeats.partner_cache_ttl.get(),
            clock.clone(),
        )),
        throttle,
        auth: Arc::new(Authenticator::new(keys)),
        clock,
        legacy_settings: !config.no_legacy_settings,
        request_timeout: config.connections.request_timeout.get(),
    });
    Ok((state, kit))
}

/// The throttle's shared buckets, kept in the database several processes share.
struct DatabaseBuckets(store::postgres::buckets::Buckets);

#[async_trait::async_trait]
impl crate::throttle::SharedBuckets for DatabaseBuckets {
    async fn lease(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        want: u32,
        now_ms: i64,
    ) -> Result<crate::throttle::Lease, String> {
        let (granted, left) = self
            .0
            .lease(key, capacity, per_ms, want, now_ms)
            .await
            .map_err(|e| e.to_string())?;
        Ok(crate::throttle::Lease { granted, left })
    }

    async fn forget_idle(&self, now_ms: i64) -> Result<u64, String> {
        self.0.forget_idle(now_ms).await.map_err(|e| e.to_string())
    }
}

/// The database a configuration names: `--in-memory`, `--database`, or the embedded
/// one in the data dir.
pub fn database_url(config: &ServeConfig) -> anyhow::Result<DatabaseUrl> {
    match config.in_memory {
        true => Ok(DatabaseUrl::Memory),
        false => Ok(DatabaseUrl::parse(
            config.database.as_deref(),
            &config.data_dir,
        )?),
    }
}

/// Dev mode's kit, with the faults `--faults` starts with.
fn dev_kit(config: &DevConfig, clock: Arc<dyn Clock>) -> anyhow::Result<DevKit> {
    let faults = match &config.faults {
        None => None,
        Some(text) => {
            let value: serde_json::Value =
                serde_json::from_str(text).context("--faults is not JSON")?;
            Some(FaultSettings::parse(&value).map_err(|e| anyhow::anyhow!("--faults: {e}"))?)
        }
    };
    Ok(DevKit::new(
        clock,
        faults,
        config.journal_capacity as usize,
        config.dev_shared,
    ))
}

/// The whole HTTP surface; `origin` says how clients connect (`http` or `https`),
/// for the links the service writes. Dev mode, when on, is layered onto the API
/// routes here and nowhere else.
pub fn router(
    state: AppState,
    dev: Option<&DevState>,
    origin: ServiceScheme,
    metrics: MetricsAccess,
) -> Router {
    let timeout = RequestTimeout(state.request_timeout);
    // A batch's items run through the Graph routes as layered here, but without
    // `$batch` itself and without any other front.
    let items = graph::routes(state.legacy_settings);
    let item_paths = graph::KnownPaths::new(items.paths());
    let items = envelope(
        api(dev, items.into_parts().0, Router::new(), item_paths),
        origin.clone(),
        timeout,
    )
    .with_state(state.clone());
    let graph = graph::routes(state.legacy_settings).merge(graph::batch_route(items));
    let known = graph::KnownPaths::new(graph.paths());
    let (faulted, mut described) = graph.merge(crate::partner::routes()).into_parts();
    let (authority, authority_described) = dev
        .map(DevState::authority)
        .unwrap_or_default()
        .into_parts();
    let (controls, controls_described) =
        dev.map(DevState::controls).unwrap_or_default().into_parts();
    described.merge(controls_described);
    described.merge(authority_described);
    let routes = api(dev, faulted, authority, known)
        .merge(controls)
        .merge(crate::ops::routes(metrics))
        .merge(crate::site::routes(dev.is_some(), Arc::new(described)));
    envelope(routes, origin, timeout).with_state(state)
}

/// The API routes with what dev mode adds: faults on `faulted`, and the journal on
/// those, on `unfaulted` (the token endpoint) and on unknown paths, which `known`
/// answers.
fn api(
    dev: Option<&DevState>,
    faulted: Router<AppState>,
    unfaulted: Router<AppState>,
    known: graph::KnownPaths,
) -> Router<AppState> {
    let unknown = graph::unknown_path(known);
    match dev {
        None => faulted.merge(unfaulted).fallback(unknown),
        Some(dev) => dev.journaled(dev.faulted(faulted).merge(unfaulted).fallback(unknown)),
    }
}

/// What wraps every route: a panic becomes the Graph 500 (inside the request context,
/// so it gets its ids, log line and metrics), then CORS outermost.
///
/// One layer built from the whole stack, not one `Router::layer` per middleware: each
/// of those boxes every route again, and a request paid a boxed clone and call per
/// layer.
fn envelope<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    origin: ServiceScheme,
    timeout: RequestTimeout,
) -> Router<S> {
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(Extension(timeout))
            .layer(cors())
            .layer(Extension(origin))
            .layer(axum::middleware::from_fn(http::context::request_context))
            .layer(axum::middleware::from_fn(http::limits::request_timeout))
            .layer(CatchPanicLayer::custom(answer_panic)),
    )
}

/// A handler's panic: logged, and answered as any internal error is.
fn answer_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = what, "request handler panicked");
    axum::response::IntoResponse::into_response(http::ApiError::Internal)
}

fn cors() -> CorsLayer {
    CorsLayer::new()
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
            HeaderName::from_static("preference-applied"),
        ])
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// The operations listener's address, with `--ops-listen`.
    pub ops_addr: Option<SocketAddr>,
    /// The intercepting proxy's address, with `--dev --proxy-listen`.
    pub proxy_addr: Option<SocketAddr>,
    /// `http` or `https`.
    pub scheme: &'static str,
    pub state: AppState,
    handle: axum_server::Handle<SocketAddr>,
    shutdown_grace: std::time::Duration,
    task: JoinHandle<std::io::Result<()>>,
    /// The main listener's and the proxy's connection slots, which carry the shutdown.
    slots: Vec<Slots>,
    stop_flusher: tokio::sync::watch::Sender<bool>,
    /// Tells the proxy's open tunnels to finish and close.
    closing: tokio::sync::watch::Sender<bool>,
    flusher: JoinHandle<()>,
    simulator: Option<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
    upkeep: JoinHandle<()>,
    /// Keeps an authority's keys fresh, with `--authority`.
    refresher: Option<JoinHandle<()>>,
}

impl Server {
    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Answers every request already received (with `Connection: close`) and closes
    /// each connection once nothing on it is unanswered, then stops accepting and
    /// lets what is still in flight finish, all within the shutdown grace (a client
    /// holding a connection open cannot hold up the exit); writes pending
    /// heartbeats, and waits for all of it to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let _ = self.closing.send(true);
        for slots in &self.slots {
            slots.begin_closing();
        }
        let drained = async {
            for slots in &self.slots {
                slots.drained().await;
            }
        };
        let _ = tokio::time::timeout(self.shutdown_grace, drained).await;
        let left = self.shutdown_grace.saturating_sub(started.elapsed());
        self.handle.graceful_shutdown(Some(left));
        self.task.await??;
        self.sweeper.abort();
        self.upkeep.abort();
        if let Some(refresher) = self.refresher {
            refresher.abort();
        }
        let _ = self.stop_flusher.send(true);
        if let Some(simulator) = self.simulator {
            simulator.await?;
        }
        self.flusher.await?;
        self.state.connections.close().await;
        Ok(())
    }
}

/// Descriptors kept for everything but client connections (the database, the
/// listeners, files).
const RESERVED_DESCRIPTORS: usize = 64;

/// The connection cap, lowered if the process may not open that many descriptors: a
/// cap above the limit would let idle sockets starve the database and the listener.
fn connection_cap(configured: usize) -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    match limit {
        Some(n) if configured + RESERVED_DESCRIPTORS > n => {
            let cap = n.saturating_sub(RESERVED_DESCRIPTORS).max(1);
            tracing::warn!(
                configured,
                open_file_limit = n,
                cap,
                "--max-connections lowered to fit the open-file limit"
            );
            cap
        }
        _ => configured,
    }
}

/// Loads `--seed FILE`: every tenant's connections, all or none.
async fn seed_from_file(state: &AppState, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the seed file {}", path.display()))?;
    let seed: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the seed file {} is not JSON", path.display()))?;
    let records =
        crate::dev::seed::parse_tenants(&seed, state.clock.now(), &state.connections.health())
            .map_err(|e| anyhow::anyhow!("the seed file {}: {e}", path.display()))?;
    // Started again on the same data (a restart with the same flags), the file adds
    // only the connections not there yet; those there are kept as they are now.
    let given = records.len();
    let records = state
        .connections
        .not_yet_seeded(records)
        .await
        .map_err(|e| anyhow::anyhow!("the seed file {}: {e}", path.display()))?;
    state.connections.seed(&records).await.map_err(|e| {
        anyhow::anyhow!("the seed file {} could not be stored: {e}", path.display())
    })?;
    tracing::info!(
        added = records.len(),
        already_there = given - records.len(),
        "seeded (connections already there are kept as stored; --in-memory or POST /dev/v1/reset starts afresh)"
    );
    Ok(())
}

/// The intercepting proxy's listener, bound (on loopback unless allowed otherwise),
/// and the proxy that serves it.
fn proxy_listener(
    config: &ServeConfig,
    addr: &str,
    app: Router,
    closing: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(std::net::TcpListener, Arc<Proxy>)> {
    let settings = &config.dev.proxy;
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} (--proxy-listen)"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() && !settings.proxy_allow_remote {
        anyhow::bail!(
            "--proxy-listen {addr} is not a loopback address: whoever reaches the proxy reaches the stand-in and, through pass-through, whatever this machine can; listen on 127.0.0.1, or add --proxy-allow-remote"
        );
    }
    let mut hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect();
    hosts.extend(settings.hosts.iter().cloned());
    let ca = crate::tls::DevCa::load_or_create(&config.data_dir)?;
    tracing::info!(
        addr = %bound,
        ca = %ca.cert_file().display(),
        passthrough = settings.proxy_passthrough,
        "intercepting proxy listening; `cloudpc-partners env` prints what an app sets to use it"
    );
    let proxy = Proxy::new(
        ProxySettings {
            hosts,
            passthrough: settings.proxy_passthrough,
            connect_timeout: std::time::Duration::from_secs(10),
            header_timeout: config.connections.header_timeout.get(),
        },
        HostCertificates::new(ca),
        // The service's router as the main listener runs it, paths made canonical.
        app,
        closing,
    );
    Ok((listener, proxy))
}

/// A client gets the header timeout for each request's headers, including the wait
/// for the next request on a kept-alive connection.
fn header_timeouts<A, Acc>(server: &mut axum_server::Server<A, Acc>, limits: &ConnectionConfig)
where
    A: axum_server::Address,
{
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout.get());
}

/// Binds, builds and starts serving; returns once the port is open.
pub async fn start(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
    crate::tls::install_crypto_provider();
    let limits = &config.connections;
    let tls = match config.tls.files(&config.data_dir)? {
        Some(files) => {
            if let Some(ca) = &files.ca {
                tracing::info!(
                    ca = %ca.display(),
                    "serving HTTPS with a development certificate; trust its CA with NODE_EXTRA_CA_CERTS={0} (Node), SSL_CERT_FILE={0} or REQUESTS_CA_BUNDLE={0} (Python), or curl --cacert {0}",
                    ca.display()
                );
            }
            Some(crate::tls::server_config(&files).await?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (state, kit) = build_state(config, clock).await?;
    let dev = kit.map(|kit| DevState {
        app: state.clone(),
        kit,
    });
    if let Some(path) = &config.dev.seed {
        seed_from_file(&state, path).await?;
    }
    crate::ops::prometheus();
    let listener = std::net::TcpListener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.dev.enabled && !addr.ip().is_loopback() {
        if !config.dev.dev_allow_remote {
            anyhow::bail!(
                "--dev on {addr}, a non-loopback address: whoever reaches it can move the clock, inject faults, read the journal and mint tokens; listen on 127.0.0.1, or add --dev-allow-remote (in a container, where 0.0.0.0 is the only way in)"
            );
        }
        tracing::warn!(%addr, "dev mode on a non-loopback address (--dev-allow-remote): whoever reaches it can move the clock, inject faults, read the journal and mint tokens");
    }
    let ops_listener = match &config.connections.ops_listen {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (--ops-listen)"))?,
        ),
        None => None,
    };
    let metrics = match ops_listener {
        Some(_) => MetricsAccess::Elsewhere,
        None => MetricsAccess::LoopbackOnly,
    };
    let origin = ServiceScheme {
        scheme,
        public_url: config.public_url.clone(),
        trust_forwarded_proto: config.trust_forwarded_proto,
    };
    let routes = router(state.clone(), dev.as_ref(), origin.clone(), metrics);
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    let proxy = match (&config.dev.proxy.proxy_listen, &dev) {
        (Some(addr), Some(_)) => Some(proxy_listener(config, addr, routes.clone(), closing_seen)?),
        _ => None,
    };
    // Paths are made canonical before routing: `%24batch`, trailing slashes.
    let app = MapRequestLayer::new(http::canonical::canonical_request).layer(routes);
    let make_service =
        ServiceExt::<axum::http::Request<hyper::body::Incoming>>::into_make_service_with_connect_info::<SocketAddr>(app);
    let (stop_flusher, flusher_stopped) = tokio::sync::watch::channel(false);
    let flusher = state
        .connections
        .spawn_heartbeat_flusher(config.heartbeats.flush_interval.get(), flusher_stopped);
    let simulator = dev
        .as_ref()
        .map(|dev| dev.spawn_simulator(stop_flusher.subscribe()));
    // Shared throttling buckets nobody uses any more are full again: drop them.
    let throttle = state.throttle.clone();
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            throttle.forget_idle().await;
        }
    });
    let upkeep = crate::ops::spawn_upkeep();
    let refresher = state.auth.authority().map(Authority::spawn_refresher);
    let handle = axum_server::Handle::new();
    let ops_addr = match &ops_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    if let Some(listener) = ops_listener {
        let ops = envelope(
            crate::ops::routes(MetricsAccess::Anyone),
            origin,
            RequestTimeout(state.request_timeout),
        )
        .with_state(state.clone());
        tracing::info!(addr = %listener.local_addr()?, "operations endpoints listening");
        let mut server = axum_server::from_tcp(listener)?
            .handle(handle.clone())
            .first_request_timeout(limits.header_timeout.get());
        header_timeouts(&mut server, limits);
        tokio::spawn(server.serve(ops.into_make_service()));
    }
    let cap = connection_cap(limits.max_connections as usize);
    let main_slots = Slots::new(cap);
    let mut slots = vec![main_slots.clone()];
    let proxy_addr = match proxy {
        Some((listener, proxy)) => {
            let addr = listener.local_addr()?;
            let proxy_slots = Slots::new(cap);
            slots.push(proxy_slots.clone());
            let mut server = axum_server::from_tcp(listener)?
                .handle(handle.clone())
                .first_request_timeout(limits.header_timeout.get())
                .map(|plain| proxy_slots.acceptor(plain));
            header_timeouts(&mut server, limits);
            tokio::spawn(
                server.serve(
                    proxy
                        .router()
                        .into_make_service_with_connect_info::<SocketAddr>(),
                ),
            );
            Some(addr)
        }
        None => None,
    };
    let task = match tls {
        Some(tls) => {
            let mut server = axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle.clone())
                .first_request_timeout(limits.header_timeout.get())
                .map(|tls| main_slots.acceptor(tls));
            header_timeouts(&mut server, limits);
            tokio::spawn(server.serve(make_service))
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?
                .handle(handle.clone())
                .first_request_timeout(limits.header_timeout.get())
                .map(|plain| main_slots.acceptor(plain));
            header_timeouts(&mut server, limits);
            tokio::spawn(server.serve(make_service))
        }
    };
    Ok(Server {
        addr,
        ops_addr,
        proxy_addr,
        scheme,
        state,
        handle,
        shutdown_grace: config.connections.shutdown_grace.get(),
        task,
        slots,
        stop_flusher,
        closing,
        flusher,
        simulator,
        sweeper,
        upkeep,
        refresher,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    /// A handler that panics answers the Graph 500 body with its request ids, and the
    /// connection stays usable.
    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert!(connection_cap(usize::MAX / 2) < usize::MAX / 2);
        assert_eq!(connection_cap(3), 3);
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_the_graph_500() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        use tower::ServiceExt;
        let origin = ServiceScheme {
            scheme: "http",
            public_url: None,
            trust_forwarded_proto: false,
        };
        let routes: Router = envelope(
            Router::new().route("/boom", get(boom)),
            origin,
            RequestTimeout(std::time::Duration::from_secs(60)),
        );
        let res = routes
            .oneshot(
                axum::extract::Request::get("/boom")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().contains_key("request-id"));
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "InternalServerError");
        assert!(v["error"]["innerError"]["request-id"].is_string());
    }
}
