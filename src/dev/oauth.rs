//! A token endpoint in Entra ID's shape, so an app that authenticates the normal way
//! (`ClientSecretCredential` with an authority) runs here with only the authority and
//! the Graph base URL changed. It mints the same local tokens as the `token` command.
//! Dev mode only: any client id and secret are accepted, as there is no app registry.

use crate::auth::{mint_local_token, MintRequest, TokenKind, READ_WRITE_ALL};
use crate::http::extract::ServiceRoot;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// How long minted tokens live, as Entra's do by default.
const LIFETIME_SECS: u64 = 3599;

/// `/{tenant}/…`, as `login.microsoftonline.com` serves them.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
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

fn tenant_of(raw: &str) -> Result<Uuid, OAuthError> {
    raw.parse::<Uuid>().map_err(|_| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{raw}' not found. This service names tenants by their GUID."),
        )
    })
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
async fn openid_configuration(
    Path(raw): Path<String>,
    ServiceRoot(root): ServiceRoot,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let tenant = tenant_of(&raw)?;
    // The service root ends in /beta; the authority is the origin before it.
    let origin = root.strip_suffix("/beta").unwrap_or(&root);
    let base = format!("{origin}/{tenant}");
    Ok(Json(json!({
        "issuer": format!("{base}/v2.0"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "scopes_supported": [".default"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "tenant_region_scope": null,
    })))
}

/// `GET /{tenant}/discovery/v2.0/keys`: empty, because local tokens are signed with
/// a shared secret, which must not be published; only this service checks them.
async fn keys(Path(raw): Path<String>) -> Result<Json<serde_json::Value>, OAuthError> {
    tenant_of(&raw)?;
    Ok(Json(json!({ "keys": [] })))
}

/// `POST /{tenant}/oauth2/v2.0/token` with the client credentials grant.
async fn token(
    Path(raw): Path<String>,
    headers: HeaderMap,
    State(app): State<AppState>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let tenant = tenant_of(&raw)?;
    let Ok(Form(form)) = form else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded, with grant_type, client_id, client_secret and scope.",
        ));
    };
    let client_id = grant(&form, &headers)?;
    let secret = app.auth.local_secret().ok_or_else(|| {
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
    let access_token = mint_local_token(secret, &req).map_err(|e| {
        tracing::error!(error = %e, "minting a token failed");
        oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "The token could not be minted.",
        )
    })?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "token_type": "Bearer",
            "expires_in": LIFETIME_SECS,
            "ext_expires_in": LIFETIME_SECS,
            "access_token": access_token,
        })),
    )
        .into_response())
}

/// Checks a client credentials request; the client id it names.
fn grant(form: &HashMap<String, String>, headers: &HeaderMap) -> Result<String, OAuthError> {
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
    let has_secret = form.get("client_secret").is_some_and(|s| !s.is_empty())
        || form.get("client_assertion").is_some_and(|s| !s.is_empty())
        || basic.is_some_and(|(_, s)| !s.is_empty());
    if !has_secret {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }
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
    Ok(client_id)
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
        assert_eq!(grant(&form(&ok), &HeaderMap::new()).unwrap(), "app");
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
        assert_eq!(without("scope").1["error"], "invalid_scope");
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
        assert_eq!(grant(&form(&pairs), &headers).unwrap(), "app");
    }
}
