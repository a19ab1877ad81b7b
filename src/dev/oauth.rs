//! The dev authority: Entra ID's token endpoints (v2.0 and v1), OpenID
//! configurations, key sets and MSAL's instance discovery, in Entra's shapes. Through
//! the intercepting proxy they answer as `login.microsoftonline.com`, so an unchanged
//! `ClientSecretCredential(tenant, id, secret)` gets its token here; on the service's
//! own address they serve an app given this authority. Tokens are the same local
//! ones the `token` command mints. Dev mode only: there is no app registry, so any
//! client id is accepted; a tenant is bound to the first client secret it is asked
//! for with (see [`TenantClaims`]), unless the stand-in is shared (`--dev-shared`).

use crate::auth::{
    mint_local_token, parse_tenant, MintRequest, TenantName, TokenKind, READ_WRITE_ALL,
};
use crate::http::extract::ServiceOrigin;
use crate::http::routes::{Endpoint, Routes};
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Which client secret each tenant was first asked for with. Tokens for a tenant are
/// then minted only for that secret, so tests sharing one stand-in (each with its
/// own tenant) cannot take each other's tenants by asking for a token. With
/// `--dev-shared` (one tester) any secret is taken. Certificate credentials (a
/// `client_assertion`) are not bound: the stand-in checks no signatures.
#[derive(Debug, Default)]
pub struct TenantClaims {
    shared: bool,
    secrets: Mutex<HashMap<Uuid, [u8; 32]>>,
}

impl TenantClaims {
    pub fn new(shared: bool) -> Self {
        Self {
            shared,
            secrets: Mutex::default(),
        }
    }

    /// Binds `tenant` to `secret` on first use; refuses another secret later.
    fn check(&self, tenant: Uuid, secret: Option<&str>) -> Result<(), OAuthError> {
        use sha2::Digest;
        let (false, Some(secret)) = (self.shared, secret) else {
            return Ok(());
        };
        let hash: [u8; 32] = sha2::Sha256::digest(secret.as_bytes()).into();
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        match secrets.get(&tenant) {
            Some(bound) if *bound != hash => Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Tenant '{tenant}' was first asked for with another client secret on this stand-in, which binds a tenant to its first secret so that tests sharing it keep their tenants apart; send that secret, use a tenant of your own, or start the stand-in with --dev-shared."),
            )),
            Some(_) => Ok(()),
            None => {
                secrets.insert(tenant, hash);
                Ok(())
            }
        }
    }
}

/// The client a token request names, and its secret (none for a certificate).
struct Client {
    id: String,
    secret: Option<String>,
}

/// The secret never shows in a debug print.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// How long minted tokens live, as Entra's do by default.
const LIFETIME_SECS: u64 = 3599;

/// `/{tenant}/…`, as `login.microsoftonline.com` serves them: the v2.0 and v1
/// endpoints, OpenID configurations, key sets, and MSAL's instance discovery.
pub fn routes() -> Routes<AppState> {
    let d = super::doc::authority();
    let (name, schema) = d.error;
    Routes::refusing_with(refuse_method)
        .schema(name, schema)
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            [Endpoint::get(openid_configuration_v2, d.discovery_v2)],
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            [Endpoint::get(openid_configuration_v1, d.discovery_v1)],
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            [Endpoint::get(keys, d.keys_v2)],
        )
        .route("/{tenant}/discovery/keys", [Endpoint::get(keys, d.keys_v1)])
        .route(
            "/{tenant}/discovery/instance",
            [Endpoint::get(instance_discovery, d.instance)],
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            [Endpoint::post(token_v2, d.token_v2)],
        )
        .route(
            "/{tenant}/oauth2/token",
            [Endpoint::post(token_v1, d.token_v1)],
        )
}

/// A method the endpoint does not take: a 405 in Entra's shape with the `Allow` list.
fn refuse_method(method: axum::http::Method, allow: String) -> Response {
    let mut res = oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        900561,
        &format!("The endpoint only accepts {allow} requests. Received a {method} request."),
    )
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// An OAuth error as Entra answers it: `error`, an `AADSTS` description and its code.
/// OAuth clients read this shape, not Graph's error body.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

fn oauth_error(
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: &str,
) -> OAuthError {
    OAuthError {
        status,
        error,
        code,
        description: description.to_owned(),
    }
}

impl OAuthError {
    fn body(&self) -> serde_json::Value {
        let trace = Uuid::new_v4().to_string();
        json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {trace}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace,
            "correlation_id": Uuid::new_v4().to_string(),
        })
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// The tenant a path names: a GUID, a domain name (mapped to a stable GUID), or
/// `common`/`organizations`/`consumers`.
fn tenant_name(raw: &str) -> Result<TenantName, OAuthError> {
    parse_tenant(raw).ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900023,
            &format!("Specified tenant identifier '{raw}' is neither a valid DNS name, nor a valid external domain. Name a tenant by its GUID or a domain such as contoso.onmicrosoft.com."),
        )
    })
}

/// A single tenant: the client credentials grant needs one, as in Entra.
fn single_tenant(raw: &str) -> Result<Uuid, OAuthError> {
    match tenant_name(raw)? {
        TenantName::Tenant(id) => Ok(id),
        TenantName::Multi(m) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50059,
            &format!("No tenant-identifying information found in either the request or implied by any provided credentials: '/{m}' names no single tenant. Use a tenant GUID or domain in the authority, such as /contoso.onmicrosoft.com."),
        )),
    }
}

/// The tenant segment the authority's endpoints carry: the GUID, or the
/// multi-tenant name. (Their origin is the one the client addressed:
/// `https://login.microsoftonline.com` through the proxy, the service's own otherwise.)
fn tenant_segment(tenant: TenantName) -> String {
    match tenant {
        TenantName::Tenant(id) => id.to_string(),
        TenantName::Multi(m) => m.to_owned(),
    }
}

/// The issuer's tenant part: the GUID, or Entra's `{tenantid}` placeholder.
fn issuer_tenant(tenant: TenantName) -> String {
    match tenant {
        TenantName::Tenant(id) => id.to_string(),
        TenantName::Multi(_) => "{tenantid}".to_owned(),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the endpoints on the host
/// the client asked, so the next calls come back the same way.
async fn openid_configuration_v2(
    Path(raw): Path<String>,
    ServiceOrigin(origin): ServiceOrigin,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let tenant = tenant_name(&raw)?;
    let segment = tenant_segment(tenant);
    let base = format!("{origin}/{segment}");
    Ok(Json(json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["token"],
        "scopes_supported": [".default"],
        "grant_types_supported": ["client_credentials"],
        "issuer": format!("{origin}/{}/v2.0", issuer_tenant(tenant)),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com",
    })))
}

/// `GET /{tenant}/.well-known/openid-configuration`: the v1 endpoints.
async fn openid_configuration_v1(
    Path(raw): Path<String>,
    ServiceOrigin(origin): ServiceOrigin,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let tenant = tenant_name(&raw)?;
    let segment = tenant_segment(tenant);
    let base = format!("{origin}/{segment}");
    Ok(Json(json!({
        "token_endpoint": format!("{base}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/keys"),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["token"],
        "grant_types_supported": ["client_credentials"],
        "issuer": format!("https://sts.windows.net/{}/", issuer_tenant(tenant)),
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com",
    })))
}

/// `GET /{tenant}/discovery/v2.0/keys` (and the v1 `/discovery/keys`): the public
/// halves of the keys local tokens are signed with, current and not yet withdrawn.
async fn keys(
    Path(raw): Path<String>,
    State(app): State<AppState>,
) -> Result<Json<serde_json::Value>, OAuthError> {
    tenant_name(&raw)?;
    Ok(Json(app.auth.local_keys().map_or_else(
        || json!({ "keys": [] }),
        crate::auth::SigningKeys::jwks,
    )))
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`: MSAL's
/// instance discovery, answered as Entra answers it, for the host the client asked:
/// that host is the only one in the metadata, so MSAL keeps calling it.
async fn instance_discovery(
    Path(raw): Path<String>,
    ServiceOrigin(origin): ServiceOrigin,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, OAuthError> {
    tenant_name(&raw)?;
    // Read by hand: any query string is answered in OAuth's error shape, never axum's.
    let endpoint = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "authorization_endpoint")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let url = url::Url::parse(&endpoint).map_err(|_| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request must contain the parameter 'authorization_endpoint', an absolute URL such as https://login.microsoftonline.com/common/oauth2/v2.0/authorize.",
        )
    })?;
    let mut segments = url.path_segments().into_iter().flatten();
    let tenant = segments
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or("common");
    let tenant = tenant_name(tenant)?;
    let v2 = segments.any(|s| s == "v2.0");
    let segment = tenant_segment(tenant);
    let host = origin
        .split_once("://")
        .map_or(origin.as_str(), |(_, h)| h)
        .to_owned();
    let version = if v2 { "/v2.0" } else { "" };
    Ok(Json(json!({
        "tenant_discovery_endpoint": format!("{origin}/{segment}{version}/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    })))
}

/// `POST /{tenant}/oauth2/v2.0/token` with the client credentials grant.
async fn token_v2(
    Path(raw): Path<String>,
    headers: HeaderMap,
    State(app): State<AppState>,
    axum::Extension(claims): axum::Extension<Arc<TenantClaims>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let tenant = single_tenant(&raw)?;
    let form = form_of(form, "scope")?;
    let client = grant(&form, &headers)?;
    default_scope(&form)?;
    claims.check(tenant, client.secret.as_deref())?;
    let (access_token, _) = mint(&app, tenant, client.id)?;
    Ok(issued(json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME_SECS,
        "ext_expires_in": LIFETIME_SECS,
        "access_token": access_token,
    })))
}

/// `POST /{tenant}/oauth2/token`: the v1 endpoint, with `resource=` instead of a
/// scope, for older libraries. v1 answers its numbers as strings.
async fn token_v1(
    Path(raw): Path<String>,
    headers: HeaderMap,
    State(app): State<AppState>,
    axum::Extension(claims): axum::Extension<Arc<TenantClaims>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let tenant = single_tenant(&raw)?;
    let form = form_of(form, "resource")?;
    let client = grant(&form, &headers)?;
    let resource = form
        .get("resource")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'resource', such as https://graph.microsoft.com.",
            )
        })?
        .to_owned();
    claims.check(tenant, client.secret.as_deref())?;
    let (access_token, now) = mint(&app, tenant, client.id)?;
    let expires_on = now.timestamp() + LIFETIME_SECS as i64;
    Ok(issued(json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME_SECS.to_string(),
        "ext_expires_in": LIFETIME_SECS.to_string(),
        "expires_on": expires_on.to_string(),
        "not_before": now.timestamp().to_string(),
        "resource": resource,
        "access_token": access_token,
    })))
}

/// The form of a token request, or Entra's answer to a body that is not one.
fn form_of(
    form: Result<Form<HashMap<String, String>>, FormRejection>,
    target: &str,
) -> Result<HashMap<String, String>, OAuthError> {
    form.map(|Form(f)| f).map_err(|_| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must be application/x-www-form-urlencoded, with grant_type, client_id, client_secret and {target}."),
        )
    })
}

/// An application token for `tenant` with the Graph permission, and the time it
/// was issued at.
fn mint(
    app: &AppState,
    tenant: Uuid,
    client_id: String,
) -> Result<(String, chrono::DateTime<chrono::Utc>), OAuthError> {
    let keys = app.auth.local_keys().ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "This service checks tokens from a JWKS file; it cannot mint them.",
        )
    })?;
    let now = app.token_now();
    let req = MintRequest {
        tenant,
        kind: TokenKind::Application {
            roles: vec![READ_WRITE_ALL.to_owned()],
        },
        app_id: Some(client_id),
        lifetime: std::time::Duration::from_secs(LIFETIME_SECS),
        now: now.timestamp(),
    };
    let token = mint_local_token(keys, &req).map_err(|e| {
        tracing::error!(error = %e, "minting a token failed");
        oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "The token could not be minted.",
        )
    })?;
    Ok((token, now))
}

/// A token response: never cached.
fn issued(body: serde_json::Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Checks a client credentials request; the client id it names.
fn grant(form: &HashMap<String, String>, headers: &HeaderMap) -> Result<Client, OAuthError> {
    let bad =
        |code, what: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", code, what);
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        None => {
            return Err(bad(
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ))
        }
        Some(other) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'; this service supports client_credentials."),
            ))
        }
    }
    // client_secret_basic: the id and secret in an Authorization: Basic header.
    let basic = basic_credentials(headers);
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            bad(
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        })?;
    let secret = form
        .get("client_secret")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| basic.map(|(_, s)| s).filter(|s| !s.is_empty()));
    let has_assertion = form.get("client_assertion").is_some_and(|s| !s.is_empty());
    if secret.is_none() && !has_assertion {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }
    Ok(Client {
        id: client_id,
        secret,
    })
}

/// The v2.0 endpoint's scope: one resource's `/.default`, as client credentials need.
fn default_scope(form: &HashMap<String, String>) -> Result<(), OAuthError> {
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    let scopes: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
        .collect();
    if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope '{scope}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI), such as https://graph.microsoft.com/.default."),
        ));
    }
    Ok(())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error_of(e: OAuthError) -> (StatusCode, Value) {
        (e.status, e.body())
    }

    #[test]
    fn client_credentials_need_an_id_a_secret_and_a_default_scope() {
        let ok = [
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "s"),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        assert_eq!(grant(&form(&ok), &HeaderMap::new()).unwrap().id, "app");
        let without = |k: &str| {
            let pairs: Vec<_> = ok.iter().copied().filter(|(key, _)| *key != k).collect();
            error_of(grant(&form(&pairs), &HeaderMap::new()).unwrap_err())
        };
        let (status, body) = without("client_secret");
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        assert_eq!(body["error_codes"], json!([7000216]));
        assert_eq!(without("client_id").1["error"], "invalid_request");
        assert_eq!(without("grant_type").1["error"], "invalid_request");
        assert!(default_scope(&form(&ok)).is_ok());
        let no_scope: Vec<_> = ok.iter().copied().filter(|(k, _)| *k != "scope").collect();
        assert_eq!(
            error_of(default_scope(&form(&no_scope)).unwrap_err()).1["error"],
            "invalid_scope"
        );
        let mut wrong = form(&ok);
        wrong.insert("grant_type".into(), "password".into());
        let (_, body) = error_of(grant(&wrong, &HeaderMap::new()).unwrap_err());
        assert_eq!(body["error"], "unsupported_grant_type");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS70003:"));
    }

    #[test]
    fn basic_auth_carries_the_client() {
        use base64::Engine;
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("app:secret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        let pairs = [
            ("grant_type", "client_credentials"),
            ("scope", "api://x/.default"),
        ];
        assert_eq!(grant(&form(&pairs), &headers).unwrap().id, "app");
    }

    #[test]
    fn a_tenant_is_bound_to_its_first_secret_unless_shared() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = TenantClaims::new(false);
        assert!(claims.check(a, Some("first")).is_ok());
        assert!(claims.check(a, Some("first")).is_ok());
        let (status, body) = error_of(claims.check(a, Some("other")).unwrap_err());
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("--dev-shared"));
        assert!(
            claims.check(b, Some("other")).is_ok(),
            "another tenant is free"
        );
        assert!(claims.check(a, None).is_ok(), "certificates are not bound");
        let shared = TenantClaims::new(true);
        assert!(shared.check(a, Some("first")).is_ok());
        assert!(shared.check(a, Some("other")).is_ok());
    }
}
