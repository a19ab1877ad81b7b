//! The OpenAPI operations of the stand-in controls under `/dev/v1` and of the
//! Entra-shaped token endpoint, which `controls.rs` and `oauth.rs` register beside
//! their handlers (so they are listed only when the process runs with `--dev`).

use crate::edm::EdmType;
use crate::model::schema::STATUS;
use crate::openapi::schema::{edm, reference};
use crate::openapi::{closed, Auth, Op};
use serde_json::{json, Value};

/// Every dev call may answer these besides its own.
const ANY: &[u16] = &[400, 401, 403];
const WITH_BODY: &[u16] = &[400, 401, 403, 413, 415];

pub const TAG: &str = "dev";

/// A control: the admin token the Graph API takes calls it.
fn control(summary: &str) -> Op {
    Op::new(TAG, Auth::GraphWrite, summary)
}

/// An endpoint of the dev authority: anyone calls it, as Entra's.
fn endpoint(summary: &str) -> Op {
    Op::new(TAG, Auth::None, summary)
}

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
    let mut schemas = Vec::new();
    let s = |name: &str| reference(&format!("cloudpcPartners.{name}"));

    schemas.push((
        "cloudpcPartners.clock".into(),
        closed(json!({
            "now": { "type": "string", "format": "date-time" },
            "offsetSeconds": { "type": "number", "description": "How far the service's clock is from the real one." },
        }), &["now", "offsetSeconds"]),
    ));
    let clock = control("Read the service's clock")
        .json(200, "The clock", s("clock"))
        .errors(ANY)
        .build();
    let move_clock = control("Move the service's clock").body(json!({
            "description": "Exactly one of advance, set or reset.",
            "oneOf": [
                closed(json!({ "advance": { "type": "string", "description": "A duration such as 90m." } }), &["advance"]),
                closed(json!({ "set": { "type": "string", "format": "date-time" } }), &["set"]),
                closed(json!({ "reset": { "const": true } }), &["reset"]),
            ],
        })).json(200, "The clock after the move", s("clock")).errors(WITH_BODY).build();

    let reset = control("Delete the tenant's connections")
        .params(vec![json!({
            "name": "scope", "in": "query", "required": false,
            "description": "tenant (the token's, the default) or all (every tenant's).",
            "schema": { "type": "string", "enum": ["tenant", "all"] },
        })])
        .json(
            200,
            "How many were deleted",
            closed(
                json!({ "deleted": { "type": "integer", "minimum": 0 } }),
                &["deleted"],
            ),
        )
        .errors(ANY)
        .build();

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
    let seed = control("Add connections in chosen states").body(closed(
            json!({ "connections": { "type": "array", "items": seeded } }),
            &["connections"],
        )).json(201, "Their ids", closed(
                json!({ "ids": { "type": "array", "items": { "type": "string", "format": "uuid" } } }),
                &["ids"],
            )).errors(&[WITH_BODY, &[409]].concat()).build();

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
    let get_faults = control("Read the fault settings")
        .json(200, "The settings in force; null for none", s("faults"))
        .errors(ANY)
        .build();
    let set_faults = control("Inject faults")
        .body(settings)
        .json(200, "The settings now in force", s("faults"))
        .errors(WITH_BODY)
        .build();
    let clear_faults = control("Stop injecting faults")
        .answers(204, "No faults")
        .errors(ANY)
        .build();

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
    let read_journal = control("Read the request journal")
        .params(read_query)
        .json(
            200,
            "Recent requests, oldest first",
            closed(
                json!({
                    "capacity": { "type": "integer" },
                    "value": { "type": "array", "items": entry },
                }),
                &["capacity", "value"],
            ),
        )
        .errors(ANY)
        .build();
    let clear_journal = control("Forget journal entries")
        .params(journal_query)
        .answers(204, "Forgotten: those the same query would show")
        .errors(ANY)
        .build();

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
    let start_simulation = control("Simulate a partner")
        .body(plan)
        .json(201, "The simulation", s("simulation"))
        .errors(&[WITH_BODY, &[409]].concat())
        .build();
    let list_simulations = control("List simulated partners")
        .json(
            200,
            "The tenant's simulations",
            closed(
                json!({ "value": { "type": "array", "items": s("simulation") } }),
                &["value"],
            ),
        )
        .errors(ANY)
        .build();
    let id =
        json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let get_simulation = control("Read a simulated partner")
        .params(vec![id.clone()])
        .json(200, "The simulation", s("simulation"))
        .errors(&[ANY, &[404]].concat())
        .build();
    let stop_simulation = control("Stop a simulated partner")
        .params(vec![id])
        .answers(204, "Stopped; the connection stays")
        .errors(&[ANY, &[404]].concat())
        .build();

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
    let list_keys = control("List the signing keys, current first")
        .json(
            200,
            "The keys local tokens are signed and checked with",
            closed(
                json!({ "value": { "type": "array", "items": key.clone() } }),
                &["value"],
            ),
        )
        .errors(ANY)
        .build();
    let rotate_key =
        control("Make a new signing key current (a rollover); the others stay accepted")
            .json(201, "The new current key", key)
            .errors(ANY)
            .build();
    let kid =
        json!({ "name": "kid", "in": "path", "required": true, "schema": { "type": "string" } });
    let withdraw_key = control("Withdraw a signing key: no longer published nor accepted")
        .params(vec![kid])
        .answers(204, "Withdrawn")
        .errors(&[ANY, &[404, 409]].concat())
        .build();

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
    let not_a_tenant = "The tenant is neither a GUID nor a domain";
    let discovery = |summary: &str| {
        endpoint(summary)
            .param(tenant.clone())
            .json(
                200,
                "Where the token endpoint is",
                json!({ "type": "object", "required": ["issuer", "token_endpoint"] }),
            )
            .response(400, oauth_error(not_a_tenant))
            .build()
    };
    let instance = endpoint("MSAL's instance discovery")
        .params([
            tenant.clone(),
            json!({ "name": "authorization_endpoint", "in": "query", "required": true, "schema": { "type": "string", "format": "uri" } }),
            json!({ "name": "api-version", "in": "query", "required": false, "schema": { "type": "string" } }),
        ])
        .json(
            200,
            "Where the tenant's OpenID configuration is, and the host's aliases",
            json!({ "type": "object", "required": ["tenant_discovery_endpoint", "metadata"] }),
        )
        .response(400, oauth_error("No usable authorization_endpoint, or no usable tenant"))
        .build();
    let keys = |summary: &str| {
        endpoint(summary)
            .param(tenant.clone())
            .json(
                200,
                "The public keys local tokens are signed with (RS256)",
                closed(json!({ "keys": { "type": "array" } }), &["keys"]),
            )
            .response(400, oauth_error(not_a_tenant))
            .build()
    };
    let form = |audience: (&str, &str)| {
        json!({
            "type": "object",
            "properties": {
                "grant_type": { "const": "client_credentials" },
                "client_id": { "type": "string", "minLength": 1 },
                "client_secret": { "type": "string", "minLength": 1 },
                audience.0: { "const": audience.1 },
            },
            "required": ["grant_type", "client_id", "client_secret", audience.0],
        })
    };
    let token = |summary: &str, form: Value, answer: Value| {
        endpoint(summary)
            .param(tenant.clone())
            .json(
                200,
                "An application token with CloudPC.ReadWrite.All for the tenant",
                answer,
            )
            .form_body(form)
            .response(400, oauth_error("A parameter is missing or not valid"))
            .response(401, oauth_error("No client secret"))
            .build()
    };
    let token_v2 = token(
        "A client-credentials token",
        form(("scope", "https://graph.microsoft.com/.default")),
        json!({
            "type": "object",
            "properties": {
                "token_type": { "const": "Bearer" },
                "expires_in": { "type": "integer" },
                "ext_expires_in": { "type": "integer" },
                "access_token": { "type": "string" },
            },
            "required": ["token_type", "expires_in", "access_token"],
        }),
    );
    // The v1 endpoint: `resource` instead of `scope`, numbers as strings.
    let token_v1 = token(
        "A client-credentials token (v1 endpoint)",
        form(("resource", "https://graph.microsoft.com")),
        json!({
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
        }),
    );
    AuthorityDocs {
        error,
        discovery_v2: discovery("OpenID configuration"),
        discovery_v1: discovery("OpenID configuration (v1 endpoints)"),
        instance,
        keys_v2: keys("Signing keys"),
        keys_v1: keys("Signing keys (v1 path)"),
        token_v2,
        token_v1,
    }
}
