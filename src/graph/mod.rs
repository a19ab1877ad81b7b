//! The Graph API under `/beta`: routes, handlers, representations and `$metadata`.

pub mod agent;
pub mod batch;
mod doc;
pub mod input;
pub mod metadata;
pub mod options;
pub mod partners;
pub mod render;

use crate::edm::Deprecation;
use crate::edm::EntityView;
use crate::http::respond::Xml;
use crate::http::routes::{Endpoint, Routes};
use crate::http::ApiError;
use crate::model::schema::CATALOG;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;
use axum::Extension;
use doc::ViewDocs;
use std::sync::Arc;

/// Where every view's sets live.
const SETS: &str = "/beta/deviceManagement/virtualEndpoint";

/// The `/beta` routes a batch item may address: every one but `$batch` itself;
/// `legacy_settings` adds the deprecated views.
pub fn routes(legacy_settings: bool) -> Routes<AppState> {
    let mut r = Routes::new();
    for set in CATALOG.sets(legacy_settings) {
        let view = set.view;
        let routes = set_routes(view, set.deprecated.is_some())
            .tag(view.set_name, &format!("Graph: {}", set.about));
        r = r.merge(match &set.deprecated {
            None => routes,
            Some(d) => {
                let headers = deprecation_headers(d);
                routes.map(|r| r.layer(axum::middleware::map_response(headers)))
            }
        });
    }
    r.merge(agent_routes())
        .tag("metadata", "Graph: the CSDL.")
        .route(
            "/beta/$metadata",
            [Endpoint::get(metadata, doc::metadata())],
        )
}

/// `POST /beta/$batch`, whose items run through `items`: the assembly hands it the
/// Graph routes with the same layers as the main listener's, without `$batch`, so a
/// batch cannot nest and its items reach nothing but the Graph API.
pub fn batch_route(items: axum::Router) -> Routes<AppState> {
    Routes::new()
        .tag("batch", "Graph: JSON batching.")
        .route("/beta/$batch", [Endpoint::post(batch::batch, doc::batch())])
        .map(|r| r.layer(Extension(batch::ItemRouter(items))))
}

/// Collection, `$count` and entity routes for one view of the records.
fn set_routes(view: &'static EntityView, deprecated: bool) -> Routes<AppState> {
    let docs = ViewDocs::new(view, deprecated);
    let set = format!("{SETS}/{}", view.set_name);
    let mut r = Routes::new()
        .route(
            &set,
            [
                Endpoint::get(partners::list, docs.list()),
                Endpoint::post(partners::create, docs.create()),
            ],
        )
        .route(
            &format!("{set}/$count"),
            [Endpoint::get(partners::count, docs.count())],
        )
        .route(
            &format!("{set}/{{id}}"),
            [
                Endpoint::get(partners::get, docs.get()),
                Endpoint::patch(partners::update, docs.update()),
                Endpoint::delete(partners::delete, docs.delete()),
            ],
        );
    for (name, schema) in doc::view_schemas(view) {
        r = r.schema(name, schema);
    }
    r.map(|r| r.layer(Extension(view)))
}

/// The agent members, bound to a connection of the current view.
fn agent_routes() -> Routes<AppState> {
    let bound = CATALOG.bound_to;
    let entity = format!("{SETS}/{}/{{id}}", bound.set_name);
    let mut r = Routes::new()
        .tag(
            doc::AGENT_TAG,
            "Graph: the partner agent's settings, deployments and reports.",
        )
        .route(
            &format!("{entity}/{{call}}"),
            [Endpoint::get_at(
                agent::call_function,
                doc::agent_functions(&entity),
            )],
        );
    for (name, schema) in doc::catalog_schemas() {
        r = r.schema(name, schema);
    }
    let configure = format!("{entity}/configureAgent");
    let deploy = format!("{entity}/deployAgent");
    r.route(
        &configure,
        [Endpoint::post(
            agent::configure_agent,
            doc::agent_action("configureAgent"),
        )],
    )
    .route(
        &deploy,
        [Endpoint::post(
            agent::deploy_agent,
            doc::agent_action("deployAgent"),
        )],
    )
    // Actions may be named with their namespace too, as OData allows.
    .alias(
        &format!("{entity}/microsoft.graph.configureAgent"),
        &configure,
    )
    .alias(&format!("{entity}/microsoft.graph.deployAgent"), &deploy)
    .map(|r| r.layer(Extension(bound)))
}

/// The headers a deprecated view answers with: when it was deprecated, when it was
/// removed, and where its successor is.
fn deprecation_headers(
    d: &'static Deprecation,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    let successor = HeaderValue::from_str(&format!(
        "<{SETS}/{}>; rel=\"successor-version\"",
        d.successor.set_name
    ))
    .ok();
    move |mut res: Response| {
        let h = res.headers_mut();
        h.insert("Deprecation", HeaderValue::from_static(d.announced));
        h.insert("Sunset", HeaderValue::from_static(d.sunset));
        if let Some(link) = &successor {
            h.insert(header::LINK, link.clone());
        }
        std::future::ready(res)
    }
}

/// `GET /beta/$metadata`
async fn metadata(State(app): State<AppState>) -> Xml {
    Xml(metadata::csdl(app.legacy_settings))
}

/// The paths Graph routes, for the answer to a path it does not: each split into
/// segments, `None` for a template's parameter (which any segment fills).
#[derive(Debug, Clone, Default)]
pub struct KnownPaths(Arc<Vec<Vec<Option<String>>>>);

impl KnownPaths {
    /// From the routed paths; only those under a Graph version root count.
    pub fn new(paths: &[String]) -> Self {
        let known = paths
            .iter()
            .filter(|p| p.starts_with("/beta/"))
            .map(|p| {
                p.trim_start_matches('/')
                    .split('/')
                    .map(|s| match s.starts_with('{') && s.ends_with('}') {
                        true => None,
                        false => Some(s.to_owned()),
                    })
                    .collect()
            })
            .collect();
        KnownPaths(Arc::new(known))
    }

    /// The first segment of `path` that no routed path has there, or its last when
    /// each is known (a path that stops above any resource).
    fn first_unknown<'p>(&self, path: &'p str) -> &'p str {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // The /v1.0 schema has the same roots, but none of the partner sets below.
        let depth_known = |known: &[Option<String>], i: usize| match segments[0] {
            "v1.0" => i < V1_SHARED_DEPTH,
            _ => true,
        } && i < known.len();
        let mut candidates: Vec<&[Option<String>]> = self.0.iter().map(Vec::as_slice).collect();
        for (i, segment) in segments.iter().enumerate().skip(1) {
            candidates.retain(|known| {
                depth_known(known, i)
                    && known[i]
                        .as_deref()
                        .is_none_or(|literal| literal == *segment)
            });
            if candidates.is_empty() {
                return segment;
            }
        }
        segments.last().copied().unwrap_or_default()
    }
}

/// How many segments of the /beta paths /v1.0 has too: the version and
/// `deviceManagement/virtualEndpoint`.
const V1_SHARED_DEPTH: usize = 3;

/// Anything no route matches. Under a Graph version root, Graph's own answer: 400
/// naming the first segment its schema does not have here (the `/v1.0` schema has
/// no external partners); elsewhere, 404.
pub fn unknown_path(
    known: KnownPaths,
) -> impl Fn(Uri) -> std::future::Ready<ApiError> + Clone + Send + Sync + 'static {
    move |uri: Uri| {
        let path = uri.path();
        let version = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        std::future::ready(match version {
            "beta" | "v1.0" => unknown_segment(known.first_unknown(path), version),
            _ => ApiError::NotFound(format!(
                "No resource at '{path}'. This service's OpenAPI document at {} lists every path it serves; its status page is at /.",
                crate::openapi::DOCUMENT_PATH
            )),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownPaths {
        KnownPaths::new(
            &[
                "/beta/$metadata",
                "/beta/deviceManagement/virtualEndpoint/externalPartners",
                "/beta/deviceManagement/virtualEndpoint/externalPartners/{id}",
                "/partner/v1/heartbeat",
            ]
            .map(String::from),
        )
    }

    #[test]
    fn the_first_segment_no_route_has_is_named() {
        let k = known();
        for (path, segment) in [
            ("/beta/deviceManagemnt/virtualEndpoint", "deviceManagemnt"),
            ("/beta/deviceManagement/virtualEndpoint/nothing", "nothing"),
            (
                "/beta/deviceManagement/virtualEndpoint/externalPartners/x/y",
                "y",
            ),
            ("/beta/deviceManagement", "deviceManagement"),
            ("/beta/partner", "partner"),
            (
                "/v1.0/deviceManagement/virtualEndpoint/externalPartners",
                "externalPartners",
            ),
            ("/v1.0/$metadata", "$metadata"),
        ] {
            assert_eq!(k.first_unknown(path), segment, "{path}");
        }
    }
}
