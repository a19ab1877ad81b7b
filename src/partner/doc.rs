//! The partner API's OpenAPI operations, which `partner/mod.rs` registers beside
//! their handlers.

use crate::edm::EdmType;
use crate::model::agent::MAX_CLOUD_PCS;
use crate::model::schema::{ACTION_ERROR_CODE, ACTION_RESULT, ACTION_STATE};
use crate::odata::query::MAX_TOP;
use crate::openapi::schema::{component, edm, reference};
use crate::openapi::{Auth, Op};
use serde_json::{json, Value};

/// Every partner call may answer these besides its own.
const ANY: &[u16] = &[400, 401, 403, 404, 429, 503];

pub const TAG: &str = "partner";

/// An operation of the partner API: a partner credential calls it.
fn op(summary: &str) -> Op {
    Op::new(TAG, Auth::Partner, summary)
}

/// `POST …/heartbeat`
pub fn heartbeat() -> Value {
    op("Report that the partner is alive")
        .optional_body(json!({ "type": "object", "properties": {}, "additionalProperties": false }))
        .answers(
            204,
            "Recorded: the connection is healthy until the heartbeat timeout passes",
        )
        .errors(&[ANY, &[413, 415]].concat())
        .build()
}

/// `POST …/sync`
pub fn sync() -> Value {
    op("Report a finished data sync")
        .optional_body(json!({
            "type": "object",
            "properties": {
                "syncDateTime": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When the sync finished; now when absent. Not in the future.",
                },
            },
            "additionalProperties": false,
        }))
        .answers(204, "Recorded as the connection's lastSyncDateTime")
        .errors(&[ANY, &[413, 415]].concat())
        .build()
}

/// `GET …/deployments`
pub fn deployments() -> Value {
    let results = component(ACTION_RESULT.name);
    op("List the deployments this partner has been asked to make").params(vec![
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
        ]).json(200, "A page of deployment results, oldest first", reference(&format!("{results}CollectionResponse"))).errors(&[400, 401, 403, 404, 429, 503]).build()
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
    op("Report progress on Cloud PCs of a deployment")
        .param(json!({
            "name": "activityId",
            "in": "path",
            "required": true,
            "description": "The deployment's activity id, as deployAgent returned it.",
            "schema": { "type": "string" },
        }))
        .body(reference(PROGRESS))
        .answers(204, "Recorded")
        .errors(&[ANY, &[409, 413, 415]].concat())
        .build()
}
