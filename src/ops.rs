//! Operational endpoints: liveness, readiness and Prometheus metrics.

use crate::http::respond::with_405;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// On the main listener, to clients on this machine only (the default: the
    /// figures span every tenant).
    LoopbackOnly,
    /// Not on this listener (a separate operations listener serves it).
    Elsewhere,
    /// To any client of this listener (the operations listener).
    Anyone,
}

/// The routes operators probe.
pub fn routes(metrics: MetricsAccess) -> Router<AppState> {
    let r = Router::new()
        .route("/healthz", with_405(get(healthz), "GET"))
        .route("/readyz", with_405(get(readyz), "GET"));
    match metrics {
        MetricsAccess::Elsewhere => r,
        MetricsAccess::Anyone => r.route("/metrics", with_405(get(render_metrics), "GET")),
        MetricsAccess::LoopbackOnly => r.route("/metrics", with_405(get(loopback_metrics), "GET")),
    }
}

/// `/metrics` for a client on this machine; a 404 for others, as if absent.
async fn loopback_metrics(State(app): State<AppState>, req: axum::extract::Request) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if !peer.is_some_and(|ip| ip.is_loopback()) {
        return crate::http::ApiError::NotFound(
            "No resource at '/metrics' for this client: metrics are served to this machine only, or on the --ops-listen address.".into(),
        )
        .into_response();
    }
    render_metrics(State(app)).await
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        use metrics_exporter_prometheus::Matcher;
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        // A batch size is a count, not a latency: buckets that fit it.
        let rows = [1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0];
        let builder = PrometheusBuilder::new()
            .set_buckets(&seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("heartbeat_flush_batch_size".into()), &rows)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("sqlite_group_commit_batch_size".into()),
                    &rows,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding program);
        // then our handle still renders what this service records through it.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        process_collector().describe();
        // Counters from zero, so a rate is defined before the first event.
        for name in [
            "heartbeats_received_total",
            "connections_refused_total",
            "connections_evicted_total",
            "log_lines_dropped_total",
        ] {
            metrics::counter!(name).absolute(0);
        }
        metrics::gauge!(
            "cloudpc_partners_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "commit" => env!("CLOUDPC_PARTNERS_COMMIT"),
        )
        .set(1.0);
        handle
    })
}

/// The process's own metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, open descriptors, start time), read at each scrape.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Drains recorded histogram samples into their buckets every few seconds. Without
/// it the exporter keeps every sample until the next scrape, so a service nobody
/// scrapes grew by every request it answered.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            prometheus().run_upkeep();
        }
    })
}

/// `# HELP` for every metric the service records.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by route template, method and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by route template and method."
    );
    describe_counter!("heartbeats_received_total", "Partner heartbeats accepted.");
    describe_gauge!(
        "heartbeats_pending",
        "Connections with a heartbeat not yet written to the database."
    );
    describe_histogram!(
        "heartbeat_flush_seconds",
        Unit::Seconds,
        "Time to write one batch of heartbeats."
    );
    describe_histogram!(
        "heartbeat_flush_batch_size",
        Unit::Count,
        "Heartbeats written per batch."
    );
    describe_histogram!(
        "sqlite_group_commit_batch_size",
        Unit::Count,
        "Writes sharing one commit (and one fsync) on the embedded database."
    );
    describe_histogram!(
        "postgres_group_commit_batch_size",
        Unit::Count,
        "Writes sharing one commit on PostgreSQL (1: a write that found a committer free)."
    );
    describe_gauge!(
        "cloudpc_partners_connections",
        "Partner connections across all tenants, by status (at most 5 s old)."
    );
    describe_gauge!(
        "cloudpc_partners_build_info",
        "Always 1; the version and the commit the binary was built from, as labels."
    );
    describe_counter!(
        "connections_refused_total",
        "Connections closed at once: --max-connections were open and none was idle."
    );
    describe_counter!(
        "connections_evicted_total",
        "Idle connections closed to make room for a new one when --max-connections were open."
    );
    describe_counter!(
        "log_lines_dropped_total",
        "Log lines that could not be written (a full disk, a closed pipe)."
    );
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<AppState>) -> Response {
    // Only while no key set has ever loaded: known keys keep working when the
    // issuer is down.
    if !app.auth.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the token issuer's keys have not loaded yet (--authority unreachable)",
        )
            .into_response();
    }
    match app.connections.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            use crate::connections::ConnectionsError;
            let why = match e {
                ConnectionsError::StorageFailing(_) => {
                    "writes are failing (disk full or I/O error)".to_owned()
                }
                ConnectionsError::Busy => {
                    "every database connection is busy (the database answers a direct connection)"
                        .to_owned()
                }
                ConnectionsError::Unreachable(cause) => format!("database unreachable: {cause}"),
                other => format!("database unreachable: {other}"),
            };
            (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}

async fn render_metrics(State(app): State<AppState>) -> Response {
    match app.connections.status_summary().await {
        Ok(counts) => {
            for s in crate::model::ConnectionStatus::ALL {
                let n = counts[s.value() as usize];
                metrics::gauge!("cloudpc_partners_connections", "status" => s.as_str())
                    .set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot count partners by status"),
    }
    metrics::gauge!("heartbeats_pending").set(app.connections.pending_heartbeats() as f64);
    process_collector().collect();
    let mut res = prometheus().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
