//! The Graph API under `/beta`: routes, handlers, representations and `$metadata`.

pub mod agent;
pub mod batch;
pub mod input;
pub mod metadata;
pub mod options;
pub mod partners;
pub mod render;

use crate::edm::EntityView;
use crate::http::respond::{with_405, Xml};
use crate::http::ApiError;
use crate::model::schema::{PARTNERS, SETTINGS};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};

/// Microsoft deprecated the settings view on 2025-02-18 (RFC 9745 form: `@` + Unix time).
const SETTINGS_DEPRECATION: &str = "@1739836800";
/// ... and removed it on 2026-03-31 (RFC 8594 HTTP-date).
const SETTINGS_SUNSET: &str = "Tue, 31 Mar 2026 00:00:00 GMT";

/// The `/beta` routes a batch item may address: every one but `$batch` itself.
pub fn routes(legacy_settings: bool) -> Router<AppState> {
    let mut r = Router::new()
        .route("/beta/$metadata", with_405(get(metadata), "GET"))
        .merge(set_routes(&PARTNERS))
        .merge(agent_routes());
    if legacy_settings {
        r = r.merge(
            set_routes(&SETTINGS).layer(axum::middleware::map_response(deprecation_headers)),
        );
    }
    r
}

/// `POST /beta/$batch`, whose items run through `items`: the assembly hands it the
/// Graph routes with the same layers as the main listener's, without `$batch`, so a
/// batch cannot nest and its items reach nothing but the Graph API.
pub fn batch_route(items: Router) -> Router<AppState> {
    Router::new()
        .route("/beta/$batch", with_405(post(batch::batch), "POST"))
        .layer(Extension(batch::ItemRouter(items)))
}

/// Collection, `$count` and entity routes for one view of the records.
fn set_routes(view: &'static EntityView) -> Router<AppState> {
    let base = format!("/beta/deviceManagement/virtualEndpoint/{}", view.set_name);
    Router::new()
        .route(
            &base,
            with_405(get(partners::list).post(partners::create), "GET, POST"),
        )
        .route(
            &format!("{base}/$count"),
            with_405(get(partners::count), "GET"),
        )
        .route(
            &format!("{base}/{{id}}"),
            with_405(
                get(partners::get)
                    .patch(partners::update)
                    .delete(partners::delete),
                "GET, PATCH, DELETE",
            ),
        )
        .layer(Extension(view))
}

/// The agent members, bound to a connection of the current view.
fn agent_routes() -> Router<AppState> {
    let entity = format!(
        "/beta/deviceManagement/virtualEndpoint/{}/{{id}}",
        PARTNERS.set_name
    );
    let mut r = Router::new().route(
        &format!("{entity}/{{call}}"),
        with_405(get(agent::call_function), "GET"),
    );
    // Actions may be named with or without the namespace, as OData allows.
    for prefix in ["", "microsoft.graph."] {
        r = r
            .route(
                &format!("{entity}/{prefix}configureAgent"),
                with_405(post(agent::configure_agent), "POST"),
            )
            .route(
                &format!("{entity}/{prefix}deployAgent"),
                with_405(post(agent::deploy_agent), "POST"),
            );
    }
    r.layer(Extension(&PARTNERS))
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

/// `GET /beta/$metadata`
async fn metadata(State(app): State<AppState>) -> Xml {
    Xml(metadata::csdl(app.legacy_settings))
}

/// Anything no route matches. Under a Graph version root, Graph's own answer: 400
/// naming the first segment its schema does not have here (the `/v1.0` schema has
/// no external partners); elsewhere, 404.
pub async fn unknown_path(State(app): State<AppState>, uri: Uri) -> ApiError {
    let path = uri.path();
    let mut segments = path.trim_start_matches('/').split('/');
    let version = segments.next().unwrap_or_default();
    let sets: Vec<&str> = match version {
        "beta" if app.legacy_settings => vec![PARTNERS.set_name, SETTINGS.set_name],
        "beta" => vec![PARTNERS.set_name],
        "v1.0" => vec![],
        _ => {
            return ApiError::NotFound(format!(
                "No resource at '{path}'. This service serves Microsoft Graph under /beta (/beta/deviceManagement/virtualEndpoint/externalPartners), the partner API under /partner/v1, a status page at /, its OpenAPI document at /openapi.json, and /healthz, /readyz and /metrics."
            ))
        }
    };
    // The schema's tree below the version root, one level per segment.
    let roots: &[&str] = if version == "beta" {
        &["deviceManagement", "$metadata", "$batch"]
    } else {
        &["deviceManagement"]
    };
    let levels: [&[&str]; 3] = [roots, &["virtualEndpoint"], &sets];
    let mut last = version;
    for (i, segment) in segments.enumerate() {
        let known = match levels.get(i) {
            Some(names) => names.contains(&segment),
            // An entity key, then `$count` on the set; nothing deeper exists here.
            None => i == 3,
        };
        if !known {
            return unknown_segment(segment, version);
        }
        last = segment;
    }
    unknown_segment(last, version)
}

fn unknown_segment(segment: &str, version: &str) -> ApiError {
    let hint = if version == "v1.0" {
        " The Cloud PC external partner APIs exist only under /beta."
    } else {
        ""
    };
    ApiError::BadRequest(format!(
        "Resource not found for the segment '{segment}'.{hint}"
    ))
}
