//! Reading a JSON request body: content type, size limit, syntax.

use super::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Reads a body that must be a JSON object.
pub async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    reject_declared_oversize(headers)?;
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
    reject_declared_oversize(headers)?;
    let bytes = read_bytes(body).await?;
    if is_blank(&bytes) {
        return Ok(None);
    }
    check_json_content_type(headers)?;
    parse_object(&bytes).map(Some)
}

/// A declared `Content-Length` over the limit is refused before reading anything.
fn reject_declared_oversize(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES as u64 => Err(ApiError::PayloadTooLarge),
        _ => Ok(()),
    }
}

/// Reads the body up to the limit; a longer one (streamed without a length) is a 413.
async fn read_bytes(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut too_large = false;
            while let Some(c) = cause {
                too_large |= c.is::<http_body_util::LengthLimitError>();
                cause = c.source();
            }
            if too_large {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("The request body could not be read: {e}."))
            }
        })
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "The request body must be a JSON object, not {}.",
            json_kind(&other)
        ))),
        Err(e) => Err(ApiError::BadRequest(format!(
            "The request body is not valid JSON: {e}."
        ))),
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

/// A JSON value's kind, for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a Boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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
