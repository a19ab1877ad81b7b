//! Typed responses: JSON with Graph's content type, a single entity with its `ETag`
//! and `Location`, plain text and XML.

use super::context::JSON_CONTENT_TYPE;
use crate::json::JsonOut;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON body with Graph's content type.
#[derive(Debug, Clone)]
pub struct GraphJson(pub StatusCode, pub Value);

impl IntoResponse for GraphJson {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
            self.1.to_string(),
        )
            .into_response()
    }
}

/// A JSON body already serialized (straight from the records, with no `Value` tree
/// in between), with Graph's content type.
#[derive(Debug, Clone)]
pub struct SerializedJson(StatusCode, Result<Vec<u8>, String>);

impl SerializedJson {
    /// Serializes `body` now; a failure (none of ours can fail) answers as any
    /// internal error does, with the request's ids.
    pub fn of(status: StatusCode, body: &impl serde::Serialize) -> Self {
        Self::written(status, 128, |out| out.value(body))
    }

    /// A body written by hand into a [`JsonOut`] of `capacity` bytes to start with.
    pub fn written(
        status: StatusCode,
        capacity: usize,
        write: impl FnOnce(&mut JsonOut) -> Result<(), serde_json::Error>,
    ) -> Self {
        let mut out = JsonOut::with_capacity(capacity);
        let written = write(&mut out).map(|()| out.into_bytes());
        SerializedJson(status, written.map_err(|e| e.to_string()))
    }
}

impl IntoResponse for SerializedJson {
    fn into_response(self) -> Response {
        match self.1 {
            Ok(bytes) => {
                (self.0, [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)], bytes).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "a response could not be serialized");
                super::ApiError::Internal.into_response()
            }
        }
    }
}

/// A page of a collection, with `Preference-Applied` when the client's
/// `odata.maxpagesize` set its size.
#[derive(Debug, Clone)]
pub struct Collection {
    pub body: SerializedJson,
    pub max_page_size_applied: Option<u64>,
}

impl IntoResponse for Collection {
    fn into_response(self) -> Response {
        let mut res = self.body.into_response();
        if let Some(n) = self.max_page_size_applied {
            if let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={n}")) {
                res.headers_mut().insert("preference-applied", v);
            }
        }
        res
    }
}

/// A single entity: its JSON, its `ETag`, and for a create its `Location`.
#[derive(Debug, Clone)]
pub struct EntityResponse {
    pub body: SerializedJson,
    pub etag: String,
    pub location: Option<String>,
}

impl IntoResponse for EntityResponse {
    fn into_response(self) -> Response {
        let mut res = self.body.into_response();
        let h = res.headers_mut();
        if let Ok(tag) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, tag);
        }
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, loc);
        }
        res
    }
}

/// A `text/plain` body, such as `$count`'s number.
#[derive(Debug, Clone)]
pub struct PlainText(pub String);

impl IntoResponse for PlainText {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], self.0).into_response()
    }
}

/// An XML body, such as `$metadata`.
#[derive(Debug, Clone)]
pub struct Xml(pub String);

impl IntoResponse for Xml {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/xml;charset=utf-8")],
            self.0,
        )
            .into_response()
    }
}

/// `r`, answering any method it does not route with Graph's 405 and the `Allow` list
/// (axum's own 405 has no body).
pub fn with_405<S>(
    r: axum::routing::MethodRouter<S>,
    allow: &'static str,
) -> axum::routing::MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    r.fallback(move |method: axum::http::Method| async move {
        super::routes::graph_refusal(method, allow.to_owned())
    })
}
