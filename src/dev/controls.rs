//! The stand-in controls' handlers under `/dev/v1`: the clock, resets, seeding,
//! faults, the journal and simulated partners.
//!
//! Auth rule: the same admin token the Graph API takes (`CloudPC.ReadWrite.All`).
//! Tenant-scoped controls (resets, seeds, faults, the journal, simulated partners)
//! act on the token's tenant only, like the Graph API; reaching past it (a reset of
//! every tenant, another tenant's journal) needs `--dev-shared`, the start flag that
//! says the stand-in belongs to one tester. The clock is the process's, so any admin
//! may move it; tokens are still checked against real time, so moving the clock
//! never expires the token that would move it back.

use super::{doc, faults, journal, seed, simulate, DevState};
use crate::clock::{format_graph_time, Clock};
use crate::http::body::JsonObject;
use crate::http::extract::{GraphCaller, QueryParams, ReadWrite};
use crate::http::respond::GraphJson;
use crate::http::routes::{Endpoint, Routes};
use crate::http::ApiError;
use crate::json::Fields;
use crate::model::TenantId;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// `/dev/v1/…`
pub(super) fn routes() -> Routes<DevState> {
    let d = doc::controls();
    let mut r = Routes::new()
        .tag(
            doc::TAG,
            "Stand-in controls (serve --dev): clock, seed, reset, faults, journal, simulated partners, tokens.",
        )
        .route(
            "/dev/v1/clock",
            [
                Endpoint::get(clock, d.clock),
                Endpoint::post(move_clock, d.move_clock),
            ],
        )
        .route("/dev/v1/reset", [Endpoint::post(reset, d.reset)])
        .route("/dev/v1/seed", [Endpoint::post(seed_tenant, d.seed)])
        .route(
            "/dev/v1/faults",
            [
                Endpoint::get(get_faults, d.get_faults),
                Endpoint::post(set_faults, d.set_faults),
                Endpoint::delete(clear_faults, d.clear_faults),
            ],
        )
        .route(
            "/dev/v1/journal",
            [
                Endpoint::get(read_journal, d.read_journal),
                Endpoint::delete(clear_journal, d.clear_journal),
            ],
        )
        .route(
            "/dev/v1/partners",
            [
                Endpoint::get(list_simulations, d.list_simulations),
                Endpoint::post(start_simulation, d.start_simulation),
            ],
        )
        .route(
            "/dev/v1/partners/{id}",
            [
                Endpoint::get(get_simulation, d.get_simulation),
                Endpoint::delete(stop_simulation, d.stop_simulation),
            ],
        )
        .route(
            "/dev/v1/keys",
            [
                Endpoint::get(list_keys, d.list_keys),
                Endpoint::post(rotate_key, d.rotate_key),
            ],
        )
        .route(
            "/dev/v1/keys/{kid}",
            [Endpoint::delete(withdraw_key, d.withdraw_key)],
        );
    for (name, schema) in d.schemas {
        r = r.schema(name, schema);
    }
    r
}

fn clock_body(dev: &DevState) -> GraphJson {
    let clock = &dev.kit.clock;
    GraphJson(
        StatusCode::OK,
        json!({
            "now": format_graph_time(clock.now()),
            "offsetSeconds": clock.offset().num_milliseconds() as f64 / 1000.0,
        }),
    )
}

/// `GET /dev/v1/clock`: the service's time and how far it is from the real one.
async fn clock(_: GraphCaller<ReadWrite>, State(dev): State<DevState>) -> GraphJson {
    clock_body(&dev)
}

/// `POST /dev/v1/clock` with `{"advance": "90m"}`, `{"set": "2026-12-01T00:00:00Z"}`
/// or `{"reset": true}`.
async fn move_clock(
    _: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
    JsonObject(body): JsonObject,
) -> Result<GraphJson, ApiError> {
    let clock = &dev.kit.clock;
    let bad = ApiError::BadRequest;
    let mut f = Fields::new(&body);
    let (advance, set, reset) = (f.str("advance"), f.str("set"), f.raw("reset"));
    f.finish().map_err(bad)?;
    let (advance, set) = (advance.map_err(bad)?, set.map_err(bad)?);
    match (advance, set, reset) {
        (Some(d), None, None) => {
            let by = crate::clock::parse_duration(d).map_err(|e| bad(format!("'advance' {e}.")))?;
            let by = chrono::Duration::from_std(by)
                .map_err(|_| bad(format!("'advance' '{d}' is too long.")))?;
            clock.advance(by);
        }
        (None, Some(t), None) => {
            let to = chrono::DateTime::parse_from_rfc3339(t.trim()).map_err(|_| {
                bad(format!(
                    "'set' '{t}' is not a time with a zone, such as 2026-12-01T00:00:00Z."
                ))
            })?;
            clock.set(to.with_timezone(&chrono::Utc));
        }
        (None, None, Some(Value::Bool(true))) => clock.reset(),
        (None, None, Some(other)) => return Err(bad(reset_must_be_true(other))),
        _ => {
            return Err(bad(
                "Give exactly one of advance (a duration such as \"90m\"), set (a time such as \"2026-12-01T00:00:00Z\") or reset (true).".into(),
            ))
        }
    }
    // Simulated partners act at the new time before the caller looks.
    dev.kit
        .simulations
        .run_due(dev.connections(), clock.now())
        .await;
    Ok(clock_body(&dev))
}

fn reset_must_be_true(got: &Value) -> String {
    format!(
        "'reset' must be true, not {}.",
        crate::json::fields::kind(got)
    )
}

#[derive(serde::Deserialize)]
struct ResetScope {
    scope: Option<String>,
}

/// `POST /dev/v1/reset`: deletes the token's tenant's connections (`?scope=all`:
/// every tenant's) with their agent data.
async fn reset(
    caller: GraphCaller<ReadWrite>,
    QueryParams(scope): QueryParams<ResetScope>,
    State(dev): State<DevState>,
) -> Result<GraphJson, ApiError> {
    let tenant = match scope.scope.as_deref() {
        None | Some("tenant") => Some(caller.tenant()),
        Some("all") => {
            dev.kit.shared_only("POST /dev/v1/reset?scope=all")?;
            None
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "The scope '{other}' is not understood; use tenant (the default) or all."
            )))
        }
    };
    dev.kit.simulations.stop_all(tenant);
    let deleted = dev.connections().reset(tenant).await?;
    match tenant {
        Some(t) => dev.kit.faults.set(t, None),
        // Everything back as it started: every fault, and the clock on real time.
        None => {
            dev.kit.faults.clear_all();
            dev.kit.clock.reset();
        }
    }
    Ok(GraphJson(StatusCode::OK, json!({ "deleted": deleted })))
}

/// `POST /dev/v1/seed` with `{"connections": [...]}`: adds connections in chosen
/// states to the token's tenant, all or none.
async fn seed_tenant(
    caller: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
    JsonObject(body): JsonObject,
) -> Result<GraphJson, ApiError> {
    let app = &dev.app;
    let mut fields = Fields::new(&body);
    let records = seed::tenant_connections(&mut fields, app.clock.now(), &app.connections.health())
        .and_then(|records| fields.finish().map(|()| records))
        .map_err(ApiError::BadRequest)?;
    let tenant = caller.tenant();
    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    app.connections
        .seed(&records.into_iter().map(|r| (tenant, r)).collect::<Vec<_>>())
        .await?;
    Ok(GraphJson(StatusCode::CREATED, json!({ "ids": ids })))
}

fn faults_body(dev: &DevState, tenant: TenantId) -> GraphJson {
    let faults = &dev.kit.faults;
    GraphJson(
        StatusCode::OK,
        json!({
            "faults": faults.get(tenant).map(|s| s.to_json()),
            "startFaults": faults.start().map(|s| s.to_json()),
        }),
    )
}

/// `GET /dev/v1/faults`: the token's tenant's fault settings (`null`: none), and
/// those given at start, which every request in their scope meets.
async fn get_faults(caller: GraphCaller<ReadWrite>, State(dev): State<DevState>) -> GraphJson {
    faults_body(&dev, caller.tenant())
}

/// `POST /dev/v1/faults` with `{"scope": "graph", "errorRate": 0.2, "errors": [429,
/// 503], "latencyMs": [100, 300]}`: replaces the settings.
async fn set_faults(
    caller: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
    JsonObject(body): JsonObject,
) -> Result<GraphJson, ApiError> {
    let settings =
        faults::FaultSettings::parse(&Value::Object(body)).map_err(ApiError::BadRequest)?;
    dev.kit.faults.set(caller.tenant(), Some(settings));
    Ok(faults_body(&dev, caller.tenant()))
}

/// `DELETE /dev/v1/faults`: no more faults for the token's tenant.
async fn clear_faults(caller: GraphCaller<ReadWrite>, State(dev): State<DevState>) -> StatusCode {
    dev.kit.faults.set(caller.tenant(), None);
    StatusCode::NO_CONTENT
}

/// The journal's query: `?tenant=<GUID>|all&path=/partner/*&status=4xx&method=POST&since=-5m&top=50`.
#[derive(serde::Deserialize)]
struct JournalQuery {
    tenant: Option<String>,
    path: Option<String>,
    status: Option<String>,
    method: Option<String>,
    since: Option<String>,
    top: Option<String>,
    /// `true`: the status page's own calls too.
    page: Option<String>,
}

impl JournalQuery {
    /// The filter, for the token's tenant unless another tenant or `all` is asked
    /// for: the dev API's rule, as for resets.
    fn filter(&self, dev: &DevState, own: TenantId) -> Result<journal::Filter, ApiError> {
        let bad = ApiError::BadRequest;
        let tenant = match self.tenant.as_deref().map(str::trim) {
            None => Some(own),
            Some("all") => {
                dev.kit.shared_only("the journal's tenant=all")?;
                None
            }
            Some(t) => {
                let asked = t.parse::<uuid::Uuid>().map(TenantId).map_err(|_| {
                    bad(format!(
                        "The tenant '{t}' is neither a tenant GUID nor all."
                    ))
                })?;
                if asked != own {
                    dev.kit.shared_only("another tenant's journal")?;
                }
                Some(asked)
            }
        };
        let status = match self.status.as_deref() {
            None => None,
            Some(s) => Some(journal::StatusMatch::parse(s).ok_or_else(|| {
                bad(format!(
                    "The status '{s}' is neither an HTTP status such as 204 nor a class such as 4xx."
                ))
            })?),
        };
        let since = match self.since.as_deref() {
            None => None,
            Some(s) => Some(
                seed::when(s, dev.kit.clock.now())
                    .map_err(|e| bad(format!("The since value {e}.")))?,
            ),
        };
        if let Some(p) = self.path.as_deref().filter(|p| !p.starts_with(['/', '*'])) {
            return Err(bad(format!(
                "The path pattern '{p}' must start with / or *, such as /partner/*."
            )));
        }
        let with_page = match self.page.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(bad(format!(
                    "The page value '{other}' is neither true (the status page's own calls too) nor false."
                )))
            }
        };
        Ok(journal::Filter {
            tenant,
            path: self.path.clone(),
            status,
            method: self.method.clone(),
            since,
            with_page,
        })
    }
}

/// `GET /dev/v1/journal`: recent requests, oldest first, newest `top` (default 100).
async fn read_journal(
    caller: GraphCaller<ReadWrite>,
    QueryParams(q): QueryParams<JournalQuery>,
    State(dev): State<DevState>,
) -> Result<GraphJson, ApiError> {
    let journal = &dev.kit.journal;
    let filter = q.filter(&dev, caller.tenant())?;
    let top = match q.top.as_deref() {
        None => 100,
        Some(t) => t
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("The top value '{t}' is not a whole number from 1."))
            })?,
    };
    let entries = journal.query(&filter, top);
    Ok(GraphJson(
        StatusCode::OK,
        json!({
            "capacity": journal.capacity(),
            "value": entries.iter().map(journal::Entry::to_json).collect::<Vec<_>>(),
        }),
    ))
}

/// `DELETE /dev/v1/journal`: forgets the entries the same query would show.
async fn clear_journal(
    caller: GraphCaller<ReadWrite>,
    QueryParams(q): QueryParams<JournalQuery>,
    State(dev): State<DevState>,
) -> Result<StatusCode, ApiError> {
    let filter = q.filter(&dev, caller.tenant())?;
    dev.kit.journal.clear(&filter);
    Ok(StatusCode::NO_CONTENT)
}

fn no_simulation(raw: &str) -> ApiError {
    ApiError::NotFound(format!(
        "No simulated partner with id '{raw}' runs in this tenant; GET /dev/v1/partners lists them."
    ))
}

/// A simulation's id; one that is not a GUID names none.
fn simulation_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| no_simulation(raw))
}

/// `POST /dev/v1/partners` with `{"partnerId": "…", "pattern": "steady"}`: the
/// service heartbeats (and syncs) for that partner's connection in the token's tenant.
async fn start_simulation(
    caller: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
    JsonObject(body): JsonObject,
) -> Result<GraphJson, ApiError> {
    let plan = simulate::Plan::parse(&body).map_err(ApiError::BadRequest)?;
    let now = dev.kit.clock.now();
    let sim = dev
        .kit
        .simulations
        .start(dev.connections(), caller.tenant(), plan, now)
        .await
        .map_err(|e| match e {
            simulate::StartError::TooMany => ApiError::Conflict(format!(
                "At most {} simulated partners run at once in a tenant; stop one with DELETE /dev/v1/partners/{{id}}.",
                simulate::MAX_PER_TENANT
            )),
            simulate::StartError::ProcessFull => ApiError::Unavailable(format!(
                "This stand-in runs {} simulated partners, its most across tenants; stop some, or reset.",
                simulate::MAX_SIMULATIONS
            )),
            simulate::StartError::Duplicate(p) => ApiError::Conflict(format!(
                "Partner {p} is already simulated in this tenant; stop that simulation first."
            )),
            simulate::StartError::Refused(why) => ApiError::BadRequest(format!(
                "The partner cannot be simulated: {why}. Create and enable its connection first."
            )),
        })?;
    Ok(GraphJson(StatusCode::CREATED, sim.to_json(now)))
}

/// `GET /dev/v1/partners`: the token's tenant's simulated partners.
async fn list_simulations(
    caller: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
) -> GraphJson {
    let now = dev.kit.clock.now();
    let value: Vec<Value> = dev
        .kit
        .simulations
        .list(caller.tenant())
        .iter()
        .map(|s| s.to_json(now))
        .collect();
    GraphJson(StatusCode::OK, json!({ "value": value }))
}

/// `GET /dev/v1/partners/{id}`
async fn get_simulation(
    caller: GraphCaller<ReadWrite>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    State(dev): State<DevState>,
) -> Result<GraphJson, ApiError> {
    let id = simulation_id(&raw)?;
    let now = dev.kit.clock.now();
    dev.kit
        .simulations
        .list(caller.tenant())
        .iter()
        .find(|s| s.id == id)
        .map(|s| GraphJson(StatusCode::OK, s.to_json(now)))
        .ok_or_else(|| no_simulation(&raw))
}

/// `DELETE /dev/v1/partners/{id}`: the partner goes quiet; its connection stays.
async fn stop_simulation(
    caller: GraphCaller<ReadWrite>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    State(dev): State<DevState>,
) -> Result<StatusCode, ApiError> {
    let id = simulation_id(&raw)?;
    if dev.kit.simulations.stop(caller.tenant(), id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_simulation(&raw))
    }
}

fn key_json(key: &crate::auth::SigningKey, current: bool) -> Value {
    json!({
        "kid": key.kid,
        "current": current,
        "createdDateTime": format_graph_time(chrono::DateTime::from_timestamp(key.created, 0).unwrap_or_default()),
    })
}

fn local_keys(dev: &DevState) -> Result<&crate::auth::SigningKeys, ApiError> {
    dev.app.auth.local_keys().ok_or_else(|| {
        ApiError::Conflict(
            "This service checks tokens from a JWKS file; it has no signing keys of its own."
                .into(),
        )
    })
}

/// `GET /dev/v1/keys`: the signing keys, newest (current) first. Keys are the
/// process's, like the clock: any admin may see and roll them.
async fn list_keys(
    _: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
) -> Result<GraphJson, ApiError> {
    let keys = local_keys(&dev)?.list();
    let value: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| key_json(k, i == 0))
        .collect();
    Ok(GraphJson(StatusCode::OK, json!({ "value": value })))
}

/// `POST /dev/v1/keys`: a new key signs from now on; the previous ones stay
/// published and accepted until withdrawn, so a tester can rehearse a rollover.
async fn rotate_key(
    _: GraphCaller<ReadWrite>,
    State(dev): State<DevState>,
) -> Result<GraphJson, ApiError> {
    let key = local_keys(&dev)?.rotate().map_err(|e| {
        tracing::error!(error = %e, "making a signing key failed");
        ApiError::Internal
    })?;
    Ok(GraphJson(StatusCode::CREATED, key_json(&key, true)))
}

/// `DELETE /dev/v1/keys/{kid}`: the key is no longer published, and tokens it
/// signed are refused.
async fn withdraw_key(
    _: GraphCaller<ReadWrite>,
    axum::extract::Path(kid): axum::extract::Path<String>,
    State(dev): State<DevState>,
) -> Result<StatusCode, ApiError> {
    local_keys(&dev)?;
    match dev.app.auth.withdraw_local_key(&kid) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(crate::auth::WithdrawError::Unknown) => Err(ApiError::NotFound(format!(
            "No signing key with kid '{kid}'; GET /dev/v1/keys lists them."
        ))),
        Err(crate::auth::WithdrawError::Current) => Err(ApiError::Conflict(format!(
            "The key '{kid}' signs the tokens issued now; make another current first (POST /dev/v1/keys)."
        ))),
        Err(crate::auth::WithdrawError::Io(e)) => {
            tracing::error!(error = %e, "withdrawing a signing key failed");
            Err(ApiError::Internal)
        }
    }
}
