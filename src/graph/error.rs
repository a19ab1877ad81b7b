//! The one place failures become HTTP: each layer's error maps to a status and a Graph
//! error code here. The body (with request ids) is written by `context`, which knows them.

use crate::auth::AuthError;
use crate::odata::QueryError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A failure a Graph or partner call reports to its client.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("The HTTP method '{method}' is not allowed on this resource; allowed: {allow}.")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("The request body is larger than the limit of 4 MiB.")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("An internal error occurred; quote the request-id when reporting it.")]
    Internal,
}

/// The code and message of an error response, left in the response's extensions for
/// `context::request_context` to render with the request ids.
#[derive(Debug, Clone)]
pub struct PendingError {
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            GraphError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            GraphError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            GraphError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            GraphError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFound"),
            GraphError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
            }
            GraphError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            GraphError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
            }
            GraphError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            GraphError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            GraphError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
            }
            GraphError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            GraphError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut res = status.into_response();
        match &self {
            GraphError::Unauthorized(msg) => {
                let challenge = format!(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"invalid_token\", error_description=\"{}\"",
                    msg.replace('"', "'")
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            GraphError::MethodNotAllowed { allow, .. } => {
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            GraphError::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        res.extensions_mut().insert(PendingError {
            code,
            message: self.to_string(),
        });
        res
    }
}

impl From<crate::throttle::Throttled> for GraphError {
    fn from(t: crate::throttle::Throttled) -> Self {
        GraphError::TooManyRequests {
            message: format!(
                "Too many requests: this caller's budget of {} is used up; retry after {} seconds.",
                t.budget, t.retry_after_secs
            ),
            retry_after_secs: t.retry_after_secs,
        }
    }
}

impl From<QueryError> for GraphError {
    fn from(e: QueryError) -> Self {
        GraphError::BadRequest(e.message)
    }
}

impl From<AuthError> for GraphError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::MissingToken | AuthError::InvalidToken(_) => {
                GraphError::Unauthorized(message)
            }
            AuthError::Forbidden(_) => GraphError::Forbidden {
                code: "Authorization_RequestDenied",
                message,
            },
            AuthError::PersonalAccount | AuthError::WrongApi(_) => GraphError::Forbidden {
                code: "Forbidden",
                message,
            },
        }
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicatePartner(p) => GraphError::Conflict(format!(
                "A connection for partner '{p}' already exists in this tenant; update it instead of creating another."
            )),
            StoreError::NotFound => GraphError::NotFound("The requested resource does not exist.".into()),
            StoreError::ConnectionDisabled => GraphError::Forbidden {
                code: "connectionDisabled",
                message: "The connection is disabled.".into(),
            },
            StoreError::VersionMismatch => GraphError::PreconditionFailed(
                "The entity has changed since the ETag in If-Match was read; GET it again and retry with the new ETag.".into(),
            ),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("database pool timed out");
                GraphError::Unavailable("The database is busy; retry shortly.".into())
            }
            other => {
                tracing::error!(error = %other, "store failure");
                GraphError::Internal
            }
        }
    }
}
