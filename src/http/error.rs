//! The one place failures become HTTP: each layer's error maps to a status and a Graph
//! error code here. The body (with request ids) is written by `context`, which knows them.

use crate::auth::AuthError;
use crate::clock::format_graph_time;
use crate::connections::ConnectionsError;
use crate::odata::{EntityView, QueryError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// How long a client is asked to wait after a 503.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// A failure a Graph or partner call reports to its client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("The HTTP method '{method}' is not allowed on this resource; allowed: {allow}.")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("The request body is larger than the limit of 4 MiB.")]
    PayloadTooLarge,
    #[error("The request did not complete within {0} seconds (a slow body, or a slow network); send it again.")]
    RequestTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    GatewayTimeout(String),
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

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFound"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            ApiError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
            }
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "RequestTimeout"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ApiError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "BadGateway"),
            ApiError::GatewayTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut res = status.into_response();
        match &self {
            ApiError::Unauthorized(msg) => {
                let challenge = format!(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"invalid_token\", error_description=\"{}\"",
                    msg.replace('"', "'")
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    res.headers_mut().insert(header::ALLOW, v);
                }
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // The database is busy or cannot store: worth retrying, after a pause.
            ApiError::Unavailable(_) => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_SECS),
                );
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

impl From<crate::throttle::Throttled> for ApiError {
    fn from(t: crate::throttle::Throttled) -> Self {
        ApiError::TooManyRequests {
            message: format!(
                "Too many requests: this caller's budget of {} is used up; retry after {} seconds.",
                t.budget, t.retry_after_secs
            ),
            retry_after_secs: t.retry_after_secs,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::BadRequest(e.message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::MissingToken | AuthError::InvalidToken(_) => ApiError::Unauthorized(message),
            AuthError::IssuerUnavailable => ApiError::Unavailable(message),
            AuthError::Forbidden(_) => ApiError::Forbidden {
                code: "Authorization_RequestDenied",
                message,
            },
            AuthError::PersonalAccount | AuthError::WrongApi(_) => ApiError::Forbidden {
                code: "Forbidden",
                message,
            },
        }
    }
}

impl From<ConnectionsError> for ApiError {
    fn from(e: ConnectionsError) -> Self {
        match e {
            // Handlers that know the route's view word it from the view (`in_view`).
            ConnectionsError::NotFound(id) => ApiError::NotFound(format!(
                "No entity with id '{id}' exists in this tenant."
            )),
            ConnectionsError::DuplicatePartner(p) => ApiError::Conflict(format!(
                "A connection for partner '{p}' already exists in this tenant; update it instead of creating another."
            )),
            ConnectionsError::VersionMismatch => ApiError::PreconditionFailed(
                "The entity has changed since the ETag in If-Match was read; GET it again and retry with the new ETag.".into(),
            ),
            ConnectionsError::NoConnection { tenant, partner_id } => ApiError::NotFound(format!(
                "Tenant {tenant} has no connection for partner {partner_id}; its admin creates one with POST /beta/deviceManagement/virtualEndpoint/externalPartners."
            )),
            ConnectionsError::Disabled(tenant) => ApiError::Forbidden {
                code: "connectionDisabled",
                message: format!(
                    "Tenant {tenant} has disabled this partner connection (enableConnection is false); calls are refused until its admin enables it."
                ),
            },
            ConnectionsError::Precondition(why) => ApiError::BadRequest(why),
            ConnectionsError::NoSuchResult {
                activity_id,
                cloud_pc_id,
            } => ApiError::NotFound(format!(
                "Activity {activity_id} of this partner's connection has no result for Cloud PC {cloud_pc_id}; list GET /partner/v1/deployments for the work this partner was given."
            )),
            ConnectionsError::IllegalTransition {
                cloud_pc_id,
                from,
                to,
            } => {
                let name = |v| crate::model::schema::ACTION_STATE.member(v).unwrap_or("unknown");
                ApiError::Conflict(format!(
                    "The result for Cloud PC {cloud_pc_id} is '{}' and cannot move to '{}': results move only forward (pending, running, then succeeded or failed; canceled before they finish). Nothing was changed.",
                    name(from),
                    name(to)
                ))
            }
            ConnectionsError::ReadOnlyChanged(name) => ApiError::BadRequest(format!(
                "The property '{name}' is read-only: a PATCH cannot change it (the service maintains it). Send it back only with the value it has now, or leave it out; nothing was changed."
            )),
            ConnectionsError::SyncInFuture { at, now } => ApiError::BadRequest(format!(
                "The property 'syncDateTime' is {}, which is in the future (this service's time is {}); report syncs that have happened.",
                format_graph_time(at),
                format_graph_time(now)
            )),
            ConnectionsError::StorageFailing(why) => {
                tracing::error!(error = %why, "storage is failing");
                ApiError::Unavailable(
                    "The service cannot store data right now (its disk is full or failing); nothing was changed. Retry later; operators: see the log.".into(),
                )
            }
            ConnectionsError::Unreachable(why) => {
                tracing::error!(error = %why, "database unreachable");
                ApiError::Unavailable(
                    "The service's database cannot be reached right now; retry shortly.".into(),
                )
            }
            ConnectionsError::Busy => {
                tracing::warn!("no database connection within the acquire timeout: every connection is busy, or the database is unreachable (GET /readyz names the cause)");
                ApiError::Unavailable(
                    "The database is busy or unreachable; retry shortly.".into(),
                )
            }
            ConnectionsError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// A use case's answer, with an unknown id worded from the route's entity view.
pub trait InView<T> {
    fn in_view(self, view: &EntityView) -> Result<T, ApiError>;
}

impl<T> InView<T> for Result<T, ConnectionsError> {
    fn in_view(self, view: &EntityView) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            ConnectionsError::NotFound(id) => ApiError::NotFound(view.no_such(&id)),
            other => other.into(),
        })
    }
}
