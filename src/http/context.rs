//! Per-request context: request ids, the Graph error body, the headers every response
//! carries, one log line and the metrics for each request.

use super::error::PendingError;
use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, Response};
use axum::middleware::Next;
use chrono::{SecondsFormat, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// The JSON content type Graph answers with.
pub const JSON_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The ids of the request being served, available to handlers as an extension.
/// Kept as the header values they are sent as: those clone without copying, and
/// every request hands each id to several places.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: HeaderValue,
    pub client_request_id: HeaderValue,
}

impl RequestIds {
    pub fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or_default()
    }

    pub fn client_request_id(&self) -> &str {
        self.client_request_id.to_str().unwrap_or_default()
    }
}

/// The headers every response carries.
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const ODATA_VERSION: HeaderName = HeaderName::from_static("odata-version");

/// Wraps every request: assigns ids, renders error bodies, sets common headers, logs.
pub async fn request_context(mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    // A UUID is always a valid header value.
    let request_id = HeaderValue::from_str(
        Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer()),
    )
    .unwrap_or(HeaderValue::from_static(""));
    let client_request_id = client_request_id(req.headers()).unwrap_or(request_id.clone());
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let ids = RequestIds {
        request_id,
        client_request_id,
    };
    req.extensions_mut().insert(ids.clone());

    // Whether the handler read the body to its end: if not, the connection cannot be
    // reused (unread bytes would become the next request), and the client is told so.
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let read_to_end = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(Tracked {
            inner: body,
            done: read_to_end.clone(),
        })
    });

    // Every line logged while serving the request carries its id.
    let span = tracing::info_span!("request", request_id = %ids.request_id());
    let mut res = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let _in_request = span.enter();
    if has_body && !read_to_end.load(Ordering::Relaxed) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }

    render(&mut res, &ids);

    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    series::record(route, method_label(&method), status, elapsed);
    let path = uri.path();
    // Probes come every few seconds: their lines would drown the rest at INFO.
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        tracing::debug!(request_id = %ids.request_id(), path, status, "probe");
    } else {
        tracing::info!(
            client_request_id = ids.client_request_id(),
            method = method.as_str(),
            path,
            status,
            // Whole microseconds: a shorter number, no float noise.
            latency_ms = elapsed.as_micros() as f64 / 1000.0,
            "request"
        );
    }
    res
}

/// Writes a pending error's Graph body, and the ids and OData headers every answer
/// carries.
fn render(res: &mut Response<Body>, ids: &RequestIds) {
    if let Some(err) = res.extensions_mut().remove::<PendingError>() {
        let body = serde_json::json!({
            "error": {
                "code": err.code,
                "message": err.message,
                "innerError": {
                    "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "request-id": ids.request_id(),
                    "client-request-id": ids.client_request_id(),
                }
            }
        });
        *res.body_mut() = Body::from(body.to_string());
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        res.headers_mut().remove(header::CONTENT_LENGTH);
    }
    let h = res.headers_mut();
    h.insert(REQUEST_ID, ids.request_id.clone());
    h.insert(CLIENT_REQUEST_ID, ids.client_request_id.clone());
    h.insert(ODATA_VERSION, HeaderValue::from_static("4.0"));
}

/// An error answered outside any route (by the intercepting proxy, for requests it
/// does not hand to the service), in the same Graph shape, with a fresh request id.
pub fn standalone_error(err: super::ApiError) -> Response<Body> {
    let request_id =
        HeaderValue::from_str(&Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static(""));
    let ids = RequestIds {
        client_request_id: request_id.clone(),
        request_id,
    };
    let mut res = axum::response::IntoResponse::into_response(err);
    render(&mut res, &ids);
    tracing::info!(
        request_id = ids.request_id(),
        status = res.status().as_u16(),
        "answered by the proxy"
    );
    res
}

/// The client's own id for the request, when it sent a usable one (printable, at
/// most 128 characters once trimmed); it is echoed back as it came.
fn client_request_id(headers: &axum::http::HeaderMap) -> Option<HeaderValue> {
    let sent = headers.get(&CLIENT_REQUEST_ID)?;
    let text = sent.to_str().ok()?;
    let trimmed = text.trim();
    match trimmed.len() {
        0 | 129.. => None,
        n if n == text.len() => Some(sent.clone()),
        _ => HeaderValue::from_str(trimmed).ok(),
    }
}

/// The request counter and latency histogram of each route, method and status.
mod series {
    use metrics::{Counter, Histogram};
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::Duration;

    /// One route's series. Few methods and statuses occur per route, so a list
    /// searched in order beats another map.
    #[derive(Default)]
    struct Route {
        counters: Vec<((&'static str, u16), Counter)>,
        durations: Vec<(&'static str, Histogram)>,
    }

    /// Handles made once and kept: building a series' key (label strings, hashing,
    /// the registry's lookup) for every request cost more than the rest of this
    /// bookkeeping. Routes are the router's patterns (and "unmatched"), methods are
    /// [`super::method_label`]'s: the map cannot grow with what clients send.
    static ROUTES: LazyLock<Mutex<HashMap<String, Route, foldhash::fast::RandomState>>> =
        LazyLock::new(Mutex::default);

    pub(super) fn record(route: &str, method: &'static str, status: u16, elapsed: Duration) {
        let (counter, duration) = {
            let mut routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner());
            let series = match routes.get_mut(route) {
                Some(series) => series,
                None => routes.entry(route.to_owned()).or_default(),
            };
            let counter = match series.counters.iter().find(|(k, _)| *k == (method, status)) {
                Some((_, c)) => c.clone(),
                None => {
                    let labels = [
                        ("route", route.to_owned()),
                        ("method", method.to_owned()),
                        ("status", status.to_string()),
                    ];
                    let c = metrics::counter!("http_requests_total", &labels);
                    series.counters.push(((method, status), c.clone()));
                    c
                }
            };
            let duration = match series.durations.iter().find(|(m, _)| *m == method) {
                Some((_, h)) => h.clone(),
                None => {
                    let labels = [("route", route.to_owned()), ("method", method.to_owned())];
                    let h = metrics::histogram!("http_request_duration_seconds", &labels);
                    series.durations.push((method, h.clone()));
                    h
                }
            };
            (counter, duration)
        };
        counter.increment(1);
        duration.record(elapsed.as_secs_f64());
    }
}

/// A request body that notes when it has been read to its end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.done.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The method as a metrics label: the methods this service serves by name, any other
/// (hyper accepts any token) as `other`, so clients cannot mint new series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let m = |s: &str| axum::http::Method::from_bytes(s.as_bytes()).unwrap();
        assert_eq!(method_label(&m("GET")), "GET");
        assert_eq!(method_label(&m("BREW")), "other");
        assert_eq!(method_label(&m("X-12345")), "other");
    }

    #[test]
    fn a_client_request_id_is_echoed_when_usable() {
        let sent = |v: &[u8]| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(CLIENT_REQUEST_ID, HeaderValue::from_bytes(v).unwrap());
            client_request_id(&h).map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(sent(b"my-trace-42").as_deref(), Some("my-trace-42"));
        assert_eq!(sent(b" padded\t").as_deref(), Some("padded"));
        let longest = "a".repeat(128);
        assert_eq!(sent(longest.as_bytes()), Some(longest));
        assert_eq!(sent("a".repeat(129).as_bytes()), None);
        assert_eq!(sent(b"   "), None);
        assert_eq!(sent(b""), None);
        assert_eq!(sent("caf\u{e9}".as_bytes()), None);
        assert_eq!(client_request_id(&axum::http::HeaderMap::new()), None);
    }
}
