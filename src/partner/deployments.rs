//! The partner's side of agent deployments: what it has been asked to do, and its
//! progress on each Cloud PC.

use crate::connections::agent::ResultUpdate;
use crate::edm::json::RowsPage;
use crate::http::body::JsonObject;
use crate::http::extract::{PartnerCaller, ServiceOrigin};
use crate::http::respond::GraphJson;
use crate::http::ApiError;
use crate::json::Fields;
use crate::model::agent::{error_code_value, state_value, MAX_CLOUD_PCS};
use crate::model::schema::{ACTION_ERROR_CODE, ACTION_RESULTS, ACTION_STATE};
use crate::odata::query;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `GET /partner/v1/deployments[?state=pending][&$filter=…][&$top=…]`: this partner's
/// deployment results in the caller's tenant, oldest first, paged like Graph.
pub async fn list(
    partner: PartnerCaller,
    uri: Uri,
    ServiceOrigin(origin): ServiceOrigin,
    State(app): State<AppState>,
) -> Result<GraphJson, ApiError> {
    let raw = state_as_filter(uri.query())?;
    let q = query::parse_collection(raw.as_deref(), &ACTION_RESULTS, None)?;
    let rows = app
        .connections
        .partner_deployments(partner.tenant, partner.partner_id, &q)
        .await?;
    let page = RowsPage {
        view: &ACTION_RESULTS,
        rows: &rows.items,
        select: q.select.as_deref(),
        context: None,
        count: rows.count,
        next_link: q
            .next_token(None)
            .filter(|_| rows.more)
            .map(|token| q.next_link(&format!("{origin}{}", uri.path()), &[], &token)),
    };
    Ok(GraphJson(StatusCode::OK, page.into_json()))
}

/// `state=pending` as the `$filter` it stands for; the query options otherwise as given.
fn state_as_filter(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let Some(state) = pairs
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone())
    else {
        return Ok(raw.map(str::to_owned));
    };
    if state_value(&state).is_none() {
        return Err(ApiError::BadRequest(format!(
            "'{state}' is not a deployment state; use one of {}.",
            ACTION_STATE.members.join(", ")
        )));
    }
    if pairs
        .iter()
        .any(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case("filter"))
    {
        return Err(ApiError::BadRequest(
            "Give either state or $filter, not both; state=pending is $filter=state eq 'pending'."
                .into(),
        ));
    }
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "state") {
        out.append_pair(k, v);
    }
    out.append_pair("$filter", &format!("state eq '{state}'"));
    Ok(Some(out.finish()))
}

/// `POST /partner/v1/deployments/{activityId}/results` with
/// `{"results": [{"cloudPcId", "state", "errorCode"?, "errorMessage"?}]}`: 204.
pub async fn report(
    partner: PartnerCaller,
    Path(activity): Path<String>,
    State(app): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let activity = Uuid::try_parse(&activity).map_err(|_| {
        ApiError::NotFound(format!(
            "No deployment activity '{activity}' exists for this partner."
        ))
    })?;
    let updates = parse_results(&body)?;
    app.connections
        .report_deployment(partner.tenant, partner.partner_id, activity, &updates)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// The body of a progress report: 1 to 50 distinct Cloud PCs, each a forward state.
fn parse_results(body: &Map<String, Value>) -> Result<Vec<ResultUpdate>, ApiError> {
    let mut fields = Fields::new(body);
    let items = fields.array("results").map_err(bad)?.ok_or_else(|| {
        bad(fields.missing(
            "results",
            "[{\"cloudPcId\": \"…\", \"state\": \"running\"}]",
        ))
    })?;
    fields.finish().map_err(bad)?;
    if items.is_empty() || items.len() > MAX_CLOUD_PCS {
        return Err(bad(format!(
            "'results' holds {} items; report from 1 to {MAX_CLOUD_PCS} Cloud PCs at a time.",
            items.len()
        )));
    }
    let mut out: Vec<ResultUpdate> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let update = parse_result(&format!("results[{i}]"), item).map_err(bad)?;
        if out.iter().any(|u| u.cloud_pc_id == update.cloud_pc_id) {
            return Err(bad(format!(
                "Cloud PC {} is reported more than once.",
                update.cloud_pc_id
            )));
        }
        out.push(update);
    }
    Ok(out)
}

/// One Cloud PC's progress, `at` its place in the body.
fn parse_result(at: &str, item: &Value) -> Result<ResultUpdate, String> {
    let mut m = Fields::of(item, at)?;
    let cloud_pc_id = m
        .str("cloudPcId")?
        .and_then(|s| Uuid::try_parse(s.trim()).ok())
        .ok_or_else(|| {
            format!(
                "{} must be the GUID of a Cloud PC in the deployment.",
                m.name("cloudPcId")
            )
        })?
        .to_string();
    let state = m.str("state")?.and_then(state_value).ok_or_else(|| {
        format!(
            "{} must be one of {}.",
            m.name("state"),
            ACTION_STATE.members.join(", ")
        )
    })?;
    let error_code = match m.str("errorCode")? {
        None => error_code_value("none").unwrap_or(0),
        Some(code) => error_code_value(code).ok_or_else(|| {
            format!(
                "{} must be one of {}.",
                m.name("errorCode"),
                ACTION_ERROR_CODE.members.join(", ")
            )
        })?,
    };
    let error_message = match m.str("errorMessage")? {
        Some(s) if s.len() > MAX_ERROR_MESSAGE => {
            return Err(format!(
                "{} is longer than {MAX_ERROR_MESSAGE} bytes.",
                m.name("errorMessage")
            ))
        }
        s => s.map(str::to_owned),
    };
    m.finish()?;
    Ok(ResultUpdate {
        cloud_pc_id,
        state,
        error_code,
        error_message,
    })
}

/// Longest error message a partner may report for one Cloud PC.
const MAX_ERROR_MESSAGE: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_becomes_a_filter() {
        assert_eq!(state_as_filter(None).unwrap(), None);
        assert_eq!(
            state_as_filter(Some("$top=5")).unwrap().as_deref(),
            Some("$top=5")
        );
        let f = state_as_filter(Some("state=pending&$top=5"))
            .unwrap()
            .unwrap();
        assert_eq!(f, "%24top=5&%24filter=state+eq+%27pending%27");
        assert!(state_as_filter(Some("state=nope")).is_err());
        assert!(state_as_filter(Some("state=pending&$filter=x")).is_err());
    }

    #[test]
    fn progress_reports_are_checked() {
        let pc = Uuid::new_v4().to_string();
        let ok = parse_results(json!({"results": [{"cloudPcId": pc, "state": "failed", "errorCode": "deviceNotFound", "errorMessage": "gone"}]}).as_object().unwrap()).unwrap();
        assert_eq!(ok[0].state, state_value("failed").unwrap());
        let err = |v: Value| {
            parse_results(v.as_object().unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(err(json!({})).contains("required"));
        assert!(err(json!({"results": []})).contains("from 1 to 50"));
        assert!(
            err(json!({"results": [{"cloudPcId": "x", "state": "running"}]})).contains("cloudPcId")
        );
        assert!(err(json!({"results": [{"cloudPcId": pc, "state": "done"}]})).contains("state"));
        assert!(err(
            json!({"results": [{"cloudPcId": pc, "state": "failed", "errorCode": "oops"}]})
        )
        .contains("errorCode"));
        assert!(err(json!({"results": [{"cloudPcId": pc, "state": "running"}, {"cloudPcId": pc, "state": "running"}]})).contains("more than once"));
    }
}
