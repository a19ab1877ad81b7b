//! The partner-facing API: an external partner's service reports heartbeats and data
//! syncs for the tenants that enabled it, which drives `connectionStatus` and
//! `lastSyncDateTime` on the Graph side.

pub mod directory;
pub mod heartbeats;

use crate::app::AppState;
use crate::graph::body::{json_kind, read_optional_json_object};
use crate::graph::GraphError;
use crate::model::TenantId;
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use directory::PartnerEntry;
use serde_json::{Map, Value};
use uuid::Uuid;

/// How far ahead of this service's clock a partner's sync time may be (clock skew);
/// such a time is recorded as now.
const SYNC_SKEW: Duration = Duration::seconds(60);

/// `/partner/v1/…`
pub fn routes() -> Router<AppState> {
    let not_allowed = |method: Method| async move {
        GraphError::MethodNotAllowed {
            method: method.to_string(),
            allow: "POST",
        }
    };
    Router::new()
        .route(
            "/partner/v1/heartbeat",
            post(heartbeat).fallback(not_allowed),
        )
        .route("/partner/v1/sync", post(sync).fallback(not_allowed))
}

/// Authenticates a partner credential and charges the call to its connection.
fn authorize(app: &AppState, headers: &HeaderMap) -> Result<(TenantId, Uuid), GraphError> {
    let caller = app.authenticate(headers)?;
    let partner_id = caller.require_partner()?;
    app.throttle
        .check_partner(caller.tenant, partner_id)
        .map_err(GraphError::from)?;
    Ok((caller.tenant, partner_id))
}

fn no_connection(tenant: TenantId, partner_id: Uuid) -> GraphError {
    GraphError::NotFound(format!(
        "Tenant {tenant} has no connection for partner {partner_id}; its admin creates one with POST /beta/deviceManagement/virtualEndpoint/externalPartners."
    ))
}

fn disabled(tenant: TenantId) -> GraphError {
    GraphError::Forbidden {
        code: "connectionDisabled",
        message: format!(
            "Tenant {tenant} has disabled this partner connection (enableConnection is false); calls are refused until its admin enables it."
        ),
    }
}

/// The connection a partner call is for, from the directory cache or the store.
async fn connection(
    app: &AppState,
    tenant: TenantId,
    partner_id: Uuid,
) -> Result<PartnerEntry, GraphError> {
    if let Some(entry) = app.partners.get(tenant, partner_id) {
        return Ok(entry);
    }
    match app.store.find_by_partner(tenant, partner_id).await {
        Ok(rec) => {
            app.partners.remember(tenant, &rec);
            Ok(PartnerEntry {
                id: rec.id,
                enabled: rec.enable_connection,
            })
        }
        Err(StoreError::NotFound) => Err(no_connection(tenant, partner_id)),
        Err(e) => Err(e.into()),
    }
}

fn refuse_unknown(body: &Map<String, Value>, known: &[&str]) -> Result<(), GraphError> {
    match body
        .keys()
        .find(|k| !k.starts_with('@') && !known.contains(&k.as_str()))
    {
        Some(k) => Err(GraphError::BadRequest(format!(
            "The property '{k}' is not understood here; {}.",
            if known.is_empty() {
                "a heartbeat takes no properties".to_owned()
            } else {
                format!("accepted: {}", known.join(", "))
            }
        ))),
        None => Ok(()),
    }
}

/// `POST /partner/v1/heartbeat`: the partner is alive. Coalesced; see `heartbeats`.
async fn heartbeat(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let (tenant, partner_id) = authorize(&app, &headers)?;
    if let Some(body) = read_optional_json_object(&headers, body).await? {
        refuse_unknown(&body, &[])?;
    }
    let conn = connection(&app, tenant, partner_id).await?;
    if !conn.enabled {
        return Err(disabled(tenant));
    }
    app.heartbeats.record(tenant, conn.id, app.clock.now());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /partner/v1/sync`: the partner finished a data sync (at `syncDateTime`, or now).
async fn sync(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let (tenant, partner_id) = authorize(&app, &headers)?;
    let now = app.clock.now();
    let at = match read_optional_json_object(&headers, body).await? {
        None => now,
        Some(body) => {
            refuse_unknown(&body, &["syncDateTime"])?;
            match body.get("syncDateTime") {
                None | Some(Value::Null) => now,
                Some(Value::String(s)) => parse_sync_time(s, now)?,
                Some(other) => {
                    return Err(GraphError::BadRequest(format!(
                        "The property 'syncDateTime' must be a string such as 2026-11-23T10:00:00Z, not {}.",
                        json_kind(other)
                    )))
                }
            }
        }
    };
    match app.store.record_sync(tenant, partner_id, at).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::NotFound) => Err(no_connection(tenant, partner_id)),
        Err(StoreError::ConnectionDisabled) => Err(disabled(tenant)),
        Err(e) => Err(e.into()),
    }
}

/// A sync time: RFC 3339 with an offset, not in the future (beyond clock skew).
fn parse_sync_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, GraphError> {
    let at = DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| {
            GraphError::BadRequest(format!(
                "The property 'syncDateTime' value '{s}' is not a date-time with a time zone, such as 2026-11-23T10:00:00Z."
            ))
        })?
        .with_timezone(&Utc);
    if at > now + SYNC_SKEW {
        return Err(GraphError::BadRequest(format!(
            "The property 'syncDateTime' is {}, which is in the future (this service's time is {}); report syncs that have happened.",
            crate::clock::format_graph_time(at),
            crate::clock::format_graph_time(now)
        )));
    }
    // Millisecond precision, as stored; a time slightly ahead (skew) counts as now.
    Ok(crate::clock::from_millis(at.min(now).timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sync_times_are_checked() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        assert_eq!(
            parse_sync_time("2026-11-23T09:00:00Z", now).unwrap(),
            now - Duration::hours(1)
        );
        assert_eq!(
            parse_sync_time("2026-11-23T11:30:00+02:00", now).unwrap(),
            now - Duration::minutes(30)
        );
        assert_eq!(
            parse_sync_time("2026-11-23T10:00:30Z", now).unwrap(),
            now,
            "skew clamps to now"
        );
        assert!(parse_sync_time("2026-11-23T10:05:00Z", now).is_err());
        assert!(parse_sync_time("2026-11-23 09:00", now).is_err());
        assert!(
            parse_sync_time("2026-11-23T09:00:00", now).is_err(),
            "no zone"
        );
        assert!(parse_sync_time("yesterday", now).is_err());
    }
}
