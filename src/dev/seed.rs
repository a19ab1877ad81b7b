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
use crate::json::fields::{kind, Fields};
use crate::model::schema::{ENABLE_CONNECTION, LAST_SYNC_DATE_TIME, PARTNER_ID};
use crate::model::{derive_status, ConnectionStatus, HealthPolicy, PartnerRecord, TenantId};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Most connections one seed may hold.
const MAX_SEEDED: usize = 10_000;

/// A seed's records; the message names the offending entry by its path, such as
/// `'tenants[0].connections[2].partnerId'`.
pub fn parse_tenants(
    seed: &Value,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<Vec<(TenantId, PartnerRecord)>, String> {
    let Value::Object(seed) = seed else {
        return Err(format!("A seed is {SEED_SHAPE}, not {}.", kind(seed)));
    };
    let mut fields = Fields::new(seed);
    let tenants = fields
        .array("tenants")?
        .ok_or_else(|| fields.missing("tenants", SEED_SHAPE))?;
    fields.finish()?;
    let mut out = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let mut t = Fields::of(t, &format!("tenants[{i}]"))?;
        let id = t
            .str("id")?
            .and_then(|s| Uuid::try_parse(s.trim()).ok())
            .ok_or_else(|| format!("{} must be the tenant's GUID.", t.name("id")))?;
        let records = tenant_connections(&mut t, now, health)?;
        t.finish()?;
        out.extend(records.into_iter().map(|r| (TenantId(id), r)));
    }
    if out.len() > MAX_SEEDED {
        return Err(format!(
            "A seed may hold at most {MAX_SEEDED} connections; this one holds {}.",
            out.len()
        ));
    }
    Ok(out)
}

/// What a seed file holds.
const SEED_SHAPE: &str = "{\"tenants\": [{\"id\": \"<GUID>\", \"connections\": [...]}]}";

/// One tenant's seeded connections, the field `connections` of `fields`: the body of
/// `POST /dev/v1/seed`, or a tenant of a seed file.
pub fn tenant_connections(
    fields: &mut Fields,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<Vec<PartnerRecord>, String> {
    let name = fields.name("connections");
    let items = fields.array("connections")?.ok_or_else(|| {
        fields.missing(
            "connections",
            "[{\"partnerId\": \"…\", \"status\": \"healthy\"}]",
        )
    })?;
    if items.len() > MAX_SEEDED {
        return Err(format!(
            "{name} may hold at most {MAX_SEEDED} entries; it holds {}.",
            items.len()
        ));
    }
    let mut out: Vec<PartnerRecord> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut m = Fields::of(item, &fields.item("connections", i))?;
        let record = parse_one(&mut m, now, health)?;
        let partner = m.name(PARTNER_ID);
        m.finish()?;
        if out.iter().any(|r| r.partner_id() == record.partner_id()) {
            return Err(format!(
                "{partner} {} is seeded twice.",
                record.partner_id()
            ));
        }
        out.push(record);
    }
    Ok(out)
}

fn parse_one(
    m: &mut Fields,
    now: DateTime<Utc>,
    health: &HealthPolicy,
) -> Result<PartnerRecord, String> {
    let partner_id = m
        .str(PARTNER_ID)?
        .and_then(|s| Uuid::try_parse(s.trim()).ok())
        .ok_or_else(|| format!("{} must be a GUID.", m.name(PARTNER_ID)))?;
    let status = match m.str("status")? {
        None => None,
        Some(s) => Some(ConnectionStatus::parse(s).ok_or_else(|| {
            format!(
                "{} '{s}' is not one of notAvailable, available, healthy, unhealthy.",
                m.name("status")
            )
        })?),
    };
    let enable = m
        .bool(ENABLE_CONNECTION)?
        .unwrap_or(status != Some(ConnectionStatus::NotAvailable));
    let mut time = |key: &'static str| -> Result<Option<DateTime<Utc>>, String> {
        match m.str(key)? {
            None => Ok(None),
            Some(s) => when(s, now)
                .map(Some)
                .map_err(|e| format!("{}: {e}.", m.name(key))),
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
                "{} '{}' contradicts the other fields, which give '{}'.",
                m.name("status"),
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
        let body = json!({ "connections": v });
        let mut fields = Fields::new(body.as_object().unwrap());
        Ok(tenant_connections(&mut fields, now(), &POLICY)?
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
        assert!(
            err(json!([{"partnerId": "x"}])).contains("'connections[0].partnerId' must be a GUID")
        );
        assert!(err(json!([{"partnerId": g, "status": "broken"}]))
            .contains("'connections[0].status' 'broken'"));
        assert!(
            err(json!([{"partnerId": g, "status": "healthy", "lastHeartbeat": "-1h"}]))
                .contains("contradicts")
        );
        assert!(err(json!([{"partnerId": g, "lastHeartbeat": "+1h"}])).contains("lastHeartbeat"));
        assert!(
            err(json!([{"partnerId": g, "lastSync": "2999-01-01T00:00:00Z"}])).contains("future")
        );
        assert!(err(json!([{"partnerId": g, "colour": 1}]))
            .contains("'connections[0].colour' is not understood"));
        assert!(err(json!([{"partnerId": g}, {"partnerId": g}])).contains("twice"));
        assert!(parse_tenants(
            &json!({"tenants": [{"id": "x", "connections": []}]}),
            now(),
            &POLICY
        )
        .unwrap_err()
        .contains("'tenants[0].id'"));
    }
}
