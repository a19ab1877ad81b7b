//! The partner API under `/partner/v1`: what a partner's service calls.

use super::graph::json_content;
use super::schema::{component, edm, reference};
use super::{operation, Auth};
use crate::edm::EdmType;
use crate::model::agent::MAX_CLOUD_PCS;
use crate::model::schema::{ACTION_ERROR_CODE, ACTION_RESULT, ACTION_STATE};
use crate::odata::query::MAX_TOP;
use serde_json::{json, Map, Value};

/// Every partner call may answer these besides its own.
const ANY: &[u16] = &[400, 401, 403, 404, 429, 503];

pub fn paths(paths: &mut Map<String, Value>, schemas: &mut Map<String, Value>) {
    let tag = "partner";
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
    paths.insert(
        "/partner/v1/heartbeat".into(),
        json!({ "post": optional_body(heartbeat, json!({
        "type": "object",
        "properties": {},
        "additionalProperties": false,
    })) }),
    );

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
    paths.insert(
        "/partner/v1/sync".into(),
        json!({ "post": optional_body(sync, json!({
        "type": "object",
        "properties": {
            "syncDateTime": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the sync finished; now when absent. Not in the future.",
            },
        },
        "additionalProperties": false,
    })) }),
    );

    let results = component(ACTION_RESULT.name);
    let list = operation(
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
    );
    paths.insert("/partner/v1/deployments".into(), json!({ "get": list }));

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
    let schema_name = "cloudpcPartners.deploymentProgress";
    schemas.insert(
        schema_name.into(),
        json!({
            "type": "object",
            "properties": {
                "results": { "type": "array", "items": item, "minItems": 1, "maxItems": MAX_CLOUD_PCS },
            },
            "required": ["results"],
            "additionalProperties": false,
        }),
    );
    let report = operation(
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
        Some(reference(schema_name)),
        &[(204, "Recorded", Value::Null)],
        &[ANY, &[409, 413, 415]].concat(),
    );
    paths.insert(
        "/partner/v1/deployments/{activityId}/results".into(),
        json!({ "post": report }),
    );
}

/// A body the call takes or goes without.
fn optional_body(mut op: Value, schema: Value) -> Value {
    op["requestBody"] = json!({
        "required": false,
        "content": { "application/json": { "schema": schema } },
    });
    op
}
