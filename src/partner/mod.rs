//! The partner-facing API: an external partner's service reports heartbeats and data
//! syncs for the tenants that enabled it, which drives `connectionStatus` and
//! `lastSyncDateTime` on the Graph side.

pub mod deployments;
mod doc;

use crate::http::body::OptionalJsonObject;
use crate::http::extract::PartnerCaller;
use crate::http::routes::{Endpoint, Routes};
use crate::http::ApiError;
use crate::json::Fields;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};

/// `/partner/v1/…`
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .tag(
            doc::TAG,
            "The partner's side: heartbeats, syncs, deployment progress.",
        )
        .schema(doc::PROGRESS, doc::progress())
        .route(
            "/partner/v1/heartbeat",
            [Endpoint::post(heartbeat, doc::heartbeat())],
        )
        .route("/partner/v1/sync", [Endpoint::post(sync, doc::sync())])
        .route(
            "/partner/v1/deployments",
            [Endpoint::get(deployments::list, doc::deployments())],
        )
        .route(
            "/partner/v1/deployments/{activityId}/results",
            [Endpoint::post(deployments::report, doc::report())],
        )
}

/// `POST /partner/v1/heartbeat`: the partner is alive.
async fn heartbeat(
    partner: PartnerCaller,
    State(app): State<AppState>,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<StatusCode, ApiError> {
    if let Some(body) = body {
        Fields::new(&body).finish().map_err(ApiError::BadRequest)?;
    }
    app.connections
        .heartbeat(partner.tenant, partner.partner_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /partner/v1/sync`: the partner finished a data sync (at `syncDateTime`, or now).
async fn sync(
    partner: PartnerCaller,
    State(app): State<AppState>,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<StatusCode, ApiError> {
    let reported = match body {
        None => None,
        Some(body) => {
            let mut fields = Fields::new(&body);
            let at = sync_time(&mut fields)?;
            fields.finish().map_err(ApiError::BadRequest)?;
            at
        }
    };
    app.connections
        .sync(partner.tenant, partner.partner_id, reported)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `syncDateTime`: absent or null (now), or RFC 3339 with an offset.
fn sync_time(fields: &mut Fields) -> Result<Option<DateTime<Utc>>, ApiError> {
    let field = "syncDateTime";
    let Some(s) = fields.str(field).map_err(ApiError::BadRequest)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{} value '{s}' is not a date-time with a time zone, such as 2026-11-23T10:00:00Z.",
                fields.name(field)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{json, Map, Value};

    #[test]
    fn sync_times_are_parsed_with_their_zone() {
        let at = |v: Value| {
            let body = json!({ "syncDateTime": v });
            sync_time(&mut Fields::new(body.as_object().unwrap()))
        };
        assert_eq!(
            at(json!("2026-11-23T11:30:00+02:00")).unwrap(),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap())
        );
        assert_eq!(at(Value::Null).unwrap(), None);
        assert_eq!(sync_time(&mut Fields::new(&Map::new())).unwrap(), None);
        assert!(at(json!("2026-11-23 09:00")).is_err());
        assert!(at(json!("2026-11-23T09:00:00")).is_err(), "no zone");
        assert!(at(json!("yesterday")).is_err());
        assert!(at(json!(5)).is_err());
    }
}
