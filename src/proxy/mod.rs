//! The intercepting proxy (dev mode): an HTTP/1.1 forward proxy that is
//! `graph.microsoft.com` and `login.microsoftonline.com` for the app under test, so
//! an app reaches the stand-in through its proxy setting alone, with no code change.
//!
//! - `CONNECT host:port` to an intercepted host is answered 200 and the tunnel is
//!   ended here with TLS, under a certificate for that host signed by the
//!   development CA; the requests inside are served by the service's own router
//!   (same auth, throttling, faults, journal and state).
//! - `GET http://host/...` (absolute form) to an intercepted host: the same.
//! - Any other host is passed through untouched (a plain tunnel, or the request
//!   forwarded), as Dev Proxy passes through what it does not watch, unless
//!   pass-through is off: then a 502 that names the host.

mod certs;
pub mod env;

pub use certs::HostCertificates;

use crate::http::canonical::canonical_request;
use crate::http::context::standalone_error;
use crate::http::extract::Intercepted;
use crate::http::ApiError;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

/// Graph's and Entra's hosts in every cloud: what the proxy answers for by default.
pub const DEFAULT_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.windows.net",
];

/// How the proxy behaves.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Host names answered here (lower case).
    pub hosts: Vec<String>,
    /// Pass other hosts through; if not, refuse them with a 502.
    pub passthrough: bool,
    /// The longest wait for an upstream connection when passing through.
    pub connect_timeout: Duration,
    /// The longest wait for a tunnel's TLS handshake and each request's headers.
    pub header_timeout: Duration,
}

/// Whether `name` can be a host name the proxy answers for: letters, digits, `-` and
/// dots, as DNS names are (it also names the host's certificate file).
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The proxy: its settings, the certificates it presents, and the service's router
/// that intercepted requests are handed to.
pub struct Proxy {
    settings: ProxySettings,
    certs: HostCertificates,
    app: axum::Router,
    /// Set when the service stops: open tunnels finish their current request and close.
    closing: watch::Receiver<bool>,
}

impl Proxy {
    pub fn new(
        settings: ProxySettings,
        certs: HostCertificates,
        app: axum::Router,
        closing: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Proxy {
            settings,
            certs,
            app,
            closing,
        })
    }

    /// The proxy listener's router: every request goes to [`forward`].
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .fallback(forward)
            .with_state(self.clone())
    }

    fn intercepts(&self, host: &str) -> bool {
        self.settings.hosts.iter().any(|h| h == host)
    }
}

/// One request to the proxy listener.
async fn forward(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if req.method() == Method::CONNECT {
        return connect(proxy, peer, req).await;
    }
    let Some(authority) = req.uri().authority().cloned() else {
        return standalone_error(ApiError::BadRequest(
            "This is cloudpc-partners' intercepting proxy, not the service: send requests through it as a proxy (HTTPS_PROXY=http://this-address; `cloudpc-partners env` prints the settings), or to the service's own address.".into(),
        ));
    };
    if req.uri().scheme_str() != Some("http") {
        return standalone_error(ApiError::BadRequest(format!(
            "The proxy forwards plain http:// requests and CONNECT tunnels; '{}' is neither.",
            req.uri()
        )));
    }
    let host = authority.host().to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(80);
    if proxy.intercepts(&host) {
        let named = if port == 80 {
            host
        } else {
            format!("{host}:{port}")
        };
        return serve_here(&proxy, req, named, "http", peer).await;
    }
    if !proxy.settings.passthrough {
        return refused(&host);
    }
    pass_request(&proxy, req, &host, port).await
}

/// A request for an intercepted host, served by the service's router as if it had
/// come to the main listener, with the host the app addressed.
async fn serve_here<B>(
    proxy: &Proxy,
    req: axum::http::Request<B>,
    host: String,
    scheme: &'static str,
    peer: SocketAddr,
) -> Response
where
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (mut parts, body) = req.into_parts();
    to_origin_form(&mut parts);
    if let Ok(v) = HeaderValue::from_str(&host) {
        parts.headers.insert(header::HOST, v);
    }
    parts.extensions.insert(ConnectInfo(peer));
    parts.extensions.insert(Intercepted { scheme, host });
    let req = canonical_request(axum::http::Request::from_parts(parts, Body::new(body)));
    match proxy.app.clone().oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// A proxied request as its server takes it: the target in origin form (`/path?q`),
/// and without the headers meant for the proxy.
fn to_origin_form(parts: &mut axum::http::request::Parts) {
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    parts.headers.remove("proxy-connection");
    parts.headers.remove(header::PROXY_AUTHORIZATION);
}

/// `CONNECT host:port`: a TLS tunnel ended here for an intercepted host, a plain one
/// to the host itself otherwise.
async fn connect(proxy: Arc<Proxy>, peer: SocketAddr, mut req: Request) -> Response {
    let Some(authority) = req.uri().authority().cloned() else {
        return standalone_error(ApiError::BadRequest(
            "CONNECT needs a host and port, such as CONNECT graph.microsoft.com:443.".into(),
        ));
    };
    let host = authority.host().to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(443);
    let upgrade = hyper::upgrade::on(&mut req);
    if proxy.intercepts(&host) {
        let tls = match proxy.certs.config_for(&host) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(host, error = %e, "no certificate for an intercepted host");
                return standalone_error(ApiError::Internal);
            }
        };
        let named = if port == 443 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        tracing::debug!(%peer, host, "intercepting");
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => serve_tunnel(proxy, upgraded, tls, named, peer).await,
                Err(e) => tracing::debug!(host, error = %e, "CONNECT tunnel never opened"),
            }
        });
        return tunnel_open();
    }
    if !proxy.settings.passthrough {
        return refused(&host);
    }
    let upstream = match dial(&proxy, &host, port).await {
        Ok(stream) => stream,
        Err(answer) => return answer,
    };
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut client = TokioIo::new(upgraded);
        let mut upstream = upstream;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    tracing::debug!(%peer, host, port, "passing through");
    tunnel_open()
}

fn tunnel_open() -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::OK;
    res
}

/// The 502 for a host the proxy may not pass through.
fn refused(host: &str) -> Response {
    standalone_error(ApiError::BadGateway(format!(
        "The proxy refused '{host}': it answers only for Graph's and Entra's hosts (and --proxy-host ones), and passing other hosts through is off (--proxy-passthrough false)."
    )))
}

/// A connection to `host:port`, or the 502 that says why there is none.
async fn dial(proxy: &Proxy, host: &str, port: u16) -> Result<TcpStream, Response> {
    let limit = proxy.settings.connect_timeout;
    match tokio::time::timeout(limit, TcpStream::connect((host, port))).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(standalone_error(ApiError::BadGateway(format!(
            "The proxy could not reach {host}:{port}: {e}."
        )))),
        Err(_) => Err(standalone_error(ApiError::BadGateway(format!(
            "The proxy could not reach {host}:{port} within {} seconds.",
            limit.as_secs()
        )))),
    }
}

/// A plain-HTTP request for another host, forwarded to it and its answer streamed back.
async fn pass_request(proxy: &Proxy, req: Request, host: &str, port: u16) -> Response {
    let stream = match dial(proxy, host, port).await {
        Ok(stream) => stream,
        Err(answer) => return answer,
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => {
                return standalone_error(ApiError::BadGateway(format!(
                    "The proxy could not speak HTTP to {host}:{port}: {e}."
                )))
            }
        };
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    to_origin_form(&mut parts);
    match sender
        .send_request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(res) => res.map(Body::new),
        Err(e) => standalone_error(ApiError::BadGateway(format!(
            "{host}:{port} did not answer: {e}."
        ))),
    }
}

/// Serves the requests inside an intercepted tunnel: TLS with the host's certificate,
/// then HTTP/1.1 or HTTP/2 as the client chose, each request to the service's router.
async fn serve_tunnel(
    proxy: Arc<Proxy>,
    upgraded: hyper::upgrade::Upgraded,
    tls: Arc<rustls::ServerConfig>,
    host: String,
    peer: SocketAddr,
) {
    let limit = proxy.settings.header_timeout;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let stream = match tokio::time::timeout(limit, acceptor.accept(TokioIo::new(upgraded))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%peer, host, error = %e, "TLS handshake in a tunnel failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, host, "no TLS handshake in a tunnel within the header timeout");
            return;
        }
    };
    let service = {
        let proxy = proxy.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let proxy = proxy.clone();
            let host = host.clone();
            async move {
                Ok::<_, std::convert::Infallible>(
                    serve_here(&proxy, req, host, "https", peer).await,
                )
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limit);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = proxy.closing.clone();
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "tunnel connection ended with an error");
            }
        }
        () = async { drop(closing.wait_for(|c| *c).await) } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_dns_names() {
        for ok in DEFAULT_HOSTS {
            assert!(is_host_name(ok), "{ok}");
        }
        assert!(is_host_name("graph.contoso.test"));
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a/b",
            "../x",
            "a b",
            "a:443",
            &"x".repeat(64),
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
