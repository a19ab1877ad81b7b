//! The Graph API under `/beta`: routes, handlers, representations and errors.

pub mod body;
pub mod context;
pub mod error;
pub mod input;
pub mod metadata;
pub mod partners;
pub mod render;

pub use error::GraphError;

use crate::app::AppState;
use crate::odata::EntityShape;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;

/// Microsoft deprecated the settings view on 2025-02-18 (RFC 9745 form: `@` + Unix time).
const SETTINGS_DEPRECATION: &str = "@1739836800";
/// ... and removed it on 2026-03-31 (RFC 8594 HTTP-date).
const SETTINGS_SUNSET: &str = "Tue, 31 Mar 2026 00:00:00 GMT";

/// The `/beta` routes.
pub fn routes(legacy_settings: bool) -> Router<AppState> {
    let mut r = Router::new()
        .route("/beta/$metadata", with_405(get(metadata), "GET"))
        .merge(set_routes(EntityShape::PARTNERS));
    if legacy_settings {
        r = r.merge(
            set_routes(EntityShape::SETTINGS)
                .layer(axum::middleware::map_response(deprecation_headers)),
        );
    }
    r
}

fn with_405(r: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    r.fallback(move |method: Method| async move {
        GraphError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        }
    })
}

/// Collection, `$count` and entity routes for one view of the records.
fn set_routes(shape: EntityShape) -> Router<AppState> {
    let base = format!("/beta/deviceManagement/virtualEndpoint/{}", shape.set_name);
    let collection = get(move |State(app): State<AppState>, h: HeaderMap, u: Uri| {
        partners::list(shape, app, h, u)
    })
    .post(
        move |State(app): State<AppState>, h: HeaderMap, u: Uri, b: axum::body::Body| {
            partners::create(shape, app, h, u, b)
        },
    );
    let count = get(move |State(app): State<AppState>, h: HeaderMap, u: Uri| {
        partners::count(shape, app, h, u)
    });
    let entity = get(
        move |State(app): State<AppState>, h: HeaderMap, u: Uri, Path(id): Path<String>| {
            partners::get(shape, app, h, u, id)
        },
    )
    .patch(
        move |State(app): State<AppState>,
              h: HeaderMap,
              u: Uri,
              Path(id): Path<String>,
              b: axum::body::Body| { partners::update(shape, app, h, u, id, b) },
    )
    .delete(
        move |State(app): State<AppState>, h: HeaderMap, u: Uri, Path(id): Path<String>| {
            partners::delete(shape, app, h, u, id)
        },
    );
    Router::new()
        .route(&base, with_405(collection, "GET, POST"))
        .route(&format!("{base}/$count"), with_405(count, "GET"))
        .route(
            &format!("{base}/{{id}}"),
            with_405(entity, "GET, PATCH, DELETE"),
        )
}

async fn deprecation_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        "Deprecation",
        HeaderValue::from_static(SETTINGS_DEPRECATION),
    );
    h.insert("Sunset", HeaderValue::from_static(SETTINGS_SUNSET));
    h.insert(
        header::LINK,
        HeaderValue::from_static(
            "</beta/deviceManagement/virtualEndpoint/externalPartners>; rel=\"successor-version\"",
        ),
    );
    res
}

async fn metadata(State(app): State<AppState>) -> Response {
    let mut res = metadata::csdl(app.legacy_settings).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml;charset=utf-8"),
    );
    res
}

/// Anything no route matches: 404 with a Graph error body.
pub async fn not_found(uri: Uri) -> GraphError {
    let path = uri.path();
    if path.starts_with("/v1.0/") {
        return GraphError::NotFound(format!(
            "Resource not found for the segment '{}'. The Cloud PC external partner APIs exist only under /beta.",
            path.trim_start_matches("/v1.0/").split('/').next().unwrap_or_default()
        ));
    }
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("/");
    GraphError::NotFound(format!(
        "Resource not found for the segment '{segment}'. This service serves /beta/deviceManagement/virtualEndpoint/externalPartners."
    ))
}
