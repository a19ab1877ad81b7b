//! The partner API's OpenAPI operations, which `partner/mod.rs` registers beside
//! their handlers.

use crate::edm::EdmType;
use crate::model::agent::MAX_CLOUD_PCS;
use crate::model::schema::{ACTION_ERROR_CODE, ACTION_RESULT, ACTION_STATE};
use crate::odata::query::MAX_TOP;
use crate::openapi::schema::{component, edm, reference};
use crate::openapi::{json_content, operation, Auth};
use serde_json::{json, Value};

/// Every partner call may answer these besides its own.
const ANY: &[u16] = &[400, 401, 403, 404, 429, 503];

pub const TAG: &str = "partner";

/// `POST …/heartbeat`
pub fn heartbeat() -> Value {
    let tag = TAG;
    let heartbeat = operation(
        "Report that the partner is alive",
        tag,
        Auth::Partner,
        vec![],
        None,
        &[(
            204,
            "Recorded: the connection is healthy until the heartbeat timeout passes",
            Value::Null,
        )],
        &[ANY, &[413, 415]].concat(),
    );
    optional_body(
        heartbeat,
        json!({ "type": "object", "properties": {}, "additionalProperties": false }),
    )
}

/// `POST …/sync`
pub fn sync() -> Value {
    let tag = TAG;
    let sync = operation(
        "Report a finished data sync",
        tag,
        Auth::Partner,
        vec![],
        None,
        &[(
            204,
            "Recorded as the connection's lastSyncDateTime",
            Value::Null,
        )],
        &[ANY, &[413, 415]].concat(),
    );
    optional_body(
        sync,
        json!({
            "type": "object",
            "properties": {
                "syncDateTime": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When the sync finished; now when absent. Not in the future.",
                },
            },
            "additionalProperties": false,
        }),
    )
}

/// `GET …/deployments`
pub fn deployments() -> Value {
    let tag = TAG;
    let results = component(ACTION_RESULT.name);
    operation(
        "List the deployments this partner has been asked to make",
        tag,
        Auth::Partner,
        vec![
            json!({
                "name": "state",
                "in": "query",
                "required": false,
                "description": "Only results in this state; the same as $filter=state eq '…'.",
                "schema": edm(&EdmType::Enum(&ACTION_STATE)),
            }),
            json!({ "name": "$filter", "in": "query", "required": false, "schema": { "type": "string" } }),
            json!({ "name": "$top", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0, "maximum": MAX_TOP } }),
            json!({ "name": "$skiptoken", "in": "query", "required": false, "schema": { "type": "string" } }),
            json!({ "name": "$count", "in": "query", "required": false, "schema": { "type": "boolean" } }),
        ],
        None,
        &[(
            200,
            "A page of deployment results, oldest first",
            json_content(reference(&format!("{results}CollectionResponse"))),
        )],
        &[400, 401, 403, 404, 429, 503],
    )
}

/// The name of the body `report` takes.
pub const PROGRESS: &str = "cloudpcPartners.deploymentProgress";

/// The schema of that body.
pub fn progress() -> Value {
    let item = json!({
        "type": "object",
        "properties": {
            "cloudPcId": { "type": "string", "format": "uuid" },
            "state": edm(&EdmType::Enum(&ACTION_STATE)),
            "errorCode": { "anyOf": [edm(&EdmType::Enum(&ACTION_ERROR_CODE)), { "type": "null" }] },
            "errorMessage": { "type": ["string", "null"] },
        },
        "required": ["cloudPcId", "state"],
        "additionalProperties": false,
    });
    json!({
        "type": "object",
        "properties": {
            "results": { "type": "array", "items": item, "minItems": 1, "maxItems": MAX_CLOUD_PCS },
        },
        "required": ["results"],
        "additionalProperties": false,
    })
}

/// `POST …/deployments/{activityId}/results`
pub fn report() -> Value {
    let tag = TAG;
    operation(
        "Report progress on Cloud PCs of a deployment",
        tag,
        Auth::Partner,
        vec![json!({
            "name": "activityId",
            "in": "path",
            "required": true,
            "description": "The deployment's activity id, as deployAgent returned it.",
            "schema": { "type": "string" },
        })],
        Some(reference(PROGRESS)),
        &[(204, "Recorded", Value::Null)],
        &[ANY, &[409, 413, 415]].concat(),
    )
}

/// A body the call takes or goes without.
fn optional_body(mut op: Value, schema: Value) -> Value {
    op["requestBody"] = json!({
        "required": false,
        "content": { "application/json": { "schema": schema } },
    });
    op
}
