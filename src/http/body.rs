//! Reading a JSON request body: content type, size limit, syntax.

use super::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Reads a body that must be a JSON object.
pub async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let body = reject_declared_oversize(headers, body).await?;
    check_json_content_type(headers)?;
    let bytes = read_bytes(body).await?;
    if is_blank(&bytes) {
        return Err(ApiError::BadRequest(
            "The request body is empty; send a JSON object.".into(),
        ));
    }
    parse_object(&bytes)
}

/// Reads a body that may be left out (`None`); if given, it must be a JSON object.
pub async fn read_optional_json_object(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let body = reject_declared_oversize(headers, body).await?;
    let bytes = read_bytes(body).await?;
    if is_blank(&bytes) {
        return Ok(None);
    }
    check_json_content_type(headers)?;
    parse_object(&bytes).map(Some)
}

/// How much of an oversized body is read and thrown away before the 413 is sent.
/// A client that writes its whole body before it reads (Python's httpx) would see
/// a connection reset instead of the 413 if the server closed with data unread;
/// past this, the client is abusive and the connection is simply closed.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How long that reading may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The declared `Content-Length`, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A declared `Content-Length` over the limit is refused without keeping anything.
async fn reject_declared_oversize(headers: &HeaderMap, body: Body) -> Result<Body, ApiError> {
    match declared_length(headers) {
        Some(n) if n > MAX_BODY_BYTES as u64 => {
            if n <= DRAIN_LIMIT {
                drain(body).await;
            }
            Err(ApiError::PayloadTooLarge)
        }
        _ => Ok(body),
    }
}

/// Reads and discards the rest of a body, within [`DRAIN_LIMIT`] and [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let discard = async {
        let mut read = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len() as u64);
            if read > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Reads the body up to the limit; a longer one (streamed without a length) is a 413.
async fn read_bytes(mut body: Body) -> Result<axum::body::Bytes, ApiError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::BadRequest(format!("The request body could not be read: {e}."))
        })?;
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                drain(body).await;
                return Err(ApiError::PayloadTooLarge);
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.into())
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => match map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
            true => Err(ApiError::BadRequest(
                "The request body holds a NUL character (\\u0000) in a string; text cannot contain it."
                    .into(),
            )),
            false => Ok(map),
        },
        Ok(other) => Err(ApiError::BadRequest(format!(
            "The request body must be a JSON object, not {}.",
            crate::json::fields::kind(&other)
        ))),
        Err(e) => Err(ApiError::BadRequest(format!(
            "The request body is not valid JSON: {e}."
        ))),
    }
}

/// Whether any string (or key) in a JSON value holds U+0000, which PostgreSQL's text
/// cannot store: refused up front, so both databases answer the same.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Accepts `application/json` with any parameters (`charset`, `odata.metadata`, …).
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let essence = ct.map(|c| c.split(';').next().unwrap_or("").trim());
    match essence {
        Some(e) if e.eq_ignore_ascii_case("application/json") => Ok(()),
        Some(_) => Err(ApiError::UnsupportedMediaType(format!(
            "The content type '{}' is not supported; send the body as application/json.",
            ct.unwrap_or_default()
        ))),
        None => Err(ApiError::UnsupportedMediaType(
            "The request has no Content-Type header; send the body as application/json.".into(),
        )),
    }
}

/// A request body that must be a JSON object; every failure is a Graph error.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        read_json_object(&parts.headers, body).await.map(JsonObject)
    }
}

/// A request body that may be left out; if given, it must be a JSON object.
#[derive(Debug, Clone)]
pub struct OptionalJsonObject(pub Option<Map<String, Value>>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        read_optional_json_object(&parts.headers, body)
            .await
            .map(OptionalJsonObject)
    }
}
