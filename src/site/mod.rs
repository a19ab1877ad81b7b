//! What a person or a tool opens first: the status page at `/` (static HTML, script
//! and style compiled into the binary, no build step) and the OpenAPI document at
//! `/openapi.json`. The page holds no data of its own: it calls the Graph, partner
//! and dev APIs with the token the person gives it, so it shows nothing without one.

use crate::http::extract::ServiceOrigin;
use crate::http::respond::with_405;
use crate::openapi::{Described, DOCUMENT_PATH};
use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use std::sync::Arc;

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page's own content only: no inline script or style, no other origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page and the document; `dev` says whether the stand-in controls are on.
pub fn routes(dev: bool, api: Arc<Described>) -> Router<AppState> {
    Router::new()
        .route("/", only_get(get(move || page(dev))))
        .route("/status/app.js", only_get(get(script)))
        .route("/status/app.css", only_get(get(style)))
        .route(
            DOCUMENT_PATH,
            only_get(get(move |root| document(root, api))),
        )
}

fn only_get(r: MethodRouter<AppState>) -> MethodRouter<AppState> {
    with_405(r, "GET")
}

fn asset(content_type: &'static str, body: String) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `GET /`: the page, told whether the stand-in controls are on.
async fn page(dev: bool) -> Response {
    let dev = if dev { "true" } else { "false" };
    let mut res = asset("text/html;charset=utf-8", PAGE.replace("{{dev}}", dev));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn script() -> Response {
    asset("text/javascript;charset=utf-8", SCRIPT.to_owned())
}

async fn style() -> Response {
    asset("text/css;charset=utf-8", STYLE.to_owned())
}

/// `GET /openapi.json`: what the fronts registered, for the origin the client used.
async fn document(
    ServiceOrigin(origin): ServiceOrigin,
    api: Arc<Described>,
) -> Json<serde_json::Value> {
    Json(api.document(&origin))
}
