//! Per-request context: request ids, the Graph error body, the headers every response
//! carries, one log line and the metrics for each request.

use super::error::PendingError;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, Response};
use axum::middleware::Next;
use chrono::{SecondsFormat, Utc};
use std::time::Instant;
use uuid::Uuid;

/// The JSON content type Graph answers with.
pub const JSON_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The ids of the request being served, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

/// Wraps every request: assigns ids, renders error bodies, sets common headers, logs.
pub async fn request_context(mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let request_id = Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| request_id.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let ids = RequestIds {
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
    };
    req.extensions_mut().insert(ids);

    let mut res = next.run(req).await;

    if let Some(err) = res.extensions_mut().remove::<PendingError>() {
        let body = serde_json::json!({
            "error": {
                "code": err.code,
                "message": err.message,
                "innerError": {
                    "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
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
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&client_request_id) {
        h.insert("client-request-id", v);
    }
    h.insert("OData-Version", HeaderValue::from_static("4.0"));

    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let labels = [
        ("route", route),
        ("method", method_label(&method).to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %request_id,
        client_request_id = %client_request_id,
        method = %method,
        path = %path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    res
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
}
