//! The Graph surface's OpenAPI operations, written from the entity description: for
//! each view, its collection, `$count` and entity operations with the query options
//! they take, then the bound agent operations, `$batch` and `$metadata`. The routes
//! in `graph/mod.rs` register each beside its handler.

use crate::edm::{EntityView, FilterOps, Operation, Returns};
use crate::model::schema::CATALOG;
use crate::odata::query::{MAX_SKIP, MAX_TOP, PAGE_SIZE};
use crate::openapi::schema::{self, component, reference};
use crate::openapi::{json_content, Auth, Op};
use serde_json::{json, Map, Value};

/// The tag of the agent operations.
pub const AGENT_TAG: &str = "agent";

/// The statuses any Graph call may answer besides its own.
const ANY: &[u16] = &[400, 401, 403, 429, 503];

/// One view's operations, marked deprecated when the view is.
pub struct ViewDocs {
    view: &'static EntityView,
    deprecated: bool,
}

impl ViewDocs {
    pub fn new(view: &'static EntityView, deprecated: bool) -> Self {
        ViewDocs { view, deprecated }
    }

    /// An operation on this view's set, marked deprecated when the view is.
    fn op(&self, auth: Auth, summary: String) -> Op {
        Op::new(self.view.set_name, auth, &summary).deprecated(self.deprecated)
    }

    pub fn list(&self) -> Value {
        let view = self.view;
        self.op(Auth::GraphRead, format!("List {}", view.set_name))
            .describe(&format!(
                "The tenant's connections, {PAGE_SIZE} a page unless $top or Prefer: odata.maxpagesize says otherwise; follow @odata.nextLink for the rest."
            ))
            .params(collection_options(view))
            .json(
                200,
                "A page of the tenant's connections",
                reference(&format!("{}CollectionResponse", component(view.type_name))),
            )
            .errors(ANY)
            .build()
    }

    pub fn create(&self) -> Value {
        let ty = self.view.type_name;
        self.op(Auth::GraphWrite, format!("Create a {ty}"))
            .body(reference(&format!("{}Create", component(ty))))
            .json(201, "Created; Location names it", self.entity())
            .errors(&[ANY, &[409, 413, 415]].concat())
            .build()
    }

    pub fn count(&self) -> Value {
        let view = self.view;
        self.op(Auth::GraphRead, format!("Count {}", view.set_name))
            .param(filter(view))
            .content(
                200,
                "The number of matching connections",
                json!({ "text/plain": { "schema": { "type": "string", "pattern": "^[0-9]+$" } } }),
            )
            .errors(ANY)
            .build()
    }

    pub fn get(&self) -> Value {
        let view = self.view;
        self.op(Auth::GraphRead, format!("Get a {}", view.type_name))
            .params([key(), select(view)])
            .json(200, "The connection", self.entity())
            .errors(&[ANY, &[404]].concat())
            .build()
    }

    pub fn update(&self) -> Value {
        let ty = self.view.type_name;
        self.op(Auth::GraphWrite, format!("Update a {ty}"))
            .params([key(), if_match()])
            .body(reference(&format!("{}Update", component(ty))))
            .json(200, "The updated connection", self.entity())
            .errors(&[ANY, &[404, 412, 413, 415]].concat())
            .build()
    }

    pub fn delete(&self) -> Value {
        self.op(
            Auth::GraphWrite,
            format!("Delete a {}", self.view.type_name),
        )
        .params([key(), if_match()])
        .answers(204, "Deleted")
        .errors(&[ANY, &[404, 412]].concat())
        .build()
    }

    fn entity(&self) -> Value {
        reference(&format!("{}Response", component(self.view.type_name)))
    }
}

/// The schemas one view contributes.
pub fn view_schemas(view: &EntityView) -> Map<String, Value> {
    let mut schemas = Map::new();
    let ty = component(view.type_name);
    schemas.insert(ty.clone(), schema::entity(view));
    schemas.insert(format!("{ty}Response"), schema::entity_response(view));
    schemas.insert(
        format!("{ty}CollectionResponse"),
        schema::page(schema::reference(&ty)),
    );
    let mut create = schema::body(view, |p| p.on_create, false);
    create["examples"] = json!([{
        crate::model::schema::PARTNER_ID: "198d7bb6-bd2d-4bd7-9baa-5d8f0a4e2b42",
        crate::model::schema::ENABLE_CONNECTION: true,
    }]);
    schemas.insert(format!("{ty}Create"), create);
    let mut update = schema::body(view, |p| p.on_update, true);
    update["examples"] = json!([{ crate::model::schema::ENABLE_CONNECTION: false }]);
    schemas.insert(format!("{ty}Update"), update);
    schemas
}

/// The bound agent functions, each at its call form below `entity` (the templated
/// path the one function route serves).
pub fn agent_functions(entity: &str) -> Vec<(String, Value)> {
    CATALOG
        .operations
        .iter()
        .filter(|op| !op.is_action)
        .map(|op| {
            let (call, value) = agent_operation(op);
            (format!("{entity}/{call}"), value)
        })
        .collect()
}

/// The bound agent action `name`.
pub fn agent_action(name: &str) -> Value {
    CATALOG
        .operations
        .iter()
        .find(|op| op.is_action && op.name == name)
        .map(|op| agent_operation(op).1)
        .unwrap_or(Value::Null)
}

fn agent_operation(op: &Operation) -> (String, Value) {
    let tag = AGENT_TAG;
    let success = match &op.returns {
        None => (204, "Done", Value::Null),
        Some(Returns::String) => (
            200,
            "The value",
            json_content(json!({
                "type": "object",
                "properties": {
                    "@odata.context": { "type": "string" },
                    "value": { "type": "string" },
                },
                "required": ["value"],
                "additionalProperties": false,
            })),
        ),
        Some(Returns::CollectionOf(row)) => (
            200,
            "A page of rows",
            json_content(schema::reference(&format!(
                "{}CollectionResponse",
                component(row.name)
            ))),
        ),
    };
    if op.is_action {
        let body: Map<String, Value> = op
            .parameters
            .iter()
            .map(|(name, edm)| (name.to_string(), schema::edm(edm)))
            .collect();
        let names: Vec<&str> = op.parameters.iter().map(|(n, _)| *n).collect();
        let mut body = json!({
            "type": "object",
            "properties": body,
            "required": names,
            "additionalProperties": false,
        });
        body["examples"] = match op.name {
            "configureAgent" => json!([{ "agentSetting": {
                "agentUrl": "https://partner.example/agent.msi",
                "agentSha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "installParameters": ["/quiet"],
                "autoDeploymentEnabled": false,
            } }]),
            _ => json!([{ "cloudPcIds": ["5e1a7c1e-5b77-4d4c-9d1a-0c3a4f1d2b6e"] }]),
        };
        // Deploying acts on the caller's behalf, so Graph takes only a delegated token.
        let value = Op::new(tag, Auth::GraphDelegatedWrite, op.name)
            .params(vec![key()])
            .body(body)
            .content(success.0, success.1, success.2)
            .errors(&[ANY, &[404, 413, 415]].concat())
            .build();
        (op.name.to_owned(), value)
    } else {
        // Functions take their parameters as Microsoft's SDKs send them: named in the
        // call, with the values in the query string.
        // The options are those of the view of the rows it returns.
        let view = CATALOG
            .row_views
            .iter()
            .find(|v| matches!(op.returns, Some(Returns::CollectionOf(row)) if row.name == v.entity.name))
            .copied();
        let mut params = vec![key()];
        params.extend(op.parameters.iter().map(|(name, edm)| {
            json!({
                "name": name,
                "in": "query",
                "required": false,
                "description": format!("The {name} to narrow the rows to."),
                "schema": schema::edm(edm),
            })
        }));
        params.extend(view.map(collection_options).unwrap_or_default());
        let call = op
            .parameters
            .iter()
            .map(|(name, _)| format!("{name}='@{name}'"))
            .collect::<Vec<_>>()
            .join(",");
        let value = Op::new(tag, Auth::GraphRead, op.name)
            .params(params)
            .content(success.0, success.1, success.2)
            .errors(&[ANY, &[404]].concat())
            .build();
        (format!("{}({call})", op.name), value)
    }
}

/// The catalog's types besides the entities': the rows the functions return, the
/// complex types and the enumerations.
pub fn catalog_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    for view in CATALOG.row_views {
        let name = component(view.entity.name);
        schemas.insert(name.clone(), schema::row(view.entity));
        schemas.insert(
            format!("{name}CollectionResponse"),
            schema::page(reference(&name)),
        );
    }
    for e in CATALOG.enums {
        schemas.insert(component(e.name), schema::enumeration(e));
    }
    for c in CATALOG.complex_types {
        schemas.insert(component(c.name), schema::complex(c));
    }
    schemas
}

/// `POST /beta/$batch`.
pub fn batch() -> Value {
    let request = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "minLength": 1 },
            "method": { "type": "string", "enum": ["GET", "POST", "PATCH", "DELETE"] },
            "url": { "type": "string", "description": "Relative to /beta, such as /deviceManagement/virtualEndpoint/externalPartners." },
            "headers": { "type": "object", "additionalProperties": { "type": "string" } },
            "body": { "description": "JSON, or a base64 string for other content types." },
            "dependsOn": { "type": "array", "items": { "type": "string" } },
        },
        "required": ["id", "method", "url"],
    });
    let body = json!({
        "type": "object",
        "properties": {
            // At most 20, said rather than constrained: schemathesis 4.32 cannot reliably
            // generate twenty items of this shape and reports its own flakiness.
            "requests": { "type": "array", "items": request, "minItems": 1, "description": "One to 20 requests; more is a 400." },
        },
        "required": ["requests"],
        "examples": [{
            "requests": [
                { "id": "1", "method": "GET", "url": format!("/deviceManagement/virtualEndpoint/{}?$top=2", CATALOG.bound_to.set_name) },
                { "id": "2", "method": "GET", "url": format!("/deviceManagement/virtualEndpoint/{}/$count", CATALOG.bound_to.set_name), "dependsOn": ["1"] },
            ],
        }],
    });
    let answer = json!({
        "type": "object",
        "properties": {
            "responses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "status": { "type": "integer" },
                        "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                        "body": {},
                    },
                    "required": ["id", "status"],
                },
            },
        },
        "required": ["responses"],
    });
    Op::new("batch", Auth::GraphAny, "Run up to 20 requests in one")
        .describe("JSON batching as Graph does it: each item is authorized with the batch's token, throttled and answered as a direct call; dependsOn orders them, and dependents of a failed item answer 424.")
        .body(body)
        .json(200, "Each request's answer", answer)
        .errors(&[400, 401, 413, 415])
        .build()
}

/// `GET /beta/$metadata`.
pub fn metadata() -> Value {
    Op::new("metadata", Auth::None, "The CSDL of the types served here")
        .content(
            200,
            "CSDL",
            json!({ "application/xml": { "schema": { "type": "string" } } }),
        )
        .build()
}

fn key() -> Value {
    json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The connection's id; a value that is not a GUID names nothing (404).",
        "schema": { "type": "string", "format": "uuid" },
    })
}

fn if_match() -> Value {
    json!({
        "name": "If-Match",
        "in": "header",
        "required": false,
        "description": "Only if the connection is still at this @odata.etag (or *); else 412.",
        "schema": { "type": "string" },
    })
}

fn filter(view: &EntityView) -> Value {
    let filterable: Vec<&str> = view
        .properties()
        .filter(|p| p.filter != FilterOps::None)
        .map(|p| view.name(p))
        .collect();
    json!({
        "name": "$filter",
        "in": "query",
        "required": false,
        "description": format!(
            "An OData filter over {}: eq, ne, in, gt, ge, lt, le (where the type orders), and, or, not, parentheses.",
            filterable.join(", ")
        ),
        "schema": { "type": "string" },
        "examples": {
            "enabled": { "value": format!("{} eq true", crate::model::schema::ENABLE_CONNECTION) },
        },
    })
}

fn select(view: &EntityView) -> Value {
    let names: Vec<&str> = view.properties().map(|p| view.name(p)).collect();
    json!({
        "name": "$select",
        "in": "query",
        "required": false,
        "description": format!("Comma-separated properties to return, of {}.", names.join(", ")),
        "schema": { "type": "string" },
    })
}

/// The options a collection takes, with the properties of `view` named where they
/// apply.
fn collection_options(view: &EntityView) -> Vec<Value> {
    let sortable: Vec<&str> = view
        .properties()
        .filter(|p| p.sortable)
        .map(|p| view.name(p))
        .collect();
    vec![
        filter(view),
        select(view),
        json!({
            "name": "$orderby",
            "in": "query",
            "required": false,
            "description": format!("Comma-separated properties, each optionally followed by asc or desc, of {}.", sortable.join(", ")),
            "schema": { "type": "string" },
        }),
        json!({
            "name": "$top",
            "in": "query",
            "required": false,
            "description": "The page size.",
            "schema": { "type": "integer", "minimum": 0, "maximum": MAX_TOP },
        }),
        json!({
            "name": "$skip",
            "in": "query",
            "required": false,
            "description": "Rows to pass over once; deeper than the maximum, follow @odata.nextLink.",
            "schema": { "type": "integer", "minimum": 0, "maximum": MAX_SKIP },
        }),
        json!({
            "name": "$skiptoken",
            "in": "query",
            "required": false,
            "description": "Where the next page starts; opaque, only as @odata.nextLink gives it.",
            "schema": { "type": "string" },
        }),
        json!({
            "name": "$count",
            "in": "query",
            "required": false,
            "description": "With true, @odata.count holds the number of every match.",
            "schema": { "type": "boolean" },
        }),
        json!({
            "name": "Prefer",
            "in": "header",
            "required": false,
            "description": "odata.maxpagesize=N sets the page size when $top does not.",
            "schema": { "type": "string" },
        }),
    ]
}
