//! The stored state of a partner connection and the inputs that change it.

use super::schema::{AGENT_SETTING_PROPERTY, ENABLE_CONNECTION, LAST_SYNC_DATE_TIME, PARTNER_ID};
use crate::edm::{Property, Scalar, Source, Values};
use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// The Entra tenant a caller acts for; every read and write is scoped to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantId(pub Uuid);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One partner connection as stored. The described properties are in `values`, so a
/// new plain property needs no code here; `connectionStatus` is not stored at all but
/// derived from the timestamps and the clock at read time (see `health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    pub id: Uuid,
    /// Stored property values by property name (see `schema::PARTNER`).
    pub values: Values,
    /// When the connection was last switched on (or created enabled); heartbeats
    /// older than this belong to an earlier enablement and do not count.
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change a client makes; the basis of the ETag.
    pub version: i64,
}

impl PartnerRecord {
    /// The entity tag clients send back in `If-Match`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    pub fn enable_connection(&self) -> bool {
        self.values.bool(ENABLE_CONNECTION).unwrap_or(false)
    }

    /// The partner this connection is for.
    pub fn partner_id(&self) -> Uuid {
        partner_id(&self.values)
    }

    pub fn last_sync_at(&self) -> Option<DateTime<Utc>> {
        self.values.time(LAST_SYNC_DATE_TIME)
    }

    /// The configured agent, as stored (JSON), if any.
    pub fn agent_setting(&self) -> Option<serde_json::Value> {
        match self.values.get(AGENT_SETTING_PROPERTY) {
            Scalar::Json(v) if !v.is_null() => Some(v.clone()),
            _ => None,
        }
    }
}

fn partner_id(values: &Values) -> Uuid {
    values
        .text(PARTNER_ID)
        .and_then(|s| Uuid::try_parse(s).ok())
        .unwrap_or_default()
}

/// A validated create request: a value for each property a create may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartner {
    pub values: Values,
}

impl NewPartner {
    pub fn partner_id(&self) -> Uuid {
        partner_id(&self.values)
    }

    pub fn enable_connection(&self) -> bool {
        self.values.bool(ENABLE_CONNECTION).unwrap_or(false)
    }
}

/// A validated update request: the properties it changes, and the immutable ones
/// it sent back, which must still hold the values it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUpdate {
    pub values: Values,
    pub unchanged: Vec<(Property, Scalar)>,
}

impl PartnerRecord {
    /// The stored value of a property (null for one the service derives).
    pub fn value_of(&self, p: Property) -> Scalar {
        match p.source {
            Source::Key => Scalar::Text(self.id.to_string()),
            Source::Column(_) => self.values.get(p.name).clone(),
            Source::Derived(_) => Scalar::Null,
        }
    }
}
