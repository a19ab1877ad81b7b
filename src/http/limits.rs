//! Limits on how long one request may take (connection slots are in `slots.rs`).

use super::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long a whole request (reading its body, doing the work) may take.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Answers 408 when a request (a slow body, most often) outlasts the request timeout.
pub async fn request_timeout(req: Request, next: Next) -> Response {
    let limit = req
        .extensions()
        .get::<RequestTimeout>()
        .map_or(Duration::from_secs(60), |t| t.0);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::RequestTimeout(limit.as_secs()).into_response(),
    }
}
