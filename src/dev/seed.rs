//! Seeds: connections in chosen states, for a tenant (the dev API) or several (a
//! `--seed` file), with heartbeat and sync times absolute (`2026-11-23T10:00:00Z`)
//! or relative to now (`-2h`).
//!
//! ```json
//! {"tenants": [{"id": "<tenant GUID>", "connections": [
//!   {"partnerId": "<GUID>", "status": "unhealthy", "lastSync": "-2h"},
//!   {"partnerId": "<GUID>", "enableConnection": true, "lastHeartbeat": "-30s"}]}]}
//! ```

use crate::edm::{Scalar, Values};
use crate::model::schema::{ENABLE_CONNECTION, LAST_SYNC_DATE_TIME, PARTNER_ID};
use crate::model::{derive_status, ConnectionStatus, HealthPolicy, PartnerRecord, TenantId};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Most connections one seed may hold.
const MAX_SEEDED: usize = 10_000;

/// A seed's records; the message names the offending entry.
pub fn parse_tenants(
    seed: &Value,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<Vec<(TenantId, PartnerRecord)>, String> {
    let tenants = seed
        .get("tenants")
        .and_then(Value::as_array)
        .ok_or("a seed is {\"tenants\": [{\"id\": \"<GUID>\", \"connections\": [...]}]}")?;
    let mut out = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let id = t
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or_else(|| format!("tenants[{i}].id must be a GUID"))?;
        let connections = t
            .get("connections")
            .ok_or_else(|| format!("tenants[{i}] has no connections"))?;
        let records =
            parse_connections(connections, now, health).map_err(|e| format!("tenants[{i}].{e}"))?;
        out.extend(records.into_iter().map(|r| (TenantId(id), r)));
    }
    if out.len() > MAX_SEEDED {
        return Err(format!("a seed may hold at most {MAX_SEEDED} connections"));
    }
    Ok(out)
}

/// One tenant's seeded connections.
pub fn parse_connections(
    connections: &Value,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<Vec<PartnerRecord>, String> {
    let items = connections
        .as_array()
        .ok_or("connections must be an array")?;
    if items.len() > MAX_SEEDED {
        return Err(format!("connections may hold at most {MAX_SEEDED} entries"));
    }
    let mut out: Vec<PartnerRecord> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("connections[{i}]");
        let Value::Object(m) = item else {
            return Err(format!("{at} must be an object"));
        };
        let record = parse_one(m, now, health).map_err(|e| format!("{at}: {e}"))?;
        if out.iter().any(|r| r.partner_id() == record.partner_id()) {
            return Err(format!(
                "{at}: partnerId {} is seeded twice",
                record.partner_id()
            ));
        }
        out.push(record);
    }
    Ok(out)
}

fn parse_one(
    m: &Map<String, Value>,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<PartnerRecord, String> {
    let known = [
        "partnerId",
        "enableConnection",
        "status",
        "lastHeartbeat",
        "lastSync",
    ];
    super::refuse_unknown(m, &known)?;
    let partner_id = m
        .get("partnerId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s.trim()).ok())
        .ok_or("partnerId must be a GUID")?;
    let status = match m.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(ConnectionStatus::parse(s).ok_or_else(|| {
            format!("status '{s}' is not one of notAvailable, available, healthy, unhealthy")
        })?),
        Some(_) => return Err("status must be a string".into()),
    };
    let enable = match m.get("enableConnection") {
        None | Some(Value::Null) => status != Some(ConnectionStatus::NotAvailable),
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("enableConnection must be true or false".into()),
    };
    let time = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => when(s, now).map(Some).map_err(|e| format!("{key}: {e}")),
            Some(_) => Err(format!("{key} must be a time or an offset such as \"-2h\"")),
        }
    };
    // A status alone picks heartbeat times that give it.
    let heartbeat = match (time("lastHeartbeat")?, status) {
        (Some(t), _) => Some(t),
        (None, Some(ConnectionStatus::Healthy)) => Some(now - Duration::seconds(30)),
        (None, Some(ConnectionStatus::Unhealthy)) => {
            Some(now - health.heartbeat_timeout - Duration::minutes(1))
        }
        (None, _) => None,
    };
    let sync = time("lastSync")?;
    let mut values = Values::new();
    values.set(PARTNER_ID, Scalar::Text(partner_id.to_string()));
    values.set(ENABLE_CONNECTION, Scalar::Bool(enable));
    values.set(LAST_SYNC_DATE_TIME, sync.map_or(Scalar::Null, Scalar::Time));
    // Enabled before anything that happened to it, so every heartbeat counts.
    let since = [heartbeat, sync, Some(now)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);
    let record = PartnerRecord {
        id: Uuid::new_v4(),
        values,
        enabled_at: enable.then_some(since),
        last_heartbeat_at: heartbeat,
        created_at: since,
        updated_at: now,
        version: 1,
    };
    if let Some(wanted) = status {
        let got = derive_status(&record, now, health).status;
        if got != wanted {
            return Err(format!(
                "status '{}' contradicts the other fields, which give '{}'",
                wanted.as_str(),
                got.as_str()
            ));
        }
    }
    Ok(record)
}

/// An absolute time, or an offset from now such as `-2h` or `-90s`.
pub(crate) fn when(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Some(ago) = s.strip_prefix('-') {
        let d = crate::clock::parse_duration(ago)?;
        let d = Duration::from_std(d).map_err(|_| format!("'{s}' is too far back"))?;
        return now
            .checked_sub_signed(d)
            .ok_or_else(|| format!("'{s}' is too far back"));
    }
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|_| {
            format!(
                "'{s}' is neither a time such as 2026-11-23T10:00:00Z nor an offset such as -2h"
            )
        })?
        .with_timezone(&Utc);
    if t > now {
        return Err(format!("'{s}' is in the future"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }

    const POLICY: HealthPolicy = HealthPolicy {
        heartbeat_timeout: Duration::minutes(5),
    };

    fn statuses(v: Value) -> Result<Vec<ConnectionStatus>, String> {
        Ok(parse_connections(&v, now(), &POLICY)?
            .iter()
            .map(|r| derive_status(r, now(), &POLICY).status)
            .collect())
    }

    #[test]
    fn each_state_can_be_seeded_directly_or_by_its_times() {
        let g = || Uuid::new_v4().to_string();
        use ConnectionStatus::*;
        assert_eq!(
            statuses(json!([
                {"partnerId": g(), "status": "notAvailable"},
                {"partnerId": g(), "status": "available"},
                {"partnerId": g(), "status": "healthy"},
                {"partnerId": g(), "status": "unhealthy", "lastSync": "-2h"},
                {"partnerId": g(), "lastHeartbeat": "-30s"},
                {"partnerId": g(), "lastHeartbeat": "2026-11-23T09:00:00Z"},
            ]))
            .unwrap(),
            [
                NotAvailable,
                Available,
                Healthy,
                Unhealthy,
                Healthy,
                Unhealthy
            ]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let g = Uuid::new_v4().to_string();
        let err = |v: Value| statuses(v).unwrap_err();
        assert!(err(json!([{"partnerId": "x"}])).contains("connections[0]: partnerId"));
        assert!(err(json!([{"partnerId": g, "status": "broken"}])).contains("status 'broken'"));
        assert!(
            err(json!([{"partnerId": g, "status": "healthy", "lastHeartbeat": "-1h"}]))
                .contains("contradicts")
        );
        assert!(err(json!([{"partnerId": g, "lastHeartbeat": "+1h"}])).contains("lastHeartbeat"));
        assert!(
            err(json!([{"partnerId": g, "lastSync": "2999-01-01T00:00:00Z"}])).contains("future")
        );
        assert!(err(json!([{"partnerId": g, "colour": 1}])).contains("'colour'"));
        assert!(err(json!([{"partnerId": g}, {"partnerId": g}])).contains("twice"));
        assert!(parse_tenants(
            &json!({"tenants": [{"id": "x", "connections": []}]}),
            now(),
            &POLICY
        )
        .unwrap_err()
        .contains("tenants[0].id"));
    }
}
