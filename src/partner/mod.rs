//! The partner-facing API: an external partner's service reports heartbeats and data
//! syncs for the tenants that enabled it, which drives `connectionStatus` and
//! `lastSyncDateTime` on the Graph side.

pub mod deployments;
mod doc;

use crate::http::body::{json_kind, OptionalJsonObject};
use crate::http::extract::PartnerCaller;
use crate::http::routes::{Endpoint, Routes};
use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

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
        refuse_unknown(&body, &[])?;
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
            refuse_unknown(&body, &["syncDateTime"])?;
            sync_time(body.get("syncDateTime"))?
        }
    };
    app.connections
        .sync(partner.tenant, partner.partner_id, reported)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn refuse_unknown(body: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match body
        .keys()
        .find(|k| !k.starts_with('@') && !known.contains(&k.as_str()))
    {
        Some(k) => Err(ApiError::BadRequest(format!(
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

/// `syncDateTime`: absent or null (now), or RFC 3339 with an offset.
fn sync_time(value: Option<&Value>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "The property 'syncDateTime' value '{s}' is not a date-time with a time zone, such as 2026-11-23T10:00:00Z."
                ))
            }),
        Some(other) => Err(ApiError::BadRequest(format!(
            "The property 'syncDateTime' must be a string such as 2026-11-23T10:00:00Z, not {}.",
            json_kind(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn sync_times_are_parsed_with_their_zone() {
        let at = |v: Value| sync_time(Some(&v));
        assert_eq!(
            at(json!("2026-11-23T11:30:00+02:00")).unwrap(),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap())
        );
        assert_eq!(at(Value::Null).unwrap(), None);
        assert_eq!(sync_time(None).unwrap(), None);
        assert!(at(json!("2026-11-23 09:00")).is_err());
        assert!(at(json!("2026-11-23T09:00:00")).is_err(), "no zone");
        assert!(at(json!("yesterday")).is_err());
        assert!(at(json!(5)).is_err());
    }
}
