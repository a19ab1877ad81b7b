//! Extractors that authenticate, authorize, throttle and parse, so a handler's
//! signature names what it needs and its body only does the work.

use super::ApiError;
use crate::auth::{Caller, Permission};
use crate::model::TenantId;
use crate::odata::EntityView;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use uuid::Uuid;

/// The permission a Graph route requires, as a type.
pub trait Access: Send + Sync + 'static {
    const PERMISSION: Permission;
    /// Application (app-only) tokens are not supported, as Microsoft documents for
    /// some actions.
    const DELEGATED_ONLY: bool = false;
}

/// Routes that read: `CloudPC.Read.All` or `CloudPC.ReadWrite.All`.
pub struct Read;
/// Routes that write: `CloudPC.ReadWrite.All`.
pub struct ReadWrite;

impl Access for Read {
    const PERMISSION: Permission = Permission::Read;
}
impl Access for ReadWrite {
    const PERMISSION: Permission = Permission::ReadWrite;
}

/// Routes that write and accept only a signed-in user's (delegated) token.
pub struct DelegatedReadWrite;

impl Access for DelegatedReadWrite {
    const PERMISSION: Permission = Permission::ReadWrite;
    const DELEGATED_ONLY: bool = true;
}

/// A Graph caller holding the permission `A` grants, already charged to throttling.
pub struct GraphCaller<A: Access> {
    caller: Arc<Caller>,
    access: PhantomData<A>,
}

impl<A: Access> GraphCaller<A> {
    pub fn tenant(&self) -> TenantId {
        self.caller.tenant
    }
}

impl<A: Access> Deref for GraphCaller<A> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

/// Validates the bearer token at the service's time.
pub(crate) async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<Caller>, ApiError> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let header = all.next().and_then(|v| v.to_str().ok());
    if all.next().is_some() {
        // Which credential counts would be ambiguous: refuse them all.
        return Err(ApiError::Unauthorized(
            "The request has more than one Authorization header; send exactly one.".into(),
        ));
    }
    Ok(app
        .auth
        .authenticate(header, app.token_now().timestamp())
        .await?)
}

impl<A: Access, S: AsRef<AppState> + Send + Sync> FromRequestParts<S> for GraphCaller<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let app = state.as_ref();
        let caller = authenticate(app, &parts.headers).await?;
        caller.require_graph(A::PERMISSION)?;
        if A::DELEGATED_ONLY && !matches!(caller.kind, crate::auth::CallerKind::Delegated { .. }) {
            return Err(ApiError::Forbidden {
                code: "Forbidden",
                message: "This action supports only delegated (signed-in user) tokens; application tokens are not supported.".into(),
            });
        }
        app.throttle
            .check_graph(&caller, A::PERMISSION == Permission::ReadWrite)
            .await?;
        Ok(GraphCaller {
            caller,
            access: PhantomData,
        })
    }
}

/// Any caller with a valid token, not yet authorized for anything: for a `$batch`
/// envelope, whose items are each authorized (and throttled) on their own.
pub struct Authenticated(pub Arc<Caller>);

impl<S: AsRef<AppState> + Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authenticate(state.as_ref(), &parts.headers)
            .await
            .map(Authenticated)
    }
}

/// An external partner's service, authenticated and charged to its connection.
#[derive(Debug, Clone, Copy)]
pub struct PartnerCaller {
    pub tenant: TenantId,
    pub partner_id: Uuid,
}

impl<S: AsRef<AppState> + Send + Sync> FromRequestParts<S> for PartnerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let app = state.as_ref();
        let caller = authenticate(app, &parts.headers).await?;
        let partner_id = caller.require_partner()?;
        app.throttle
            .check_partner(caller.tenant, partner_id)
            .await?;
        Ok(PartnerCaller {
            tenant: caller.tenant,
            partner_id,
        })
    }
}

/// The `{id}` of an entity path. A key that is not a GUID cannot name a record, so
/// it is answered as any unknown id is: 404.
#[derive(Debug, Clone, Copy)]
pub struct Key(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("The entity key in the path is malformed.".into()))?;
        Uuid::try_parse(&id).map(Key).map_err(|_| {
            // Worded from the route's view, when the route names one.
            match parts.extensions.get::<&'static EntityView>() {
                Some(view) => ApiError::NotFound(view.no_such(&id)),
                None => {
                    ApiError::NotFound(format!("No entity with id '{id}' exists in this tenant."))
                }
            }
        })
    }
}

/// The version an `If-Match` header requires: `None` without one, or for `*`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text.split(',').any(|t| t.trim() == "*") {
            return Ok(IfMatch(None));
        }
        text.split(',')
            .find_map(|t| {
                let t = t.trim();
                t.strip_prefix("W/")
                    .unwrap_or(t)
                    .trim_matches('"')
                    .parse::<i64>()
                    .ok()
            })
            .map(|v| IfMatch(Some(v)))
            .ok_or_else(|| {
                ApiError::PreconditionFailed(format!(
                    "The If-Match value '{text}' is not an ETag this service issued; use the @odata.etag of the entity, or '*'."
                ))
            })
    }
}

/// How links to this service are written, set on every request as an extension.
#[derive(Debug, Clone)]
pub struct ServiceScheme {
    /// What clients connect with: `http` or `https`.
    pub scheme: &'static str,
    /// The configured public origin (`https://graph.example.com`), which wins over
    /// whatever a client says its host is.
    pub public_url: Option<String>,
    /// Believe `X-Forwarded-Proto` (only behind a proxy that sets it).
    pub trust_forwarded_proto: bool,
}

/// Set by the intercepting proxy on a request it serves in a real host's place: the
/// scheme and host the app addressed (`https`, `graph.microsoft.com`), which the
/// links then name, so the app's next call comes back through the proxy.
#[derive(Debug, Clone)]
pub struct Intercepted {
    pub scheme: &'static str,
    pub host: String,
}

/// Where Graph's version root is below the origin.
pub const GRAPH_VERSION_ROOT: &str = "/beta";

/// The origin as the client addressed it, e.g. `https://127.0.0.1:8080`: the base of
/// every link the service writes. With a configured public URL, that instead, so no
/// client can plant another host in the links; through the intercepting proxy, the
/// real host the app addressed.
#[derive(Debug, Clone)]
pub struct ServiceOrigin(pub String);

impl ServiceOrigin {
    /// Graph's service root below this origin: the base of `@odata.context`,
    /// `@odata.nextLink` and `Location`.
    pub fn graph_root(&self) -> String {
        format!("{}{GRAPH_VERSION_ROOT}", self.0)
    }

    /// The same, taking the origin's string rather than writing a new one (every
    /// Graph request reads its root).
    pub fn into_graph_root(mut self) -> String {
        self.0.push_str(GRAPH_VERSION_ROOT);
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ServiceOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(i) = parts.extensions.get::<Intercepted>() {
            return Ok(ServiceOrigin(format!("{}://{}", i.scheme, i.host)));
        }
        let origin = parts.extensions.get::<ServiceScheme>();
        if let Some(public) = origin.and_then(|o| o.public_url.as_deref()) {
            return Ok(ServiceOrigin(public.trim_end_matches('/').to_owned()));
        }
        // HTTP/2 clients (httpx, under the Python SDK) send `:authority`, not `Host`.
        let host = parts
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| {
                parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or("localhost");
        let own = origin.map_or("http", |o| o.scheme);
        // Behind a TLS-terminating proxy that says so, the client's scheme is the proxy's.
        let forwarded = origin
            .filter(|o| o.trust_forwarded_proto)
            .and_then(|_| parts.headers.get("x-forwarded-proto"))
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https" || *p == "http");
        Ok(ServiceOrigin(format!(
            "{}://{host}",
            forwarded.unwrap_or(own)
        )))
    }
}

/// Graph's service root as the client addressed it, e.g.
/// `https://127.0.0.1:8080/beta` (see [`ServiceOrigin`]).
#[derive(Debug, Clone)]
pub struct ServiceRoot(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ServiceRoot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let origin = ServiceOrigin::from_request_parts(parts, state).await?;
        Ok(ServiceRoot(origin.into_graph_root()))
    }
}

/// Query parameters read into `T`; a query string that does not fit (a parameter
/// given twice, a value of the wrong kind) is Graph's 400, not axum's plain text.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(t)| QueryParams(t))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "The query string is not understood: {}.",
                    e.body_text()
                        .trim_start_matches("Failed to deserialize query string: ")
                ))
            })
    }
}
