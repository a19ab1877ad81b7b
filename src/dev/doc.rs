//! The OpenAPI operations of the stand-in controls under `/dev/v1` and of the
//! Entra-shaped token endpoint, which `controls.rs` and `oauth.rs` register beside
//! their handlers (so they are listed only when the process runs with `--dev`).

use crate::edm::EdmType;
use crate::model::schema::STATUS;
use crate::openapi::schema::{edm, reference};
use crate::openapi::{closed, json_content, operation, operation_id, Auth};
use serde_json::{json, Value};

/// Every dev call may answer these besides its own.
const ANY: &[u16] = &[400, 401, 403];
const WITH_BODY: &[u16] = &[400, 401, 403, 413, 415];

pub const TAG: &str = "dev";

/// The controls' operations, and the schemas they name.
pub struct ControlDocs {
    pub schemas: Vec<(String, Value)>,
    pub clock: Value,
    pub move_clock: Value,
    pub reset: Value,
    pub seed: Value,
    pub get_faults: Value,
    pub set_faults: Value,
    pub clear_faults: Value,
    pub read_journal: Value,
    pub clear_journal: Value,
    pub list_simulations: Value,
    pub start_simulation: Value,
    pub get_simulation: Value,
    pub stop_simulation: Value,
    pub list_keys: Value,
    pub rotate_key: Value,
    pub withdraw_key: Value,
}

pub fn controls() -> ControlDocs {
    let tag = TAG;
    let mut schemas = Vec::new();
    let s = |name: &str| reference(&format!("cloudpcPartners.{name}"));

    schemas.push((
        "cloudpcPartners.clock".into(),
        closed(json!({
            "now": { "type": "string", "format": "date-time" },
            "offsetSeconds": { "type": "number", "description": "How far the service's clock is from the real one." },
        }), &["now", "offsetSeconds"]),
    ));
    let clock = operation(
        "Read the service's clock",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(200, "The clock", json_content(s("clock")))],
        ANY,
    );
    let move_clock = operation(
        "Move the service's clock",
        tag,
        Auth::GraphWrite,
        vec![],
        Some(json!({
            "description": "Exactly one of advance, set or reset.",
            "oneOf": [
                closed(json!({ "advance": { "type": "string", "description": "A duration such as 90m." } }), &["advance"]),
                closed(json!({ "set": { "type": "string", "format": "date-time" } }), &["set"]),
                closed(json!({ "reset": { "const": true } }), &["reset"]),
            ],
        })),
        &[(200, "The clock after the move", json_content(s("clock")))],
        WITH_BODY,
    );

    let reset = operation(
        "Delete the tenant's connections",
        tag,
        Auth::GraphWrite,
        vec![json!({
            "name": "scope", "in": "query", "required": false,
            "description": "tenant (the token's, the default) or all (every tenant's).",
            "schema": { "type": "string", "enum": ["tenant", "all"] },
        })],
        None,
        &[(
            200,
            "How many were deleted",
            json_content(closed(
                json!({ "deleted": { "type": "integer", "minimum": 0 } }),
                &["deleted"],
            )),
        )],
        ANY,
    );

    let seeded = closed(
        json!({
            "partnerId": { "type": "string", "format": "uuid" },
            "status": edm(&EdmType::Enum(&STATUS)),
            "enableConnection": { "type": "boolean" },
            "lastHeartbeat": { "type": "string", "description": "A time, or an offset from now such as -30s." },
            "lastSync": { "type": "string", "description": "A time, or an offset from now such as -2h." },
        }),
        &["partnerId"],
    );
    let seed = operation(
        "Add connections in chosen states",
        tag,
        Auth::GraphWrite,
        vec![],
        Some(closed(
            json!({ "connections": { "type": "array", "items": seeded } }),
            &["connections"],
        )),
        &[(
            201,
            "Their ids",
            json_content(closed(
                json!({ "ids": { "type": "array", "items": { "type": "string", "format": "uuid" } } }),
                &["ids"],
            )),
        )],
        &[WITH_BODY, &[409]].concat(),
    );

    let settings = closed(
        json!({
            "scope": { "type": "string", "description": "graph (default), partner, all, or a path prefix starting with /." },
            "errorRate": { "type": "number", "minimum": 0, "maximum": 1 },
            "dropRate": { "type": "number", "minimum": 0, "maximum": 1 },
            "errors": { "type": "array", "minItems": 1, "items": { "type": "integer", "enum": [429, 500, 503, 504] } },
            "latencyMs": {
                "anyOf": [
                    { "type": "integer", "minimum": 0 },
                    { "type": "array", "items": { "type": "integer", "minimum": 0 }, "minItems": 2, "maxItems": 2 },
                ],
            },
            "retryAfterSeconds": { "type": "integer", "minimum": 0, "maximum": 3600 },
        }),
        &[],
    );
    schemas.push((
        "cloudpcPartners.faults".into(),
        closed(
            json!({
                "faults": { "anyOf": [settings.clone(), { "type": "null" }], "description": "The token's tenant's faults." },
                "startFaults": { "anyOf": [settings.clone(), { "type": "null" }], "description": "Those given at start (--faults), which every request in their scope meets." },
            }),
            &["faults", "startFaults"],
        ),
    ));
    let get_faults = operation(
        "Read the fault settings",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(
            200,
            "The settings in force; null for none",
            json_content(s("faults")),
        )],
        ANY,
    );
    let set_faults = operation(
        "Inject faults",
        tag,
        Auth::GraphWrite,
        vec![],
        Some(settings),
        &[(200, "The settings now in force", json_content(s("faults")))],
        WITH_BODY,
    );
    let clear_faults = operation(
        "Stop injecting faults",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(204, "No faults", Value::Null)],
        ANY,
    );

    let entry = json!({
        "type": "object",
        "properties": {
            "sequence": { "type": "integer" },
            "time": { "type": "string", "format": "date-time" },
            "method": { "type": "string" },
            "path": { "type": "string" },
            "query": { "type": ["string", "null"] },
            "status": { "type": ["integer", "null"] },
            "tenantId": { "type": ["string", "null"] },
            "partnerId": { "type": "string" },
            "callerKind": { "type": ["string", "null"] },
            "clientRequestId": { "type": ["string", "null"] },
            "requestId": { "type": ["string", "null"] },
            "durationMs": { "type": "number" },
            "body": {},
            "dropped": { "type": "boolean" },
            "bodyTruncated": { "type": "boolean" },
            "fromStatusPage": { "type": "boolean" },
        },
    });
    let journal_query = [
        ("tenant", "A tenant GUID, or all; the token's tenant by default (another tenant's, or all, needs --dev-shared)."),
        ("page", "true: the status page's own calls too (left out by default)."),
        ("path", "A path, * as a wildcard, such as /partner/*."),
        ("status", "A status such as 204 or a class such as 4xx."),
        ("method", "An HTTP method."),
        ("since", "A time, or an offset from now such as -5m."),
    ]
    .iter()
    .map(|(name, description)| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } }))
    .collect::<Vec<_>>();
    let mut read_query = journal_query.clone();
    read_query.push(json!({ "name": "top", "in": "query", "required": false, "description": "The newest this many (default 100).", "schema": { "type": "integer", "minimum": 1 } }));
    let read_journal = operation(
        "Read the request journal",
        tag,
        Auth::GraphWrite,
        read_query,
        None,
        &[(
            200,
            "Recent requests, oldest first",
            json_content(closed(
                json!({
                    "capacity": { "type": "integer" },
                    "value": { "type": "array", "items": entry },
                }),
                &["capacity", "value"],
            )),
        )],
        ANY,
    );
    let clear_journal = operation(
        "Forget journal entries",
        tag,
        Auth::GraphWrite,
        journal_query,
        None,
        &[(
            204,
            "Forgotten: those the same query would show",
            Value::Null,
        )],
        ANY,
    );

    schemas.push((
        "cloudpcPartners.simulation".into(),
        closed(json!({
            "id": { "type": "string", "format": "uuid" },
            "partnerId": { "type": "string", "format": "uuid" },
            "pattern": { "type": "string", "enum": ["steady", "flapping", "stopping"] },
            "periodSeconds": { "type": "integer" },
            "afterSeconds": { "type": "integer" },
            "heartbeatEverySeconds": { "type": "integer" },
            "syncEverySeconds": { "type": ["integer", "null"] },
            "startedDateTime": { "type": "string", "format": "date-time" },
            "up": { "type": "boolean", "description": "Whether it heartbeats now (its pattern may have it down)." },
            "heartbeats": { "type": "integer", "minimum": 0 },
            "syncs": { "type": "integer", "minimum": 0 },
            "lastHeartbeatDateTime": { "type": ["string", "null"], "format": "date-time" },
            "lastSyncDateTime": { "type": ["string", "null"], "format": "date-time" },
            "lastError": { "type": ["string", "null"], "description": "Why its last heartbeat or sync was refused, if it was." },
        }), &["id", "partnerId", "pattern"]),
    ));
    let duration = |what: &str| json!({ "type": "string", "description": format!("{what}: a duration from 1s to 30d, such as 10m.") });
    let plan = closed(
        json!({
            "partnerId": { "type": "string", "format": "uuid" },
            "pattern": { "type": "string", "enum": ["steady", "flapping", "stopping"] },
            "period": duration("For flapping: how long it is up, then down"),
            "after": duration("For stopping: when it goes quiet"),
            "heartbeatEvery": duration("How often it heartbeats (30s)"),
            "syncEvery": duration("How often it syncs (never)"),
        }),
        &["partnerId"],
    );
    let start_simulation = operation(
        "Simulate a partner",
        tag,
        Auth::GraphWrite,
        vec![],
        Some(plan),
        &[(201, "The simulation", json_content(s("simulation")))],
        &[WITH_BODY, &[409]].concat(),
    );
    let list_simulations = operation(
        "List simulated partners",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(
            200,
            "The tenant's simulations",
            json_content(closed(
                json!({ "value": { "type": "array", "items": s("simulation") } }),
                &["value"],
            )),
        )],
        ANY,
    );
    let id =
        json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let get_simulation = operation(
        "Read a simulated partner",
        tag,
        Auth::GraphWrite,
        vec![id.clone()],
        None,
        &[(200, "The simulation", json_content(s("simulation")))],
        &[ANY, &[404]].concat(),
    );
    let stop_simulation = operation(
        "Stop a simulated partner",
        tag,
        Auth::GraphWrite,
        vec![id],
        None,
        &[(204, "Stopped; the connection stays", Value::Null)],
        &[ANY, &[404]].concat(),
    );

    let key = json!({
        "type": "object",
        "properties": {
            "kid": { "type": "string" },
            "current": { "type": "boolean" },
            "createdDateTime": { "type": "string", "format": "date-time" },
        },
        "required": ["kid", "current", "createdDateTime"],
        "additionalProperties": false,
    });
    let list_keys = operation(
        "List the signing keys, current first",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(
            200,
            "The keys local tokens are signed and checked with",
            json_content(closed(
                json!({ "value": { "type": "array", "items": key.clone() } }),
                &["value"],
            )),
        )],
        ANY,
    );
    let rotate_key = operation(
        "Make a new signing key current (a rollover); the others stay accepted",
        tag,
        Auth::GraphWrite,
        vec![],
        None,
        &[(201, "The new current key", json_content(key))],
        ANY,
    );
    let kid =
        json!({ "name": "kid", "in": "path", "required": true, "schema": { "type": "string" } });
    let withdraw_key = operation(
        "Withdraw a signing key: no longer published nor accepted",
        tag,
        Auth::GraphWrite,
        vec![kid],
        None,
        &[(204, "Withdrawn", Value::Null)],
        &[ANY, &[404, 409]].concat(),
    );

    ControlDocs {
        schemas,
        clock,
        move_clock,
        reset,
        seed,
        get_faults,
        set_faults,
        clear_faults,
        read_journal,
        clear_journal,
        list_simulations,
        start_simulation,
        get_simulation,
        stop_simulation,
        list_keys,
        rotate_key,
        withdraw_key,
    }
}

/// The Entra-shaped endpoints' operations, and the error body they answer (OAuth's,
/// not Graph's).
pub struct AuthorityDocs {
    pub error: (String, Value),
    pub discovery_v2: Value,
    pub discovery_v1: Value,
    pub instance: Value,
    pub keys_v2: Value,
    pub keys_v1: Value,
    pub token_v2: Value,
    pub token_v1: Value,
}

pub fn authority() -> AuthorityDocs {
    let tag = TAG;
    let error = (
        "cloudpcPartners.oauthError".to_owned(),
        json!({
            "type": "object",
            "properties": {
                "error": { "type": "string" },
                "error_description": { "type": "string" },
                "error_codes": { "type": "array", "items": { "type": "integer" } },
                "timestamp": { "type": "string" },
                "trace_id": { "type": "string" },
                "correlation_id": { "type": "string" },
            },
            "required": ["error", "error_description"],
        }),
    );
    let oauth_error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": reference("cloudpcPartners.oauthError") } } });
    let tenant = json!({
        "name": "tenant", "in": "path", "required": true,
        "description": "The tenant's GUID, or a domain-style name such as contoso.onmicrosoft.com.",
        "schema": { "type": "string" },
    });
    let mut discovery = operation(
        "OpenID configuration",
        tag,
        Auth::None,
        vec![tenant.clone()],
        None,
        &[(
            200,
            "Where the token endpoint is",
            json_content(json!({ "type": "object", "required": ["issuer", "token_endpoint"] })),
        )],
        &[],
    );
    discovery["responses"]["400"] = oauth_error("The tenant is neither a GUID nor a domain");
    let discovery_v2 = discovery.clone();
    let v1 = "OpenID configuration (v1 endpoints)";
    discovery["summary"] = json!(v1);
    discovery["operationId"] = json!(operation_id(tag, v1));
    let discovery_v1 = discovery;
    let mut instance = operation(
        "MSAL's instance discovery",
        tag,
        Auth::None,
        vec![
            tenant.clone(),
            json!({ "name": "authorization_endpoint", "in": "query", "required": true, "schema": { "type": "string", "format": "uri" } }),
            json!({ "name": "api-version", "in": "query", "required": false, "schema": { "type": "string" } }),
        ],
        None,
        &[(
            200,
            "Where the tenant's OpenID configuration is, and the host's aliases",
            json_content(
                json!({ "type": "object", "required": ["tenant_discovery_endpoint", "metadata"] }),
            ),
        )],
        &[],
    );
    instance["responses"]["400"] =
        oauth_error("No usable authorization_endpoint, or no usable tenant");

    let mut keys = operation(
        "Signing keys",
        tag,
        Auth::None,
        vec![tenant.clone()],
        None,
        &[(
            200,
            "The public keys local tokens are signed with (RS256)",
            json_content(closed(json!({ "keys": { "type": "array" } }), &["keys"])),
        )],
        &[],
    );
    keys["responses"]["400"] = oauth_error("The tenant is neither a GUID nor a domain");
    let keys_v2 = keys.clone();
    let v1 = "Signing keys (v1 path)";
    keys["summary"] = json!(v1);
    keys["operationId"] = json!(operation_id(tag, v1));
    let keys_v1 = keys;
    let form = json!({
        "type": "object",
        "properties": {
            "grant_type": { "const": "client_credentials" },
            "client_id": { "type": "string", "minLength": 1 },
            "client_secret": { "type": "string", "minLength": 1 },
            "scope": { "const": "https://graph.microsoft.com/.default" },
        },
        "required": ["grant_type", "client_id", "client_secret", "scope"],
    });
    let mut token = operation(
        "A client-credentials token",
        tag,
        Auth::None,
        vec![tenant],
        None,
        &[(
            200,
            "An application token with CloudPC.ReadWrite.All for the tenant",
            json_content(json!({
                "type": "object",
                "properties": {
                    "token_type": { "const": "Bearer" },
                    "expires_in": { "type": "integer" },
                    "ext_expires_in": { "type": "integer" },
                    "access_token": { "type": "string" },
                },
                "required": ["token_type", "expires_in", "access_token"],
            })),
        )],
        &[],
    );
    token["requestBody"] = json!({
        "required": true,
        "content": { "application/x-www-form-urlencoded": { "schema": form } },
    });
    token["responses"]["400"] = oauth_error("A parameter is missing or not valid");
    token["responses"]["401"] = oauth_error("No client secret");
    let token_v2 = token.clone();
    // The v1 endpoint: `resource` instead of `scope`, numbers as strings.
    let v1 = "A client-credentials token (v1 endpoint)";
    token["summary"] = json!(v1);
    token["operationId"] = json!(operation_id(tag, v1));
    token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"] = json!({
        "type": "object",
        "properties": {
            "grant_type": { "const": "client_credentials" },
            "client_id": { "type": "string", "minLength": 1 },
            "client_secret": { "type": "string", "minLength": 1 },
            "resource": { "const": "https://graph.microsoft.com" },
        },
        "required": ["grant_type", "client_id", "client_secret", "resource"],
    });
    token["responses"]["200"]["content"]["application/json"]["schema"] = json!({
        "type": "object",
        "properties": {
            "token_type": { "const": "Bearer" },
            "expires_in": { "type": "string" },
            "ext_expires_in": { "type": "string" },
            "expires_on": { "type": "string" },
            "not_before": { "type": "string" },
            "resource": { "type": "string" },
            "access_token": { "type": "string" },
        },
        "required": ["token_type", "expires_in", "access_token", "resource"],
    });
    AuthorityDocs {
        error,
        discovery_v2,
        discovery_v1,
        instance,
        keys_v2,
        keys_v1,
        token_v2,
        token_v1: token,
    }
}
