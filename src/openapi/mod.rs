//! The OpenAPI 3.1 document at `/openapi.json`: every API this process serves, the
//! Graph surface generated from the same entity description as `$metadata`, then the
//! partner API and (in dev mode) the stand-in controls. Built per request, as the
//! server's own origin and switches shape it.

mod dev;
mod graph;
mod partner;
pub mod schema;

use crate::model::schema::{ENUMS, PARTNERS, SETTINGS};
use serde_json::{json, Map, Value};

/// What this process serves, which decides what the document lists.
#[derive(Debug, Clone)]
pub struct Surface {
    /// The origin clients reach the service at, such as `https://localhost:8443`.
    pub origin: String,
    /// The deprecated `externalPartnerSettings` view is on.
    pub legacy_settings: bool,
    /// The dev API and the token endpoint are on.
    pub dev: bool,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    GraphRead,
    GraphWrite,
    GraphDelegatedWrite,
    /// `$batch`: each item is authorized on its own.
    GraphAny,
    Partner,
}

impl Auth {
    fn security(self) -> Value {
        match self {
            Auth::None => json!([]),
            Auth::Partner => json!([{ "partnerToken": [] }]),
            _ => json!([{ "graphToken": [] }]),
        }
    }

    fn says(self) -> Option<&'static str> {
        match self {
            Auth::None => None,
            Auth::GraphRead => {
                Some("Permission: CloudPC.Read.All or CloudPC.ReadWrite.All (delegated or application).")
            }
            Auth::GraphWrite => Some("Permission: CloudPC.ReadWrite.All (delegated or application)."),
            Auth::GraphDelegatedWrite => {
                Some("Permission: CloudPC.ReadWrite.All, delegated only (an application token is a 403).")
            }
            Auth::GraphAny => Some("Any Graph token; each item needs its own permission."),
            Auth::Partner => Some(
                "A partner credential: an application token for the tenant whose roles hold CloudPC.PartnerReadWrite.All and whose partnerId claim names the partner.",
            ),
        }
    }
}

/// One operation: its success answers (status, description, content or null) and the
/// error statuses it documents.
pub(crate) fn operation(
    summary: &str,
    tag: &str,
    auth: Auth,
    parameters: Vec<Value>,
    body: Option<Value>,
    success: &[(u16, &str, Value)],
    errors: &[u16],
) -> Value {
    let mut responses = Map::new();
    for (status, description, content) in success {
        let mut r = json!({ "description": description });
        if !content.is_null() {
            r["content"] = content.clone();
        }
        responses.insert(status.to_string(), r);
    }
    let mut errors = errors.to_vec();
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses.insert(
            status.to_string(),
            json!({ "$ref": format!("#/components/responses/{}", error_name(status)) }),
        );
    }
    let mut op = json!({
        "summary": summary,
        "tags": [tag],
        "operationId": operation_id(tag, summary),
        "security": auth.security(),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(says) = auth.says() {
        op["description"] = json!(says);
    }
    if let Some(schema) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema } },
        });
    }
    op
}

pub(super) fn operation_id(tag: &str, summary: &str) -> String {
    let words: String = summary
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{tag}.{words}")
}

/// What each error status means here; every one answers Graph's error body.
const ERRORS: &[(u16, &str)] = &[
    (400, "The request is malformed: a query option, a body, a header or a path segment; the message names it"),
    (401, "No valid token: missing, malformed, expired, wrongly signed or for another audience"),
    (403, "The token lacks the permission, or the partner's connection is disabled"),
    (404, "Nothing with that id in the caller's tenant"),
    (409, "It already exists, or conflicts with what runs"),
    (412, "If-Match names another version"),
    (413, "The body is larger than 4 MiB"),
    (415, "The body is not application/json"),
    (429, "Over the throttling budget; wait Retry-After seconds"),
    (503, "The database is busy or unreachable; retry after Retry-After seconds"),
];

fn error_name(status: u16) -> String {
    format!("Error{status}")
}

fn error_responses() -> Map<String, Value> {
    ERRORS
        .iter()
        .map(|(status, description)| {
            let mut r = json!({
                "description": description,
                "content": { "application/json": { "schema": schema::reference(ERROR) } },
            });
            let header = match status {
                401 => Some(("WWW-Authenticate", "Bearer, with the reason")),
                429 | 503 => Some(("Retry-After", "Seconds to wait")),
                _ => None,
            };
            if let Some((name, description)) = header {
                r["headers"] =
                    json!({ name: { "description": description, "schema": { "type": "string" } } });
            }
            (error_name(*status), r)
        })
        .collect()
}

/// Graph's error body, by the name Microsoft's own OpenAPI documents give it.
const ERROR: &str = "microsoft.graph.ODataErrors.ODataError";

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": { "type": "string" },
                    "message": { "type": "string" },
                    "innerError": {
                        "type": "object",
                        "properties": {
                            "date": { "type": "string", "format": "date-time" },
                            "request-id": { "type": "string" },
                            "client-request-id": { "type": "string" },
                        },
                    },
                },
                "required": ["code", "message"],
            },
        },
        "required": ["error"],
    })
}

/// The whole document.
pub fn document(surface: &Surface) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    graph::view_paths(&mut paths, &PARTNERS, false);
    graph::view_schemas(&mut schemas, &PARTNERS);
    if surface.legacy_settings {
        graph::view_paths(&mut paths, &SETTINGS, true);
        graph::view_schemas(&mut schemas, &SETTINGS);
    }
    graph::agent_paths(&mut paths);
    graph::agent_schemas(&mut schemas);
    graph::service_paths(&mut paths);
    for e in ENUMS {
        schemas.insert(schema::component(e.name), schema::enumeration(e));
    }
    let setting = &crate::model::schema::AGENT_SETTING;
    schemas.insert(schema::component(setting.name), schema::complex(setting));
    schemas.insert(ERROR.into(), error_schema());
    partner::paths(&mut paths, &mut schemas);
    if surface.dev {
        dev::paths(&mut paths, &mut schemas);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cloudpc-partners",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Microsoft Graph (beta) Cloud PC external partner connections, the partner API that drives their health, and the stand-in controls of dev mode. The Graph part is generated from the same description as /beta/$metadata.",
        },
        "servers": [{ "url": surface.origin }],
        "tags": tags(surface),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": {
                "graphToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Graph token for the tenant: `cloudpc-partners token --tenant GUID` (delegated) or `--app`, or in dev mode POST /{tenant}/oauth2/v2.0/token.",
                },
                "partnerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A partner credential: `cloudpc-partners token --tenant GUID --partner GUID`.",
                },
            },
        },
    })
}

fn tags(surface: &Surface) -> Value {
    let mut tags = vec![
        json!({ "name": PARTNERS.set_name, "description": "Graph: the tenant's partner connections." }),
        json!({ "name": "agent", "description": "Graph: the partner agent's settings, deployments and reports." }),
        json!({ "name": "batch", "description": "Graph: JSON batching." }),
        json!({ "name": "metadata", "description": "Graph: the CSDL." }),
    ];
    if surface.legacy_settings {
        tags.insert(
            1,
            json!({ "name": SETTINGS.set_name, "description": "Graph: the same records through the view Microsoft deprecated." }),
        );
    }
    tags.push(json!({ "name": "partner", "description": "The partner's side: heartbeats, syncs, deployment progress." }));
    if surface.dev {
        tags.push(json!({ "name": "dev", "description": "Stand-in controls (serve --dev): clock, seed, reset, faults, journal, simulated partners, tokens." }));
    }
    json!(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surface(legacy: bool, dev: bool) -> Surface {
        Surface {
            origin: "http://127.0.0.1:8080".into(),
            legacy_settings: legacy,
            dev,
        }
    }

    /// Every `$ref` points at something the document defines.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        for (legacy, dev) in [(true, true), (false, false)] {
            let doc = document(&surface(legacy, dev));
            let mut found = Vec::new();
            refs(&doc, &mut found);
            assert!(!found.is_empty());
            for r in found {
                let pointer = r.trim_start_matches('#').to_owned();
                assert!(doc.pointer(&pointer).is_some(), "{r} does not resolve");
            }
        }
    }

    #[test]
    fn switches_decide_what_is_listed() {
        let all = document(&surface(true, true));
        let some = document(&surface(false, false));
        let settings = "/beta/deviceManagement/virtualEndpoint/externalPartnerSettings";
        assert!(all["paths"][settings]["get"]["deprecated"] == true);
        assert!(some["paths"].get(settings).is_none());
        assert!(all["paths"].get("/dev/v1/clock").is_some());
        assert!(some["paths"].get("/dev/v1/clock").is_none());
        assert!(some["paths"].get("/partner/v1/heartbeat").is_some());
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document(&surface(true, true));
        let mut ids = Vec::new();
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for op in item.as_object().into_iter().flat_map(|m| m.values()) {
                ids.push(op["operationId"].as_str().unwrap_or_default().to_owned());
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{ids:?}");
    }
}
