//! The health rules: one pure function decides `connectionStatus` and `statusDetails`
//! from the stored timestamps, the clock and the heartbeat timeout.

use super::schema::STATUS;
use super::PartnerRecord;
use crate::clock::format_graph_time;
use chrono::{DateTime, Duration, Utc};

/// `cloudPcExternalPartnerStatus`, in the schema's member order (which is also the
/// order `$orderby=connectionStatus` sorts by, as OData orders enums by value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnectionStatus {
    NotAvailable = 0,
    Available = 1,
    Healthy = 2,
    Unhealthy = 3,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 4] = [
        ConnectionStatus::NotAvailable,
        ConnectionStatus::Available,
        ConnectionStatus::Healthy,
        ConnectionStatus::Unhealthy,
    ];

    /// The member name as it appears in JSON, from the schema's enum.
    pub fn as_str(self) -> &'static str {
        STATUS.member(self.value()).unwrap_or_default()
    }

    /// Parses a member name exactly as the schema spells it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The enum's underlying value, used for ordering and SQL.
    pub fn value(self) -> i64 {
        self as i64
    }
}

/// How long a heartbeat keeps a connection healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    pub heartbeat_timeout: Duration,
}

impl HealthPolicy {
    /// Heartbeats at or after this instant are fresh.
    pub fn fresh_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.heartbeat_timeout
    }
}

/// The derived status and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub status: ConnectionStatus,
    /// Borrowed when it is one of the fixed sentences: a page of connections would
    /// otherwise allocate one per item.
    pub details: std::borrow::Cow<'static, str>,
}

/// The one place that decides a connection's health, and the sentence that says why.
pub fn derive_status(
    partner: &PartnerRecord,
    now: DateTime<Utc>,
    policy: &HealthPolicy,
) -> StatusReport {
    let status = status_as_of(partner, policy.fresh_since(now));
    let details = match (status, counted_heartbeat(partner)) {
        (ConnectionStatus::NotAvailable, _) => "The connection is disabled; set enableConnection to true to accept calls from the external partner".into(),
        (ConnectionStatus::Healthy, Some(hb)) => format!(
            "The external partner is healthy; last heartbeat at {}",
            format_graph_time(hb)
        )
        .into(),
        (ConnectionStatus::Unhealthy, Some(hb)) => format!(
            "No heartbeat since {} (timeout {}); check that the external partner's service is running and can reach this service",
            format_graph_time(hb),
            format_timeout(policy.heartbeat_timeout)
        )
        .into(),
        _ => "The external partner is available; no heartbeat received yet".into(),
    };
    StatusReport { status, details }
}

/// The status alone, with heartbeats at or after `fresh_since` counted fresh (the
/// SQL in `store::sql` computes the same in a query).
///
/// A heartbeat counts only if it arrived at or after the connection was (last)
/// enabled, so re-enabling starts again at `available`.
pub fn status_as_of(partner: &PartnerRecord, fresh_since: DateTime<Utc>) -> ConnectionStatus {
    match (partner.enable_connection(), counted_heartbeat(partner)) {
        (false, _) => ConnectionStatus::NotAvailable,
        (true, None) => ConnectionStatus::Available,
        (true, Some(hb)) if hb >= fresh_since => ConnectionStatus::Healthy,
        (true, Some(_)) => ConnectionStatus::Unhealthy,
    }
}

/// The last heartbeat, if it came since the connection was (last) enabled.
fn counted_heartbeat(partner: &PartnerRecord) -> Option<DateTime<Utc>> {
    partner
        .last_heartbeat_at
        .filter(|hb| partner.enabled_at.is_none_or(|enabled| *hb >= enabled))
}

/// Renders a timeout the way operators write it on the command line (`90s`, `5m`, `2h`).
pub fn format_timeout(d: Duration) -> String {
    let secs = d.num_seconds();
    if secs > 0 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else if d.num_milliseconds() % 1000 == 0 {
        format!("{secs}s")
    } else {
        format!("{}ms", d.num_milliseconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn partner(enabled: bool, enabled_at: i64, heartbeat: Option<i64>) -> PartnerRecord {
        let mut values = crate::edm::Values::new();
        values.set(
            super::super::schema::ENABLE_CONNECTION,
            crate::edm::Scalar::Bool(enabled),
        );
        PartnerRecord {
            id: Uuid::nil(),
            values,
            enabled_at: Some(t(enabled_at)),
            last_heartbeat_at: heartbeat.map(t),
            created_at: t(0),
            updated_at: t(0),
            version: 1,
        }
    }

    const POLICY: HealthPolicy = HealthPolicy {
        heartbeat_timeout: Duration::minutes(5),
    };

    #[test]
    fn disabled_is_not_available_whatever_the_heartbeats() {
        for hb in [None, Some(0), Some(9)] {
            let r = derive_status(&partner(false, 0, hb), t(10), &POLICY);
            assert_eq!(r.status, ConnectionStatus::NotAvailable);
            assert!(r.details.contains("enableConnection"));
        }
    }

    #[test]
    fn enabled_without_heartbeat_is_available() {
        let r = derive_status(&partner(true, 0, None), t(100), &POLICY);
        assert_eq!(r.status, ConnectionStatus::Available);
    }

    #[test]
    fn fresh_heartbeat_is_healthy_up_to_the_timeout_inclusive() {
        let p = partner(true, 0, Some(10));
        assert_eq!(
            derive_status(&p, t(10), &POLICY).status,
            ConnectionStatus::Healthy
        );
        assert_eq!(
            derive_status(&p, t(15), &POLICY).status,
            ConnectionStatus::Healthy
        );
        let r = derive_status(&p, t(15) + Duration::milliseconds(1), &POLICY);
        assert_eq!(r.status, ConnectionStatus::Unhealthy);
        assert_eq!(
            r.details,
            "No heartbeat since 2026-11-23T10:10:00Z (timeout 5m); check that the external partner's service is running and can reach this service"
        );
    }

    #[test]
    fn re_enabled_ignores_heartbeats_from_before() {
        // Beat at 10, disabled, re-enabled at 12: the old beat no longer counts.
        let p = partner(true, 12, Some(10));
        assert_eq!(
            derive_status(&p, t(13), &POLICY).status,
            ConnectionStatus::Available
        );
        assert_eq!(
            derive_status(&p, t(60), &POLICY).status,
            ConnectionStatus::Available
        );
        // A new beat after re-enabling counts again.
        let p = partner(true, 12, Some(12));
        assert_eq!(
            derive_status(&p, t(13), &POLICY).status,
            ConnectionStatus::Healthy
        );
    }

    /// Every combination of enabled / never beat / beat before re-enabling / fresh /
    /// stale, against the table in API.md.
    #[test]
    fn every_combination_follows_the_table() {
        use ConnectionStatus::*;
        // (enabled, enabled_at minute, heartbeat minute, now minute, expected)
        let cases = [
            (false, 0, None, 1, NotAvailable),
            (false, 0, Some(1), 2, NotAvailable),
            (false, 0, Some(1), 60, NotAvailable),
            (true, 0, None, 1, Available),
            (true, 0, None, 600, Available),
            (true, 0, Some(1), 2, Healthy),
            (true, 0, Some(1), 6, Healthy),
            (true, 0, Some(1), 7, Unhealthy),
            (true, 5, Some(1), 2, Available),
            (true, 5, Some(1), 60, Available),
            (true, 5, Some(5), 6, Healthy),
            (true, 5, Some(6), 30, Unhealthy),
        ];
        for (enabled, enabled_at, beat, now, expected) in cases {
            let r = derive_status(&partner(enabled, enabled_at, beat), t(now), &POLICY);
            assert_eq!(r.status, expected, "{enabled} {enabled_at} {beat:?} {now}");
            assert!(!r.details.is_empty());
        }
    }

    #[test]
    fn status_names_round_trip_in_schema_order() {
        for (i, s) in ConnectionStatus::ALL.into_iter().enumerate() {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.value(), i as i64);
        }
        assert_eq!(ConnectionStatus::parse("Healthy"), None);
        assert_eq!(ConnectionStatus::parse("unknownFutureValue"), None);
    }

    #[test]
    fn timeouts_render_as_written() {
        assert_eq!(format_timeout(Duration::minutes(5)), "5m");
        assert_eq!(format_timeout(Duration::seconds(90)), "90s");
        assert_eq!(format_timeout(Duration::hours(2)), "2h");
        assert_eq!(format_timeout(Duration::milliseconds(1500)), "1500ms");
    }
}
