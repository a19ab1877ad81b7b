//! The OpenAPI 3.1 floor: what an operation's documentation is made of (who may
//! call it, its answers, the error statuses every front shares), and the document at
//! `/openapi.json`, assembled from what each front registered beside its routes (see
//! `http::routes`). Nothing here knows a path: the fronts name them once, as they
//! route them.

pub mod schema;

use axum::http::Method;
use serde_json::{json, Map, Value};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// What the fronts documented as they registered their routes: each path's
/// operations by method, the schemas those name, and the tags that group them, in
/// the order they were registered.
#[derive(Debug, Clone, Default)]
pub struct Described {
    paths: Map<String, Value>,
    schemas: Map<String, Value>,
    tags: Vec<Value>,
}

impl Described {
    /// Documents `method` on `path`.
    pub fn operation(&mut self, path: &str, method: &Method, op: Value) {
        let item = self
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| json!({}));
        item[method.as_str().to_ascii_lowercase()] = op;
    }

    /// A schema the operations name by `reference(name)`.
    pub fn schema(&mut self, name: impl Into<String>, schema: Value) {
        self.schemas.insert(name.into(), schema);
    }

    /// A tag, listed once however often it is given.
    pub fn tag(&mut self, name: &str, description: &str) {
        if !self.tags.iter().any(|t| t["name"] == name) {
            self.tags
                .push(json!({ "name": name, "description": description }));
        }
    }

    /// Adds what `other` documents.
    pub fn merge(&mut self, other: Described) {
        for (path, item) in other.paths {
            let ours = self.paths.entry(path).or_insert_with(|| json!({}));
            if let (Some(ours), Value::Object(theirs)) = (ours.as_object_mut(), item) {
                ours.extend(theirs);
            }
        }
        self.schemas.extend(other.schemas);
        for tag in other.tags {
            if !self.tags.iter().any(|t| t["name"] == tag["name"]) {
                self.tags.push(tag);
            }
        }
    }

    /// The documented paths, each with its methods (upper case, as registered).
    pub fn paths(&self) -> impl Iterator<Item = (&str, Vec<String>)> {
        self.paths.iter().map(|(path, item)| {
            let methods = item
                .as_object()
                .map(|m| m.keys().map(|k| k.to_ascii_uppercase()).collect())
                .unwrap_or_default();
            (path.as_str(), methods)
        })
    }

    /// The whole document, for clients that reach the service at `origin` (such as
    /// `https://localhost:8443`).
    pub fn document(&self, origin: &str) -> Value {
        let mut schemas = self.schemas.clone();
        schemas.insert(ERROR.into(), error_schema());
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "cloudpc-partners",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "Microsoft Graph (beta) Cloud PC external partner connections, the partner API that drives their health, and the stand-in controls of dev mode. The Graph part is generated from the same description as /beta/$metadata.",
            },
            "servers": [{ "url": origin }],
            "tags": self.tags,
            "paths": self.paths,
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

/// One operation, built up: who may call it, what it takes, what it answers.
#[derive(Debug, Clone)]
pub struct Op {
    summary: String,
    tag: String,
    auth: Auth,
    parameters: Vec<Value>,
    /// Media type, schema, and whether it is required.
    body: Option<(&'static str, Value, bool)>,
    /// Each answer's status and response object.
    answers: Vec<(u16, Value)>,
    errors: Vec<u16>,
    description: Option<String>,
    deprecated: bool,
}

impl Op {
    /// An operation of `tag`, callable as `auth` says, named by `summary` (its
    /// operation id is made from the two).
    pub fn new(tag: &str, auth: Auth, summary: &str) -> Self {
        Op {
            summary: summary.to_owned(),
            tag: tag.to_owned(),
            auth,
            parameters: Vec::new(),
            body: None,
            answers: Vec::new(),
            errors: Vec::new(),
            description: None,
            deprecated: false,
        }
    }

    /// What it does, in place of the sentence naming its permission.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    pub fn deprecated(mut self, deprecated: bool) -> Self {
        self.deprecated = deprecated;
        self
    }

    pub fn param(mut self, parameter: Value) -> Self {
        self.parameters.push(parameter);
        self
    }

    pub fn params(mut self, parameters: impl IntoIterator<Item = Value>) -> Self {
        self.parameters.extend(parameters);
        self
    }

    /// A JSON body it requires.
    pub fn body(mut self, schema: Value) -> Self {
        self.body = Some(("application/json", schema, true));
        self
    }

    /// A JSON body it takes or goes without.
    pub fn optional_body(mut self, schema: Value) -> Self {
        self.body = Some(("application/json", schema, false));
        self
    }

    /// A form body it requires (`application/x-www-form-urlencoded`).
    pub fn form_body(mut self, schema: Value) -> Self {
        self.body = Some(("application/x-www-form-urlencoded", schema, true));
        self
    }

    /// A success answer with no body.
    pub fn answers(self, status: u16, description: &str) -> Self {
        self.response(status, json!({ "description": description }))
    }

    /// An answer given whole, such as an error in another shape than Graph's.
    pub fn response(mut self, status: u16, response: Value) -> Self {
        self.answers.push((status, response));
        self
    }

    /// A success answer with a JSON body of `schema`.
    pub fn json(self, status: u16, description: &str, schema: Value) -> Self {
        self.content(status, description, json_content(schema))
    }

    /// A success answer with `content` (by media type; null for none).
    pub fn content(self, status: u16, description: &str, content: Value) -> Self {
        let mut r = json!({ "description": description });
        if !content.is_null() {
            r["content"] = content;
        }
        self.response(status, r)
    }

    /// Error statuses it may answer, each Graph's error body.
    pub fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }

    pub fn build(self) -> Value {
        let mut responses = Map::new();
        for (status, response) in self.answers {
            responses.insert(status.to_string(), response);
        }
        let mut errors = self.errors;
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            responses.insert(
                status.to_string(),
                json!({ "$ref": format!("#/components/responses/{}", error_name(status)) }),
            );
        }
        let mut op = json!({
            "summary": self.summary,
            "tags": [self.tag],
            "operationId": operation_id(&self.tag, &self.summary),
            "security": self.auth.security(),
            "parameters": self.parameters,
            "responses": responses,
        });
        if let Some(says) = self.description.as_deref().or(self.auth.says()) {
            op["description"] = json!(says);
        }
        if let Some((media, schema, required)) = self.body {
            op["requestBody"] = json!({
                "required": required,
                "content": { media: { "schema": schema } },
            });
        }
        if self.deprecated {
            op["deprecated"] = json!(true);
        }
        op
    }
}

pub fn operation_id(tag: &str, summary: &str) -> String {
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

/// `{"application/json": {"schema": schema}}`
pub fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// An object with exactly these properties, `required` of them required.
pub fn closed(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_gather_by_path_and_tags_once() {
        let mut d = Described::default();
        d.tag("a", "first");
        d.operation("/x", &Method::GET, json!({ "summary": "get" }));
        let mut other = Described::default();
        other.tag("a", "again");
        other.tag("b", "second");
        other.operation("/x", &Method::DELETE, json!({ "summary": "delete" }));
        d.merge(other);
        let paths: Vec<_> = d.paths().collect();
        assert_eq!(
            paths,
            vec![("/x", vec!["GET".to_owned(), "DELETE".to_owned()])]
        );
        let doc = d.document("http://h");
        assert_eq!(doc["tags"][0]["description"], "first");
        assert_eq!(doc["tags"][1]["name"], "b");
        assert_eq!(doc["servers"][0]["url"], "http://h");
        assert!(doc["components"]["schemas"][ERROR].is_object());
    }

    #[test]
    fn operation_ids_join_the_summary_words() {
        assert_eq!(
            operation_id("dev", "Read the service's clock"),
            "dev.ReadTheServiceSClock"
        );
    }
}
